"""`gpu-advisor graph`: the decision tree as a picture or a graph file, with a consultation's path.

Only argparse is imported at module level: the CLI registers every subcommand at start-up, and
networkx, the engine and the YAML loaders are imported when `graph` actually runs.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from gpu_advisor.cli.argtypes import add_dirs, gather_answers
from gpu_advisor.present.errors import fields_named

FORMATS = ("dot", "svg", "png", "graphml", "mermaid", "json")  # graph.FORMATS, kept import-free
FLAGS = {"focus": "--focus", "format": "--format", "output": "--output"}
"""Fields the graph code may name in an error -> their flags."""

_DESCRIPTION = """\
Export the decision tree: the questions with the branches rules test, the rules (clustered by
topic), the facts they derive and their conclusions (excluded, preferred, warned). With answers
(--answers, --set) the consultation's path is drawn on it: the questions asked, the rules that
fired, the facts they derived and the devices each conclusion touched; the rest is dimmed.

DOT, GraphML, Mermaid and JSON need nothing else; SVG and PNG are drawn by Graphviz's `dot`
(package graphviz). Without -o the graph is written to standard output. The format defaults to
the extension of -o (.dot .gv .svg .png .graphml .mmd .json), else dot.

examples:
  gpu-advisor graph --format svg -o tree.svg
  gpu-advisor graph --set workload=inference --set model_params_b=70 -o path.svg
  gpu-advisor graph --focus reliability.ecc-missing --format mermaid
  gpu-advisor graph --focus rtx-5090 -o rtx-5090.png"""


def register(subparsers: Any) -> None:
    """Add the `graph` subcommand to an argparse subparsers object."""
    parser = subparsers.add_parser(
        "graph",
        help="export the decision tree (DOT, SVG, PNG, GraphML, Mermaid, JSON), with a "
        "consultation's path",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--answers", metavar="FILE", help="answers in YAML or JSON: draw their path"
    )
    parser.add_argument(
        "--set",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        dest="set_values",
        help="one answer; repeatable; wins over --answers",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="output format (default: from the -o extension, else dot)",
    )
    parser.add_argument(
        "-o", "--output", metavar="PATH", help="write here instead of standard output"
    )
    parser.add_argument(
        "--focus",
        metavar="RULE_OR_DEVICE",
        help="keep one rule or device and what leads to it and follows from it",
    )
    add_dirs(parser)
    parser.set_defaults(func=run)


@fields_named(FLAGS)
def run(args: argparse.Namespace) -> int:
    """Build the graph (with the answers' path), focus it if asked, write it."""
    from gpu_advisor.core.consult import Engine
    from gpu_advisor.errors import UsageError
    from gpu_advisor.present import graph

    fmt = args.format or graph.format_for(args.output) or "dot"
    if fmt in graph.RENDERED:
        graph.require_dot(fmt)  # before any work: say what to install
    if fmt == "png" and not args.output and sys.stdout.isatty():
        raise UsageError("PNG is binary: give -o PATH (or redirect standard output)")
    engine = Engine.load(args.kb, args.rules)
    consultation = None
    if args.answers or args.set_values:
        consultation = engine.consult(gather_answers(args))
    if args.output:
        path = graph.export_graph(consultation, engine, fmt, args.output, focus=args.focus)
        sys.stderr.write(f"wrote {path} ({fmt})\n")
        return 0
    built = graph.build_graph(engine, consultation)
    if args.focus:
        built = graph.focus_graph(built, engine, args.focus)
    data = graph.render(built, fmt)
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
    return 0
