"""The ImageNet families by name: table, normalization, weights cache, Lite, QAT, distillation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kerasvision.backend import keras
from kerasvision.errors import KVError
from kerasvision.models import create_model, get_model_spec, int8, list_models
from kerasvision.models.app_table import FAMILIES
from kerasvision.models.applications import normalize_layer
from kerasvision.models.int8 import int8_warning
from kerasvision.models.saving import load_model, save_model

ISSUE_NAMES = {
    "vgg16", "vgg19", "resnet50", "resnet101", "resnet152", "resnet50_v2", "resnet101_v2",
    "resnet152_v2", "inception_v3", "inception_resnet_v2", "xception", "densenet121",
    "mobilenet", "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large",
    *(f"efficientnet_b{i}" for i in range(8)),
    *(f"efficientnet_v2_{v}" for v in ("b0", "b1", "b2", "b3", "s")),
    "convnext_tiny", "nasnet_mobile", *(f"efficientnet_lite{i}" for i in range(5)),
}  # fmt: skip
# The smallest member of each design: the one that trains a step, saves and loads in
# the slow suite (the larger members share its builder and are built, and their
# parameters checked against the cached table, by the test after it).
REPRESENTATIVES = [
    "vgg16", "resnet50", "resnet50_v2", "inception_v3", "inception_resnet_v2", "xception",
    "densenet121", "mobilenet", "mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0",
    "efficientnet_v2_b0", "convnext_tiny", "nasnet_mobile", "efficientnet_lite0",
]  # fmt: skip
PIXELS = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")


def _small(name: str, classes: int = 3, **options):
    size = get_model_spec(name).min_size or 32
    keras.utils.set_random_seed(0)
    return create_model(name, num_classes=classes, input_shape=(size, size, 3), **options)


def test_every_family_of_the_issue_is_registered_with_its_sizes():
    assert set(list_models()) >= ISSUE_NAMES
    assert get_model_spec("inception_v3").min_size == 75
    assert get_model_spec("xception").min_size == 71
    assert get_model_spec("efficientnet_b7").default_size == 600
    assert get_model_spec("efficientnet_v2_s").default_size == 384
    assert get_model_spec("efficientnet_lite4").default_size == 300
    with pytest.raises(KVError, match="inception_v3 needs inputs of at least 75x75"):
        create_model("inception_v3", num_classes=3, input_shape=(64, 64, 3))


@pytest.mark.parametrize(
    "name", ["vgg16", "resnet50_v2", "inception_v3", "densenet121", "mobilenet", "nasnet_mobile"]
)
def test_normalization_matches_keras_preprocess_input(name):
    family = FAMILIES[name]
    module = {
        "vgg16": keras.applications.vgg16,
        "resnet50_v2": keras.applications.resnet_v2,
        "inception_v3": keras.applications.inception_v3,
        "densenet121": keras.applications.densenet,
        "mobilenet": keras.applications.mobilenet,
        "nasnet_mobile": keras.applications.nasnet,
    }[name]
    ours = normalize_layer(family.normalization, 3)(PIXELS).numpy()
    expected = module.preprocess_input(PIXELS.copy())
    if family.first_conv:  # Caffe weights take BGR: the first conv's channels are flipped
        expected = expected[..., ::-1]
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("name", ["mobilenet_v3_small", "efficientnet_v2_b0", "convnext_tiny"])
def test_normalization_equals_the_builtin_preprocessing_it_replaces(name):
    family = FAMILIES[name]
    factory = getattr(keras.applications, family.factory)
    builtin = factory(include_top=False, weights=None, input_shape=(32, 32, 3))
    first_conv = next(x for x in builtin.layers if isinstance(x, keras.layers.Conv2D | keras.Model))
    before = builtin.layers[builtin.layers.index(first_conv) - 1]
    expected = keras.Model(builtin.input, before.output)(PIXELS).numpy()
    ours = normalize_layer(family.normalization, 3)(PIXELS).numpy()
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-5)


def test_efficientnet_normalizes_with_imagenet_mean_and_std_inside():
    model = _small("efficientnet_b0")
    backbone = model.get_layer("backbone")
    norm = next(x for x in backbone.layers if isinstance(x, keras.layers.Normalization))
    out = keras.Model(backbone.input, norm.output)(PIXELS).numpy()
    expected = (PIXELS / 255 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def _cache_file(home, model_file: str, source) -> None:
    folder = home / ".keras" / "models"
    folder.mkdir(parents=True)
    source.save_weights(folder / model_file)


def test_imagenet_weights_are_read_from_the_keras_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr("kerasvision.models.weights.download", _no_network)
    source = keras.applications.MobileNetV2(
        include_top=False, weights=None, input_shape=(32, 32, 3), alpha=0.35, pooling="avg"
    )
    # Keras' file for width 0.35 at an input size without its own file (32 -> 224).
    _cache_file(
        tmp_path, "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5", source
    )
    model = create_model(
        "mobilenet_v2", num_classes=3, input_shape=(32, 32, 3), width=0.35, weights="imagenet"
    )
    for a, b in zip(source.get_weights(), model.get_layer("backbone").get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def _no_network(url, file_name):
    raise Exception(f"URL fetch failure on {url}: [Errno -2] Name or service not known")


def test_offline_imagenet_names_the_file_and_folder_keras_would_use(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr("kerasvision.models.weights.download", _no_network)
    with pytest.raises(KVError) as error:
        create_model("densenet121", num_classes=3, input_shape=(32, 32, 3), weights="imagenet")
    message = str(error.value)
    assert "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5 (from https://" in message
    assert f"in {tmp_path}/.keras/models/" in message
    assert "--weights PATH" in message


def test_caffe_weights_from_a_file_flip_the_first_conv_to_rgb(tmp_path):
    source = keras.applications.VGG16(
        include_top=False, weights=None, input_shape=(32, 32, 3), pooling="avg"
    )
    path = tmp_path / "vgg16.weights.h5"
    source.save_weights(path)
    model = create_model("vgg16", num_classes=3, input_shape=(32, 32, 3), weights=str(path))
    kernel = model.get_layer("backbone").get_layer("block1_conv1").get_weights()[0]
    np.testing.assert_array_equal(
        kernel, source.get_layer("block1_conv1").get_weights()[0][:, :, ::-1]
    )


def test_a_mobilenet_v3_width_without_weights_is_refused_with_imagenet():
    with pytest.raises(KVError, match="ImageNet weights exist for width .0.75, 1.0., got 0.5"):
        create_model(
            "mobilenet_v3_small", num_classes=3, input_shape=(32, 32, 3), width=0.5,
            weights="imagenet",
        )  # fmt: skip
    with pytest.raises(KVError, match="does not take the option width=0.5"):
        create_model("resnet101", num_classes=3, input_shape=(32, 32, 3), width=0.5)


def _blocks(model) -> list[str]:
    names = [x.name for x in model.get_layer("backbone").layers]
    return sorted({n.split("_")[0] for n in names if n.startswith("block")})


def test_efficientnet_lite_is_relu6_without_squeeze_excite_and_fixed_stem_and_head():
    lite0, lite4 = _small("efficientnet_lite0"), _small("efficientnet_lite4")
    for model in (lite0, lite4):
        inner = model.get_layer("backbone").layers
        assert not any(isinstance(x, keras.layers.Multiply) for x in inner)
        relus = [x for x in inner if isinstance(x, keras.layers.ReLU)]
        assert relus and all(x.max_value == 6.0 for x in relus)
        assert not any(getattr(x, "activation", None) is keras.activations.swish for x in inner)
        assert model.get_layer("backbone").get_layer("stem_conv").filters == 32
        assert model.get_layer("backbone").get_layer("top_conv").filters == 1280
    # Published repeats: B0's 1,2,2,3,3,4,1; Lite4 (depth 1.8) scales all but the first and last.
    assert len(_blocks(lite0)) == 16
    assert len(_blocks(lite4)) == 1 + 4 + 4 + 6 + 6 + 8 + 1
    assert 3.3e6 < lite0.count_params() < 3.5e6  # 4.65M with 1000 classes, as published


def test_efficientnet_lite_layer_names_are_deterministic():
    a, b = _small("efficientnet_lite1"), _small("efficientnet_lite1")
    names = lambda m: [x.name for x in m.get_layer("backbone").layers]  # noqa: E731
    assert names(a) == names(b)
    assert {"block2b_expand_conv", "block2b_add", "block7a_project_bn"} <= set(names(a))


def test_efficientnet_lite_takes_a_weights_file_but_has_no_imagenet(tmp_path):
    source = _small("efficientnet_lite0")
    path = tmp_path / "lite0.weights.h5"
    source.get_layer("backbone").save_weights(path)
    model = _small("efficientnet_lite0", weights=str(path))
    for a, b in zip(
        source.get_layer("backbone").get_weights(),
        model.get_layer("backbone").get_weights(),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(KVError, match="no ImageNet weights for efficientnet_lite0"):
        _small("efficientnet_lite0", weights="imagenet")


def test_int8_warning_names_the_families_known_to_lose_accuracy():
    assert "tensorflow/tpu#549" in int8_warning("efficientnet_b3")
    assert "efficientnet_lite" in int8_warning("efficientnet_b3")
    assert "LayerNormalization" in int8_warning("convnext_tiny")
    assert int8_warning("resnet50") is None
    assert int8_warning("efficientnet_lite2") is None
    assert int8_warning("not_a_model") is None


def test_kv_models_filters_by_pattern_with_flops_and_int8(capsys):
    from kerasvision.cli.errors import run_cli
    from kerasvision.cli.main import cli

    assert run_cli(cli, ["models", "efficientnet_lite*", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == [f"efficientnet_lite{i}" for i in range(5)]
    built = create_model("efficientnet_lite0", num_classes=10, input_shape=(224, 224, 3))
    assert rows[0]["params"] == built.count_params()
    assert rows[0]["flops"] < rows[4]["flops"]
    measured = int8.measured()
    for row in rows:  # the measured agreement where bench_backbones has one, else the verdict
        figures = measured.get(row["name"])
        expected = f"{100 * figures['int8_agreement']:.1f}% agree" if figures else None
        assert row["int8"] == (expected or "good (ReLU6, no SE)")


def test_the_int8_column_reads_the_measured_table_and_falls_back_to_the_family(
    tmp_path, monkeypatch
):
    table = tmp_path / "int8_measured.json"
    table.write_text(json.dumps({"models": {"resnet50": {"int8_agreement": 0.9876}}}))
    monkeypatch.setattr(int8, "MEASURED_FILE", table)
    int8.measured.cache_clear()
    try:
        assert int8.int8_column("resnet50", "relu_bn") == "98.8% agree"
        assert int8.int8_column("resnet101", "relu_bn") == "good (ReLU+BN)"
        assert int8.int8_column("simple_cnn", None) == "-"
        monkeypatch.setattr(int8, "MEASURED_FILE", tmp_path / "absent.json")
        int8.measured.cache_clear()
        assert int8.int8_column("resnet50", "relu_bn") == "good (ReLU+BN)"
    finally:
        int8.measured.cache_clear()


def _train_save_load(name: str, tmp_path, train: bool = True) -> None:
    model = _small(name)
    size = model.input_shape[1]
    x = np.random.default_rng(0).uniform(0, 255, (2, size, size, 3)).astype("float32")
    if train:
        model.compile("adam", "categorical_crossentropy")
        loss = model.train_on_batch(x, np.eye(3)[[0, 1]])
        assert np.isfinite(loss)
    path = save_model(model, tmp_path / f"{name}.keras")
    loaded = load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)


@pytest.mark.parametrize("name", ["mobilenet_v3_small", "efficientnet_lite0", "mobilenet"])
def test_a_family_trains_a_step_and_saves_and_loads(name, tmp_path):
    _train_save_load(name, tmp_path)


@pytest.fixture(autouse=True)
def _free_graphs():
    yield
    keras.backend.clear_session()  # thirty big models would otherwise stay in memory


@pytest.mark.slow
@pytest.mark.parametrize("name", REPRESENTATIVES)
def test_every_family_builds_at_its_minimum_size_trains_and_saves(name, tmp_path):
    _train_save_load(name, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ISSUE_NAMES - set(REPRESENTATIVES)))
def test_every_other_member_builds_at_its_minimum_size_with_the_cached_parameters(name):
    from kerasvision.models.cached_stats import STATS
    from kerasvision.models.flops import backbone_params

    model = _small(name, classes=10)
    assert model.output_shape == (None, 10)
    if name in STATS:
        assert backbone_params(model) == (STATS[name].backbone_params, STATS[name].features)


def test_qat_quantizes_mobilenet_v3_leaving_its_hard_swish_float():
    from kerasvision.compress.qat import quantize_model

    quantized = quantize_model(_small("mobilenet_v3_small"))
    assert quantized.inlined == ["backbone"]
    kinds = {entry.split(" (")[1] for entry in quantized.float_layers}
    assert kinds == {"Rescaling)", "TFOpLambda)", "Multiply)"}
    assert any("QuantizeWrapper" in type(x).__name__ for x in quantized.model.layers)


@pytest.mark.slow
def test_qat_rebuilds_convnext_with_its_layer_scale():
    from kerasvision.compress.qat import quantize_model

    quantized = quantize_model(_small("convnext_tiny"))
    assert any("LayerScale" in entry for entry in quantized.float_layers)


def test_qat_refuses_a_layer_it_cannot_rebuild_before_training():
    from kerasvision.compress.qat import quantize_model

    class NoConfig(keras.layers.Layer):
        def __init__(self, scale_fn, **kwargs):  # a function: no config can hold it
            super().__init__(**kwargs)
            self.scale_fn = scale_fn

        def call(self, x):
            return self.scale_fn(x)

    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = NoConfig(lambda t: 2.0 * t, name="odd_scale")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(2, name="logits")(x), name="odd")
    with pytest.raises(KVError, match="layer 'odd_scale' .NoConfig. cannot be rebuilt"):
        quantize_model(model)


def _distill_step(teacher_name: str, teacher_size: int, student_name: str, student_size: int):
    from kerasvision.distill import Distiller

    keras.utils.set_random_seed(0)
    teacher = create_model(teacher_name, num_classes=3, input_shape=(teacher_size, teacher_size, 3))
    student = create_model(student_name, num_classes=3, input_shape=(student_size, student_size, 3))
    distiller = Distiller(teacher=teacher, student=student)
    distiller.compile(optimizer="adam", metrics=["accuracy"])
    x = np.random.default_rng(0).uniform(0, 255, (2, student_size, student_size, 3))
    logs = distiller.train_on_batch(x.astype("float32"), np.eye(3)[[0, 2]], return_dict=True)
    assert np.isfinite(logs["distillation_loss"]) and logs["distillation_loss"] > 0
    assert distiller.teacher_inputs(x.astype("float32")).shape[1:3] == (teacher_size, teacher_size)


def test_an_imagenet_size_mobilenet_v3_teacher_distills_into_a_32_pixel_student():
    _distill_step("mobilenet_v3_small", 224, "tiny_cnn", 32)


@pytest.mark.slow
def test_an_imagenet_size_efficientnet_teacher_distills_into_a_96_pixel_student():
    _distill_step("efficientnet_b0", 224, "mobilenet_v2_cifar", 96)
