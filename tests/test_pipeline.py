from __future__ import annotations

import numpy as np
import pytest

from kerasvision.config import AugmentConfig
from kerasvision.data import create_dataset
from kerasvision.errors import KVError


def _arrays(ds):
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds], strict=True)
    return np.concatenate(xs), np.concatenate(ys)


def test_batches_are_float_pixels_with_one_hot_labels(image_folder):
    data = create_dataset(str(image_folder), image_size=10, batch_size=4, val_split=0.34)
    x, y = next(iter(data.train))
    assert x.dtype.name == "float32" and x.shape[1:] == (10, 10, 3)
    assert y.shape[1:] == (2,)
    np.testing.assert_allclose(y.numpy().sum(axis=1), 1.0)
    assert float(x.numpy().min()) >= 0.0 and float(x.numpy().max()) <= 255.0
    assert data.input_shape == (10, 10, 3)


def test_validation_is_never_augmented_and_stays_in_order():
    data = create_dataset("digits", batch_size=64, augment=AugmentConfig(mixup=0.4))
    first, second = _arrays(data.val), _arrays(data.val)
    np.testing.assert_array_equal(first[0], second[0])
    assert set(np.unique(first[1])) == {0.0, 1.0}  # hard labels, no mixup


def test_training_order_changes_between_epochs():
    data = create_dataset("digits", batch_size=256, augment=None)
    a, b = _arrays(data.train), _arrays(data.train)
    assert len(a[0]) == len(b[0]) == data.counts["train"]
    assert not np.array_equal(a[1], b[1])


def test_training_split_is_augmented():
    data = create_dataset("digits", batch_size=2000, augment=AugmentConfig(mixup=0.4))
    _, labels = _arrays(data.train)
    assert (labels.max(axis=1) < 1.0).any()  # soft labels from mixup


def test_mixed_size_folder_needs_an_image_size(tmp_path):
    from conftest import write_image

    write_image(tmp_path / "d" / "a" / "1.png", np.zeros((8, 8, 3), np.uint8))
    write_image(tmp_path / "d" / "a" / "2.png", np.zeros((8, 8, 3), np.uint8))
    write_image(tmp_path / "d" / "b" / "1.png", np.zeros((12, 9, 3), np.uint8))
    write_image(tmp_path / "d" / "b" / "2.png", np.zeros((12, 9, 3), np.uint8))
    with pytest.raises(KVError, match="pass --image-size"):
        create_dataset(str(tmp_path / "d"))
    assert create_dataset(str(tmp_path / "d"), image_size=16).image_size == 16


@pytest.mark.parametrize("cache", ["memory", "disk", "none"])
def test_every_cache_mode_yields_the_same_validation_images(image_folder, tmp_path, cache):
    kwargs = dict(image_size=8, batch_size=4, val_split=0.34, cache_dir=tmp_path / "c")
    reference = _arrays(create_dataset(str(image_folder), cache="none", **kwargs).val)
    data = create_dataset(str(image_folder), cache=cache, **kwargs)
    for _ in range(2):  # the second pass reads the cache
        np.testing.assert_array_equal(_arrays(data.val)[0], reference[0])
