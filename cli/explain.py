"""``kv explain``: a Grad-CAM heatmap of one image, overlaid on it."""

from __future__ import annotations

import json

import click


@click.command()
@click.argument("model", metavar="MODEL")
@click.argument("image", metavar="IMAGE")
@click.option("--class", "label", help="Class to explain, by name or index (default: the top-1).")
@click.option("--layer", help="Feature layer (default: the last convolutional one).")
@click.option("-o", "--out", help="PNG to write (default: <image name>-gradcam.png here).")
@click.option("--alpha", default=0.45, show_default=True, help="Weight of the heatmap.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
def explain(
    model: str,
    image: str,
    label: str | None,
    layer: str | None,
    out: str | None,
    alpha: float,
    as_json: bool,
) -> None:
    """Show where the Keras MODEL (a .keras file or run directory) looked in IMAGE.

    Writes a Grad-CAM heatmap over the image as a PNG and prints the class
    it explains.
    """
    from kerasvision.explain import explain_image

    result = explain_image(model, image, label=label, layer=layer, out=out, alpha=alpha)
    if as_json:
        fields = ("label", "probability", "predicted", "layer")
        data = {"output": str(result.output), **{k: getattr(result, k) for k in fields}}
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"explained class: {result.label} (probability {result.probability:.4f})")
    if result.predicted != result.label:
        click.echo(f"predicted class: {result.predicted}")
    click.echo(f"layer: {result.layer}")
    click.echo(f"heatmap: {result.output}")
