"""``kv``: the command group and the console-script entry point."""

from __future__ import annotations

import os
import sys

import click

from kerasvision import __version__
from kerasvision.cli.errors import divert_native_stderr, run_cli, setup_logging


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(
    __version__, "-V", "--version", prog_name="kv", message="%(prog)s %(version)s"
)
def cli() -> None:
    """kerasvision: train, distill, compress and export Keras image classifiers.

    \b
    Start with:
      kv train --dataset digits --model simple_cnn --epochs 15
      kv models
    """


def _register_commands() -> None:
    from kerasvision.cli.benchmark import benchmark
    from kerasvision.cli.completion import completion
    from kerasvision.cli.eval import eval_command
    from kerasvision.cli.explain import explain
    from kerasvision.cli.export import export
    from kerasvision.cli.keygen import keygen
    from kerasvision.cli.launch import launch
    from kerasvision.cli.models import models
    from kerasvision.cli.predict import predict
    from kerasvision.cli.report import report
    from kerasvision.cli.train import train
    from kerasvision.cli.verify import verify

    for command in (
        train,
        launch,
        export,
        eval_command,
        predict,
        explain,
        benchmark,
        report,
        verify,
        keygen,
        models,
        completion,
    ):
        cli.add_command(command)


_register_commands()


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point: ``kv``."""
    if "_KV_COMPLETE" in os.environ:
        # Shell completion: click prints the candidates and exits.
        cli.main(prog_name="kv")
    divert_native_stderr()
    setup_logging()
    return run_cli(cli, argv)


if __name__ == "__main__":
    sys.exit(main())
