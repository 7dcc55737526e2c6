"""`rnnkit train --strategy` on bad input: one line, exit 2, nothing written.

An unknown strategy, a missing or malformed TF_CONFIG and a multi-worker run
without --run-id are refused before TensorFlow loads; a stateful batch
that the replicas cannot split evenly before any data is read.
"""

import json
import socket

import pytest
from distribute_support import (
    RNNKIT,
    SPLIT_CPU,
    free_ports,
    one_error,
    run,
    tf_config,
    tiny_task,
)

from rnnkit.templates import distribute
from rnnkit.templates.errors import UsageError

GOOD = tf_config([2222, 2223], 0)
MULTI = ["--strategy", "multi-worker", "--run-id", "r1"]


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    return tiny_task("classification", tmp_path_factory.mktemp("inputs"))


@pytest.mark.parametrize(
    "flags, tf_config_value, words",
    [
        (["--strategy", "ps"], GOOD, ["--strategy must be one of", "'ps'"]),
        (MULTI, None, ["TF_CONFIG is not set", '"worker": ["host1:2222"']),
        (MULTI, "  ", ["TF_CONFIG is not set"]),
        (MULTI, "{'cluster': 1}", ["TF_CONFIG is not JSON"]),
        (MULTI, '["worker"]', ["TF_CONFIG needs a `cluster` and a `task`"]),
        (MULTI, GOOD.replace("worker", "chief", 1), ["cluster must be only `worker`"]),
        (MULTI, GOOD.replace(":2223", ""), ["host:port", "localhost"]),
        (MULTI, GOOD.replace('"index": 0', '"index": 2'), ["index 2", "0 to 1"]),
        (MULTI, GOOD.replace('"index": 0', '"index": "0"'), ['"index": <int>']),
        (["--strategy", "multi-worker"], GOOD, ["needs --run-id"]),
    ],
    ids=[
        "unknown-strategy",
        "tf-config-missing",
        "tf-config-blank",
        "tf-config-not-json",
        "tf-config-not-an-object",
        "tf-config-chief-job",
        "tf-config-address-without-port",
        "tf-config-index-out-of-range",
        "tf-config-index-not-int",
        "no-run-id",
    ],
)
def test_bad_strategy_arguments_are_one_line(task, flags, tf_config_value, words):
    result = run(
        [*RNNKIT, "train", str(task), "--epochs", "1", *flags],
        cwd=task.parent,
        env={"TF_CONFIG": tf_config_value},
    )
    one_error(result, 2, *words)
    assert not (task / "runs").exists()
    assert not list(task.glob("runs-worker-*"))


def test_the_collective_timeout_is_a_positive_number_of_seconds(task):
    variable = distribute.TIMEOUT_VARIABLE
    assert distribute.collective_timeout({}) == distribute.COLLECTIVE_TIMEOUT_S
    assert distribute.collective_timeout({variable: " 30 "}) == 30.0
    for bad in ("soon", "0", "-5", "inf", "nan"):
        with pytest.raises(UsageError, match=f"Received: {variable}='{bad}'"):
            distribute.collective_timeout({variable: bad})
    result = run(
        [*RNNKIT, "train", str(task), *MULTI],
        cwd=task.parent,
        env={"TF_CONFIG": GOOD, variable: "soon"},
    )
    one_error(result, 2, f"{variable} must be a number of seconds above 0")
    assert not (task / "runs").exists()


def test_a_good_tf_config_names_the_workers_and_this_one():
    cluster = distribute.read_cluster(tf_config([2222, 2223, 2224], 2))
    assert cluster.workers == ("localhost:2222", "localhost:2223", "localhost:2224")
    assert cluster.index == 2
    with pytest.raises(UsageError, match="index 3"):
        distribute.read_cluster(tf_config([2222, 2223, 2224], 3))


def test_only_the_chief_keeps_the_run_and_the_others_a_scratch_beside_it(tmp_path):
    runs = tmp_path / "task" / "runs"
    spec = json.loads(tf_config([2222, 2223], 1))
    worker = distribute.Placement(
        "multi-worker", cluster=distribute.read_cluster(json.dumps(spec))
    )
    assert worker.runs_folder(runs) == tmp_path / "task" / "runs-worker-1"
    assert not worker.is_chief and worker.describe() == "worker 1 of 2"
    chief = distribute.Placement(
        "multi-worker", cluster=distribute.Cluster(("a:1",), 0)
    )
    assert chief.runs_folder(runs) == runs and chief.is_chief


def test_a_lost_worker_is_one_line_that_says_how_to_resume():
    import tensorflow as tf

    worker = distribute.Placement(
        "multi-worker", cluster=distribute.Cluster(("a:1", "b:2"), 1)
    )
    message = (
        "{{function_node __wrapped__CollectiveReduceV2}} Collective ops is "
        "aborted by: Socket closed\nThe error could be from a previous "
        "operation. Restart your program to reset. [Op:CollectiveReduceV2]"
    )
    with pytest.raises(distribute.WorkerLost) as raised:
        with worker.watch():
            raise tf.errors.UnavailableError(None, None, message)
    assert str(raised.value) == (
        "--strategy multi-worker: worker 1 of 2 lost contact with the other "
        "workers (UnavailableError: Socket closed); restart every worker with "
        "the same command to resume from the last epoch"
    )
    # On one machine there is no other worker: the error is TensorFlow's.
    with pytest.raises(tf.errors.UnavailableError):
        with distribute.Placement().watch():
            raise tf.errors.UnavailableError(None, None, message)


@pytest.mark.slow
def test_a_stateful_batch_that_two_replicas_cannot_split_is_refused(tmp_path):
    task = tiny_task("generation", tmp_path, stateful=True, batch_size=5)
    result = run(
        [*SPLIT_CPU, "2", "train", str(task), "--strategy", "mirrored"],
        cwd=tmp_path,
    )
    one_error(
        result,
        2,
        "config.toml: stateful = true on 2 replicas (--strategy mirrored) needs",
        "batch_size = 5 is not a multiple of 2",
    )
    assert not list((task / "runs").glob("*/model.keras"))


@pytest.mark.slow
def test_a_worker_whose_port_is_taken_says_so(task):
    ports = free_ports(2)
    with socket.socket() as taken:
        taken.bind(("localhost", ports[0]))
        taken.listen()
        result = run(
            [*RNNKIT, "train", str(task), *MULTI],
            cwd=task.parent,
            env={"TF_CONFIG": tf_config(ports, 0)},
        )
    one_error(result, 2, f"cannot listen on localhost:{ports[0]}", "free the port")
    assert not (task / "runs").exists()
