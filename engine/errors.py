"""The project's exceptions: one root, so callers can catch everything we raise on purpose.

Errors about a file carry its location and print as ``path:line:col: message``; a load that finds
several problems raises one :class:`FileErrors` holding all of them, so the author fixes a file in
one pass instead of one error per run.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass


class AdvisorError(Exception):
    """Root of every error gpu-advisor raises deliberately."""


class UsageError(AdvisorError):
    """Bad command-line input or bad answers: the CLI prints it on one line and exits 2.

    Domain code names the *field* that was wrong (``budget``, ``pue``), never a command-line
    flag: the command line maps the field to its flag when it prints the message, the TUI to
    the knob's label, so each front end words the error its own way.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class EngineError(AdvisorError):
    """The inference engine failed (an action raised, a session could not be cleaned up)."""


@dataclass(frozen=True, order=True)
class Location:
    """Where something stands in a file; line and column are 1-based, as editors show them."""

    path: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line <= 0:
            return self.path
        return f"{self.path}:{self.line}:{self.column}"


class FileError(AdvisorError):
    """One problem in one file, with the place it stands."""

    def __init__(self, location: Location, message: str) -> None:
        super().__init__(f"{location}: {message}")
        self.location = location
        self.message = message


class FileErrors(AdvisorError):
    """Every problem found while loading a set of files, sorted by place."""

    def __init__(self, errors: Iterable[FileError]) -> None:
        self.errors = sorted(errors, key=lambda e: e.location)
        super().__init__("\n".join(str(e) for e in self.errors))


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A ' (did you mean X?)' suffix when a close match exists, else an empty string.

    Names that start with the word come first (``h100`` -> ``h100-pcie`` or ``h100-sxm``), then
    the closest spelling.
    """
    options = list(choices)
    lowered = word.lower()
    prefixed = [
        c for c in options if lowered and c.lower().startswith(lowered) and c.lower() != lowered
    ]
    if prefixed:
        shown = " or ".join(repr(c) for c in sorted(prefixed)[:3])
        return f" (did you mean {shown}?)"
    matches = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f" (did you mean {matches[0]!r}?)" if matches else ""


def one_of(choices: Iterable[str]) -> str:
    """The accepted values, for messages: 'one of: a, b, c'."""
    return "one of: " + ", ".join(sorted(choices))
