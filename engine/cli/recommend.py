"""`gpu-advisor recommend`: one consultation, printed as text, Markdown, HTML or JSON.

Only argparse is imported at module level; the engine and the report are imported when the
command runs. The formats are the present layer's registry (present.formats, standard library
only at import), shared with the TUI's export: a new entry there is a new --format here.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from gpu_advisor.cli.argtypes import add_dirs, add_fetch_model, gather_answers
from gpu_advisor.present.formats import REPORT_FORMATS

NOTHING_FITS = 3
"""Exit status when the consultation ran but no device meets the answers (2 stays usage errors)."""

EXIT_STATUS = f"""\
numbers: 13B, 350M (model size, in billions), 20k, 1.5M (k = 1,000; M = 1,000,000).

exit status: 0 at least one device is recommended; {NOTHING_FITS} no device meets the answers
(the report still says why each is excluded); 2 bad answers, flags or files; 1 engine failure."""


def register(subparsers: Any) -> None:
    """Add the `recommend` subcommand to an argparse subparsers object."""
    rec = subparsers.add_parser(
        "recommend",
        help="recommend devices for a set of answers",
        description="Run one consultation and print the verdict with its reasons.",
        epilog=EXIT_STATUS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rec.add_argument(
        "--answers",
        metavar="FILE",
        help="answers in YAML or JSON (key: value); - reads standard input",
    )
    rec.add_argument(
        "--set",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        dest="set_values",
        help="one answer; repeatable; wins over --answers (candidates: comma-separated ids)",
    )
    rec.add_argument(
        "--model",
        metavar="NAME|PATH",
        help="the answer model: a catalog model (e.g. llama-3.1-70b) or a model's config.json, "
        "its folder or a .gguf file, read offline; wins over --answers and --set",
    )
    add_fetch_model(rec)
    rec.add_argument("--format", choices=tuple(REPORT_FORMATS), default="text")
    rec.add_argument(
        "--evaluator",
        choices=("durable", "python"),
        default="durable",
        help="evaluate conditions in durable_rules (default) or in Python",
    )
    rec.add_argument(
        "--no-counterfactuals",
        action="store_true",
        help="skip the what-would-change search (faster)",
    )
    rec.add_argument(
        "--trace",
        action="store_true",
        help="text format: also print every rule firing, in order, with the values it matched",
    )
    add_dirs(rec)
    rec.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Consult and print the report in the chosen format."""
    from gpu_advisor.core.consult import Engine
    from gpu_advisor.present.formats import render_report

    engine = Engine.load(args.kb, args.rules)
    answers = gather_answers(args)
    if args.model is not None:
        answers["model"] = args.model
    if "consultation_month" in engine.rulebase.questions and "consultation_month" not in answers:
        import datetime

        today = datetime.date.today()  # the clock is read here, at the edge, never in the engine
        answers["consultation_month"] = today.year * 100 + today.month
    consultation = engine.consult(answers, evaluator=args.evaluator)
    sys.stdout.write(
        render_report(
            consultation, args.format, counterfactuals=not args.no_counterfactuals, trace=args.trace
        )
    )
    return 0 if consultation.recommendations else NOTHING_FITS
