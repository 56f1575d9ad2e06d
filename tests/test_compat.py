"""The tf_keras internals kerasvision relies on, each behind one function of ``_compat``."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np

from kerasvision import _compat
from kerasvision.backend import keras

PACKAGE = Path(__file__).resolve().parents[1] / "kerasvision"


def _branchy():
    inputs = keras.Input((4,), name="x")
    shared = keras.layers.Dense(4, name="shared")
    a = shared(inputs)
    b = keras.layers.Dense(4, name="side")(inputs)
    out = keras.layers.Add(name="add")([a, b])
    return keras.Model(inputs, out, name="branchy"), shared


def test_rename_changes_a_built_models_name():
    model, _ = _branchy()
    assert _compat.rename(model, "backbone").name == "backbone"


def test_is_functional_tells_graph_models_from_subclassed_ones():
    class Sub(keras.Model):
        def call(self, x):
            return x

    assert _compat.is_functional(_branchy()[0])
    assert not _compat.is_functional(Sub())


def test_nodes_by_depth_run_from_inputs_to_outputs():
    model, _ = _branchy()
    order = [node.layer.name for node in _compat.nodes_by_depth(model)]
    assert order[0] == "x" and order[-1] == "add"
    assert order.index("shared") < order.index("add")


def test_tensor_usage_count_counts_every_consumer_of_the_input():
    model, _ = _branchy()
    assert _compat.tensor_usage_count(model, str(id(model.inputs[0]))) == 2


def test_expects_training_arg_for_dropout_and_not_for_dense():
    assert _compat.expects_training_arg(keras.layers.Dropout(0.5))
    assert not _compat.expects_training_arg(keras.layers.Dense(2))


def test_inbound_layers_are_the_layers_feeding_a_layer():
    model, _ = _branchy()
    names = {layer.name for layer in _compat.inbound_layers(model.get_layer("add"))}
    assert names == {"shared", "side"}


def test_output_in_finds_a_shared_layers_output_in_the_second_model():
    _, shared = _branchy()
    inputs = keras.Input((4,))
    second = keras.Model(inputs, keras.layers.ReLU()(shared(inputs)))
    output = _compat.output_in(second, shared)
    assert output is not shared.output  # the first model's
    x = np.ones((1, 4), "float32")
    np.testing.assert_allclose(keras.Model(second.inputs, output)(x), shared(x))


def test_application_layers_rebuild_a_convnext_block():
    layer_scale = _compat.application_layers()["LayerScale"](1e-6, 8)
    rebuilt = type(layer_scale).from_config(layer_scale.get_config())
    assert rebuilt.projection_dim == 8


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_the_models_package_has_no_import_cycle():
    modules = {
        "kerasvision.models." + p.stem: p for p in (PACKAGE / "models").glob("*.py")
        if p.stem != "__init__"
    }  # fmt: skip
    graph = {name: {m for m in _imports(path) if m in modules} for name, path in modules.items()}
    # catalog loads the model modules by name (importlib); its edges, spelled out:
    graph["kerasvision.models.catalog"] |= {
        "kerasvision.models." + m
        for m in ("simple", "resnet_cifar", "mobilenet_cifar", "applications", "efficientnet_lite")
    }

    def reaches(start, target, seen=()):
        return any(n == target or (n not in seen and reaches(n, target, (*seen, n)))
                   for n in graph[start])  # fmt: skip

    assert not [name for name in graph if reaches(name, name)]
    assert not graph["kerasvision.models.registry"]


def test_no_module_outside_compat_touches_the_replaced_internals():
    internals = ("._name =", "_tensor_usage_count", "_make_node_key", "_network_nodes",
                 "_inbound_nodes", "_nodes_by_depth", "_is_graph_network")  # fmt: skip
    offenders = [
        f"{path.relative_to(PACKAGE)}: {word}"
        for path in PACKAGE.rglob("*.py")
        if path.name != "_compat.py"
        for word in internals
        if word in path.read_text(encoding="utf-8")
    ]
    assert offenders == []
