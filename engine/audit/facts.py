"""Device facts for the audit's situations: exactly what a consultation computes, shared between
situations that cannot differ.

The logic audit asks for every device's facts in tens of thousands of situations that differ in
one or two answers from their neighbours (the site, off-grid or not, a budget). Three steps are
remembered, each keyed on the answers it reads. A key leaves out only answers named here as not
read by that step, so an answer the arithmetic starts to read (``ARITHMETIC_ANSWERS``) is in
every key without anyone having to remember it:

- the sizing and the demand (``context_arithmetic``, with its sizing estimates): once per
  distinct answers other than :data:`NOT_SIZED`; the site's own facts are added per situation;
- each device's facts before the energy step: once per distinct answers other than
  :data:`ENERGY_ONLY`, which only ``box_and_energy`` reads;
- the energy step's additions: once per device and the figures and answers it reads.

The cached facts are checked against the uncached computation on the first situations and on a
sample after; if they ever differ the cache is switched off for the rest of the audit and the
audit's notes say so (``tests/audit/test_facts.py`` checks the same on random answers).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from gpu_advisor.arithmetic.context import (
    ARITHMETIC_ANSWERS,
    Arithmetic,
    box_and_energy,
    context_arithmetic,
    device_attributes,
)
from gpu_advisor.core.answers import Answers
from gpu_advisor.knowledge.rulebase import RuleBase
from gpu_advisor.lang.conditions import MISSING

NOT_SIZED: tuple[str, ...] = (
    "site",
    "max_gpus",
    "budget_usd",
    "purchase",
    "off_grid",
    "off_grid_hours",
    "site_power_kw",
)
"""Answers the sizing and the demand do not read (the site only adds the site's facts)."""
ENERGY_ONLY: tuple[str, ...] = ("off_grid", "off_grid_hours", "site_power_kw")
"""Answers only the energy step (``box_and_energy``) reads."""
SIZING_KEYS: tuple[str, ...] = tuple(k for k in ARITHMETIC_ANSWERS if k not in NOT_SIZED)
DEVICE_KEYS: tuple[str, ...] = tuple(k for k in ARITHMETIC_ANSWERS if k not in ENERGY_ONLY)
BUDGET_ANSWERS: tuple[str, ...] = ("budget_usd", "purchase")
"""Answers that change a device's facts only for a training run (whose count may cost more than
the budget) or when the budget is to be filled (``device_attributes``)."""
TRAINING_WORKLOADS: tuple[str, ...] = ("pretraining", "fine-tuning")
ENERGY_FIGURES: tuple[str, ...] = (
    "host_kind",
    "box_units",
    "count",
    "total_power_w",
    "cost_usd",
)
"""The device facts the energy step reads (besides the device itself)."""

Facts = tuple[dict[str, Any], list[dict[str, Any]]]


class DeviceFacts:
    """(computed facts, one attribute dict per device) for a situation's answers, as
    ``context_arithmetic`` and ``device_attributes`` give them, with the steps shared (see the
    module docstring)."""

    CHECK_FIRST = 64
    CHECK_EVERY = 997
    SIZINGS_KEPT = 2048
    SITUATIONS_KEPT = 256

    def __init__(self, rb: RuleBase) -> None:
        self.devices = list(rb.knowledge.devices.values())
        self.kb_dir = rb.knowledge.directory
        self.fast = True
        self.calls = 0
        self.mismatch: str | None = None
        self._sizing: dict[tuple[str, ...], Arithmetic] = {}
        self._site: dict[str, dict[str, Any]] = {}
        self._before_energy: dict[tuple[str, ...], Facts] = {}
        self._energy: dict[tuple[Any, ...], dict[str, Any]] = {}

    def compute(self, values: Mapping[str, Any]) -> Facts:
        """(computed facts, one attribute dict per device) for these answers."""
        answers = Answers({k: v for k, v in values.items() if v is not MISSING})
        self.calls += 1
        if not self.fast:
            return self.uncached(answers)
        computed, attrs = self.shared(answers)
        if self.calls <= self.CHECK_FIRST or self.calls % self.CHECK_EVERY == 0:
            full = self.uncached(answers)
            if full != (computed, attrs):
                self.fast = False
                differs = next(
                    (d.id for d, a, b in zip(self.devices, attrs, full[1]) if a != b), None
                )
                self.mismatch = (
                    "the audit's shared device facts differed from the engine's "
                    f"({'for ' + differs if differs else 'computed facts'}); the audit switched "
                    "the sharing off"
                )
                return full
        return computed, attrs

    def uncached(self, answers: Answers) -> Facts:
        """The consultation's own computation, nothing shared."""
        arithmetic = context_arithmetic(answers, self.kb_dir)
        attrs = [device_attributes(d, answers, arithmetic, self.kb_dir) for d in self.devices]
        return dict(arithmetic.facts), attrs

    def shared(self, answers: Answers) -> Facts:
        """The facts with every step shared that can be (what :meth:`compute` returns while its
        self-check agrees)."""
        ignored = () if budget_matters(answers) else BUDGET_ANSWERS
        key = tuple("-" if k in ignored else repr(answers.get(k)) for k in DEVICE_KEYS)
        found = self._before_energy.get(key)
        if found is None:
            arithmetic = self._arithmetic(answers)
            found = (
                dict(arithmetic.facts),
                [device_attributes(d, answers, arithmetic, None) for d in self.devices],
            )
            if len(self._before_energy) >= self.SITUATIONS_KEPT:
                self._before_energy.clear()
            self._before_energy[key] = found
        computed, before = found
        energy = tuple(repr(answers.get(k)) for k in ENERGY_ONLY)
        return dict(computed), [
            self._with_energy(i, answers, energy, attrs) for i, attrs in enumerate(before)
        ]

    def _arithmetic(self, answers: Answers) -> Arithmetic:
        """The sizing and demand of these answers (shared, with the sizing estimates), with the
        site's facts; the per-device records start empty, as in a consultation."""
        key = tuple(repr(answers.get(k)) for k in SIZING_KEYS)
        shared = self._sizing.get(key)
        if shared is None:
            sized = Answers({k: v for k, v in answers.values.items() if k not in NOT_SIZED})
            shared = context_arithmetic(sized, self.kb_dir)
            if len(self._sizing) >= self.SIZINGS_KEPT:
                self._sizing.clear()
            self._sizing[key] = shared
        site = answers.get("site")
        site_key = repr(site)
        site_facts = self._site.get(site_key)
        if site_facts is None:
            only_site = Answers({} if site is MISSING else {"site": site})
            site_facts = self._site[site_key] = context_arithmetic(only_site, self.kb_dir).facts
        arithmetic = copy.copy(shared)
        arithmetic.facts = {**site_facts, **shared.facts}
        arithmetic.notes = list(shared.notes)
        arithmetic.counts = {}
        arithmetic.mfu_defaults = {}
        arithmetic.purchases = {}
        return arithmetic

    def _with_energy(
        self, index: int, answers: Answers, energy: tuple[str, ...], before: dict[str, Any]
    ) -> dict[str, Any]:
        """A copy of a device's facts with the energy step's additions (remembered by device,
        the off-grid and site-power answers (``energy``) and the figures the step reads)."""
        attrs = dict(before)
        key = (index, energy, *map(attrs.get, ENERGY_FIGURES))
        delta = self._energy.get(key)
        if delta is None:
            probe = dict(attrs)
            box_and_energy(self.devices[index], answers, probe, self.kb_dir)
            delta = {k: v for k, v in probe.items() if k not in attrs or attrs[k] != v}
            if len(self._energy) > 65536:
                self._energy.clear()
            self._energy[key] = delta
        attrs.update(delta)
        return attrs


def budget_matters(answers: Answers) -> bool:
    """Whether the budget can change a device's facts: for a training run (its count may cost
    more than the budget) or when the budget is to be filled; otherwise ``device_attributes``
    prices nothing against it (a cost of 0 is never over a budget, which is never negative)."""
    budget = answers.get("budget_usd")
    return (
        answers.get("workload") in TRAINING_WORKLOADS
        or answers.get("purchase") == "fill-budget"
        or (budget is not MISSING and float(budget) < 0)
    )
