"""Tiny exported artifacts for the tests of ``kerasvision.protect`` (not a test module)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from conftest import small_cnn

from kerasvision.cli.errors import run_cli
from kerasvision.cli.main import cli

FORMATS = ("tflite", "onnx", "saved_model")
LABELS = ["ant", "bee", "cat", "dog"]


def kv(*args) -> int:
    return run_cli(cli, [str(a) for a in args])


def images(n: int = 6) -> np.ndarray:
    """``n`` seeded random 12x12 RGB images, raw pixels."""
    return np.random.default_rng(1).uniform(0, 255, (n, 12, 12, 3)).astype(np.float32)


def export_plain(folder: Path) -> tuple[Path, dict[str, Path]]:
    """``small_cnn`` saved as ``model.keras`` and exported (fp32) to each of ``FORMATS``.

    Returns:
        ``(model.keras, {format: artifact})``; no manifest is written.
    """
    from kerasvision.artifacts import ModelInfo
    from kerasvision.export.format import ExportJob
    from kerasvision.export.registry import FORMATS
    from kerasvision.models.saving import save_model

    model = small_cnn()
    folder.mkdir(parents=True, exist_ok=True)
    source = save_model(model, folder / "model.keras")
    job = ExportJob("fp32", ModelInfo(labels=LABELS, input_shape=[12, 12, 3]))
    paths = {}
    for name in ("tflite", "onnx", "saved_model"):
        fmt = FORMATS[name]
        paths[name] = fmt.export(model, fmt.path(folder, "model", "fp32"), job)
    return source, paths


def copy_tree(source: Path, target: Path) -> Path:
    """A fresh copy of an export folder, for a test that damages it."""
    shutil.copytree(source, target)
    return target


def payload_file(artifact: Path) -> Path:
    """The file holding the weights: the artifact itself, or a SavedModel's variables."""
    if artifact.is_dir():
        return next(artifact.rglob("variables/variables.data-*"))
    return artifact


def flip_byte(path: Path, where: float = 0.5) -> None:
    """Flips every bit of the byte at ``where`` (a fraction of the size) of a file."""
    data = bytearray(path.read_bytes())
    data[int(len(data) * where)] ^= 0xFF
    path.write_bytes(bytes(data))


def truncate(path: Path, keep: float = 0.5) -> None:
    """Cuts a file to ``keep`` of its size."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
