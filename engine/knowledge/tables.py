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

from gpu_advisor.errors import FileError, FileErrors, Location, did_you_mean, one_of
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


_Problem = tuple[str, tuple[Any, ...], str]
"""A problem of a table: its file's name in the rules folder, the key path of the value at
fault (a trailing ``"<key>"`` points at a mapping key itself) and what is wrong."""


def table_problems(rulebase: RuleBase) -> list[FileError]:
    """Names in the order table and the levers that the rule base does not know, each at its
    place in its file (``path:line:col``), with a did-you-mean where a known name is close."""
    problems = _order_problems(rulebase) + _lever_problems(rulebase)
    if not problems:
        return []
    from gpu_advisor.knowledge.yamlio import load_yaml

    docs = {name: load_yaml(rulebase.directory / name) for name in {p[0] for p in problems}}
    errors = []
    for name, key, message in problems:
        doc = docs[name]
        if key and key[-1] == "<key>":
            location = doc.key_location(key[:-1])
        else:
            location = doc.location(key)
        errors.append(FileError(location, message))
    return errors


def _order_problems(rulebase: RuleBase) -> list[_Problem]:
    order = rulebase.order if rulebase.order is not None else load_order(rulebase.directory)
    priorities = sorted(rulebase.priorities)
    metrics = sorted(rulebase.metrics)
    rule_ids = sorted(rule.id for rule in rulebase.rules)
    problems: list[_Problem] = []

    def unknown(key: tuple[Any, ...], what: str, name: str, known: list[str]) -> None:
        if name not in known:
            problems.append(
                (
                    "ranking.yaml",
                    ("order", *key),
                    f"unknown {what} {name!r}{did_you_mean(name, known)}",
                )
            )

    for i, tie in enumerate(order.tie_breaks):
        unknown(("tie_breaks", i, "metric"), "metric", tie.metric, metrics)
        for j, p in enumerate(tie.priorities):
            unknown(("tie_breaks", i, "priorities", j), "priority", p, priorities)
    for i, near in enumerate(order.near_tie):
        for j, p in enumerate(near.priorities):
            unknown(("near_tie", i, "priorities", j), "priority", p, priorities)
    for m in order.qualities:
        unknown(("qualities", m, "<key>"), "metric", m, metrics)
    for r in order.measured_rules:
        unknown(("measured_rules", r, "<key>"), "rule", r, rule_ids)
    return problems


def _lever_problems(rulebase: RuleBase) -> list[_Problem]:
    """A lever must move an answer the questionnaire asks (a misspelt one would never be tried),
    to values that answer takes, for the workloads there are, citing known sources."""
    levers = rulebase.levers if rulebase.levers is not None else load_levers(rulebase.directory)
    sources = sorted(rulebase.knowledge.sources)
    questions = rulebase.questions
    workloads = sorted(questions["workload"].choices) if "workload" in questions else []
    problems: list[_Problem] = []

    def add(key: tuple[Any, ...], message: str) -> None:
        problems.append(("levers.yaml", key, message))

    def source_problem(key: tuple[Any, ...], source: str) -> None:
        known = source.split("#", 1)[0]
        if known not in sources:
            add(key, f"unknown source {source!r}{did_you_mean(known, sources)}")

    for i, lever in enumerate(levers.levers):
        question = questions.get(lever.answer)
        if question is None:
            add(
                ("levers", i, "answer"),
                f"lever {lever.id}: {lever.answer!r} is not a question of questions.yaml"
                f"{did_you_mean(lever.answer, sorted(questions))}",
            )
        choices = sorted(question.choices) if question is not None and question.choices else []

        def choice_problem(key: tuple[Any, ...], value: Any, lever: Lever = lever) -> None:
            if choices and value not in choices:
                add(
                    key,
                    f"lever {lever.id}: {value!r} is not a choice of {lever.answer}"
                    f"{did_you_mean(str(value), choices)}; {one_of(choices)}",
                )

        for j, w in enumerate(lever.workloads):
            if w not in workloads:
                add(
                    ("levers", i, "workloads", j),
                    f"lever {lever.id}: unknown workload {w!r}{did_you_mean(w, workloads)}",
                )
        for j, value in enumerate(lever.only_after):
            choice_problem(("levers", i, "only_after", j), value)
        for j, step in enumerate(lever.steps):
            source_problem(("levers", i, "steps", j, "gives_up", "source"), step.gives_up.source)
            if step.kind == "device" and step.value not in DEVICE_ATTRIBUTES:
                add(
                    ("levers", i, "steps", j, "device"),
                    f"lever {lever.id}: unknown device attribute {step.value!r}"
                    f"{did_you_mean(str(step.value), sorted(DEVICE_ATTRIBUTES))}",
                )
            if step.kind == "to":
                choice_problem(("levers", i, "steps", j, "to"), step.value)
    for k, source in enumerate(levers.sources):
        source_problem(("sources", k), source)
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
