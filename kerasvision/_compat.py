"""The one place that touches private internals of tf_keras (Keras 2).

Some things kerasvision needs have no public API in tf_keras: renaming a
built model, walking a functional model's graph node by node, or finding which
of a shared layer's outputs belongs to a given model. Each such use is a named
function here, tested in ``tests/test_compat.py``, so that a tf_keras release
that changes an internal breaks one module and one test file, not five.
"""

from __future__ import annotations

from collections.abc import Iterator


def rename(model, name: str):
    """Renames a built model or layer in place (Keras has no public setter).

    Args:
        model: A ``keras.Model`` or layer.
        name: Its new name.

    Returns:
        ``model``.
    """
    model._name = name
    return model


def is_functional(model) -> bool:
    """Whether ``model`` is a graph (functional or built Sequential) network."""
    return bool(getattr(model, "_is_graph_network", False))


def nodes_by_depth(model) -> Iterator:
    """The nodes of functional ``model`` from its inputs to its outputs (deepest first)."""
    for depth in sorted(model._nodes_by_depth, reverse=True):
        yield from model._nodes_by_depth[depth]


def tensor_usage_count(model, tensor_id: str) -> int:
    """How many times functional ``model`` consumes the tensor with id ``tensor_id``.

    ``tensor_id`` is ``str(id(tensor))`` for a model input, or one of a node's
    ``flat_output_ids``.
    """
    return model._tensor_usage_count[tensor_id]


def expects_training_arg(layer) -> bool:
    """Whether ``layer.call`` takes a ``training`` argument."""
    return bool(getattr(layer, "_expects_training_arg", False))


def inbound_layers(layer) -> list:
    """Every layer whose output feeds ``layer``, over all the models it is called in."""
    found = []
    for node in layer._inbound_nodes:
        inbound = node.inbound_layers
        found.extend(inbound if isinstance(inbound, list) else [inbound])
    return found


def output_in(model, layer):
    """``layer``'s output in ``model``'s graph.

    ``layer.output`` is its output in the first model it was called in, which
    is another model when pruning or QAT wrapped the model around shared layers.
    """
    from tf_keras.src.engine.functional import _make_node_key

    for index in range(len(layer._inbound_nodes)):
        if _make_node_key(layer.name, index) in model._network_nodes:
            return layer.get_output_at(index)
    return layer.output


def application_layers() -> dict[str, type]:
    """Layer classes of ``keras.applications`` models that Keras does not register.

    ConvNeXt's ``LayerScale`` and ``StochasticDepth`` live in a private module;
    a ConvNeXt model cannot be rebuilt from its config (saved, loaded, cloned)
    unless they are in a custom-object scope.
    """
    from tf_keras.src.applications import convnext

    return {"LayerScale": convnext.LayerScale, "StochasticDepth": convnext.StochasticDepth}


__all__ = [
    "application_layers",
    "expects_training_arg",
    "inbound_layers",
    "is_functional",
    "nodes_by_depth",
    "output_in",
    "rename",
    "tensor_usage_count",
]
