"""The budget and off-grid energy plan for the current answers, with every knob editable.

The tables are the ones ``gpu-advisor plan`` prints (the procurement paper's tables 3, 4, 6 and
7), computed by the engine's plan arithmetic for the devices this consultation recommends, all
its candidates, or the paper's four pathways. PUE, host factor, efficiency and depth of discharge
never edit the paper's named scenarios: set, they add a 'custom' scenario beside them, exactly as
the command line's flags do. The arithmetic takes well under a millisecond, so it runs on every
valid keystroke.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.reactive import reactive
from textual.screen import Screen
from textual.validation import ValidationResult, Validator
from textual.widgets import DataTable, Footer, Header, Input, Label, Select, Static

from gpu_advisor.errors import AdvisorError, UsageError
from gpu_advisor.present.errors import worded

from ..charts import PLAN_METRICS, plan_bars
from ..widgets.bars import BarChart
from ..widgets.tables import fill_table

if TYPE_CHECKING:
    from gpu_advisor.arithmetic.plan import DevicePlan, EnergyKnobs, Pathways, PlanDevice
    from gpu_advisor.present.plan_request import PlanRequest

    from ..advisor import Advisor

DEFAULT_BUDGET = 150_000
"""The procurement paper's budget: the plan's budget when the answers give none."""


@dataclass(frozen=True)
class Knob:
    """One editable assumption: the plan input it sets, its label, and a hint for empty."""

    field: str
    label: str
    hint: str


KNOBS: tuple[Knob, ...] = (
    Knob("budget", "Budget (USD)", "the answers' budget, else 150,000"),
    Knob("hours", "Run (hours)", "8"),
    Knob("pue", "PUE", "paper's scenarios"),
    Knob("host_factor", "Host factor", "paper's scenarios"),
    Knob("efficiency", "Efficiency", "paper's scenarios"),
    Knob("dod", "Depth of discharge", "paper's scenarios"),
    Knob("powerwall_usd", "Battery price", "8,200"),
    Knob("powerwall_kwh", "Battery kWh", "13.5"),
)
LABELS: dict[str, str] = {
    "price": "Price",
    "device": "Device",
    "scenario": "Scenario",
    "powerwall_kw": "Battery kW",
    "kb": "Knowledge base",
    **{knob.field: knob.label for knob in KNOBS},
}
"""Each plan input -> its name on this screen: errors name the knob the way the screen does."""


class KnobValidator(Validator):
    """The plan's own check of one knob; empty means the file's (or paper's) value."""

    def __init__(self, knob: Knob) -> None:
        super().__init__()
        self.knob = knob

    def validate(self, value: str) -> ValidationResult:
        from gpu_advisor.present.plan_request import check_knob

        if not value.strip():
            return self.success()
        try:
            check_knob(self.knob.field, value.strip())
        except UsageError as exc:
            return self.failure(worded(exc, LABELS))
        return self.success()


DEVICE_SETS = (
    ("recommended devices", "recommended"),
    ("all candidates", "candidates"),
    ("the paper's pathways", "pathways"),
)
SCENARIO_CHOICES = (
    ("all scenarios", "all"),
    ("optimistic", "optimistic"),
    ("engineering", "engineering"),
    ("legacy room", "legacy-room"),
)


class PlanScreen(Screen[None]):
    """Knobs on top; the buy, per-unit and energy tables, the pictures and the notes below."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "f6",
            "cycle_devices",
            "Devices",
            id="plan.devices",
            tooltip="Plan the recommended devices, all candidates, or the paper's pathways",
        ),
    ]

    device_set: reactive[str] = reactive("recommended", init=False)
    """Which devices the plan covers: recommended, candidates or pathways."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[DevicePlan] = []
        """The plan on screen, one row per device (what the tables and pictures show)."""
        self._energy: EnergyKnobs | None = None
        self._pathways: Pathways | None = None

    @property
    def advisor(self) -> Advisor:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Header(icon="⚙")
        with Vertical(id="plan-knobs"):
            with Grid(id="knob-grid"):
                for knob in KNOBS:
                    with Vertical(classes="knob"):
                        yield Label(knob.label, classes="knob-label")
                        yield Input(
                            id=f"knob-{knob.field}",
                            placeholder=knob.hint,
                            compact=True,
                            validators=[KnobValidator(knob)],
                            validate_on=["changed"],
                            tooltip=f"{knob.label}; empty = {knob.hint}",
                        )
            with Horizontal(id="plan-choices"):
                yield Select(
                    DEVICE_SETS,
                    value="recommended",
                    allow_blank=False,
                    compact=True,
                    id="plan-devices",
                    tooltip="Which devices to plan",
                )
                yield Select(
                    SCENARIO_CHOICES,
                    value="all",
                    allow_blank=False,
                    compact=True,
                    id="plan-scenario",
                    tooltip="Facility scenarios to show",
                )
            yield Label("", id="plan-error")
        with VerticalScroll(id="plan-tables"):
            yield Static("", id="plan-heading")
            for table_id in ("buy", "per-unit", "energy"):
                yield Label("", id=f"{table_id}-title", classes="section")
                yield DataTable(id=f"plan-{table_id}", cursor_type="row", zebra_stripes=True)
            for metric in PLAN_METRICS:
                yield Label("", id=f"chart-{metric}-title", classes="section")
                yield BarChart(id=f"chart-{metric}")
            yield Label("Notes", classes="section")
            yield Static("", id="plan-notes")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.watch(self.app, "consultation", self._consultation_changed, init=False)
        self._budget_from_answers()
        self.recompute()

    def on_screen_resume(self) -> None:
        self._budget_from_answers()
        self.recompute()

    def _budget_from_answers(self) -> None:
        """The budget field's hint follows the answers; what was typed there is kept."""
        field = self.query_one("#knob-budget", Input)
        budget = self.advisor.session.value("budget_usd")
        field.placeholder = f"{budget if budget is not None else DEFAULT_BUDGET:,}"

    def _consultation_changed(self, _consultation: Any) -> None:
        if self.is_current and self.device_set != "pathways":
            self.recompute()

    # -- reading the knobs ----------------------------------------------------------------

    def _knob_texts(self) -> dict[str, str | None] | None:
        """Every knob's text (None when empty); None (with the first problem shown) when one
        does not pass its check."""
        from gpu_advisor.present.plan_request import check_knob

        texts: dict[str, str | None] = {}
        for knob in KNOBS:
            text = self.query_one(f"#knob-{knob.field}", Input).value.strip()
            try:
                if text:
                    check_knob(knob.field, text)
            except UsageError as exc:
                self._problem(worded(exc, LABELS))
                return None
            texts[knob.field] = text or None
        return texts

    def _problem(self, message: str) -> None:
        error = self.query_one("#plan-error", Label)
        error.update(Content.styled(message, "$error"))
        error.display = bool(message)

    def _devices(self) -> tuple[list[PlanDevice] | None, list[str]]:
        """The devices of the chosen set (None: the paper's pathways) and a note for each
        device that cannot be planned."""
        from gpu_advisor.arithmetic.plan import device_from_kb

        if self.device_set == "pathways":
            return None, []
        consultation = self.advisor.consultation
        if consultation is None:
            return [], ["waiting for the first consultation"]
        if self.device_set == "recommended":
            ids = [r.device for r in consultation.recommendations]
        else:
            ids = list(consultation.devices)
        devices, skipped = [], []
        for device_id in ids:
            try:
                devices.append(device_from_kb(self.advisor.knowledge.devices[device_id]))
            except UsageError as exc:
                skipped.append(worded(exc, LABELS))
        return devices, skipped

    # -- computing ------------------------------------------------------------------------

    def recompute(self) -> None:
        """Run the plan arithmetic with the knobs as they are and redraw the tables."""
        from gpu_advisor.arithmetic.plan import load_energy, load_pathways
        from gpu_advisor.present.plan_request import PlanInputs, read_request

        texts = self._knob_texts()
        if texts is None:
            return
        session = self.advisor.session
        budget = texts["budget"]
        if budget is None:
            answered = session.value("budget_usd")
            budget = str(answered if answered is not None else DEFAULT_BUDGET)
        hours: str | float | None = texts["hours"]
        if hours is None and session.value("off_grid") is True:
            hours = session.value("off_grid_hours")
        inputs = PlanInputs(
            budget=budget,
            hours=hours,
            scenario=str(self.query_one("#plan-scenario", Select).value),
            powerwall_usd=texts["powerwall_usd"],
            powerwall_kwh=texts["powerwall_kwh"],
            pue=texts["pue"],
            host_factor=texts["host_factor"],
            efficiency=texts["efficiency"],
            dod=texts["dod"],
            kb=self.advisor.kb_dir,
            # knowledge-base devices are bought whole (units, boxes, network) at the answered site
            site=str(session.value("site") or "server-room"),
        )
        try:
            if self._energy is None:
                self._energy = load_energy(self.advisor.kb_dir)
            if self._pathways is None:
                self._pathways = load_pathways(self.advisor.kb_dir)
            devices, skipped = self._devices()
            request = read_request(
                inputs, LABELS, energy=self._energy, pathways=self._pathways, devices=devices
            )
            rows = request.plans()
        except AdvisorError as exc:
            self._problem(worded(exc, LABELS))
            return
        self._problem("")
        self._draw(replace(request, notes=request.notes + tuple(skipped)), rows)

    def _draw(self, request: PlanRequest, rows: list[DevicePlan]) -> None:
        from gpu_advisor.present import plan_tables

        heading = plan_tables.heading(request)  # the command line's own wording
        self.query_one("#plan-heading", Static).update("\n".join(heading))
        if not rows:
            self._problem(
                "No devices to plan: no device is recommended for these answers "
                "(F6 switches to all candidates or the paper's pathways)."
            )
        specs = {
            "buy": plan_tables.buy_table(rows),
            "per-unit": plan_tables.per_unit_table(rows),
            "energy": plan_tables.energy_table(rows, request.knobs.hours),
        }
        for table_id, spec in specs.items():
            self.query_one(f"#{table_id}-title", Label).update(spec.title)
            fill_table(
                self.query_one(f"#plan-{table_id}", DataTable),
                [header.replace("\n", " ") for header in spec.headers],
                spec.rows,
                right=spec.right,
            )
        for metric in PLAN_METRICS:
            title, bars = plan_bars(rows, metric)
            self.query_one(f"#chart-{metric}-title", Label).update(title)
            self.query_one(f"#chart-{metric}", BarChart).bars = tuple(bars)
        notes = plan_tables.plan_notes(request, rows)
        self.query_one("#plan-notes", Static).update("\n".join(f"- {note}" for note in notes))
        self.rows = rows

    # -- events ---------------------------------------------------------------------------

    @on(Input.Changed, ".knob Input")
    def _knob_typed(self, event: Input.Changed) -> None:
        event.stop()
        result = event.validation_result
        if result is not None and not result.is_valid:
            self._problem(result.failure_descriptions[0])
            return
        self.recompute()

    @on(Select.Changed, "#plan-devices")
    def _devices_chosen(self, event: Select.Changed) -> None:
        event.stop()
        if isinstance(event.value, str):
            self.device_set = event.value

    @on(Select.Changed, "#plan-scenario")
    def _scenario_chosen(self, event: Select.Changed) -> None:
        event.stop()
        self.recompute()

    def watch_device_set(self, device_set: str) -> None:
        select = self.query_one("#plan-devices", Select)
        if select.value != device_set:
            with self.prevent(Select.Changed):
                select.value = device_set
        self.recompute()

    def action_cycle_devices(self) -> None:
        """Recommended devices -> all candidates -> the paper's pathways -> recommended."""
        order = [value for _label, value in DEVICE_SETS]
        self.device_set = order[(order.index(self.device_set) + 1) % len(order)]
