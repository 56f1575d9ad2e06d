"""Drawing a fixed number of examples spread over a whole split."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def spread_indices(total: int, limit: int) -> np.ndarray:
    """``min(limit, total)`` indices evenly spaced over ``range(total)``, always from 0.

    Args:
        total: Number of examples in the split.
        limit: How many to keep.

    Returns:
        Sorted, distinct int64 indices.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    if limit >= total:
        return np.arange(total, dtype=np.int64)
    return (np.arange(limit, dtype=np.int64) * total) // limit


def collect_spread(
    batches: Iterable, total: int | None, limit: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Gathers up to ``limit`` examples evenly spaced over a stream of ``total``.

    Validation and test splits are stored class by class, so their first
    ``limit`` examples can miss whole classes; an even spread keeps the class
    mix of the whole split and is the same on every call.

    Args:
        batches: ``(images, labels)`` batches, numpy arrays or tensors.
        total: Examples in the stream; None when unknown (the first ``limit``
            are kept then).
        limit: How many to keep; None keeps all.

    Returns:
        ``(images, labels)`` as numpy arrays, in stream order.
    """
    keep = None if limit is None or total is None else spread_indices(total, limit)
    images, labels, seen = [], [], 0
    for x, y in batches:
        x, y = np.asarray(x), np.asarray(y)
        if keep is None:
            images.append(x)
            labels.append(y)
        else:
            local = keep[(keep >= seen) & (keep < seen + len(x))] - seen
            images.append(x[local])
            labels.append(y[local])
        seen += len(x)
        done = keep[-1] < seen if keep is not None and len(keep) else False
        if done or (keep is None and limit is not None and seen >= limit):
            break
    if not images:
        return np.zeros((0,)), np.zeros((0,))
    images_out, labels_out = np.concatenate(images), np.concatenate(labels)
    return images_out[:limit], labels_out[:limit]
