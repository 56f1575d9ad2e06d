from __future__ import annotations

import shutil

import numpy as np
import pytest

from kerasvision.errors import KVError
from kerasvision.heldout import heldout
from kerasvision.predictor import artifact_format, load_predictor
from kerasvision.run import Run


@pytest.fixture(scope="module")
def held_out(digits_run):
    """The run's 359 validation images (uint8) and their labels."""
    keras_model = load_predictor(digits_run / "model.keras")
    data = heldout(keras_model.input_shape, keras_model.labels, run=Run(digits_run))
    images, labels = zip(*data.batches(), strict=True)
    return np.concatenate(images), np.concatenate(labels)


def test_keras_tflite_and_onnx_give_the_same_top1(digits_run, digits_exports, held_out):
    images, _ = held_out
    keras_probs = load_predictor(digits_run / "model.keras").predict(images)
    for name in ("fp32.tflite", "fp32.onnx"):
        probs = load_predictor(digits_exports[name], threads=1).predict(images)
        assert probs.shape == keras_probs.shape and probs.dtype == np.float32
        assert np.array_equal(probs.argmax(axis=1), keras_probs.argmax(axis=1)), name
        np.testing.assert_allclose(probs, keras_probs, atol=1e-4)


def test_int8_tflite_takes_raw_pixels_and_returns_probabilities(digits_exports, held_out):
    images, labels = held_out
    predictor = load_predictor(digits_exports["int8.tflite"], threads=1)
    assert predictor.info.precision == "int8" and predictor.info.input_dtype != "float32"
    probs = predictor.predict(images)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=0.05)
    assert np.mean(probs.argmax(axis=1) == labels) > 0.8


def test_an_exported_file_carries_its_labels_and_input_size_alone(
    digits_run, digits_exports, tmp_path
):
    labels = (digits_run / "labels.txt").read_text().split()
    for name in ("fp32.tflite", "fp32.onnx"):
        alone = shutil.copy(digits_exports[name], tmp_path / f"copy-{name}")
        predictor = load_predictor(alone)
        assert predictor.labels == labels
        assert predictor.input_shape == (8, 8, 1)
        assert predictor.format == name.split(".")[1]


def test_a_keras_file_outside_a_run_gets_placeholder_labels_unless_given(digits_run, tmp_path):
    alone = shutil.copy(digits_run / "model.keras", tmp_path / "model.keras")
    assert load_predictor(alone).labels == [f"class_{i}" for i in range(10)]
    names = list("abcdefghij")
    assert load_predictor(alone, labels=names).labels == names


def test_wrong_image_shape_is_a_clear_error(digits_exports):
    predictor = load_predictor(digits_exports["fp32.tflite"])
    with pytest.raises(KVError, match=r"takes images of shape \(8, 8, 1\), got \(9, 9, 1\)"):
        predictor.predict(np.zeros((2, 9, 9, 1)))


def test_artifacts_without_metadata_or_unknown_types_are_refused(tmp_path, digits_exports):
    bare = tmp_path / "bare.tflite"
    # The flatbuffer alone, without the zip archive kv export appends.
    data = digits_exports["fp32.tflite"].read_bytes()
    bare.write_bytes(data[: data.find(b"PK\x03\x04")])
    with pytest.raises(KVError, match="carries no kerasvision metadata"):
        load_predictor(bare)
    (tmp_path / "model.pt").write_bytes(b"x")
    with pytest.raises(KVError, match="unknown model file type '.pt'"):
        artifact_format(tmp_path / "model.pt")
