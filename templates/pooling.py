"""Pooling a recurrent layer's states over time, padding left out."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="rnnkit")
class MaxAndMeanPooling(keras.layers.Layer):
    """The largest and the mean value of each feature over the real (unmasked)
    time steps, concatenated: `(batch, time, features)` to
    `(batch, 2 * features)`.

    A classifier that reads only the last state `x_T` must carry everything
    it needs through every step. Pooling every `x_t` lets a word anywhere in
    the text speak directly to the output, and gives the gradient a short
    path to each step. Keras's `GlobalMaxPooling1D` ignores the mask, so
    padding would count; here it never does.

    A row with no real step (an empty text) pools to zeros.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, sequences, mask=None):
        if mask is None:
            mask = ops.ones(ops.shape(sequences)[:2], dtype="bool")
        real = ops.expand_dims(ops.cast(mask, sequences.dtype), -1)
        steps = ops.sum(real, axis=1)
        mean = ops.sum(sequences * real, axis=1) / ops.maximum(steps, 1.0)
        lowest = ops.min(sequences, axis=1, keepdims=True)
        # Padding takes the row's lowest value, so it never wins the max.
        highest = ops.max(ops.where(real > 0, sequences, lowest), axis=1)
        highest = ops.where(steps > 0, highest, ops.zeros_like(highest))
        return ops.concatenate([highest, mean], axis=-1)

    def compute_mask(self, sequences, mask=None):
        return None  # one vector per text: nothing left to mask

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 2 * input_shape[-1])
