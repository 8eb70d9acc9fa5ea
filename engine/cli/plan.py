"""`gpu-advisor plan`: what a budget buys, and the batteries and CapEx to run it off-grid.

Only argparse is imported at module level: the CLI registers every subcommand at start-up, so the
arithmetic, the YAML loaders, pydantic and rich are imported when `plan` actually runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gpu_advisor.arithmetic.plan import DevicePlan, EnergyKnobs, Erratum, Peak, PlanDevice, Scenario

FORMATS = ("text", "json", "markdown")

_DESCRIPTION = """\
How many units of each device a budget buys, their aggregate and per-unit figures, and the
batteries and CapEx needed to run them off-grid under facility scenarios. Without --device it
plans the four pathways of the procurement paper (seed-003) with the paper's own figures, so
`--budget 150000` reproduces its tables 3, 4, 6 and 7; --device plans knowledge-base devices
with their preferred figures instead.

Scenario overrides (--pue, --host-factor, --efficiency, --dod) never edit the paper's named
scenarios: they add one scenario, 'custom', built from the chosen --scenario (from
'engineering' when all are shown) with the given values replaced."""


def register(subparsers: Any) -> None:
    """Add the `plan` subcommand to an argparse subparsers object."""
    parser = subparsers.add_parser(
        "plan", help="units, energy, batteries and CapEx for a budget",
        description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", metavar="USD", required=False,
                        help="procurement budget in US dollars (required), e.g. 150000")
    parser.add_argument("--device", metavar="ID", action="append", default=None,
                        help="plan this knowledge-base device (or paper pathway id) instead of "
                             "the paper's four pathways; repeatable")
    parser.add_argument("--scenario", metavar="NAME", default="all",
                        help="facility scenario: optimistic, engineering, legacy-room or all "
                             "(default: all)")
    parser.add_argument("--hours", metavar="H",
                        help="length of the off-grid run in hours (default: 8, kb/energy.yaml)")
    parser.add_argument("--price", metavar="ID=USD", action="append", default=None,
                        help="override one device's unit price (device or pathway id); repeatable")
    parser.add_argument("--powerwall-usd", metavar="N",
                        help="installed price of one battery unit (default: 8200)")
    parser.add_argument("--powerwall-kwh", metavar="N",
                        help="nominal energy of one battery unit in kWh (default: 13.5)")
    parser.add_argument("--powerwall-kw", metavar="N",
                        help="continuous power of one battery unit in kW (default: 11.5)")
    parser.add_argument("--pue", metavar="X",
                        help="power usage effectiveness, >= 1 (adds a 'custom' scenario)")
    parser.add_argument("--host-factor", metavar="X",
                        help="multiplier for CPU/RAM/storage/network power, >= 1; appliances whose "
                             "rating includes the host keep 1 (adds a 'custom' scenario)")
    parser.add_argument("--efficiency", metavar="X",
                        help="battery discharge-path efficiency in (0, 1] "
                             "(adds a 'custom' scenario)")
    parser.add_argument("--dod", metavar="X",
                        help="planned depth of discharge in (0, 1] (adds a 'custom' scenario)")
    parser.add_argument("--format", default="text", metavar="FORMAT",
                        help="output format: text, json or markdown (default: text)")
    parser.add_argument("--kb", metavar="DIR",
                        help="knowledge-base folder; energy.yaml and pathways.yaml missing from it "
                             "come from the shipped knowledge base")
    parser.set_defaults(func=run)


# ---------------------------------------------------------------------------------------------
# Reading the arguments
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanRequest:
    """The command line, checked and converted: everything `run` needs to compute and print."""

    budget: Decimal
    devices: tuple[PlanDevice, ...]
    scenarios: tuple[Scenario, ...]
    errata: tuple[Erratum, ...]
    knobs: EnergyKnobs
    output: str
    notes: tuple[str, ...]


def _optional_number(value: str | None, flag: str) -> float | None:
    from gpu_advisor.arithmetic.plan import to_number

    return None if value is None else to_number(value, flag)


def _parse_prices(entries: Sequence[str] | None) -> dict[str, Decimal]:
    """`--price ID=USD` entries as {id: price}; malformed, duplicate or non-positive ones fail."""
    from gpu_advisor.errors import UsageError
    from gpu_advisor.arithmetic.plan import require_positive, to_money

    prices: dict[str, Decimal] = {}
    for entry in entries or ():
        name, sep, amount = entry.partition("=")
        name = name.strip()
        if not sep or not name or not amount.strip():
            raise UsageError(f"--price: expected ID=USD (e.g. rtx-a6000=4200), got {entry!r}")
        price = to_money(amount, f"--price {name}")
        require_positive(price, f"--price {name}", "a unit price")
        if name in prices:
            raise UsageError(f"--price: {name!r} is given twice")
        prices[name] = price
    return prices


def _apply_prices(devices: list[PlanDevice], prices: dict[str, Decimal]) -> list[PlanDevice]:
    """Replace the prices named by device id or pathway id; unknown ids fail with a suggestion."""
    from gpu_advisor.errors import UsageError, did_you_mean

    known = {d.id for d in devices} | {d.pathway for d in devices if d.pathway}
    for name in prices:
        if name not in known:
            raise UsageError(f"--price: {name!r} is not a device of this plan"
                             f"{did_you_mean(name, known)}; devices: {', '.join(sorted(known))}")
    return [d.with_price(prices.get(d.pathway or "", prices.get(d.id, d.price_usd)))
            for d in devices]


def _chosen_devices(args: argparse.Namespace, prices: dict[str, Decimal]
                    ) -> tuple[list[PlanDevice], tuple[Erratum, ...]]:
    """The paper's pathways, or the --device ids (pathway ids or knowledge-base devices)."""
    from gpu_advisor.errors import UsageError, did_you_mean
    from gpu_advisor.arithmetic.plan import device_from_kb, load_pathways

    pathways = load_pathways(args.kb)
    if not args.device:
        return list(pathways.devices), pathways.errata
    by_pathway = {d.pathway: d for d in pathways.devices if d.pathway}
    wanted = list(dict.fromkeys(args.device))  # repeated ids plan once
    knowledge = None
    devices: list[PlanDevice] = []
    for device_id in wanted:
        if device_id in by_pathway:
            devices.append(by_pathway[device_id])
            continue
        if knowledge is None:
            from gpu_advisor.knowledge.kb_schema import load_knowledge

            knowledge = load_knowledge(args.kb)
        if device_id not in knowledge.devices:
            choices = sorted(knowledge.devices) + sorted(by_pathway)
            raise UsageError(f"--device: unknown device {device_id!r}"
                             f"{did_you_mean(device_id, choices)}; known: {', '.join(choices)}")
        devices.append(device_from_kb(knowledge.devices[device_id], prices.get(device_id)))
    used = {d.pathway for d in devices}
    errata = tuple(e for e in pathways.errata if e.pathway in used)
    return devices, errata


def read_request(args: argparse.Namespace) -> PlanRequest:
    """Check every flag and load what the plan needs; bad input raises UsageError naming it."""
    from pathlib import Path

    from gpu_advisor.errors import UsageError, did_you_mean, one_of
    from gpu_advisor.arithmetic.plan import choose_scenarios, load_energy, require_positive, to_money, with_battery

    if args.format not in FORMATS:
        raise UsageError(f"--format: unknown format {args.format!r}"
                         f"{did_you_mean(args.format, FORMATS)}; {one_of(FORMATS)}")
    if args.budget is None:
        raise UsageError("--budget: required (the procurement budget in USD, e.g. --budget 150000)")
    budget = to_money(args.budget, "--budget")
    require_positive(budget, "--budget", "the budget")
    if args.kb is not None and not Path(args.kb).is_dir():
        raise UsageError(f"--kb: {args.kb!r} is not a folder")
    prices = _parse_prices(args.price)
    powerwall_usd = None if args.powerwall_usd is None else to_money(args.powerwall_usd,
                                                                      "--powerwall-usd")
    knobs = with_battery(load_energy(args.kb),
                         hours=_optional_number(args.hours, "--hours"),
                         energy_kwh=_optional_number(args.powerwall_kwh, "--powerwall-kwh"),
                         continuous_kw=_optional_number(args.powerwall_kw, "--powerwall-kw"),
                         price_usd=powerwall_usd)
    host_factor = _optional_number(args.host_factor, "--host-factor")
    scenarios = choose_scenarios(knobs, args.scenario.strip(),
                                 host_factor=host_factor,
                                 pue=_optional_number(args.pue, "--pue"),
                                 efficiency=_optional_number(args.efficiency, "--efficiency"),
                                 dod=_optional_number(args.dod, "--dod"))
    devices, errata = _chosen_devices(args, prices)
    devices = _apply_prices(devices, prices)
    notes: list[str] = [f"{s.label}: {s.note}" for s in scenarios if s.id == "custom"]
    if host_factor is not None:
        for device in devices:
            if device.host_included:
                notes.append(f"--host-factor does not apply to {device.name}: its power rating "
                             "already covers the host, so its host factor stays 1.")
    return PlanRequest(budget, tuple(devices), scenarios, errata, knobs, args.format, tuple(notes))


def run(args: argparse.Namespace) -> int:
    """Compute the plan and print it in the chosen format."""
    from gpu_advisor.arithmetic.plan import plan

    request = read_request(args)
    plans = plan(request.devices, request.budget, request.knobs, request.scenarios)
    render: Callable[[PlanRequest, list[DevicePlan]], None] = {
        "text": _print_text, "json": _print_json, "markdown": _print_markdown}[request.output]
    render(request, plans)
    return 0


# ---------------------------------------------------------------------------------------------
# Number formats (the paper's printed precision)
# ---------------------------------------------------------------------------------------------


def trimmed(value: float, decimals: int, keep: int = 0) -> str:
    """Thousands separators, at most `decimals` decimals, trailing zeros dropped down to `keep`."""
    text = f"{value:,.{decimals}f}"
    if "." not in text:
        return text
    whole, frac = text.split(".")
    frac = frac.rstrip("0")
    frac = frac.ljust(keep, "0")
    return f"{whole}.{frac}" if frac else whole


def sci(value: float, digits: int = 3) -> str:
    """Scientific notation with `digits` significant digits and a bare exponent: 4.44e-4."""
    mantissa, exponent = f"{value:.{digits - 1}e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def usd_cents(value: Decimal) -> str:
    return f"${value:,.2f}"


def usd_whole(value: Decimal) -> str:
    """Dollars without cents when there are none, as the paper prints CapEx."""
    return f"${value:,.0f}" if value == value.to_integral_value() else f"${value:,.2f}"


def _kind(peak: Peak) -> str:
    """'FP4 sparse': the type every printed peak carries."""
    return f"{peak.precision.upper()} {'sparse' if peak.sparse else 'dense'}"


def _maybe(value: float | None, show: Callable[[float], str]) -> str:
    return "—" if value is None else show(value)


# ---------------------------------------------------------------------------------------------
# Tables, shared by text and markdown
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Table:
    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    right: frozenset[int]  # columns aligned right (numbers)


def _heading(request: PlanRequest) -> list[str]:
    knobs = request.knobs
    battery = knobs.battery
    from_kb = sum(1 for d in request.devices if d.pathway is None)
    if from_kb == 0:
        what = "the paper's pathways with the paper's own figures (seed-003)"
    elif from_kb == len(request.devices):
        what = "knowledge-base devices with their preferred figures"
    else:
        what = ("the paper's pathways (its own figures) and knowledge-base devices (their "
                "preferred figures)")
    return [
        f"Budget {usd_cents(request.budget)}: {what}.",
        f"Off-grid run of {knobs.hours:g} h; battery unit: {battery.name}, "
        f"{battery.energy_kwh:g} kWh, {battery.continuous_kw:g} kW continuous, "
        f"{usd_whole(battery.price_usd)} each.",
    ]


def _buy_table(plans: Sequence[DevicePlan]) -> _Table:
    rows = []
    for row in plans:
        peak = row.ai_peak
        dense = peak.dense() if peak else None
        rows.append((
            row.device.name,
            str(row.units),
            usd_cents(row.spent_usd),
            usd_cents(row.leftover_usd),
            "—" if peak is None else f"{trimmed(peak.pflops, 4, keep=1)} {_kind(peak)}",
            "—" if dense is None else f"{trimmed(dense.pflops, 4, keep=1)} {_kind(dense)}",
            _maybe(row.fp32_tflops, lambda v: trimmed(v, 1)),
            f"{trimmed(row.memory_gb, 1)} {row.device.memory_type}".strip(),
            f"{row.bandwidth_tbs:,.3f}",
        ))
    return _Table("What the budget buys, totals over all units (cf. seed-003 table 3)",
                  ("Device", "Units", "Spent", "Leftover", "AI peak\n(PFLOP/s)",
                   "Dense AI peak\n(PFLOP/s)", "FP32\n(TFLOP/s)", "Memory\n(GB)",
                   "Memory BW\n(TB/s)"),
                  tuple(rows), frozenset({1, 2, 3, 4, 5, 6, 7, 8}))


def _per_unit_table(plans: Sequence[DevicePlan]) -> _Table:
    rows = []
    for row in plans:
        unit = row.per_unit
        peak = row.device.ai_peak
        rows.append((
            row.device.name,
            usd_cents(row.device.price_usd),
            "—" if peak is None else peak.label,
            _maybe(unit.ai_pflops_per_usd, sci),
            _maybe(unit.ai_pflops_per_kw, lambda v: f"{v:,.2f}"),
            _maybe(unit.ai_dense_pflops_per_usd, sci),
            _maybe(unit.fp32_tflops_per_kw, lambda v: f"{v:,.0f}"),
            f"{unit.gb_per_usd:.4f}",
            f"{unit.gbs_per_w:.2f}",
        ))
    return _Table("Per unit (cf. seed-003 table 4)",
                  ("Device", "Unit price", "AI peak type", "AI peak / $\n(PFLOP/s per USD)",
                   "AI peak / kW\n(PFLOP/s per kW)", "Dense AI peak / $\n(PFLOP/s per USD)",
                   "FP32 / kW\n(TFLOP/s per kW)", "GB / $", "GB/s per W"),
                  tuple(rows), frozenset({1, 3, 4, 5, 6, 7, 8}))


def _scenario_table(request: PlanRequest) -> _Table:
    rows = tuple((s.label, f"{s.host_factor:g}", f"{s.pue:g}", f"{s.efficiency:.2f}",
                  f"{s.dod:.2f}", s.source) for s in request.scenarios)
    return _Table("Facility scenarios (cf. seed-003 section 7.2 and table 6)",
                  ("Scenario", "Host\nfactor", "PUE", "Discharge\nefficiency η",
                   "Depth of\ndischarge", "Source"),
                  rows, frozenset({1, 2, 3, 4}))


def _energy_table(plans: Sequence[DevicePlan], hours: float) -> _Table:
    from gpu_advisor.arithmetic.plan import CUSTOM_SCENARIO

    rows = []
    for row in plans:
        for index, result in enumerate(row.scenarios):
            # The scenario table above spells out a custom scenario; here its name suffices.
            custom = result.scenario.id == CUSTOM_SCENARIO
            label = "Custom" if custom else result.scenario.label
            if row.device.host_included:
                label += " (host incl.)"
            rows.append((
                row.device.name if index == 0 else "",
                label,
                f"{result.it_kw:,.2f} kW",
                f"{result.facility_kw:,.2f} kW",
                f"{trimmed(result.energy_kwh, 2, keep=1)} kWh",
                f"{trimmed(result.battery_kwh, 2, keep=1)} kWh",
                str(result.powerwalls),
                str(result.powerwalls_for_power) + (" (!)" if result.power_limited else ""),
                usd_whole(result.capex_usd),
                usd_whole(result.capex_spent_usd),
            ))
    return _Table(f"Off-grid energy and CapEx, {hours:g} h run (cf. seed-003 tables 6 and 7)",
                  ("Device", "Scenario", "IT power", "Facility\npower", f"{hours:g} h\nenergy",
                   "Battery\nenergy", "Batteries\n(energy)", "Batteries\n(power)",
                   "CapEx\n(paper)", "CapEx\n(spent)"),
                  tuple(rows), frozenset({2, 3, 4, 5, 6, 7, 8, 9}))


def _notes(request: PlanRequest, plans: Sequence[DevicePlan]) -> list[str]:
    """Every note once: typed-peak caveats, errata, per-device notes, then the definitions."""
    from gpu_advisor.arithmetic.plan import CAPEX_NOTE, POOL_NOTE, errata_notes, peak_caveats

    notes = peak_caveats(plans) + errata_notes(plans, request.errata) + list(request.notes)
    for row in plans:
        notes.extend(f"{row.device.name}: {note}" for note in row.notes)
    if any(result.power_limited for row in plans for result in row.scenarios):
        notes.append("(!) marks scenarios where the batteries sized for energy cannot deliver the "
                     "facility power continuously: buy the 'Batteries (power)' count instead.")
    notes += [POOL_NOTE, CAPEX_NOTE]
    return list(dict.fromkeys(notes))


def _tables(request: PlanRequest, plans: Sequence[DevicePlan]) -> list[_Table]:
    return [_buy_table(plans), _per_unit_table(plans), _scenario_table(request),
            _energy_table(plans, request.knobs.hours)]


# ---------------------------------------------------------------------------------------------
# Output formats
# ---------------------------------------------------------------------------------------------


def _print_text(request: PlanRequest, plans: list[DevicePlan]) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    # A narrow terminal gets wrapped cells rather than tables cut off at its edge.
    roomy = console.width >= 140
    for line in _heading(request):
        console.print(line, highlight=False)
    for spec in _tables(request, plans):
        table = Table(title=spec.title, box=box.SIMPLE_HEAVY, title_justify="left",
                      highlight=False)
        for index, header in enumerate(spec.headers):
            # Numbers and short labels stay on one line; headers break where they say (\n).
            widest = max((len(cells[index]) for cells in spec.rows), default=0)
            keep_whole = roomy and (index in spec.right or widest <= 26)
            table.add_column(header, justify="right" if index in spec.right else "left",
                             overflow="fold", no_wrap=keep_whole)
        for cells in spec.rows:
            table.add_row(*cells)
        console.print()
        console.print(table)
    console.print()
    console.print("Notes", style="bold")
    for note in _notes(request, plans):
        console.print(f"- {note}", highlight=False, markup=False)


def _markdown_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _print_markdown(request: PlanRequest, plans: list[DevicePlan]) -> None:
    lines: list[str] = ["# GPU procurement plan", ""]
    lines += [f"{line}  " for line in _heading(request)]
    for spec in _tables(request, plans):
        lines += ["", f"## {spec.title}", ""]
        lines.append("| " + " | ".join(_markdown_cell(h) for h in spec.headers) + " |")
        lines.append("|" + "|".join("---:" if i in spec.right else "---"
                                    for i in range(len(spec.headers))) + "|")
        lines += ["| " + " | ".join(_markdown_cell(c) for c in cells) + " |" for cells in spec.rows]
    lines += ["", "## Notes", ""]
    lines += [f"- {note}" for note in _notes(request, plans)]
    sys.stdout.write("\n".join(lines) + "\n")


def _print_json(request: PlanRequest, plans: list[DevicePlan]) -> None:
    import json

    from gpu_advisor.arithmetic.plan import plan_rows

    rows = plan_rows(plans, request.errata)
    extra = list(request.notes)
    if extra:
        for row in rows:
            row["notes"] = extra + row["notes"]
    sys.stdout.write(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m gpu_advisor.cli.plan ...`` runs ``gpu-advisor plan ...``."""
    from gpu_advisor.cli.main import main as cli_main

    return cli_main(["plan", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
