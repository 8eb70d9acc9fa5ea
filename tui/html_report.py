"""The consultation report as a standalone HTML page.

The engine writes the report as Markdown; this turns it into HTML with markdown-it-py (a Textual
dependency) with raw HTML disabled, so a device name or a rule's text can never inject markup:
everything that is not Markdown syntax is escaped, and link targets go through markdown-it's
URL check (no ``javascript:``).
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gpu_advisor.core.results import Consultation

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
    from markdown_it import MarkdownIt

    renderer = MarkdownIt("commonmark", {"html": False}).enable("table")
    body = renderer.render(markdown)
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
            f"{body}</body>\n</html>\n")


def to_html(consultation: Consultation, counterfactuals: bool = True) -> str:
    """The report of :func:`gpu_advisor.present.report.to_markdown`, as HTML."""
    from gpu_advisor.present.report import to_markdown

    return markdown_to_html(to_markdown(consultation, counterfactuals), "GPU recommendation")
