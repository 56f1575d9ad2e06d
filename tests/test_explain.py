from __future__ import annotations

import numpy as np
import pytest

from kerasvision.backend import keras
from kerasvision.errors import KVError
from kerasvision.explain import find_target_layer, grad_cam, overlay

SIZE, HALF = 16, 8
QUADRANTS = {"top-left": (slice(0, HALF), slice(0, HALF)), "bottom-right": (slice(HALF, None),) * 2}


def _patterns() -> list[np.ndarray]:
    rows = np.zeros((HALF, HALF), np.float32)
    rows[::2] = 255
    checks = (np.indices((HALF, HALF)).sum(0) % 2 * 255).astype(np.float32)
    return [rows, rows.T, checks, np.full((HALF, HALF), 255, np.float32)]


def _quadrant_data(quadrant: str, n: int, seed: int):
    """Noise images whose class (4 stripe patterns) is drawn in one quadrant only."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 255, (n, SIZE, SIZE, 1)).astype(np.float32)
    labels = rng.integers(0, 4, n)
    rows, cols = QUADRANTS[quadrant]
    for image, label in zip(images, labels, strict=True):
        image[rows, cols, 0] = _patterns()[label]
    return images, labels


def _quadrant_model(quadrant: str):
    keras.utils.set_random_seed(0)
    images, labels = _quadrant_data(quadrant, 320, seed=0)
    inputs = keras.Input((SIZE, SIZE, 1))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="features")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(4, name="logits")(x)
    model = keras.Model(inputs, keras.layers.Activation("softmax")(x))
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    model.fit(images, labels, epochs=15, batch_size=32, verbose=0)
    return model


@pytest.mark.parametrize("quadrant", list(QUADRANTS))
def test_heat_lies_in_the_quadrant_the_model_was_trained_to_look_at(quadrant):
    model = _quadrant_model(quadrant)
    images, labels = _quadrant_data(quadrant, 48, seed=1)
    cam = grad_cam(model, images)
    assert cam.layer == "features"  # the last convolution, found automatically
    assert np.mean(cam.classes == labels) > 0.9
    rows, cols = QUADRANTS[quadrant]
    share = cam.heatmaps[:, rows, cols].sum(axis=(1, 2)) / cam.heatmaps.sum(axis=(1, 2))
    # A quadrant holds a quarter of the heat of a model that looks everywhere.
    assert share.min() > 0.4 and share.mean() > 0.55


def test_heatmaps_are_normalized_and_follow_the_requested_class():
    model = _tiny_model()
    images = np.random.default_rng(0).uniform(0, 255, (3, SIZE, SIZE, 1))
    cam = grad_cam(model, images, class_index=2)
    assert cam.layer == "conv"  # the convolution, not the pooling after it
    assert cam.heatmaps.shape == (3, SIZE, SIZE)
    assert cam.heatmaps.min() >= 0 and cam.heatmaps.max() <= 1
    assert cam.classes.tolist() == [2, 2, 2]
    np.testing.assert_allclose(cam.probs, model(images).numpy(), atol=1e-6)
    with pytest.raises(KVError, match="class 7 is out of range: the model has 4 classes"):
        grad_cam(model, images, class_index=7)


def test_unknown_or_flat_layers_are_refused():
    model = _tiny_model()
    with pytest.raises(KVError, match="no layer 'conv9'"):
        find_target_layer(model, "conv9")
    with pytest.raises(KVError, match="Grad-CAM needs a convolutional"):
        find_target_layer(model, "logits")


def test_nested_backbone_is_explained_from_inside():
    from kerasvision.models import create_model

    model = create_model("mobilenet_v2", num_classes=3, input_shape=(64, 64, 3), weights="none")
    nested, layer = find_target_layer(model)
    assert nested.name == "backbone" and len(layer.output_shape) == 4
    images = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3))
    cam = grad_cam(model, images, layer="backbone/block_13_expand_relu")
    assert cam.layer == "backbone/block_13_expand_relu" and cam.heatmaps.shape == (2, 4, 4)
    np.testing.assert_allclose(cam.probs, model(images).numpy(), atol=1e-5)


def test_overlay_enlarges_small_images_and_paints_the_heat_red():
    image = np.full((8, 8, 1), 128, np.uint8)
    heat = np.zeros((4, 4))
    heat[:2, :2] = 1.0
    out = overlay(image, heat, min_side=64)
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    hot, cold = out[:16, :16].astype(int), out[-16:, -16:].astype(int)
    assert (hot[..., 0] - hot[..., 2]).mean() > 50 > (cold[..., 0] - cold[..., 2]).mean()


def _tiny_model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((SIZE, SIZE, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inputs)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(4, name="logits")(x)
    return keras.Model(inputs, keras.layers.Activation("softmax")(x))
