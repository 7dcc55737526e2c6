"""`rnnkit compare`: every cell type on the same data, epochs and seeds."""

import csv
import json
import statistics

import pytest
import tiny_tasks

from rnnkit import cli
from rnnkit.templates import tasks
from rnnkit.tuning import report
from rnnkit.tuning.compare import CellResult, compare

QUIET = {"print_fn": lambda line: None}


def read_json(path):
    return json.loads(path.read_text())


@pytest.mark.slow
def test_compare_writes_a_report_that_agrees_with_its_runs(tmp_path):
    folder = tiny_tasks.make("classification", tmp_path)
    out, results = compare(folder, ("rnn", "gru"), seeds=2, **QUIET)
    assert out == folder / "compare"
    for name in ("report.md", "report.csv", "curves.png", "summary.png"):
        assert (out / name).stat().st_size > 0, name
    for name in ("curves.png", "summary.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    with open(out / "report.csv", newline="") as file:
        table = {row["cell"]: row for row in csv.DictReader(file)}
    assert set(table) == {"rnn", "gru"}
    for result in results:
        runs = [out / "runs" / name for name in result.runs]
        assert [r.name for r in runs] == [
            f"{result.cell}-seed42",
            f"{result.cell}-seed43",
        ]
        accuracies = [read_json(r / "metrics.json")["accuracy"] for r in runs]
        histories = [read_json(r / "history.json") for r in runs]
        row = table[result.cell]
        assert float(row["accuracy_mean"]) == pytest.approx(
            statistics.fmean(accuracies)
        )
        assert float(row["accuracy_std"]) == pytest.approx(statistics.stdev(accuracies))
        assert result.curves == [h["val_accuracy"] for h in histories]
        assert int(row["units"]) == 8 and int(row["params"]) > 0
        # One split, two seeds: the same validation texts, other weights.
        metrics = [read_json(r / "metrics.json") for r in runs]
        assert metrics[0]["examples"] == metrics[1]["examples"]
        assert [read_json(r / "metadata.json")["training_seed"] for r in runs] == [
            42,
            43,
        ]
        assert histories[0]["loss"] != histories[1]["loss"]
    text = (out / "report.md").read_text()
    assert text.splitlines()[2] == report.verdict(results, "accuracy", "max")
    assert "| rnn | 8 |" in text and "| gru | 8 |" in text
    # The anchor: the task's simple baselines, fitted on the same split.
    task = tasks.locate(folder)
    config = task.config()
    expected = task.module.baselines(config, task.module.read_data(config, folder))
    baselines = text.split("## The simple baselines")[1]
    for baseline in expected:
        assert f"| {baseline['name']} | {baseline['accuracy']:.4f} |" in baselines
    assert report.baseline_verdict(results, expected, "accuracy", "max") in baselines

    # A second comparison does not silently replace the first.
    assert cli.main(["compare", str(folder), "--cells", "gru", "--seeds", "1"]) == 2


@pytest.mark.slow
def test_match_params_sizes_each_cell_to_the_same_parameter_count(tmp_path):
    folder = tiny_tasks.make("generation", tmp_path, units=32, cell="gru")
    _, results = compare(
        folder, ("rnn", "gru", "lstm"), seeds=1, match="params", **QUIET
    )
    by_cell = {r.cell: r for r in results}
    assert by_cell["gru"].units == 32
    assert by_cell["rnn"].units > 32 > by_cell["lstm"].units
    for result in results:
        assert abs(result.params - by_cell["gru"].params) / by_cell["gru"].params < 0.02


def cell(name, values, params=1000, seconds=1.0):
    return CellResult(name, 8, params, list(values), [], seconds, 1.0, [])


def test_a_gap_beyond_the_noise_names_the_winner():
    text = report.verdict(
        [cell("gru", [0.80, 0.81, 0.82]), cell("lstm", [0.70, 0.71, 0.72])],
        "accuracy",
        "max",
    )
    assert text.startswith("gru wins.") and "beyond the noise" in text


def test_a_gap_inside_the_noise_is_called_noise():
    text = report.verdict(
        [cell("gru", [0.80, 0.70, 0.75], params=900), cell("lstm", [0.76, 0.66, 0.71])],
        "accuracy",
        "max",
    )
    assert text.startswith("No clear winner.") and "within the noise" in text
    assert "gru has the fewest parameters (900)" in text


def test_lower_is_better_for_losses_and_one_seed_is_no_evidence():
    text = report.verdict([cell("rnn", [2.0]), cell("lstm", [1.5])], "loss", "min")
    assert text.startswith("lstm scores loss 1.5000") and "no evidence" in text


def test_bad_compare_flags_are_named(tmp_path, capsys):
    assert cli.main(["compare", str(tmp_path), "--seeds", "0"]) == 2
    assert "--seeds must be at least 1" in capsys.readouterr().err


def test_the_baseline_verdict_says_whether_a_cell_beats_the_anchor():
    results = [cell("gru", [0.70, 0.72]), cell("lstm", [0.60, 0.62])]
    anchors = [
        {"name": "logistic regression", "accuracy": 0.65, "seconds": 1.0},
        {"name": "linear SVM", "accuracy": 0.75, "seconds": 1.0},
    ]
    text = report.baseline_verdict(results, anchors, "accuracy", "max")
    assert text.startswith("No cell beats the best simple baseline, linear SVM")
    text = report.baseline_verdict(results, anchors[:1], "accuracy", "max")
    assert text == (
        "The best cell, gru (0.7100), beats the best simple baseline, "
        "logistic regression (0.6500)."
    )
    # Lower is better for a loss: bzip2's 1.6 is beaten by 1.5, not by 1.7.
    losses = [{"name": "bz2", "loss": 1.6, "seconds": 0.1}]
    beats = report.baseline_verdict([cell("gru", [1.5])], losses, "loss", "min")
    assert beats.startswith("The best cell, gru (1.5000), beats")
    loses = report.baseline_verdict([cell("gru", [1.7])], losses, "loss", "min")
    assert loses.startswith("No cell beats the best simple baseline, bz2")


def test_the_summary_plot_draws_the_baselines(tmp_path):
    results = [cell("gru", [0.70, 0.72]), cell("lstm", [0.60, 0.62])]
    anchors = [{"name": "logistic regression", "accuracy": 0.65, "seconds": 1.0}]
    report.plot_summary(results, "accuracy", tmp_path / "with.png", anchors)
    report.plot_summary(results, "accuracy", tmp_path / "without.png")
    assert (tmp_path / "with.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "with.png").read_bytes() != (
        tmp_path / "without.png"
    ).read_bytes()
