"""Shared fixtures: small image folders written by the tests themselves."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

SHARED_CIFAR = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-subset.tar.gz"


def write_image(path: Path, array: np.ndarray, fmt: str | None = None) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[array.shape[-1]] if array.ndim == 3 else "L"
    image = Image.fromarray(array.squeeze() if mode == "L" else array, mode=mode)
    image.save(path, format=fmt)
    return path


def small_cnn():
    """A seeded ``simple_cnn`` (width 0.5) for 12x12 RGB images and 4 classes."""
    from kerasvision.backend import keras
    from kerasvision.models import create_model

    keras.utils.set_random_seed(0)
    return create_model("simple_cnn", num_classes=4, input_shape=(12, 12, 3), width=0.5)


def random_batch(n: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random 12x12 RGB images (0-255) with one-hot labels of 4 classes, seeded."""
    from kerasvision.backend import keras

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (n, 12, 12, 3)).astype("float32")
    return x, keras.utils.to_categorical(rng.integers(0, 4, n), 4)


def make_class_folder(root: Path, classes=("cats", "dogs"), per_class=6, size=12, seed=0):
    """Writes ``per_class`` RGB JPEG/PNG images per class; class k is brighter than k-1."""
    rng = np.random.default_rng(seed)
    for k, name in enumerate(classes):
        for i in range(per_class):
            base = 40 + 150 * k // max(len(classes) - 1, 1)
            array = np.clip(rng.normal(base, 10, (size, size, 3)), 0, 255).astype(np.uint8)
            ext = ".png" if i % 2 else ".jpg"
            write_image(root / name / f"{i}{ext}", array)
    return root


def digit_folder(root, digits=(5, 6, 7, 8, 9), per_class=12):
    """Real scikit-learn digits of some classes as 8x8 PNGs in ``root/<digit>/``."""
    from sklearn.datasets import load_digits

    data = load_digits()
    for digit in digits:
        rows = np.flatnonzero(data.target == digit)[:per_class]
        for i, row in enumerate(rows):
            pixels = np.round(data.images[row] * (255.0 / 16.0)).astype(np.uint8)
            write_image(root / str(digit) / f"{i}.png", pixels[..., None])
    return root


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    return make_class_folder(tmp_path / "images")


@pytest.fixture(scope="session")
def cifar_folder(tmp_path_factory) -> Path:
    """The shared 10,000-image CIFAR-10 subset, extracted once per session."""
    if not SHARED_CIFAR.is_file():
        pytest.skip(f"{SHARED_CIFAR} is not there")
    out = tmp_path_factory.mktemp("cifar")
    with tarfile.open(SHARED_CIFAR) as tar:
        tar.extractall(out, filter="data")
    return out / "cifar10-subset"


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory) -> Path:
    """A finished run: simple_cnn (width 0.5) trained 3 epochs on digits (~5 s)."""
    from kerasvision.config import build_config
    from kerasvision.training import train

    out = tmp_path_factory.mktemp("runs") / "digits"
    overrides = {
        "model": "simple_cnn",
        "width": 0.5,
        "epochs": 3,
        "mixed_precision": "off",
        "augment": {"flip": "none", "translate": 0.0},
        "out": str(out),
    }
    train(build_config(None, overrides))
    return out


@pytest.fixture(scope="session")
def digits_exports(digits_run) -> dict[str, Path]:
    """``digits_run``'s model as fp32/int8 TFLite and ONNX, verified (``kv export``)."""
    from kerasvision.export import export_model

    report = export_model(digits_run, formats=["tflite", "onnx"], precisions=["fp32", "int8"])
    return {path.name.split("-", 1)[1]: path for path in report.artifacts}


def export_file(model, path: Path, *, precision: str, info, calibration=None, **options) -> Path:
    """Writes one artifact of ``path``'s format through its registry entry (``export``)."""
    from kerasvision.export.format import ExportJob, ModelTraits
    from kerasvision.export.options import ExportOptions
    from kerasvision.export.registry import FORMATS, find_format

    fmt = find_format(path) if path.suffix else FORMATS["saved_model"]
    traits = ModelTraits(channels=int(model.input_shape[-1]))
    job = ExportJob(precision, info, ExportOptions(**options), calibration, traits)
    return fmt.export(model, path, job)
