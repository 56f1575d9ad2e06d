"""Errors that reach the user as one line on stderr."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class KVError(Exception):
    """A problem with the user's input or environment, reported without a traceback.

    Args:
        message: One line that says what is wrong and, where it helps, what to do.
        param: The library parameter the message names first (``batch_size``),
            so that the CLI can say the option instead (``--batch-size``).
            Defaults to None.
    """

    def __init__(self, message: str, *, param: str | None = None):
        super().__init__(message)
        self.param = param


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Returns ``" (did you mean 'x'?)"`` for the closest choice, or an empty string."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def unknown(kind: str, word: str, choices: Iterable[str]) -> KVError:
    """Builds the error for an unknown name, with a suggestion and the valid names."""
    choices = sorted(choices)
    return KVError(
        f"unknown {kind} '{word}'{did_you_mean(word, choices)}; choose from: {', '.join(choices)}"
    )


def bad_value(param: str, message: str) -> KVError:
    """``KVError("<param> <message>", param=param)``: a bad argument, named as in the library."""
    return KVError(f"{param} {message}", param=param)
