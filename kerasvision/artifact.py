"""An artifact: one model file (or SavedModel folder) of any format, and what it carries.

``resolve(path)`` is the one answer to "what did the user point at" that
every command uses: a run directory means its final model, anything else is
the artifact itself, with the run it belongs to when there is one.
``artifact_format``, ``read_info`` and ``load_predictor`` ask the format
registry (``kerasvision.export.registry``) which entry a path is, read its
metadata and open it with its runtime; a ``.enc`` file, or one with a
``manifest.json`` beside it, goes through ``kerasvision.protect`` first.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kerasvision.artifacts import ModelInfo, sidecar_path
from kerasvision.errors import KVError
from kerasvision.run import Run

if TYPE_CHECKING:
    from kerasvision.heldout import HeldOut
    from kerasvision.predictor import Predictor


def artifact_format(path: str | Path) -> str:
    """The format of an artifact: its registry entry's name (a ``.enc`` file's: its header's)."""
    from kerasvision.export.registry import format_of
    from kerasvision.protect.encryption import encrypted_format

    path = Path(path)
    if path.suffix == ".enc" and path.is_file():
        return encrypted_format(path)
    return format_of(path).name


def read_info(artifact: str | Path) -> ModelInfo | None:
    """The ``ModelInfo`` an artifact carries, or None when it has none.

    Looks inside the file first, with the metadata reader of its format's
    registry entry (tflite zip entry, ONNX metadata, SavedModel
    ``assets.extra``), then at the sidecar ``<file>.json``.
    """
    from kerasvision.export.registry import find_format

    path = Path(artifact)
    if not path.exists():
        raise KVError(f"{path} does not exist")
    fmt = find_format(path)
    info = fmt.read_info(path) if fmt is not None else None
    if info is None and sidecar_path(path).is_file():
        info = ModelInfo.from_json(sidecar_path(path).read_text(encoding="utf-8"))
    return info


def load_predictor(
    path: str | Path,
    *,
    threads: int | None = None,
    labels: list[str] | None = None,
    key=None,
    verify_hash: bool = True,
    unsafe: bool = False,
) -> Predictor:
    """Opens an artifact with its own runtime (the predictor its registry entry names).

    Args:
        path: A ``.keras``/``.h5`` file, a SavedModel folder, a ``.tflite``,
            ``.onnx`` or ``.engine`` file, or any of them encrypted (``.enc``).
        threads: CPU threads for TFLite and onnxruntime. Defaults to None
            (the runtime's choice).
        labels: Class names to use when the artifact carries none. Defaults to
            None.
        key: AES key file (or the 32 key bytes) of a ``.enc`` artifact.
            Defaults to None (``KV_MODEL_KEY``).
        verify_hash: Refuse an artifact that differs from the ``manifest.json``
            beside it. Defaults to True.
        unsafe: Let a Keras file run Python code (``Lambda`` layers).
            Defaults to False.

    Returns:
        A ``Predictor``.
    """
    from kerasvision.export.registry import format_of
    from kerasvision.predictor import KerasPredictor
    from kerasvision.protect.loading import open_protected

    path = Path(path)
    if not path.exists():
        raise KVError(f"{path} does not exist")
    opened = open_protected(
        path, key=key, verify_hash=verify_hash, threads=threads, labels=labels, unsafe=unsafe
    )
    if opened is not None:  # an encrypted artifact, decrypted in memory
        return opened
    fmt = format_of(path)
    if fmt.name == "keras":
        predictor = KerasPredictor(path, unsafe=unsafe)
    else:
        info = read_info(path)
        if info is None and fmt.needs_info:
            raise KVError(
                f"{path.name} carries no kerasvision metadata (labels, input size); "
                "export it with kv export"
            )
        predictor = fmt.predictor(path, info, threads)
    if labels:
        predictor.info.labels = list(labels)
    return predictor


class Artifact:
    """A model artifact: its format, its metadata and a predictor that runs it.

    Args:
        path: A ``.keras``/``.h5`` file, a SavedModel folder, a ``.tflite``,
            ``.onnx`` or ``.engine`` file, or any of them encrypted (``.enc``).
        **open_options: What ``load_predictor`` takes besides the path:
            ``threads``, ``key``, ``verify_hash``, ``unsafe``.
    """

    def __init__(self, path: str | Path, **open_options: Any):
        self.path = Path(path)
        if not self.path.exists():
            raise KVError(f"{self.path} does not exist")
        self.format = artifact_format(self.path)
        self.open_options = open_options

    def __repr__(self) -> str:
        return f"Artifact({str(self.path)!r}, format={self.format!r})"

    @cached_property
    def run(self) -> Run | None:
        """The run directory this artifact belongs to, if any."""
        return Run.of(self.path)

    @cached_property
    def predictor(self) -> Predictor:
        """The artifact opened with its own runtime (loaded once)."""
        return load_predictor(self.path, **self.open_options)

    @property
    def info(self) -> ModelInfo:
        """Labels, input shape, format and precision (``kerasvision.artifacts.ModelInfo``)."""
        return self.predictor.info

    @property
    def labels(self) -> list[str]:
        return self.predictor.labels

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self.predictor.input_shape

    def predict(self, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
        """Class probabilities ``(N, K)`` for raw-pixel images ``(N, H, W, C)``."""
        return self.predictor.predict(images, batch_size=batch_size)

    def heldout(self, dataset: str | None = None, split: str | None = None) -> HeldOut:
        """The images this artifact is judged on (``kerasvision.heldout.heldout``).

        Args:
            dataset: Another dataset to judge it on. Defaults to None (its run's).
            split: The split to read. Defaults to None (held-out of the run's
                own data, all of another dataset).
        """
        from kerasvision.heldout import heldout

        return heldout(self.input_shape, self.labels, run=self.run, dataset=dataset, split=split)

    def classify(self, images: np.ndarray) -> list[str]:
        """The top-1 label of each image."""
        return [self.labels[i] for i in self.predict(images).argmax(axis=1)]


def resolve(path: str | Path, **open_options: Any) -> tuple[Artifact, Run | None]:
    """What the user pointed at: ``(artifact, the run it belongs to or None)``.

    Args:
        path: A run directory (its final model is the artifact), a model file,
            or a SavedModel folder.
        **open_options: ``threads``, ``key``, ``verify_hash`` and ``unsafe``
            for opening the artifact (see ``load_predictor``).

    Raises:
        KVError: When the path does not exist, or is a folder that is neither a
            run nor a SavedModel.
    """
    path = Path(path)
    if not path.exists():
        raise KVError(f"{path} does not exist")
    run = Run(path)
    if path.is_dir() and run.config_file.is_file():
        return Artifact(run.final_model(), **open_options), run
    artifact = Artifact(path, **open_options)
    return artifact, artifact.run
