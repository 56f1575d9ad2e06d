"""The fast teacher (``airbench``) and the MLPerf Tiny student (``resnet8``)."""

from __future__ import annotations

import numpy as np
import pytest

from kerasvision.errors import KVError
from kerasvision.models import create_model, list_models


def test_both_are_registered_by_name():
    assert {"airbench", "resnet8"} <= set(list_models())
    assert "resnet8" in list_models("resnet*")


def test_airbench_width_scales_the_groups_and_names_are_deterministic():
    full = create_model("airbench", num_classes=10, input_shape=(32, 32, 3))
    half = create_model("airbench", num_classes=10, input_shape=(32, 32, 3), width=0.5)
    assert full.get_layer("group2_conv1").filters == 256
    assert half.get_layer("group2_conv1").filters == 128
    assert 1.9e6 < full.count_params() < 2.1e6
    again = create_model("airbench", num_classes=10, input_shape=(32, 32, 3))
    assert [layer.name for layer in full.layers] == [layer.name for layer in again.layers]


def test_airbench_whitening_conv_has_two_filters_per_patch_dimension():
    rgb = create_model("airbench", num_classes=3, input_shape=(32, 32, 3))
    gray = create_model("airbench", num_classes=3, input_shape=(32, 32, 1))
    assert rgb.get_layer("whiten").filters == 24 and gray.get_layer("whiten").filters == 8


def test_airbench_outputs_probabilities_of_raw_pixels():
    model = create_model("airbench", num_classes=4, input_shape=(32, 32, 3), width=0.25)
    probs = model.predict(np.full((2, 32, 32, 3), 200.0, np.float32), verbose=0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_airbench_refuses_a_bad_width():
    with pytest.raises((KVError, ValueError), match="width"):
        create_model("airbench", num_classes=10, input_shape=(32, 32, 3), width=0.0)


def test_resnet8_is_the_mlperf_tiny_reference_size():
    model = create_model("resnet8", num_classes=10, input_shape=(32, 32, 3))
    assert 75_000 < model.count_params() < 80_000  # MLPerf Tiny: about 78k
    assert model.get_layer("stem_conv").filters == 16
    assert model.get_layer("stage3_block1_conv1").filters == 64
    wide = create_model("resnet8", num_classes=10, input_shape=(32, 32, 3), width=2.0)
    assert wide.get_layer("stage3_block1_conv1").filters == 128


def test_resnet8_uses_only_int8_friendly_layers():
    model = create_model("resnet8", num_classes=10, input_shape=(32, 32, 3))
    kinds = {type(layer).__name__ for layer in model.layers}
    assert kinds <= {
        "InputLayer",
        "Rescaling",
        "Conv2D",
        "BatchNormalization",
        "ReLU",
        "Add",
        "GlobalAveragePooling2D",
        "Dense",
        "Activation",
    }
