"""``kv models``: the model registry with parameters, FLOPs and int8 notes."""

from __future__ import annotations

import json

import click


def model_table(pattern: str, num_classes: int) -> list[dict]:
    """One row per registered model matching ``pattern``.

    Parameters and FLOPs (one image at the default size, 32 for "any") come
    from the figures cached in the model's table (``ModelSpec.stats``) for the
    ImageNet architectures, so listing them builds nothing; the small models
    without cached figures are built and counted.
    """
    from kerasvision.models import create_model, get_model_spec, list_models
    from kerasvision.models.int8 import int8_column

    rows = []
    for name in list_models(pattern):
        spec = get_model_spec(name)
        if spec.stats is not None:
            params, flops = spec.stats.params(num_classes), spec.stats.flops(num_classes)
        else:
            from kerasvision.models.flops import count_flops

            size = spec.default_size or 32
            model = create_model(name, num_classes=num_classes, input_shape=(size, size, 3))
            params, flops = int(model.count_params()), count_flops(model)
        rows.append(
            {
                "name": name,
                "params": params,
                "flops": flops,
                "default_size": spec.default_size,
                "min_size": spec.min_size,
                "pretrained": spec.pretrained,
                "int8": int8_column(name, spec.family),
                "description": spec.description,
            }
        )
    return rows


@click.command()
@click.argument("pattern", default="*")
@click.option("--classes", default=10, show_default=True, help="Classes for the counts.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def models(pattern: str, classes: int, as_json: bool) -> None:
    """List registered models matching PATTERN (e.g. 'resnet*', "efficientnet*")."""
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
    for column in ("model", "params", "GFLOPs", "size", "min", "imagenet", "int8", "description"):
        table.add_column(column, justify="right" if column in ("params", "GFLOPs") else "left")
    for row in rows:
        table.add_row(
            row["name"],
            f"{row['params']:,}",
            f"{row['flops'] / 1e9:.3g}",
            str(row["default_size"] or "any"),
            str(row["min_size"] or "-"),
            "yes" if row["pretrained"] else "-",
            row["int8"],
            row["description"],
        )
    Console().print(table)
