from __future__ import annotations

import pytest

from kerasvision.config import (
    TrainConfig,
    build_config,
    compression_stages,
    config_from_dict,
    list_recipes,
    override_config,
    stage_configs,
)
from kerasvision.errors import KVError


def test_defaults_are_valid():
    config = build_config()
    assert config.dataset == "digits"
    assert config.model == "simple_cnn"


def test_override_config_sets_nested_keys_on_a_copy_and_validates():
    student = dict(stage_configs(build_config("cifar10-edge")))["student"]
    changed = override_config(student, {"augment": {"mix_prob": 1.0}, "epochs": 5})
    assert (changed.augment.mix_prob, changed.augment.cutmix, changed.epochs) == (1.0, 1.0, 5)
    assert (student.augment.mix_prob, student.epochs) == (0.5, 60)
    with pytest.raises(KVError, match="augment.mixx"):
        override_config(student, {"augment": {"mixx": 0.2}})


def test_overrides_win_over_recipe():
    config = build_config("cifar10-resnet20", {"epochs": 3, "augment": {"mixup": 0.2}})
    assert config.model == "resnet20"
    assert config.epochs == 3
    assert config.augment.mixup == 0.2
    assert config.augment.translate == 0.125  # from the recipe, untouched


def test_shipped_recipes_are_listed_and_valid():
    names = list_recipes()
    assert {"digits-simple", "cifar10-resnet20"} <= set(names)
    for name in names:
        build_config(name)


def test_unknown_key_is_rejected_with_a_suggestion():
    with pytest.raises(KVError, match=r"unknown config key 'epoch' \(did you mean 'epochs'\?\)"):
        build_config(overrides={"epoch": 3})


def test_unknown_nested_key_names_its_path():
    with pytest.raises(KVError, match="augment.mixpu.*did you mean 'mixup'"):
        build_config(overrides={"augment": {"mixpu": 0.2}})


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("epochs", 0, "epochs must be between 1"),
        ("batch_size", -4, "batch_size must be between 1"),
        ("lr", 0.0, "lr must be between"),
        ("val_split", 1.5, "val_split must be between"),
        ("channels", 2, "channels must be 1 or 3"),
        ("optimizer", "sgdd", "unknown optimizer 'sgdd' .did you mean 'sgd'"),
        ("epochs", "ten", "epochs must be a number, got 'ten'"),
    ],
)
def test_out_of_range_values_name_the_key_and_value(key, value, message):
    with pytest.raises(KVError, match=message):
        build_config(overrides={key: value})


def test_yaml_with_a_typo_in_a_key(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("model: resnet20\nbatch_sise: 32\n")
    with pytest.raises(KVError, match="batch_sise.*did you mean 'batch_size'"):
        build_config(str(recipe))


def test_broken_yaml_reports_the_line(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("model: resnet20\nepochs: [1, 2\n")
    with pytest.raises(KVError, match="not valid YAML at line"):
        build_config(str(recipe))


def test_missing_recipe_file_and_unknown_recipe_name(tmp_path):
    with pytest.raises(KVError, match="config file not found"):
        build_config(str(tmp_path / "missing.yaml"))
    with pytest.raises(KVError, match="unknown recipe 'digits-simpel'.*digits-simple"):
        build_config("digits-simpel")


def test_integers_become_floats_where_floats_are_expected():
    config = build_config(overrides={"lr": 1, "augment": {"translate": 0}})
    assert isinstance(config.lr, float)
    assert isinstance(config.augment.translate, float)


def test_round_trip_through_dict():
    config = build_config("cifar10-resnet20", {"epochs": 7})
    assert config_from_dict(config.to_dict()) == config


def test_default_run_dir_is_named_after_model_and_dataset():
    assert str(TrainConfig(model="resnet20", dataset="tfds:cifar10").run_dir).endswith(
        "runs/resnet20-cifar10"
    )
    assert str(TrainConfig(out="x/y").run_dir) == "x/y"


def test_the_training_guide_shows_each_shipped_recipe_as_it_is():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    guide = (root / "docs" / "training.md").read_text()
    for name in list_recipes():
        recipe = (root / "kerasvision" / "recipes" / f"{name}.yaml").read_text()
        assert recipe in guide, f"docs/training.md shows an outdated {name}.yaml"


def test_devices_are_parsed_into_tensorflow_names():
    from kerasvision.config import parse_devices

    assert parse_devices(None) is None
    assert parse_devices("gpu:0,GPU:1") == ["/gpu:0", "/gpu:1"]
    assert parse_devices("0, 1") == ["/gpu:0", "/gpu:1"]
    assert parse_devices(1) == ["/gpu:1"]  # a YAML number
    assert parse_devices("/device:CPU:0,cpu:1") == ["/cpu:0", "/cpu:1"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("tpu:0", "'tpu:0' is not a device"),
        ("gpu:0,gpu:0", "names a device twice"),
        ("cpu:0,gpu:0", "mixes CPUs and GPUs"),
    ],
)
def test_bad_devices_are_rejected(value, message):
    with pytest.raises(KVError, match=message):
        build_config(overrides={"devices": value})


def test_compression_keys_accept_their_yaml_spellings(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "prune: 0.5\nprune_structure: 2:4\nqat: true\nprune_exclude: first_conv, fc\n"
    )
    config = build_config(str(recipe))
    assert config.prune_structure == "2:4"  # not the base-60 number 124 that YAML reads
    assert config.qat == "auto" and config.prune_exclude == ["first_conv", "fc"]
    assert build_config(overrides={"qat": False}).qat == "off"


@pytest.mark.parametrize("end", [0, 1.25])
def test_a_pruning_end_outside_the_run_is_rejected(end):
    with pytest.raises(KVError, match=f"prune_end must be in \\(0, 1\\], got {end}"):
        build_config(overrides={"prune": 0.5, "prune_end": end})


def test_a_stage_starts_only_from_an_earlier_stage():
    stages = {"student": {}, "pruned": {"init": "studnet", "prune": 0.5}}
    with pytest.raises(KVError, match="starts from 'studnet', which is not an earlier stage"):
        build_config(overrides={"stages": stages})


def test_prune_with_qat_becomes_a_pruned_then_a_qat_stage():
    overrides = {"prune": 0.5, "qat": "auto", "init": "a.keras"}
    config = compression_stages(build_config(overrides=overrides))
    stages = dict(stage_configs(config))
    assert list(stages) == ["pruned", "qat"]
    pruned = stages["pruned"]
    assert (pruned.init, pruned.prune, pruned.qat) == ("a.keras", 0.5, "off")
    assert (stages["qat"].init, stages["qat"].prune, stages["qat"].qat) == ("pruned", 0.0, "auto")
    plain = build_config(overrides={"prune": 0.5})
    assert compression_stages(plain) is plain
