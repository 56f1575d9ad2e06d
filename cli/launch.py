"""``kv launch``: a multi-worker ``kv train`` job on this machine, for trying it out."""

from __future__ import annotations

import click


@click.command(context_settings={"ignore_unknown_options": True})
@click.option(
    "-n",
    "--workers",
    type=click.IntRange(1, 64),
    default=2,
    show_default=True,
    help="Worker processes to start.",
)
@click.option(
    "--port",
    type=click.IntRange(1024, 65535),
    help="First port (then PORT+1, ...); default: free ports.",
)
@click.argument("train_args", nargs=-1, type=click.UNPROCESSED)
def launch(workers: int, port: int | None, train_args: tuple[str, ...]) -> None:
    """Run `kv train TRAIN_ARGS` as a multi-worker job of N local processes.

    Each worker gets a TF_CONFIG naming all of them on 127.0.0.1 and trains
    with MultiWorkerMirroredStrategy; worker 0 (the chief) writes the run
    directory. Output lines are prefixed with [worker N]. If a worker dies,
    the others are stopped; rerun the same command to resume.

    \b
    kv launch --workers 2 -- -c digits-simple -o runs/digits-2w
    """
    from kerasvision.launch import launch_workers

    launch_workers(list(train_args), workers, port=port)
