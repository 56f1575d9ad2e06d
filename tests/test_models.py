from __future__ import annotations

import numpy as np
import pytest

from kerasvision.backend import keras
from kerasvision.config import build_config, stage_configs
from kerasvision.errors import KVError
from kerasvision.models import create_model, get_model_spec, list_models, register_model


def test_builtin_models_are_registered():
    assert {
        "simple_cnn",
        "tiny_cnn",
        "resnet8",
        "resnet20",
        "resnet56",
        "resnet50",
        "airbench",
        "mobilenet_v2",
        "mobilenet_v2_cifar",
    } <= set(list_models())
    assert list_models("resnet*") == [
        "resnet101",
        "resnet101_v2",
        "resnet152",
        "resnet152_v2",
        "resnet20",
        "resnet50",
        "resnet50_v2",
        "resnet56",
        "resnet8",
    ]


def test_unknown_model_suggests_the_closest():
    with pytest.raises(KVError, match="unknown model 'resnet2' .did you mean 'resnet20'"):
        create_model("resnet2", num_classes=10, input_shape=(32, 32, 3))


def test_registering_a_name_twice_fails():
    with pytest.raises(ValueError, match="already registered"):
        register_model("tiny_cnn")(lambda *, num_classes, input_shape: None)


@pytest.mark.parametrize("name", ["tiny_cnn", "simple_cnn", "resnet20", "mobilenet_v2_cifar"])
def test_models_take_raw_pixels_and_return_probabilities(name):
    model = create_model(name, num_classes=7, input_shape=(32, 32, 3))
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    probs = model.predict(x, verbose=0)
    assert probs.shape == (2, 7)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert model.layers[1].name == "normalize"
    assert model.get_layer("logits").units == 7


def test_cifar_resnet_depths_match_the_paper():
    r20 = create_model("resnet20", num_classes=10, input_shape=(32, 32, 3))
    r56 = create_model("resnet56", num_classes=10, input_shape=(32, 32, 3))
    convs = lambda m: [x for x in m.layers if isinstance(x, keras.layers.Conv2D)]  # noqa: E731
    # 6n+1 3x3 convs plus 2 projection shortcuts, and the dense layer: depth 6n+2.
    assert len([c for c in convs(r20) if c.kernel_size == (3, 3)]) == 19
    assert len([c for c in convs(r56) if c.kernel_size == (3, 3)]) == 55
    assert 0.26e6 < r20.count_params() < 0.28e6
    assert 0.85e6 < r56.count_params() < 0.87e6


def test_layer_names_are_deterministic():
    a = create_model("resnet20", num_classes=10, input_shape=(32, 32, 3))
    b = create_model("resnet20", num_classes=10, input_shape=(32, 32, 3))
    assert [layer.name for layer in a.layers] == [layer.name for layer in b.layers]
    assert "stage2_block1_proj_conv" in {layer.name for layer in a.layers}


def _cifar_mobilenet(width=0.35, **kwargs):
    return create_model(
        "mobilenet_v2_cifar", num_classes=10, input_shape=(32, 32, 3), width=width, **kwargs
    )


@pytest.mark.parametrize("student", ["recipe", "mobilenet_v2_cifar"])
def test_a_cifar10_edge_student_has_at_most_an_eighth_of_the_teachers_parameters(student):
    stages = dict(stage_configs(build_config("cifar10-edge")))
    teacher = create_model(stages["teacher"].model, num_classes=10, input_shape=(32, 32, 3))
    if student == "recipe":
        model, width = stages["student"].model, stages["student"].width
    else:  # the documented alternative: --student-model mobilenet_v2_cifar --student-width 0.35
        model, width = student, 0.35
    small = create_model(model, num_classes=10, input_shape=(32, 32, 3), width=width)
    assert small.count_params() <= teacher.count_params() / 8


def test_cifar_mobilenet_width_scales_every_layer():
    small, full = _cifar_mobilenet(width=0.35), _cifar_mobilenet(width=1.0)
    assert full.count_params() > 4 * small.count_params()
    assert [x.name for x in small.layers] == [x.name for x in full.layers]
    assert full.get_layer("head_conv").filters == 256


def test_cifar_mobilenet_is_built_of_inverted_residuals():
    model = _cifar_mobilenet()
    layer = model.get_layer
    # Stride-1 stem, then three downsamplings: 32 -> 16 -> 8 -> 4.
    assert layer("stem_conv").output_shape[1:3] == (32, 32)
    assert layer("head_conv").output_shape[1:3] == (4, 4)
    # Expand 1x1 to 6x the input, depthwise 3x3, project 1x1 with no activation.
    channels = layer("block2_expand_conv").input_shape[-1]
    assert layer("block2_expand_conv").filters == 6 * channels
    assert layer("block2_expand_conv").kernel_size == (1, 1)
    assert isinstance(layer("block2_dw_conv"), keras.layers.DepthwiseConv2D)
    assert layer("block2_project_conv").kernel_size == (1, 1)
    assert layer("block2_project_conv").activation is keras.activations.linear
    assert layer("block2_expand_relu").max_value == 6.0
    # The block with expansion 1 has no expansion layer.
    assert "block1_expand_conv" not in {x.name for x in model.layers}
    # A residual exactly where a block keeps its input's shape: the second of each group.
    adds = [x.name for x in model.layers if isinstance(x, keras.layers.Add)]
    assert adds == ["block3_add", "block5_add", "block7_add"]


def test_cifar_mobilenet_layer_names_are_deterministic():
    a, b = _cifar_mobilenet(), _cifar_mobilenet()
    assert [x.name for x in a.layers] == [x.name for x in b.layers]
    assert {"block4_dw_conv", "block7_project_bn", "head_conv"} <= {x.name for x in a.layers}


def test_cifar_mobilenet_width_rounds_channels_to_multiples_of_eight():
    model = _cifar_mobilenet(width=0.35)
    convs = [x for x in model.layers if isinstance(x, keras.layers.Conv2D)]
    assert len(convs) == 1 + 6 * 2 + 1 + 1  # stem, expand and project, block 1's project, head
    assert all(c.filters % 8 == 0 for c in convs)
    assert model.get_layer("head_conv").filters == 88  # 256 * 0.35 = 89.6


def test_cifar_mobilenet_rejects_a_bad_width_and_dropout():
    with pytest.raises(ValueError, match="width must be positive, got 0"):
        _cifar_mobilenet(width=0)
    with pytest.raises(ValueError, match="dropout must be in .0, 1., got 1.5"):
        _cifar_mobilenet(dropout=1.5)
    assert "head_dropout" not in {x.name for x in _cifar_mobilenet(dropout=0.0).layers}


def test_mobilenet_width_changes_size_and_nests_a_backbone():
    small = create_model("mobilenet_v2", num_classes=5, input_shape=(32, 32, 3), width=0.35)
    full = create_model("mobilenet_v2", num_classes=5, input_shape=(32, 32, 3), width=1.0)
    assert small.count_params() < full.count_params() / 3
    assert small.get_layer("backbone").count_params() > 0


def test_an_option_a_model_does_not_take_is_rejected():
    with pytest.raises(KVError, match="does not take the option width=0.5"):
        create_model("resnet20", num_classes=10, input_shape=(32, 32, 3), width=0.5)
    # Neutral defaults pass silently, so one config fits every model.
    create_model("resnet20", num_classes=10, input_shape=(32, 32, 3), width=1.0)


def test_imagenet_download_failure_is_one_clear_error(monkeypatch, tmp_path):
    def offline(*args, **kwargs):
        raise Exception("URL fetch failure on https://example: [Errno -2] Name not known")

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr("tf_keras.src.utils.data_utils.get_file", offline)
    with pytest.raises(KVError, match="could not download ImageNet weights.*--weights PATH"):
        create_model("mobilenet_v2", num_classes=3, input_shape=(96, 96, 3), weights="imagenet")


def test_weights_from_a_file_load_into_the_backbone(tmp_path):
    source = create_model("mobilenet_v2", num_classes=3, input_shape=(32, 32, 3), width=0.35)
    path = tmp_path / "backbone.weights.h5"
    source.get_layer("backbone").save_weights(path)
    model = create_model(
        "mobilenet_v2", num_classes=3, input_shape=(32, 32, 3), width=0.35, weights=str(path)
    )
    for a, b in zip(
        source.get_layer("backbone").get_weights(),
        model.get_layer("backbone").get_weights(),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)


def test_pretrained_weights_need_rgb_and_an_existing_file(tmp_path):
    with pytest.raises(KVError, match="not found"):
        create_model("resnet50", num_classes=3, input_shape=(32, 32, 3), weights="nope.h5")
    with pytest.raises(KVError, match="needs 3 channels"):
        create_model("resnet50", num_classes=3, input_shape=(32, 32, 1), weights="imagenet")


def test_spec_knows_default_size_and_options():
    spec = get_model_spec("mobilenet_v2")
    assert spec.default_size == 224 and spec.pretrained
    assert {"width", "weights", "dropout"} <= set(spec.options)
