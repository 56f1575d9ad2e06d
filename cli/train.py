"""``kv train``: options, recipe and overrides in, a run directory out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import yaml

from kerasvision.config import option_fields
from kerasvision.fieldspec import SpecField

# The options of ``kv train`` are made from the config's fields (``Opt.flags``):
# every field with flags is an option, with the field's help. Every option
# defaults to None so that only what the user typed overrides the recipe.
FLAG_FIELDS: tuple[SpecField, ...] = tuple(f for f in option_fields() if f.opt.flags)


def _param(spec: SpecField) -> str:
    """The click parameter name of a field (``augment.flip`` -> ``augment_flip``)."""
    return spec.key.replace(".", "_")


def _default_text(spec: SpecField) -> str:
    """The default as docs and help show it (``0.75``, ``first_conv,classifier``)."""
    if spec.default is None:
        return spec.opt.none or "none"
    if isinstance(spec.default, bool):
        return str(spec.default).lower()
    if isinstance(spec.default, list):
        return ",".join(spec.default)
    if isinstance(spec.default, float):
        return f"{spec.default:g}"
    return str(spec.default)


def option_help(spec: SpecField) -> str:
    """The ``--help`` text of a field's option: its help, range and default.

    The choices of a field with choices are its option's metavar (``sgd|adam|adamw``).
    """
    parts = [spec.opt.help.replace("`", "")]
    if spec.range_text:
        parts.append(f"Range {spec.range_text}.")
    parts.append(f"(default: {_default_text(spec).replace('`', '')})")
    return " ".join(parts)


def _click_type(spec: SpecField) -> Any:
    return {int: int, float: float}.get(spec.kind, str)


def _complete_choices(spec: SpecField):
    def complete(ctx, param, incomplete):
        return [str(c) for c in spec.choices if str(c).startswith(incomplete)]

    return complete if spec.choices else None


_NO_AUGMENT = {
    "flip": "none",
    "rotation": 0.0,
    "zoom": 0.0,
    "translate": 0.0,
    "contrast": 0.0,
    "mixup": 0.0,
    "cutmix": 0.0,
}


def _set(overrides: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node = overrides
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value


def parse_set(items: tuple[str, ...]) -> dict[str, Any]:
    """Parses ``--set key=value`` items (values as YAML scalars) into overrides."""
    from kerasvision.errors import KVError

    overrides: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise KVError(f"--set takes KEY=VALUE, got '{item}'")
        _set(overrides, key.strip(), yaml.safe_load(value) if value else None)
    return overrides


def collect_overrides(params: dict[str, Any]) -> dict[str, Any]:
    """The config overrides the user gave on the command line."""
    overrides = parse_set(params.pop("set_items", ()))
    if params.pop("no_augment", False):
        overrides.setdefault("augment", {}).update(_NO_AUGMENT)
    for spec in FLAG_FIELDS:
        value = params.get(_param(spec))
        if value is not None:
            _set(overrides, spec.key, value)
    return overrides


def _option(spec: SpecField):
    """The click option of a field."""
    extra = {}
    if spec.opt.flag_value is not None:  # --qat alone means --qat auto
        extra = {"is_flag": False, "flag_value": spec.opt.flag_value}
    if spec.kind is bool:  # --whiten/--no-whiten; unset stays None
        flags = [f"{flag}/--no-{flag[2:]}" for flag in spec.opt.flags]
        return click.option(*flags, _param(spec), default=None, help=option_help(spec))
    return click.option(
        *spec.opt.flags,
        _param(spec),
        type=_click_type(spec),
        default=None,
        help=option_help(spec),
        metavar="|".join(map(str, spec.choices)) if spec.choices else None,
        shell_complete=_complete_choices(spec),
        **extra,
    )


def _values_text(spec: SpecField) -> str:
    if spec.choices:
        return ", ".join(f"`{c}`" for c in spec.choices)
    return spec.range_text


def options_table() -> str:
    """The option tables of docs/training.md, one per group, made from the config's fields.

    Every config field is a row; one without flags is set with ``--set`` or
    in a recipe.
    """
    groups: dict[str, list[str]] = {}
    for spec in option_fields():
        option = ", ".join(f"`{flag}`" for flag in spec.opt.flags) or "(`--set`)"
        default = _default_text(spec)
        if spec.default is not None and "`" not in default:
            default = f"`{default}`"
        row = f"| {option} | `{spec.key}` | {default} | {_values_text(spec)} | {spec.opt.help} |"
        groups.setdefault(spec.opt.group, []).append(row)
    header = "| option | config key | default | values | what |\n| --- | --- | --- | --- | --- |"
    return "\n\n".join(
        f"**{group}**\n\n{header}\n" + "\n".join(rows) for group, rows in groups.items()
    )


DOCS_BEGIN = "<!-- options table: made by cli/train.py options_table(); do not edit -->"
DOCS_END = "<!-- end of options table -->"


def update_docs(path: str = "docs/training.md") -> None:
    """Rewrites the option tables of ``path`` between ``DOCS_BEGIN`` and ``DOCS_END``."""
    from kerasvision.fileio import write_text

    text = Path(path).read_text(encoding="utf-8")
    head, rest = text.split(DOCS_BEGIN)
    _, tail = rest.split(DOCS_END)
    write_text(path, f"{head}{DOCS_BEGIN}\n\n{options_table()}\n\n{DOCS_END}{tail}")


def _with_options(fn):
    for spec in reversed(FLAG_FIELDS):
        fn = _option(spec)(fn)
    return fn


@click.command()
@click.option("-c", "--config", "recipe", help="Recipe: a YAML file or a shipped recipe name.")
@_with_options
@click.option("--no-augment", is_flag=True, help="Turn all augmentation off.")
@click.option(
    "--set",
    "set_items",
    multiple=True,
    metavar="KEY=VALUE",
    help="Set any config key, e.g. --set augment.mixup=0.2 (repeatable).",
)
@click.option("--overwrite", is_flag=True, help="Replace a finished run in --out.")
def train(recipe: str | None, overwrite: bool, **params: Any) -> None:
    """Train an image classifier and write its run directory.

    Options override the recipe given with --config, which overrides the
    defaults. Rerunning the same command after a crash resumes the run.
    """
    from kerasvision.api import default_recipe
    from kerasvision.api import train as run_training
    from kerasvision.config import build_config
    from kerasvision.fieldspec import ConfigError

    typed = {_param(spec) for spec in FLAG_FIELDS if params.get(_param(spec)) is not None}
    overrides = collect_overrides(params)
    if recipe is None:
        recipe = default_recipe(overrides)
        if recipe is not None:
            click.echo(f"no --config: small images, training with the {recipe} recipe", err=True)
    try:
        config = build_config(recipe, overrides)
    except ConfigError as exc:  # name the option the user typed, not its config key
        flag = next((s.opt.flags[-1] for s in FLAG_FIELDS if s.key == exc.key), None)
        if flag is None or exc.key.replace(".", "_") not in typed:
            raise
        raise exc.naming(flag) from None
    print_summary(run_training(config, overwrite=overwrite))


def print_summary(run) -> None:
    """Prints a finished run's headline figures (its ``RunMetrics``) as a table."""
    from rich.console import Console
    from rich.table import Table

    m = run.metrics()
    table = Table(title=f"kv train: {m.model} on {m.dataset}", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    rows = [
        ("run directory", str(run.path)),
        ("parameters", f"{m.params:,}"),
        ("input", "x".join(map(str, m.input_shape))),
        ("images (train/val)", f"{m.counts['train']}/{m.counts['val']}"),
        ("epochs", str(m.epochs)),
        ("val accuracy", f"{m.val.accuracy:.4f}"),
        ("val top-5", f"{m.val.top5:.4f}"),
    ]
    if m.test is not None:
        rows.append(("test accuracy", f"{m.test.accuracy:.4f}"))
    dist = m.distribution
    if dist.replicas > 1:
        rows.append(
            (
                "replicas",
                f"{dist.replicas} ({dist.strategy}, {dist.workers} worker(s)), "
                f"global batch {dist.global_batch_size}, lr {dist.lr:g}",
            )
        )
    rows += [
        ("train time", f"{m.train_seconds:.1f} s"),
        ("images/s", f"{m.images_per_s:,.0f}" if m.images_per_s else "-"),
    ]
    if m.teacher is not None:
        rows.append(("teacher params", f"{m.teacher.params:,}"))
    if m.pruning is not None:
        p = m.pruning
        rows.append(
            (
                "sparsity",
                f"{p.sparsity:.1%} of the pruned weights ({p.structure}), "
                f"{p.model_sparsity:.1%} of the model",
            )
        )
        rows.append(("gzip size", f"{p.gzip_bytes:,} bytes ({m.final_model}, gzipped)"))
    if m.qat is not None:
        kept = ", ".join(m.qat.float_layers) or "none"
        rows.append((m.qat.scheme.upper(), f"quantization-aware; float layers: {kept}"))
    if m.stages and m.budget_minutes and m.wall_seconds is not None:
        rows.append(("time budget", f"{m.wall_seconds / 60:.1f} of {m.budget_minutes:g} min"))
    for name, stage in (m.stages or {}).items():
        given = f" of {stage.budget_minutes:g}" if stage.budget_minutes else ""
        rows.append(
            (
                f"stage {name}",
                f"{stage.model}, {stage.params:,} params, {stage.epochs} epochs in "
                f"{stage.train_seconds / 60:.1f}{given} min, val accuracy {stage.val.accuracy:.4f}",
            )
        )
    for row in rows:
        table.add_row(*row)
    Console().print(table)
