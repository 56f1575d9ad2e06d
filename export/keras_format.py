"""Keras itself as a registry entry: read and run, never written by ``kv export``."""

from __future__ import annotations

from pathlib import Path

from kerasvision.artifacts import ModelInfo
from kerasvision.export.format import Format


def _predictor(path: Path, info: ModelInfo | None, threads: int | None = None):
    from kerasvision.predictor import KerasPredictor

    return KerasPredictor(path, info)


def read_info(path: Path) -> ModelInfo | None:
    """None: a Keras file's labels come from its run (``labels.txt``) or a sidecar."""
    return None


FORMAT = Format(
    name="keras",
    suffixes=(".keras", ".h5"),
    precisions=("fp32",),
    runtime="TensorFlow",
    predictor=_predictor,
    read_info=read_info,
    needs_info=False,
)
