from __future__ import annotations

import numpy as np
import pytest

from kerasvision.data.sampling import collect_spread, spread_indices


def _class_sorted_batches(per_class: int = 30, classes: int = 4, batch: int = 7):
    labels = np.repeat(np.arange(classes), per_class)
    images = np.arange(len(labels))
    for start in range(0, len(labels), batch):
        yield images[start : start + batch], labels[start : start + batch]


def test_a_limited_draw_of_a_class_sorted_split_keeps_every_class_equally():
    images, labels = collect_spread(_class_sorted_batches(), total=120, limit=40)
    assert len(images) == 40
    assert np.bincount(labels).tolist() == [10, 10, 10, 10]
    assert np.all(np.diff(images) > 0)  # distinct, in stream order


def test_the_draw_is_the_same_every_time():
    first = collect_spread(_class_sorted_batches(), total=120, limit=33)
    second = collect_spread(_class_sorted_batches(), total=120, limit=33)
    np.testing.assert_array_equal(first[0], second[0])


def test_no_limit_or_a_limit_past_the_total_keeps_everything():
    for limit in (None, 500):
        images, _ = collect_spread(_class_sorted_batches(), total=120, limit=limit)
        np.testing.assert_array_equal(images, np.arange(120))


def test_an_unknown_total_keeps_the_first_examples():
    images, _ = collect_spread(_class_sorted_batches(), total=None, limit=10)
    np.testing.assert_array_equal(images, np.arange(10))


def test_spread_indices_are_distinct_and_in_range():
    idx = spread_indices(1000, 999)
    assert len(np.unique(idx)) == 999 and idx[0] == 0 and idx[-1] < 1000
    with pytest.raises(ValueError, match="got 0"):
        spread_indices(10, 0)
