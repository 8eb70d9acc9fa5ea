"""What a budget-and-energy plan is asked for: the person's inputs, checked and converted.

``gpu-advisor plan`` and the TUI's plan view both read their inputs here, so that a value the
command line refuses is refused on screen with the same words, and both plan the same way.
Problems raise :class:`UsageError` naming the field (``price``, ``device``...); each front end
puts its own name for the field in front of the message (see :mod:`gpu_advisor.present.errors`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from gpu_advisor.errors import UsageError, did_you_mean, one_of

if TYPE_CHECKING:
    from gpu_advisor.arithmetic.plan import (
        DevicePlan,
        EnergyKnobs,
        Erratum,
        Pathways,
        PlanDevice,
        Scenario,
    )
    from gpu_advisor.knowledge.systems import Systems


@dataclass(frozen=True)
class PlanInputs:
    """What a person gave, as typed: None keeps the knowledge base's (or the paper's) value."""

    budget: str | Decimal
    devices: tuple[str, ...] = ()
    """Knowledge-base device or paper pathway ids; none: the paper's four pathways."""
    scenario: str = "all"
    hours: str | float | None = None
    prices: tuple[str, ...] = ()
    """``ID=USD`` price overrides."""
    powerwall_usd: str | Decimal | None = None
    powerwall_kwh: str | float | None = None
    powerwall_kw: str | float | None = None
    pue: str | float | None = None
    host_factor: str | float | None = None
    efficiency: str | float | None = None
    dod: str | float | None = None
    kb: str | None = None
    site: str | None = None
    """office, server-room or datacenter: knowledge-base devices are bought whole there, in
    purchase units with their hosts and network; None counts them per unit, as the paper does."""


@dataclass(frozen=True)
class PlanRequest:
    """The inputs checked and converted: everything the plan needs to compute and print."""

    budget: Decimal
    devices: tuple[PlanDevice, ...]
    scenarios: tuple[Scenario, ...]
    errata: tuple[Erratum, ...]
    knobs: EnergyKnobs
    notes: tuple[str, ...]
    site: str | None = None
    systems: Systems | None = None
    """The hosts and networks the devices are bought with (kb/systems.yaml), with a site."""

    def plans(self) -> list[DevicePlan]:
        """Every device's row, as both front ends compute it."""
        from gpu_advisor.arithmetic.plan import plan

        return plan(
            self.devices,
            self.budget,
            self.knobs,
            self.scenarios,
            site=self.site,
            systems=self.systems,
        )


# The plan arithmetic's checks (to_money, to_number, require_*) name the field that was wrong;
# each front end words the message with its own name for the field (present.errors.worded).


@dataclass(frozen=True)
class _Check:
    money: bool
    rule: str  # positive, fraction, at_least_one, not_negative
    what: str


# The checks the arithmetic applies to each knob, for checking one field as it is typed.
_KNOB_CHECKS: dict[str, _Check] = {
    "budget": _Check(True, "positive", "the budget"),
    "hours": _Check(False, "positive", "the run length"),
    "powerwall_usd": _Check(True, "not_negative", "a battery price"),
    "powerwall_kwh": _Check(False, "positive", "battery energy"),
    "powerwall_kw": _Check(False, "positive", "battery power"),
    "pue": _Check(False, "at_least_one", "PUE"),
    "host_factor": _Check(False, "at_least_one", "the host factor"),
    "efficiency": _Check(False, "fraction", "discharge efficiency"),
    "dod": _Check(False, "fraction", "depth of discharge"),
}


def check_knob(field: str, text: str) -> Decimal | float:
    """One knob's value converted and checked as the plan will check it (UsageError if not)."""
    from gpu_advisor.arithmetic import plan

    check = _KNOB_CHECKS[field]
    value: Decimal | float = (
        plan.to_money(text, field) if check.money else plan.to_number(text, field)
    )
    if check.rule == "not_negative":
        if value < 0:
            raise UsageError(f"{check.what} cannot be negative, got {value}", field=field)
        return value
    require: Callable[[Any, str, str], None] = {
        "positive": plan.require_positive,
        "fraction": plan.require_fraction,
        "at_least_one": plan.require_at_least_one,
    }[check.rule]
    require(value, field, check.what)
    return value


def parse_prices(entries: Sequence[str]) -> dict[str, Decimal]:
    """``ID=USD`` entries as {id: price}; malformed, duplicate or non-positive ones fail."""
    from gpu_advisor.arithmetic.plan import require_positive, to_money

    prices: dict[str, Decimal] = {}
    for entry in entries:
        name, sep, amount = entry.partition("=")
        name = name.strip()
        if not sep or not name or not amount.strip():
            raise UsageError(f"expected ID=USD (e.g. rtx-a6000=4200), got {entry!r}", field="price")
        try:
            price = to_money(amount, "price")
            require_positive(price, "price", "a unit price")
        except UsageError as exc:
            raise UsageError(f"{name}: {exc.message}", field="price") from None
        if name in prices:
            raise UsageError(f"{name!r} is given twice", field="price")
        prices[name] = price
    return prices


def apply_prices(devices: Sequence[PlanDevice], prices: Mapping[str, Decimal]) -> list[PlanDevice]:
    """Replace the prices named by device id or pathway id; unknown ids fail with a suggestion."""
    known = {d.id for d in devices} | {d.pathway for d in devices if d.pathway}
    for name in prices:
        if name not in known:
            raise UsageError(
                f"{name!r} is not a device of this plan"
                f"{did_you_mean(name, known)}; devices: {', '.join(sorted(known))}",
                field="price",
            )
    return [
        d.with_price(prices.get(d.pathway or "", prices.get(d.id, d.price_usd))) for d in devices
    ]


def chosen_devices(
    wanted_ids: Sequence[str], pathways: Pathways, kb: str | None, prices: Mapping[str, Decimal]
) -> tuple[list[PlanDevice], tuple[Erratum, ...]]:
    """The paper's pathways, or the wanted ids (pathway ids or knowledge-base devices)."""
    from gpu_advisor.arithmetic.plan import device_from_kb

    if not wanted_ids:
        return list(pathways.devices), pathways.errata
    by_pathway = {d.pathway: d for d in pathways.devices if d.pathway}
    knowledge = None
    devices: list[PlanDevice] = []
    for device_id in dict.fromkeys(wanted_ids):  # repeated ids plan once
        if device_id in by_pathway:
            devices.append(by_pathway[device_id])
            continue
        if knowledge is None:
            from gpu_advisor.knowledge.kb_schema import load_knowledge

            knowledge = load_knowledge(kb)
        if device_id not in knowledge.devices:
            choices = sorted(knowledge.devices) + sorted(by_pathway)
            raise UsageError(
                f"unknown device {device_id!r}"
                f"{did_you_mean(device_id, choices)}; known: {', '.join(choices)}",
                field="device",
            )
        devices.append(device_from_kb(knowledge.devices[device_id], prices.get(device_id)))
    used = {d.pathway for d in devices}
    return devices, tuple(e for e in pathways.errata if e.pathway in used)


def check_site(site: str) -> str:
    """The site as given, when it is one the systems catalog knows (UsageError if not)."""
    from gpu_advisor.knowledge.systems import SITES

    site = site.strip()
    if site not in SITES:
        raise UsageError(
            f"unknown site {site!r}{did_you_mean(site, SITES)}; {one_of(SITES)}", field="site"
        )
    return site


def _optional_number(value: str | float | None, field: str) -> float | None:
    from gpu_advisor.arithmetic.plan import to_number

    return None if value is None else to_number(value, field)


def read_request(
    inputs: PlanInputs,
    names: Mapping[str, str],
    *,
    energy: EnergyKnobs | None = None,
    pathways: Pathways | None = None,
    devices: Sequence[PlanDevice] | None = None,
) -> PlanRequest:
    """Check every input and load what the plan needs; bad input raises UsageError.

    ``names`` words the notes with the front end's name for each field (a flag or a label).
    ``energy`` and ``pathways`` are the knowledge base's files when the caller has them loaded
    already; ``devices``, when given, are planned instead of ``inputs.devices`` (the TUI plans
    the devices of its consultation).
    """
    from pathlib import Path

    from gpu_advisor.arithmetic.plan import (
        choose_scenarios,
        load_energy,
        load_pathways,
        require_positive,
        to_money,
        with_battery,
    )

    budget = to_money(inputs.budget, "budget")
    require_positive(budget, "budget", "the budget")
    if inputs.kb is not None and not Path(inputs.kb).is_dir():
        raise UsageError(f"{inputs.kb!r} is not a folder", field="kb")
    prices = parse_prices(inputs.prices)
    powerwall_usd = (
        None if inputs.powerwall_usd is None else to_money(inputs.powerwall_usd, "powerwall_usd")
    )
    knobs = with_battery(
        energy or load_energy(inputs.kb),
        hours=_optional_number(inputs.hours, "hours"),
        energy_kwh=_optional_number(inputs.powerwall_kwh, "powerwall_kwh"),
        continuous_kw=_optional_number(inputs.powerwall_kw, "powerwall_kw"),
        price_usd=powerwall_usd,
    )
    host_factor = _optional_number(inputs.host_factor, "host_factor")
    scenarios = choose_scenarios(
        knobs,
        inputs.scenario.strip(),
        host_factor=host_factor,
        pue=_optional_number(inputs.pue, "pue"),
        efficiency=_optional_number(inputs.efficiency, "efficiency"),
        dod=_optional_number(inputs.dod, "dod"),
    )
    if devices is None:
        planned, errata = chosen_devices(
            inputs.devices, pathways or load_pathways(inputs.kb), inputs.kb, prices
        )
    else:
        planned, errata = list(devices), ()
    planned = apply_prices(planned, prices)
    site = None if inputs.site is None else check_site(inputs.site)
    systems = None
    if site is not None and any(device.sold_whole for device in planned):
        from gpu_advisor.knowledge.systems import load_systems

        systems = load_systems(None if inputs.kb is None else Path(inputs.kb))
    notes: list[str] = [f"{s.label}: {s.note}" for s in scenarios if s.id == "custom"]
    if host_factor is not None:
        for device in planned:
            if device.host_included:
                notes.append(
                    f"{names['host_factor']} does not apply to {device.name}: its power "
                    "rating already covers the host, so its host factor stays 1."
                )
            elif systems is not None and site is not None and device.sold_whole:
                notes.append(
                    f"{names['host_factor']} does not apply to {device.name}: it is bought "
                    "whole, and the system power of its boxes already covers the hosts, so its "
                    "host factor stays 1."
                )
    return PlanRequest(
        budget, tuple(planned), scenarios, errata, knobs, tuple(notes), site, systems
    )
