"""The answers to HOW, WHY NOT, WHAT WOULD CHANGE IT and WHY ASKED, as typed records.

``core.explain`` builds them from a consultation; the reports, the terminal UI and the command
line read their attributes. Each record's ``to_json()`` is the scripting contract (the
``explanation`` block of ``recommend --format json``), so its keys and their order never change.
Like ``results``, this module imports nothing from consult, ranking or explain.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gpu_advisor.core.results import Status


@dataclass(frozen=True)
class FactStep:
    """One derivation of a fact: the rule (or the sizing arithmetic), what it matched, and the
    derivations of the facts it read in turn."""

    fact: str
    value: Any
    rule: str
    because: str
    matched: tuple[str, ...]
    sources: tuple[str, ...]
    derived_from: tuple[FactStep, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"fact": self.fact, "value": self.value, "rule": self.rule, "because": self.because,
                "matched": list(self.matched), "sources": list(self.sources),
                "from": [step.to_json() for step in self.derived_from]}


@dataclass(frozen=True)
class FiredRule:
    """A rule that fired for a device, with the leaves that decided it."""

    rule: str
    concluded: str
    because: str
    matched: tuple[str, ...]
    sources: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "concluded": self.concluded, "because": self.because,
                "matched": list(self.matched), "sources": list(self.sources)}


@dataclass(frozen=True)
class PassedExclusion:
    """An exclusion rule that did not fire for a device, and the leaves that kept it false."""

    rule: str
    not_met: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "not_met": list(self.not_met)}


@dataclass(frozen=True)
class How:
    """HOW: a device's standing, the rules that fired for it, the facts behind them, the
    exclusions it passed and its score part by part."""

    device: str
    status: Status
    rank: int | None
    count: int | None
    cost_usd: float | None
    memory: str | None
    rules: tuple[FiredRule, ...]
    facts: tuple[FactStep, ...]
    exclusions_passed: tuple[PassedExclusion, ...]
    score_parts: Mapping[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"device": self.device, "status": self.status, "rank": self.rank, "count": self.count,
                "cost_usd": self.cost_usd, "memory": self.memory,
                "rules": [rule.to_json() for rule in self.rules],
                "facts": [step.to_json() for step in self.facts],
                "exclusions_passed": [passed.to_json() for passed in self.exclusions_passed],
                "score_parts": dict(self.score_parts)}


@dataclass(frozen=True)
class ExcludedBy:
    """An exclusion rule that fired for a device: its sentence, condition and deciding leaves."""

    rule: str
    because: str
    condition: str
    decided_by: tuple[str, ...]
    sources: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "because": self.because, "condition": self.condition,
                "decided_by": list(self.decided_by), "sources": list(self.sources)}


@dataclass(frozen=True)
class ScoreDifference:
    """One part of the score where the leader and this device differ (rounded to 3 places)."""

    part: str
    leader: float
    this: float

    def to_json(self) -> dict[str, Any]:
        return {"part": self.part, "leader": self.leader, "this": self.this}


@dataclass(frozen=True)
class MissedPreference:
    """A preference rule that gave the leader points but not this device, and why not."""

    rule: str
    points: float
    failed: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "points": self.points, "failed": list(self.failed)}


@dataclass(frozen=True)
class WhyNot:
    """WHY NOT: for an excluded device, the rules that excluded it (``excluded_by``); for a
    recommended one, its ``rank`` and, when it is not first, the device it is ``behind``, the
    score gap and what makes it; otherwise a ``note`` ("ranked first", "not among the candidates").
    """

    device: str
    status: Status
    excluded_by: tuple[ExcludedBy, ...] = ()
    rank: int | None = None
    note: str | None = None
    behind: str | None = None
    score_gap: float | None = None
    score_differences: tuple[ScoreDifference, ...] = ()
    preferences_missed: tuple[MissedPreference, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"device": self.device, "status": self.status}
        if self.excluded_by:
            data["excluded_by"] = [item.to_json() for item in self.excluded_by]
            return data
        if self.rank is not None:
            data["rank"] = self.rank
        if self.note is not None:
            data["note"] = self.note
        if self.behind is not None:
            data["behind"] = self.behind
            data["score_gap"] = self.score_gap
            data["score_differences"] = [diff.to_json() for diff in self.score_differences]
            data["preferences_missed"] = [missed.to_json() for missed in self.preferences_missed]
        return data


@dataclass(frozen=True)
class Change:
    """A single change (of one answer, or one derived fact pinned) under which an excluded
    device would be recommended, and where it would rank."""

    change: str
    rank: int
    of: int

    def to_json(self) -> dict[str, Any]:
        return {"change": self.change, "rank": self.rank, "of": self.of}


Changes = dict[str, list[Change]]
"""WHAT WOULD CHANGE IT: for each excluded device id, the changes found (possibly none)."""


@dataclass(frozen=True)
class RuleReadingAnswer:
    """A rule whose condition reads the answer to a question."""

    rule: str
    description: str
    condition: str
    sources: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "description": self.description, "condition": self.condition,
                "sources": list(self.sources)}


@dataclass(frozen=True)
class WhyAsked:
    """WHY ARE YOU ASKING: the rules that read the answer, the questions whose asking it
    decides, and whether the sizing and budget arithmetic uses it."""

    question: str
    prompt: str
    rules: tuple[RuleReadingAnswer, ...]
    decides_whether_to_ask: tuple[str, ...]
    used_by_arithmetic: bool

    def to_json(self) -> dict[str, Any]:
        return {"question": self.question, "prompt": self.prompt,
                "rules": [rule.to_json() for rule in self.rules],
                "decides_whether_to_ask": list(self.decides_whether_to_ask),
                "used_by_arithmetic": self.used_by_arithmetic}


@dataclass(frozen=True)
class Explanation:
    """The explanation block of a consultation's JSON: HOW for the leaders, WHY NOT for the
    rest, the counterfactuals (empty when not searched) and the rules behind each answer."""

    how: tuple[How, ...]
    why_not: tuple[WhyNot, ...]
    what_would_change: Mapping[str, list[Change]]
    questions: Mapping[str, tuple[str, ...]]

    def to_json(self) -> dict[str, Any]:
        return {"how": [item.to_json() for item in self.how],
                "why_not": [item.to_json() for item in self.why_not],
                "what_would_change": [{"device": device, "changes": [c.to_json() for c in changes]}
                                      for device, changes in self.what_would_change.items()],
                "questions": {key: list(rules) for key, rules in self.questions.items()}}


__all__ = ["Change", "Changes", "ExcludedBy", "Explanation", "FactStep", "FiredRule", "How",
           "MissedPreference", "PassedExclusion", "RuleReadingAnswer", "ScoreDifference", "WhyAsked",
           "WhyNot"]
