"""Stateful states under `tf.distribute`: each replica carries its own rows.

A stateful layer keeps one state row for each row of the global batch: row
i of the next batch goes on from row i of this one. A strategy with N
replicas splits every global batch into N consecutive slices, and replica r
always gets slice r (across workers too, where each worker takes the
replicas' slices in order). So replica r reads, and carries on, rows
`[r * B/N, (r + 1) * B/N)` of one state variable of the global shape.

Each replica writes back its rows padded with zeros, and the variable's
"sum" aggregation adds the replicas' writes into the whole state; adding
zeros is exact, so after a step the state equals what one replica running
the whole batch would have left. Keras's built-in layers refuse this case
(the per-replica batch is not the state's batch).
"""

import tensorflow as tf

# The aggregations a stateful layer's variables use on several replicas: the
# states add the replicas' padded rows; the "start from x_0" flag is the same
# on every replica, so the first replica's write stands for all.
STATE_AGGREGATION = "sum"
FLAG_AGGREGATION = "only_first_replica"


def replicas_in_sync():
    """How many replicas a layer built now trains on (1 without a strategy)."""
    return tf.distribute.get_strategy().num_replicas_in_sync


def check_divisible(batch_size, replicas):
    if batch_size % replicas:
        raise ValueError(
            f"`stateful=True` on {replicas} replicas needs a batch size that "
            f"they can split evenly. Received: batch_size={batch_size}"
        )


class RowSlice:
    """The rows of the global state that one call reads and writes: the
    whole state when the call gets the global batch, else the calling
    replica's slice."""

    def __init__(self, global_batch, replicas, batch_size):
        self.global_batch = global_batch
        self.count = global_batch // replicas
        context = tf.distribute.get_replica_context()
        in_replica = context is not None and context.num_replicas_in_sync > 1
        # Out of a replica, a replica's batch shape is Keras's symbolic
        # build in the cross-replica context: any slice gives its shapes.
        self.whole = replicas == 1 or not (in_replica or batch_size == self.count)
        replica = context.replica_id_in_sync_group if in_replica else 0
        self.start = replica * self.count

    @staticmethod
    def accepts(batch_size, global_batch, replicas):
        return batch_size == global_batch or (
            replicas > 1 and batch_size * replicas == global_batch
        )

    def read(self, state):
        if self.whole:
            return state
        return state[self.start : self.start + self.count]

    def write(self, rows):
        """`rows` padded with zeros to the global batch, to be summed with
        the other replicas' writes."""
        if self.whole:
            return rows
        after = self.global_batch - self.start - self.count
        return tf.pad(rows, [[self.start, after], [0, 0]])
