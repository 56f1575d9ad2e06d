"""TFLite / LiteRT export: fp32, fp16, dynamic range or full int8, standard metadata embedded."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kerasvision.artifacts import ModelInfo
from kerasvision.compress.ptq import to_tflite
from kerasvision.export.tflite_metadata import write_metadata
from kerasvision.fileio import atomic_path


def export_tflite(
    model,
    path: Path,
    *,
    precision: str,
    info: ModelInfo,
    calibration: np.ndarray | None = None,
    io_type: str = "uint8",
) -> Path:
    """Writes ``model`` as a ``.tflite`` file with its labels and input spec inside.

    Args:
        model: The Keras model.
        path: The ``.tflite`` file to write.
        precision: ``fp32``, ``fp16``, ``dynamic`` or ``int8``.
        info: Labels and input shape to embed.
        calibration: Raw-pixel images for int8. Defaults to None.
        io_type: Input/output type of an int8 file (``float32``, ``uint8``,
            ``int8``); other precisions keep float32. Defaults to ``"uint8"``.

    Returns:
        ``path``.
    """
    io = io_type if precision == "int8" else "float32"
    data = to_tflite(model, precision, calibration=calibration, io_type=io)
    info = info.replace(format="tflite", precision=precision, input_dtype=io)
    with atomic_path(path) as tmp:
        tmp.write_bytes(write_metadata(data, info))
    return path
