"""The answers to HOW, WHY NOT, WHAT WOULD CHANGE IT and WHY ASKED, as typed records.

``core.explain`` builds them from a consultation; the reports, the terminal UI and the command
line read their attributes. Each record's ``to_json()`` is the scripting contract (the
``explanation`` block of ``recommend --format json``), so its keys and their order never change.
Like ``results``, this module imports nothing from consult, ranking or explain.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

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
        return {
            "fact": self.fact,
            "value": self.value,
            "rule": self.rule,
            "because": self.because,
            "matched": list(self.matched),
            "sources": list(self.sources),
            "from": [step.to_json() for step in self.derived_from],
        }


@dataclass(frozen=True)
class FiredRule:
    """A rule that fired for a device, with the leaves that decided it."""

    rule: str
    concluded: str
    because: str
    matched: tuple[str, ...]
    sources: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "concluded": self.concluded,
            "because": self.because,
            "matched": list(self.matched),
            "sources": list(self.sources),
        }


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
        return {
            "device": self.device,
            "status": self.status,
            "rank": self.rank,
            "count": self.count,
            "cost_usd": self.cost_usd,
            "memory": self.memory,
            "rules": [rule.to_json() for rule in self.rules],
            "facts": [step.to_json() for step in self.facts],
            "exclusions_passed": [passed.to_json() for passed in self.exclusions_passed],
            "score_parts": dict(self.score_parts),
        }


@dataclass(frozen=True)
class ExcludedBy:
    """An exclusion rule that fired for a device: its sentence, condition and deciding leaves."""

    rule: str
    because: str
    condition: str
    decided_by: tuple[str, ...]
    sources: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "because": self.because,
            "condition": self.condition,
            "decided_by": list(self.decided_by),
            "sources": list(self.sources),
        }


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
class AnswerChange:
    """One answer moved by a lever: from its current value to the one tried."""

    answer: str
    before: Any
    after: Any
    lever: str

    def to_json(self) -> dict[str, Any]:
        return {"answer": self.answer, "from": self.before, "to": self.after}

    def text(self) -> str:
        if self.answer == "budget_usd":
            before = "none" if self.before is None else f"${self.before:,.0f}"
            return f"budget {before} -> ${self.after:,.0f}"
        if self.answer == "candidates":
            added = [d for d in self.after if d not in (self.before or [])]
            return f"also compare {', '.join(added)}"
        return f"{self.answer} {_show(self.before)} -> {_show(self.after)}"


@dataclass(frozen=True)
class GivesUp:
    """What a buyer gives up with one change, and the source that says so."""

    answer: str
    text: str
    source: str

    def to_json(self) -> dict[str, Any]:
        return {"answer": self.answer, "text": self.text, "source": self.source}


SuggestionKind = Literal["brings back", "puts first", "makes it fit"]


@dataclass(frozen=True)
class Suggestion:
    """A set of changes a buyer controls under which ``device`` is recommended (``brings back``
    an excluded device, ``makes it fit`` when nothing fits) or ranked first (``puts first``),
    found by re-consulting with exactly these answers: the cost and rank are that
    consultation's. ``cost_change_usd`` is against the current first recommendation (None when
    nothing is recommended)."""

    device: str
    kind: SuggestionKind
    changes: tuple[AnswerChange, ...]
    cost_usd: float
    cost_change_usd: float | None
    rank: int
    of: int
    gives_up: tuple[GivesUp, ...]

    @property
    def change(self) -> str:
        """The changes as one phrase ("precision bf16 -> fp8 and max_gpus 1 -> 2")."""
        return " and ".join(c.text() for c in self.changes)

    def answers(self, current: Mapping[str, Any]) -> dict[str, Any]:
        """``current`` answers with these changes applied."""
        changed = dict(current)
        changed.update({c.answer: c.after for c in self.changes})
        return changed

    def cost_phrase(self) -> str:
        if self.cost_change_usd is None or abs(self.cost_change_usd) < 0.005:
            return f"${self.cost_usd:,.0f}"
        sign = "+" if self.cost_change_usd > 0 else "-"
        return f"${self.cost_usd:,.0f} ({sign}${abs(self.cost_change_usd):,.0f} against the first)"

    def to_json(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "kind": self.kind,
            "changes": [c.to_json() for c in self.changes],
            "cost_usd": self.cost_usd,
            "cost_change_usd": self.cost_change_usd,
            "rank": self.rank,
            "of": self.of,
            "gives_up": [g.to_json() for g in self.gives_up],
        }


def _show(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return f"{int(value):,}"
    if isinstance(value, (int, float)):
        return f"{value:,}"
    return str(value)


def suggestion_order(item: Suggestion) -> tuple[int, float]:
    """Ways to make something fit (cheapest first), then devices brought back, then put first."""
    kinds = {"makes it fit": 0, "brings back": 1, "puts first": 2}
    return kinds[item.kind], item.cost_usd if item.kind == "makes it fit" else 0.0


Changes = dict[str, list[Suggestion]]
"""WHAT WOULD CHANGE IT: for each device, the suggestions found (possibly none), in the order
they are shown: excluded devices first (cheapest first when nothing fits), then lower-ranked
ones."""


@dataclass(frozen=True)
class RuleReadingAnswer:
    """A rule whose condition reads the answer to a question."""

    rule: str
    description: str
    condition: str
    sources: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "description": self.description,
            "condition": self.condition,
            "sources": list(self.sources),
        }


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
        return {
            "question": self.question,
            "prompt": self.prompt,
            "rules": [rule.to_json() for rule in self.rules],
            "decides_whether_to_ask": list(self.decides_whether_to_ask),
            "used_by_arithmetic": self.used_by_arithmetic,
        }


@dataclass(frozen=True)
class Explanation:
    """The explanation block of a consultation's JSON: HOW for the leaders, WHY NOT for the
    rest, the counterfactuals (empty when not searched) and the rules behind each answer."""

    how: tuple[How, ...]
    why_not: tuple[WhyNot, ...]
    what_would_change: Mapping[str, list[Suggestion]]
    questions: Mapping[str, tuple[str, ...]]

    def suggestions(self) -> list[Suggestion]:
        """WHAT WOULD CHANGE IT in the order it is shown: the ways to make something fit,
        cheapest first; the devices brought back; what would put a device first."""
        flat = [item for items in self.what_would_change.values() for item in items]
        return sorted(flat, key=suggestion_order)

    def to_json(self) -> dict[str, Any]:
        return {
            "how": [item.to_json() for item in self.how],
            "why_not": [item.to_json() for item in self.why_not],
            "what_would_change": [item.to_json() for item in self.suggestions()],
            "questions": {key: list(rules) for key, rules in self.questions.items()},
        }


__all__ = [
    "AnswerChange",
    "Changes",
    "ExcludedBy",
    "Explanation",
    "FactStep",
    "FiredRule",
    "GivesUp",
    "How",
    "MissedPreference",
    "PassedExclusion",
    "RuleReadingAnswer",
    "ScoreDifference",
    "Suggestion",
    "SuggestionKind",
    "WhyAsked",
    "WhyNot",
    "suggestion_order",
]
