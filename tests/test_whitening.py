"""Patch-whitening initialization of airbench's first convolution."""

from __future__ import annotations

import numpy as np
import pytest

from kerasvision.backend import keras, tf
from kerasvision.errors import KVError
from kerasvision.models import create_model
from kerasvision.training.whitening import whiten_first_conv, whitening_weights


def _correlated_images(n=48, size=24, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 255, (n, size, size, 3)).astype(np.float32)
    x[..., 1] = 0.7 * x[..., 0] + 0.3 * x[..., 1]  # correlated channels
    return x


def _batches(x, batch=16):
    labels = np.zeros((len(x), 3), np.float32)
    return tf.data.Dataset.from_tensor_slices((x, labels)).batch(batch)


def test_whitening_weights_decorrelate_patches_to_unit_variance():
    rng = np.random.default_rng(1)
    mix = rng.normal(size=(4, 4))
    patches = rng.normal(size=(20_000, 4)) @ mix + 3.0
    kernel, bias = whitening_weights(patches, (2, 2), eps=0.0)
    assert kernel.shape == (2, 2, 1, 8) and bias.shape == (8,)
    out = patches @ kernel.reshape(4, 8) + bias
    np.testing.assert_allclose(np.cov(out[:, :4], rowvar=False), np.eye(4), atol=0.02)
    np.testing.assert_allclose(out[:, 4:], -out[:, :4], atol=1e-5)
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=0.02)


def test_whiten_first_conv_whitens_the_models_inputs_and_freezes_the_layer():
    model = create_model("airbench", num_classes=3, input_shape=(24, 24, 3), width=0.125)
    x = _correlated_images()
    trainable = len(model.trainable_weights)
    assert whiten_first_conv(model, _batches(x)) == len(x)
    layer = model.get_layer("whiten")
    assert not layer.trainable and len(model.trainable_weights) == trainable - 2
    out = keras.Model(model.inputs, layer.output)(x).numpy().reshape(-1, 24)[:, :12]
    cov = np.cov(out, rowvar=False)
    # Unit variance, a little less along the weakest directions, which eps damps.
    assert np.all((np.diag(cov) > 0.95) & (np.diag(cov) < 1.001))
    assert np.abs(cov - np.diag(np.diag(cov))).max() < 0.01


def test_whitening_stops_at_max_images():
    model = create_model("airbench", num_classes=3, input_shape=(24, 24, 3), width=0.125)
    assert whiten_first_conv(model, _batches(_correlated_images(64)), max_images=20) == 32


def test_a_model_without_a_whiten_layer_is_refused():
    model = create_model("resnet8", num_classes=3, input_shape=(24, 24, 3))
    with pytest.raises(KVError, match="whiten needs a model with a 'whiten' convolution"):
        whiten_first_conv(model, _batches(_correlated_images(8)))
