"""Deployment checks with MediaPipe Tasks (``kerasvision.export.mediapipe_check``)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import export_file

from kerasvision.artifacts import ModelInfo
from kerasvision.backend import keras
from kerasvision.errors import KVError
from kerasvision.export import mediapipe_check as check_module
from kerasvision.export.mediapipe_check import (
    file_labels,
    mediapipe_check,
    mediapipe_classify,
    metadata_check,
)
from kerasvision.export.rgb_input import as_input
from kerasvision.export.tflite_metadata import strip_metadata
from kerasvision.models import create_model
from kerasvision.models.saving import load_model
from kerasvision.run import Run

pytest.importorskip("mediapipe")

DIGITS = [str(i) for i in range(10)]
# fp16 and dynamic take the same path as fp32 through MediaPipe (float32 input).
PRECISIONS = [
    "fp32",
    pytest.param("fp16", marks=pytest.mark.slow),
    pytest.param("dynamic", marks=pytest.mark.slow),
    "int8",
]


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    return np.round(digits.images * (255.0 / 16.0)).astype("float32")[..., None], digits.target


def _coloured(gray: np.ndarray) -> np.ndarray:
    """Digits in colour: R = gray, G = half of it, B = its negative (a model must use all 3)."""
    return np.concatenate([gray, gray / 2, 255 - gray], axis=-1)


@pytest.fixture(scope="module")
def held_out() -> np.ndarray:
    return _digits()[0][-300:]


@pytest.fixture(scope="module")
def rgb_model():
    """simple_cnn (width 0.25) trained on coloured digits for a few seconds."""
    images, labels = _digits()
    keras.utils.set_random_seed(0)
    model = create_model("simple_cnn", num_classes=10, input_shape=(8, 8, 3), width=0.25)
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    model.fit(_coloured(images[:1400]), labels[:1400], epochs=8, batch_size=32, verbose=0)
    return model


@pytest.fixture(scope="module")
def exports(digits_run, rgb_model, tmp_path_factory):
    """``exports(kind, precision)``: the ``.tflite`` file of the gray (digits run) or RGB model."""
    out, made = tmp_path_factory.mktemp("mediapipe"), {}
    gray_model = load_model(Run(digits_run).final_model())
    calibration = _digits()[0][:200]

    def export(kind: str, precision: str, input_channels: int | None = None) -> Path:
        key = (kind, precision, input_channels)
        if key not in made:
            source = gray_model if kind == "gray" else rgb_model
            shape = [8, 8, 1 if kind == "gray" else 3]
            labels = Run(digits_run).labels() if kind == "gray" else DIGITS
            info = ModelInfo(labels=labels, input_shape=shape, model="simple_cnn")
            images = calibration if kind == "gray" else _coloured(calibration)
            made[key] = export_file(  # the exporter adds the RGB step unless input_channels=1
                source,
                out / f"{kind}{input_channels or ''}-{precision}.tflite",
                precision=precision,
                info=info,
                calibration=images,
                input_channels=input_channels,
            )
        return made[key]

    return export


@pytest.mark.parametrize("precision", PRECISIONS)
def test_mediapipe_runs_the_gray_models_file_and_agrees_with_litert(exports, held_out, precision):
    result = mediapipe_check(exports("gray", precision), held_out)
    assert result.status == "ok", result.message
    assert result.agreement >= 0.99


@pytest.mark.parametrize("precision", PRECISIONS)
def test_mediapipe_runs_the_rgb_models_file_and_agrees_with_litert(exports, held_out, precision):
    images = _coloured(held_out)
    result = mediapipe_check(exports("rgb", precision), images)
    assert result.status == "ok", result.message
    assert result.agreement >= 0.99


@pytest.mark.parametrize("kind", ["gray", "rgb"])
def test_category_names_are_the_lines_of_labels_txt(exports, held_out, kind):
    path = exports(kind, "int8")
    images = as_input(held_out, 3) if kind == "gray" else _coloured(held_out)
    ids, names = mediapipe_classify(path, images)
    assert file_labels(path) == DIGITS
    assert names == [DIGITS[i] for i in ids]
    assert len(set(names)) >= 8  # a trained model: the check compares real predictions
    assert np.mean(ids == _digits()[1][-300:]) > 0.5


def test_the_metadata_check_passes_a_written_file_and_fails_a_stripped_one(exports, tmp_path):
    path = exports("gray", "int8")
    assert metadata_check(path).status == "ok"
    stripped = tmp_path / "stripped.tflite"
    stripped.write_bytes(strip_metadata(path.read_bytes()))
    result = metadata_check(stripped)
    assert result.status == "failed"
    assert "no TFLITE_METADATA" in result.message


def test_a_compressed_zip_fails_the_metadata_check(exports, tmp_path):
    data = exports("gray", "fp32").read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
        start = min(info.header_offset for info in archive.infolist())
    out = io.BytesIO()
    out.write(data[:start])
    with zipfile.ZipFile(out, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    deflated = tmp_path / "deflated.tflite"
    deflated.write_bytes(out.getvalue())
    result = metadata_check(deflated)
    assert result.status == "failed" and "deflated" in result.message


def test_mediapipe_refuses_a_stripped_float_file_with_its_own_message(exports, held_out, tmp_path):
    stripped = tmp_path / "stripped.tflite"
    stripped.write_bytes(strip_metadata(exports("gray", "fp32").read_bytes()))
    result = mediapipe_check(stripped, held_out)
    assert result.status == "failed"
    assert "requires specifying NormalizationOptions" in result.message


def test_a_stripped_int8_file_loads_but_fails_for_its_missing_labels(exports, held_out, tmp_path):
    stripped = tmp_path / "stripped.tflite"
    stripped.write_bytes(strip_metadata(exports("gray", "int8").read_bytes()))
    result = mediapipe_check(stripped, held_out)
    assert result.status == "failed"
    assert "category_name None" in result.message


def test_mediapipe_refuses_a_raw_one_channel_file(exports, held_out):
    result = mediapipe_check(exports("gray", "int8", input_channels=1), held_out)
    assert result.status == "failed"
    # its metadata says GRAYSCALE; without metadata the refusal is "... depth = 3 or 4"
    assert "Only RGB color space is supported" in result.message


def test_the_check_is_unavailable_without_mediapipe(exports, held_out, monkeypatch):
    def missing():
        raise ImportError("No module named 'mediapipe'")

    monkeypatch.setattr(check_module, "_mediapipe", missing)
    result = mediapipe_check(exports("gray", "int8"), held_out)
    assert result.status == "unavailable"
    assert "requirements-consumers.txt" in result.message


def test_images_of_another_size_are_refused(exports):
    with pytest.raises(KVError, match="takes 8x8 images"):
        mediapipe_check(exports("gray", "int8"), np.zeros((2, 12, 12, 3), np.float32))


def test_mediapipe_refuses_an_int8_input_file(rgb_model, held_out, tmp_path):
    info = ModelInfo(labels=DIGITS, input_shape=[8, 8, 3], model="simple_cnn")
    path = export_file(
        rgb_model,
        tmp_path / "int8-io.tflite",
        precision="int8",
        info=info,
        calibration=_coloured(held_out[:50]),
        io_type="int8",
    )
    assert metadata_check(path).status == "ok"
    result = mediapipe_check(path, _coloured(held_out[:20]))
    assert result.status == "failed"
    assert "Requested one of these types: uint8/float32" in result.message
