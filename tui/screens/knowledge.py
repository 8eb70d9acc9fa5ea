"""The knowledge base as a person can check it: each device's facts with their sources.

Every value shows where it came from; where sources disagree, the row is marked and the detail
below lists every other value with its source and why the preferred one won. Throughput always
carries its precision and whether it is dense or sparse; dense figures derived from sparse ones
(half of a 2:4 peak) are listed as derived, never passed off as vendor figures.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Label, OptionList, Static
from textual.widgets.option_list import Option

from gpu_advisor.formatting import fact_label, number
from gpu_advisor.knowledge.kb import PRECISIONS

from ..widgets.tables import fill_table

if TYPE_CHECKING:
    from gpu_advisor.knowledge.kb import Device, Knowledge, Sourced

    from ..advisor import Advisor


def fact_value(name: str, fact: Sourced) -> str:
    """A fact's preferred value as read: throughput labelled with its precision and sparsity."""
    if name.startswith("throughput."):
        precision, _, kind = name.split(".", 1)[1].partition("_")
        value = "—" if fact.value is None else f"{float(fact.value):,.1f} TFLOPS"
        return f"{value} ({precision.upper()} {kind})"
    value = number(fact.value)
    return f"{value} {fact.unit}" if fact.unit and fact.value is not None else value


def derived_rows(device: Device) -> list[tuple[str, str, str]]:
    """Dense throughput derived as half a sparse peak, where the knowledge base has no dense
    figure."""
    rows = []
    for precision in PRECISIONS:
        figure = device.throughput(precision, sparse=False)
        if figure is not None and figure.derived:
            rows.append(
                (
                    f"{precision.upper()} dense throughput",
                    f"{figure.tflops:,.1f} TFLOPS ({precision.upper()} dense = sparse/2)",
                    figure.source,
                )
            )
    return rows


def fact_detail(knowledge: Knowledge, device: Device, name: str) -> Content:
    """One fact in full: value, source (title, link), note, date, and every disagreeing value."""
    facts = device.sourced_facts()
    if name not in facts:
        figure = None
        if name.startswith("derived."):
            figure = device.throughput(name.split(".", 1)[1], sparse=False)
        if figure is None:
            return Content("")
        return Content.assemble(
            (fact_label(f"throughput.{figure.precision}_dense"), "bold"),
            "\n",
            str(figure),
            "\n",
            ("derived: ", "$foreground-muted"),
            figure.note,
            "\n",
            ("source of the sparse figure: ", "$foreground-muted"),
            f"{figure.source} — {knowledge.cite(figure.source)}",
        )
    fact = facts[name]
    parts: list[str | tuple[str, str]] = [
        (fact_label(name), "bold"),
        "   ",
        (fact_value(name, fact), "bold $accent"),
        "\n",
        ("source: ", "$foreground-muted"),
        f"{fact.source} — {knowledge.cite(fact.source)}",
    ]
    source = knowledge.sources.get(fact.source_id)
    if source is not None and source.url:
        parts += ["\n", ("link: ", "$foreground-muted"), source.url]
    if fact.date:
        parts += ["\n", ("date: ", "$foreground-muted"), fact.date]
    if fact.note:
        parts += ["\n", ("note: ", "$foreground-muted"), fact.note]
    if fact.alternatives:
        parts += [
            "\n",
            (f"Sources disagree ({len(fact.alternatives)} other value(s)):", "bold $warning"),
        ]
        for alt in fact.alternatives:
            parts += [
                "\n",
                ("  • ", "$warning"),
                (number(alt.value), "bold"),
                "  from ",
                f"{alt.source} — {knowledge.cite(alt.source)}",
            ]
            if alt.note:
                parts += ["\n    ", (alt.note, "$foreground-muted")]
        if fact.preferred_because:
            parts += ["\n", ("Preferred because: ", "bold"), fact.preferred_because]
    return Content.assemble(*parts)


class KnowledgeScreen(Screen[None]):
    """Device list, its facts table, and the selected fact in full."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "f6",
            "explain_this",
            "Explain it",
            id="knowledge.explain",
            tooltip="How this device fares in the current consultation",
        ),
    ]

    device: reactive[str | None] = reactive(None, init=False)
    """The device whose facts are shown."""

    @property
    def advisor(self) -> Advisor:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        knowledge = self.advisor.knowledge
        yield Header(icon="⚙")
        with Horizontal(id="kb-body"):
            yield OptionList(
                *[
                    Option(device.short_name, id=device_id)
                    for device_id, device in knowledge.devices.items()
                ],
                id="kb-devices",
                compact=True,
            )
            with Vertical(id="kb-main"):
                yield Label("", id="kb-title", classes="section")
                yield DataTable(id="kb-facts", cursor_type="row", zebra_stripes=True)
                with VerticalScroll(id="kb-detail-box"):
                    yield Static("", id="kb-detail")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.device = next(iter(self.advisor.knowledge.devices))
        self.query_one("#kb-devices", OptionList).focus()

    def select_device(self, device_id: str) -> None:
        """Show one device (used by the explanation view and the command palette)."""
        if device_id in self.advisor.knowledge.devices:
            self.device = device_id

    def watch_device(self, device_id: str | None) -> None:
        if device_id is None:
            return
        knowledge = self.advisor.knowledge
        device = knowledge.devices[device_id]
        devices = self.query_one("#kb-devices", OptionList)
        index = devices.get_option_index(device_id)
        if devices.highlighted != index:
            with self.prevent(OptionList.OptionHighlighted):
                devices.highlighted = index
        disagreements = sum(1 for f in device.sourced_facts().values() if f.alternatives)
        self.query_one("#kb-title", Label).update(
            Content.assemble(
                (device.name, "bold"),
                f"  ·  {device.family}",
                (f"  ·  sources disagree on {disagreements} fact(s), marked !", "$warning")
                if disagreements
                else "",
            )
        )
        rows: list[list[str | Text]] = []
        keys: list[str] = []
        for name, fact in device.sourced_facts().items():
            marker = (
                Text(f"! {len(fact.alternatives)}", style="bold") if fact.alternatives else Text("")
            )
            rows.append([fact_label(name), fact_value(name, fact), marker, fact.source])
            keys.append(name)
        for label, value, source in derived_rows(device):
            rows.append([label, value, Text("derived", style="italic"), source])
            keys.append(f"derived.{label.split()[0].lower()}")
        fill_table(
            self.query_one("#kb-facts", DataTable),
            ("fact", "value", "!", "source"),
            rows,
            keys=keys,
            max_width=40,
        )
        self._show_detail(next(iter(device.sourced_facts())))

    def _show_detail(self, name: str) -> None:
        if self.device is None:
            return
        knowledge = self.advisor.knowledge
        detail = fact_detail(knowledge, knowledge.devices[self.device], name)
        self.query_one("#kb-detail", Static).update(detail)

    @on(OptionList.OptionHighlighted, "#kb-devices")
    def _device_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        if event.option.id:
            self.device = event.option.id

    @on(OptionList.OptionSelected, "#kb-devices")
    def _device_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.query_one("#kb-facts").focus()

    @on(DataTable.RowHighlighted, "#kb-facts")
    def _fact_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        if event.row_key.value:
            self._show_detail(event.row_key.value)

    def action_explain_this(self) -> None:
        if self.device is not None:
            self.advisor.action_explain(self.device)
