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
import sys
from collections.abc import Sequence
from typing import NoReturn

from gpu_advisor.errors import AdvisorError, did_you_mean
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


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    as_json = _Parser.json_errors = wants_json(args_list)
    try:
        parser = build_parser(args_list)
        args = parser.parse_args(args_list)
        func = getattr(args, "func", None)
        if func is None:
            return run_tui(args)
        return int(func(args) or 0)
    except AdvisorError as exc:
        return report_error(exc, as_json=as_json)
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
