"""Text fitting for the screens' cells. Numbers, money and units are formatted by
:mod:`gpu_advisor.formatting`, shared with the command line and the reports."""

from __future__ import annotations


def truncate(text: str, width: int) -> str:
    """`text` cut to `width` cells with an ellipsis."""
    if width <= 0:
        return ""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"
