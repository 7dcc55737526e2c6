"""Inference on two halves of the batch (`rnnkit.layers.batch_halves`): the
same numbers as Keras, and the halves taken only where they paid in the
benchmarks."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import (
    VARIANT_IDS,
    VARIANTS,
    as_list,
    keras_and_rnnkit,
    random_inputs,
    random_weights,
)
from test_fused_graph import op_counts
from test_parity import assert_same, mixed_mask, outputs_and_gradients

from rnnkit import layers as rnnkit_layers
from rnnkit.layers import batch_halves, cpu, fused_loop
from rnnkit.layers.bptt import PER_GATE_MIN_SIZE
from rnnkit.layers.fused_loop import STEP_PROJECTION_MIN_BATCH

SMALLEST = 2 * batch_halves.MIN_HALF_ROWS  # the fewest rows that run in halves

OPTIONS = [
    {},
    {"return_sequences": True, "go_backwards": True},
    {"return_sequences": True, "zero_output_for_mask": True, "use_bias": False},
]


@pytest.fixture
def halves(monkeypatch):
    """The batches traced in halves, one entry each."""
    traced = []
    run_halves = batch_halves._halves

    def counted(run, inputs, *args):
        traced.append(inputs.shape[1])
        return run_halves(run, inputs, *args)

    monkeypatch.setattr(batch_halves, "_halves", counted)
    return traced


@pytest.mark.parametrize("masked", [False, True], ids=["no-mask", "mask"])
@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: "-".join(o) or "plain")
@pytest.mark.parametrize("kind,variant", VARIANTS, ids=VARIANT_IDS)
def test_a_batch_run_in_halves_matches_keras(kind, variant, options, masked, halves):
    shape = (SMALLEST + 1, 9, 5)  # odd: halves of 32 and 33 rows
    theirs, ours = keras_and_rnnkit(
        kind, return_state=True, inputs_shape=shape, **variant, **options
    )
    x = random_inputs(*shape)
    mask = mixed_mask(*shape[:2]) if masked else None
    assert_same(
        outputs_and_gradients(ours, x, mask),
        outputs_and_gradients(theirs, x, mask),
    )
    # The unfused loop (GRU with reset_after=False) runs whole.
    assert halves == ([SMALLEST + 1] if ours.cell.fusable() else [])


def traced_with_input_gradient(layer, masked=True):
    """`layer` traced as a serving signature is, the batch size unknown:
    `(inputs, mask) ->` its outputs and the gradient of a loss of them
    with respect to the inputs, in float32 (`mask` ignored unless
    `masked`)."""

    @tf.function(
        input_signature=[tf.TensorSpec((None, 6, 5)), tf.TensorSpec((None, 6), "bool")]
    )
    def outputs_and_input_gradient(inputs, mask):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            outputs = layer(inputs, mask=mask if masked else None)
            loss = sum(tf.reduce_sum(tf.sin(3.0 * o + 1.0)) for o in outputs)
        found = (*outputs, tape.gradient(loss, inputs))
        return [tf.cast(o, "float32") for o in found]

    return outputs_and_input_gradient


@pytest.mark.parametrize("sequences", [True, False], ids=["sequences", "last"])
@pytest.mark.parametrize("kind,variant", VARIANTS, ids=VARIANT_IDS)
def test_a_batch_size_unknown_when_traced_is_halved_at_run_time(
    kind, variant, sequences, halves
):
    # As in `predict` and a serving signature: both ways are traced, and the
    # batch that arrives picks one.
    theirs, ours = keras_and_rnnkit(
        kind, return_state=True, return_sequences=sequences, **variant
    )
    ours_traced, theirs_traced = map(traced_with_input_gradient, (ours, theirs))
    # The unfused loop (GRU with reset_after=False) runs whole.
    halved = ours.cell.fusable()
    assert batch_halves.may_split(ours.cell)
    for rows in (SMALLEST + 3, 3):
        x, mask = random_inputs(rows), mixed_mask(rows)
        assert_same(as_list(ours_traced(x, mask)), as_list(theirs_traced(x, mask)))
        runs_in_halves = batch_halves.splits(ours.cell, tf.constant(rows))
        assert bool(runs_in_halves) == (rows > SMALLEST)
    assert halves == ([None] if halved else [])  # traced once, for any batch


SINGLE_ROW_CASES = [
    *((kind, {}, options) for kind in ("gru", "lstm") for options in OPTIONS),
    *((kind, variant, {}) for kind, variant in VARIANTS if variant or kind == "rnn"),
]


@pytest.mark.parametrize(
    "kind,variant,options",
    SINGLE_ROW_CASES,
    ids=lambda case: case if isinstance(case, str) else "-".join(case) or "plain",
)
def test_a_single_row_behind_an_unknown_batch_size_runs_as_one_row(
    kind, variant, options, monkeypatch
):
    """With the batch size unknown when traced (a serving signature), the
    GRU and LSTM trace a branch for a batch of one row, whose loop makes
    the choices of a known batch of one (`single_row_branch`): one matmul
    for all gates, inputs projected first. A single row and three rows, with a mask and
    initial states, give Keras's numbers and input gradients either way."""
    theirs, ours = keras_and_rnnkit(kind, return_state=True, **variant, **options)
    rows_traced = []
    run_fused_loop = fused_loop._run_fused_loop

    def recorded(cell, inputs, *args, rows=None, **kwargs):
        rows_traced.append(inputs.shape[1] if rows is None else rows)
        return run_fused_loop(cell, inputs, *args, rows=rows, **kwargs)

    monkeypatch.setattr(fused_loop, "_run_fused_loop", recorded)
    states = len(ours.cell.state_names)
    signature = [
        tf.TensorSpec((None, 6, 5)),
        tf.TensorSpec((None, 6), "bool"),
        [tf.TensorSpec((None, 4)) for _ in range(states)],
    ]

    def traced(layer):
        @tf.function(input_signature=signature)
        def outputs_and_input_gradient(inputs, mask, initial_state):
            with tf.GradientTape() as tape:
                tape.watch(inputs)
                outputs = layer(inputs, mask=mask, initial_state=initial_state)
                loss = sum(tf.reduce_sum(tf.sin(3.0 * o + 1.0)) for o in outputs)
            return [*outputs, tape.gradient(loss, inputs)]

        return outputs_and_input_gradient

    ours_traced, theirs_traced = traced(ours), traced(theirs)
    for rows in (1, 3):
        x, mask = random_inputs(rows), mixed_mask()[:rows]
        initial = [random_inputs(rows, 4, 1, seed=i)[..., 0] for i in range(states)]
        assert_same(
            as_list(ours_traced(x, mask, initial)),
            as_list(theirs_traced(x, mask, initial)),
        )
    assert ours.cell.single_row_branch == (kind != "rnn")
    traced_as = {None, 1} if kind != "rnn" else {None}
    # (The GRU with reset_after=False runs the unfused loop.)
    assert set(rows_traced) == (traced_as if ours.cell.fusable() else set())


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_training_runs_the_batch_whole(kind, halves):
    layer = rnnkit_layers.get_layer(kind, 4)
    with tf.GradientTape() as tape:
        outputs = layer(random_inputs(SMALLEST), training=True)
    tape.gradient(outputs, layer.trainable_variables)
    assert halves == []


@pytest.mark.parametrize(
    "kind,units,most",
    [
        # `most`: the most rows in a half whose recurrent product,
        # rows * gates * units, fits MAX_HALF_SIZE (32768).
        ("gru", 128, 85),
        ("lstm", 128, 64),
        ("gru", 64, 170),
        ("gru", 512, None),  # even a half of MIN_HALF_ROWS is too large
        ("lstm", 512, None),
    ],
)
def test_which_batches_run_in_halves(kind, units, most):
    cell = rnnkit_layers.get_layer(kind, units).cell

    def split(rows):
        return batch_halves.splits(cell, rows)

    assert not split(SMALLEST - 1)
    if most is None:
        assert not split(SMALLEST)
    else:
        assert split(SMALLEST) and split(2 * most + 1) and not split(2 * most + 2)


@pytest.mark.parametrize("avx512", [True, False], ids=["avx512", "avx2"])
@pytest.mark.parametrize("kind", ["rnn", "lstm"])
@pytest.mark.parametrize(
    "wrapper", [rnnkit_layers.Bidirectional, keras.layers.Bidirectional]
)
def test_a_bidirectional_layer_runs_each_direction_whole(
    wrapper, kind, avx512, halves, monkeypatch
):
    # Either wrapper's directions know that their two loops already share
    # the cores: a SimpleRNN's run whole, and so do the gated cells' where
    # such loops run whole steps (AVX-512); gate by gate (AVX2) they split.
    monkeypatch.setattr(cpu, "whole_steps_when_sharing", lambda: avx512)
    monkeypatch.setattr(batch_halves, "MIN_WHOLE_STEP_HALF_SIZE", 0)
    layer = wrapper(rnnkit_layers.get_layer(kind, 4))
    layer(random_inputs(SMALLEST))
    whole = avx512 or kind == "rnn"
    assert len(halves) == (0 if whole else 2)
    alone = rnnkit_layers.get_layer(kind, 4)
    alone(random_inputs(SMALLEST))
    assert len(halves) == (1 if whole else 3)


@pytest.mark.parametrize("kind,variant", VARIANTS[1:], ids=VARIANT_IDS[1:])
def test_on_avx512_each_half_multiplies_all_gates_at_once(kind, variant, monkeypatch):
    """Each half's loop runs beside the other's, so on a CPU with AVX-512 its
    steps run one recurrent matmul for all gates (`bptt.gate_by_gate`),
    with the same numbers as Keras."""
    monkeypatch.setattr(batch_halves, "MIN_WHOLE_STEP_HALF_SIZE", 0)
    # Halves of 32 rows of 128 units are large enough to go gate by gate.
    assert batch_halves.MIN_HALF_ROWS * 3 * 128 >= PER_GATE_MIN_SIZE
    theirs, ours = keras_and_rnnkit(
        kind, 128, (SMALLEST, 9, 5), return_sequences=True, **variant
    )
    # Weights small enough for 128 units to sum without saturating the gates.
    weights = random_weights(theirs, scale=0.1)
    theirs.set_weights(weights), ours.set_weights(weights)
    x = random_inputs(SMALLEST, 9)

    def loop_matmuls(avx512):
        monkeypatch.setattr(cpu, "whole_steps_when_sharing", lambda: avx512)
        # (The kernels' gradients sum 576 rows' terms: rounding reaches 2e-5.)
        ours_now, theirs_now = (outputs_and_gradients(m, x) for m in (ours, theirs))
        assert_same(ours_now, theirs_now, atol=1e-4)
        _, in_loops = op_counts(tf.function(lambda: ours(x)))
        return in_loops["MatMul"]

    gates = len(ours.cell.gates)
    by_gate, whole = loop_matmuls(False), loop_matmuls(True)
    if not ours.cell.fusable():  # the GRU with reset_after=False
        assert by_gate == whole
        return
    # Per step: the recurrent matmuls and the input's projection.
    steps = whole // 2
    assert steps >= 2 * 9 // 4  # both halves' loops (steps unrolled by four)
    assert by_gate == steps * (gates + 1)


@pytest.mark.parametrize("dtype", ["float32", "mixed_bfloat16"])
@pytest.mark.parametrize("masked", [False, True], ids=["no-mask", "mask"])
def test_on_avx512_the_lstms_halves_join_inputs_and_state_behind_an_unknown_batch(
    dtype, masked, monkeypatch
):
    """With the batch size unknown when traced, TensorFlow cannot fuse the
    add of the input and recurrent terms into a matmul, so where the LSTM's
    steps run all gates at once (each half of a batch, on AVX-512) it
    multiplies `[h_{t-1}, u_t]` by `[W_xx; W_xu]` in one matmul
    (`LSTMCell.joined_input_step`); gate by gate (the whole batch) it does
    not. Keras's numbers and input gradients, and under `mixed_bfloat16`
    as close to float32 as Keras's layer is."""
    monkeypatch.setattr(cpu, "whole_steps_when_sharing", lambda: True)
    monkeypatch.setattr(batch_halves, "MIN_WHOLE_STEP_HALF_SIZE", 0)
    options = {"return_state": True, "return_sequences": True}
    theirs, ours = keras_and_rnnkit("lstm", dtype=dtype, **options)
    exact, _ = keras_and_rnnkit("lstm", **options)  # float32, the same weights
    asked = recorded_joined_steps(ours.cell, monkeypatch)
    runs = [traced_with_input_gradient(m, masked) for m in (ours, theirs, exact)]
    for rows in (SMALLEST + 3, 3):  # in halves, and whole
        x, mask = random_inputs(rows), mixed_mask(rows)
        mine, keras_too, reference = (as_list(run(x, mask)) for run in runs)
        if dtype == "float32":
            assert_same(mine, keras_too)
            continue
        for found, expected in zip(mine + keras_too, reference + reference):
            bound = 2**-5 * max(1.0, float(np.max(np.abs(expected))))
            assert np.max(np.abs(np.asarray(found) - np.asarray(expected))) <= bound
    # The halves' two loops join (traced once for any batch); the whole
    # batch's, gate by gate, does not.
    assert sorted(asked) == [(False, True), (False, True), (True, False)]


def recorded_joined_steps(cell, monkeypatch):
    """`(by_gate, joined)` for each time `cell` is asked for a joined step."""
    asked = []
    joined_input_step = cell.joined_input_step

    def recorded(dtype, by_gate, batch_known):
        step = joined_input_step(dtype, by_gate, batch_known)
        asked.append((by_gate, step is not None))
        return step

    monkeypatch.setattr(cell, "joined_input_step", recorded)
    return asked


@pytest.mark.parametrize("dtype", ["float32", "mixed_bfloat16"])
@pytest.mark.parametrize("use_bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("masked", [False, True], ids=["no-mask", "mask"])
@pytest.mark.parametrize(
    "wrapper",
    [rnnkit_layers.Bidirectional, keras.layers.Bidirectional],
    ids=["rnnkit-wrapper", "keras-wrapper"],
)
def test_on_avx512_a_bidirectional_gru_joins_inputs_and_state_for_both_gates(
    wrapper, masked, use_bias, dtype, monkeypatch
):
    """In a direction of a bidirectional layer on AVX-512, inference's steps
    run all gates at once, and the GRU's multiply `[h_{t-1}, u_t]` by the
    update and reset gates' `[W_xx; W_xu]` in one matmul for both
    (`GRUCell.joined_input_step`): Keras's numbers and input gradients, and
    under `mixed_bfloat16` within bfloat16's reach of Keras's float32."""
    monkeypatch.setattr(cpu, "whole_steps_when_sharing", lambda: True)
    x = random_inputs(STEP_PROJECTION_MIN_BATCH, 9)
    mask = mixed_mask(*x.shape[:2]) if masked else None
    options = {"return_sequences": True, "use_bias": use_bias}
    theirs = keras.layers.Bidirectional(keras.layers.GRU(4, **options))
    ours = wrapper(rnnkit_layers.GRU(4, dtype=dtype, **options))
    theirs.build(x.shape), ours.build(x.shape)
    weights = random_weights(theirs)
    theirs.set_weights(weights), ours.set_weights(weights)
    directions = (ours.forward_layer.cell, ours.backward_layer.cell)
    asked = [recorded_joined_steps(cell, monkeypatch) for cell in directions]
    mine = outputs_and_gradients(ours, x, mask)
    expected = outputs_and_gradients(theirs, x, mask)
    assert ours.forward_layer.compute_dtype == keras.DTypePolicy(dtype).compute_dtype
    if dtype == "float32":
        assert_same(mine, expected)
    for found, wanted in zip(mine, expected, strict=True):
        bound = 2**-5 * max(1.0, float(np.max(np.abs(wanted))))
        assert np.max(np.abs(np.asarray(found, "float32") - wanted)) <= bound
    assert asked == [[(False, True)], [(False, True)]]
    # Alone, its steps (too small to go gate by gate) run all gates at
    # once too, but project each step's inputs on their own.
    alone = rnnkit_layers.GRU(4, **options)
    alone.build(x.shape)
    asked_alone = recorded_joined_steps(alone.cell, monkeypatch)
    alone(x)
    assert asked_alone == [(False, False)]


@pytest.mark.parametrize(
    "kind,units,fewest,most",
    [
        # On AVX-512 a half needs MIN_WHOLE_STEP_HALF_SIZE (16,384) entries.
        ("gru", 128, 43, 85),
        ("lstm", 128, 32, 64),
        ("gru", 4, 1366, 2730),
    ],
)
def test_which_batches_run_in_halves_on_avx512(kind, units, fewest, most, monkeypatch):
    monkeypatch.setattr(cpu, "whole_steps_when_sharing", lambda: True)
    cell = rnnkit_layers.get_layer(kind, units).cell

    def split(rows):
        return batch_halves.splits(cell, rows)

    assert not split(2 * fewest - 1) and split(2 * fewest)
    assert split(2 * most + 1) and not split(2 * most + 2)
    at_run_time = [
        bool(split(tf.constant(rows))) for rows in (2 * fewest - 1, 2 * fewest)
    ]
    assert at_run_time == [False, True]


def test_one_core_runs_the_batch_whole(monkeypatch, halves):
    monkeypatch.setattr(batch_halves, "_cores", lambda: 1)
    layer = rnnkit_layers.get_layer("gru", 4)
    layer(random_inputs(SMALLEST))
    assert halves == []
    monkeypatch.setattr(batch_halves, "_cores", lambda: 2)
    layer(random_inputs(SMALLEST))
    assert halves == [SMALLEST]


@pytest.mark.parametrize(
    "variable", ["TF_NUM_INTEROP_THREADS", "TF_NUM_INTRAOP_THREADS"]
)
def test_one_thread_runs_the_batch_whole(variable, monkeypatch, halves):
    monkeypatch.setenv(variable, "1")
    layer = rnnkit_layers.get_layer("gru", 4)
    layer(random_inputs(SMALLEST))
    assert halves == []
    monkeypatch.setenv(variable, "2")
    layer(random_inputs(SMALLEST))
    assert halves == [SMALLEST]
