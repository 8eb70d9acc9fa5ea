"""Horizontal bar charts drawn with block characters, coloured by theme variables.

A person compares lengths faster than numbers: memory need against each card's capacity, what a
unit of the workload's bottleneck costs on each device, a plan's per-dollar figures. Each bar can
carry a limit (a card's capacity): the part of the value beyond it is drawn in the error colour.
"""

from __future__ import annotations

from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget

from ..charts import Bar
from ..formatting import truncate

_EIGHTHS = " ▏▎▍▌▋▊▉█"
VARIANT_STYLES = {
    "ok": "$success",
    "bad": "$error",
    "warn": "$warning",
    "accent": "$accent",
    "primary": "$primary",
    "muted": "$foreground-disabled",
}
"""Bar colours by meaning, as theme variables so light and dark themes both read well."""


def _blocks(length: float) -> str:
    """`length` cells of bar, with eighth-blocks for the fraction."""
    whole = int(length)
    eighths = round((length - whole) * 8)
    if eighths == 8:
        return "█" * (whole + 1)
    return "█" * whole + (_EIGHTHS[eighths] if eighths else "")


class BarChart(Widget):
    """Rows of `label ████░░░ annotation`, scaled to the widest value or limit."""

    bars: reactive[tuple[Bar, ...]] = reactive((), layout=True)
    """The rows to draw; setting it redraws the chart and resizes it to one line per bar."""

    empty_text: reactive[str] = reactive("nothing to show")
    """What the chart says when there are no bars."""

    label_width: reactive[int] = reactive(22)
    """Cells kept for labels at most (labels are cut with an ellipsis beyond it)."""

    def render(self) -> Content:
        bars = self.bars
        if not bars:
            return Content.styled(self.empty_text, "$foreground-muted italic")
        width = max(self.size.width, 20)
        label_w = min(self.label_width, max(len(b.label) for b in bars))
        text_w = max(len(b.text) for b in bars)
        track = max(6, width - label_w - text_w - 3)
        scale = max(max(b.value for b in bars), max((b.limit or 0.0) for b in bars)) or 1.0
        lines: list[Content] = []
        for bar in bars:
            lines.append(self._line(bar, label_w, text_w, track, scale))
        return Content("\n").join(lines)

    def _line(self, bar: Bar, label_w: int, text_w: int, track: int, scale: float) -> Content:
        style = VARIANT_STYLES.get(bar.variant, "$primary")
        label = truncate(bar.label, label_w).ljust(label_w)
        value_cells = max(0.0, bar.value) / scale * track
        if bar.limit is not None:
            limit_cells = max(0.0, bar.limit) / scale * track
            inside = min(value_cells, limit_cells)
            filled = _blocks(inside)
            if bar.value > bar.limit:
                over = "▓" * max(1, round(value_cells) - len(filled))
                rest = ""
            else:
                over = ""
                rest = "░" * max(0, round(limit_cells) - len(filled))
            drawn = len(filled) + len(over) + len(rest)
            parts: list[tuple[str, str] | str] = [
                (label, "bold"),
                " ",
                (filled, style),
                (over, "$error"),
                (rest, "$foreground-muted"),
            ]
        else:
            filled = _blocks(value_cells) or ("▏" if bar.value > 0 else "")
            drawn = len(filled)
            parts = [(label, "bold"), " ", (filled, style)]
        pad = " " * max(0, track - drawn + 1)
        parts += [pad, " ", bar.text]
        return Content.assemble(*parts)
