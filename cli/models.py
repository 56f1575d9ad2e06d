"""``kv models``: the model registry with parameter counts."""

from __future__ import annotations

import json

import click


def model_table(pattern: str, num_classes: int) -> list[dict]:
    """One row per registered model: name, parameters, default size, pretrained, summary."""
    from kerasvision.models import create_model, get_model_spec, list_models

    rows = []
    for name in list_models(pattern):
        spec = get_model_spec(name)
        size = spec.default_size or 32
        model = create_model(name, num_classes=num_classes, input_shape=(size, size, 3))
        rows.append(
            {
                "name": name,
                "params": int(model.count_params()),
                "default_size": spec.default_size,
                "pretrained": spec.pretrained,
                "description": spec.description,
            }
        )
    return rows


@click.command()
@click.argument("pattern", default="*")
@click.option("--classes", default=10, show_default=True, help="Classes for the parameter count.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def models(pattern: str, classes: int, as_json: bool) -> None:
    """List registered models matching PATTERN (e.g. 'resnet*')."""
    from rich.console import Console
    from rich.table import Table

    from kerasvision.errors import KVError

    if classes < 2:
        raise KVError(f"--classes must be at least 2, got {classes}")
    rows = model_table(pattern, classes)
    if not rows:
        raise KVError(f"no model matches '{pattern}'")
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=f"kerasvision models ({classes} classes)")
    for column in ("model", "params", "size", "imagenet", "description"):
        table.add_column(column, justify="right" if column == "params" else "left")
    for row in rows:
        table.add_row(
            row["name"],
            f"{row['params']:,}",
            str(row["default_size"] or "any"),
            "yes" if row["pretrained"] else "-",
            row["description"],
        )
    Console().print(table)
