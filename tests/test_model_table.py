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


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(STATS))
def test_cached_figures_match_every_model(name):
    _check(name)
