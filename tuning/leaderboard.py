"""The leaderboard: every trial with its hyperparameters, objective,
parameter count, training time and status, best first, as Markdown and CSV."""

import csv
import io
import json
import pathlib

from keras_tuner.engine.trial import TrialStatus

from rnnkit.templates import atomic
from rnnkit.tuning.oracles import best_trials
from rnnkit.tuning.progress import last_error
from rnnkit.tuning.tuners import RECORD


def rows(tuner, names):
    """One dict per trial, completed trials best first, then the others."""
    oracle = tuner.oracle
    best_first = [t.trial_id for t in best_trials(oracle, len(oracle.trials))]
    others = sorted(t for t in oracle.trials if t not in best_first)
    table = []
    for rank, trial_id in enumerate(best_first + others, start=1):
        trial = oracle.trials[trial_id]
        path = pathlib.Path(tuner.get_trial_dir(trial_id)) / RECORD
        record = json.loads(path.read_text()) if path.is_file() else {}
        completed = trial.status == TrialStatus.COMPLETED
        values = trial.hyperparameters.values
        table.append(
            {
                "rank": rank if completed else "",
                "trial": int(trial_id) + 1,
                "status": trial.status.lower(),
                **{n: values.get(n, "") for n in names},
                oracle.objective.name: trial.score if completed else "",
                "params": record.get("params") or "",
                "fit_seconds": round(record["fit_seconds"], 2) if record else "",
                "error": "" if completed else last_error(trial),
            }
        )
    return table


def best_of_each_cell(table):
    """`{cell: row}`, the best completed trial of each cell type (the rows
    are best first): the search's answer to "LSTM or GRU?"."""
    best = {}
    for row in table:
        if row["rank"] != "" and row.get("cell") and row["cell"] not in best:
            best[row["cell"]] = row
    return best


def _best_of_each_cell_lines(table, objective):
    best = best_of_each_cell(table)
    if not best:
        return []
    lines = [
        "",
        "## Best of each cell type",
        "",
        f"| cell | trial | {objective} | params |",
        "|---|---|---|---|",
    ]
    for cell, row in best.items():
        score = f"{row[objective]:.4g}"
        lines.append(f"| {cell} | {row['trial']} | {score} | {row['params']} |")
    return lines


def markdown(table, objective):
    if not table:
        return "No trials yet.\n"
    columns = [c for c in table[0] if c != "error"]

    def cell(value):
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    lines = [
        f"# Tuning leaderboard ({objective}, best first)",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
    ]
    lines += ["| " + " | ".join(cell(r[c]) for c in columns) + " |" for r in table]
    lines += _best_of_each_cell_lines(table, objective)
    failed = [r for r in table if r["error"]]
    if failed:
        lines += ["", "## Failed trials", ""]
        lines += [f"- trial {r['trial']}: {r['error']}" for r in failed]
    lines.append(
        "\nEmpty cells: hyperparameters not active for that trial's cell type."
    )
    return "\n".join(lines) + "\n"


def write(folder, table, objective):
    """`leaderboard.md` and `leaderboard.csv` in `folder`; returns the .md."""
    folder = pathlib.Path(folder)
    text = io.StringIO()
    if table:
        writer = csv.DictWriter(text, fieldnames=list(table[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(table)
    atomic.write_text(folder / "leaderboard.csv", text.getvalue())
    atomic.write_text(folder / "leaderboard.md", markdown(table, objective))
    return folder / "leaderboard.md"
