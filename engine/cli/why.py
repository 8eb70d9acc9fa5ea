"""`gpu-advisor why KEY`: why a question is asked, the rules that need its answer."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from gpu_advisor.cli.argtypes import add_dirs


def register(subparsers: Any) -> None:
    """Add the `why` subcommand to an argparse subparsers object."""
    why = subparsers.add_parser(
        "why", help="why is a question asked? the rules that need its answer"
    )
    why.add_argument("question", help="an answer key, e.g. budget_usd")
    add_dirs(why)
    why.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print what uses the answer: the arithmetic, the questions it gates, the rules."""
    from gpu_advisor.core.consult import Engine
    from gpu_advisor.core.explain import why_asked
    from gpu_advisor.errors import UsageError, did_you_mean

    engine = Engine.load(args.kb, args.rules)
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
