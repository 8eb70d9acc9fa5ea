"""Errors as a person reads them: one line per problem, worded in the front end's own names.

Domain code raises :class:`~gpu_advisor.errors.UsageError` naming the *field* that was wrong
(``budget``, ``pue``). Each front end keeps one mapping from fields to its own names, the
command line's flags (``--pue``) or the TUI's labels (``PUE``), and words the message with it
here: ``--pue: PUE must be at least 1, got 0.9``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from gpu_advisor.errors import AdvisorError, EngineError, FileErrors, UsageError

PROG = "gpu-advisor"


def worded(exc: AdvisorError, names: Mapping[str, str]) -> str:
    """The message, led by the name its field has in this front end.

    Tolerant of messages that already name it (older domain code put the flag into the text):
    ``--pue: ...`` or ``--precision must ...`` is returned as it is, never ``--pue: --pue: ...``.
    """
    message = str(exc)
    field = getattr(exc, "field", None)
    name = names.get(field) if field else None
    if (
        name is None
        or message.startswith(f"{name}:")
        or (name.startswith("-") and message.startswith(f"{name} "))
    ):
        return message
    return f"{name}: {message}"


@contextmanager
def fields_named(names: Mapping[str, str]) -> Iterator[None]:
    """Re-raise a UsageError about one of ``names``' fields with the field's name in its message
    (also a decorator: ``@fields_named(FLAGS)`` on a subcommand's ``run``)."""
    try:
        yield
    except UsageError as exc:
        if exc.field not in names:
            raise
        raise UsageError(worded(exc, names), field=exc.field) from None


def error_json(
    message: str,
    status: int,
    *,
    kind: str,
    field: str | None = None,
    errors: list[str] | None = None,
) -> str:
    """One error as the JSON object scripts read from standard error with ``--format json``:
    ``{"error": ..., "status": 2, "kind": "usage"}``, plus ``field`` (the answer or setting that
    was wrong) and ``errors`` (every problem, one string each) when there are several."""
    data: dict[str, object] = {"error": message, "status": status, "kind": kind}
    if field:
        data["field"] = field
    if errors:
        data["errors"] = errors
    return json.dumps(data, ensure_ascii=False)


def report_error(exc: AdvisorError, *, as_json: bool = False) -> int:
    """Print one of our errors the way every entry point does, and return the exit status:
    one line per file problem (``path:line:col: message``) or one line otherwise; 2 for bad
    input or files, 1 when the engine itself failed. ``as_json``: one JSON object instead."""
    if as_json:
        status = 1 if isinstance(exc, EngineError) else 2
        kind = "engine" if status == 1 else ("file" if isinstance(exc, FileErrors) else "usage")
        problems = (
            [str(e) for e in exc.errors]
            if isinstance(exc, FileErrors)
            else list(getattr(exc, "problems", ()))
        )
        message = (
            problems[0]
            if len(problems) == 1
            else f"{len(problems)} problems (see errors)"
            if problems
            else str(exc)
        )
        sys.stderr.write(
            error_json(
                message,
                status,
                kind=kind,
                field=getattr(exc, "field", None),
                errors=problems or None,
            )
            + "\n"
        )
        return status
    if isinstance(exc, FileErrors):
        for error in exc.errors:
            sys.stderr.write(f"{error}\n")
        return 2
    if isinstance(exc, EngineError):
        sys.stderr.write(f"{PROG}: engine error: {exc}\n")
        return 1
    for problem in getattr(exc, "problems", None) or [str(exc)]:
        sys.stderr.write(f"{PROG}: error: {problem}\n")
    return 2
