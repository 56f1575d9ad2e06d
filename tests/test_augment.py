from __future__ import annotations

import numpy as np
import pytest

from kerasvision.backend import tf
from kerasvision.config import AugmentConfig
from kerasvision.data.augment import build_augmenter, cutmix, make_batch_augment, mixup


def _batch(n=16, size=8, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    images = tf.constant(rng.uniform(0, 255, (n, size, size, 3)), tf.float32)
    labels = tf.one_hot(rng.integers(0, classes, n), classes)
    return images, labels


def test_mixup_labels_sum_to_one_and_images_are_convex_mixes():
    images, labels = _batch()
    mixed, mixed_labels = mixup(images, labels, alpha=0.4)
    np.testing.assert_allclose(mixed_labels.numpy().sum(axis=1), 1.0, atol=1e-6)
    assert mixed.numpy().min() >= images.numpy().min() - 1e-3
    assert mixed.numpy().max() <= images.numpy().max() + 1e-3
    assert not np.allclose(mixed.numpy(), images.numpy())


def test_cutmix_label_weight_equals_the_pasted_area():
    images = tf.concat([tf.zeros((8, 16, 16, 3)), tf.fill((8, 16, 16, 3), 255.0)], axis=0)
    labels = tf.one_hot([0] * 8 + [1] * 8, 2)
    tf.random.set_seed(3)
    mixed, mixed_labels = cutmix(images, labels, alpha=1.0)
    # Fraction of pixels that came from a white image, per image.
    white = (mixed.numpy()[..., 0] == 255.0).mean(axis=(1, 2))
    np.testing.assert_allclose(mixed_labels.numpy()[:, 1], white, atol=1e-6)
    np.testing.assert_allclose(mixed_labels.numpy().sum(axis=1), 1.0, atol=1e-6)


def test_flip_auto_follows_the_dataset():
    names = lambda aug: [layer.name for layer in aug.layers]  # noqa: E731
    assert "flip" in names(build_augmenter(AugmentConfig(), natural_flip=True))
    assert "flip" not in names(build_augmenter(AugmentConfig(), natural_flip=False))


def test_everything_off_gives_no_augmenter():
    off = AugmentConfig(flip="none", translate=0.0)
    assert build_augmenter(off, natural_flip=True) is None
    assert make_batch_augment(off, natural_flip=True) is None


@pytest.mark.parametrize("cfg", [AugmentConfig(flip="horizontal", translate=0.0)])
def test_random_flip_differs_between_calls(cfg):
    images, labels = _batch(n=32)
    fn = make_batch_augment(cfg, natural_flip=True, seed=None)
    a, _ = fn(images, labels)
    b, _ = fn(images, labels)
    flipped_a = ~np.isclose(a.numpy(), images.numpy()).all(axis=(1, 2, 3))
    flipped_b = ~np.isclose(b.numpy(), images.numpy()).all(axis=(1, 2, 3))
    assert 0 < flipped_a.sum() < 32  # some images flipped, not all
    assert (flipped_a != flipped_b).any()


def test_mix_prob_zero_leaves_labels_hard_and_half_mixes_some_batches():
    images, labels = _batch(n=8)
    never = make_batch_augment(
        AugmentConfig("none", translate=0.0, cutmix=1.0, mix_prob=0.0), natural_flip=False
    )
    _, out = never(images, labels)
    np.testing.assert_array_equal(out.numpy(), labels.numpy())
    half = make_batch_augment(
        AugmentConfig("none", translate=0.0, mixup=1.0, mix_prob=0.5), natural_flip=False
    )
    mixed = [not np.array_equal(half(images, labels)[1].numpy(), labels.numpy()) for _ in range(40)]
    assert 5 < sum(mixed) < 35
