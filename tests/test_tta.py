"""Test-time augmentation views and averaging (kv eval --tta, the teacher's soft targets)."""

from __future__ import annotations

import numpy as np
import pytest

from kerasvision.backend import tf
from kerasvision.errors import KVError
from kerasvision.tta import numpy_views, predict_tta, tta_views, view_count


def _images(n=3, size=8):
    return np.random.default_rng(0).uniform(0, 255, (n, size, size, 3)).astype(np.float32)


def test_view_counts_per_mode():
    assert [view_count(m) for m in ("none", "flip", "flip_translate")] == [1, 2, 6]
    with pytest.raises(KVError, match="unknown tta 'flips'.*did you mean 'flip'"):
        view_count("flips")


def test_flip_view_is_the_mirror_and_shifts_move_by_two_pixels():
    x = _images()
    views = numpy_views(x, "flip_translate")
    np.testing.assert_array_equal(views[1], x[:, :, ::-1])
    np.testing.assert_array_equal(views[2][:, :-2, :-2], x[:, 2:, 2:])  # shifted up-left
    np.testing.assert_array_equal(views[3][:, 2:, 2:], x[:, :-2, :-2])
    assert all(v.shape == x.shape for v in views)


def test_tensor_views_match_numpy_views():
    x = _images()
    for mode in ("flip", "flip_translate"):
        ours = [v.numpy() for v in tta_views(tf.constant(x), mode)]
        for a, b in zip(ours, numpy_views(x, mode), strict=True):
            np.testing.assert_array_equal(a, b)


class _LeftBright:
    """Probability of class 0 = share of brightness in the left half: flips swap it."""

    def predict(self, images, batch_size=64):
        half = images.shape[2] // 2
        left = images[:, :, :half].sum(axis=(1, 2, 3))
        right = images[:, :, half:].sum(axis=(1, 2, 3))
        p = left / (left + right)
        return np.stack([p, 1 - p], axis=1).astype(np.float32)


def test_flip_tta_averages_the_predictor_over_both_views():
    x = _images()
    plain = predict_tta(_LeftBright(), x, "none")
    averaged = predict_tta(_LeftBright(), x, "flip")
    assert not np.allclose(plain, 0.5)
    np.testing.assert_allclose(averaged, 0.5, atol=1e-6)  # mirror-symmetric on average
