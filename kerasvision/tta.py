"""Test-time augmentation: a prediction averaged over views of each image.

``flip``: the image and its mirror. ``flip_translate``: those two, and each
shifted by 2 pixels diagonally both ways (reflect padding), six views in all,
as airbench's TTA. ``tta_views`` makes the views of a tensor batch (the
distiller's teacher); ``predict_tta`` averages any ``Predictor``'s
probabilities over the views of a NumPy batch (``kv eval --tta``). The
exported model itself stays one forward pass.
"""

from __future__ import annotations

import numpy as np

from kerasvision.config import TTA_MODES
from kerasvision.errors import KVError, unknown

SHIFT = 2


def check_tta(mode: str) -> str:
    """``mode`` if it is one of ``TTA_MODES``; KVError naming the choices otherwise."""
    if mode not in TTA_MODES:
        raise unknown("tta", str(mode), TTA_MODES)
    return mode


def view_count(mode: str) -> int:
    """How many views ``mode`` makes of each image."""
    return {"none": 1, "flip": 2, "flip_translate": 6}[check_tta(mode)]


_PAD = [[0, 0], [SHIFT, SHIFT], [SHIFT, SHIFT], [0, 0]]


def _views(images, mode: str, flip, pad, height: int, width: int) -> list:
    def shift(x, d):
        return pad(x)[:, SHIFT + d : SHIFT + d + height, SHIFT + d : SHIFT + d + width, :]

    views = [images]
    if view_count(mode) > 1:
        views.append(flip(images))
    if mode == "flip_translate":
        for base in list(views):
            views += [shift(base, SHIFT), shift(base, -SHIFT)]
    return views


def tta_views(images, mode: str) -> list:
    """The views of an NHWC tensor batch: ``[images]``, its mirror, and shifted copies."""
    from kerasvision.backend import tf

    return _views(
        images,
        mode,
        flip=lambda x: tf.reverse(x, axis=[2]),
        pad=lambda x: tf.pad(x, _PAD, mode="REFLECT"),
        height=images.shape[1],
        width=images.shape[2],
    )


def numpy_views(images: np.ndarray, mode: str) -> list[np.ndarray]:
    """``tta_views`` of a NumPy batch, in the same order."""
    return _views(
        images,
        mode,
        flip=lambda x: x[:, :, ::-1, :],
        pad=lambda x: np.pad(x, _PAD, mode="reflect"),
        height=images.shape[1],
        width=images.shape[2],
    )


def predict_tta(predictor, images: np.ndarray, mode: str, batch_size: int = 64) -> np.ndarray:
    """``predictor``'s probabilities of ``images`` averaged over the views of ``mode``.

    Args:
        predictor: A ``kerasvision.predictor.Predictor`` (any format).
        images: ``(N, H, W, C)`` images as the predictor takes them.
        mode: One of ``TTA_MODES``.
        batch_size: Images per call. Defaults to 64.
    """
    if mode == "none":
        return predictor.predict(images, batch_size=batch_size)
    if np.ndim(images) != 4:
        raise KVError(
            f"test-time augmentation needs a batch of images, got shape {np.shape(images)}"
        )
    views = numpy_views(np.asarray(images), mode)
    total = None
    for view in views:
        probs = predictor.predict(np.ascontiguousarray(view), batch_size=batch_size)
        total = probs.astype(np.float64) if total is None else total + probs
    return (total / len(views)).astype(np.float32)
