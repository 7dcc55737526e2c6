"""Correctness: the same weights give the same numbers and gradients as
`keras.layers` SimpleRNN / GRU / LSTM, within 1e-5."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import (
    KERAS_LAYERS,
    VARIANT_IDS,
    VARIANTS,
    as_list,
    keras_and_rnnkit,
    random_inputs,
)

from rnnkit import layers as rnnkit_layers
from rnnkit.layers import bptt
from rnnkit.layers.fused_loop import STEP_PROJECTION_MIN_BATCH

ATOL = 1e-5


def mixed_mask(batch=3, time=6):
    """Left-masked, right-padded and fully masked rows, and an inner gap."""
    mask = np.ones((batch, time), bool)
    mask[0, 0] = mask[0, 3] = False
    mask[1, time - 2 :] = False
    mask[2, :] = False
    return tf.constant(mask)


def outputs_and_gradients(layer, x, mask=None, training=False, initial_state=None):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        outputs = layer(x, mask=mask, training=training, initial_state=initial_state)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        # Weight every element differently, so that no gradient hides in a sum.
        loss = sum(tf.reduce_sum(tf.sin(3.0 * o + 1.0)) for o in outputs)
    gradients = tape.gradient(loss, [x, *layer.trainable_weights])
    return as_list(outputs) + as_list(gradients)


def assert_same(ours, theirs, atol=ATOL):
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, atol=atol, rtol=1e-5)


LOOP_OPTIONS = [
    {},
    {"go_backwards": True},
    {"return_sequences": True},
    {"return_sequences": True, "go_backwards": True, "zero_output_for_mask": True},
    {"return_sequences": True, "use_bias": False},
]


@pytest.mark.parametrize("training", [True, False], ids=["fused-bptt", "autodiff"])
@pytest.mark.parametrize("masked", [False, True], ids=["no-mask", "mask"])
@pytest.mark.parametrize("options", LOOP_OPTIONS, ids=lambda o: "-".join(o) or "plain")
@pytest.mark.parametrize("kind,variant", VARIANTS, ids=VARIANT_IDS)
def test_outputs_states_and_gradients_match_keras(
    kind, variant, options, masked, training
):
    theirs, ours = keras_and_rnnkit(kind, return_state=True, **variant, **options)
    x = random_inputs()
    mask = mixed_mask() if masked else None
    assert_same(
        outputs_and_gradients(ours, x, mask, training),
        outputs_and_gradients(theirs, x, mask, training),
    )


@pytest.mark.parametrize("per_gate", [True, False], ids=["per-gate", "one-matmul"])
@pytest.mark.parametrize("training", [True, False], ids=["fused-bptt", "autodiff"])
@pytest.mark.parametrize("masked", [False, True], ids=["no-mask", "mask"])
@pytest.mark.parametrize("kind,variant", VARIANTS, ids=VARIANT_IDS)
def test_recurrent_matmuls_gate_by_gate_or_all_at_once_match_keras(
    kind, variant, masked, training, per_gate, monkeypatch
):
    # Large batches run the recurrent matmul one gate at a time, forward
    # and backward; here both ways run on the same small batch.
    monkeypatch.setattr(bptt, "PER_GATE_MIN_SIZE", 1 if per_gate else 10**9)
    theirs, ours = keras_and_rnnkit(
        kind, return_state=True, return_sequences=True, **variant
    )
    x = random_inputs()
    mask = mixed_mask() if masked else None
    assert_same(
        outputs_and_gradients(ours, x, mask, training),
        outputs_and_gradients(theirs, x, mask, training),
    )


@pytest.mark.parametrize("kind,variant", VARIANTS[1:], ids=VARIANT_IDS[1:])
def test_gate_by_gate_training_with_dropout_and_a_mask_matches_keras(
    kind, variant, monkeypatch
):
    # Training on a large batch projects the LSTM's inputs one gate at a
    # time, with one dropout mask shared by the gates. The GRU does not by
    # default (it measured slower), but the loops take any gated cell's
    # inputs in blocks, the GRU's separate recurrent gradient included.
    monkeypatch.setattr(bptt, "PER_GATE_MIN_SIZE", 1)
    options = dict(dropout=0.3, seed=5, return_sequences=True, **variant)
    theirs, ours = keras_and_rnnkit(kind, **options)
    ours.cell.fused_input_blocks = True
    x = random_inputs()
    trained = outputs_and_gradients(ours, x, mixed_mask(), training=True)
    assert_same(trained, outputs_and_gradients(theirs, x, mixed_mask(), training=True))
    plain = outputs_and_gradients(ours, x, mixed_mask(), training=False)
    assert np.max(np.abs(trained[0] - plain[0])) > 1e-3  # dropout acted


@pytest.mark.parametrize("kind,variant", VARIANTS[1:], ids=VARIANT_IDS[1:])
def test_gate_by_gate_training_with_a_dropout_mask_per_gate(kind, variant, monkeypatch):
    """`implementation=1` drops each gate's inputs by a mask of its own.
    Keras 3.15 cannot be the reference here: its LSTM and GRU fail with
    `dropout` and `implementation=1` alone ("Rank of input (4) must be no
    greater than rank of output shape (3)"). So the gate-by-gate projection
    is checked against rnnkit's one-matmul projection, with the same seed
    and therefore the same masks."""
    options = dict(dropout=0.3, seed=5, implementation=1, return_sequences=True)
    _, ours = keras_and_rnnkit(kind, **options, **variant)
    one_matmul = rnnkit_layers.get_layer(kind, 4, **options, **variant)
    one_matmul.build((3, 6, 5))
    one_matmul.set_weights(ours.get_weights())
    ours.cell.fused_input_blocks = True
    x = random_inputs()
    monkeypatch.setattr(bptt, "PER_GATE_MIN_SIZE", 10**9)
    expected = outputs_and_gradients(one_matmul, x, mixed_mask(), training=True)
    monkeypatch.setattr(bptt, "PER_GATE_MIN_SIZE", 1)
    found = outputs_and_gradients(ours, x, mixed_mask(), training=True)
    assert_same(found, expected)
    # Per-gate masks differ from one shared mask, so the check can fail.
    shared = rnnkit_layers.get_layer(
        kind, 4, **{**options, "implementation": 2}, **variant
    )
    shared.build((3, 6, 5))
    shared.set_weights(ours.get_weights())
    other = outputs_and_gradients(shared, x, mixed_mask(), training=True)
    assert np.max(np.abs(other[0] - found[0])) > 1e-3


@pytest.mark.parametrize("per_gate", [False, True], ids=["chunks", "gate-by-gate"])
@pytest.mark.parametrize("kind,variant", VARIANTS, ids=VARIANT_IDS)
def test_long_sequence_runs_in_chunks_and_matches_keras(
    kind, variant, per_gate, monkeypatch
):
    # 70 steps split into four chunks in the fused loop; the mask crosses
    # them. Gate by gate (as on a large batch), the gated layers run them in
    # one chunk, the LSTM with its inputs in blocks (`overlaps_chunks`).
    if per_gate:
        monkeypatch.setattr(bptt, "PER_GATE_MIN_SIZE", 1)
    shape = (2, 70, 3)
    theirs, ours = keras_and_rnnkit(
        kind, units=3, inputs_shape=shape, return_sequences=True, **variant
    )
    x = random_inputs(*shape) * 0.5
    mask = np.ones(shape[:2], bool)
    mask[1, 40:] = False
    mask = tf.constant(mask)
    assert_same(
        outputs_and_gradients(ours, x, mask, training=True),
        outputs_and_gradients(theirs, x, mask, training=True),
    )


@pytest.mark.parametrize("per_gate", [False, True], ids=["one-matmul", "gate-by-gate"])
@pytest.mark.parametrize("masked", [False, True], ids=["no-mask", "mask"])
@pytest.mark.parametrize("options", LOOP_OPTIONS, ids=lambda o: "-".join(o) or "plain")
@pytest.mark.parametrize("kind,variant", VARIANTS, ids=VARIANT_IDS)
def test_inference_on_a_large_batch_projects_in_the_loop_and_matches_keras(
    kind, variant, options, masked, per_gate, monkeypatch
):
    """From STEP_PROJECTION_MIN_BATCH rows on, inference reads each step's
    raw inputs inside the fused loop rather than projecting all of them
    first. Where its steps go gate by gate, the GRU takes `[h_{t-1}, u_t]`
    into one matmul per gate for the update and reset gates, the input and
    recurrent biases summed (`GRUCell.joined_input_step`); the other cells,
    and the GRU's steps that run all gates at once alone, project each
    step's inputs on their own. The numbers, and the
    gradients that TensorFlow takes through the loop, stay Keras's."""
    if per_gate:
        monkeypatch.setattr(bptt, "PER_GATE_MIN_SIZE", 1)
    shape = (STEP_PROJECTION_MIN_BATCH, 9, 5)
    theirs, ours = keras_and_rnnkit(
        kind, return_state=True, inputs_shape=shape, **variant, **options
    )
    projections, joined = [], []
    step_projection = ours.cell.step_projection
    joined_input_step = ours.cell.joined_input_step
    monkeypatch.setattr(
        ours.cell,
        "step_projection",
        lambda dtype: projections.append(dtype) or step_projection(dtype),
    )
    monkeypatch.setattr(
        ours.cell,
        "joined_input_step",
        lambda *args, **kwargs: (
            joined.append(joined_input_step(*args, **kwargs)) or joined[-1]
        ),
    )
    x = random_inputs(*shape)
    mask = mixed_mask(*shape[:2]) if masked else None
    assert_same(
        outputs_and_gradients(ours, x, mask),
        outputs_and_gradients(theirs, x, mask),
    )
    fused = ours.cell.fusable()
    assert len(projections) == (1 if fused else 0)
    # Asked in every fused loop; the GRU joins where its steps go gate by
    # gate (SimpleRNN's single gate never does), the LSTM never with the
    # batch size known.
    joins = kind == "gru" and per_gate
    assert [step is not None for step in joined] == ([joins] if fused else [])


@pytest.mark.parametrize("masked", [False, True], ids=["no-mask", "mask"])
@pytest.mark.parametrize("kind,variant", VARIANTS, ids=VARIANT_IDS)
def test_inference_on_a_batch_size_unknown_when_traced_matches_keras(
    kind, variant, masked, monkeypatch
):
    # As in `predict` or a serving signature: the gated cells then project
    # each step inside the fused loop, SimpleRNN all steps first.
    theirs, ours = keras_and_rnnkit(
        kind, return_state=True, return_sequences=True, **variant
    )
    projections = []
    step_projection = ours.cell.step_projection
    monkeypatch.setattr(
        ours.cell,
        "step_projection",
        lambda dtype: projections.append(dtype) or step_projection(dtype),
    )
    x = tf.constant(random_inputs())
    mask = mixed_mask() if masked else None

    def traced(layer):
        signature = [tf.TensorSpec((None, *x.shape[1:]), x.dtype)]
        signature += [tf.TensorSpec((None, x.shape[1]), "bool")] if masked else []

        @tf.function(input_signature=signature)
        def outputs_and_input_gradient(inputs, mask=None):
            with tf.GradientTape() as tape:
                tape.watch(inputs)
                outputs = layer(inputs, mask=mask)
                loss = sum(tf.reduce_sum(tf.sin(3.0 * o + 1.0)) for o in outputs)
            return [*outputs, tape.gradient(loss, inputs)]

        return as_list(outputs_and_input_gradient(*([x, mask] if masked else [x])))

    assert_same(traced(ours), traced(theirs))
    gated = len(ours.cell.gates) > 1
    # Traced three times: the whole batch, and each of its halves, which a
    # batch of at least 64 rows would run (`batch_halves`).
    assert len(projections) == (3 if ours.cell.fusable() and gated else 0)


@pytest.mark.parametrize("training", [True, False], ids=["fused-bptt", "autodiff"])
@pytest.mark.parametrize("time", [1, 8, 16, 23])
@pytest.mark.parametrize("kind,variant", VARIANTS, ids=VARIANT_IDS)
def test_lengths_around_the_loop_unrolling_match_keras(kind, variant, time, training):
    # The fused loops run UNROLL_STEPS (4) steps per iteration and the rest
    # after it: none of either, whole iterations only, and both.
    shape = (2, time, 3)
    theirs, ours = keras_and_rnnkit(
        kind, units=3, inputs_shape=shape, return_sequences=True, **variant
    )
    x = random_inputs(*shape)
    assert_same(
        outputs_and_gradients(ours, x, training=training),
        outputs_and_gradients(theirs, x, training=training),
    )


@pytest.mark.parametrize("options", LOOP_OPTIONS, ids=lambda o: "-".join(o) or "plain")
@pytest.mark.parametrize("kind,variant", VARIANTS, ids=VARIANT_IDS)
def test_one_step_in_inference_matches_keras(kind, variant, options):
    # A decoder's step: one time step from given states, some rows masked.
    # rnnkit runs the cell alone for it, with no loop.
    shape = (3, 1, 5)
    theirs, ours = keras_and_rnnkit(
        kind, units=4, inputs_shape=shape, return_state=True, **variant, **options
    )
    x = random_inputs(*shape)
    mask = np.array([[True], [False], [True]])
    states = [tf.constant(random_inputs(3, 1, 4, seed=s)[:, 0]) for s in (7, 8)][
        : len(ours.state_size)
    ]
    for step_mask in (None, mask):
        assert_same(
            outputs_and_gradients(ours, x, step_mask, initial_state=states),
            outputs_and_gradients(theirs, x, step_mask, initial_state=states),
        )


@pytest.mark.parametrize("kind,variant", VARIANTS, ids=VARIANT_IDS)
def test_a_length_unknown_when_traced_matches_keras(kind, variant):
    # Traced for any length, the loops cannot unroll and run a step each.
    theirs, ours = keras_and_rnnkit(kind, units=3, **variant)
    spec = tf.TensorSpec((None, None, 5))

    def traced(layer):
        @tf.function(input_signature=[spec])
        def run(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = tf.reduce_sum(tf.sin(3.0 * layer(x, training=True) + 1.0))
            return [loss, *tape.gradient(loss, [x, *layer.trainable_weights])]

        return run

    ours_fn, theirs_fn = traced(ours), traced(theirs)
    for time in (3, 11):
        x = tf.constant(random_inputs(time=time))
        assert_same(as_list(ours_fn(x)), as_list(theirs_fn(x)))


@pytest.mark.parametrize("kind,variant", VARIANTS, ids=VARIANT_IDS)
def test_initial_state_matches_keras(kind, variant):
    theirs, ours = keras_and_rnnkit(kind, return_state=True, **variant)
    count = 2 if kind == "lstm" else 1
    rng = np.random.default_rng(5)
    state = [
        tf.constant(rng.normal(size=(3, 4)).astype("float32")) for _ in range(count)
    ]
    for training in (True, False):
        assert_same(
            outputs_and_gradients(ours, random_inputs(), None, training, state),
            outputs_and_gradients(theirs, random_inputs(), None, training, state),
        )


@pytest.mark.parametrize("kind,variant", VARIANTS, ids=VARIANT_IDS)
def test_same_seed_gives_keras_initial_weights(kind, variant):
    keras.utils.set_random_seed(99)
    theirs = KERAS_LAYERS[kind](5, **variant)
    theirs.build((2, 3, 4))
    keras.utils.set_random_seed(99)
    ours = rnnkit_layers.get_layer(kind, 5, **variant)
    ours.build((2, 3, 4))
    assert [w.name for w in ours.weights] == [w.name for w in theirs.weights]
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kind,variant", VARIANTS, ids=VARIANT_IDS)
def test_constant_initializers_match_keras(kind, variant):
    kwargs = dict(
        kernel_initializer=keras.initializers.Constant(0.3),
        recurrent_initializer=keras.initializers.Constant(-0.2),
        bias_initializer=keras.initializers.Constant(0.1),
        return_sequences=True,
        **variant,
    )
    theirs = KERAS_LAYERS[kind](4, **kwargs)
    ours = rnnkit_layers.get_layer(kind, 4, **kwargs)
    x = random_inputs()
    assert_same(as_list(ours(x)), as_list(theirs(x)))
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kind,variant", VARIANTS, ids=VARIANT_IDS)
def test_weights_copy_both_ways(kind, variant):
    theirs, ours = keras_and_rnnkit(kind, return_sequences=True, **variant)
    x = random_inputs()
    # Ours into a fresh Keras layer, then compare.
    fresh = KERAS_LAYERS[kind](4, return_sequences=True, **variant)
    fresh.build(x.shape)
    fresh.set_weights(ours.get_weights())
    assert_same(as_list(fresh(x)), as_list(ours(x)))


@pytest.mark.parametrize("mask_source", ["embedding", "masking"])
@pytest.mark.parametrize("kind,variant", VARIANTS, ids=VARIANT_IDS)
def test_masks_from_keras_layers_match(kind, variant, mask_source):
    def model(recurrent_layer):
        if mask_source == "embedding":
            inputs = keras.Input((6,), dtype="int32")
            x = keras.layers.Embedding(10, 5, mask_zero=True)(inputs)
        else:
            inputs = keras.Input((6, 5))
            x = keras.layers.Masking(0.0)(inputs)
        x = recurrent_layer(x)
        return keras.Model(inputs, keras.layers.Dense(2)(x))

    theirs = model(KERAS_LAYERS[kind](4, return_sequences=True, **variant))
    ours = model(rnnkit_layers.get_layer(kind, 4, return_sequences=True, **variant))
    ours.set_weights(theirs.get_weights())
    if mask_source == "embedding":
        x = np.array([[1, 2, 3, 0, 0, 0], [4, 0, 5, 6, 7, 8], [0, 0, 0, 0, 0, 0]])
    else:
        x = random_inputs()
        x[0, 4:] = 0.0
        x[2] = 0.0
    np.testing.assert_allclose(ours(x), theirs(x), atol=ATOL)


@pytest.mark.parametrize("kind,variant", VARIANTS, ids=VARIANT_IDS)
def test_stateful_carries_and_resets_like_keras(kind, variant):
    theirs, ours = keras_and_rnnkit(kind, stateful=True, **variant)
    x = random_inputs()
    for _ in range(2):
        first = [ours(x), theirs(x)]
        second = [ours(x), theirs(x)]
        np.testing.assert_allclose(first[0], first[1], atol=ATOL)
        np.testing.assert_allclose(second[0], second[1], atol=ATOL)
        assert np.max(np.abs(np.asarray(first[0]) - np.asarray(second[0]))) > 1e-3
        ours.reset_state()
        theirs.reset_state()


@pytest.mark.parametrize("kind,variant", VARIANTS, ids=VARIANT_IDS)
def test_dropout_matches_keras_with_the_same_seed(kind, variant):
    options = dict(dropout=0.4, return_sequences=True, seed=7, **variant)
    theirs, ours = keras_and_rnnkit(kind, **options)
    x = random_inputs()
    without_dropout = rnnkit_layers.get_layer(kind, 4, return_sequences=True, **variant)
    without_dropout.build(x.shape)
    without_dropout.set_weights(ours.get_weights())
    plain = as_list(without_dropout(x))
    # Inference: no dropout at all (each library draws its masks regardless).
    assert_same(as_list(ours(x, training=False)), plain)
    assert_same(as_list(theirs(x, training=False)), plain)
    # Training: the same seed draws the same masks.
    trained = outputs_and_gradients(ours, x, training=True)
    assert_same(trained, outputs_and_gradients(theirs, x, training=True))
    assert np.max(np.abs(trained[0] - plain[0])) > 1e-3


@pytest.mark.parametrize("kind,variant", VARIANTS, ids=VARIANT_IDS)
def test_recurrent_dropout_matches_keras_with_the_same_seed(kind, variant):
    options = dict(dropout=0.2, recurrent_dropout=0.3, seed=3, **variant)
    theirs, ours = keras_and_rnnkit(kind, return_sequences=True, **options)
    x = random_inputs()
    assert_same(
        outputs_and_gradients(ours, x, mixed_mask(), training=True),
        outputs_and_gradients(theirs, x, mixed_mask(), training=True),
    )


@pytest.mark.parametrize("options", [{"unroll": True}, {"implementation": 1}])
@pytest.mark.parametrize("kind,variant", VARIANTS, ids=VARIANT_IDS)
def test_unroll_and_implementation_match_keras(kind, variant, options):
    if kind == "rnn" and "implementation" in options:
        pytest.skip("keras.layers.SimpleRNN has no `implementation` argument")
    theirs, ours = keras_and_rnnkit(kind, return_sequences=True, **variant, **options)
    x = random_inputs()
    for training in (True, False):
        assert_same(
            outputs_and_gradients(ours, x, mixed_mask(), training),
            outputs_and_gradients(theirs, x, mixed_mask(), training),
        )


@pytest.mark.parametrize("kind,variant", VARIANTS, ids=VARIANT_IDS)
def test_cells_match_keras_cells_step_by_step(kind, variant):
    from conftest import KERAS_CELLS

    theirs = KERAS_CELLS[kind](4, **variant)
    ours = rnnkit_layers.get_cell(kind, 4, **variant)
    theirs.build((3, 5))
    ours.build((3, 5))
    ours.set_weights(theirs.get_weights())
    u = random_inputs()[:, 0]
    states = [tf.constant(random_inputs(1, 3, 4, seed=s)[0]) for s in range(2)]
    states = states[: 2 if kind == "lstm" else 1]
    out_ours, states_ours = ours(u, states)
    out_theirs, states_theirs = theirs(u, states)
    assert_same(
        as_list(out_ours) + as_list(states_ours),
        as_list(out_theirs) + as_list(states_theirs),
    )


@pytest.mark.parametrize(
    "training,batch,per_gate",
    # Inference on STEP_PROJECTION_MIN_BATCH rows projects inside the loop.
    [
        (True, 4, False),
        (True, 4, True),
        (False, 4, False),
        (False, STEP_PROJECTION_MIN_BATCH, False),
        (False, STEP_PROJECTION_MIN_BATCH, True),
    ],
    ids=[
        "fused-bptt",
        "fused-bptt-gate-by-gate",
        "autodiff",
        "autodiff-projected-in-loop",
        "autodiff-joined-inputs-and-state",
    ],
)
@pytest.mark.parametrize("kind,variant", VARIANTS, ids=VARIANT_IDS)
def test_mixed_bfloat16_is_as_close_to_float32_as_keras(
    kind, variant, training, batch, per_gate, monkeypatch
):
    """Under Keras's `mixed_bfloat16` policy the layers compute in bfloat16
    and keep float32 weights, as Keras's do. Over 40 steps with a mask,
    their outputs and gradients stay within 2**-5 of the float32 numbers
    (relative to the largest of them), as Keras's do: bfloat16 keeps 8
    bits, and the worst error of either library here is about 2%."""
    if per_gate:
        monkeypatch.setattr(bptt, "PER_GATE_MIN_SIZE", 1)
    shape = (batch, 40, 5)
    options = {"units": 8, "inputs_shape": shape, "return_sequences": True}
    theirs, ours = keras_and_rnnkit(kind, dtype="mixed_bfloat16", **options, **variant)
    exact, _ = keras_and_rnnkit(kind, **options, **variant)  # float32, same weights
    x = random_inputs(*shape) * 0.5
    assert ours(x).dtype == theirs(x).dtype == "bfloat16"
    assert {w.dtype for w in ours.weights} == {"float32"}
    mask = np.ones(shape[:2], bool)
    mask[1, 30:] = False
    mask = tf.constant(mask)
    found = [
        outputs_and_gradients(layer, x, mask, training)
        for layer in (ours, theirs, exact)
    ]
    for mine, keras_bf16, reference in zip(*found, strict=True):
        reference = np.asarray(reference)
        bound = 2**-5 * max(1.0, float(np.max(np.abs(reference))))
        for found_bf16 in (mine, keras_bf16):
            error = np.max(np.abs(np.asarray(found_bf16, "float32") - reference))
            assert error <= bound, (error, bound)
