"""Quantization-aware training (``kerasvision.compress.qat``)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow_model_optimization as tfmot
from conftest import random_batch, small_cnn

from kerasvision.backend import keras
from kerasvision.compress.pruning import (
    iter_layers,
    plan_pruning,
    prune_model,
    pruning_callbacks,
    strip,
)
from kerasvision.compress.qat import (
    inline_nested,
    is_quantized,
    kernel_sparsity,
    model_params,
    quantize_model,
    resolve_mode,
)
from kerasvision.distill import logits_model
from kerasvision.errors import KVError
from kerasvision.models.saving import load_model, save_model


def _nested():
    """Rescaling, then a nested functional ``backbone`` (conv-BN-ReLU), then a classifier."""
    inner_in = keras.Input((12, 12, 3))
    y = keras.layers.Conv2D(8, 3, padding="same", use_bias=False, name="conv")(inner_in)
    y = keras.layers.BatchNormalization(name="bn")(y)
    y = keras.layers.ReLU(name="relu")(y)
    y = keras.layers.GlobalAveragePooling2D(name="pool")(y)
    backbone = keras.Model(inner_in, y, name="backbone")
    inputs = keras.Input((12, 12, 3), name="image")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1, name="normalize")(inputs)
    x = backbone(x, training=False)
    x = keras.layers.Dense(4, name="logits")(x)
    outputs = keras.layers.Activation("softmax", name="probs")(x)
    return keras.Model(inputs, outputs, name="nested")


def _sparse_model():
    """``_model`` pruned to 50% and stripped."""
    x, y = random_batch()
    pruned = prune_model(small_cnn(), 0.5, plan_pruning(8, 4))
    pruned.compile(keras.optimizers.SGD(0.01), "categorical_crossentropy")
    pruned.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=pruning_callbacks(pruned))
    return strip(pruned)


def _quantized_names(model) -> set[str]:
    return {
        layer.layer.name
        for layer in iter_layers(model)
        if isinstance(layer, tfmot.quantization.keras.QuantizeWrapper)
    }


def test_unquantizable_input_normalization_stays_float_and_is_reported():
    result = quantize_model(small_cnn(), "qat")
    assert result.float_layers == ["normalize (Rescaling)"]
    quantized = _quantized_names(result.model)
    assert "normalize" not in quantized
    assert {"stage1_block1_conv", "stage2_block2_conv", "fc", "logits"} <= quantized
    assert is_quantized(result.model) and not is_quantized(small_cnn())


def test_a_nested_model_is_inlined_and_its_layers_quantized():
    model = _nested()
    flat, inlined = inline_nested(model)
    assert inlined == ["backbone"]
    assert not any(isinstance(layer, keras.Model) for layer in flat.layers)
    x, _ = random_batch(8)
    np.testing.assert_array_equal(flat.predict(x, verbose=0), model.predict(x, verbose=0))
    result = quantize_model(model, "qat")
    assert result.inlined == ["backbone"]
    assert {"conv", "logits"} <= _quantized_names(result.model)


def test_the_qat_model_starts_close_to_the_float_model():
    model = small_cnn()
    x, _ = random_batch(16)
    qat = quantize_model(model, "qat").model
    # The fake-quant ranges are set by the first call in training mode.
    qat(x, training=True)
    np.testing.assert_allclose(qat.predict(x, verbose=0), model.predict(x, verbose=0), atol=0.05)


def test_auto_is_pqat_for_a_pruned_model_and_qat_for_a_dense_one():
    sparse = _sparse_model()
    assert kernel_sparsity(sparse) >= 0.3 and kernel_sparsity(small_cnn()) == 0.0
    assert resolve_mode("auto", sparse) == "pqat"
    assert resolve_mode("auto", small_cnn()) == "qat"
    with pytest.raises(KVError, match="unknown QAT mode"):
        resolve_mode("int8", sparse)


def test_pqat_keeps_the_pruned_zeros_through_training():
    sparse = _sparse_model()
    zeros = {
        layer.name: layer.kernel.numpy() == 0
        for layer in sparse.layers
        if hasattr(layer, "kernel") and (layer.kernel.numpy() == 0).mean() > 0.3
    }
    assert zeros
    qat = quantize_model(sparse, "pqat").model
    qat.compile(keras.optimizers.SGD(0.05), "categorical_crossentropy")
    qat.fit(*random_batch(), batch_size=16, epochs=2, verbose=0)
    kernels = {w.name.split("/")[0]: w.numpy() for w in qat.weights if w.name.endswith("/kernel:0")}
    for name, mask in zeros.items():
        assert (kernels[name][mask] == 0).all(), name


def test_a_saved_qat_model_reloads_and_predicts_the_same(tmp_path):
    qat = quantize_model(small_cnn(), "qat").model
    qat.compile(keras.optimizers.SGD(0.01), "categorical_crossentropy")
    qat.fit(*random_batch(), batch_size=16, epochs=1, verbose=0)
    save_model(qat, tmp_path / "qat.keras")
    loaded = load_model(tmp_path / "qat.keras")
    assert is_quantized(loaded)
    x, _ = random_batch(8)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), qat.predict(x, verbose=0))


def test_a_qat_model_counts_the_parameters_of_its_float_model():
    model = small_cnn()
    qat = quantize_model(model, "qat").model
    assert qat.count_params() > model.count_params()  # tfmot's ranges and step counter
    assert model_params(qat) == model_params(model) == model.count_params()


def test_distillation_reaches_the_logits_of_a_qat_model():
    qat = quantize_model(small_cnn(), "qat").model
    logits = logits_model(qat)
    assert logits.outputs[0].node.layer.name == "quant_logits"
