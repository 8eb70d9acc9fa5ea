"""The verdict and everything behind it, redrawn whenever a consultation finishes.

Ranked recommendations (units and cost), the excluded devices with the rule that excluded each,
the pictures (memory need against capacity, cost per unit of the workload's bottleneck), the
warnings and the notes on the sources. Enter on a device opens its explanation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option

from gpu_advisor.arithmetic.sizing import usable_memory_gb
from gpu_advisor.formatting import money, number

from ..charts import cost_bars, count_bars, memory_bars
from .bars import BarChart
from .redraw import set_options, set_text

if TYPE_CHECKING:
    from gpu_advisor.core.results import Consultation

RECOMMENDED_HEADERS = ("#", "device", "units", "cost", "score", "GB/GPU")
RIGHT_ALIGNED = frozenset({0, 2, 3, 4, 5})

SEVERITY_STYLE = {"serious": "$error", "caution": "$warning", "info": "$foreground-muted"}
"""Warning glyph colours by the rule's severity."""


def verdict_text(consultation: Consultation) -> Content:
    """'Buy 8 x NVIDIA H100 SXM: 1 board of 8 GPUs in 1 x HGX server, $300,000 in all.' or
    why nothing qualifies."""
    if not consultation.recommendations:
        return Content.assemble(
            ("No device fits these answers", "bold $error"),
            ": each one's reason is under Excluded.",
        )
    from gpu_advisor.present.how_many import purchase_phrase

    top = consultation.recommendations[0]
    return Content.assemble(
        ("Buy ", "bold"),
        (f"{top.count} × {top.name}", "bold $success"),
        f": {purchase_phrase(consultation, top.device)}, ",
        (money(top.cost_usd), "bold"),
        " in all.",
    )


class ResultsPanel(VerticalScroll):
    """Shows one consultation: verdict, ranking, exclusions, pictures, warnings and notes."""

    @dataclass
    class DeviceChosen(Message):
        """The person asked to see why a device is (or is not) recommended."""

        device: str

    busy: reactive[bool] = reactive(False)
    """True while a newer consultation has run for a noticeable time: the verdict is greyed.

    Only the verdict's class changes (restyling the whole panel costs a frame); the screen sets
    it after a short delay, so the usual few-millisecond update never flickers."""

    def compose(self) -> ComposeResult:
        yield Static("Working out the first recommendation…", id="verdict")
        yield Label("", id="memory-line")
        yield Label("", classes="section", id="count-title")
        yield BarChart(id="count-chart")
        yield Label("Recommended (Enter explains)", classes="section")
        yield Label("", id="recommended-header")
        yield OptionList(id="recommended", compact=True)
        yield Label("Excluded (Enter explains why not)", classes="section", id="excluded-title")
        yield OptionList(id="excluded", compact=True)
        yield Label("", classes="section", id="memory-title")
        yield BarChart(id="memory-chart")
        yield Label("", classes="section", id="cost-title")
        yield BarChart(id="cost-chart")
        yield Label("Warnings", classes="section", id="warnings-title")
        yield Static("", id="warnings")
        yield Label("Notes on the sources", classes="section", id="notes-title")
        yield Static("", id="notes")

    def watch_busy(self, busy: bool) -> None:
        self.query_one("#verdict").set_class(busy, "-busy")

    def show(self, consultation: Consultation) -> None:
        """Show `consultation`, redrawing only the parts that changed (keeps the highlighted
        device when it remains)."""
        set_text(self.query_one("#verdict", Static), verdict_text(consultation))
        estimate = consultation.arithmetic.estimate
        memory = (
            ""
            if estimate is None
            else f"Memory need: {estimate.total_gb:,.1f} GB on one GPU; "
            + ", ".join(f"{i.item} {i.gb:,.1f}" for i in estimate.breakdown if i.gb > 0.005)
        )
        set_text(self.query_one("#memory-line", Label), Content(memory))
        title, bars = count_bars(consultation)
        set_text(self.query_one("#count-title", Label), Content(title))
        self.query_one("#count-chart", BarChart).bars = tuple(bars)
        self._fill_recommended(consultation)
        self._fill_excluded(consultation)
        title, bars = memory_bars(consultation)
        set_text(self.query_one("#memory-title", Label), Content(title))
        self.query_one("#memory-chart", BarChart).bars = tuple(bars)
        title, bars = cost_bars(consultation)
        set_text(self.query_one("#cost-title", Label), Content(title))
        chart = self.query_one("#cost-chart", BarChart)
        chart.empty_text = "no recommended device to compare"
        chart.bars = tuple(bars)
        self._fill_warnings(consultation)
        notes = [Content.assemble(("* ", "$accent"), note.message) for note in consultation.notes]
        set_text(
            self.query_one("#notes", Static),
            Content("\n").join(notes) if notes else Content.styled("none", "$foreground-muted"),
        )
        self.query_one("#notes-title").display = bool(notes)
        self.query_one("#notes").display = bool(notes)

    def _fill_recommended(self, consultation: Consultation) -> None:
        """The ranking as aligned rows in an option list (cheaper to redraw than a DataTable,
        which measures its columns again on idle and so costs a second frame per update)."""
        knowledge = consultation.rulebase.knowledge
        rows: list[list[str]] = []
        for rank, rec in enumerate(consultation.recommendations, start=1):
            attrs = consultation.devices[rec.device]
            per_gpu = attrs.get("memory_per_gpu_gb")
            memory = (
                "—"
                if per_gpu is None
                else f"{number(per_gpu, 1)}/{number(usable_memory_gb(attrs['memory_gb']), 1)}"
            )
            rows.append(
                [
                    str(rank),
                    knowledge.devices[rec.device].short_name,
                    str(rec.count),
                    money(rec.cost_usd),
                    f"{rec.score:.2f}",
                    memory,
                ]
            )
        widths = [
            max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
            for i, h in enumerate(RECOMMENDED_HEADERS)
        ]

        def line(cells: list[str] | tuple[str, ...]) -> str:
            return "  ".join(
                cell.rjust(widths[i]) if i in RIGHT_ALIGNED else cell.ljust(widths[i])
                for i, cell in enumerate(cells)
            ).rstrip()

        set_text(
            self.query_one("#recommended-header", Label),
            Content.styled(line(RECOMMENDED_HEADERS), "bold $foreground-muted"),
        )
        widget = self.query_one("#recommended", OptionList)
        keep = widget.highlighted_option.id if widget.highlighted_option is not None else None
        if not rows:
            set_options(
                widget,
                [Option(Content.styled("no device qualifies", "$foreground-muted"), id="-none")],
            )
            return
        set_options(
            widget,
            [
                Option(line(row), id=rec.device)
                for row, rec in zip(rows, consultation.recommendations)
            ],
        )
        ids = [rec.device for rec in consultation.recommendations]
        highlighted = ids.index(keep) if keep in ids else 0
        if widget.highlighted != highlighted:
            widget.highlighted = highlighted

    def _fill_excluded(self, consultation: Consultation) -> None:
        widget = self.query_one("#excluded", OptionList)
        options = []
        for device_id, exclusions in consultation.all_exclusions.items():
            first = exclusions[0]
            more = f" (+{len(exclusions) - 1} more)" if len(exclusions) > 1 else ""
            options.append(
                Option(
                    Content.assemble(
                        ("✗ ", "$error"),
                        (device_id, "bold"),
                        ": ",
                        first.because,
                        more,
                        (f"  [{first.rule}]", "$foreground-muted"),
                    ),
                    id=device_id,
                )
            )
        set_options(widget, options)
        shown = bool(consultation.all_exclusions)
        widget.display = shown
        self.query_one("#excluded-title").display = shown

    def _fill_warnings(self, consultation: Consultation) -> None:
        shown = {r.device for r in consultation.recommendations[:5]}
        lines = []
        for warning in consultation.warnings:
            if warning.device is not None and warning.device not in shown:
                continue
            where = f"{warning.device}: " if warning.device else ""
            lines.append(
                Content.assemble(
                    ("! ", f"bold {SEVERITY_STYLE.get(warning.severity, '$warning')}"),
                    (where, "bold"),
                    warning.message,
                    (f"  [{warning.rule}]", "$foreground-muted"),
                )
            )
        set_text(
            self.query_one("#warnings", Static),
            Content("\n").join(lines) if lines else Content.styled("none", "$foreground-muted"),
        )

    @on(OptionList.OptionSelected, "#recommended")
    def _recommended_chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id and event.option.id != "-none":
            self.post_message(self.DeviceChosen(event.option.id))

    @on(OptionList.OptionSelected, "#excluded")
    def _excluded_chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self.post_message(self.DeviceChosen(event.option.id))

    def highlighted_device(self) -> str | None:
        """The device under the cursor of whichever list has the keyboard, if any."""
        for selector in ("#recommended", "#excluded"):
            widget = self.query_one(selector, OptionList)
            option = widget.highlighted_option
            if widget.has_focus and option is not None and option.id != "-none":
                return option.id
        return None
