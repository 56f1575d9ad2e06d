from __future__ import annotations

import re

import pytest
import yaml

from kerasvision.config import (
    PruneConfig,
    TrainConfig,
    build_config,
    check_structure,
    compression_stages,
    config_from_dict,
    list_recipes,
    option_fields,
    override_config,
    stage_configs,
)
from kerasvision.errors import KVError
from kerasvision.fieldspec import ConfigError


def test_defaults_are_valid():
    config = build_config()
    assert config.dataset == "digits"
    assert config.model == "simple_cnn"


def test_override_config_sets_nested_keys_on_a_copy_and_validates():
    student = dict(stage_configs(build_config("cifar10-edge")))["student"]
    changed = override_config(student, {"augment": {"mix_prob": 1.0}, "epochs": 5})
    assert (changed.augment.mix_prob, changed.augment.cutmix, changed.epochs) == (1.0, 1.0, 5)
    assert (student.augment.mix_prob, student.epochs) == (0.5, 120)
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
    assert config.prune.structure == "2:4"  # not the base-60 number 124 that YAML reads
    assert config.qat == "auto" and config.prune.exclude == ["first_conv", "fc"]
    assert config.prune.sparsity == 0.5
    assert build_config(overrides={"qat": False}).qat == "off"
    nested = tmp_path / "nested.yaml"
    nested.write_text("prune:\n  sparsity: 0.5\n  structure: 2:4\n  exclude: first_conv, fc\n")
    assert build_config(str(nested)).prune == config.prune


@pytest.mark.parametrize("end", [0, 1.25])
def test_a_pruning_end_outside_the_run_is_rejected(end):
    with pytest.raises(KVError, match=f"prune.end must be in \\(0, 1\\], got {end}"):
        build_config(overrides={"prune": {"sparsity": 0.5, "end": end}})
    with pytest.raises(KVError, match=f"prune.end must be in \\(0, 1\\], got {end}"):
        build_config(overrides={"prune": 0.5, "prune_end": end})  # the old flat keys


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
    assert (pruned.init, pruned.prune.sparsity, pruned.qat) == ("a.keras", 0.5, "off")
    qat = stages["qat"]
    assert (qat.init, qat.prune.sparsity, qat.qat) == ("pruned", 0.0, "auto")
    plain = build_config(overrides={"prune": 0.5})
    assert compression_stages(plain) is plain


def _nested(key: str, value):
    """``{"prune": {"end": value}}`` for ``prune.end``."""
    *parents, last = key.split(".")
    out = {last: value}
    for parent in reversed(parents):
        out = {parent: out}
    return out


@pytest.mark.parametrize(
    "spec", [f for f in option_fields() if f.high is not None], ids=lambda f: f.key
)
def test_every_bounded_field_rejects_a_value_above_its_bound_naming_its_key(spec):
    value = spec.high * 2 + 1
    if spec.kind is int:
        value = int(value)
    with pytest.raises(ConfigError, match=f"^{re.escape(spec.key)} must be") as caught:
        build_config(overrides=_nested(spec.key, value))
    assert caught.value.key == spec.key


@pytest.mark.parametrize("spec", [f for f in option_fields() if f.choices], ids=lambda f: f.key)
def test_every_field_with_choices_takes_each_choice_and_rejects_others(spec):
    extra = {"prune": {"sparsity": 0.5}} if spec.key == "prune.structure" else {}
    for choice in spec.choices:
        config = build_config(overrides=_merge_nested(extra, _nested(spec.key, choice)))
        value = config
        for part in spec.key.split("."):
            value = getattr(value, part)
        assert value == choice
    with pytest.raises(ConfigError) as caught:
        build_config(overrides=_nested(spec.key, "no-such-choice"))
    assert caught.value.key == spec.key


def _merge_nested(a: dict, b: dict) -> dict:
    out = dict(a)
    for key, value in b.items():
        out[key] = {**out[key], **value} if isinstance(out.get(key), dict) else value
    return out


def test_every_field_has_help_and_each_flag_names_one_field():
    fields = option_fields()
    assert all(f.opt.help for f in fields)
    flags = [flag for f in fields for flag in f.opt.flags]
    assert len(flags) == len(set(flags))
    assert {f.key for f in fields} >= {"prune.sparsity", "prune.end", "augment.mix_prob"}


def test_old_flat_prune_keys_load_as_the_prune_section(tmp_path):
    old = build_config().to_dict()
    old.pop("prune")
    old.update(prune=0.5, prune_end=0.5, prune_structure="2:4", prune_exclude=["fc"])
    config = config_from_dict(old)  # a run directory written before the section
    assert config.prune == PruneConfig(sparsity=0.5, end=0.5, structure="2:4", exclude=["fc"])
    assert config_from_dict(config.to_dict()) == config


def test_old_keys_in_stages_and_set_style_overrides_keep_working():
    from kerasvision.cli.train import parse_set

    recipe = build_config("cifar10-edge-int8")
    overrides = parse_set(("prune=0.3", "prune-end=0.4", "stages.pruned.prune_end=0.25"))
    assert overrides == {"prune": 0.3, "prune-end": 0.4, "stages": {"pruned": {"prune_end": 0.25}}}
    stages = {"pruned": {"init": "a.keras", "prune": 0.5, "prune_end": 0.25}}
    config = build_config(overrides={**overrides, "stages": stages})
    assert (config.prune.sparsity, config.prune.end) == (0.3, 0.4)
    assert config.stages["pruned"]["prune"] == {"sparsity": 0.5, "end": 0.25}
    assert dict(stage_configs(config))["pruned"].prune.end == 0.25
    # A number for prune over a recipe's prune section sets only the sparsity.
    assert dict(stage_configs(recipe))["pruned"].prune.end == 0.5
    changed = override_config(dict(stage_configs(recipe))["pruned"], {"prune": 0.3})
    assert (changed.prune.sparsity, changed.prune.end) == (0.3, 0.5)


@pytest.mark.parametrize(
    ("key", "suggestion"),
    [
        ("mixup", "augment.mixup"),
        ("prune_sparsity", "prune.sparsity"),
        ("alpha", "distill.alpha"),
    ],
)
def test_an_unknown_key_that_belongs_in_a_section_is_answered_with_the_new_key(key, suggestion):
    with pytest.raises(KVError, match=f"unknown config key '{key}' .did you mean '{suggestion}'"):
        build_config(overrides={key: 0.2})


def test_the_2_4_rule_is_one_check_for_the_config_and_the_library():
    with pytest.raises(ConfigError, match="prune.structure 2:4 .* prune.sparsity must be 0.5"):
        build_config(overrides={"prune": {"sparsity": 0.3, "structure": "2:4"}})
    with pytest.raises(ConfigError, match="^structure 2:4 .* sparsity must be 0.5, got 0.3"):
        check_structure(0.3, "2:4")


def test_resuming_a_run_written_with_the_old_flat_keys_compares_equal(tmp_path):
    from kerasvision.run import Run

    config = build_config(overrides={"prune": 0.5, "out": str(tmp_path)})
    old = config.to_dict()
    section = old.pop("prune")
    old.update(prune=0.5, prune_end=section["end"], prune_structure="unstructured")
    old["prune_exclude"] = section["exclude"]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(old))
    assert Run(tmp_path).prepare(config.to_dict()) is True  # resumes
    other = build_config(overrides={"prune": {"sparsity": 0.5, "end": 0.5}, "out": str(tmp_path)})
    with pytest.raises(KVError, match=r"differs in: prune\)"):
        Run(tmp_path).prepare(other.to_dict())


def test_validate_coerces_in_place_and_rejects_a_bad_edit():
    config = build_config()
    config.epochs = 3.0
    assert config.validate() is config and config.epochs == 3 and isinstance(config.epochs, int)
    config.augment.translate = 2
    with pytest.raises(ConfigError, match="augment.translate must be between 0 and 1, got 2"):
        config.validate()
