"""The PNGs of `rnnkit diagnose`: gradient norm against lag, and gate
heatmaps. matplotlib is imported inside each function, with the Agg backend,
so that importing this module costs nothing."""

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    return plt


def _lag_panel(axes, norms_by_kind, title):
    for kind, norms in norms_by_kind.items():
        lags = np.arange(len(norms))
        shown = np.isfinite(norms) & (norms > 0)  # log scale: zeros left out
        axes.plot(lags[shown], norms[shown], label=kind)
    axes.set_yscale("log")
    axes.set_xlabel("lag k (steps back from the last state)")
    axes.set_ylabel("|∂L/∂x_{T-k}|")
    axes.set_title(title)
    axes.legend()


def plot_gradients(report, path):
    """Saves a `GradientReport` as a PNG: norm against lag at initialisation
    and after training, and, for the synthetic task, the exploding RNN and
    the weight updates of SGD on it with and without clipping."""
    plt = _pyplot()
    rows = 2 if report.exploding else 1
    figure, axes = plt.subplots(rows, 2, figsize=(11, 4 * rows), squeeze=False)
    _lag_panel(axes[0][0], report.init, f"at initialisation: {report.title}")
    _lag_panel(axes[0][1], report.trained, "after training")
    if report.exploding:
        case = report.exploding
        _lag_panel(
            axes[1][0],
            {f"rnn, spectral radius {case['radius']:g}": case["norms"]},
            "exploding: W_xx rescaled",
        )
        for name, updates in case["updates"].items():
            axes[1][1].plot(np.arange(1, len(updates) + 1), updates, label=name)
        axes[1][1].set_yscale("log")
        axes[1][1].set_xlabel("SGD step (learning rate 0.01)")
        axes[1][1].set_ylabel("|weight update|")
        axes[1][1].set_title("exploding RNN: the effect of clipping")
        axes[1][1].legend()
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)


def plot_gates(kind, tokens, panels, path):
    """Saves one heatmap per gate (units by tokens) as a PNG. Gates are in
    (0, 1); the Elman RNN's state, shown instead of gates, in (-1, 1)."""
    plt = _pyplot()
    units = next(iter(panels.values())).shape[1]
    width = min(3 + 0.35 * len(tokens), 30)
    height = 1 + len(panels) * (1 + 0.12 * min(units, 64))
    figure, axes = plt.subplots(len(panels), 1, figsize=(width, height), squeeze=False)
    for ax, (name, values) in zip(axes[:, 0], panels.items()):
        low, colours = (-1.0, "RdBu_r") if name == "state" else (0.0, "viridis")
        image = ax.imshow(
            values.T, aspect="auto", vmin=low, vmax=1.0, cmap=colours
        )  # (units, tokens)
        ax.set_title(f"{kind}: {name}" + (" (no gates)" if name == "state" else ""))
        ax.set_ylabel("unit")
        ax.set_xticks(range(len(tokens)), tokens, rotation=60, ha="right")
        figure.colorbar(image, ax=ax)
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)
