"""The budget and off-grid energy plan for the current answers, with every knob editable.

The tables are the ones ``gpu-advisor plan`` prints (the procurement paper's tables 3, 4, 6 and
7), computed by the engine's plan arithmetic for the devices this consultation recommends, all
its candidates, or the paper's four pathways. PUE, host factor, efficiency and depth of discharge
never edit the paper's named scenarios: set, they add a 'custom' scenario beside them, exactly as
the command line's flags do. The arithmetic takes well under a millisecond, so it runs on every
valid keystroke.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
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

from ..charts import PLAN_METRICS, plan_bars
from ..widgets.bars import BarChart
from ..widgets.tables import fill_table

if TYPE_CHECKING:
    from gpu_advisor.arithmetic.plan import DevicePlan, EnergyKnobs, Erratum, Pathways, PlanDevice

    from ..app import AdvisorApp

DEFAULT_BUDGET = 150_000
"""The procurement paper's budget: the plan's budget when the answers give none."""


def _strip_flag(message: str) -> str:
    """'--pue: PUE must be at least 1, got 0.9' -> 'PUE must be at least 1, got 0.9'."""
    head, sep, rest = message.partition(": ")
    return rest if sep and head.startswith("--") else message


@dataclass(frozen=True)
class Knob:
    """One editable assumption: its field id, label, the check it must pass, and a hint."""

    id: str
    label: str
    check: Callable[[str], Any]
    hint: str


def _money_check(flag: str, positive: bool) -> Callable[[str], Decimal]:
    def check(text: str) -> Decimal:
        from gpu_advisor.arithmetic.plan import require_positive, to_money

        amount = to_money(text, flag)
        if positive:
            require_positive(amount, flag, "the amount")
        elif amount < 0:
            raise UsageError(f"{flag}: the amount cannot be negative, got {amount}")
        return amount

    return check


def _number_check(flag: str, rule: str, what: str) -> Callable[[str], float]:
    def check(text: str) -> float:
        from gpu_advisor.arithmetic import plan

        value = plan.to_number(text, flag)
        {"positive": plan.require_positive, "fraction": plan.require_fraction,
         "at_least_one": plan.require_at_least_one}[rule](value, flag, what)
        return value

    return check


KNOBS: tuple[Knob, ...] = (
    Knob("budget", "Budget (USD)", _money_check("--budget", True), "the answers' budget, else 150,000"),
    Knob("hours", "Run (hours)", _number_check("--hours", "positive", "the run length"), "8"),
    Knob("pue", "PUE", _number_check("--pue", "at_least_one", "PUE"), "paper's scenarios"),
    Knob("host", "Host factor", _number_check("--host-factor", "at_least_one", "the host factor"),
         "paper's scenarios"),
    Knob("efficiency", "Efficiency", _number_check("--efficiency", "fraction", "discharge efficiency"),
         "paper's scenarios"),
    Knob("dod", "Depth of discharge", _number_check("--dod", "fraction", "depth of discharge"),
         "paper's scenarios"),
    Knob("battery_usd", "Battery price", _money_check("--powerwall-usd", False), "8,200"),
    Knob("battery_kwh", "Battery kWh", _number_check("--powerwall-kwh", "positive", "battery energy"),
         "13.5"),
)


class KnobValidator(Validator):
    """The plan arithmetic's own check of one knob; empty means the file's (or paper's) value."""

    def __init__(self, knob: Knob) -> None:
        super().__init__()
        self.knob = knob

    def validate(self, value: str) -> ValidationResult:
        if not value.strip():
            return self.success()
        try:
            self.knob.check(value.strip())
        except UsageError as exc:
            return self.failure(f"{self.knob.label}: {_strip_flag(str(exc))}")
        return self.success()


DEVICE_SETS = (("recommended devices", "recommended"), ("all candidates", "candidates"),
               ("the paper's pathways", "pathways"))
SCENARIO_CHOICES = (("all scenarios", "all"), ("optimistic", "optimistic"),
                    ("engineering", "engineering"), ("legacy room", "legacy-room"))


class PlanScreen(Screen[None]):
    """Knobs on top; the buy, per-unit and energy tables, the pictures and the notes below."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f6", "cycle_devices", "Devices", id="plan.devices",
                tooltip="Plan the recommended devices, all candidates, or the paper's pathways"),
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
    def advisor(self) -> AdvisorApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Header(icon="⚙")
        with Vertical(id="plan-knobs"):
            with Grid(id="knob-grid"):
                for knob in KNOBS:
                    with Vertical(classes="knob"):
                        yield Label(knob.label, classes="knob-label")
                        yield Input(id=f"knob-{knob.id}", placeholder=knob.hint, compact=True,
                                    validators=[KnobValidator(knob)], validate_on=["changed"],
                                    tooltip=f"{knob.label}; empty = {knob.hint}")
            with Horizontal(id="plan-choices"):
                yield Select(DEVICE_SETS, value="recommended", allow_blank=False, compact=True,
                             id="plan-devices", tooltip="Which devices to plan")
                yield Select(SCENARIO_CHOICES, value="all", allow_blank=False, compact=True,
                             id="plan-scenario", tooltip="Facility scenarios to show")
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

    def _knob_values(self) -> dict[str, Any] | None:
        """Every knob checked; None (with the first problem shown) when one is wrong."""
        values: dict[str, Any] = {}
        for knob in KNOBS:
            text = self.query_one(f"#knob-{knob.id}", Input).value.strip()
            if not text:
                values[knob.id] = None
                continue
            try:
                values[knob.id] = knob.check(text)
            except UsageError as exc:
                self._problem(f"{knob.label}: {_strip_flag(str(exc))}")
                return None
        return values

    def _problem(self, message: str) -> None:
        error = self.query_one("#plan-error", Label)
        error.update(Content.styled(message, "$error"))
        error.display = bool(message)

    def _devices(self) -> tuple[list[PlanDevice], tuple[Erratum, ...], list[str]]:
        from gpu_advisor.arithmetic.plan import device_from_kb, load_pathways

        if self._pathways is None:
            self._pathways = load_pathways(self.advisor.kb_dir)
        pathways = self._pathways
        if self.device_set == "pathways":
            return list(pathways.devices), pathways.errata, []
        consultation = self.advisor.consultation
        if consultation is None:
            return [], (), ["waiting for the first consultation"]
        if self.device_set == "recommended":
            ids = [r.device for r in consultation.recommendations]
        else:
            ids = list(consultation.devices)
        devices, skipped = [], []
        for device_id in ids:
            try:
                devices.append(device_from_kb(self.advisor.knowledge.devices[device_id]))
            except UsageError as exc:
                skipped.append(_strip_flag(str(exc)))
        return devices, (), skipped

    # -- computing ------------------------------------------------------------------------

    def recompute(self) -> None:
        """Run the plan arithmetic with the knobs as they are and redraw the tables."""
        from gpu_advisor.arithmetic.plan import choose_scenarios, load_energy, plan, with_battery
        from gpu_advisor.cli.plan import PlanRequest

        values = self._knob_values()
        if values is None:
            return
        try:
            if self._energy is None:
                self._energy = load_energy(self.advisor.kb_dir)
            budget = values["budget"]
            if budget is None:
                answered = self.advisor.session.value("budget_usd")
                budget = Decimal(str(answered if answered is not None else DEFAULT_BUDGET))
            hours = values["hours"]
            if hours is None and self.advisor.session.value("off_grid") is True:
                hours = self.advisor.session.value("off_grid_hours")
            knobs = with_battery(self._energy, hours=hours, energy_kwh=values["battery_kwh"],
                                 price_usd=values["battery_usd"])
            which = str(self.query_one("#plan-scenario", Select).value)
            scenarios = choose_scenarios(knobs, which, host_factor=values["host"], pue=values["pue"],
                                         efficiency=values["efficiency"], dod=values["dod"])
            devices, errata, skipped = self._devices()
            rows = plan(devices, budget, knobs, scenarios)
        except AdvisorError as exc:
            self._problem(_strip_flag(str(exc)))
            return
        self._problem("")
        notes = [f"{s.label}: {s.note}" for s in scenarios if s.id == "custom"] + skipped
        request = PlanRequest(budget, tuple(devices), scenarios, errata, knobs, "text", tuple(notes))
        self._draw(request, rows)

    def _draw(self, request: Any, rows: list[DevicePlan]) -> None:
        from gpu_advisor.cli import plan as plan_command

        heading = plan_command._heading(request)  # the command line's own wording
        self.query_one("#plan-heading", Static).update("\n".join(heading))
        if not rows:
            self._problem("No devices to plan: no device is recommended for these answers "
                          "(F6 switches to all candidates or the paper's pathways).")
        specs = {"buy": plan_command._buy_table(rows), "per-unit": plan_command._per_unit_table(rows),
                 "energy": plan_command._energy_table(rows, request.knobs.hours)}
        for table_id, spec in specs.items():
            self.query_one(f"#{table_id}-title", Label).update(spec.title)
            fill_table(self.query_one(f"#plan-{table_id}", DataTable),
                       [header.replace("\n", " ") for header in spec.headers], spec.rows,
                       right=spec.right)
        for metric in PLAN_METRICS:
            title, bars = plan_bars(rows, metric)
            self.query_one(f"#chart-{metric}-title", Label).update(title)
            self.query_one(f"#chart-{metric}", BarChart).bars = tuple(bars)
        notes = plan_command._notes(request, rows)
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
