"""Verification of an exported artifact with its own runtime, on held-out images."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kerasvision.export.options import PRECISIONS
from kerasvision.predictor import Predictor
from kerasvision.protect.manifest import file_sha256

# Largest accuracy drop (points) an artifact may show below the Keras model:
# 0.1 at fp32, 1 at every reduced precision.
DEFAULT_MAX_DROP = {p: 0.1 if p == "fp32" else 1.0 for p in PRECISIONS}


@dataclass
class Verification:
    """How one artifact did against the Keras model on the same images.

    Attributes:
        format: The export format.
        precision: Its precision.
        path: The artifact.
        size_mb: Its size on disk (MB, 10^6 bytes; a folder's total).
        accuracy: Top-1 accuracy on the held-out images (0-1).
        reference_accuracy: The Keras model's accuracy on the same images.
        agreement: Fraction of images whose top-1 equals the Keras model's.
        max_abs_diff: Largest absolute difference of the output probabilities.
        latency_ms: Batch-1 latency in milliseconds (best of 5 means of ``latency_runs``).
        images: How many images were used.
        max_drop: The allowed accuracy drop in points.
        passed: Whether the accuracy drop is within ``max_drop`` and no
            deployment check failed.
        checks: Where the file was proven to run: ``{stack: {"status",
            "message"}}``, status ``ok``, ``failed`` or ``unavailable``.
        sha256: Hex SHA-256 of the artifact verified (a folder's: see
            ``kerasvision.protect.manifest.file_sha256``).
    """

    format: str
    precision: str
    path: str
    size_mb: float
    accuracy: float
    reference_accuracy: float
    agreement: float
    max_abs_diff: float
    latency_ms: float
    images: int
    max_drop: float
    passed: bool
    checks: dict[str, dict[str, str]] = field(default_factory=dict)
    sha256: str = ""

    @property
    def drop(self) -> float:
        """Accuracy lost against the Keras model, in points."""
        return round((self.reference_accuracy - self.accuracy) * 100, 4)

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "drop_points": self.drop}


def artifact_size(path: str | Path) -> int:
    """Bytes on disk of a file, or of every file under a folder."""
    path = Path(path)
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def verify(
    predictor: Predictor,
    images: np.ndarray,
    labels: np.ndarray,
    reference: np.ndarray,
    *,
    precision: str,
    max_drop: float | None = None,
    latency_runs: int = 50,
    probs: np.ndarray | None = None,
) -> Verification:
    """Runs ``predictor`` on ``images`` and compares it with the Keras outputs.

    Args:
        predictor: The artifact, opened with its runtime.
        images: Held-out raw-pixel images ``(N, H, W, C)``.
        labels: Their class ids ``(N,)``.
        reference: The Keras model's probabilities for ``images`` ``(N, K)``.
        precision: The artifact's precision (sets the default ``max_drop``).
        max_drop: Allowed accuracy drop in points. Defaults to None
            (0.1 for fp32, 1 for the reduced precisions).
        latency_runs: Timed batch-1 calls. Defaults to 50.
        probs: The predictor's probabilities for ``images`` when already
            computed. Defaults to None (computed here).

    Returns:
        The ``Verification``.
    """
    probs = predictor.predict(images) if probs is None else probs
    top1 = probs.argmax(axis=1)
    accuracy = float(np.mean(top1 == labels))
    reference_accuracy = float(np.mean(reference.argmax(axis=1) == labels))
    allowed = DEFAULT_MAX_DROP[precision] if max_drop is None else max_drop
    return Verification(
        format=predictor.format,
        precision=precision,
        path=str(predictor.path),
        size_mb=round(artifact_size(predictor.path) / 1e6, 4),
        accuracy=round(accuracy, 6),
        reference_accuracy=round(reference_accuracy, 6),
        agreement=round(float(np.mean(top1 == reference.argmax(axis=1))), 6),
        max_abs_diff=float(np.max(np.abs(probs - reference))),
        latency_ms=round(predictor.latency_ms(images[0], runs=latency_runs), 4),
        images=len(images),
        max_drop=allowed,
        passed=(reference_accuracy - accuracy) * 100 <= allowed + 1e-9,
        sha256=file_sha256(predictor.path),
    )
