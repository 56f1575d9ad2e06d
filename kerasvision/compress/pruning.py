"""Magnitude pruning with tensorflow-model-optimization.

``prune_model`` wraps the prunable layers of a model in tfmot's
``PruneLowMagnitude`` (``prune_low_magnitude``) with a ``PolynomialDecay``
schedule sized to the run, or with 2:4 structured sparsity; ``strip`` removes
the wrappers before saving. What tfmot lacks is written here: choosing the
layers (the first convolution and the classifier stay dense by default),
deriving the schedule from the step count, the per-layer sparsity table and
the gzip size.

Normalization layers (BatchNormalization, Rescaling, Normalization) have no
prunable weights, so they always stay dense.
"""

from __future__ import annotations

import fnmatch
import gzip
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow_model_optimization as tfmot
from tensorflow_model_optimization.python.core.sparsity.keras.prune_registry import (
    PruneRegistry,
)
from tensorflow_model_optimization.python.core.sparsity.keras.pruning_wrapper import (
    PruneLowMagnitude,
)

from kerasvision.backend import keras
from kerasvision.config import check_structure
from kerasvision.errors import KVError

# Keywords of ``prune.exclude`` besides layer-name patterns.
FIRST_CONV = "first_conv"
CLASSIFIER = "classifier"
DEFAULT_PRUNE_EXCLUDE = (FIRST_CONV, CLASSIFIER)


@dataclass(frozen=True)
class PruningPlan:
    """When the masks change: ``PolynomialDecay`` steps of a run.

    Attributes:
        begin_step: First step that prunes.
        end_step: Step at which the target sparsity is reached; the rest of
            the run fine-tunes at that sparsity.
        frequency: Steps between mask updates.
    """

    begin_step: int
    end_step: int
    frequency: int


def plan_pruning(
    total_steps: int, steps_per_epoch: int, *, from_trained: bool = True, end: float = 0.75
) -> PruningPlan:
    """Spreads the mask updates over the run so that short runs prune too.

    The masks are updated about twice an epoch (at most every 100 steps, the
    tfmot default), from step 0 for a trained model (a third into the run when
    training from scratch, so the weights have a shape to prune), until the
    fraction ``end`` of the run; the rest fine-tunes at the target sparsity.

    Args:
        total_steps: Optimizer steps of the whole run.
        steps_per_epoch: Optimizer steps per epoch.
        from_trained: Whether the model starts trained. Defaults to True.
        end: Fraction of the run by which the target sparsity is reached, in
            (0, 1]; at least one update interval after the first step.
            Defaults to 0.75.

    Returns:
        The ``PruningPlan``.

    Raises:
        KVError: For a run without steps or ``end`` outside (0, 1].
    """
    if total_steps < 1 or steps_per_epoch < 1:
        raise KVError(f"pruning needs at least one training step, got {total_steps}")
    if not 0.0 < end <= 1.0:
        raise KVError(f"the end of pruning must be a fraction of the run in (0, 1], got {end}")
    frequency = min(100, max(1, steps_per_epoch // 2))
    begin = 0 if from_trained else (total_steps // 3) // frequency * frequency
    # tfmot counts steps from 1; the last update must fall on begin + k * frequency.
    # begin + frequency <= total_steps always: frequency <= steps_per_epoch / 2.
    last = begin + max(1, math.floor((end * total_steps - begin) / frequency)) * frequency
    return PruningPlan(begin, last, frequency)


def _prunable_weight_names(layer) -> list[str]:
    """Names of the weights tfmot prunes in ``layer`` ([] if none or unsupported)."""
    if isinstance(layer, tfmot.sparsity.keras.PrunableLayer):
        return [_short(w.name) for w in layer.get_prunable_weights()]
    if isinstance(layer, keras.Model) or not PruneRegistry.supports(layer):
        return []
    return list(PruneRegistry._weight_names(layer))


def _short(name: str) -> str:
    """``kernel`` for a variable named ``block/conv/kernel:0``."""
    return name.split("/")[-1].split(":")[0]


def iter_layers(model) -> Iterator[Any]:
    """Every layer of ``model`` in order, descending into nested models."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from iter_layers(layer)
        else:
            yield layer


def prunable_layers(model) -> list[Any]:
    """The layers whose kernels tfmot can prune, input side first."""
    return [layer for layer in iter_layers(model) if _prunable_weight_names(layer)]


def select_layers(model, exclude: Iterable[str] = DEFAULT_PRUNE_EXCLUDE) -> list[str]:
    """Names of the layers to prune: the prunable ones minus ``exclude``.

    Args:
        model: The model.
        exclude: Layer-name patterns (``fnmatch``, e.g. ``stage1_*``) and the
            keywords ``first_conv`` (the first prunable layer, which sees the
            image) and ``classifier`` (the last one, which produces the
            logits). Defaults to both keywords.

    Returns:
        The names, input side first.

    Raises:
        KVError: When a pattern matches no prunable layer, or nothing is left.
    """
    layers = [layer.name for layer in prunable_layers(model)]
    if not layers:
        raise KVError(f"{model.name} has no layers that can be pruned")
    dropped: set[str] = set()
    for pattern in exclude:
        if pattern == FIRST_CONV:
            dropped.add(layers[0])
        elif pattern == CLASSIFIER:
            dropped.add(layers[-1])
        else:
            matched = fnmatch.filter(layers, pattern)
            if not matched:
                raise KVError(
                    f"prune.exclude pattern '{pattern}' matches no prunable layer of "
                    f"{model.name}; prunable layers: {', '.join(layers)}"
                )
            dropped.update(matched)
    kept = [name for name in layers if name not in dropped]
    if not kept:
        raise KVError(f"prune.exclude leaves no layer of {model.name} to prune")
    return kept


def prune_model(
    model,
    sparsity: float,
    plan: PruningPlan,
    *,
    structure: str = "unstructured",
    exclude: Iterable[str] = DEFAULT_PRUNE_EXCLUDE,
):
    """Wraps the selected layers of ``model`` for magnitude pruning.

    The wrapped model shares its layers' weights with ``model``. Train it
    with ``pruning_callbacks()`` and save ``strip(model)``.

    Args:
        model: A functional model (nested functional models are pruned inside).
        sparsity: Target fraction of zeros in each pruned kernel, in [0, 1);
            with ``structure="2:4"`` it must be 0.5.
        plan: The schedule's steps (``plan_pruning``).
        structure: ``unstructured`` or ``2:4`` (two zeros in every four
            consecutive input-channel weights, set at the first step and kept).
            Defaults to ``unstructured``.
        exclude: Layers that stay dense (see ``select_layers``). Defaults to the
            first convolution and the classifier.

    Returns:
        The wrapped model.
    """
    if not 0.0 < sparsity < 1.0:
        raise KVError(f"target sparsity must be between 0 and 1, got {sparsity}")
    check_structure(sparsity, structure)
    names = set(select_layers(model, exclude))
    params: dict[str, Any] = {
        "pruning_schedule": tfmot.sparsity.keras.PolynomialDecay(
            initial_sparsity=0.0,
            final_sparsity=float(sparsity),
            begin_step=plan.begin_step,
            end_step=plan.end_step,
            frequency=plan.frequency,
        )
    }
    if structure == "2:4":
        params["sparsity_m_by_n"] = (2, 4)

    def wrap(layer):
        if isinstance(layer, keras.Model):
            return keras.models.clone_model(layer, clone_function=wrap)
        if layer.name in names:
            return tfmot.sparsity.keras.prune_low_magnitude(layer, **params)
        return layer

    return keras.models.clone_model(model, clone_function=wrap)


def pruning_callbacks(model) -> list[keras.callbacks.Callback]:
    """``[UpdatePruningStep()]`` when ``model`` has pruning wrappers, else ``[]``."""
    if any(isinstance(layer, PruneLowMagnitude) for layer in iter_layers(model)):
        return [tfmot.sparsity.keras.UpdatePruningStep()]
    return []


def is_pruning(model) -> bool:
    """Whether ``model`` holds pruning wrappers."""
    return any(isinstance(layer, PruneLowMagnitude) for layer in iter_layers(model))


def strip(model):
    """The model without pruning wrappers (tfmot ``strip_pruning``), weights shared."""
    return tfmot.sparsity.keras.strip_pruning(model) if is_pruning(model) else model


def prunable_kernels(layer) -> list[np.ndarray]:
    """The values of the weights tfmot prunes in ``layer`` (wrapped or not)."""
    inner = layer.layer if isinstance(layer, PruneLowMagnitude) else layer
    names = _prunable_weight_names(inner)
    return [w.numpy() for w in inner.weights if _short(w.name) in names]


def sparsity_table(model, pruned: Sequence[str] | None = None) -> dict[str, Any]:
    """Per-layer sparsity of every prunable kernel, and the totals.

    Args:
        model: A pruned model, wrapped or stripped.
        pruned: Names of the layers that were pruned. Defaults to None (the
            wrapped layers of ``model``; for a stripped model pass them).

    Returns:
        ``{"layers": [{"layer", "params", "zeros", "sparsity", "pruned"}, ...],
        "sparsity": zeros / weights over the pruned kernels,
        "model_sparsity": zeros / parameters of the whole model}``.
    """
    rows = []
    for layer in iter_layers(model):
        inner = layer.layer if isinstance(layer, PruneLowMagnitude) else layer
        kernels = prunable_kernels(layer)
        if not kernels:
            continue
        size = sum(k.size for k in kernels)
        zeros = sum(int(np.count_nonzero(k == 0)) for k in kernels)
        was_pruned = (
            isinstance(layer, PruneLowMagnitude) if pruned is None else inner.name in pruned
        )
        rows.append(
            {
                "layer": inner.name,
                "params": size,
                "zeros": zeros,
                "sparsity": round(zeros / size, 4),
                "pruned": was_pruned,
            }
        )
    in_pruned = [r for r in rows if r["pruned"]]
    weights = [w.numpy() for w in strip(model).weights]
    total = sum(w.size for w in weights)
    return {
        "layers": rows,
        "sparsity": round(
            sum(r["zeros"] for r in in_pruned) / max(1, sum(r["params"] for r in in_pruned)), 4
        ),
        "model_sparsity": round(sum(int(np.count_nonzero(w == 0)) for w in weights) / total, 4),
    }


def format_sparsity_table(table: dict[str, Any]) -> str:
    """The table as aligned text lines, for the log."""
    width = max([len(r["layer"]) for r in table["layers"]] + [5])
    lines = [f"{'layer':<{width}}  {'params':>9}  {'sparsity':>8}"]
    for row in table["layers"]:
        mark = "" if row["pruned"] else "  (dense)"
        lines.append(f"{row['layer']:<{width}}  {row['params']:>9,}  {row['sparsity']:>8.1%}{mark}")
    lines.append(
        f"{'pruned kernels':<{width}}  {'':>9}  {table['sparsity']:>8.1%}"
        f"   whole model {table['model_sparsity']:.1%}"
    )
    return "\n".join(lines)


def gzip_size(data: bytes | str | Path) -> int:
    """Bytes of ``data`` (or of the file at that path) after gzip at level 9."""
    if not isinstance(data, bytes):
        data = Path(data).read_bytes()
    return len(gzip.compress(data, compresslevel=9, mtime=0))
