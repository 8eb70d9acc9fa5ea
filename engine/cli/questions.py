"""`gpu-advisor questions`: the questionnaire as a list (keys, types, choices, defaults)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from gpu_advisor.cli.argtypes import add_dirs
from gpu_advisor.formatting import answer_number


def register(subparsers: Any) -> None:
    """Add the `questions` subcommand to an argparse subparsers object."""
    questions = subparsers.add_parser(
        "questions", help="list the questionnaire (keys, types, choices, defaults)"
    )
    questions.add_argument("--format", choices=("text", "json"), default="text")
    add_dirs(questions)
    questions.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print every question, in the order the questionnaire asks them."""
    import json

    from gpu_advisor.core.consult import Engine
    from gpu_advisor.lang.conditions import show

    engine = Engine.load(args.kb, args.rules)
    questions = engine.rulebase.questions.values()
    if args.format == "json":
        rows = [
            {
                "key": q.key,
                "prompt": q.prompt,
                "type": q.type,
                "choices": list(q.choices),
                "min": q.min,
                "max": q.max,
                "unit": q.unit,
                "default": q.default,
                "help": q.help,
                "ask_when": show(q.ask_when),
            }
            for q in questions
        ]
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return 0
    for q in questions:
        kind = ", ".join(q.choices) if q.choices else q.type
        if q.type in ("number", "integer"):
            low = "any" if q.min is None else answer_number(q.key, q.min)
            high = "any" if q.max is None else answer_number(q.key, q.max)
            kind = f"{q.type} {low}..{high}{' ' + q.unit if q.unit else ''}"
        default = "" if q.default is None else f" [default {q.default}]"
        when = show(q.ask_when)
        sys.stdout.write(f"{q.key}: {q.prompt}\n    {kind}{default}\n")
        if when != "always":
            sys.stdout.write(f"    asked when {when}\n")
    return 0
