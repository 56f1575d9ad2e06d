"""The format registry: one ``Format`` entry per format, each owned by its module.

``FORMATS`` holds the formats ``kv export`` writes, in export order;
``READERS`` adds Keras, which is only read. Adding a format means one module
with a ``FORMAT`` entry and one line here.
"""

from __future__ import annotations

from pathlib import Path

from kerasvision.errors import KVError, unknown
from kerasvision.export import engine, keras_format, onnx, saved_model, tflite
from kerasvision.export.format import Format

FORMATS: dict[str, Format] = {
    f.name: f for f in (saved_model.FORMAT, tflite.FORMAT, onnx.FORMAT, engine.FORMAT)
}
READERS: dict[str, Format] = {keras_format.FORMAT.name: keras_format.FORMAT, **FORMATS}


def get_format(name: str) -> Format:
    """The entry of format ``name`` (Keras included)."""
    if name not in READERS:
        raise unknown("format", name, READERS)
    return READERS[name]


def find_format(path: str | Path) -> Format | None:
    """The entry whose files ``path`` is, or None."""
    path = Path(path)
    return next((f for f in READERS.values() if f.recognizes(path)), None)


def format_of(path: str | Path) -> Format:
    """The entry whose files ``path`` is; a clear error for anything else."""
    path = Path(path)
    fmt = find_format(path)
    if fmt is not None:
        return fmt
    if path.is_dir():
        raise KVError(f"{path} is a folder but not a SavedModel (no saved_model.pb)")
    suffixes = sorted({s for f in READERS.values() for s in f.suffixes if s})
    raise KVError(
        f"{path.name}: unknown model file type '{path.suffix}'; "
        f"expected {', '.join(suffixes)} or a SavedModel folder"
    )
