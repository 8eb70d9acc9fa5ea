"""The ``gpu-advisor`` command: the terminal UI without arguments, scripting subcommands with.

Start-up stays light: only argparse and our small modules are imported here; each subcommand
imports what it needs (pydantic, the engine, rich, Textual) when it runs. Every error we raise
on purpose prints as one line (file problems: one line each, ``path:line:col: message``) and
exits with status 2; a traceback is a bug.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from gpu_advisor.errors import AdvisorError, EngineError, FileErrors, UsageError, did_you_mean

PROG = "gpu-advisor"


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors and a did-you-mean for mistyped subcommands."""

    def error(self, message: str) -> NoReturn:
        if "invalid choice" in message and "argument COMMAND" in message:
            word = message.split("invalid choice: ", 1)[1].split("'")[1] if "'" in message else ""
            message = f"unknown command {word!r}{did_you_mean(word, COMMANDS)}; one of: {', '.join(COMMANDS)}"
        self.exit(2, f"{self.prog}: error: {message} (see {PROG} --help)\n")


# Subcommands that live in modules of their own, imported only when used (start-up stays fast):
# name -> (module, one-line help for the command list).
COMMAND_MODULES: dict[str, tuple[str, str]] = {
    "size": ("size", "itemized GPU memory need of a workload, and which devices hold it"),
    "plan": ("plan", "units, energy, batteries and CapEx for a budget"),
    "graph": ("graph", "export the decision tree as a graph, with a consultation's path"),
    "audit": ("audit", "audit the rules: lint, examples, logic over all answers, engine agreement, knowledge"),
    "probe": ("probe", "read the local GPUs (or saved nvidia-smi output), check them, plan a job on them"),
    "deploy": ("deploy", "write DeepSpeed and FSDP settings for the recommended or present hardware"),
}
COMMANDS = ("recommend", "questions", "why", *COMMAND_MODULES)


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The full parser; only the module of the command being run (or all, for help) is imported."""
    import importlib

    wanted = next((a for a in argv if not a.startswith("-")), None)

    parser = _Parser(prog=PROG, description=(
        "An explaining expert system: which GPU (or AI appliance) to buy for a workload, how many, "
        "and why. Without a command it opens the terminal questionnaire."))
    parser.add_argument("--kb", metavar="DIR", help="knowledge-base folder for the questionnaire")
    parser.add_argument("--rules", metavar="DIR", help="rules folder for the questionnaire")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    rec = sub.add_parser("recommend", help="recommend devices for a set of answers",
                         description="Run one consultation and print the verdict with its reasons.")
    rec.add_argument("--answers", metavar="FILE", help="answers in YAML or JSON (key: value)")
    rec.add_argument("--set", metavar="KEY=VALUE", action="append", default=[], dest="set_values",
                     help="one answer; repeatable; wins over --answers (candidates: comma-separated ids)")
    rec.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    rec.add_argument("--evaluator", choices=("durable", "python"), default="durable",
                     help="evaluate conditions in durable_rules (default) or in Python")
    rec.add_argument("--no-counterfactuals", action="store_true",
                     help="skip the what-would-change search (faster)")
    rec.add_argument("--trace", action="store_true",
                     help="text format: also print every rule firing, in order, with the values it matched")
    _add_dirs(rec)
    rec.set_defaults(func=run_recommend)

    questions = sub.add_parser("questions", help="list the questionnaire (keys, types, choices, defaults)")
    questions.add_argument("--format", choices=("text", "json"), default="text")
    _add_dirs(questions)
    questions.set_defaults(func=run_questions)

    why = sub.add_parser("why", help="why is a question asked? the rules that need its answer")
    why.add_argument("question", help="an answer key, e.g. budget_usd")
    _add_dirs(why)
    why.set_defaults(func=run_why)

    for name, (module_name, summary) in COMMAND_MODULES.items():
        if wanted in (None, name) or wanted not in COMMANDS:
            module = importlib.import_module(f".{module_name}", __package__)
            module.register(sub)
        else:
            sub.add_parser(name, help=summary)
    return parser


def _add_dirs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kb", metavar="DIR", help="knowledge-base folder (default: the shipped one)")
    parser.add_argument("--rules", metavar="DIR", help="rules folder (default: the shipped one)")


def _engine(args: argparse.Namespace) -> Any:
    from gpu_advisor.core.consult import Engine

    return Engine.load(getattr(args, "kb", None), getattr(args, "rules", None))


def gather_answers(args: argparse.Namespace) -> dict[str, Any]:
    from gpu_advisor.core.answers import load_answers_file, parse_set

    raw: dict[str, Any] = {}
    if args.answers:
        raw.update(load_answers_file(args.answers))
    raw.update(parse_set(args.set_values))
    return raw


def run_recommend(args: argparse.Namespace) -> int:
    from gpu_advisor.present import report

    engine = _engine(args)
    consultation = engine.consult(gather_answers(args), evaluator=args.evaluator)
    counterfactuals = not args.no_counterfactuals
    if args.format == "json":
        text = report.to_json_text(consultation, counterfactuals)
    elif args.format == "markdown":
        text = report.to_markdown(consultation, counterfactuals)
    else:
        text = report.to_text(consultation, counterfactuals, trace=args.trace)
    sys.stdout.write(text)
    return 0


def run_questions(args: argparse.Namespace) -> int:
    import json

    engine = _engine(args)
    questions = engine.rulebase.questions.values()
    if args.format == "json":
        rows = [{"key": q.key, "prompt": q.prompt, "type": q.type, "choices": list(q.choices),
                 "min": q.min, "max": q.max, "unit": q.unit, "default": q.default, "help": q.help,
                 "ask_when": _show_condition(q.ask_when)} for q in questions]
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return 0
    for q in questions:
        kind = ", ".join(q.choices) if q.choices else q.type
        if q.type in ("number", "integer"):
            kind = f"{q.type} {q.min:g}..{q.max:g}{' ' + q.unit if q.unit else ''}"
        default = "" if q.default is None else f" [default {q.default}]"
        when = _show_condition(q.ask_when)
        sys.stdout.write(f"{q.key}: {q.prompt}\n    {kind}{default}\n")
        if when != "always":
            sys.stdout.write(f"    asked when {when}\n")
    return 0


def _show_condition(cond: Any) -> str:
    from gpu_advisor.lang.conditions import show

    return show(cond)


def run_why(args: argparse.Namespace) -> int:
    from gpu_advisor.core.explain import why_asked

    engine = _engine(args)
    key = args.question
    if key not in engine.rulebase.questions:
        raise UsageError(f"unknown question {key!r}{did_you_mean(key, engine.rulebase.questions)}")
    info = why_asked(engine.rulebase, key)
    sys.stdout.write(f"{key}: {info.prompt}\n")
    if info.used_by_arithmetic:
        sys.stdout.write("  used by the sizing and budget arithmetic\n")
    for gate in info.decides_whether_to_ask:
        sys.stdout.write(f"  decides whether {gate} is asked\n")
    for rule in info.rules:
        sys.stdout.write(f"  {rule.rule}: {rule.description}\n    when {rule.condition}\n")
    if not info.rules and not info.used_by_arithmetic:
        sys.stdout.write("  no rule uses it\n")
    return 0


def run_tui(args: argparse.Namespace) -> int:
    """No command: the terminal questionnaire (Textual is imported only here)."""
    from gpu_advisor.tui.app import run_app

    return run_app(getattr(args, "kb", None), getattr(args, "rules", None))


def report_error(exc: AdvisorError) -> int:
    """Print one of our errors the way every entry point does, and return the exit status:
    one line per file problem (``path:line:col: message``) or one line otherwise; 2 for bad
    input or files, 1 when the engine itself failed."""
    if isinstance(exc, FileErrors):
        for error in exc.errors:
            sys.stderr.write(f"{error}\n")
        return 2
    if isinstance(exc, EngineError):
        sys.stderr.write(f"{PROG}: engine error: {exc}\n")
        return 1
    sys.stderr.write(f"{PROG}: error: {exc}\n")
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser(args_list)
        args = parser.parse_args(args_list)
        func = getattr(args, "func", None)
        if func is None:
            return run_tui(args)
        return int(func(args) or 0)
    except AdvisorError as exc:
        return report_error(exc)
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
