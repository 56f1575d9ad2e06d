"""``kv benchmark``: every exported format of a run, measured side by side."""

from __future__ import annotations

import json

import click


@click.command()
@click.argument("run_dir", metavar="RUN_DIR")
@click.option("--threads", type=int, help="CPU threads of every runtime (default: their choice).")
@click.option(
    "--no-export", is_flag=True, help="Measure only what RUN_DIR/export holds; export nothing."
)
@click.option("--max-images", type=int, help="Held-out images for accuracy (default: all).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@click.option("--key", help="AES key file of encrypted .enc exports (default: $KV_MODEL_KEY).")
@click.option(
    "--no-verify-hash", is_flag=True, help="Measure exports even if they differ from manifest.json."
)
def benchmark(
    run_dir: str,
    threads: int | None,
    no_export: bool,
    max_images: int | None,
    as_json: bool,
    key: str | None = None,
    no_verify_hash: bool = False,
) -> None:
    """Export (or reuse) every format this machine can build and measure each one.

    Prints format, precision, size, held-out accuracy, batch-1 latency and
    batch-32 throughput, and saves the table as RUN_DIR/benchmark.json and
    RUN_DIR/benchmark.md.
    """
    from rich.console import Console
    from rich.table import Table

    from kerasvision.benchmark import SHORT_COLUMNS, benchmark_run

    err = Console(stderr=True)
    say = (lambda text: None) if as_json else (lambda text: err.print(f"kv: {text}"))
    result = benchmark_run(
        run_dir,
        threads=threads,
        export=not no_export,
        max_images=max_images,
        progress=say,
        key=key,
        verify_hash=not no_verify_hash,
    )
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
        return
    table = Table(
        title=f"kv benchmark: {result.run_dir}",
        caption="latency at batch 1, throughput at batch 32",
    )
    for column in SHORT_COLUMNS:
        justify = "left" if column in ("format", "precision") else "right"
        table.add_column(column, justify=justify, no_wrap=True)
    for row in result.rows:
        table.add_row(*row.cells())
    console = Console()
    console.print(table)
    console.print(
        f"{result.images} held-out images ({result.data}), "
        f"{result.threads or 'default'} thread(s), {result.machine}"
    )
    for fmt, precision, error in result.failures:
        console.print(f"[red]failed[/red] {fmt} {precision}: {error}")
    console.print(f"saved {result.run_dir}/benchmark.json and benchmark.md")
