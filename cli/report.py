"""``kv report``: one self-contained HTML page about a run."""

from __future__ import annotations

import click


@click.command()
@click.argument("run_dir", metavar="RUN_DIR")
@click.option("-o", "--out", help="HTML file to write (default: RUN_DIR/report.html).")
@click.option("--examples", default=6, show_default=True, help="Grad-CAM examples to show.")
@click.option("--threads", type=int, help="CPU threads for the evaluation.")
def report(run_dir: str, out: str | None, examples: int, threads: int | None) -> None:
    """Write an HTML report of RUN_DIR: config, training curves, model and
    export comparison, confusion matrix, per-class metrics, Grad-CAM examples.

    Images are inlined, so the page is one file that needs nothing else.
    """
    from kerasvision.report import build_report

    path = build_report(run_dir, out=out, examples=examples, threads=threads)
    click.echo(f"report: {path}")
