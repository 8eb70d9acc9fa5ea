"""Strict pydantic models of the ranking's ``order:`` table and of ``rules/levers.yaml``.

Imported only when a table is validated (``core.tables`` caches the result), so a cold
command-line run with a warm cache never imports pydantic. ``table_problems`` checks the
names the tables use against a loaded rule base (metrics, rules, answers, sources).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gpu_advisor.core.tables import GivesUp, Lever, Levers, NearTie, Order, Step, TieBreak
from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    from gpu_advisor.knowledge.rulebase import RuleBase


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TieBreakModel(_Strict):
    metric: str
    weight: float = Field(gt=0)
    reason: str = Field(min_length=10)
    priorities: list[str] = []


class NearTieModel(_Strict):
    within: float = Field(ge=0, lt=0.5)
    reason: str = Field(min_length=10)
    priorities: list[str] = []


class MeasuredRuleModel(_Strict):
    quality: str
    reason: str = Field(min_length=10)


class OrderModel(_Strict):
    near_tie: list[NearTieModel] = []
    tie_breaks: list[TieBreakModel] = []
    qualities: dict[str, str] = {}
    measured_rules: dict[str, MeasuredRuleModel] = {}

    def build(self) -> Order:
        return Order(near_tie=tuple(NearTie(n.within, n.reason, tuple(n.priorities)) for n in self.near_tie),
                     tie_breaks=tuple(TieBreak(t.metric, t.weight, t.reason, tuple(t.priorities))
                                      for t in self.tie_breaks),
                     qualities=dict(self.qualities),
                     measured_rules={rule: m.quality for rule, m in self.measured_rules.items()})


class GivesUpModel(_Strict):
    text: str = Field(min_length=5)
    source: str


class StepModel(_Strict):
    """Exactly one of ``to``, ``times``, ``device`` or ``other_editions``."""

    to: Any = None
    times: float | None = Field(default=None, gt=0)
    device: str | None = None
    other_editions: bool | None = None
    gives_up: GivesUpModel

    @model_validator(mode="after")
    def _one_kind(self) -> StepModel:
        given = [k for k in ("to", "times", "device", "other_editions") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"a step needs exactly one of to, times, device, other_editions (got {given or 'none'})")
        return self

    def build(self) -> Step:
        gives_up = GivesUp(self.gives_up.text, self.gives_up.source)
        for kind in ("to", "times", "device", "other_editions"):
            value = getattr(self, kind)
            if value is not None:
                return Step(kind, value, gives_up)  # type: ignore[arg-type]
        raise AssertionError("validated above")


class LeverModel(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    answer: str
    workloads: list[str] = []
    only_after: list[Any] = []
    steps: list[StepModel] = Field(min_length=1)

    def build(self) -> Lever:
        return Lever(self.id, self.answer, tuple(s.build() for s in self.steps), tuple(self.workloads),
                     tuple(self.only_after))


class SearchModel(_Strict):
    max_pairs: int = Field(default=12, ge=0, le=200)
    max_suggestions: int = Field(default=5, ge=1, le=50)


class LeversFile(_Strict):
    sources: list[str] = []
    search: SearchModel = SearchModel()
    levers: list[LeverModel]

    def build(self) -> Levers:
        return Levers(tuple(lever.build() for lever in self.levers), self.search.max_pairs,
                      self.search.max_suggestions, tuple(self.sources))


def table_problems(rulebase: RuleBase) -> list[str]:
    """Names in the order table and the levers that the rule base does not know. Answers a
    lever names but the questionnaire lacks are allowed: the lever waits for the question."""
    from gpu_advisor.core.tables import load_levers, load_order

    problems: list[str] = []
    order = load_order(rulebase.directory)
    priorities = set(rulebase.priorities)
    for tie in order.tie_breaks:
        if tie.metric not in rulebase.metrics:
            problems.append(f"ranking.yaml order.tie_breaks: unknown metric {tie.metric!r}")
        problems += [f"ranking.yaml order.tie_breaks: unknown priority {p!r}" for p in tie.priorities
                     if p not in priorities]
    for near in order.near_tie:
        problems += [f"ranking.yaml order.near_tie: unknown priority {p!r}" for p in near.priorities
                     if p not in priorities]
    problems += [f"ranking.yaml order.qualities: unknown metric {m!r}" for m in order.qualities
                 if m not in rulebase.metrics]
    rule_ids = {rule.id for rule in rulebase.rules}
    problems += [f"ranking.yaml order.measured_rules: unknown rule {r!r}" for r in order.measured_rules
                 if r not in rule_ids]
    levers = load_levers(rulebase.directory)
    sources = rulebase.knowledge.sources
    workloads = set(rulebase.questions["workload"].choices) if "workload" in rulebase.questions else set()
    for lever in levers.levers:
        problems += [f"levers.yaml {lever.id}: unknown workload {w!r}" for w in lever.workloads
                     if w not in workloads]
        for step in lever.steps:
            if step.gives_up.source.split("#", 1)[0] not in sources:
                problems.append(f"levers.yaml {lever.id}: unknown source {step.gives_up.source!r}")
    problems += [f"levers.yaml: unknown source {s!r}" for s in levers.sources if s.split("#", 1)[0] not in sources]
    return problems


__all__ = ["LeversFile", "OrderModel", "table_problems"]
