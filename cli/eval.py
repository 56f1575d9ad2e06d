"""``kv eval``: metrics of any model artifact on labelled images."""

from __future__ import annotations

import json
from contextlib import contextmanager

import click

from kerasvision.cli.verify import protect_options
from kerasvision.heldout import SPLITS
from kerasvision.tta import TTA_MODES


@contextmanager
def progress_bar(description: str, *, enabled: bool = True):
    """Yields ``start(total) -> advance(n)`` drawing a bar on stderr when it is a terminal."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    console = Console(stderr=True)
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not (enabled and console.is_terminal),
    ) as bar:

        def start(total: int):
            task = bar.add_task(description, total=total)
            return lambda n: bar.advance(task, n)

        yield start


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.4f}"


def print_evaluation(result, folder) -> None:
    """Headline metrics, per-class metrics and the most confused pairs, as tables."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    summary = Table(title=f"kv eval: {result.model}", show_header=False)
    summary.add_column(style="bold")
    summary.add_column()
    for row in (
        ("format", f"{result.format} {result.precision}"),
        ("data", result.dataset),
        ("images", f"{result.images:,}"),
        ("test-time augmentation", result.tta),
        ("accuracy", _fmt(result.accuracy)),
        (f"top-{result.top_k}", _fmt(result.top5)),
        (
            "macro precision/recall/F1",
            " / ".join(_fmt(result.macro[k]) for k in ("precision", "recall", "f1")),
        ),
        ("weighted F1", _fmt(result.weighted["f1"])),
        ("ROC AUC (one-vs-rest, macro)", _fmt(result.macro["roc_auc"])),
        ("images/s", f"{result.images_per_s:,.1f}"),
    ):
        summary.add_row(*row)
    console.print(summary)
    per_class = Table(title="per class")
    for column in ("class", "precision", "recall", "F1", "ROC AUC", "images"):
        per_class.add_column(column, justify="left" if column == "class" else "right")
    for row in result.per_class:
        per_class.add_row(
            row["label"],
            _fmt(row["precision"]),
            _fmt(row["recall"]),
            _fmt(row["f1"]),
            _fmt(row["roc_auc"]),
            str(row["support"]),
        )
    for name, avg in (("macro avg", result.macro), ("weighted avg", result.weighted)):
        per_class.add_row(
            f"[bold]{name}",
            _fmt(avg["precision"]),
            _fmt(avg["recall"]),
            _fmt(avg["f1"]),
            _fmt(avg["roc_auc"]),
            str(result.images),
        )
    console.print(per_class)
    if result.most_confused:
        pairs = Table(title="most confused (true → predicted)")
        for column in ("true", "predicted", "images", "share of true class"):
            pairs.add_column(column, justify="right" if column[0] in "is" else "left")
        for pair in result.most_confused:
            pairs.add_row(
                pair["true"], pair["predicted"], str(pair["count"]), f"{pair['rate']:.1%}"
            )
        console.print(pairs)
    if folder is not None:
        console.print(f"wrote {folder}/metrics.json and confusion_matrix.png")


@click.command("eval")
@click.argument("model", metavar="MODEL")
@click.option("-d", "--dataset", help="digits, tfds:NAME or an image folder (default: the run's).")
@click.option("--data-dir", help="tensorflow-datasets data folder (default: the run's).")
@click.option(
    "--split",
    type=click.Choice(SPLITS),
    default=None,
    help="held-out = test if the data has one, else validation (default: held-out of the "
    "run's own data, all images of another --dataset).",
)
@click.option("--threads", type=int, help="CPU threads of the runtime (default: its choice).")
@click.option("-b", "--batch-size", default=64, show_default=True, help="Images per call.")
@click.option(
    "-o", "--out", help="Folder for metrics.json and the PNG (default: RUN/eval/<model>)."
)
@click.option(
    "--tta",
    type=click.Choice(TTA_MODES),
    default="none",
    show_default=True,
    help="Test-time augmentation: average each prediction over the image and its mirror "
    "(flip), and 2-pixel shifts of both (flip_translate).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON on stdout.")
@protect_options
def eval_command(
    model: str,
    dataset: str | None,
    data_dir: str | None,
    split: str | None,
    threads: int | None,
    batch_size: int,
    out: str | None,
    tta: str,
    as_json: bool,
    key=None,
    no_verify_hash: bool = False,
    unsafe: bool = False,
) -> None:
    """Evaluate MODEL: a run directory, .keras, SavedModel, .tflite, .onnx or .engine.

    Prints accuracy, top-5, per-class precision/recall/F1, macro and weighted
    averages, one-vs-rest ROC AUC and the most confused class pairs, and
    writes metrics.json and confusion_matrix.png.
    """
    from kerasvision.evaluation import evaluate

    with progress_bar("evaluating", enabled=not as_json) as start:
        result, folder = evaluate(
            model,
            dataset=dataset,
            data_dir=data_dir,
            split=split,
            threads=threads,
            batch_size=batch_size,
            out=out,
            progress=start,
            key=key,
            verify_hash=not no_verify_hash,
            unsafe=unsafe,
            tta=tta,
        )
    if as_json:
        output = None if folder is None else str(folder)
        click.echo(json.dumps({**result.to_dict(), "output": output}, indent=2))
    else:
        print_evaluation(result, folder)
