"""Budget and off-grid energy arithmetic: how many units a budget buys, and what running them costs.

The arithmetic follows the procurement paper the project started from (seed-003, tables 3, 4, 6
and 7) so that its tables can be reproduced and checked, and every knob it treats as an assumption
(prices, run length, PUE, host overhead, battery efficiency and depth of discharge, battery size
and price) can be changed. Inputs are plain dataclasses, so the arithmetic can be tested without
the knowledge base; :func:`device_from_kb` adapts a knowledge-base device.

Money is :class:`~decimal.Decimal` so that ``units x price + leftover == budget`` holds exactly;
power and energy are floats.

Knowledge-base devices planned at a site are bought whole instead (see ``plan_purchase``):
purchase units with their hosts and network, whose cost is what is spent, and the boxes' system
power as the IT load with host factor 1. The paper's pathways keep the paper's arithmetic.

Longer than the house's ~600 lines because a row's arithmetic, its notes and its JSON fields are
one contract and change together; what buying whole involves lives in ``plan_purchase``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gpu_advisor.errors import UsageError

# The plan's inputs are knowledge (kb/energy.yaml, kb/pathways.yaml); re-exported for its callers.
from gpu_advisor.knowledge.energy import (  # noqa: F401
    CUSTOM_SCENARIO,
    Battery,
    EnergyKnobs,
    Erratum,
    Money,
    Pathways,
    Peak,
    PlanDevice,
    Scenario,
    require_at_least_one,
    require_fraction,
    require_positive,
    to_money,
    to_number,
)
from gpu_advisor.knowledge.kb import shipped_kb_dir  # noqa: F401

if TYPE_CHECKING:
    from gpu_advisor.arithmetic.purchase import Purchase
    from gpu_advisor.knowledge.systems import Systems

#: Counts such as Powerwalls are ceilings of ratios; float noise must not turn 6.0 into 7.
_COUNT_TOLERANCE_DIGITS = 9


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScenarioResult:
    """Power, energy, batteries and CapEx for one device row under one scenario."""

    scenario: Scenario
    host_factor: float
    it_kw: float
    facility_kw: float
    energy_kwh: float
    battery_kwh: float
    powerwalls: int
    powerwalls_for_power: int
    capex_usd: Money
    capex_spent_usd: Money
    battery_cost_usd: Money = Decimal(0)

    @property
    def power_limited(self) -> bool:
        """True when the bank sized for energy cannot deliver the facility's power continuously."""
        return self.powerwalls_for_power > self.powerwalls


@dataclass(frozen=True)
class PerUnit:
    """One unit's figures per dollar, per kW and per watt (seed-003#table-4)."""

    ai_pflops_per_usd: float | None
    ai_pflops_per_kw: float | None
    ai_dense_pflops_per_usd: float | None
    ai_dense_pflops_per_kw: float | None
    fp32_tflops_per_kw: float | None
    gb_per_usd: float
    gbs_per_w: float


@dataclass(frozen=True)
class DevicePlan:
    """One row of the plan: what the budget buys of one device and what running it takes."""

    device: PlanDevice
    budget_usd: Money
    units: int
    spent_usd: Money
    leftover_usd: Money
    per_unit: PerUnit
    scenarios: tuple[ScenarioResult, ...]
    notes: tuple[str, ...] = field(default=())
    site: str | None = None
    """The site the device was bought whole for (None: counted per unit, as the paper does)."""
    purchase: Purchase | None = None
    """What was bought whole: units, hosts, network (None when no box takes it at the site)."""

    @property
    def bought_whole(self) -> bool:
        """Whether the row is a whole purchase at a site (units are then GPUs in whole purchase
        units, spent is GPUs + hosts + network, and power the boxes' system power)."""
        return self.site is not None

    @property
    def host_in_power(self) -> bool:
        """Whether the row's power already covers the host, so its host factor is 1."""
        return self.device.host_included or self.purchase is not None

    @property
    def ai_peak(self) -> Peak | None:
        return self.device.ai_peak.scaled(self.units) if self.device.ai_peak else None

    @property
    def fp32_tflops(self) -> float | None:
        return None if self.device.fp32_tflops is None else self.device.fp32_tflops * self.units

    @property
    def memory_gb(self) -> float:
        return self.device.memory_gb * self.units

    @property
    def bandwidth_tbs(self) -> float:
        return self.device.bandwidth_gbs * self.units / 1000.0

    def scenario(self, scenario_id: str) -> ScenarioResult:
        for result in self.scenarios:
            if result.scenario.id == scenario_id:
                return result
        raise KeyError(scenario_id)


# ---------------------------------------------------------------------------------------------
# Arithmetic
# ---------------------------------------------------------------------------------------------


def count_needed(amount: float, per_unit: float) -> int:
    """Whole units that cover `amount`: a ceiling that ignores float noise (6.0000000001 is 6)."""
    if amount <= 0:
        return 0
    return math.ceil(round(amount / per_unit, _COUNT_TOLERANCE_DIGITS))


def units_within_budget(
    budget_usd: Money | float | str, price_usd: Money | float | str
) -> tuple[int, Money]:
    """How many whole units the budget buys, and the money left over (exact)."""
    budget = to_money(budget_usd, "budget")
    price = to_money(price_usd, "price")
    require_positive(budget, "budget", "the budget")
    require_positive(price, "price", "a unit price")
    units = int(budget // price)
    return units, budget - price * units


def per_unit_metrics(device: PlanDevice) -> PerUnit:
    """Table 4's ratios for one unit; AI figures keep the device peak's precision and sparsity."""
    price = float(device.price_usd)
    kw = device.power_w / 1000.0
    peak = device.ai_peak
    dense = peak.dense() if peak else None
    return PerUnit(
        ai_pflops_per_usd=peak.pflops / price if peak else None,
        ai_pflops_per_kw=peak.pflops / kw if peak else None,
        ai_dense_pflops_per_usd=dense.pflops / price if dense else None,
        ai_dense_pflops_per_kw=dense.pflops / kw if dense else None,
        fp32_tflops_per_kw=None if device.fp32_tflops is None else device.fp32_tflops / kw,
        gb_per_usd=device.memory_gb / price,
        gbs_per_w=device.bandwidth_gbs / device.power_w,
    )


def scenario_energy(
    device: PlanDevice,
    units: int,
    scenario: Scenario,
    knobs: EnergyKnobs,
    budget_usd: Money,
    spent_usd: Money,
    *,
    system_power_w: float | None = None,
) -> ScenarioResult:
    """Section 7.2's equations for one row and one scenario, plus the battery's power limit.

    facility = IT x host x PUE; energy = facility x hours; battery = energy / (efficiency x DoD);
    Powerwalls = ceil(battery / unit energy). CapEx is the paper's: the whole budget (not what was
    spent) plus the batteries; ``capex_spent_usd`` counts only the hardware actually bought.
    ``system_power_w``: the IT load is the boxes' own power (GPUs and hosts), host factor 1.
    """
    host_factor = (
        1.0 if device.host_included or system_power_w is not None else scenario.host_factor
    )
    it_kw = units * device.power_w / 1000.0 if system_power_w is None else system_power_w / 1000.0
    facility_kw = it_kw * host_factor * scenario.pue
    energy_kwh = facility_kw * knobs.hours
    battery_kwh = energy_kwh / (scenario.efficiency * scenario.dod)
    battery = knobs.battery
    powerwalls = count_needed(battery_kwh, battery.energy_kwh)
    powerwalls_for_power = count_needed(facility_kw, battery.continuous_kw)
    return ScenarioResult(
        scenario=scenario,
        host_factor=host_factor,
        it_kw=it_kw,
        facility_kw=facility_kw,
        energy_kwh=energy_kwh,
        battery_kwh=battery_kwh,
        powerwalls=powerwalls,
        powerwalls_for_power=powerwalls_for_power,
        capex_usd=budget_usd + battery.price_usd * powerwalls,
        capex_spent_usd=spent_usd + battery.price_usd * powerwalls,
        battery_cost_usd=battery.price_usd * powerwalls,
    )


def plan_device(
    device: PlanDevice,
    budget_usd: Money | float | str,
    knobs: EnergyKnobs,
    scenarios: Sequence[Scenario] | None = None,
    *,
    site: str | None = None,
    systems: Systems | None = None,
) -> DevicePlan:
    """One row: units, leftover, aggregates, per-unit ratios and every scenario's energy.

    With a ``site``, a knowledge-base device that says how it is sold is bought whole there
    (``plan_purchase``); ``systems`` is the catalog of hosts and networks (the shipped one when
    None)."""
    budget = to_money(budget_usd, "budget")
    require_positive(budget, "budget", "the budget")
    require_positive(device.power_w, "device", f"{device.id}: power")
    chosen = tuple(scenarios) if scenarios is not None else knobs.scenarios
    if site is not None and device.sold_whole:
        return _plan_whole(device, budget, knobs, chosen, site, systems)
    units, leftover = units_within_budget(budget, device.price_usd)
    spent = device.price_usd * units
    results = tuple(scenario_energy(device, units, s, knobs, budget, spent) for s in chosen)
    notes: list[str] = []
    if site is not None and device.kb_device is not None:
        notes.append(
            f"The knowledge base does not say how {device.id} is sold (purchase_unit): it is "
            "counted in loose units without hosts or network, with each scenario's host factor."
        )
    if units == 0:
        notes.append(
            f"The budget (${budget:,.2f}) is below one unit's price "
            f"(${device.price_usd:,.2f}): no unit fits, so every figure is zero."
        )
    if device.host_included:
        notes.append(APPLIANCE_NOTE)
    notes += power_limit_notes(results, knobs)
    notes.extend(device.notes)
    return DevicePlan(
        device, budget, units, spent, leftover, per_unit_metrics(device), results, tuple(notes)
    )


APPLIANCE_NOTE = (
    "Power is the appliance's PSU rating, which already covers CPU, memory and "
    "NIC: host factor 1 in every scenario."
)


def power_limit_notes(results: Sequence[ScenarioResult], knobs: EnergyKnobs) -> list[str]:
    """A note for each scenario whose batteries, sized for energy, cannot deliver the power."""
    notes: list[str] = []
    for result in results:
        if result.power_limited:
            bank_kw = result.powerwalls * knobs.battery.continuous_kw
            notes.append(
                f"{result.scenario.label}: {result.powerwalls} batteries hold the energy but "
                f"deliver only {bank_kw:,.1f} kW continuously against "
                f"{result.facility_kw:,.2f} kW of facility load: "
                f"{result.powerwalls_for_power} are needed for power."
            )
    return notes


def _plan_whole(
    device: PlanDevice,
    budget: Money,
    knobs: EnergyKnobs,
    scenarios: Sequence[Scenario],
    site: str,
    systems: Systems | None,
) -> DevicePlan:
    """One row bought whole at the site: GPUs in whole purchase units with their boxes and
    network; the boxes' system power is the IT load (host factor 1)."""
    from gpu_advisor.arithmetic.plan_purchase import (
        buy_within_budget,
        purchase_notes,
        purchase_spent,
    )
    from gpu_advisor.knowledge.systems import load_systems

    catalog = systems if systems is not None else load_systems()
    bought = buy_within_budget(device, budget, site, catalog)
    units = 0 if bought is None else bought.gpus
    spent = purchase_spent(device, bought)
    power = 0.0 if bought is None else bought.power_w
    results = tuple(
        scenario_energy(device, units, s, knobs, budget, spent, system_power_w=power)
        for s in scenarios
    )
    notes = purchase_notes(device, budget, site, bought, catalog)
    if device.host_included and units:
        notes.append(APPLIANCE_NOTE)
    notes += power_limit_notes(results, knobs)
    notes.extend(device.notes)
    return DevicePlan(
        device,
        budget,
        units,
        spent,
        budget - spent,
        per_unit_metrics(device),
        results,
        tuple(notes),
        site=site,
        purchase=bought,
    )


def plan(
    devices: Iterable[PlanDevice],
    budget_usd: Money | float | str,
    knobs: EnergyKnobs,
    scenarios: Sequence[Scenario] | None = None,
    *,
    site: str | None = None,
    systems: Systems | None = None,
) -> list[DevicePlan]:
    """Every device's row under the same budget and energy knobs (knowledge-base devices bought
    whole when a ``site`` is given)."""
    return [
        plan_device(device, budget_usd, knobs, scenarios, site=site, systems=systems)
        for device in devices
    ]


# ---------------------------------------------------------------------------------------------
# Knobs
# ---------------------------------------------------------------------------------------------


def with_battery(
    knobs: EnergyKnobs,
    *,
    hours: float | None = None,
    energy_kwh: float | None = None,
    continuous_kw: float | None = None,
    price_usd: Money | None = None,
) -> EnergyKnobs:
    """The knobs with run length or battery figures replaced (None keeps the file's value)."""
    if hours is not None:
        require_positive(hours, "hours", "the run length")
    if energy_kwh is not None:
        require_positive(energy_kwh, "powerwall_kwh", "battery energy")
    if continuous_kw is not None:
        require_positive(continuous_kw, "powerwall_kw", "battery power")
    if price_usd is not None and price_usd < 0:
        raise UsageError(
            f"a battery price cannot be negative, got {price_usd}", field="powerwall_usd"
        )
    battery = replace(
        knobs.battery,
        energy_kwh=knobs.battery.energy_kwh if energy_kwh is None else energy_kwh,
        continuous_kw=knobs.battery.continuous_kw if continuous_kw is None else continuous_kw,
        price_usd=knobs.battery.price_usd if price_usd is None else price_usd,
    )
    return replace(knobs, hours=knobs.hours if hours is None else hours, battery=battery)


#: The base of the custom scenario when every scenario is shown: the paper's planning baseline.
DEFAULT_CUSTOM_BASE = "engineering"


def custom_scenario(
    base: Scenario,
    *,
    host_factor: float | None = None,
    pue: float | None = None,
    efficiency: float | None = None,
    dod: float | None = None,
) -> Scenario:
    """`base` with the given values replaced, named 'custom' and labelled with what changed."""
    if host_factor is not None:
        require_at_least_one(host_factor, "host_factor", "the host factor")
    if pue is not None:
        require_at_least_one(pue, "pue", "PUE")
    if efficiency is not None:
        require_fraction(efficiency, "efficiency", "discharge efficiency")
    if dod is not None:
        require_fraction(dod, "dod", "depth of discharge")
    changed = [
        f"{name} {value:g}"
        for name, value in (
            ("host factor", host_factor),
            ("PUE", pue),
            ("efficiency", efficiency),
            ("DoD", dod),
        )
        if value is not None
    ]
    return Scenario(
        id=CUSTOM_SCENARIO,
        label=f"Custom ({base.id} with {', '.join(changed)})",
        host_factor=base.host_factor if host_factor is None else host_factor,
        pue=base.pue if pue is None else pue,
        efficiency=base.efficiency if efficiency is None else efficiency,
        dod=base.dod if dod is None else dod,
        source="command line",
        note=f"Based on {base.id}; overridden on the command line: {', '.join(changed)}.",
    )


def choose_scenarios(
    knobs: EnergyKnobs,
    which: str = "all",
    *,
    host_factor: float | None = None,
    pue: float | None = None,
    efficiency: float | None = None,
    dod: float | None = None,
) -> tuple[Scenario, ...]:
    """The scenarios to show; overrides add a 'custom' scenario instead of editing the paper's.

    The paper's named scenarios always keep their published values, so their rows stay
    comparable with its tables. Overrides build one extra scenario, 'custom', from the chosen
    scenario (from 'engineering' when all are shown) with the given values replaced.
    """
    if which == "all":
        chosen = knobs.scenarios
        ids = [s.id for s in chosen]
        base = knobs.scenario(DEFAULT_CUSTOM_BASE if DEFAULT_CUSTOM_BASE in ids else ids[-1])
    else:
        base = knobs.scenario(which)
        chosen = (base,)
    overrides = {"host_factor": host_factor, "pue": pue, "efficiency": efficiency, "dod": dod}
    if all(value is None for value in overrides.values()):
        return tuple(chosen)
    return (*chosen, custom_scenario(base, **overrides))


# ---------------------------------------------------------------------------------------------
# Notes shared by the whole plan
# ---------------------------------------------------------------------------------------------


CAPEX_NOTE = (
    "CapEx follows the paper (seed-003#table-7): the whole budget plus the batteries, "
    "even when the units do not spend all of it; 'CapEx spent' counts only the "
    "hardware actually bought plus the batteries."
)


POOL_NOTE = (
    "Memory pool and bandwidth are sums over units, not one shared memory: each card or "
    "box keeps its own, and a model spans them only through tensor/pipeline parallelism "
    "over PCIe, NVLink or the network."
)


def peak_caveats(plans: Sequence[DevicePlan]) -> list[str]:
    """Warnings about comparing typed AI peaks across rows."""
    notes: list[str] = []
    kinds: dict[str, list[str]] = {}
    for row in plans:
        if row.device.ai_peak is not None:
            kinds.setdefault(row.device.ai_peak.label, []).append(row.device.name)
    if len(kinds) > 1:
        groups = "; ".join(f"{label}: {', '.join(names)}" for label, names in kinds.items())
        notes.append(
            f"AI peaks of different precision or sparsity are not comparable ({groups}). "
            "Compare rows only within one group, or compare the FP32 and bandwidth "
            "columns."
        )
    if any(row.device.ai_peak is not None and row.device.ai_peak.sparse for row in plans):
        notes.append(
            "Sparse peaks assume 2:4 structured sparsity; without it expect the dense "
            "figure, half the sparse one, which is shown beside it."
        )
    return notes


def errata_notes(plans: Sequence[DevicePlan], errata: Iterable[Erratum]) -> list[str]:
    """The paper's misprints that concern the rows and scenarios of this plan."""
    notes: list[str] = []
    for erratum in errata:
        for row in plans:
            if row.device.pathway != erratum.pathway:
                continue
            if any(r.scenario.id == erratum.scenario for r in row.scenarios):
                notes.append(
                    f"Paper erratum ({erratum.table}, {row.device.name}, "
                    f"{erratum.scenario}, {erratum.field}): printed {erratum.printed:g}, "
                    f"should be {erratum.correct:g}. {erratum.note}"
                )
    return notes


# ---------------------------------------------------------------------------------------------
# JSON rows (the command's machine-readable contract)
# ---------------------------------------------------------------------------------------------


def _num(value: float | None) -> float | None:
    """Ten significant digits: drops float noise such as 14.399999999999999."""
    return None if value is None else float(f"{value:.10g}")


def _usd(value: Money) -> float:
    return float(value.quantize(Decimal("0.01")))


def _peak_json(peak: Peak | None) -> dict[str, Any] | None:
    if peak is None:
        return None
    return {
        "value": _num(peak.pflops),
        "unit": "PFLOP/s",
        "precision": peak.precision,
        "sparse": peak.sparse,
    }


def plan_rows(plans: Sequence[DevicePlan], errata: Iterable[Erratum] = ()) -> list[dict[str, Any]]:
    """The plan as JSON-ready rows: `device`, `units`, `leftover_usd`, `ai_peak`, `scenarios`..."""
    errata = tuple(errata)
    caveats = peak_caveats(plans)
    rows: list[dict[str, Any]] = []
    for row in plans:
        device = row.device
        per_unit = row.per_unit
        own_errata = errata_notes([row], errata)
        rows.append(
            {
                "device": device.id,
                "name": device.name,
                "pathway": device.pathway,
                "units": row.units,
                "price_usd": _usd(device.price_usd),
                "budget_usd": _usd(row.budget_usd),
                "spent_usd": _usd(row.spent_usd),
                "leftover_usd": _usd(row.leftover_usd),
                "ai_peak": _peak_json(row.ai_peak),
                "ai_peak_dense": _peak_json(row.ai_peak.dense() if row.ai_peak else None),
                "fp32_tflops": _num(row.fp32_tflops),
                "memory_gb": _num(row.memory_gb),
                "memory_type": device.memory_type,
                "bandwidth_tbs": _num(row.bandwidth_tbs),
                "power_w": _num(device.power_w),
                "host_included": device.host_included,
                "per_unit": {
                    "ai_peak_pflops_per_usd": _num(per_unit.ai_pflops_per_usd),
                    "ai_peak_pflops_per_kw": _num(per_unit.ai_pflops_per_kw),
                    "ai_peak_dense_pflops_per_usd": _num(per_unit.ai_dense_pflops_per_usd),
                    "ai_peak_dense_pflops_per_kw": _num(per_unit.ai_dense_pflops_per_kw),
                    "fp32_tflops_per_kw": _num(per_unit.fp32_tflops_per_kw),
                    "gb_per_usd": _num(per_unit.gb_per_usd),
                    "gbs_per_w": _num(per_unit.gbs_per_w),
                },
                "scenarios": {
                    result.scenario.id: {
                        "label": result.scenario.label,
                        "host_factor": result.host_factor,
                        "pue": result.scenario.pue,
                        "efficiency": result.scenario.efficiency,
                        "dod": result.scenario.dod,
                        "it_kw": _num(result.it_kw),
                        "facility_kw": _num(result.facility_kw),
                        "energy_kwh": _num(result.energy_kwh),
                        "battery_kwh": _num(result.battery_kwh),
                        "powerwalls": result.powerwalls,
                        "powerwalls_for_power": result.powerwalls_for_power,
                        "power_limited": result.power_limited,
                        "capex_usd": _usd(result.capex_usd),
                        "capex_spent_usd": _usd(result.capex_spent_usd),
                    }
                    for result in row.scenarios
                },
                "notes": list(row.notes) + own_errata + caveats + [POOL_NOTE, CAPEX_NOTE],
            }
        )
        if row.bought_whole:
            _add_purchase_json(rows[-1], row)
    return rows


def cost_parts(row: DevicePlan) -> dict[str, Money]:
    """What a whole purchase spent, by part: GPUs, hosts, network (their sum is ``spent``)."""
    from gpu_advisor.arithmetic.plan_purchase import money

    bought = row.purchase
    if bought is None:
        return {"gpus": Decimal(0), "hosts": Decimal(0), "network": Decimal(0)}
    return {
        "gpus": row.device.price_usd * bought.gpus,
        "hosts": money(bought.host_cost_usd),
        "network": money(bought.network_cost_usd),
    }


def _purchase_json(bought: Purchase | None) -> dict[str, Any] | None:
    """The row's ``purchase``, with the names of a recommendation's in the JSON contract."""
    if bought is None:
        return None
    return {
        "unit": bought.unit,
        "units": bought.units,
        "gpus_per_unit": bought.gpus_per_unit,
        "gpus": bought.gpus,
        "host": bought.host.id if bought.host else "included",
        "host_name": bought.host.name if bought.host else None,
        "hosts": bought.hosts,
        "gpus_per_node": bought.gpus_per_node,
        "nodes": bought.nodes,
        "network": bought.network.id if bought.network else "none",
        "network_name": bought.network.name if bought.network else None,
        "network_gbs_per_gpu": _num(bought.network_gbs_per_gpu),
        "node_power_kw": _num(bought.node_power_w / 1000.0),
        "total_power_kw": _num(bought.power_w / 1000.0),
    }


def _add_purchase_json(entry: dict[str, Any], row: DevicePlan) -> None:
    """A whole purchase's fields: the site, what is bought, and the cost by part (per scenario
    with its batteries: their sum is ``capex_spent_usd``)."""
    parts = {name: _usd(value) for name, value in cost_parts(row).items()}
    entry["site"] = row.site
    entry["purchase"] = _purchase_json(row.purchase)
    entry["purchase_steps"] = list(row.purchase.steps) if row.purchase else []
    entry["cost_breakdown"] = parts
    for result in row.scenarios:
        entry["scenarios"][result.scenario.id]["cost_breakdown"] = {
            **parts,
            "batteries": _usd(result.battery_cost_usd),
        }


def load_energy(kb_dir: str | Path | None = None) -> EnergyKnobs:
    """Scenarios, battery and run length from energy.yaml (see ``knowledge.catalogs``)."""
    from gpu_advisor.knowledge.catalogs import load_energy as load

    return load(kb_dir)


def load_pathways(kb_dir: str | Path | None = None) -> Pathways:
    """The paper's pathways from pathways.yaml (see ``knowledge.catalogs``)."""
    from gpu_advisor.knowledge.catalogs import load_pathways as load

    return load(kb_dir)


# ---------------------------------------------------------------------------------------------
# Knowledge-base adapter
# ---------------------------------------------------------------------------------------------


#: `setting` values meaning the power rating covers a whole system (CPU, memory, NIC), not a card.
HOST_INCLUDED_SETTINGS = frozenset({"appliance"})


def device_from_kb(device: Any, price_usd: Money | None = None) -> PlanDevice:
    """A plan device from a knowledge-base Device, using its preferred values.

    AI peak: the device's `ai_peak()` (the lowest-precision tensor figure, sparse when the
    knowledge base has one). Missing price or power cannot be planned with: the message says
    which flag supplies it.
    """
    price = price_usd if price_usd is not None else device.value("price_usd")
    if price is None:
        raise UsageError(
            f"--device {device.id}: the knowledge base has no price for it; "
            f"give one with --price {device.id}=USD"
        )
    power = device.value("power_w")
    if power is None:
        raise UsageError(
            f"--device {device.id}: the knowledge base has no power figure for it, "
            "so its energy cannot be planned"
        )
    memory = device.value("memory_gb")
    bandwidth = device.value("bandwidth_gbs")
    if memory is None or bandwidth is None:
        raise UsageError(f"--device {device.id}: the knowledge base lacks memory or bandwidth")
    typed = device.ai_peak() if hasattr(device, "ai_peak") else None
    peak = (
        None
        if typed is None
        else Peak(
            float(typed.tflops),
            str(typed.precision).lower(),
            bool(typed.sparse),
            str(getattr(typed, "source", "")),
        )
    )
    fp32 = device.throughput("fp32", False)
    setting = str(device.value("setting") or "").lower()
    memory_type = str(device.value("memory_type") or "")
    if device.value("unified_memory") is True:
        memory_type = f"unified {memory_type}".strip()
    notes = ["Figures are the knowledge base's preferred values for this device."]
    price_fact = device.fact("price_usd") if price_usd is None and hasattr(device, "fact") else None
    if price_fact is not None:
        dated = f", {price_fact.date}" if getattr(price_fact, "date", None) else ""
        notes.append(
            f"price ({price_fact.source}{dated}): ${float(price):,.2f}; prices drift, "
            f"override with --price {device.id}=USD."
        )
    if peak is not None and getattr(typed, "derived", False):
        notes.append(f"The {peak.label} peak is derived, not a vendor figure.")
    return PlanDevice(
        id=device.id,
        name=getattr(device, "short_name", None) or device.name,
        price_usd=to_money(price, "price"),
        power_w=float(power),
        ai_peak=peak,
        fp32_tflops=None if fp32 is None else float(fp32.tflops),
        memory_gb=float(memory),
        bandwidth_gbs=float(bandwidth),
        host_included=setting in HOST_INCLUDED_SETTINGS,
        memory_type=memory_type,
        notes=tuple(notes),
        kb_device=device,
    )
