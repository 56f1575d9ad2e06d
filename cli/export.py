"""``kv export``: a run's model to TFLite, ONNX, SavedModel and TensorRT, verified."""

from __future__ import annotations

import json
import sys

import click

# ExportOptions fields (and export_model parameters) that a user may type; the
# library's errors name them, and kv's error handler says their flags.
OPTION_PARAMS = ("calib", "io_type", "input_channels", "batch", "opset", "workspace", "max_drop")


def _split(values: tuple[str, ...]) -> list[str] | None:
    """``("tflite,onnx", "engine")`` -> ``["tflite", "onnx", "engine"]``; nothing -> None."""
    items = [v.strip() for value in values for v in value.split(",") if v.strip()]
    return items or None


@click.command(name="export")
@click.argument("source", type=click.Path())
@click.option(
    "-f",
    "--format",
    "formats",
    multiple=True,
    help="tflite, onnx, saved_model, engine (comma-separated or repeated; "
    "default: all this machine can build).",
)
@click.option(
    "-p",
    "--precision",
    "precisions",
    multiple=True,
    help="fp32, fp16, dynamic, int8 (default: all each format takes).",
)
@click.option(
    "--calib", type=int, default=300, show_default=True, help="Training images that calibrate int8."
)
@click.option(
    "--io-type",
    default=None,
    help="Input/output type of int8 TFLite: uint8 (default), int8 or float32.",
)
@click.option(
    "--input-channels",
    type=int,
    default=None,
    help="Input of TFLite files: 3 (default: RGB, what MediaPipe takes; a grayscale model "
    "converts RGB to gray inside) or 1 (a grayscale model keeps its raw gray input).",
)
@click.option(
    "--batch", default="1:8:32", show_default=True, help="TensorRT batch profile MIN:OPT:MAX."
)
@click.option("--opset", type=int, default=17, show_default=True, help="ONNX opset.")
@click.option(
    "--workspace",
    type=float,
    default=4.0,
    show_default=True,
    help="TensorRT builder workspace (GiB).",
)
@click.option(
    "--max-drop",
    type=float,
    default=None,
    help="Allowed accuracy drop in points (default: 0.1 fp32, 1 otherwise).",
)
@click.option(
    "-d", "--dataset", default=None, help="Data to verify and calibrate on (default: the run's)."
)
@click.option("-o", "--out", default=None, help="Output folder (default: RUN_DIR/export).")
@click.option("--threads", type=int, default=None, help="CPU threads of the runtimes.")
@click.option(
    "--images",
    "max_images",
    type=int,
    default=1000,
    show_default=True,
    help="Held-out images to verify on.",
)
@click.option("--no-verify", is_flag=True, help="Write the artifacts without verifying them.")
@click.option(
    "--sign", default=None, help="Sign export/manifest.json with this Ed25519 key (kv keygen)."
)
@click.option(
    "--encrypt",
    default=None,
    help="Write each artifact as AES-256-GCM <file>.enc with this key file (kv keygen --aes).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def export(
    source: str,
    formats,
    precisions,
    calib,
    io_type,
    input_channels,
    batch,
    opset,
    workspace,
    max_drop,
    dataset,
    out,
    threads,
    max_images,
    no_verify,
    sign,
    encrypt,
    as_json,
) -> int:
    """Export SOURCE (a run directory or a .keras file) and verify each artifact.

    \b
    Examples:
      kv export runs/digits-edge
      kv export runs/cifar10-edge --format tflite --precision int8 --calib 500
      kv export model.keras --dataset photos/ --format onnx,engine --batch 1:16:64

    Each artifact is run by its own runtime on held-out images; one whose
    accuracy falls more than --max-drop below the Keras model fails the command.
    """
    from kerasvision.errors import KVError, bad_value
    from kerasvision.export import ExportOptions, export_model
    from kerasvision.export.options import parse_batch
    from kerasvision.protect.exporting import check_protect_options

    check_protect_options(sign, encrypt)  # a bad key file fails before the export work

    if max_images < 1:
        raise bad_value("max_images", f"must be at least 1, got {max_images}")
    if threads is not None and threads < 1:
        raise bad_value("threads", f"must be at least 1, got {threads}")
    context = click.get_current_context()
    typed = {
        name
        for name in OPTION_PARAMS
        if context.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE
    }
    options = ExportOptions(
        calib=calib,
        io_type=io_type or "uint8",
        input_channels=input_channels,
        batch=parse_batch(batch),
        opset=opset,
        workspace=workspace,
    ).validate()
    report = export_model(
        source,
        formats=_split(formats),
        precisions=_split(precisions),
        out=out,
        dataset=dataset,
        options=options,
        max_drop=max_drop,
        threads=threads,
        verify_artifacts=not no_verify,
        max_images=max_images,
        io_type_given=io_type is not None,
        options_given=typed - {"io_type"},
        progress=lambda line: click.echo(f"kv: {line}", err=True),
        sign=sign,
        encrypt=encrypt,
    )
    if as_json:
        rows = [r.to_dict() for r in report.results]
        keras = report.reference.to_dict() if report.reference else None
        failures = [{"format": f, "precision": p, "error": e} for f, p, e in report.failures]
        click.echo(json.dumps({"keras": keras, "artifacts": rows, "failures": failures}, indent=2))
    else:
        print_report(report)
    if report.failed:
        worst = ", ".join(why_failed(r) for r in report.failed)
        raise KVError(f"verification failed: {worst}")
    if report.failures:
        names = ", ".join(f"{f} {p}" for f, p, _ in report.failures)
        raise KVError(f"{len(report.failures)} export(s) failed: {names} (see above)")
    return 0


def why_failed(row) -> str:
    """``tflite int8 lost 61.30 points (max 1.0)`` or ``onnx fp16 refused by polygraphy lint``."""
    if row.drop > row.max_drop + 1e-9:
        return f"{row.format} {row.precision} lost {row.drop:.2f} points (max {row.max_drop})"
    refused = [name for name, c in row.checks.items() if c["status"] == "failed"]
    return f"{row.format} {row.precision} refused by {', '.join(refused)}"


MARKS = {"ok": "ok", "failed": "FAILED", "unavailable": "n/a"}


def proven_on(checks: dict[str, dict[str, str]]) -> str:
    """``{"LiteRT": {"status": "ok"}, ...}`` -> ``"LiteRT ok, MediaPipe n/a"``."""
    return ", ".join(f"{name} {MARKS.get(c['status'], c['status'])}" for name, c in checks.items())


def print_report(report) -> None:
    """The verification table: one row per artifact, the Keras model first, failures last.

    The last column says where each file was proven to run: each stack's
    verdict (ok, FAILED, or n/a when it is not installed here); the reasons
    and messages are in ``verification.json``.
    """
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"kv export: {report.out}")
    columns = ("format", "precision", "size MB", "accuracy", "agreement", "ms/image", "ok")
    for column in (*columns, "proven on"):
        left = column in ("format", "precision", "proven on")
        table.add_column(column, justify="left" if left else "right")
    rows = ([report.reference] if report.reference else []) + report.results
    for r in rows:
        table.add_row(
            r.format,
            r.precision,
            f"{r.size_mb:.3f}",
            f"{r.accuracy:.4f}",
            f"{r.agreement:.4f}",
            f"{r.latency_ms:.3f}",
            "yes" if r.passed else "NO",
            proven_on(r.checks) if r.checks else "",
        )
    for fmt, precision, error in report.failures:
        table.add_row(fmt, precision, "-", "-", "-", "-", "NO", f"export failed: {error}")
    if not rows and not report.failures:
        for path in report.artifacts:
            click.echo(str(path))
        return
    Console(file=sys.stdout, width=max(120, Console().width)).print(table)
