"""What a budget plan is made of: devices to buy, facility scenarios, batteries, and money.

Plain dataclasses (the files they are read from are loaded by ``catalogs``), plus the reading of
money and numbers from user input. A value that cannot be read raises a UsageError naming the
*field* it was given for (``budget``, ``pue``), never a command-line flag.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from gpu_advisor.errors import UsageError, did_you_mean

if TYPE_CHECKING:
    from gpu_advisor.knowledge.kb import Device

Money = Decimal

CUSTOM_SCENARIO = "custom"
"""The scenario built from overrides; a file may not use the name."""


@dataclass(frozen=True)
class Peak:
    """A typed throughput figure: a TFLOP/s value means nothing without precision and sparsity."""

    tflops: float
    precision: str
    sparse: bool
    source: str = ""

    @property
    def pflops(self) -> float:
        return self.tflops / 1000.0

    @property
    def label(self) -> str:
        """'FP4, sparse' - the words every printed peak carries."""
        return f"{self.precision.upper()}, {'sparse' if self.sparse else 'dense'}"

    def dense(self) -> Peak:
        """The figure without 2:4 structured sparsity: half the sparse peak."""
        if not self.sparse:
            return self
        return Peak(self.tflops / 2.0, self.precision, False, self.source)

    def scaled(self, units: int) -> Peak:
        return Peak(self.tflops * units, self.precision, self.sparse, self.source)


@dataclass(frozen=True)
class PlanDevice:
    """One thing to buy, with the figures the plan needs; `notes` say where a figure came from."""

    id: str
    name: str
    price_usd: Money
    power_w: float
    ai_peak: Peak | None
    fp32_tflops: float | None
    memory_gb: float
    bandwidth_gbs: float
    host_included: bool = False
    memory_type: str = ""
    pathway: str | None = None
    notes: tuple[str, ...] = ()
    kb_device: Device | None = field(default=None, compare=False, repr=False)
    """The knowledge-base device it was read from (None for the paper's pathways): what the plan
    needs to buy it whole, in its purchase units with their hosts and network."""

    @property
    def sold_whole(self) -> bool:
        """Whether the knowledge base says how the device is sold (``purchase_unit``), so that a
        plan at a site can buy it in whole units with the boxes that hold them."""
        return self.kb_device is not None and self.kb_device.value("purchase_unit") is not None

    def with_price(self, price_usd: Money) -> PlanDevice:
        return replace(self, price_usd=price_usd)


@dataclass(frozen=True)
class Scenario:
    """Facility assumptions that turn nameplate power into battery energy (seed-003#table-6)."""

    id: str
    label: str
    host_factor: float
    pue: float
    efficiency: float
    dod: float
    source: str = ""
    note: str = ""


@dataclass(frozen=True)
class Battery:
    """One battery unit: energy, continuous power and installed price."""

    name: str
    energy_kwh: float
    continuous_kw: float
    price_usd: Money


@dataclass(frozen=True)
class EnergyKnobs:
    """Everything the energy half of a plan depends on besides the devices."""

    hours: float
    battery: Battery
    scenarios: tuple[Scenario, ...]

    def scenario(self, scenario_id: str) -> Scenario:
        for scenario in self.scenarios:
            if scenario.id == scenario_id:
                return scenario
        ids = [s.id for s in self.scenarios]
        choices = [*ids, "all"]
        raise UsageError(
            f"unknown scenario {scenario_id!r}{did_you_mean(scenario_id, choices)}; "
            "one of: " + ", ".join(choices),
            field="scenario",
        )


@dataclass(frozen=True)
class Erratum:
    """A figure the paper prints that does not follow from its own inputs."""

    id: str
    pathway: str
    scenario: str
    field: str
    table: str
    printed: float
    correct: float
    note: str


@dataclass(frozen=True)
class Pathways:
    """The paper's pathways as plan devices, plus its errata."""

    devices: tuple[PlanDevice, ...]
    errata: tuple[Erratum, ...]


def to_money(value: Money | float | str, field: str = "budget") -> Money:
    """A finite Decimal from user input ('150000', '$150,000', 1.5e5); floats go through repr so
    that 8999.99 stays 8999.99 instead of its binary neighbour."""
    if isinstance(value, bool):
        raise UsageError(f"expected an amount in USD, got {value!r}", field=field)
    if isinstance(value, str):
        value = value.strip().removeprefix("$").replace(",", "").replace("_", "")
    try:
        amount = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))
    except InvalidOperation:
        raise UsageError(f"expected an amount in USD, got {value!r}", field=field) from None
    if not amount.is_finite():
        raise UsageError(f"expected a finite amount in USD, got {value!r}", field=field)
    return amount


def to_number(value: float | str, field: str) -> float:
    """A finite float from user input, or a UsageError naming the field."""
    if isinstance(value, bool):
        raise UsageError(f"expected a number, got {value!r}", field=field)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"expected a number, got {value!r}", field=field) from None
    if not math.isfinite(number):
        raise UsageError(f"expected a finite number, got {value!r}", field=field)
    return number


def require_positive(value: float | Money, field: str, what: str) -> None:
    if value <= 0:
        raise UsageError(f"{what} must be greater than 0, got {value}", field=field)


def require_fraction(value: float, field: str, what: str) -> None:
    """Efficiency and depth of discharge live in (0, 1]."""
    if not 0 < value <= 1:
        raise UsageError(f"{what} must be in (0, 1], got {value}", field=field)


def require_at_least_one(value: float, field: str, what: str) -> None:
    """PUE and host factor are overhead multipliers: below 1 would mean negative overhead."""
    if value < 1:
        raise UsageError(f"{what} must be at least 1, got {value}", field=field)
