"""RGB input for mobile formats (``kerasvision.export.rgb_input``)."""

from __future__ import annotations

import numpy as np
import pytest

from kerasvision.artifacts import ModelInfo
from kerasvision.backend import keras, tf
from kerasvision.errors import KVError
from kerasvision.export.rgb_input import (
    RGB_TO_GRAY_RULE,
    RGBToGray,
    as_input,
    mobile_input,
    rgb_input_model,
)
from kerasvision.export.tflite import to_tflite
from kerasvision.models import create_model
from kerasvision.models.saving import load_model
from kerasvision.run import Run


def _digits(count: int = 400) -> np.ndarray:
    """The last ``count`` of scikit-learn's digits as kerasvision reads them (0-255, 8x8x1)."""
    from sklearn.datasets import load_digits

    images = np.round(load_digits().images * (255.0 / 16.0)).astype("float32")[..., None]
    return images[-count:]


def _tflite_top1(data: bytes, images: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=data)
    interpreter.allocate_tensors()
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    top1 = []
    for image in images:
        interpreter.set_tensor(inp["index"], image[None].astype(inp["dtype"]))  # uint8: scale 1
        interpreter.invoke()
        top1.append(int(interpreter.get_tensor(out["index"])[0].argmax()))
    return np.array(top1)


@pytest.fixture(scope="module")
def digits_model(digits_run):
    return load_model(Run(digits_run).final_model())


def _gray_info() -> ModelInfo:
    return ModelInfo(labels=[str(i) for i in range(10)], input_shape=[8, 8, 1], model="m")


def test_the_layer_computes_tf_image_rgb_to_grayscale():
    images = np.random.default_rng(0).uniform(0, 255, (4, 8, 8, 3)).astype("float32")
    weights = tf.image.rgb_to_grayscale(np.eye(3, dtype="float32")).numpy().sum()
    expected = tf.image.rgb_to_grayscale(images).numpy() / weights  # scaled to sum to 1
    np.testing.assert_allclose(RGBToGray()(images).numpy(), expected, rtol=1e-6, atol=1e-3)
    gray = np.repeat(images[..., :1], 3, axis=-1)  # a gray image given as RGB passes unchanged
    np.testing.assert_allclose(RGBToGray()(gray).numpy(), images[..., :1], rtol=1e-6, atol=1e-4)


def test_the_wrapped_model_on_gray_as_rgb_gives_the_models_probabilities(digits_model):
    images = _digits(64)
    wrapped = rgb_input_model(digits_model)
    assert wrapped.input_shape == (None, 8, 8, 3)
    np.testing.assert_allclose(
        wrapped.predict(as_input(images, 3), verbose=0),
        digits_model.predict(images, verbose=0),
        atol=1e-3,
    )


def test_mobile_input_wraps_a_gray_model_and_records_the_rule(digits_model):
    model, info = mobile_input(digits_model, _gray_info())
    assert model.input_shape == (None, 8, 8, 3)
    assert info.input_shape == [8, 8, 3]
    assert info.preprocessing == RGB_TO_GRAY_RULE
    assert info.extra["input_channels"] == "rgb_to_gray"


def test_input_channels_1_keeps_the_raw_gray_input(digits_model):
    model, info = mobile_input(digits_model, _gray_info(), input_channels=1)
    assert model is digits_model
    assert info.input_shape == [8, 8, 1]
    assert info.extra["input_channels"] == "gray"


def test_an_rgb_model_is_left_alone_and_cannot_be_made_gray():
    keras.utils.set_random_seed(0)
    rgb = create_model("tiny_cnn", num_classes=4, input_shape=(8, 8, 3))
    info = ModelInfo(labels=list("abcd"), input_shape=[8, 8, 3])
    model, kept = mobile_input(rgb, info)
    assert model is rgb and kept.extra["input_channels"] == "rgb"
    with pytest.raises(KVError, match="needs a grayscale model"):
        mobile_input(rgb, info, input_channels=1)
    with pytest.raises(KVError, match="must be 1 or 3"):
        mobile_input(rgb, info, input_channels=4)


def test_the_wrapped_int8_file_agrees_with_the_unwrapped_one(digits_model):
    images, calibration = _digits(400), _digits(1000)[:200]
    gray = to_tflite(digits_model, "int8", calibration=calibration, io_type="uint8")
    model, _ = mobile_input(digits_model, _gray_info())
    rgb = to_tflite(model, "int8", calibration=as_input(calibration, 3), io_type="uint8")
    gray_top1 = _tflite_top1(gray, images)
    assert len(set(gray_top1)) == 10  # a trained model, not a constant
    assert np.mean(_tflite_top1(rgb, as_input(images, 3)) == gray_top1) >= 0.99


@pytest.mark.slow
def test_a_qat_model_wrapped_for_rgb_converts_to_int8_as_faithfully_as_unwrapped(digits_model):
    """The RGB step adds no error of its own beyond int8's: both files agree as well with Keras.

    (The two files differ from each other on ~2% of images for this weak
    3-epoch model: near-ties that int8 rounding tips either way.)
    """
    from sklearn.datasets import load_digits

    from kerasvision.compress.qat import quantize_model

    images, labels = _digits(1797), load_digits().target
    qat = quantize_model(digits_model).model
    qat.compile(keras.optimizers.Adam(1e-4), "sparse_categorical_crossentropy")
    qat.fit(images[:320], labels[:320], epochs=1, batch_size=32, verbose=0)  # sets the ranges
    held_out, calibration = images[-300:], images[:200]
    reference = qat.predict(held_out, verbose=0).argmax(axis=1)
    gray = to_tflite(qat, "int8", calibration=calibration, io_type="uint8")
    model, _ = mobile_input(qat, _gray_info())
    rgb = to_tflite(model, "int8", calibration=as_input(calibration, 3), io_type="uint8")
    gray_agreement = np.mean(_tflite_top1(gray, held_out) == reference)
    rgb_agreement = np.mean(_tflite_top1(rgb, as_input(held_out, 3)) == reference)
    assert gray_agreement >= 0.95
    assert rgb_agreement >= gray_agreement - 0.01


def test_gray_images_are_fed_as_rgb_and_other_counts_refused():
    gray = _digits(2)
    rgb = as_input(gray, 3)
    assert rgb.shape == (2, 8, 8, 3) and np.array_equal(rgb[..., 2], gray[..., 0])
    assert as_input(rgb, 3) is rgb
    with pytest.raises(KVError, match="cannot feed 3-channel"):
        as_input(rgb, 1)
