"""An artifact: one model file (or SavedModel folder) of any format, and what it carries.

``resolve(path)`` is the one answer to "what did the user point at" that
every command uses: a run directory means its final model, anything else is
the artifact itself, with the run it belongs to when there is one.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kerasvision.errors import KVError
from kerasvision.run import Run

if TYPE_CHECKING:
    from kerasvision.artifacts import ModelInfo
    from kerasvision.heldout import HeldOut
    from kerasvision.predictor import Predictor


class Artifact:
    """A model artifact: its format, its metadata and a predictor that runs it.

    Args:
        path: A ``.keras``/``.h5`` file, a SavedModel folder, or a ``.tflite``,
            ``.onnx`` or ``.engine`` file.
        threads: CPU threads of the runtime. Defaults to None (its choice).
    """

    def __init__(self, path: str | Path, *, threads: int | None = None):
        from kerasvision.predictor import artifact_format

        self.path = Path(path)
        if not self.path.exists():
            raise KVError(f"{self.path} does not exist")
        self.format = artifact_format(self.path)
        self.threads = threads

    def __repr__(self) -> str:
        return f"Artifact({str(self.path)!r}, format={self.format!r})"

    @cached_property
    def run(self) -> Run | None:
        """The run directory this artifact belongs to, if any."""
        return Run.of(self.path)

    @cached_property
    def predictor(self) -> Predictor:
        """The artifact opened with its own runtime (loaded once)."""
        from kerasvision.predictor import load_predictor

        return load_predictor(self.path, threads=self.threads)

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


def resolve(path: str | Path, *, threads: int | None = None) -> tuple[Artifact, Run | None]:
    """What the user pointed at: ``(artifact, the run it belongs to or None)``.

    Args:
        path: A run directory (its final model is the artifact), a model file,
            or a SavedModel folder.
        threads: CPU threads of the artifact's runtime. Defaults to None.

    Raises:
        KVError: When the path does not exist, or is a folder that is neither a
            run nor a SavedModel.
    """
    path = Path(path)
    if not path.exists():
        raise KVError(f"{path} does not exist")
    run = Run(path)
    if path.is_dir() and run.config_file.is_file():
        return Artifact(run.final_model(), threads=threads), run
    artifact = Artifact(path, threads=threads)
    return artifact, artifact.run
