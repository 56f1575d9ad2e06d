"""``kv predict``: labels and probabilities for images, from any model artifact."""

from __future__ import annotations

import json

import click

from kerasvision.cli.verify import protect_options


def print_predictions(results: list[dict]) -> None:
    """One row per image: the top class and its probability, then the runners-up."""
    from rich.console import Console
    from rich.table import Table

    rows = [r for r in results if "predictions" in r]
    if not rows:
        return
    table = Table(title="kv predict")
    table.add_column("image", overflow="fold")
    table.add_column("class")
    table.add_column("probability", justify="right")
    if any(len(r["predictions"]) > 1 for r in rows):
        table.add_column("next")
    for row in rows:
        best, *rest = row["predictions"]
        cells = [row["image"], best["label"], f"{best['probability']:.4f}"]
        if rest:
            cells.append(", ".join(f"{p['label']} {p['probability']:.4f}" for p in rest))
        table.add_row(*cells)
    Console().print(table)


@click.command()
@click.argument("model", metavar="MODEL")
@click.argument("images", nargs=-1, required=True, metavar="IMAGE|FOLDER...")
@click.option("-k", "--top-k", "top", default=3, show_default=True, help="Classes per image.")
@click.option("--threads", type=int, help="CPU threads of the runtime (default: its choice).")
@click.option("-b", "--batch-size", default=32, show_default=True, help="Images per call.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@protect_options
@click.pass_context
def predict(
    ctx: click.Context,
    model: str,
    images: tuple[str, ...],
    top: int,
    threads: int | None,
    batch_size: int,
    as_json: bool,
    key=None,
    no_verify_hash: bool = False,
    unsafe: bool = False,
) -> None:
    """Classify images with MODEL (a .keras, .tflite, .onnx, .engine file,
    a SavedModel folder or a run directory).

    The labels and input size come from the model file itself. An image that
    cannot be read is reported on stderr and the others are still classified;
    the exit status is then 1.
    """
    from kerasvision.classify import classify

    results = classify(
        model,
        images,
        top=top,
        threads=threads,
        batch_size=batch_size,
        key=key,
        verify_hash=not no_verify_hash,
        unsafe=unsafe,
    )
    failed = [r for r in results if "error" in r]
    for row in failed:
        click.echo(f"kv: error: cannot read {row['image']}: {row['error']}", err=True)
    if as_json:
        click.echo(json.dumps(results, indent=2))
    else:
        print_predictions(results)
    if failed:
        ctx.exit(1)
