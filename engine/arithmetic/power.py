"""Power in one box: PSU size, wall circuits, and the seeds' box warnings as plain facts.

A GPU box needs a supply that carries the sustained load with margin *and* survives the GPUs'
millisecond power spikes, and a wall circuit (or several) that carries the sustained draw. The
rules engine gets the outcome as plain facts (:func:`box_facts`) so that its rules can cite them.

Choices (each also listed in :attr:`PsuPlan.assumptions` so that every answer states them):

* Sustained load = GPUs at their power limit + platform (CPU, RAM, storage, fans, NICs): 350 W for
  a workstation, 800 W for a dual-socket server unless given.
* Transient headroom: GPU power x a transient factor (1.4 workstation, 1.2 server) must fit within
  the PSU's *continuous* rating. High-end consumer and workstation Blackwell cards spike well
  above their rated power for milliseconds; the PCIe CEM 5.0 connector rules let a card draw up
  to 3x its sustained power for 100 us, and ATX 3.x PSUs that carry a 12VHPWR/12V-2x6 connector
  must ride out 200% of their rating for 100 us, 180% for 1 ms, 160% for 10 ms and 120% for
  100 ms (Intel ATX 3.0 design guide). Those microsecond excursions are left to the PSU's
  excursion tolerance; the millisecond ones (1.3-1.5x) are planned for here, because ATX 2.x
  units and ATX 3.x units without the new connector are not tested for them.
* Loading target: the sustained load at most 80% of the PSU rating (efficiency band, ageing,
  fan noise), so rating >= sustained / 0.8.
* Wall draw = sustained / PSU efficiency (0.90 workstation, 0.92 server). A 15 A / 120 V circuit
  carries 1,440 W continuously (the 80% continuous-load rule of the US electrical code); a
  16 A / 230 V circuit 3,680 W.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gpu_advisor.errors import UsageError, did_you_mean, one_of

CIRCUIT_120V_W = 1440.0
"""15 A x 120 V x 0.8: what one North-American branch circuit carries continuously."""
CIRCUIT_230V_W = 3680.0
"""16 A x 230 V: one European/IEC circuit."""

PSU_LOAD_TARGET = 0.8
"""Sustained load as a fraction of the PSU rating we plan for."""

SINGLE_PSU_SIZES_W: tuple[int, ...] = (
    450,
    550,
    650,
    750,
    850,
    1000,
    1200,
    1300,
    1500,
    1600,
    2000,
    2200,
)
"""Common single-PSU ratings; above the largest, the load is split across several supplies."""
MULTI_PSU_STEP_W = 500
"""Rounding step for the total supply capacity once several PSUs are needed."""

CONNECTOR_8PIN_W = 150.0
"""Rating of one 8-pin PCIe power connector: cards above it draw from several connectors."""
LIQUID_COOLING_GPU_W = 550.0
"""'600 W-class' GPUs: at this power and density air cooling runs out of room (seed-003)."""
LIQUID_COOLING_MIN_GPUS = 4
ATX3_ADVISED_GPU_W = 300.0
"""Cards from here up spike hard enough that an ATX 3.x PSU with native cables is worth it."""
BIG_PSU_W = 1200.0
"""seed-000: a single RTX 5090 workstation wants a 1,200 W+ supply."""


@dataclass(frozen=True)
class BoxDefaults:
    """Assumed values for one kind of box when the caller does not give them."""

    platform_w: float
    transient_factor: float
    psu_efficiency: float
    description: str


SETTINGS: Mapping[str, BoxDefaults] = {
    "workstation": BoxDefaults(
        350.0, 1.4, 0.90, "workstation: one CPU, RAM, storage and fans ~350 W; ATX PSU"
    ),
    "server": BoxDefaults(
        800.0,
        1.2,
        0.92,
        "dual-socket server: two CPUs, RAM, NICs, storage and fans ~800 W; redundant CRPS supplies",
    ),
}
# Knowledge-base settings that size like one of the above.
SETTING_ALIASES = {"desktop": "workstation"}

SOURCES = {
    "spacing": "seed-001, FAQ on blower cards in a 4U chassis",
    "connectors": "seed-001, FAQ on PSU connectors",
    "big_psu": "seed-000, power section",
    "liquid": "seed-003#table-5",
    "excursions": "Intel ATX 3.0 Multi Rail Power Supply Design Guide; PCI-SIG PCIe CEM 5.0",
}


@dataclass(frozen=True)
class PsuPlan:
    """A box's power budget: what the PSU must be rated for, and how many circuits feed it."""

    gpus: int
    gpu_power_w: float
    gpu_w: float
    platform_w: float
    sustained_w: float
    transient_factor: float
    peak_w: float
    recommended_psu_w: int
    wall_w: float
    circuits_120v: int
    circuits_230v: int
    multiple_psus: bool
    warnings: list[str] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)


def _check(
    gpu_power_w: float,
    gpus: int,
    platform_w: float | None,
    setting: str,
    transient_factor: float | None,
) -> str:
    """Validate inputs; return the canonical setting name."""
    if isinstance(gpus, bool) or not isinstance(gpus, int) or gpus < 1:
        raise UsageError(f"gpus: expected a whole number of GPUs >= 1, got {gpus!r}")
    if not (
        isinstance(gpu_power_w, (int, float)) and math.isfinite(gpu_power_w) and gpu_power_w > 0
    ):
        raise UsageError(f"gpu_power_w: expected a power in watts > 0, got {gpu_power_w!r}")
    if platform_w is not None and not (math.isfinite(platform_w) and platform_w >= 0):
        raise UsageError(f"platform_w: expected watts >= 0, got {platform_w!r}")
    if transient_factor is not None and not (
        math.isfinite(transient_factor) and transient_factor >= 1
    ):
        raise UsageError(f"transient_factor: expected a factor >= 1, got {transient_factor!r}")
    name = SETTING_ALIASES.get(setting, setting)
    if name not in SETTINGS:
        raise UsageError(
            f"setting: unknown box setting {setting!r}"
            f"{did_you_mean(setting, SETTINGS)}; {one_of(SETTINGS)}"
        )
    return name


def recommended_psu_size(needed_w: float) -> tuple[int, bool]:
    """The smallest common PSU rating >= needed, or a total split across PSUs (True)."""
    for size in SINGLE_PSU_SIZES_W:
        if size >= needed_w - 1e-9:
            return size, False
    return int(math.ceil(needed_w / MULTI_PSU_STEP_W) * MULTI_PSU_STEP_W), True


def circuits_needed(wall_w: float, circuit_w: float) -> int:
    """Circuits that carry `wall_w` continuously (at least one)."""
    return max(1, math.ceil(round(wall_w / circuit_w, 9)))


def psu_plan(
    gpu_power_w: float,
    gpus: int,
    platform_w: float | None = None,
    setting: str = "workstation",
    transient_factor: float | None = None,
    *,
    form_factor: str = "pcie",
    cooling: str | None = None,
) -> PsuPlan:
    """Size the PSU and wall circuits of one box of `gpus` GPUs at `gpu_power_w` each.

    `form_factor` ("pcie" card or "module", e.g. SXM) decides whether cable advice applies;
    `cooling` ("blower", "active", "passive", ...) whether blower spacing does.
    """
    name = _check(gpu_power_w, gpus, platform_w, setting, transient_factor)
    defaults = SETTINGS[name]
    platform = defaults.platform_w if platform_w is None else float(platform_w)
    transient = defaults.transient_factor if transient_factor is None else float(transient_factor)
    gpu_w = gpus * float(gpu_power_w)
    sustained_w = gpu_w + platform
    peak_w = gpu_w * transient + platform
    needed_w = max(sustained_w / PSU_LOAD_TARGET, peak_w)
    recommended, multiple = recommended_psu_size(needed_w)
    wall_w = sustained_w / defaults.psu_efficiency
    circuits_120v = circuits_needed(wall_w, CIRCUIT_120V_W)
    circuits_230v = circuits_needed(wall_w, CIRCUIT_230V_W)

    warnings: list[str] = []
    if circuits_120v > 1:
        alternative = (
            "one 16 A/230 V circuit"
            if circuits_230v == 1
            else f"{circuits_230v} circuits of 16 A/230 V"
        )
        warnings.append(
            f"Sustained wall draw of about {wall_w:,.0f} W is more than one 15 A/120 V circuit "
            f"carries continuously ({CIRCUIT_120V_W:,.0f} W): use {alternative}, or split the "
            f"load over {circuits_120v} PSUs on {circuits_120v} separate 120 V circuits."
        )
    if circuits_230v > 1:
        warnings.append(
            f"Sustained wall draw of about {wall_w:,.0f} W is more than one 16 A/230 V circuit "
            f"carries ({CIRCUIT_230V_W:,.0f} W): {circuits_230v} circuits, or three-phase power "
            "through a rack PDU."
        )
    if multiple:
        where = (
            "redundant server supplies whose non-redundant share covers it"
            if name == "server"
            else "several PSUs, each GPU group on its own supply"
        )
        warnings.append(
            f"No single common PSU covers {needed_w:,.0f} W: plan {recommended:,} W "
            f"of supply capacity as {where}."
        )
    if form_factor == "pcie" and gpu_power_w > CONNECTOR_8PIN_W:
        warnings.append(
            "Power each GPU through dedicated cables: a native 12V-2x6/12VHPWR cable or separate "
            "8-pin cables per connector, never daisy-chained splitters or pigtails "
            f"({SOURCES['connectors']})."
        )
    if name == "workstation" and form_factor == "pcie" and gpu_power_w >= ATX3_ADVISED_GPU_W:
        warnings.append(
            "Use an ATX 3.x PSU with native 12V-2x6 cables: it is tested to ride out the "
            f"microsecond excursions of such cards ({SOURCES['excursions']})."
        )
    if cooling == "blower" and gpus >= 2:
        warnings.append(
            "Several blower cards: in a 4U chassis leave an empty slot between cards where "
            f"possible, so each blower can draw air ({SOURCES['spacing']})."
        )
    if gpus >= LIQUID_COOLING_MIN_GPUS and gpu_power_w >= LIQUID_COOLING_GPU_W:
        warnings.append(
            f"{gpus} GPUs of {gpu_power_w:,.0f} W in one box is {gpu_w / 1000:,.1f} kW of heat: "
            "such density pushes toward liquid cooling, or a chassis built for this airflow "
            f"({SOURCES['liquid']})."
        )

    assumptions = [
        f"Setting: {defaults.description}"
        + ("" if platform_w is None else f" (platform given: {platform:,.0f} W)")
        + ".",
        f"GPUs at their power limit: {gpus} x {gpu_power_w:,.0f} W = {gpu_w:,.0f} W sustained.",
        (
            f"Millisecond transients: GPU power x {transient:g} must fit the PSU's continuous "
            "rating; "
            "shorter (100 us) excursions up to 2-3x are left to an ATX 3.x PSU's excursion "
            "tolerance "
            f"({SOURCES['excursions']})."
        ),
        f"Loading target: sustained load at most {PSU_LOAD_TARGET:.0%} of the PSU rating.",
        (
            f"Wall draw: sustained / PSU efficiency {defaults.psu_efficiency:.2f}; circuits: "
            f"{CIRCUIT_120V_W:,.0f} W continuous per 15 A/120 V circuit, {CIRCUIT_230V_W:,.0f} W "
            "per "
            "16 A/230 V circuit."
        ),
    ]
    return PsuPlan(
        gpus=gpus,
        gpu_power_w=float(gpu_power_w),
        gpu_w=gpu_w,
        platform_w=platform,
        sustained_w=sustained_w,
        transient_factor=transient,
        peak_w=peak_w,
        recommended_psu_w=recommended,
        wall_w=wall_w,
        circuits_120v=circuits_120v,
        circuits_230v=circuits_230v,
        multiple_psus=multiple,
        warnings=warnings,
        assumptions=assumptions,
    )


def box_facts(
    gpu_power_w: float,
    gpus: int,
    platform_w: float | None = None,
    setting: str = "workstation",
    transient_factor: float | None = None,
    *,
    form_factor: str = "pcie",
    cooling: str | None = None,
) -> dict[str, bool | float | int]:
    """The box's power and packaging outcome as flat facts a rule can test and cite."""
    plan = psu_plan(
        gpu_power_w,
        gpus,
        platform_w,
        setting,
        transient_factor,
        form_factor=form_factor,
        cooling=cooling,
    )
    return {
        "psu_w_needed": plan.recommended_psu_w,
        "sustained_w": plan.sustained_w,
        "peak_w": plan.peak_w,
        "wall_w": round(plan.wall_w, 1),
        "circuits_120v": plan.circuits_120v,
        "circuits_230v": plan.circuits_230v,
        "exceeds_single_120v_circuit": plan.circuits_120v > 1,
        "exceeds_single_230v_circuit": plan.circuits_230v > 1,
        "needs_multiple_psus": plan.multiple_psus,
        "psu_1200w_class": plan.recommended_psu_w >= BIG_PSU_W,
        "multi_gpu_blower_spacing": cooling == "blower" and gpus >= 2,
        "needs_dedicated_power_connectors": (
            form_factor == "pcie" and gpu_power_w > CONNECTOR_8PIN_W
        ),
        "atx3_psu_advised": (
            SETTING_ALIASES.get(setting, setting) == "workstation"
            and form_factor == "pcie"
            and gpu_power_w >= ATX3_ADVISED_GPU_W
        ),
        "liquid_cooling_advised": (
            gpus >= LIQUID_COOLING_MIN_GPUS and gpu_power_w >= LIQUID_COOLING_GPU_W
        ),
    }


def box_facts_for_device(
    device: Any, gpus: int, platform_w: float | None = None, setting: str | None = None
) -> dict[str, bool | float | int]:
    """:func:`box_facts` for a knowledge-base device (its power, cooling, setting, form factor)."""
    power = device.value("power_w")
    if power is None:
        raise UsageError(f"{device.id}: the knowledge base has no power figure for it")
    kb_setting = str(device.value("setting") or "workstation")
    if kb_setting == "appliance":
        raise UsageError(
            f"{device.id} is an appliance with its own power supply; there is no PSU to size"
        )
    form_factor = "pcie" if device.value("slots") is not None else "module"
    return box_facts(
        float(power),
        gpus,
        platform_w,
        setting or kb_setting,
        form_factor=form_factor,
        cooling=device.value("cooling"),
    )
