from __future__ import annotations

import pytest

from kerasvision.backend import keras
from kerasvision.config import build_config
from kerasvision.training.optim import WarmupCosine, create_optimizer, create_schedule, peak_lr


def test_warmup_rises_linearly_then_cosine_decays_to_zero():
    schedule = WarmupCosine(0.4, total_steps=100, warmup_steps=10)
    assert float(schedule(0)) == pytest.approx(0.04)
    assert float(schedule(9)) == pytest.approx(0.4)
    assert float(schedule(55)) == pytest.approx(0.2, abs=1e-6)  # half-way through the cosine
    assert float(schedule(100)) == pytest.approx(0.0, abs=1e-7)


def test_shortening_the_schedule_moves_its_end():
    schedule = WarmupCosine(1.0, total_steps=100)
    schedule.set_total_steps(50)
    assert float(schedule(50)) == pytest.approx(0.0, abs=1e-7)
    assert float(schedule(25)) == pytest.approx(0.5, abs=1e-6)


def test_schedule_config_round_trips():
    schedule = WarmupCosine(0.1, total_steps=30, warmup_steps=3, final_scale=0.01)
    again = WarmupCosine.from_config(schedule.get_config())
    assert float(again(17)) == pytest.approx(float(schedule(17)))


def test_default_lr_scales_with_batch_for_sgd_only():
    assert peak_lr(build_config(overrides={"batch_size": 256})) == pytest.approx(0.2)
    assert peak_lr(build_config(overrides={"optimizer": "adam", "batch_size": 256})) == 1e-3
    assert peak_lr(build_config(overrides={"lr": 0.03})) == 0.03


def test_constant_schedule_is_a_float():
    config = build_config(overrides={"schedule": "constant", "lr": 0.01})
    assert create_schedule(config, steps_per_epoch=10) == 0.01


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw"])
def test_optimizers_are_built_by_name(name):
    config = build_config(overrides={"optimizer": name})
    opt = create_optimizer(config, 0.01)
    assert type(opt).__name__.lower() == name


def test_weight_decay_spares_biases_and_normalization():
    config = build_config(overrides={"weight_decay": 0.5, "lr": 0.1, "momentum": 0.0})
    dense = keras.layers.Dense(1, kernel_initializer="ones", bias_initializer="ones")
    dense.build((None, 1))
    opt = create_optimizer(config, 0.1)
    zeros = [keras.backend.zeros_like(v) for v in dense.trainable_variables]
    opt.apply_gradients(zip(zeros, dense.trainable_variables, strict=True))
    kernel, bias = (float(v.numpy().ravel()[0]) for v in dense.trainable_variables)
    assert kernel == pytest.approx(1.0 - 0.5 * 0.1)  # decayed by wd * lr
    assert bias == pytest.approx(1.0)


def test_a_layer_named_like_a_parameter_still_decays():
    config = build_config(overrides={"weight_decay": 0.5, "lr": 0.1, "momentum": 0.0})
    inputs = keras.Input((1,))
    outputs = keras.layers.Dense(1, name="beta_head", kernel_initializer="ones")(inputs)
    model = keras.Model(inputs, outputs)
    opt = create_optimizer(config, 0.1)
    kernel = model.get_layer("beta_head").kernel
    opt.apply_gradients([(keras.backend.zeros_like(kernel), kernel)])
    assert float(kernel.numpy().ravel()[0]) == pytest.approx(1.0 - 0.5 * 0.1)
