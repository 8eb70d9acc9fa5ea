"""`gpu-advisor audit`: what is wrong with the rule base, and why, before anyone relies on it.

Only argparse and the standard library are imported at module level: the CLI registers every
subcommand at start-up, and the audit imports the engine, rich and the rest when it runs.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, ClassVar

from gpu_advisor.cli.argtypes import non_negative_int

FORMATS = ("text", "markdown", "html", "json")

_DESCRIPTION = """\
Audit the knowledge base and rules: lint (every load error at path:line:col, rules without
rationale, sources or examples), each rule's examples through the engine, logic over the whole
answer space (conflicts, redundant and unreachable rules, dead facts and questions, answers with
no recommendation, explanations with holes), durable_rules against the Python evaluator, and the
knowledge (source disagreements, the seeds' claims, preferences the numbers contradict).

Every finding about behaviour comes with answers that reproduce it. Exit status: 0 clean, 1 when
a finding has error severity, 2 when the files cannot be loaded (each problem is printed as
path:line:col: message)."""


def register(subparsers: Any) -> None:
    """Add the `audit` subcommand to an argparse subparsers object."""
    parser = subparsers.add_parser(
        "audit",
        help="audit the rules: lint, examples, logic over all answers, engine agreement, knowledge",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rules", metavar="DIR", help="rules folder (default: the shipped one)")
    parser.add_argument(
        "--kb", metavar="DIR", help="knowledge-base folder (default: the shipped one)"
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="text (terse, default on a terminal), markdown or html (a report to read and "
        "annotate), json (for tools); default: from the -o extension, else text",
    )
    parser.add_argument("--rule", metavar="ID", help="also tell one rule's full story")
    parser.add_argument(
        "-o", "--output", metavar="PATH", help="write the report here instead of standard output"
    )
    parser.add_argument(
        "--agreement",
        metavar="N",
        type=non_negative_int,
        default=None,
        help="combinations to replay in durable_rules and Python (default 1000)",
    )
    parser.add_argument(
        "--verbose", action="store_true", help="text format: list the information findings too"
    )
    parser.set_defaults(func=run)


def format_for(path: str | None) -> str | None:
    if not path:
        return None
    suffix = path.rsplit(".", 1)[-1].lower() if "." in path else ""
    return {
        "md": "markdown",
        "markdown": "markdown",
        "html": "html",
        "htm": "html",
        "json": "json",
        "txt": "text",
    }.get(suffix)


def run(args: argparse.Namespace) -> int:
    from gpu_advisor.audit.render import render, to_text
    from gpu_advisor.audit.run import DEFAULT_AGREEMENT, run_audit

    fmt = args.format or format_for(args.output) or "text"
    agreement = DEFAULT_AGREEMENT if args.agreement is None else args.agreement
    with _progress() as tick:
        report = run_audit(
            args.kb, args.rules, rule_id=args.rule, progress=tick, agreement=agreement
        )
    if not report.loaded:
        for finding in report.sorted_findings():
            sys.stderr.write(f"{finding.where}: {finding.message}\n")
        if args.output or fmt != "text":
            _write(args.output, render(report, fmt))
        return 2
    text = to_text(report, verbose=args.verbose) if fmt == "text" else render(report, fmt)
    _write(args.output, text)
    return report.exit_code


def _write(path: str | None, text: str) -> None:
    if path:
        from gpu_advisor.knowledge.safe_files import write_text_safely

        write_text_safely(path, text)  # raises UsageError naming the path
        sys.stderr.write(f"wrote {path}\n")
    else:
        sys.stdout.write(text)


class _progress:
    """A rich progress bar on standard error, only when it is a terminal (else nothing)."""

    LABELS: ClassVar[dict[str, str]] = {
        "load": "loading",
        "examples": "rule examples",
        "situations": "answer space",
        "agreement": "durable_rules vs Python",
    }

    def __enter__(self) -> Any:
        if not sys.stderr.isatty():
            self._bar = None
            return None
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._bar.start()
        self._tasks: dict[str, Any] = {}
        return self.tick

    def tick(self, phase: str, done: int, total: int | None) -> None:
        assert self._bar is not None
        task = self._tasks.get(phase)
        if task is None:
            task = self._tasks[phase] = self._bar.add_task(
                self.LABELS.get(phase, phase), total=total
            )
        self._bar.update(task, completed=done, total=total)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
