"""Quantization-aware training (QAT) and pruning-preserving QAT (PQAT) with tfmot.

``quantize_model`` prepares a trained model for QAT: tfmot's
``quantize_model`` refuses a whole model when one layer is unsupported (the
``Rescaling``/``Normalization`` input layer of every kerasvision model) or
when it nests another model (the ``backbone`` of ``resnet50`` and
``mobilenet_v2``). Here nested functional models are inlined first, every
layer tfmot can quantize is annotated with ``quantize_annotate_layer``, the
rest stays float, and ``quantize_apply`` builds the QAT model, with the
``Default8BitPrunePreserveQuantizeScheme`` (``tfmot.experimental.combine``)
for PQAT so that pruned zeros stay zero.

A QAT model holds tfmot layers: loading its ``.keras`` file needs
``tfmot.quantization.keras.quantize_scope()``, which
``kerasvision.models.saving.load_model`` enters on its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import tensorflow_model_optimization as tfmot
from tensorflow_model_optimization.python.core.quantization.keras.collab_opts.prune_preserve.prune_preserve_quantize_registry import (  # noqa: E501
    Default8bitPrunePreserveQuantizeRegistry,
)

from kerasvision import _compat
from kerasvision.backend import keras, tf
from kerasvision.compress.pruning import iter_layers, prunable_kernels, prunable_layers
from kerasvision.config import QAT_MODES
from kerasvision.errors import KVError

# ``auto`` picks PQAT when at least this fraction of the prunable kernels is zero.
AUTO_PQAT_SPARSITY = 0.2

_UNSUPPORTED = re.compile(r"Layer (\S+?):<class")
_DEFAULT_REGISTRY = (
    tfmot.quantization.keras.default_8bit.Default8BitQuantizeScheme().get_quantize_registry()
)


@dataclass
class QuantizedModel:
    """What ``quantize_model`` returns.

    Attributes:
        model: The QAT model (fake-quantized layers, float32 weights).
        scheme: ``qat`` or ``pqat``.
        float_layers: Layers left unquantized, as ``name (Class)``.
        inlined: Nested models whose layers were inlined.
    """

    model: keras.Model
    scheme: str
    float_layers: list[str] = field(default_factory=list)
    inlined: list[str] = field(default_factory=list)


def kernel_sparsity(model) -> float:
    """Fraction of zeros in the kernels tfmot could prune (0 for a dense model)."""
    kernels = [k for layer in prunable_layers(model) for k in prunable_kernels(layer)]
    sizes = sum(k.size for k in kernels)
    zeros = sum(int(np.count_nonzero(k == 0)) for k in kernels)
    return zeros / sizes if sizes else 0.0


def resolve_mode(mode: str, model) -> str:
    """``qat`` or ``pqat`` for ``mode``; ``auto`` is PQAT for a pruned (sparse) model."""
    if mode not in QAT_MODES or mode == "off":
        raise KVError(f"unknown QAT mode '{mode}'; choose from: auto, qat, pqat")
    if mode == "auto":
        return "pqat" if kernel_sparsity(model) >= AUTO_PQAT_SPARSITY else "qat"
    return mode


def _replay(model, inputs: list, call_kwargs: dict) -> list:
    """Calls the layers of functional ``model`` on ``inputs``, inlining nested models."""
    tensors = {
        str(id(ref)): [x] * _compat.tensor_usage_count(model, str(id(ref)))
        for ref, x in zip(model.inputs, inputs, strict=True)
    }
    for node in _compat.nodes_by_depth(model):
        if node.is_input:
            continue
        args, kwargs = node.map_arguments(tensors)
        layer = node.layer
        if isinstance(layer, keras.Model):
            nested = {**call_kwargs, **{k: v for k, v in kwargs.items() if k == "training"}}
            outputs = _replay(
                layer,
                tf.nest.flatten((args, [v for k, v in kwargs.items() if k != "training"])),
                nested,
            )
        else:
            if "training" in call_kwargs and _compat.expects_training_arg(layer):
                kwargs = {"training": call_kwargs["training"], **kwargs}
            outputs = layer(*args, **kwargs)
        for out_id, value in zip(node.flat_output_ids, tf.nest.flatten(outputs), strict=True):
            tensors[out_id] = [value] * _compat.tensor_usage_count(model, out_id)
    return [tensors[str(id(ref))].pop() for ref in model.outputs]


def inline_nested(model) -> tuple[keras.Model, list[str]]:
    """A flat functional model with the same layers (weights shared) and outputs.

    Returns:
        The flat model (``model`` itself when nothing is nested) and the names
        of the models that were inlined.
    """
    nested = [layer.name for layer in model.layers if isinstance(layer, keras.Model)]
    if not nested:
        return model, []
    for layer in model.layers:
        if isinstance(layer, keras.Model) and not _compat.is_functional(layer):
            raise KVError(
                f"cannot quantize the subclassed model '{layer.name}' inside {model.name}"
            )
    inputs = [keras.Input(type_spec=x.type_spec, name=x.name.split(":")[0]) for x in model.inputs]
    outputs = _replay(model, inputs, {})
    flat = keras.Model(inputs, outputs if len(outputs) > 1 else outputs[0], name=model.name)
    return flat, nested


class _PrunePreserveRegistry(Default8bitPrunePreserveQuantizeRegistry):
    """tfmot's PQAT registry, claiming only the layers it can really quantize.

    tfmot's says it supports every layer without trainable weights, then
    fails on those the default 8-bit registry it delegates to does not know
    (``Rescaling`` feeding a quantized layer).
    """

    def supports(self, layer) -> bool:
        return _DEFAULT_REGISTRY.supports(layer)


class _PrunePreserveScheme(tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme):
    def get_quantize_registry(self):
        return _PrunePreserveRegistry()


def _scheme(mode: str):
    if mode == "pqat":
        return _PrunePreserveScheme()
    return tfmot.quantization.keras.default_8bit.Default8BitQuantizeScheme()


def _annotate(model, skip: set[str]):
    def annotate(layer):
        if isinstance(layer, keras.layers.InputLayer) or layer.name in skip:
            return layer
        return tfmot.quantization.keras.quantize_annotate_layer(layer)

    return keras.models.clone_model(model, clone_function=annotate)


def custom_layers(model) -> dict[str, type]:
    """The layer classes of ``model`` that are not Keras' own, by class name.

    tfmot rebuilds the model from its config with only its own custom objects
    (ConvNeXt's ``LayerScale`` then fails with "'str' object is not callable"),
    so these are put in scope for it.

    Raises:
        KVError: Naming the first layer whose class cannot be rebuilt from its
            config, before any training starts.
    """
    found = {}
    for layer in model.layers:
        cls = type(layer)
        if cls.__module__.startswith(("tf_keras.src.layers", "tf_keras.src.engine")):
            continue
        try:
            cls.from_config(layer.get_config())
        except Exception as error:  # any failure means tfmot could not rebuild it either
            raise KVError(
                f"--qat cannot quantize {model.name}: its layer '{layer.name}' "
                f"({cls.__name__}) cannot be rebuilt from its config ({error})"
            ) from None
        found[cls.__name__] = cls
    return found


def quantize_model(model, mode: str = "qat") -> QuantizedModel:
    """Prepares a trained float model for quantization-aware training.

    Args:
        model: A functional model (stripped of pruning wrappers).
        mode: ``qat``, ``pqat`` (keep the zeros of a pruned model) or ``auto``
            (PQAT when at least 20% of the prunable kernels are zero).
            Defaults to ``qat``.

    Returns:
        A ``QuantizedModel``: the QAT model and the layers left float.

    Raises:
        KVError: When no layer can be quantized.
    """
    scheme_name = resolve_mode(mode, model)
    flat, inlined = inline_nested(model)
    custom = custom_layers(flat)
    scheme = _scheme(scheme_name)
    registry = scheme.get_quantize_registry()
    # BatchNormalization is folded into the convolution before it by tfmot's transforms.
    skip = {
        layer.name
        for layer in flat.layers
        if not isinstance(layer, keras.layers.InputLayer | keras.layers.BatchNormalization)
        and not registry.supports(layer)
    }
    while True:
        if len(skip) >= len(flat.layers) - len(flat.inputs):
            raise KVError(f"tfmot cannot quantize any layer of {model.name}")
        try:
            with tfmot.quantization.keras.quantize_scope(custom):
                qat = tfmot.quantization.keras.quantize_apply(_annotate(flat, skip), scheme)
            break
        except RuntimeError as error:  # "Layer NAME:<class ...> is not supported"
            match = _UNSUPPORTED.search(str(error))
            if not match or match.group(1) in skip:
                raise
            skip.add(match.group(1))
    kinds = {layer.name: type(layer).__name__ for layer in flat.layers}
    float_layers = [f"{name} ({kinds[name]})" for name in kinds if name in skip]
    return QuantizedModel(qat, scheme_name, float_layers, inlined)


def is_quantized(model) -> bool:
    """Whether ``model`` holds tfmot quantization wrappers (a QAT model)."""
    return any(
        isinstance(layer, tfmot.quantization.keras.QuantizeWrapper) for layer in iter_layers(model)
    )


# Variables tfmot adds for QAT: the ranges its quantizers learn, and a step counter.
_QUANTIZER_VARIABLE = re.compile(r"(_min|_max|optimizer_step)(:\d+)?$")


def model_params(model) -> int:
    """Parameters of ``model``, leaving out the variables QAT adds (ranges, step).

    A QAT model then counts as many parameters as the float model it came from.
    """
    return int(
        sum(int(np.prod(w.shape)) for w in model.weights if not _QUANTIZER_VARIABLE.search(w.name))
    )


def quantize_scope():
    """The custom-object scope that loads QAT models (tfmot's ``quantize_scope``)."""
    return tfmot.quantization.keras.quantize_scope()
