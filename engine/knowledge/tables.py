"""The ranking's order table (``rules/ranking.yaml``'s ``order:``) and the buyer's levers
(``rules/levers.yaml``): loaded and checked by strict pydantic models with the rule base.

The rule base loader reads them (``load_tables``) and keeps them on the rule base, so they are
cached with it (the authenticated cache of ``knowledge.cache``): a cold command-line run with a
warm cache never imports pydantic for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from gpu_advisor.errors import FileError, FileErrors, Location
from gpu_advisor.knowledge.vocabulary import DEVICE_ATTRIBUTES

if TYPE_CHECKING:
    from gpu_advisor.knowledge.rules import RuleBase

# ---------------------------------------------------------------------------------------------
# The tables as the engine reads them (plain dataclasses: cheap to unpickle, no pydantic)


@dataclass(frozen=True)
class TieBreak:
    """A quality that orders devices the priority leaves (nearly) tied, and why."""

    metric: str
    weight: float
    reason: str
    priorities: tuple[str, ...] = ()
    """Only under these priorities (empty: under every priority)."""


@dataclass(frozen=True)
class NearTie:
    """How close two devices' priority scores must be to count as tied, and why."""

    within: float
    reason: str
    priorities: tuple[str, ...] = ()


@dataclass(frozen=True)
class Order:
    """How the priority decides and what breaks its near-ties (``rules/ranking.yaml``
    ``order:``)."""

    near_tie: tuple[NearTie, ...] = ()
    tie_breaks: tuple[TieBreak, ...] = ()
    qualities: dict[str, str] = field(default_factory=dict)
    """metric -> the quality it measures; a metric not listed is its own quality."""
    measured_rules: dict[str, str] = field(default_factory=dict)
    """preference rule -> the quality whose metric already rewards what the rule rewards."""

    def quality(self, metric: str) -> str:
        return self.qualities.get(metric, metric)

    def within(self, priority: str) -> float:
        for entry in self.near_tie:
            if not entry.priorities or priority in entry.priorities:
                return entry.within
        return 0.0


@dataclass(frozen=True)
class GivesUp:
    """What a buyer gives up by taking a lever, with the source that says so."""

    text: str
    source: str


@dataclass(frozen=True)
class Step:
    """One value a lever tries: a fixed value, a multiple of the current one, the value a
    target device needs (one of its attributes), or the other editions of the candidates."""

    kind: Literal["to", "times", "device", "other_editions"]
    value: Any
    gives_up: GivesUp


@dataclass(frozen=True)
class Lever:
    """A change a buyer controls: the answer it moves, the steps it tries in order, and the
    workloads it applies to (empty: all)."""

    id: str
    answer: str
    steps: tuple[Step, ...]
    workloads: tuple[str, ...] = ()
    only_after: tuple[Any, ...] = ()
    """For ordered choices (precision, method): the order; only values after the current one are
    tried."""


@dataclass(frozen=True)
class Levers:
    levers: tuple[Lever, ...] = ()
    max_pairs: int = 0
    max_suggestions: int = 5
    sources: tuple[str, ...] = ()


# ---------------------------------------------------------------------------------------------
# Loading


_MEMO: dict[tuple[str, str], Any] = {}


def load_order(rules_dir: Path) -> Order:
    """The ranking's order table of ``rules_dir/ranking.yaml`` (an empty one when absent)."""
    return _validate(rules_dir / "ranking.yaml", "order")  # type: ignore[no-any-return]


def load_levers(rules_dir: Path) -> Levers:
    """The levers of ``rules_dir/levers.yaml`` (none when absent)."""
    return _validate(rules_dir / "levers.yaml", "levers")  # type: ignore[no-any-return]


def _validate(path: Path, kind: str) -> Any:
    if not path.is_file():
        return Order() if kind == "order" else Levers()
    from pydantic import ValidationError

    from gpu_advisor.knowledge import table_schema
    from gpu_advisor.knowledge.schema import validation_errors
    from gpu_advisor.knowledge.yamlio import load_yaml

    doc = load_yaml(path)
    data = doc.data if isinstance(doc.data, dict) else None
    if data is None:
        raise FileErrors(
            [FileError(Location(str(path)), "expected a mapping at the top of the file")]
        )
    if kind == "order":
        raw = data.get("order")
        if raw is None:
            return Order()
        try:
            return _order(table_schema.OrderModel.model_validate(raw))
        except ValidationError as exc:
            raise FileErrors(
                list(validation_errors(doc, table_schema.OrderModel, exc, ("order",)))
            ) from None
    try:
        return _levers(table_schema.LeversFile.model_validate(data))
    except ValidationError as exc:
        raise FileErrors(list(validation_errors(doc, table_schema.LeversFile, exc))) from None


def _order(model: Any) -> Order:
    return Order(
        near_tie=tuple(NearTie(n.within, n.reason, tuple(n.priorities)) for n in model.near_tie),
        tie_breaks=tuple(
            TieBreak(t.metric, t.weight, t.reason, tuple(t.priorities)) for t in model.tie_breaks
        ),
        qualities=dict(model.qualities),
        measured_rules={rule: m.quality for rule, m in model.measured_rules.items()},
    )


def _step(model: Any) -> Step:
    gives_up = GivesUp(model.gives_up.text, model.gives_up.source)
    for kind in ("to", "times", "device", "other_editions"):
        value = getattr(model, kind)
        if value is not None:
            return Step(kind, value, gives_up)
    raise AssertionError("the schema requires one kind of step")


def _levers(model: Any) -> Levers:
    levers = tuple(
        Lever(
            lever.id,
            lever.answer,
            tuple(_step(step) for step in lever.steps),
            tuple(lever.workloads),
            tuple(lever.only_after),
        )
        for lever in model.levers
    )
    return Levers(
        levers, model.search.max_pairs, model.search.max_suggestions, tuple(model.sources)
    )


def table_problems(rulebase: RuleBase) -> list[str]:
    """Names in the order table and the levers that the rule base does not know. An answer a
    lever names but the questionnaire lacks is allowed: the lever waits for the question."""
    problems: list[str] = []
    order = rulebase.order if rulebase.order is not None else load_order(rulebase.directory)
    priorities = set(rulebase.priorities)
    for tie in order.tie_breaks:
        if tie.metric not in rulebase.metrics:
            problems.append(f"ranking.yaml order.tie_breaks: unknown metric {tie.metric!r}")
        problems += [
            f"ranking.yaml order.tie_breaks: unknown priority {p!r}"
            for p in tie.priorities
            if p not in priorities
        ]
    for near in order.near_tie:
        problems += [
            f"ranking.yaml order.near_tie: unknown priority {p!r}"
            for p in near.priorities
            if p not in priorities
        ]
    problems += [
        f"ranking.yaml order.qualities: unknown metric {m!r}"
        for m in order.qualities
        if m not in rulebase.metrics
    ]
    rule_ids = {rule.id for rule in rulebase.rules}
    problems += [
        f"ranking.yaml order.measured_rules: unknown rule {r!r}"
        for r in order.measured_rules
        if r not in rule_ids
    ]
    levers = rulebase.levers if rulebase.levers is not None else load_levers(rulebase.directory)
    sources = rulebase.knowledge.sources
    workloads = (
        set(rulebase.questions["workload"].choices) if "workload" in rulebase.questions else set()
    )
    for lever in levers.levers:
        problems += [
            f"levers.yaml {lever.id}: unknown workload {w!r}"
            for w in lever.workloads
            if w not in workloads
        ]
        for step in lever.steps:
            if step.gives_up.source.split("#", 1)[0] not in sources:
                problems.append(f"levers.yaml {lever.id}: unknown source {step.gives_up.source!r}")
            if step.kind == "device" and step.value not in DEVICE_ATTRIBUTES:
                problems.append(f"levers.yaml {lever.id}: unknown device attribute {step.value!r}")
    problems += [
        f"levers.yaml: unknown source {s!r}"
        for s in levers.sources
        if s.split("#", 1)[0] not in sources
    ]
    return problems


__all__ = [
    "GivesUp",
    "Lever",
    "Levers",
    "NearTie",
    "Order",
    "Step",
    "TieBreak",
    "load_levers",
    "load_order",
    "table_problems",
]
