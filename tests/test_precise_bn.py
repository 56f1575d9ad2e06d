"""Precise BatchNorm: statistics recomputed with the weights fixed make short runs sound."""

from __future__ import annotations

import numpy as np
from conftest import random_batch, small_cnn

from kerasvision.backend import keras, tf
from kerasvision.training.precise_bn import PreciseBN, batchnorm_layers, recompute_bn_statistics


def test_statistics_become_the_average_over_the_batches():
    model = small_cnn()
    x, _ = random_batch(64)
    batches = [x[i : i + 16] for i in range(0, 64, 16)]
    first = batchnorm_layers(model)[0]
    weights = [w.copy() for w in model.get_weights()]
    used = recompute_bn_statistics(model, batches)
    assert used == 4
    conv = keras.Model(model.input, model.get_layer(first.name).input)  # what the BN layer sees
    means = [conv(b).numpy().mean(axis=(0, 1, 2)) for b in batches]
    np.testing.assert_allclose(first.moving_mean.numpy(), np.mean(means, axis=0), atol=1e-7)
    assert first.momentum == 0.99  # restored
    trainable_now = [
        w for w, v in zip(model.get_weights(), model.weights, strict=True) if v.trainable
    ]
    trainable_before = [w for w, v in zip(weights, model.weights, strict=True) if v.trainable]
    for now, before in zip(trainable_now, trainable_before, strict=True):
        np.testing.assert_array_equal(now, before)  # no gradient step


def test_max_batches_caps_the_pass_and_a_model_without_batchnorm_is_left_alone():
    model = small_cnn()
    x, _ = random_batch(64)
    assert recompute_bn_statistics(model, [x[:8]] * 10, max_batches=3) == 3
    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    assert recompute_bn_statistics(plain, [np.zeros((2, 4))]) == 0


def test_nested_backbones_are_found():
    inner = small_cnn()
    inputs = keras.Input((12, 12, 3))
    outer = keras.Model(inputs, inner(inputs))
    assert len(batchnorm_layers(outer)) == len(batchnorm_layers(inner)) > 0


def test_a_short_run_validates_with_the_statistics_of_its_final_weights():
    """A few steps at momentum 0.99 leave the moving averages near their start."""
    keras.utils.set_random_seed(0)
    model = small_cnn()
    x, y = random_batch(64)
    x = x * 0.2 + 150  # far from the BN layers' initial moving mean 0 / variance 1
    model.compile(keras.optimizers.SGD(0.01), "categorical_crossentropy")
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    first = batchnorm_layers(model)[0]
    model.fit(data, validation_data=data, epochs=1, verbose=0, callbacks=[PreciseBN(model, data)])
    conv = keras.Model(model.input, model.get_layer(first.name).input)
    true_mean = conv(x).numpy().mean(axis=(0, 1, 2))
    np.testing.assert_allclose(first.moving_mean.numpy(), true_mean, rtol=1e-3, atol=1e-3)
