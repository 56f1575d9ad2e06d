"""``classify``: labels and probabilities for image files, from any model artifact.

The artifact alone is enough: its labels and input size travel inside it
(``kerasvision.artifacts``). Files that cannot be read are reported in the
results and the others are still classified.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from kerasvision.artifact import resolve
from kerasvision.errors import bad_value
from kerasvision.evaluation import batched
from kerasvision.images import find_images, read_images


def top_k(probs: np.ndarray, labels: list[str], k: int) -> list[dict[str, Any]]:
    """The ``k`` most probable classes of one row, most probable first."""
    order = np.argsort(-probs, kind="stable")[:k]
    return [{"label": labels[i], "probability": round(float(probs[i]), 6)} for i in order]


def classify(
    model: str | Path,
    inputs: Iterable[str | Path],
    *,
    top: int = 3,
    threads: int | None = None,
    batch_size: int = 32,
    key=None,
    verify_hash: bool = True,
    unsafe: bool = False,
) -> list[dict[str, Any]]:
    """Classifies image files with a model artifact.

    Args:
        model: A ``.keras`` file, SavedModel folder, ``.tflite``, ``.onnx`` or
            ``.engine`` file, or a run directory (its final model).
        inputs: Image files and folders (searched recursively).
        top: How many classes to return per image. Defaults to 3.
        threads: CPU threads of the runtime. Defaults to None (its choice).
        batch_size: Images read and predicted at once. Defaults to 32.
        key: AES key file of an encrypted ``.enc`` model. Defaults to None
            (``KV_MODEL_KEY``).
        verify_hash: Refuse a model that differs from the ``manifest.json``
            beside it. Defaults to True.
        unsafe: Let a Keras file run Python code (``Lambda``). Defaults to False.

    Returns:
        One dict per file, in order: ``image`` and ``predictions`` (a list of
        ``label``/``probability``), or ``image`` and ``error`` when the file
        could not be read.
    """
    if top < 1:
        raise bad_value("top", f"must be at least 1, got {top}")
    if batch_size < 1:
        raise bad_value("batch_size", f"must be at least 1, got {batch_size}")
    files = find_images(inputs)
    artifact, _ = resolve(model, threads=threads, key=key, verify_hash=verify_hash, unsafe=unsafe)
    predictor = artifact.predictor
    k = min(top, predictor.info.num_classes)
    results: list[dict[str, Any]] = []
    for chunk in batched(files, batch_size):
        batch = read_images(chunk, predictor.input_shape)
        probs = predictor.predict(batch.images) if len(batch.images) else []
        found = {path: row for path, row in zip(batch.paths, probs, strict=True)}
        errors = dict(batch.failures)
        for path in chunk:
            if path in found:
                predictions = top_k(found[path], predictor.labels, k)
                results.append({"image": str(path), "predictions": predictions})
            else:
                results.append({"image": str(path), "error": errors[path]})
    return results
