"""Magnitude pruning (``kerasvision.compress.pruning``)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import random_batch, small_cnn

from kerasvision.backend import keras
from kerasvision.compress.pruning import (
    PruningPlan,
    gzip_size,
    plan_pruning,
    prune_model,
    pruning_callbacks,
    select_layers,
    sparsity_table,
    strip,
)
from kerasvision.errors import KVError
from kerasvision.models.saving import load_model, save_model


def _fine_tune(model, sparsity, epochs=2, structure="unstructured", batch=16):
    """Prunes ``model`` over ``epochs`` epochs of ``fit``, as the trainer does."""
    x, y = random_batch(96)
    steps = len(x) // batch
    pruned = prune_model(model, sparsity, plan_pruning(epochs * steps, steps), structure=structure)
    pruned.compile(keras.optimizers.SGD(0.01), "categorical_crossentropy")
    pruned.fit(
        x, y, batch_size=batch, epochs=epochs, verbose=0, callbacks=pruning_callbacks(pruned)
    )
    return pruned


@pytest.mark.parametrize(("total", "per_epoch"), [(1, 1), (2, 1), (12, 6), (64, 32), (5000, 1000)])
def test_the_plan_reaches_the_target_before_the_run_ends(total, per_epoch):
    plan = plan_pruning(total, per_epoch)
    assert plan.begin_step == 0
    assert plan.begin_step < plan.end_step <= total
    assert (plan.end_step - plan.begin_step) % plan.frequency == 0  # the last update is at end_step
    assert 1 <= plan.frequency <= 100
    if total >= 4:
        assert plan.end_step <= 0.75 * total  # a quarter of the run fine-tunes at the target


@pytest.mark.parametrize("end", [0.3, 0.5, 1.0])
def test_the_plan_ends_pruning_at_the_fraction_asked(end):
    plan = plan_pruning(1000, 100, end=end)
    assert plan.end_step <= end * 1000 < plan.end_step + plan.frequency


@pytest.mark.parametrize("end", [0.0, -0.5, 1.5])
def test_an_end_outside_the_run_is_refused(end):
    with pytest.raises(KVError, match="end of pruning"):
        plan_pruning(1000, 100, end=end)


def test_training_from_scratch_starts_pruning_later():
    plan = plan_pruning(300, 30, from_trained=False)
    assert 0 < plan.begin_step <= 100 and plan.end_step <= 225


def test_the_first_conv_and_the_classifier_stay_dense_by_default():
    names = select_layers(small_cnn())
    assert names == ["stage1_block2_conv", "stage2_block1_conv", "stage2_block2_conv", "fc"]


def test_exclude_patterns_and_keywords_choose_the_dense_layers():
    model = small_cnn()
    assert select_layers(model, ["stage2_*"]) == [
        "stage1_block1_conv",
        "stage1_block2_conv",
        "fc",
        "logits",
    ]
    assert select_layers(model, [])[0] == "stage1_block1_conv"


@pytest.mark.parametrize(
    ("exclude", "message"),
    [(["stage9_*"], "matches no prunable layer"), (["*"], "leaves no layer")],
)
def test_bad_exclude_patterns_raise_kverror(exclude, message):
    with pytest.raises(KVError, match=message):
        select_layers(small_cnn(), exclude)


@pytest.mark.parametrize("target", [0.5, 0.8])
def test_fine_tuning_reaches_the_target_sparsity(target):
    pruned = _fine_tune(small_cnn(), target)
    table = sparsity_table(pruned)
    assert table["sparsity"] == pytest.approx(target, abs=0.01)
    for row in table["layers"]:
        expected = target if row["pruned"] else 0.0
        assert row["sparsity"] == pytest.approx(expected, abs=0.01), row


def test_the_stripped_model_predicts_exactly_like_the_pruned_wrapper(tmp_path):
    pruned = _fine_tune(small_cnn(), 0.6)
    stripped = strip(pruned)
    assert not pruning_callbacks(stripped)  # no wrappers left
    x, _ = random_batch(32)
    np.testing.assert_array_equal(stripped.predict(x, verbose=0), pruned.predict(x, verbose=0))
    save_model(stripped, tmp_path / "pruned.keras")
    plain = keras.models.load_model(tmp_path / "pruned.keras", compile=False)  # no tfmot needed
    np.testing.assert_array_equal(plain.predict(x, verbose=0), pruned.predict(x, verbose=0))


def test_2_4_masks_hold_in_every_pruned_kernel():
    pruned = _fine_tune(small_cnn(), 0.5, structure="2:4")
    stripped = strip(pruned)
    for name in select_layers(stripped):
        kernel = stripped.get_layer(name).kernel.numpy()
        # Groups of four consecutive input-channel weights of each output (tfmot's layout).
        rows = kernel.reshape(-1, kernel.shape[-2], kernel.shape[-1]).transpose(0, 2, 1)
        groups = rows.reshape(-1, kernel.shape[-2] // 4, 4)
        assert (np.count_nonzero(groups, axis=-1) <= 2).all(), name
    first = stripped.get_layer("stage1_block1_conv").kernel.numpy()
    assert np.count_nonzero(first == 0) == 0  # excluded layers stay dense


def test_2_4_needs_half_the_weights_pruned():
    with pytest.raises(KVError, match="structure 2:4 .* sparsity must be 0.5, got 0.75"):
        prune_model(small_cnn(), 0.75, PruningPlan(0, 4, 1), structure="2:4")


def test_layers_inside_a_nested_model_are_pruned():
    inner_in = keras.Input((12, 12, 8))
    inner = keras.Model(
        inner_in,
        keras.layers.Conv2D(8, 3, padding="same", name="inner_conv")(inner_in),
        name="backbone",
    )
    inputs = keras.Input((12, 12, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same", name="stem")(x)
    x = inner(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(4, activation="softmax", name="logits")(x))
    assert select_layers(model) == ["inner_conv"]
    pruned = _fine_tune(model, 0.5)
    table = {row["layer"]: row for row in sparsity_table(pruned)["layers"]}
    assert table["inner_conv"]["pruned"] and table["inner_conv"]["sparsity"] == pytest.approx(
        0.5, abs=0.01
    )


def test_a_pruned_model_gzips_smaller_than_the_dense_one(tmp_path):
    dense = small_cnn()
    save_model(dense, tmp_path / "dense.keras")
    save_model(strip(_fine_tune(small_cnn(), 0.8)), tmp_path / "pruned.keras")
    assert gzip_size(tmp_path / "pruned.keras") < 0.7 * gzip_size(tmp_path / "dense.keras")
    assert gzip_size(b"a" * 1000) < 100


def test_a_pruning_wrapper_model_saves_and_reloads(tmp_path):
    pruned = _fine_tune(small_cnn(), 0.5)
    save_model(pruned, tmp_path / "wrapped.keras")  # e.g. the best checkpoint while pruning
    loaded = load_model(tmp_path / "wrapped.keras")
    x, _ = random_batch(8)
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), pruned.predict(x, verbose=0), atol=1e-6
    )
