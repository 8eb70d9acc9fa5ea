"""The ``gpu-advisor`` command: the terminal UI without arguments, scripting subcommands with.

This module only builds the parser and dispatches; each subcommand lives in a module of its own
(``cli/<command>.py``: ``register`` adds its arguments, ``run`` does the work). Start-up stays
light: only argparse and our small modules are imported here, and only the module of the command
being run is imported (all of them for ``--help``); each imports what it needs (pydantic, the
engine, rich, Textual) when it runs. Every error we raise on purpose prints as one line (file
problems: one line each, ``path:line:col: message``) and exits with status 2; a traceback is a
bug.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import gc
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from gpu_advisor.errors import AdvisorError, UsageError, did_you_mean
from gpu_advisor.present.errors import PROG, error_json, report_error
from gpu_advisor.version import __version__

# Subcommand -> one-line help for the command list; each lives in gpu_advisor.cli.<name>.
COMMANDS: dict[str, str] = {
    "recommend": "recommend devices for a set of answers",
    "questions": "list the questionnaire (keys, types, choices, defaults)",
    "why": "why is a question asked? the rules that need its answer",
    "size": "itemized GPU memory need of a workload, and which devices hold it",
    "plan": "units, energy, batteries and CapEx for a budget",
    "graph": "export the decision tree as a graph, with a consultation's path",
    "audit": "audit the rules: lint, examples, logic over all answers, engine agreement, knowledge",
    "probe": "read the local GPUs (or saved nvidia-smi output), check them, plan a job on them",
    "deploy": "write DeepSpeed and FSDP settings for the recommended or present hardware",
    "completion": "print a shell completion script (bash, zsh or fish)",
}

EXIT_STATUSES = """\
exit status:
  0  done (recommend: at least one device fits)
  1  a check failed (audit: an error finding; probe --fail-on: a finding that severe)
  2  usage error: bad flags, answers or files (with --format json: a JSON object on stderr)
  3  recommend: no device meets the answers"""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors and a did-you-mean for mistyped subcommands; with
    ``--format json`` on the command line the error is a JSON object, like every other error."""

    json_errors = False

    def error(self, message: str) -> NoReturn:
        if "invalid choice" in message and "argument COMMAND" in message:
            word = message.split("invalid choice: ", 1)[1].split("'")[1] if "'" in message else ""
            message = (
                f"unknown command {word!r}{did_you_mean(word, COMMANDS)}; "
                f"one of: {', '.join(COMMANDS)}"
            )
        if _Parser.json_errors:
            self.exit(2, error_json(message, 2, kind="usage") + "\n")
        self.exit(2, f"{self.prog}: error: {message} (see {PROG} --help)\n")


def wants_json(argv: Sequence[str]) -> bool:
    """Whether the command line asks for JSON output (errors are then JSON too)."""
    args = list(argv)
    return any(
        a == "--format=json" or (a == "--format" and i + 1 < len(args) and args[i + 1] == "json")
        for i, a in enumerate(args)
    )


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The full parser; only the module of the command being run (or all, for help) is imported."""
    import importlib

    wanted = next((a for a in argv if not a.startswith("-")), None)

    parser = _Parser(
        prog=PROG,
        description=(
            "An explaining expert system: which GPU (or AI appliance) to buy for a workload, how "
            "many, "
            "and why. Without a command it opens the terminal questionnaire."
        ),
        epilog=EXIT_STATUSES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument("--kb", metavar="DIR", help="knowledge-base folder for the questionnaire")
    parser.add_argument("--rules", metavar="DIR", help="rules folder for the questionnaire")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, summary in COMMANDS.items():
        if wanted in (None, name) or wanted not in COMMANDS:
            importlib.import_module(f".{name}", __package__).register(sub)
        else:
            sub.add_parser(name, help=summary)
    return parser


def run_tui(args: argparse.Namespace) -> int:
    """No command: the terminal questionnaire (Textual is imported only here).

    Without a terminal on both ends (a pipe, a redirect, a CI job) the UI would wait for keys
    that never come and write escape codes into the output: say so and exit 2 instead."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        sys.stderr.write(
            f"{PROG}: the questionnaire needs a terminal (standard input and output "
            f"are not both one); for scripts use a command, e.g. "
            f"'{PROG} recommend --answers FILE' (see {PROG} --help)\n"
        )
        return 2
    from gpu_advisor.tui.app import run_app

    return run_app(getattr(args, "kb", None), getattr(args, "rules", None))


class StdoutFailed(Exception):
    """Writing to standard output failed (a full disk, a closed descriptor, a reader gone)."""

    def __init__(self, errno_: int, reason: str) -> None:
        super().__init__(reason)
        self.errno = errno_
        self.reason = reason


class _GuardedStream:
    """Standard output (or its binary buffer) whose write failures surface as one
    :class:`StdoutFailed`, told apart from every other ``OSError``; ``None`` (a closed
    descriptor: Python sets ``sys.stdout`` to None) fails on the first write, not at start-up,
    so a command that writes only to ``-o`` still runs."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def _call(self, name: str, *args: Any) -> Any:
        if self._inner is None:
            raise StdoutFailed(errno.EBADF, "standard output is closed")
        try:
            return getattr(self._inner, name)(*args)
        except OSError as exc:
            raise StdoutFailed(exc.errno or 0, exc.strerror or str(exc)) from None
        except ValueError as exc:  # "I/O operation on closed file"
            if "closed file" not in str(exc):
                raise
            raise StdoutFailed(errno.EBADF, "standard output is closed") from None

    def write(self, data: Any) -> Any:
        return self._call("write", data)

    def writelines(self, lines: Any) -> Any:
        return self._call("writelines", lines)

    def flush(self) -> None:
        if self._inner is not None:
            self._call("flush")

    def isatty(self) -> bool:
        return self._inner is not None and bool(self._inner.isatty())

    @property
    def buffer(self) -> _GuardedStream:
        return _GuardedStream(getattr(self._inner, "buffer", None))

    def __getattr__(self, name: str) -> Any:
        if self._inner is None:
            raise AttributeError(name)
        return getattr(self._inner, name)


def _silence_stdout() -> None:
    """Point file descriptor 1 at /dev/null, so that the interpreter's last flush of what is
    still buffered does not fail a second time, with a message of its own, at exit."""
    try:
        fd = sys.__stdout__.fileno() if sys.__stdout__ is not None else 1
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, fd)
        os.close(null)
    except (OSError, ValueError, AttributeError):  # pragma: no cover - no descriptor to fix
        pass


LONG_RUNNING = frozenset({"audit"})
"""Commands (besides the terminal UI) that run long enough to need the cyclic collector."""


def _fetch_allowed(allowed: bool) -> contextlib.AbstractContextManager[None]:
    """``--fetch-model``'s opt-in for this command; without it nothing is set (the Hub module,
    which brings YAML and more, stays unimported on the start-up path)."""
    if not allowed:
        return contextlib.nullcontext()
    from gpu_advisor.knowledge.hub import downloads_allowed

    return downloads_allowed(True)


def main(argv: Sequence[str] | None = None) -> int:
    # A one-shot command allocates much (imports, the cached rule base, one consultation) and
    # leaves almost no cyclic garbage: the ~70 collections of a `recommend` found none and took
    # 10 of its 190 ms. The collector is back on for the terminal UI and the long commands.
    collecting = gc.isenabled()
    gc.disable()
    args_list = list(sys.argv[1:] if argv is None else argv)
    as_json = _Parser.json_errors = wants_json(args_list)
    real_stdout = sys.stdout
    sys.stdout = _GuardedStream(real_stdout)  # type: ignore[assignment]
    try:
        parser = build_parser(args_list)
        args = parser.parse_args(args_list)
        func = getattr(args, "func", None)
        if collecting and (func is None or getattr(args, "command", None) in LONG_RUNNING):
            gc.enable()
        with _fetch_allowed(bool(getattr(args, "fetch_model", False))):
            status = run_tui(args) if func is None else int(func(args) or 0)
        sys.stdout.flush()  # what is still buffered fails here, inside the guard, not at exit
        return status
    except AdvisorError as exc:
        return report_error(exc, as_json=as_json)
    except StdoutFailed as exc:
        if real_stdout is sys.__stdout__:
            _silence_stdout()
        if exc.errno == errno.EPIPE:  # the reader stopped (``| head``): not an error
            return 0
        problem = UsageError(f"cannot write to standard output: {exc.reason}")
        return report_error(problem, as_json=as_json)
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        return 130
    finally:
        if isinstance(sys.stdout, _GuardedStream):
            sys.stdout = real_stdout
        if collecting:
            gc.enable()  # main() is also called in-process (tests, embedding programs)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
