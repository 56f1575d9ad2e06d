"""Splitting a staged run's --time budget over its stages."""

from __future__ import annotations

import dataclasses

from kerasvision.config import build_config, stage_configs
from kerasvision.run import RunMetrics, SplitMetrics
from kerasvision.training.budget import PRUNING_SPEED, StageBudget


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _stages(**shares):
    config = build_config(
        None, {"stages": {name: {"epochs": 10, "budget_share": s} for name, s in shares.items()}}
    )
    return stage_configs(config)


def test_a_staged_recipe_passes_no_time_down_to_its_stages():
    config = build_config("cifar10-edge-int8", {"time": 30})
    assert config.time == 30
    assert all(stage.time is None for _, stage in stage_configs(config))


def test_shares_follow_the_weights_and_unused_time_goes_to_later_stages():
    clock = _Clock()
    stages = _stages(a=2.0, b=1.0, c=1.0)
    budget = StageBudget(40, stages, clock=clock)
    a, minutes = budget.apply("a", stages[0][1], None)
    assert a.time == minutes == 20
    clock.now = 10 * 60  # stage a used only 10 of its 20 minutes
    b, minutes = budget.apply("b", stages[1][1], None)
    assert b.time == minutes
    assert minutes == 15  # half of the 30 left
    clock.now = 40 * 60
    assert budget.apply("c", stages[2][1], None)[1] == 0.1  # at least a tenth of a minute


def test_a_pruning_stage_gets_epochs_at_its_init_models_speed():
    clock = _Clock()
    config = build_config(
        None,
        {
            "stages": {
                "s": {"epochs": 50},
                "p": {"init": "s", "epochs": 50, "prune": {"sparsity": 0.5}},
            }
        },
    )
    stages = stage_configs(config)
    budget = StageBudget(20, stages, clock=clock)
    clock.now = 10 * 60
    init = RunMetrics(
        model="m",
        dataset="d",
        classes=2,
        input_shape=[8, 8, 1],
        params=1,
        counts={"train": 1000},
        epochs=1,
        val=SplitMetrics(0.5, 1.0),
        images_per_s=100.0,
    )
    pruned, minutes = budget.apply("p", stages[1][1], init)
    assert minutes == 10 and pruned.time is None
    assert pruned.epochs == 600 * 100 * PRUNING_SPEED // 1000  # 10 minutes at 75 images/s
    assert pruned.prune.sparsity == 0.5
    slow = dataclasses.replace(init, images_per_s=1.0)
    assert budget.apply("p", stages[1][1], slow)[0].epochs == 1
