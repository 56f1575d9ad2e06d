"""``kv train``'s options and the docs' option tables are made from the config's fields."""

from __future__ import annotations

from pathlib import Path

import pytest

from kerasvision.cli.main import cli
from kerasvision.cli.train import (
    DOCS_BEGIN,
    DOCS_END,
    FLAG_FIELDS,
    collect_overrides,
    option_help,
    options_table,
)
from kerasvision.config import build_config, option_fields

ROOT = Path(__file__).resolve().parents[1]
NOT_FIELDS = {"recipe", "no_augment", "set_items", "overwrite", "help"}


def _train_options() -> dict[str, object]:
    return {p.name: p for p in cli.commands["train"].params if p.name not in NOT_FIELDS}


def test_every_field_with_flags_is_an_option_with_its_help_and_choices():
    options = _train_options()
    with_flags = [f for f in option_fields() if f.opt.flags]
    assert set(options) == {f.key.replace(".", "_") for f in with_flags}
    for spec in with_flags:
        option = options[spec.key.replace(".", "_")]
        assert tuple(option.opts) == spec.opt.flags
        assert option.help == option_help(spec)
        assert spec.opt.help.replace("`", "") in option.help
        assert option.default is None  # only what is typed overrides the recipe
        if spec.choices:
            assert option.metavar.split("|") == [str(c) for c in spec.choices]
        else:
            assert option.metavar is None


def test_the_help_shows_the_fields_default_and_range():
    by_key = {f.key: f for f in FLAG_FIELDS}
    assert "(default: 0.75)" in option_help(by_key["prune.end"])
    assert "Range (0, 1]" in option_help(by_key["prune.end"])
    assert "(default: first_conv,classifier)" in option_help(by_key["prune.exclude"])
    assert "(default: the model's)" in option_help(by_key["dropout"])


def test_each_option_sets_its_config_key():
    params = {f.key.replace(".", "_"): None for f in FLAG_FIELDS}
    typed = {"prune_sparsity": 0.5, "prune_end": 0.5, "augment_flip": "none", "epochs": 3}
    params.update(typed, distill_alpha=0.0)
    overrides = collect_overrides(params)
    assert overrides == {
        "prune": {"sparsity": 0.5, "end": 0.5},
        "augment": {"flip": "none"},
        "distill": {"alpha": 0.0},
        "epochs": 3,
    }
    config = build_config(overrides=overrides)
    assert (config.prune.sparsity, config.prune.end, config.augment.flip) == (0.5, 0.5, "none")


def test_the_training_guide_holds_exactly_the_generated_option_tables():
    guide = (ROOT / "docs" / "training.md").read_text(encoding="utf-8")
    assert guide.count(DOCS_BEGIN) == 1 and guide.count(DOCS_END) == 1
    shown = guide.split(DOCS_BEGIN)[1].split(DOCS_END)[0].strip()
    assert shown == options_table(), (
        "docs/training.md's option tables are out of date: run "
        "python -c 'from kerasvision.cli.train import update_docs; update_docs()'"
    )


def test_the_option_tables_list_every_config_field_once():
    table = options_table()
    for spec in option_fields():
        assert table.count(f"| `{spec.key}` |") == 1, spec.key


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--prune-end", "0"], "kv: error: --prune-end must be in (0, 1], got 0\n"),
        (["--set", "prune.end=0"], "kv: error: prune.end must be in (0, 1], got 0\n"),
        (["--set", "prune_end=0"], "kv: error: prune.end must be in (0, 1], got 0\n"),
        (["--optimizer", "adm"], "kv: error: unknown --optimizer 'adm' (did you mean 'adam'?)"),
    ],
)
def test_errors_name_the_option_typed_or_else_the_config_key(tmp_path, capsys, args, message):
    from kerasvision.cli.errors import run_cli

    assert run_cli(cli, ["train", *args, "-o", str(tmp_path / "run")]) == 1
    assert capsys.readouterr().err.startswith(message)
    assert not (tmp_path / "run").exists()
