"""What ``load_predictor`` does before it opens an artifact: check its hash, decrypt it.

``open_protected`` checks the artifact against the ``manifest.json`` beside
it (when there is one) and, for a ``.enc`` file, decrypts it in memory and
opens it from there: LiteRT from a buffer (``Interpreter(model_content=)``),
onnxruntime from bytes, TensorRT's ``deserialize_cuda_engine`` from bytes.
TensorFlow and Keras load only from a path, so a SavedModel (or ``.keras``)
goes through a private temporary folder, in RAM (``/dev/shm``) where the
system has one, that is removed as soon as the model is loaded.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from kerasvision.artifacts import ModelInfo, sidecar_path
from kerasvision.errors import KVError
from kerasvision.protect.encryption import (
    SUFFIX,
    Decrypted,
    decrypt_file,
    resolve_key,
    unpack_folder,
)
from kerasvision.protect.manifest import MANIFEST_NAME, bytes_sha256, check_artifact

SHM = Path("/dev/shm")
SCRATCH_PREFIX = "kv-decrypted-"


def scratch_root() -> str | None:
    """Where plaintext folders go: ``/dev/shm`` (RAM) when writable, else the temp folder."""
    return str(SHM) if SHM.is_dir() and os.access(SHM, os.W_OK) else None


@contextlib.contextmanager
def scratch_folder() -> Iterator[Path]:
    """A mode-0700 temporary folder that is removed, with everything in it, on exit."""
    folder = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=scratch_root()))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _info(path: Path, info: ModelInfo | None, labels: list[str] | None) -> ModelInfo:
    if info is None:
        raise KVError(
            f"{path.name} carries no kerasvision metadata (labels, input size); "
            "export it with kv export"
        )
    if labels:
        info.labels = list(labels)
    return info


def open_decrypted(
    path: Path,
    plain: Decrypted,
    *,
    threads: int | None = None,
    labels: list[str] | None = None,
    unsafe: bool = False,
):
    """A ``Predictor`` for an artifact decrypted into memory.

    Args:
        path: The ``.enc`` file (the predictor's ``path``, for messages and sizes).
        plain: Its decrypted content.
        threads: CPU threads for LiteRT and onnxruntime. Defaults to None.
        labels: Class names to use when the artifact carries none. Defaults to None.
        unsafe: Allow Python code (``Lambda`` layers) in a Keras file. Defaults to False.

    Returns:
        The ``Predictor``.
    """
    from kerasvision import predictor as kp
    from kerasvision.export.registry import get_format
    from kerasvision.export.saved_model import serving_dir

    fmt = plain.format
    if fmt in ("tflite", "onnx"):
        info = _info(path, get_format(fmt).read_info(io.BytesIO(plain.data)), labels)
        cls = kp.TFLitePredictor if fmt == "tflite" else kp.ONNXPredictor
        return cls(path, info, threads, content=plain.data)
    if fmt == "engine":
        sidecar = sidecar_path(path.with_name(plain.name))
        info = ModelInfo.from_json(sidecar.read_text("utf-8")) if sidecar.is_file() else None
        return kp.EnginePredictor(path, _info(path, info, labels), content=plain.data)
    if fmt not in ("saved_model", "keras"):
        raise KVError(f"{path.name} holds an artifact of unknown format '{fmt}'")
    with scratch_folder() as folder:
        if fmt == "keras":
            from kerasvision.models.saving import load_model

            (folder / plain.name).write_bytes(plain.data)
            predictor = kp.KerasPredictor(
                path, model=load_model(folder / plain.name, unsafe=unsafe)
            )
        else:
            unpack = folder / "saved_model"
            unpack_folder(plain.data, unpack)
            info = _info(path, get_format("saved_model").read_info(unpack), labels)
            location = serving_dir(unpack) or unpack  # TF Serving's <version>/ layout
            predictor = kp.SavedModelPredictor(path, info, location=location)
    if labels and fmt == "keras":
        predictor.info.labels = list(labels)
    return predictor


def open_protected(
    path: str | Path,
    *,
    key=None,
    verify_hash: bool = True,
    threads: int | None = None,
    labels: list[str] | None = None,
    unsafe: bool = False,
):
    """Checks ``path`` against the manifest beside it; opens it when it is encrypted.

    Args:
        path: An artifact (a ``.enc`` file too).
        key: The AES key (a key file, or the 32 bytes) for a ``.enc`` file.
            Defaults to None (``KV_MODEL_KEY``).
        verify_hash: Refuse an artifact whose SHA-256 differs from the
            ``manifest.json`` beside it. Defaults to True.
        threads: CPU threads for LiteRT and onnxruntime. Defaults to None.
        labels: Class names to use when the artifact carries none. Defaults to None.
        unsafe: Allow Python code (``Lambda`` layers) in a Keras file. Defaults to False.

    Returns:
        A ``Predictor`` for a ``.enc`` file; None for a plain artifact, which
        the caller opens itself.

    Raises:
        KVError: On a hash mismatch, a missing or wrong key, or a damaged file.
    """
    path = Path(path)
    encrypted = path.suffix == SUFFIX
    secret = resolve_key(key) if encrypted else None
    if encrypted and secret is None:
        decrypt_file(path, None)  # fails, saying which key to pass
    blob = path.read_bytes() if encrypted else None  # read once: hashed, then decrypted
    if verify_hash and (path.parent / MANIFEST_NAME).is_file():
        check_artifact(path, sha256=bytes_sha256(blob) if blob is not None else None)
    if not encrypted:
        return None
    plain = decrypt_file(path, secret, blob)
    return open_decrypted(path, plain, threads=threads, labels=labels, unsafe=unsafe)
