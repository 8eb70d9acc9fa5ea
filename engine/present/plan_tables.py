"""The tables of a budget-and-energy plan (the procurement paper's tables 3, 4, 6 and 7), its
heading and notes, and the plan as text, Markdown or JSON.

``gpu-advisor plan`` prints them; the TUI's plan view shows the same tables, headings and notes,
so both read the same. Numbers follow the paper's printed precision (see
:mod:`gpu_advisor.formatting`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gpu_advisor.formatting import MISSING_FIGURE, significant, trimmed, usd_cents, usd_whole

if TYPE_CHECKING:
    from rich.console import Console

    from gpu_advisor.arithmetic.plan import DevicePlan, Peak
    from gpu_advisor.present.plan_request import PlanRequest


def _kind(peak: Peak) -> str:
    """'FP4 sparse': the type every printed peak carries."""
    return f"{peak.precision.upper()} {'sparse' if peak.sparse else 'dense'}"


def _maybe(value: float | None, show: Callable[[float], str]) -> str:
    return MISSING_FIGURE if value is None else show(value)


TFLOPS_PER_KUSD_PER_PFLOPS_PER_USD = 1_000 * 1_000
"""PFLOP/s per USD -> TFLOP/s per $1,000: x 1,000 TFLOP per PFLOP, x 1,000 dollars. The paper
prints 4.44e-4 PFLOP/s per USD; the same figure reads 444 TFLOP/s per $1,000."""


def _per_kusd(pflops_per_usd: float) -> str:
    """A peak per dollar as TFLOP/s per $1,000, three significant digits (the paper's)."""
    return significant(pflops_per_usd * TFLOPS_PER_KUSD_PER_PFLOPS_PER_USD, 3)


# ---------------------------------------------------------------------------------------------
# Tables, shared by text and markdown
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    """One table as cells of text: title, headers (a newline breaks a header), rows, and the
    columns aligned right; each front end draws it its own way."""

    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    right: frozenset[int]  # columns aligned right (numbers)


def heading(request: PlanRequest) -> list[str]:
    """Two lines above the tables: the budget and what is planned, the run and the battery."""
    knobs = request.knobs
    battery = knobs.battery
    from_kb = sum(1 for d in request.devices if d.pathway is None)
    if from_kb == 0:
        what = "the paper's pathways with the paper's own figures (seed-003)"
    elif from_kb == len(request.devices):
        what = "knowledge-base devices with their preferred figures"
    else:
        what = (
            "the paper's pathways (its own figures) and knowledge-base devices (their "
            "preferred figures)"
        )
    site = _whole_site(request)
    if site is not None:
        what += f", bought whole for a {site} site"
    return [
        f"Budget {usd_cents(request.budget)}: {what}.",
        (
            f"Off-grid run of {knobs.hours:g} h; battery unit: {battery.name}, "
            f"{battery.energy_kwh:g} kWh, {battery.continuous_kw:g} kW continuous, "
            f"{usd_whole(battery.price_usd)} each."
        ),
    ]


def _whole_site(request: PlanRequest) -> str | None:
    """The site the request's knowledge-base devices are bought whole for (None: per unit)."""
    if request.site is None or not any(d.sold_whole for d in request.devices):
        return None
    return request.site


def buy_table(plans: Sequence[DevicePlan]) -> Table:
    """What the budget buys, totals over all units (the paper's table 3)."""
    rows = []
    for row in plans:
        peak = row.ai_peak
        dense = peak.dense() if peak else None
        rows.append(
            (
                row.device.name,
                str(row.units),
                usd_cents(row.spent_usd),
                usd_cents(row.leftover_usd),
                MISSING_FIGURE
                if peak is None
                else f"{trimmed(peak.pflops, 4, keep=1)} {_kind(peak)}",
                MISSING_FIGURE
                if dense is None
                else f"{trimmed(dense.pflops, 4, keep=1)} {_kind(dense)}",
                _maybe(row.fp32_tflops, lambda v: trimmed(v, 1)),
                f"{trimmed(row.memory_gb, 1)} {row.device.memory_type}".strip(),
                f"{row.bandwidth_tbs:,.3f}",
            )
        )
    return Table(
        "What the budget buys, totals over all units (cf. seed-003 table 3)",
        (
            "Device",
            "GPUs" if any(row.bought_whole for row in plans) else "Units",
            "Spent",
            "Leftover",
            "AI peak\n(PFLOP/s)",
            "Dense AI peak\n(PFLOP/s)",
            "FP32\n(TFLOP/s)",
            "Memory\n(GB)",
            "Memory BW\n(TB/s)",
        ),
        tuple(rows),
        frozenset({1, 2, 3, 4, 5, 6, 7, 8}),
    )


def purchase_table(plans: Sequence[DevicePlan]) -> Table:
    """What the rows bought whole: purchase units, the boxes that hold them, the network between
    the boxes, and what each part cost (their sum is the buy table's Spent)."""
    from gpu_advisor.arithmetic.plan import cost_parts

    rows = []
    for row in plans:
        if not row.bought_whole:
            continue
        bought = row.purchase
        parts = cost_parts(row)
        if bought is None:
            units, hosts, network = "no box at this site", MISSING_FIGURE, MISSING_FIGURE
        else:
            units = f"{bought.units:,} {bought.unit}{'' if bought.units == 1 else 's'}"
            if bought.gpus_per_unit > 1:
                units += f" of {bought.gpus_per_unit}"
            hosts = (
                f"{bought.hosts:,} x {bought.host.name}"
                if bought.host is not None
                else "in the unit"
            )
            network = (
                MISSING_FIGURE
                if bought.network is None
                else f"{bought.network.name} x {bought.nodes:,}"
                if bought.network.per == "node"
                else f"{bought.network.name} x {bought.gpus:,}"
            )
        rows.append(
            (
                row.device.name,
                str(row.units),
                units,
                hosts,
                network,
                usd_cents(parts["gpus"]),
                usd_cents(parts["hosts"]),
                usd_cents(parts["network"]),
                usd_cents(row.spent_usd),
            )
        )
    site = next((row.site for row in plans if row.site), "")
    return Table(
        f"What is bought whole at a {site} site: units, hosts and network",
        (
            "Device",
            "GPUs",
            "Units",
            "Hosts",
            "Network\n(ports)",
            "GPUs\ncost",
            "Hosts\ncost",
            "Network\ncost",
            "Spent",
        ),
        tuple(rows),
        frozenset({1, 5, 6, 7, 8}),
    )


def per_unit_table(plans: Sequence[DevicePlan]) -> Table:
    """Figures per unit and per dollar or kW (the paper's table 4)."""
    rows = []
    for row in plans:
        unit = row.per_unit
        peak = row.device.ai_peak
        rows.append(
            (
                row.device.name,
                usd_cents(row.device.price_usd),
                MISSING_FIGURE if peak is None else peak.label,
                _maybe(unit.ai_pflops_per_usd, _per_kusd),
                _maybe(unit.ai_pflops_per_kw, lambda v: f"{v:,.2f}"),
                _maybe(unit.ai_dense_pflops_per_usd, _per_kusd),
                _maybe(unit.fp32_tflops_per_kw, lambda v: f"{v:,.0f}"),
                f"{unit.gb_per_usd:.4f}",
                f"{unit.gbs_per_w:.2f}",
            )
        )
    return Table(
        "Per unit (cf. seed-003 table 4)",
        (
            "Device",
            "Unit price",
            "AI peak type",
            "AI peak per $1,000\n(TFLOP/s)",
            "AI peak / kW\n(PFLOP/s per kW)",
            "Dense AI peak per\n$1,000 (TFLOP/s)",
            "FP32 / kW\n(TFLOP/s per kW)",
            "GB / $",
            "GB/s per W",
        ),
        tuple(rows),
        frozenset({1, 3, 4, 5, 6, 7, 8}),
    )


def scenario_table(request: PlanRequest) -> Table:
    """The facility scenarios in force, with their sources."""
    rows = tuple(
        (
            s.label,
            f"{s.host_factor:g}",
            f"{s.pue:g}",
            f"{s.efficiency:.2f}",
            f"{s.dod:.2f}",
            s.source,
        )
        for s in request.scenarios
    )
    return Table(
        "Facility scenarios (cf. seed-003 section 7.2 and table 6)",
        (
            "Scenario",
            "Host\nfactor",
            "PUE",
            "Discharge\nefficiency η",
            "Depth of\ndischarge",
            "Source",
        ),
        rows,
        frozenset({1, 2, 3, 4}),
    )


def energy_table(plans: Sequence[DevicePlan], hours: float) -> Table:
    """Off-grid energy, batteries and CapEx per device and scenario (tables 6 and 7)."""
    from gpu_advisor.arithmetic.plan import CUSTOM_SCENARIO

    rows: list[tuple[str, ...]] = []
    for row in plans:
        for index, result in enumerate(row.scenarios):
            # The scenario table above spells out a custom scenario; here its name suffices.
            custom = result.scenario.id == CUSTOM_SCENARIO
            label = "Custom" if custom else result.scenario.label
            if row.host_in_power:
                label += " (host incl.)"
            rows.append(
                (
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
                )
            )
    headers: tuple[str, ...] = (
        "Device",
        "Scenario",
        "IT power",
        "Facility\npower",
        f"{hours:g} h\nenergy",
        "Battery\nenergy",
        "Batteries\n(energy)",
        "Batteries\n(power)",
        "CapEx\n(paper)",
        "CapEx\n(spent)",
    )
    right = frozenset({2, 3, 4, 5, 6, 7, 8, 9})
    if any(row.bought_whole for row in plans):
        # Whole purchases show the batteries' cost, the last part of CapEx (spent).
        costs = [usd_whole(r.battery_cost_usd) for row in plans for r in row.scenarios]
        rows = [cells + (cost,) for cells, cost in zip(rows, costs, strict=True)]
        headers += ("Batteries\ncost",)
        right |= {len(headers) - 1}
    return Table(
        f"Off-grid energy and CapEx, {hours:g} h run (cf. seed-003 tables 6 and 7)",
        headers,
        tuple(rows),
        right,
    )


def plan_notes(request: PlanRequest, plans: Sequence[DevicePlan]) -> list[str]:
    """Every note once: typed-peak caveats, errata, per-device notes, then the definitions."""
    from gpu_advisor.arithmetic.plan import CAPEX_NOTE, POOL_NOTE, errata_notes, peak_caveats

    notes = peak_caveats(plans) + errata_notes(plans, request.errata) + list(request.notes)
    for row in plans:
        notes.extend(f"{row.device.name}: {note}" for note in row.notes)
    if any(result.power_limited for row in plans for result in row.scenarios):
        notes.append(
            "(!) marks scenarios where the batteries sized for energy cannot deliver the "
            "facility power continuously: buy the 'Batteries (power)' count instead."
        )
    notes += [POOL_NOTE, CAPEX_NOTE]
    return list(dict.fromkeys(notes))


def plan_tables(request: PlanRequest, plans: Sequence[DevicePlan]) -> list[Table]:
    """The four tables in the order the command line prints them."""
    tables = [
        buy_table(plans),
        per_unit_table(plans),
        scenario_table(request),
        energy_table(plans, request.knobs.hours),
    ]
    if any(row.bought_whole for row in plans):
        tables.insert(1, purchase_table(plans))
    return tables


# ---------------------------------------------------------------------------------------------
# Output formats
# ---------------------------------------------------------------------------------------------


def print_text(
    request: PlanRequest, plans: Sequence[DevicePlan], console: Console | None = None
) -> None:
    """The plan as rich tables on a console (standard output by default: 160 columns when it
    is not a terminal)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table as RichTable

    if console is None:
        console = Console()
        if not console.is_terminal:
            console = Console(width=160)
    # A narrow terminal gets wrapped cells rather than tables cut off at its edge.
    roomy = console.width >= 140
    for line in heading(request):
        console.print(line, highlight=False)
    for spec in plan_tables(request, plans):
        table = RichTable(
            title=spec.title, box=box.SIMPLE_HEAVY, title_justify="left", highlight=False
        )
        for index, header in enumerate(spec.headers):
            # Numbers and short labels stay on one line; headers break where they say (\n).
            widest = max((len(cells[index]) for cells in spec.rows), default=0)
            keep_whole = roomy and (index in spec.right or widest <= 26)
            table.add_column(
                header,
                justify="right" if index in spec.right else "left",
                overflow="fold",
                no_wrap=keep_whole,
            )
        for cells in spec.rows:
            table.add_row(*cells)
        console.print()
        console.print(table)
    console.print()
    console.print("Notes", style="bold")
    for note in plan_notes(request, plans):
        console.print(f"- {note}", highlight=False, markup=False)


def _markdown_cell(text: str) -> str:
    """A table cell's text for Markdown: pipes escaped, line breaks made spaces."""
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(request: PlanRequest, plans: Sequence[DevicePlan]) -> str:
    """The plan as a Markdown document: heading, the four tables, the notes."""
    lines: list[str] = ["# GPU procurement plan", ""]
    lines += [f"{line}  " for line in heading(request)]
    for spec in plan_tables(request, plans):
        lines += ["", f"## {spec.title}", ""]
        lines.append("| " + " | ".join(_markdown_cell(h) for h in spec.headers) + " |")
        lines.append(
            "|"
            + "|".join("---:" if i in spec.right else "---" for i in range(len(spec.headers)))
            + "|"
        )
        lines += ["| " + " | ".join(_markdown_cell(c) for c in cells) + " |" for cells in spec.rows]
    lines += ["", "## Notes", ""]
    lines += [f"- {note}" for note in plan_notes(request, plans)]
    return "\n".join(lines) + "\n"


def to_json(request: PlanRequest, plans: Sequence[DevicePlan]) -> str:
    """The plan's JSON contract: one row per device, the request's notes leading each row's."""
    import json

    from gpu_advisor.arithmetic.plan import plan_rows

    rows = plan_rows(plans, request.errata)
    extra = list(request.notes)
    if extra:
        for row in rows:
            row["notes"] = extra + row["notes"]
    return json.dumps(rows, indent=2, ensure_ascii=False) + "\n"


def _write_markdown(request: PlanRequest, plans: Sequence[DevicePlan]) -> None:
    sys.stdout.write(to_markdown(request, plans))


def _write_json(request: PlanRequest, plans: Sequence[DevicePlan]) -> None:
    sys.stdout.write(to_json(request, plans))


WRITERS: dict[str, Callable[[PlanRequest, Sequence[DevicePlan]], None]] = {
    "text": print_text,
    "json": _write_json,
    "markdown": _write_markdown,
}
"""The plan's output formats, each writing to standard output; adding one = one entry."""
FORMATS = tuple(WRITERS)
