"""The parameter and FLOP figures cached in the model tables equal the built models'."""

from __future__ import annotations

import pytest

from kerasvision.models import create_model, get_model_spec
from kerasvision.models.cached_stats import STATS
from kerasvision.models.flops import backbone_stats, count_flops


def _check(name: str) -> None:
    spec = get_model_spec(name)
    size = spec.default_size
    model = create_model(name, num_classes=10, input_shape=(size, size, 3))
    assert backbone_stats(model) == (
        STATS[name].backbone_params,
        STATS[name].features,
        STATS[name].backbone_flops,
    )
    assert spec.stats.params(10) == model.count_params()


def test_flops_of_a_dense_layer_are_two_per_multiply_add():
    from kerasvision.backend import keras

    inputs = keras.Input((8,))
    model = keras.Model(inputs, keras.layers.Dense(4, use_bias=False)(inputs))
    assert count_flops(model) == 2 * 8 * 4  # 32 multiply-adds


@pytest.mark.parametrize("name", ["efficientnet_b0"])
def test_cached_figures_match_a_cheap_model(name):
    _check(name)


# FLOPs at the default size, counted again for a member of each design small enough
# for a CI CPU (the parameters of every model are checked in test_backbones.py).
@pytest.mark.slow
@pytest.mark.parametrize("name", ["mobilenet_v2", "resnet50", "densenet121", "efficientnet_lite0"])
def test_cached_figures_match_the_counted_ones(name):
    from kerasvision.backend import keras

    _check(name)
    keras.backend.clear_session()
