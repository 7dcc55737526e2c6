"""Training on several devices or machines: `rnnkit train --strategy`.

- `default`: no `tf.distribute` strategy, as training has always been.
- `mirrored`: `tf.distribute.MirroredStrategy` in one process, with a
  replica of the model on every local device (each GPU; a machine without
  one has a single CPU device, so a single replica).
- `multi-worker`: `tf.distribute.MultiWorkerMirroredStrategy`, one process
  per worker, the cluster read from `TF_CONFIG`. Worker 0 is the chief: it
  alone writes the run. The others train beside it with a scratch run of
  their own (`<runs>-worker-<i>/<run-id>/`) for their backups and logs, and
  delete it once the run is done.

The config's `batch_size` is the global batch: each of R replicas takes
batch_size / R rows of every batch, and the gradients are summed over the
replicas before they are clipped, so a seed gives the same weights under
every strategy (up to rounding).

A worker that dies is noticed by TensorFlow's coordination service: the
others' collectives fail with `UnavailableError` within seconds, which
`Placement.watch` turns into one line. When the same command is run
again on each, the workers resume together from the latest epoch that all
of them backed up (`rnnkit.templates.backups`).
"""

import contextlib
import dataclasses
import json
import os
import pathlib
import re
import threading

from rnnkit.templates.errors import ConfigError, RnnkitError, UsageError, WorkerLost

STRATEGIES = ("default", "mirrored", "multi-worker")
# How long a collective may wait for the other workers. A dead or frozen
# worker is found sooner by the coordination service's heartbeats (about
# 10 s); this is the backstop for a worker that hangs while still alive.
# Workers do the same work between collectives, so a healthy one never
# waits this long. RNNKIT_COLLECTIVE_TIMEOUT_S sets another, in seconds.
COLLECTIVE_TIMEOUT_S = 600
TIMEOUT_VARIABLE = "RNNKIT_COLLECTIVE_TIMEOUT_S"
EXAMPLE = (
    'TF_CONFIG=\'{"cluster": {"worker": ["host1:2222", "host2:2222"]}, '
    '"task": {"type": "worker", "index": 0}}\''
)
RESUME = "restart every worker with the same command to resume from the last epoch"


@dataclasses.dataclass(frozen=True)
class Cluster:
    """The workers of `TF_CONFIG` and the index of this one."""

    workers: tuple
    index: int


def check(name, run_id, environ):
    """The strategy's arguments, before TensorFlow loads: its name, and for
    `multi-worker` a run id and a well-formed `TF_CONFIG`."""
    if name not in STRATEGIES:
        raise UsageError(
            f"--strategy must be one of {', '.join(STRATEGIES)}. "
            f"Received: --strategy {name!r}"
        )
    if name != "multi-worker":
        return
    if run_id is None:
        raise UsageError(
            "--strategy multi-worker needs --run-id: every worker must name the "
            "same run, and running the same command again resumes it"
        )
    read_cluster(environ.get("TF_CONFIG"))
    collective_timeout(environ)


def collective_timeout(environ):
    """Seconds a collective waits for the other workers: the default, or
    `RNNKIT_COLLECTIVE_TIMEOUT_S`."""
    text = environ.get(TIMEOUT_VARIABLE, "").strip()
    if not text:
        return COLLECTIVE_TIMEOUT_S
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < float("inf"):
        raise UsageError(
            f"{TIMEOUT_VARIABLE} must be a number of seconds above 0. "
            f"Received: {TIMEOUT_VARIABLE}={text!r}"
        )
    return seconds


def read_cluster(text):
    """The `Cluster` that a `TF_CONFIG` value describes, as TensorFlow
    documents it: `{"cluster": {"worker": [...]}, "task": {"type":
    "worker", "index": i}}`."""
    if not text or not text.strip():
        raise UsageError(
            f"TF_CONFIG is not set; --strategy multi-worker reads the cluster "
            f"from it, e.g. {EXAMPLE}"
        )
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as error:
        raise UsageError(f"TF_CONFIG is not JSON ({error}); e.g. {EXAMPLE}") from None
    cluster = spec.get("cluster") if isinstance(spec, dict) else None
    task = spec.get("task") if isinstance(spec, dict) else None
    if not isinstance(cluster, dict) or not isinstance(task, dict):
        raise UsageError(f"TF_CONFIG needs a `cluster` and a `task`; e.g. {EXAMPLE}")
    workers = cluster.get("worker")
    if set(cluster) != {"worker"} or not _addresses(workers):
        raise UsageError(
            "TF_CONFIG's cluster must be only `worker`: a list of host:port "
            f"addresses (worker 0 is the chief). Received: {json.dumps(cluster)}"
        )
    index = task.get("index")
    if task.get("type") != "worker" or type(index) is not int:
        raise UsageError(
            'TF_CONFIG\'s task must be {"type": "worker", "index": <int>}. '
            f"Received: {json.dumps(task)}"
        )
    if not 0 <= index < len(workers):
        raise UsageError(
            f"TF_CONFIG's task index {index} is not a worker of its cluster "
            f"(indexes 0 to {len(workers) - 1})"
        )
    return Cluster(tuple(workers), index)


def _addresses(workers):
    return (
        isinstance(workers, list)
        and len(workers) > 0
        and all(isinstance(w, str) and re.fullmatch(r"[^\s:]+:\d+", w) for w in workers)
    )


@dataclasses.dataclass
class Placement:
    """Where training runs: a strategy and this process's part in it.

    Args:
        name: One of `STRATEGIES`.
        strategy: The `tf.distribute.Strategy`, or None for `default`.
        cluster: The multi-worker `Cluster`, or None.
    """

    name: str = "default"
    strategy: object = None
    cluster: Cluster = None

    @property
    def is_chief(self):
        return self.cluster is None or self.cluster.index == 0

    def describe(self):
        """`worker 1 of 2`, for messages."""
        if self.cluster is None:
            return "this process"
        return f"worker {self.cluster.index} of {len(self.cluster.workers)}"

    @property
    def replicas(self):
        return 1 if self.strategy is None else self.strategy.num_replicas_in_sync

    def check_config(self, config):
        """Refuses settings that cannot train on these replicas: a stateful
        model (generation's `stateful = true`) keeps a state row for each
        row of the batch, and each replica carries the rows of its share of
        every batch, so the replicas must split the batch evenly."""
        if config.get("stateful") and config["batch_size"] % self.replicas:
            raise ConfigError(
                f"{config.source}: stateful = true on {self.replicas} replicas "
                f"(--strategy {self.name}) needs a batch_size they split "
                f"evenly; batch_size = {config['batch_size']} is not a multiple "
                f"of {self.replicas}"
            )

    def scope(self):
        """The strategy's scope (nothing for `default`)."""
        if self.strategy is None:
            return contextlib.nullcontext()
        return self.strategy.scope()

    def runs_folder(self, runs_folder):
        """Where this process keeps its run: the task's `runs/` for the
        chief, a scratch `runs-worker-<i>/` beside it for another worker,
        which outlives a crash (to resume from) and never meets the
        chief's run, also when both workers share one disk."""
        if self.is_chief:
            return runs_folder
        runs_folder = pathlib.Path(runs_folder)
        return runs_folder.with_name(f"{runs_folder.name}-worker-{self.cluster.index}")

    @contextlib.contextmanager
    def watch(self):
        """Turns the errors of a lost worker into one line that says how to
        resume. (A run on one machine has no other workers to lose.)"""
        if self.cluster is None:
            yield
            return
        import tensorflow as tf

        lost = (
            tf.errors.UnavailableError,
            tf.errors.DeadlineExceededError,
            tf.errors.AbortedError,
            tf.errors.CancelledError,
        )
        try:
            yield
        except lost as error:
            raise WorkerLost(
                f"--strategy multi-worker: {self.describe()} lost contact with "
                f"the other workers ({type(error).__name__}: {_reason(error)}); "
                f"{RESUME}"
            ) from None


# Where TensorFlow's messages about a lost worker turn to boilerplate.
BOILERPLATE = (
    "The tasks have crashed",
    "The error could be from a previous operation",
    "Additional GRPC error information",
    "[Op:",
)


def _reason(error):
    """The gist of a TensorFlow error message, on one line."""
    text = re.sub(r"\{\{[^}]*\}\}", "", error.message or "")
    for boilerplate in BOILERPLATE:
        text = text.split(boilerplate)[0]
    text = " ".join(text.split()).replace("Collective ops is aborted by: ", "")
    return text[:160].rstrip(" .:") or "no message"


def start(name, environ=os.environ):
    """The `Placement` for strategy `name`. A multi-worker strategy must be
    made before TensorFlow runs anything else in the process (TensorFlow
    configures collective ops once, at start-up)."""
    if name == "default":
        return Placement()
    import tensorflow as tf

    if name == "mirrored":
        return Placement(name, tf.distribute.MirroredStrategy())
    cluster = read_cluster(environ.get("TF_CONFIG"))
    options = tf.distribute.experimental.CommunicationOptions(
        timeout_seconds=collective_timeout(environ)
    )
    placement = Placement(name, None, cluster)
    try:
        placement.strategy = tf.distribute.MultiWorkerMirroredStrategy(
            communication_options=options
        )
    except RuntimeError as error:
        if "program startup" not in str(error):
            raise
        raise RnnkitError(
            "--strategy multi-worker must start before TensorFlow runs anything "
            "in this process; start it first (as `rnnkit train` does)"
        ) from None
    except tf.errors.UnknownError as error:  # "Could not start gRPC server"
        address = cluster.workers[cluster.index]
        raise RnnkitError(
            f"--strategy multi-worker: {placement.describe()} cannot listen on "
            f"{address}, its address in TF_CONFIG ({_reason(error)}); free the "
            "port, or check that no other worker has the same index"
        ) from None
    return placement


# Keras 3.15 under a strategy ------------------------------------------------


def adapt(model, dataset, strategy):
    """Makes the compiled `model` train and evaluate under `strategy` from
    now on, inside `strategy.scope()`. Keras 3.15 cannot, as it is:

    - `fit` and `evaluate` first average a batch over the replicas, to build
      the metrics: that fails on text (strings do not add up), and on any
      batch of a multi-worker strategy (tensorflow/tensorflow#72388). The
      metrics, losses and optimizer are built here from the dataset's
      element spec instead, and the model stops naming its strategy, which
      skips the averaging: Keras then uses the strategy in scope.
    - Keras averages a step's logs over the replicas with an `axis=0` that
      scalars lack under a multi-worker strategy. The logs are the same on
      every replica (Keras sums the metrics' updates over the replicas), so
      the steps here return the first replica's.
    - The optimizer clips each replica's share of the gradient before the
      shares are summed, so that the summed gradient can reach R times
      `clipnorm`; here it clips the sum, as it does without a strategy.
    - Each replica's loss is its mean over its rows, divided by R: right
      while the replicas get equal shares, but an epoch's last, partial
      batch splits unevenly (3 rows: 2 and 1), and its gradient came out
      weighted wrongly: on a tiny task the weights ended 0.006 away from
      the default strategy's, where training moved them 0.035. Here each
      replica's loss is weighted by its share of the batch's rows.
    """
    model._symbolic_build(data_batch=dataset.element_spec)
    model._distribute_strategy = None
    # One step per call: the templates keep Keras's steps_per_execution=1.
    model.train_function = _replica_steps(
        strategy, _weigh_by_rows(model.train_step, model.optimizer)
    )
    model.test_function = _replica_steps(strategy, model.test_step)
    _clip_after_sum(model.optimizer)


def _replica_steps(strategy, step):
    import tensorflow as tf

    def first(value):
        return strategy.experimental_local_results(value)[0]

    @tf.function(reduce_retracing=True)
    def one_step(batch):
        logs = strategy.run(step, args=(batch,))
        return tf.nest.map_structure(first, logs)

    def function(iterator):
        # All workers agree here on whether any of them has a batch left.
        batch = iterator.get_next_as_optional()
        if not batch.has_value():
            raise StopIteration
        return one_step(batch.get_value())

    return function


def _weigh_by_rows(train_step, optimizer):
    """`train_step`, whose loss is weighted by R times the replica's share
    of the batch's rows before its gradient is taken. The weight goes in
    through the optimizer's `scale_loss`, which Keras applies to the loss
    between logging it (so the logged loss stays the plain mean) and taking
    the gradient. The replicas are traced in threads of their own, so each
    keeps its weight in a thread-local."""
    import tensorflow as tf

    weights = threading.local()
    scale_loss = optimizer.scale_loss

    def weighted_step(batch):
        rows = tf.shape(tf.nest.flatten(batch)[0])[0]
        context = tf.distribute.get_replica_context()
        every = context.all_reduce(tf.distribute.ReduceOp.SUM, rows)
        replicas = context.num_replicas_in_sync
        weights.value = tf.cast(rows * replicas, "float32") / tf.cast(every, "float32")
        return train_step(batch)

    def weighted(loss):
        return scale_loss(loss) * tf.cast(weights.value, loss.dtype)

    optimizer.scale_loss = weighted
    return weighted_step


def _clip_after_sum(optimizer):
    clip, all_reduce = optimizer._clip_gradients, optimizer._all_reduce_sum_gradients

    def sum_then_clip(grads_and_vars):
        summed = all_reduce(grads_and_vars)
        clipped = clip([grad for grad, _ in summed])
        return [(grad, var) for grad, (_, var) in zip(clipped, summed)]

    optimizer._clip_gradients = lambda grads: grads  # a replica's share: later
    optimizer._all_reduce_sum_gradients = sum_then_clip


def shared_out(dataset):
    """`dataset` for a multi-worker run: every worker reads all of it and
    trains on its share of each batch. (TensorFlow would first look for
    files to split between the workers, and the templates' data is not in
    such files.)"""
    import tensorflow as tf

    options = tf.data.Options()
    policy = tf.data.experimental.AutoShardPolicy.DATA
    options.experimental_distribute.auto_shard_policy = policy
    return dataset.with_options(options)
