"""Splitting a staged run's ``time`` budget over its stages.

Each stage gets a share of what is left of the budget when it starts, in
proportion to its ``budget_share`` (else its ``epochs``) among the stages
still to train, so time a stage leaves unused goes to the next. A stage
trains under ``time`` (its epochs and cosine schedule shrink to fit,
``TimeBudget``), except a pruning stage: its sparsity schedule needs the
step count up front, so its share becomes epochs at the measured speed of
the model it starts from, times ``PRUNING_SPEED`` for the pruning wrappers.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time

from kerasvision.config import TrainConfig
from kerasvision.run import RunMetrics

log = logging.getLogger(__name__)

# Training speed of a model under pruning wrappers, as a fraction of its own.
PRUNING_SPEED = 0.75


def _weight(stage: TrainConfig) -> float:
    return stage.budget_share if stage.budget_share is not None else float(stage.epochs)


class StageBudget:
    """The time left of a staged run's budget, handed out stage by stage.

    Args:
        minutes: The whole run's budget.
        stages: ``(name, config)`` of every stage, in order.
        clock: Seconds source. Defaults to ``time.perf_counter``.
    """

    def __init__(
        self, minutes: float, stages: list[tuple[str, TrainConfig]], clock=time.perf_counter
    ):
        self.minutes = float(minutes)
        self.weights = {name: _weight(stage) for name, stage in stages}
        self.order = [name for name, _ in stages]
        self.clock = clock
        self.start = clock()

    def left_minutes(self) -> float:
        return max(self.minutes - (self.clock() - self.start) / 60.0, 0.0)

    def share(self, name: str) -> float:
        """Minutes for stage ``name``: its weight's part of what is left."""
        later = self.order[self.order.index(name) :]
        total = sum(self.weights[n] for n in later)
        return self.left_minutes() * self.weights[name] / total if total else 0.0

    def apply(
        self, name: str, stage: TrainConfig, init: RunMetrics | None
    ) -> tuple[TrainConfig, float]:
        """``stage`` set to train within its share (``time``, or a pruning stage's epochs).

        Args:
            name: The stage.
            stage: Its config.
            init: The metrics of the stage it starts from (for a pruning
                stage's speed), or None.
        """
        minutes = max(self.share(name), 0.1)
        if stage.time is not None:  # the stage's own budget wins
            return stage, stage.time
        if not stage.prune.sparsity:
            log.info("stage %s: %.1f of %.1f minutes left", name, minutes, self.left_minutes())
            return dataclasses.replace(stage, time=round(minutes, 2)), minutes
        if init is None or not init.images_per_s:
            log.warning("stage %s prunes an unmeasured model: it keeps its epochs", name)
            return stage, minutes
        per_epoch = init.counts["train"] / (init.images_per_s * PRUNING_SPEED)
        epochs = max(1, min(stage.epochs, math.floor(minutes * 60.0 / per_epoch)))
        log.info("stage %s: %d epochs in %.1f minutes", name, epochs, minutes)
        warmup = min(stage.warmup_epochs, float(epochs))
        return dataclasses.replace(stage, epochs=epochs, warmup_epochs=warmup), minutes
