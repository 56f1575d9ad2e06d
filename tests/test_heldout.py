"""The held-out images every command shares: splits, a foreign dataset, label order."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import digit_folder

from kerasvision.errors import KVError
from kerasvision.heldout import calibration_images, heldout, label_mapping
from kerasvision.run import Run


def test_label_mapping_follows_names_not_order():
    assert label_mapping(["dog", "cat"], ["cat", "dog", "frog"]).tolist() == [1, 0]
    assert label_mapping(["x", "y"], ["class_0", "class_1"]).tolist() == [0, 1]
    with pytest.raises(KVError, match="classes the model does not predict: horse"):
        label_mapping(["cat", "horse"], ["cat", "dog"])


def test_the_runs_own_data_gives_its_validation_split(digits_run):
    labels = Run(digits_run).labels()
    held = heldout((8, 8, 1), labels, run=Run(digits_run))
    assert held.split == ["val"] and held.count == 359
    images, ids = held.arrays()
    assert images.shape == (359, 8, 8, 1) and sorted(set(ids.tolist())) == list(range(10))


def test_another_dataset_is_a_test_set_read_whole_with_ids_mapped_by_name(digits_run, tmp_path):
    folder = digit_folder(tmp_path / "five-to-nine")
    held = heldout((8, 8, 1), Run(digits_run).labels(), run=Run(digits_run), dataset=str(folder))
    assert held.count == 60  # every image, not a 20% validation cut
    _, ids = held.arrays()
    assert sorted(set(ids.tolist())) == [5, 6, 7, 8, 9]  # the model's ids, not the folder's 0-4
    only_val = heldout(
        (8, 8, 1), Run(digits_run).labels(), run=Run(digits_run), dataset=str(folder), split="val"
    )
    assert 0 < only_val.count < 60


def test_arrays_spread_a_cap_over_every_class(digits_run):
    held = heldout((8, 8, 1), Run(digits_run).labels(), run=Run(digits_run))
    _, ids = held.arrays(50)
    assert len(ids) == 50 and len(set(ids.tolist())) == 10


def test_calibration_comes_from_the_runs_training_images(digits_run, tmp_path):
    images = calibration_images((8, 8, 1), 40, run=Run(digits_run))
    assert images.shape == (40, 8, 8, 1) and images.dtype == np.float32
    assert images.max() > 100  # raw 0-255 pixels
    with pytest.raises(KVError, match="calib must be at least 1"):
        calibration_images((8, 8, 1), 0, run=Run(digits_run))


def test_a_model_outside_a_run_needs_a_dataset():
    with pytest.raises(KVError, match="not in a run directory"):
        heldout((8, 8, 1), ["a", "b"])
