"""Running a click command so that every failure is one line on stderr."""

from __future__ import annotations

import io
import logging
import os
import re
import sys
import tempfile
from pathlib import Path

import click

from kerasvision.errors import KVError

NATIVE_LOG = Path(tempfile.gettempdir()) / "kerasvision-native.log"


def debug_enabled() -> bool:
    return os.environ.get("KV_DEBUG", "") not in ("", "0")


def divert_native_stderr() -> None:
    """Sends what C++ libraries write to file descriptor 2 into ``NATIVE_LOG``.

    TensorFlow's native logging (oneDNN notes, CUDA probing on GPU-less
    machines) ignores Python; Python's own ``sys.stderr`` keeps pointing at the
    real terminal. ``KV_DEBUG=1`` keeps everything on the terminal.
    """
    if debug_enabled():
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
        fd = os.open(NATIVE_LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    except OSError:
        return
    os.dup2(fd, 2)
    os.close(fd)
    sys.stderr = io.TextIOWrapper(os.fdopen(saved, "wb", buffering=0), write_through=True)


def setup_logging(verbose: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("kv: %(message)s"))
    root = logging.getLogger("kerasvision")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    root.propagate = False


def fail(message: str, code: int = 1) -> int:
    click.echo(f"kv: error: {message}", err=True)
    return code


def _option_flag(command: click.Command, args: list[str], param: str) -> str | None:
    """The flag of the invoked subcommand whose parameter is ``param`` (``--batch-size``)."""
    words = [a for a in args if not a.startswith("-")]
    sub = command.commands.get(words[0]) if isinstance(command, click.Group) and words else None
    for option in (sub or command).params:
        if option.name == param and isinstance(option, click.Option):
            longs = [o for o in option.opts if o.startswith("--")]
            return (longs or option.opts)[0]
    return None


def as_cli_message(error: KVError, command: click.Command, args: list[str]) -> str:
    """A library error's text with the parameter it names said as the command's option."""
    text = str(error)
    flag = _option_flag(command, args, error.param) if error.param else None
    if flag is None:
        return text
    return re.sub(rf"(?<![\w.-]){re.escape(error.param)}(?![\w-])", flag, text, count=1)


def run_cli(command: click.Command, args: list[str] | None = None) -> int:
    """Runs ``command``; returns the exit code instead of raising.

    Usage errors exit 2, user errors (``KVError``) exit 1, Ctrl-C exits 130;
    an unexpected exception is one line too unless ``KV_DEBUG=1``.
    """
    try:
        result = command.main(args=args, prog_name="kv", standalone_mode=False)
        return result if isinstance(result, int) else 0
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        return fail(exc.format_message(), exc.exit_code)
    except (click.Abort, KeyboardInterrupt):
        return fail("interrupted", 130)
    except KVError as exc:
        return fail(as_cli_message(exc, command, list(sys.argv[1:] if args is None else args)))
    except Exception as exc:
        if debug_enabled():
            raise
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        return fail(f"{type(exc).__name__}: {first} (KV_DEBUG=1 shows the traceback)")
