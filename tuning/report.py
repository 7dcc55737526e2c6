"""The comparison report: Markdown, CSV and two plots, and the verdict.

The verdict compares the winner with the runner-up. Their gap in the mean
metric is set against its standard error over seeds,
`sqrt(std_a**2 / n + std_b**2 / n)`: a gap under twice it is within the
noise of training with different seeds, and the report says so.
"""

import csv
import io
import math

import numpy as np

from rnnkit.templates import atomic

NOISE_MULTIPLE = 2.0  # gaps under this many standard errors are noise


def _and(names):
    """`a`, `a and b`, `a, b and c`."""
    names = list(names)
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def standard_error(a, b):
    """The standard error of the gap between two cells' mean metrics."""
    return math.sqrt(a.std**2 / len(a.values) + b.std**2 / len(b.values))


def beyond_noise(a, b):
    error = standard_error(a, b)
    return abs(a.mean - b.mean) >= NOISE_MULTIPLE * error and a.mean != b.mean


def ranked(results, mode):
    return sorted(results, key=lambda r: r.mean, reverse=mode == "max")


def verdict(results, metric, mode):
    """A plain sentence: who won, by how much, and whether that is noise."""
    if len(results) == 1:
        return f"Only {results[0].cell} was trained; there is nothing to compare."
    best, runner = ranked(results, mode)[:2]
    gap = abs(best.mean - runner.mean)
    seeds = len(best.values)
    lead = (
        f"{best.cell} scores {metric} {best.mean:.4f} ± {best.std:.4f}, "
        f"{runner.cell} {runner.mean:.4f} ± {runner.std:.4f}: a gap of {gap:.4f}"
    )
    if seeds < 2:
        return (
            f"{lead}, but with one seed the spread is unknown, so this is no "
            "evidence either way. Run with --seeds 3 or more."
        )
    error = standard_error(best, runner)
    if error > 0 and gap < NOISE_MULTIPLE * error:
        tied = [r for r in results if not beyond_noise(best, r)]
        smallest = min(tied, key=lambda r: r.params)
        fastest = min(tied, key=lambda r: r.epoch_seconds)
        return (
            f"No clear winner. {lead}, within the noise: under "
            f"{NOISE_MULTIPLE:g} times its standard error ({error:.4f}) over "
            f"{seeds} seeds. On this evidence {_and(r.cell for r in tied)} "
            f"are equally good; {smallest.cell} has the fewest parameters "
            f"({smallest.params:,}) and {fastest.cell} trains fastest "
            f"({fastest.epoch_seconds:.2f} s per epoch)."
        )
    times = "∞" if error == 0 else f"{gap / error:.1f}"
    return (
        f"{best.cell} wins. {lead}, {times} times its standard error "
        f"({error:.4f}) over {seeds} seeds, beyond the noise."
    )


def rows(results, metric, mode):
    """One row per cell type, the best first."""
    return [
        {
            "cell": r.cell,
            "units": r.units,
            "params": r.params,
            f"{metric}_mean": r.mean,
            f"{metric}_std": r.std,
            "seeds": len(r.values),
            "epoch_seconds": r.epoch_seconds,
            "latency_ms": r.latency_ms,
            "values": " ".join(repr(v) for v in r.values),
            "runs": " ".join(r.runs),
        }
        for r in ranked(results, mode)
    ]


def baseline_verdict(results, baselines, metric, mode):
    """Whether the best cell beats the best simple baseline of the field."""
    pick = max if mode == "max" else min
    anchor = pick(baselines, key=lambda b: b[metric])
    best = ranked(results, mode)[0]
    beaten = best.mean > anchor[metric] if mode == "max" else best.mean < anchor[metric]
    if beaten:
        return (
            f"The best cell, {best.cell} ({best.mean:.4f}), beats the best "
            f"simple baseline, {anchor['name']} ({anchor[metric]:.4f})."
        )
    return (
        f"No cell beats the best simple baseline, {anchor['name']} "
        f"({anchor[metric]:.4f}; best cell {best.cell}, {best.mean:.4f}): on "
        "this data a recurrent network is not yet worth it. Try more data, "
        "another tokenization, or the search (rnnkit tune)."
    )


def baseline_lines(results, baselines, metric, mode):
    if not baselines:
        return []
    lines = [
        "",
        "## The simple baselines",
        "",
        baseline_verdict(results, baselines, metric, mode),
        "",
        f"| baseline | {metric} | seconds |",
        "|---|---|---|",
    ]
    for b in baselines:
        lines.append(f"| {b['name']} | {b[metric]:.4f} | {b['seconds']:.1f} |")
    return lines


def markdown(results, module, match, epochs, baselines=()):
    metric, mode = module.PRIMARY_METRIC, module.PRIMARY_MODE
    better = "higher" if mode == "max" else "lower"
    sized = "about the same parameter count" if match == "params" else "the same units"
    lines = [
        f"# RNN, GRU or LSTM? ({module.TASK})",
        "",
        verdict(results, metric, mode),
        "",
        f"Validation {metric} ({better} is better), mean ± std over seeds. Every "
        f"cell type trained on the same data and split for {epochs} epochs, with "
        f"{sized} and the same seeds.",
        "",
        f"| cell | units | parameters | {metric} | seeds | s per epoch "
        "| ms per batch |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in ranked(results, mode):
        lines.append(
            f"| {r.cell} | {r.units} | {r.params:,} | {r.mean:.4f} ± {r.std:.4f} "
            f"| {len(r.values)} | {r.epoch_seconds:.2f} | {r.latency_ms:.1f} |"
        )
    lines += [
        "",
        "Time per epoch is training only; latency is one validation batch "
        "through the Keras model, median of 20. Runs: `compare/runs/`. Plots: "
        "`curves.png` (validation curves, band: min to max over seeds) and "
        "`summary.png`.",
    ]
    lines += baseline_lines(results, baselines, metric, mode)
    return "\n".join(lines) + "\n"


def write_csv(path, table):
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(table[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(table)
    atomic.write_text(path, text.getvalue())


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    return pyplot


def plot_curves(results, monitor, path):
    """The monitored validation metric per epoch: mean line, min-max band."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6.5, 4))
    for r in results:
        length = max(len(c) for c in r.curves)
        curves = np.full((len(r.curves), length), np.nan)
        for i, curve in enumerate(r.curves):
            curves[i, : len(curve)] = curve
        epochs = np.arange(1, length + 1)
        axes.plot(epochs, np.nanmean(curves, axis=0), marker="o", label=r.cell)
        axes.fill_between(
            epochs, np.nanmin(curves, axis=0), np.nanmax(curves, axis=0), alpha=0.2
        )
    axes.set_xlabel("epoch")
    axes.set_ylabel(monitor)
    axes.legend()
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def plot_summary(results, metric, path, baselines=()):
    """Bars: the metric (with its std), parameters, time per epoch, latency;
    the baselines are dashed lines across the metric's panel."""
    plt = _pyplot()
    cells = [r.cell for r in results]
    panels = [
        (metric, [r.mean for r in results], [r.std for r in results]),
        ("parameters", [r.params for r in results], None),
        ("s per epoch", [r.epoch_seconds for r in results], None),
        ("ms per batch", [r.latency_ms for r in results], None),
    ]
    figure, axes = plt.subplots(1, len(panels), figsize=(12, 3.2))
    for ax, (title, values, errors) in zip(axes, panels):
        ax.bar(
            cells,
            values,
            yerr=errors,
            capsize=4,
            color=["C0", "C1", "C2"][: len(cells)],
        )
        ax.set_title(title)
    for number, baseline in enumerate(baselines):
        axes[0].axhline(
            baseline[metric],
            color="0.3",
            linestyle=("--", ":", "-.")[number % 3],
            label=baseline["name"],
        )
    if baselines:
        axes[0].legend(fontsize="x-small", loc="lower left")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def write(folder, results, module, match, epochs, baselines=()):
    """`report.md`, `report.csv`, `curves.png` and `summary.png`; the task's
    simple `baselines` (see its `baselines` hook) join the report and the
    summary plot."""
    metric = module.PRIMARY_METRIC
    table = rows(results, metric, module.PRIMARY_MODE)
    write_csv(folder / "report.csv", table)
    text = markdown(results, module, match, epochs, baselines)
    atomic.write_text(folder / "report.md", text)
    plot_curves(results, module.MONITOR, folder / "curves.png")
    plot_summary(results, metric, folder / "summary.png", baselines)
