from __future__ import annotations

import time
import types

import numpy as np
import pytest
from conftest import make_class_folder, write_image

from kerasvision.data import open_source
from kerasvision.data import sources as sources_module
from kerasvision.data.sources import tfds_natural_flip
from kerasvision.errors import KVError


def _images(source, split, size=12, channels=3):
    return [x.numpy() for x, _ in source.splits(size, channels)[split]]


def test_digits_split_is_stratified_and_seeded():
    a = open_source("digits", seed=1, val_split=0.2)
    b = open_source("digits", seed=1, val_split=0.2)
    assert a.counts == b.counts
    assert a.counts["train"] + a.counts["val"] == 1797
    labels = [int(y) for _, y in a.splits(8, 1)["val"]]
    per_class = np.bincount(labels, minlength=10)
    assert per_class.min() >= 34 and per_class.max() <= 38  # ~20% of ~180 each
    assert not a.natural_flip


def test_digits_pixels_span_0_to_255():
    source = open_source("digits")
    images = np.stack(_images(source, "train", size=8, channels=1))
    assert images.dtype == np.uint8
    assert images.shape[1:] == (8, 8, 1)
    assert images.max() == 255


def test_folder_split_keeps_every_class_in_validation(image_folder):
    source = open_source(str(image_folder), val_split=0.34)
    assert source.class_names == ["cats", "dogs"]
    assert source.counts == {"train": 8, "val": 4}
    labels = {int(y) for _, y in source.splits(12, 3)["val"]}
    assert labels == {0, 1}


def test_grayscale_rgba_png_and_jpeg_all_become_the_requested_channels(tmp_path):
    root = tmp_path / "mixed"
    rng = np.random.default_rng(0)
    write_image(root / "a" / "gray.png", rng.integers(0, 255, (10, 10, 1), dtype=np.uint8))
    write_image(root / "a" / "rgba.png", rng.integers(0, 255, (10, 14, 4), dtype=np.uint8))
    write_image(root / "b" / "rgb.jpg", rng.integers(0, 255, (20, 10, 3), dtype=np.uint8))
    write_image(root / "b" / "pal.gif", rng.integers(0, 255, (9, 9, 3), dtype=np.uint8), "GIF")
    write_image(root / "b" / "x.bmp", rng.integers(0, 255, (9, 9, 3), dtype=np.uint8), "BMP")
    source = open_source(str(root), val_split=0.01)
    assert sum(source.counts.values()) == 5
    for channels in (1, 3):
        images = [x for split in source.counts for x in _images(source, split, 16, channels)]
        assert len(images) == 5
        assert {im.shape for im in images} == {(16, 16, channels)}


def test_non_image_files_are_skipped_and_counted(image_folder, caplog):
    (image_folder / "cats" / "notes.txt").write_text("not an image")
    (image_folder / "dogs" / "broken.jpg").write_bytes(b"this is no jpeg")
    source = open_source(str(image_folder))
    assert source.skipped == 2
    assert sum(source.counts.values()) == 12
    assert "skipped 2 file(s) that are not images" in caplog.text


def test_corrupt_data_after_a_valid_header_is_dropped_not_fatal(image_folder):
    (image_folder / "cats" / "truncated.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    source = open_source(str(image_folder), val_split=0.01)
    images = [x for split in source.counts for x in _images(source, split)]
    assert len(images) == 12  # the 13th file is listed but cannot be decoded


def test_a_class_without_images_is_an_error(image_folder):
    (image_folder / "birds").mkdir()
    (image_folder / "birds" / "readme.txt").write_text("todo")
    with pytest.raises(KVError, match="class 'birds' has no images"):
        open_source(str(image_folder))


def test_folder_without_class_subfolders_is_an_error(tmp_path):
    write_image(tmp_path / "flat" / "a.png", np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(KVError, match="has no class subfolders"):
        open_source(str(tmp_path / "flat"))


def test_one_class_is_not_enough(tmp_path):
    make_class_folder(tmp_path / "one", classes=("only",))
    with pytest.raises(KVError, match="a classifier needs two"):
        open_source(str(tmp_path / "one"))


def test_missing_folder_and_unknown_spec(tmp_path):
    with pytest.raises(KVError, match="dataset folder not found"):
        open_source(str(tmp_path / "nope"))
    with pytest.raises(KVError, match="unknown dataset 'digit' .did you mean 'digits'"):
        open_source("digit")


def test_train_val_test_subfolders_are_used_as_given(tmp_path):
    root = tmp_path / "ds"
    make_class_folder(root / "train", per_class=5)
    make_class_folder(root / "val", per_class=2, seed=1)
    make_class_folder(root / "test", per_class=3, seed=2)
    source = open_source(str(root))
    assert source.counts == {"train": 10, "val": 4, "test": 6}


def test_val_or_test_folders_without_train_are_refused_not_taken_for_classes(tmp_path):
    root = tmp_path / "ds"
    make_class_folder(root / "val", per_class=2)
    make_class_folder(root / "test", per_class=2, seed=1)
    with pytest.raises(KVError, match="has val/ but no train/ folder"):
        open_source(str(root))


def test_digit_and_character_tfds_datasets_are_not_flipped():
    assert not tfds_natural_flip("mnist")
    assert not tfds_natural_flip("emnist/letters")
    assert not tfds_natural_flip("svhn_cropped:3.0.0")
    assert tfds_natural_flip("cifar10")
    assert tfds_natural_flip("fashion_mnist")


@pytest.mark.parametrize(
    ("splits", "test_split", "expected"),
    [
        (
            ("train", "validation", "test"),
            0.1,
            {"train": "train", "val": "validation", "test": "test"},
        ),
        (("train", "test"), 0.0, {"train": "train[20%:]", "val": "train[:20%]", "test": "test"}),
        (
            ("train", "validation"),
            0.1,
            {"train": "train[10%:]", "val": "validation", "test": "train[:10%]"},
        ),
        (("train",), 0.0, {"train": "train[20%:]", "val": "train[:20%]"}),
        (("train",), 0.1, {"train": "train[30%:]", "val": "train[:20%]", "test": "train[20%:30%]"}),
    ],
)
def test_tfds_splits_missing_from_the_dataset_are_cut_from_train(splits, test_split, expected):
    info = types.SimpleNamespace(splits=dict.fromkeys(splits))
    assert sources_module._tfds_split_names(info, 0.2, test_split) == expected


def test_tfds_offline_fails_within_seconds(tmp_path, monkeypatch):
    monkeypatch.setattr(sources_module, "_reachable", lambda host, timeout=3.0: False)
    start = time.perf_counter()
    with pytest.raises(KVError, match="not prepared.*--data-dir"):
        open_source("tfds:mnist", data_dir=str(tmp_path))
    assert time.perf_counter() - start < 20


def test_tfds_unknown_name_suggests_one():
    with pytest.raises(KVError, match="no dataset 'mnistt'.*did you mean 'mnist'"):
        open_source("tfds:mnistt")
