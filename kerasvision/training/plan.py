"""The plan of a training run, made once: its configs, global batch, LR, steps and phases."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from kerasvision.config import TrainConfig
from kerasvision.training.distribute import scale_config
from kerasvision.training.optim import peak_lr


@dataclass(frozen=True)
class Phase:
    """One ``fit`` call of a run: epochs ``start`` to ``end`` at ``lr_scale`` × the LR.

    Attributes:
        name: ``train``, ``frozen`` or ``fine_tune`` (names its checkpoints).
        start: First epoch (``initial_epoch``).
        end: Epoch after the last.
        lr_scale: Factor on the peak learning rate.
        freeze_backbone: Whether a ``backbone`` layer is frozen.
    """

    name: str
    start: int
    end: int
    lr_scale: float
    freeze_backbone: bool


def plan_phases(model, config: TrainConfig) -> list[Phase]:
    """One phase, or a frozen-backbone phase then fine-tuning for pretrained models.

    A run that starts from a trained model (``init``) is one fine-tuning phase
    at ``fine_tune_lr`` times the learning rate; pruning and QAT runs have no
    frozen phase. With ``freeze_epochs >= epochs`` the backbone stays frozen
    for the whole run (only the head trains).

    Args:
        model: The network to train (its ``backbone`` layer, if any, is frozen).
        config: The run's config.

    Returns:
        The phases in order.
    """
    if config.init:
        return [Phase("fine_tune", 0, config.epochs, config.fine_tune_lr, False)]
    has_backbone = any(layer.name == "backbone" for layer in model.layers)
    compressing = config.prune.sparsity or config.qat != "off"
    if has_backbone and not compressing and config.weights != "none" and config.freeze_epochs:
        if config.freeze_epochs >= config.epochs:
            return [Phase("frozen", 0, config.epochs, 1.0, True)]
        return [
            Phase("frozen", 0, config.freeze_epochs, 1.0, True),
            Phase("fine_tune", config.freeze_epochs, config.epochs, config.fine_tune_lr, False),
        ]
    return [Phase("train", 0, config.epochs, 1.0, False)]


def resolve_config(config: TrainConfig, data) -> TrainConfig:
    """The config with every default made explicit, as written to ``config.yaml``."""
    return dataclasses.replace(
        config,
        image_size=data.image_size,
        channels=data.channels,
        lr=peak_lr(config),
        out=str(config.run_dir),
    )


@dataclass(frozen=True)
class TrainPlan:
    """What a run trains with, settled once the data and the model are known.

    Attributes:
        config: The resolved config, per device (replica) as the user gave
            it: what ``config.yaml`` holds and what a resume compares.
        replicas: Replicas training in sync.
        global_config: ``config`` with the global batch and the scaled LR
            (``scale_config``): what the optimizer, schedule and callbacks use.
        steps_per_epoch: Optimizer steps per epoch at the global batch.
        phases: The ``fit`` phases (``plan_phases``).
    """

    config: TrainConfig
    replicas: int
    global_config: TrainConfig
    steps_per_epoch: int
    phases: tuple[Phase, ...]

    @property
    def batch_size(self) -> int:
        """The global batch: images per step over all replicas."""
        return self.global_config.batch_size

    @property
    def lr(self) -> float:
        """The global peak learning rate."""
        return self.global_config.lr

    @property
    def total_steps(self) -> int:
        return self.config.epochs * self.steps_per_epoch

    @classmethod
    def build(cls, config: TrainConfig, data, model, replicas: int = 1) -> TrainPlan:
        """The plan of training ``model`` on ``data`` as ``config`` says, on ``replicas``.

        Args:
            config: The run's config (per device).
            data: The run's ``DataSplits`` (its training count and input size).
            model: The network to train, before compression wrappers.
            replicas: Replicas training in sync. Defaults to 1.
        """
        resolved = resolve_config(config, data)
        global_config = scale_config(resolved, replicas)
        return cls(
            config=resolved,
            replicas=replicas,
            global_config=global_config,
            steps_per_epoch=math.ceil(data.counts["train"] / global_config.batch_size),
            phases=tuple(plan_phases(model, resolved)),
        )
