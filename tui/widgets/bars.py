"""Horizontal bar charts drawn with block characters, coloured by theme variables.

A person compares lengths faster than numbers: memory need against each card's capacity, what a
unit of the workload's bottleneck costs on each device, a plan's per-dollar figures. Each bar can
carry a limit (a card's capacity): the part of the value beyond it is drawn in the error colour.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from textual.content import Content
from textual.geometry import Size
from textual.reactive import reactive
from textual.strip import Strip
from textual.visual import Visual
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


@dataclass
class _Drawn:
    """A chart laid out for one set of bars and one width."""

    key: tuple[object, ...]
    rows: list[Content]
    lines: list[tuple[int, int]]  # screen line -> (row, line within the wrapped row)
    strips: dict[int, list[Strip]] = field(default_factory=dict)


class BarChart(Widget):
    """Rows of `label ████░░░ annotation`, scaled to the widest value or limit."""

    bars: reactive[tuple[Bar, ...]] = reactive(())
    """The rows to draw; setting it redraws the chart, and lays the screen out again only when
    the chart's height changes."""

    empty_text: reactive[str] = reactive("nothing to show")
    """What the chart says when there are no bars."""

    label_width: reactive[int] = reactive(22)
    """Cells kept for labels at most (labels are cut with an ellipsis beyond it)."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._drawn: _Drawn | None = None

    def watch_bars(self, old: tuple[Bar, ...], new: tuple[Bar, ...]) -> None:
        # A line longer than the chart wraps: the height is the drawn one, not the bar count.
        width = self.size.width
        if not width or len(self._drawn_at(old, width).lines) != len(
            self._drawn_at(new, width).lines
        ):
            self.refresh(layout=True)

    def _drawn_at(self, bars: tuple[Bar, ...], width: int) -> _Drawn:
        """The chart of `bars` at `width` cells: its rows as text and where each screen line
        comes from. Rows are turned into strips only when a line of theirs is on screen."""
        key = (bars, width, self.empty_text, self.label_width)
        if self._drawn is None or self._drawn.key != key:
            rows = self._rows(bars, width)
            lines = []
            for index, row in enumerate(rows):
                wraps = width > 0 and row.cell_length > width
                height = row.get_height(self.styles, width) if wraps else 1
                lines += [(index, line) for line in range(max(1, height))]
            self._drawn = _Drawn(key, rows, lines, {})
        return self._drawn

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return max(1, len(self._drawn_at(self.bars, width).lines))

    def render_line(self, y: int) -> Strip:
        """One screen line: only the rows on screen are rendered (a chart of 22 devices mostly
        lies below the fold of the results panel)."""
        width = self.size.width
        drawn = self._drawn_at(self.bars, width)
        if y >= len(drawn.lines):
            return Strip.blank(width, self.visual_style.rich_style)
        index, line = drawn.lines[y]
        strips = drawn.strips.get(index)
        if strips is None:
            strips = Visual.to_strips(self, drawn.rows[index], width, None, self.visual_style)
            drawn.strips[index] = strips
        if line >= len(strips):
            return Strip.blank(width, self.visual_style.rich_style)
        return strips[line].extend_cell_length(width, self.visual_style.rich_style)

    def render(self) -> Content:
        return Content("\n").join(self._drawn_at(self.bars, self.size.width).rows)

    def notify_style_update(self) -> None:
        self._drawn = None  # a new theme: render the strips again
        super().notify_style_update()

    def _rows(self, bars: tuple[Bar, ...], width: int) -> list[Content]:
        if not bars:
            return [Content.styled(self.empty_text, "$foreground-muted italic")]
        width = max(width, 20)
        label_w = min(self.label_width, max(len(b.label) for b in bars))
        text_w = max(len(b.text) for b in bars)
        track = max(6, width - label_w - text_w - 3)
        scale = max(max(b.value for b in bars), max((b.limit or 0.0) for b in bars)) or 1.0
        return [self._line(bar, label_w, text_w, track, scale) for bar in bars]

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
