import keras

from rnnkit.layers.base_cell import RecurrentCell


@keras.saving.register_keras_serializable(package="rnnkit")
class Bidirectional(keras.layers.Bidirectional):
    """`keras.layers.Bidirectional`, tuned for rnnkit's sequence layers.

    Runs one copy of `layer` from the start of the sequence and one from its
    end, and merges their outputs: the same arguments, weights and numbers as
    the Keras wrapper, which also accepts rnnkit's layers.

    The difference is speed. TensorFlow runs the two directions' loops side
    by side, one per core on a small machine, so neither loop has a core to
    spare. Told so (`shares_cores`), rnnkit's layers run each direction's
    batch in one loop rather than in two halves (`batch_halves`), and on a
    CPU with AVX-512 the GRU and LSTM run each inference step's recurrent
    matmul for all gates at once rather than one gate per core: at B=64,
    T=100, H=128 on 2 cores, 1.08x Keras's bidirectional layers against
    0.92-0.93x gate by gate in halves (AMD EPYC), and 14-22% faster for the
    LSTM and 4-7% for the GRU than gate by gate (Intel Xeon). With AVX2
    only the GRU and LSTM go gate by gate and in halves, which was faster
    there (`rnnkit.layers.cpu.whole_steps_when_sharing`). Training is not
    affected.

    rnnkit's layers learn the same under `keras.layers.Bidirectional`, from
    the names it gives the two directions; this wrapper also tells a
    `backward_layer` of the user's own, whose name Keras keeps. Layers
    other than rnnkit's run as they would under `keras.layers`.

    Args:
        layer: The recurrent layer for the forward direction, such as
            `rnnkit.layers.LSTM(64, return_sequences=True)`.
        merge_mode: How to combine the two directions' outputs: `"concat"`
            (the default), `"sum"`, `"mul"`, `"ave"` or `None` (a list of
            both).
        backward_layer: Optional layer for the backward direction; by
            default a copy of `layer` with `go_backwards` flipped.
        **kwargs: Base layer arguments such as `name`.

    Example:

    >>> import rnnkit.layers
    >>> encoder = Bidirectional(rnnkit.layers.GRU(8, return_sequences=True))
    >>> encoder(np.zeros((2, 5, 3), "float32")).shape
    TensorShape([2, 5, 16])
    """

    def __init__(self, layer, merge_mode="concat", backward_layer=None, **kwargs):
        super().__init__(
            layer, merge_mode=merge_mode, backward_layer=backward_layer, **kwargs
        )
        for direction in (self.forward_layer, self.backward_layer):
            cell = getattr(direction, "cell", None)
            if isinstance(cell, RecurrentCell):
                cell.shares_cores = True
