"""The compression step of a training run: what ``kerasvision.training.train`` calls.

``prepare`` turns the model about to be trained into a pruning (``prune``)
or quantization-aware (``qat``) model, ``finish`` turns the trained one into
the model to save (pruning wrappers stripped) and ``report`` describes it for
``metrics.json``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kerasvision.compress.pruning import (
    PruningPlan,
    format_sparsity_table,
    gzip_size,
    is_pruning,
    plan_pruning,
    prunable_layers,
    prune_model,
    select_layers,
    sparsity_table,
    strip,
)
from kerasvision.compress.qat import is_quantized, quantize_model
from kerasvision.config import TrainConfig
from kerasvision.errors import KVError

log = logging.getLogger(__name__)


@dataclass
class Compression:
    """What a run does to its model, and what came of it.

    Attributes:
        kind: ``prune``, ``qat`` or ``pqat``.
        pruned: Names of the pruned layers.
        plan: The pruning schedule's steps.
        float_layers: Layers a QAT model keeps in float.
        inlined: Nested models inlined for QAT.
        table: The sparsity table of the trained model (``sparsity_table``).
    """

    kind: str
    pruned: list[str] = field(default_factory=list)
    plan: PruningPlan | None = None
    float_layers: list[str] = field(default_factory=list)
    inlined: list[str] = field(default_factory=list)
    table: dict[str, Any] | None = None


def prepare(model, config: TrainConfig, steps_per_epoch: int) -> tuple[Any, Compression | None]:
    """Wraps ``model`` for pruning or QAT as ``config`` asks; None when it asks neither.

    Args:
        model: The model to train (built, or loaded from ``config.init``).
        config: The run's config (``prune``, ``qat``, ``init``, ``epochs``).
        steps_per_epoch: Optimizer steps per epoch.

    Returns:
        The model to train and the ``Compression`` to pass to ``finish``.

    Raises:
        KVError: For a model that is already quantization-aware.
    """
    if is_pruning(model):  # e.g. a best checkpoint saved while pruning
        log.info("stripping the pruning wrappers of the model it starts from")
        model = strip(model)
    prune = config.prune
    if is_quantized(model) and (prune.sparsity or config.qat != "off"):
        raise KVError(
            "the model is already quantization-aware; prune or quantize its float version"
        )
    if prune.sparsity:
        plan = plan_pruning(
            config.epochs * steps_per_epoch,
            steps_per_epoch,
            from_trained=config.init is not None,
            end=prune.end,
        )
        names = select_layers(model, prune.exclude)
        wrapped = prune_model(
            model,
            prune.sparsity,
            plan,
            structure=prune.structure,
            exclude=prune.exclude,
        )
        dense = [layer.name for layer in prunable_layers(model) if layer.name not in names]
        if prune.structure == "2:4":
            log.info("pruning %d layers to 2:4 sparsity at the first step", len(names))
        else:
            log.info(
                "pruning %d layers to %.0f%% sparsity: masks updated every %d steps "
                "from step %d to %d of %d",
                len(names),
                100 * prune.sparsity,
                plan.frequency,
                plan.begin_step,
                plan.end_step,
                config.epochs * steps_per_epoch,
            )
        log.info("kept dense: %s", ", ".join(dense) or "none")
        return wrapped, Compression("prune", pruned=names, plan=plan)
    if config.qat != "off":
        quantized = quantize_model(model, config.qat)
        if quantized.inlined:
            log.info(
                "inlined the nested model(s) %s so that their layers can be quantized",
                ", ".join(quantized.inlined),
            )
        log.info(
            "%s: quantization-aware training; %s",
            quantized.scheme.upper(),
            f"left float (tfmot cannot quantize them): {', '.join(quantized.float_layers)}"
            if quantized.float_layers
            else "every layer quantized",
        )
        return quantized.model, Compression(
            quantized.scheme, float_layers=quantized.float_layers, inlined=quantized.inlined
        )
    return model, None


def finish(model, compression: Compression | None):
    """The trained model to save: pruning wrappers stripped; logs the sparsity table."""
    if compression is None or compression.kind != "prune":
        return model
    compression.table = sparsity_table(model)
    log.info("sparsity after pruning:\n%s", format_sparsity_table(compression.table))
    return strip(model)


def report(compression: Compression | None, config: TrainConfig, saved: Path) -> dict[str, Any]:
    """The ``metrics.json`` entries of a compressed run (empty for a plain one).

    Pruning: ``{"pruning": {target, structure, schedule, sparsity, model_sparsity,
    layers, gzip_bytes}}`` where ``gzip_bytes`` is the gzip size of the saved
    (stripped) ``.keras`` file. QAT: ``{"qat": {scheme, float_layers, inlined}}``.
    """
    if compression is None:
        return {}
    if compression.kind == "prune":
        plan = compression.plan
        return {
            "pruning": {
                "target": config.prune.sparsity,
                "structure": config.prune.structure,
                "exclude": list(config.prune.exclude),
                "schedule": {
                    "begin_step": plan.begin_step,
                    "end_step": plan.end_step,
                    "frequency": plan.frequency,
                },
                **(compression.table or {}),
                "gzip_bytes": gzip_size(saved),
            }
        }
    return {
        "qat": {
            "scheme": compression.kind,
            "float_layers": compression.float_layers,
            "inlined": compression.inlined,
        }
    }
