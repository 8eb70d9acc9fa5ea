"""The output formats of a consultation's report: one registry for the command line and the TUI.

``gpu-advisor recommend --format NAME`` offers every entry; the TUI's export offers those marked
``exported``. Adding a format is one entry here (and, if it needs one, its renderer).

HTML is the Markdown report rendered by markdown-it-py (a Textual dependency) with raw HTML
disabled, so a device name or a rule's text can never inject markup: everything that is not
Markdown syntax is escaped, and link targets go through markdown-it's URL check (no
``javascript:``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gpu_advisor.core.consult import Consultation


@dataclass(frozen=True)
class ReportFormat:
    """One way to write a consultation: its name on the command line, its label in the TUI,
    the file suffix, and the renderer (consultation, counterfactuals, trace) -> text."""

    name: str
    label: str
    suffix: str
    render: Callable[[Consultation, bool, bool], str]
    exported: bool = True
    """Offered by the TUI's export dialog (plain text is for the terminal)."""


def _text(consultation: Consultation, counterfactuals: bool, trace: bool) -> str:
    from gpu_advisor.present.report import to_text

    return to_text(consultation, counterfactuals, trace=trace)


def _markdown(consultation: Consultation, counterfactuals: bool, _trace: bool) -> str:
    from gpu_advisor.present.report import to_markdown

    return to_markdown(consultation, counterfactuals)


def _html(consultation: Consultation, counterfactuals: bool, trace: bool) -> str:
    return markdown_to_html(_markdown(consultation, counterfactuals, trace), "GPU recommendation")


def _json(consultation: Consultation, counterfactuals: bool, _trace: bool) -> str:
    from gpu_advisor.present.report import to_json_text

    return to_json_text(consultation, counterfactuals)


REPORT_FORMATS: dict[str, ReportFormat] = {
    fmt.name: fmt
    for fmt in (
        ReportFormat("text", "Text", ".txt", _text, exported=False),
        ReportFormat("markdown", "Markdown", ".md", _markdown),
        ReportFormat("html", "HTML", ".html", _html),
        ReportFormat("json", "JSON", ".json", _json),
    )
}


def render_report(
    consultation: Consultation, fmt: str, *, counterfactuals: bool = True, trace: bool = False
) -> str:
    """The consultation in one of REPORT_FORMATS (``trace`` adds the firings to plain text)."""
    return REPORT_FORMATS[fmt].render(consultation, counterfactuals, trace)


_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem;
       line-height: 1.45; color: #1d1d1f; background: #fff; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; vertical-align: top; text-align: left; }
th { background: #f2f2f2; }
code { background: #f4f4f4; padding: 0 0.2rem; border-radius: 3px; }
@media (prefers-color-scheme: dark) {
  body { color: #e8e8e8; background: #1b1b1d; }
  th { background: #2a2a2e; } th, td { border-color: #444; } code { background: #2a2a2e; }
}
"""


def markdown_to_html(markdown: str, title: str) -> str:
    """A complete HTML document for a Markdown text (raw HTML in the text is escaped)."""
    import html  # with its entity tables, about 1.4 ms: only when HTML is asked for

    from markdown_it import MarkdownIt

    renderer = MarkdownIt("commonmark", {"html": False}).enable("table")
    body = renderer.render(markdown)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        f"{body}</body>\n</html>\n"
    )
