"""The rule base as the engine sees it: questions, facts, rules and ranking, as plain dataclasses.

These are what ``rulebase.load_rulebase`` builds from the rule files and what the cache pickles,
so a cached rule base loads without pydantic or the loader.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpu_advisor.errors import Location
from gpu_advisor.knowledge.claims import ClaimRecord
from gpu_advisor.knowledge.kb import Knowledge
from gpu_advisor.lang.conditions import Condition, Ref, refs, show, template_refs


@dataclass(frozen=True)
class Claim:
    """What a preference rests on ("best memory_gb"), so the engine can check it."""

    metric: str
    best: str  # highest | lowest


@dataclass(frozen=True)
class Preference:
    points: float
    claim: Claim | None = None


@dataclass(frozen=True)
class Expectation:
    """What a rule's example expects of a consultation."""

    fires: bool | None = None
    fires_for: tuple[str, ...] = ()
    not_for: tuple[str, ...] = ()
    facts: Mapping[str, Any] = field(default_factory=dict)
    top: str | None = None
    excluded: tuple[str, ...] = ()
    recommended: tuple[str, ...] = ()


@dataclass(frozen=True)
class Question:
    key: str
    prompt: str
    type: str
    help: str
    group: str
    choices: tuple[str, ...]
    choice_help: Mapping[str, str]
    min: float | None
    max: float | None
    unit: str | None
    default: Any
    ask_when: Condition
    location: Location

    @property
    def value_type(self) -> str:
        return {
            "choice": "string",
            "number": "number",
            "integer": "number",
            "boolean": "bool",
            "devices": "list",
        }[self.type]


@dataclass(frozen=True)
class Fact:
    name: str
    type: str
    kind: str
    description: str
    default: Any
    choices: tuple[str, ...]
    unit: str | None
    combine: str
    location: Location


@dataclass(frozen=True)
class Example:
    name: str
    answers: Mapping[str, Any]
    expect: Expectation
    location: Location


@dataclass(frozen=True)
class Rule:
    id: str
    topic: str
    description: str
    when: Condition
    derive: Mapping[str, Any]
    exclude: bool
    prefer: Preference | None
    warn: str | None
    because: str
    sources: tuple[str, ...]
    examples: tuple[Example, ...]
    severity: str
    location: Location
    path: str
    scope: str  # "context" (answers and facts) or "device" (joined with each device)
    stratum: int = 0

    def reads(self) -> frozenset[Ref]:
        """Every answer, fact and device attribute the rule's condition and texts read."""
        return self._reads

    @functools.cached_property
    def _reads(self) -> frozenset[Ref]:  # explanations ask every rule, for every answer
        found = set(refs(self.when))
        found.update(template_refs(self.because))
        if self.warn:
            found.update(template_refs(self.warn))
        return frozenset(found)

    @functools.cached_property
    def conclusion(self) -> str:
        """What the rule concludes, in words (every firing's trace entry reads it)."""
        parts = []
        if self.derive:
            parts.append("derives " + ", ".join(f"{k} = {_fmt(v)}" for k, v in self.derive.items()))
        if self.exclude:
            parts.append("excludes the device")
        if self.prefer:
            sign = "+" if self.prefer.points >= 0 else ""
            parts.append(f"scores {sign}{self.prefer.points:g}")
        if self.warn:
            parts.append("warns")
        return "; ".join(parts)

    def condition_text(self) -> str:
        return show(self.when)


@dataclass(frozen=True)
class Metric:
    name: str
    better: str
    description: str
    attribute: str


@dataclass
class RuleBase:
    """Everything the engine needs, validated together with the knowledge base."""

    knowledge: Knowledge
    questions: dict[str, Question]
    facts: dict[str, Fact]
    rules: list[Rule]
    metrics: dict[str, Metric]
    priorities: dict[str, dict[str, float]]
    setting_ease: dict[str, float]
    emphasis: dict[str, dict[str, float]]
    ranking_sources: tuple[str, ...]
    topics: dict[str, str]
    directory: Path
    strata: int = 1
    claims: tuple[ClaimRecord, ...] = ()
    """The seeds' quantitative claims (kb/claims.yaml), checked by the sizing model."""
    order: Any = None
    """The ranking's order table (knowledge.tables.Order), loaded with the rules."""
    levers: Any = None
    """The buyer's levers (knowledge.tables.Levers), loaded with the rules."""
    demand: Any = None
    """The demand arithmetic's defaults (knowledge.demand.DemandDefaults) of the knowledge
    base's demand.yaml, loaded with the rules so that a cached rule base brings them along."""
    systems: Any = None
    """The systems catalog (knowledge.systems.Systems: hosts, networks, site limits) of the
    knowledge base's systems.yaml, loaded with the rules for the same reason."""

    def rule(self, rule_id: str) -> Rule:
        index: dict[str, Rule] | None = self.__dict__.get("_index")
        if index is None or len(index) != len(self.rules):
            index = self.__dict__["_index"] = {r.id: r for r in self.rules}
        return index[rule_id]

    def derivers(self, fact_name: str) -> list[Rule]:
        return [r for r in self.rules if fact_name in r.derive]


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def shipped_rules_dir() -> Path:
    """The rule files that install with the package."""
    from importlib import resources  # about 2 ms: only when the shipped folder is asked for

    return Path(str(resources.files("gpu_advisor.rules")))


RESERVED_FILES = ("questions.yaml", "facts.yaml", "ranking.yaml")
NOT_RULE_FILES = ("levers.yaml",)  # loaded by knowledge.tables with the rule base
