"""Post-training quantization (``kerasvision.compress.ptq``), run with ai-edge-litert."""

from __future__ import annotations

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

from kerasvision.backend import keras
from kerasvision.compress import (
    plan_pruning,
    prune_model,
    quantize_model,
    strip,
    to_tflite,
)
from kerasvision.compress.pruning import pruning_callbacks
from kerasvision.errors import KVError
from kerasvision.models import create_model

CLASSES = 3


def _images(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Raw-pixel 12x12 RGB images; class k has a bright channel k, so a small CNN separates them."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, CLASSES, n)
    images = rng.uniform(0, 120, (n, 12, 12, 3))
    images[np.arange(n), :, :, labels] += rng.uniform(60, 135, (n, 1, 1))
    return images.astype("float32"), labels


@pytest.fixture(scope="module")
def trained():
    """A simple_cnn that classifies ``_images`` confidently (trained in a few seconds)."""
    keras.utils.set_random_seed(0)
    model = create_model(
        "simple_cnn", num_classes=CLASSES, input_shape=(12, 12, 3), width=0.25, dropout=0.0
    )
    x, y = _images(512)
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", ["accuracy"])
    model.fit(x, y, batch_size=32, epochs=6, verbose=0)
    return model


def run_tflite(content: bytes, images: np.ndarray) -> np.ndarray:
    """Runs a TFLite model image by image, (de)quantizing integer inputs and outputs."""
    interpreter = Interpreter(model_content=content)
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    results = []
    for image in images:
        x = image[None]
        if inp["dtype"] != np.float32:
            scale, zero = inp["quantization"]
            info = np.iinfo(inp["dtype"])
            x = np.clip(np.round(x / scale + zero), info.min, info.max).astype(inp["dtype"])
        interpreter.set_tensor(inp["index"], x)
        interpreter.invoke()
        y = interpreter.get_tensor(out["index"])[0]
        if out["dtype"] != np.float32:
            scale, zero = out["quantization"]
            y = (y.astype(np.float32) - zero) * scale
        results.append(y)
    return np.array(results)


def io_types(content: bytes) -> tuple[type, type]:
    interpreter = Interpreter(model_content=content)
    return (
        interpreter.get_input_details()[0]["dtype"],
        interpreter.get_output_details()[0]["dtype"],
    )


def test_fp32_tflite_matches_keras_within_1e_4(trained):
    x, _ = _images(16, seed=1)
    got = run_tflite(to_tflite(trained, "fp32"), x)
    np.testing.assert_allclose(got, trained.predict(x, verbose=0), atol=1e-4)


@pytest.mark.parametrize("precision", ["fp16", "dynamic"])
def test_reduced_precision_files_are_smaller_and_agree(trained, precision):
    x, _ = _images(64, seed=1)
    fp32 = to_tflite(trained, "fp32")
    small = to_tflite(trained, precision)
    assert len(small) < len(fp32)
    got = run_tflite(small, x).argmax(1)
    assert np.mean(got == trained.predict(x, verbose=0).argmax(1)) >= 0.95


@pytest.mark.parametrize(
    ("io_type", "expected"),
    [("float32", np.float32), ("uint8", np.uint8), ("int8", np.int8)],
)
def test_int8_takes_the_requested_io_type_and_keeps_the_accuracy(trained, io_type, expected):
    x, y = _images(128, seed=2)
    content = to_tflite(trained, "int8", calibration=x[:64], io_type=io_type)
    assert io_types(content) == (expected, expected)
    keras_top1 = trained.predict(x, verbose=0).argmax(1)
    int8_top1 = run_tflite(content, x).argmax(1)
    assert np.mean(keras_top1 == y) >= 0.9  # the model really learned the task
    assert np.mean(int8_top1 == keras_top1) >= 0.95


def test_a_qat_model_converts_to_int8_that_agrees_with_it(trained):
    x, y = _images(256, seed=3)
    qat = quantize_model(trained, "qat").model
    qat.compile(keras.optimizers.Adam(1e-4), "sparse_categorical_crossentropy")
    qat.fit(x[:128], y[:128], batch_size=32, epochs=1, verbose=0)
    test = x[128:]
    content = to_tflite(qat, "int8", calibration=x[:64])
    agreement = np.mean(
        run_tflite(content, test).argmax(1) == qat.predict(test, verbose=0).argmax(1)
    )
    assert agreement >= 0.98


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"precision": "int4"}, "unknown TFLite precision 'int4'"),
        ({"precision": "int8", "io_type": "float16"}, "unknown TFLite I/O type"),
        ({"precision": "fp16", "io_type": "uint8"}, "needs int8 precision"),
        ({"precision": "int8"}, "needs calibration images"),
    ],
)
def test_bad_arguments_raise_kverror(trained, kwargs, message):
    with pytest.raises(KVError, match=message):
        to_tflite(trained, **kwargs)


def test_a_model_still_wrapped_for_pruning_converts_as_its_stripped_self(trained):
    x, y = _images(64, seed=4)
    copy = keras.models.clone_model(trained)  # pruning trains the layers it wraps
    copy.set_weights(trained.get_weights())
    pruned = prune_model(copy, 0.5, plan_pruning(4, 2))
    pruned.compile(keras.optimizers.SGD(1e-3), "sparse_categorical_crossentropy")
    pruned.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=pruning_callbacks(pruned))
    # Converted with the wrappers, the int8 kernels get non-zero zero points that
    # TFLite's CONV_2D refuses; to_tflite strips them first.
    content = to_tflite(pruned, "int8", calibration=x[:32])
    got = run_tflite(content, x).argmax(1)
    assert np.mean(got == strip(pruned).predict(x, verbose=0).argmax(1)) >= 0.95
