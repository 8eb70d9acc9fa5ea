"""What a consultation concluded: the records the engine builds and every reader shares.

The engine (consult), the ranking and the explanations all speak in these types, so they live
apart from all three and import none of them: ranking and explain read a ``Consultation`` without
knowing the ``Engine`` that made it. A consultation holds its rule base (explanations read the
rules and the knowledge through it) and a narrow ``Reconsult`` callable, the one thing the
counterfactual search needs from the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeVar, cast

from gpu_advisor.lang.conditions import MISSING, Ref, decisive_leaves, render

if TYPE_CHECKING:
    from gpu_advisor.arithmetic.context import Arithmetic
    from gpu_advisor.core.answers import Answers
    from gpu_advisor.knowledge.rulebase import RuleBase

Status = Literal["recommended", "excluded", "not considered"]
"""Where a candidate device ended up."""

ReasonKind = Literal["rule", "metric"]
"""Why a recommendation scores: a preference rule's points, or its share of a priority metric."""


class Reconsult(Protocol):
    """Consult again with other answers or pinned derived facts (the counterfactual search)."""

    def __call__(
        self,
        raw_answers: Mapping[str, Any],
        fact_overrides: Mapping[str, Any],
        *,
        words: bool = True,
    ) -> Consultation:
        """``words=False``: the verdict only (ranked devices, exclusions, counts and costs), with
        no warnings, notes or reasons worded, and no rule run that only warns (its trace has
        none of their firings; the lever search re-consults dozens of times)."""
        ...


@dataclass
class TraceEntry:
    """One firing; ``matched`` gives the values of the leaves that made its condition true
    (worked out when asked for: most consultations are never printed with their trace)."""

    seq: int
    stage: int
    rule: str
    device: str | None
    concluded: str
    condition: Any = field(repr=False, compare=False, default=None)
    lookup: Any = field(repr=False, compare=False, default=None)

    @property
    def matched(self) -> dict[str, Any]:
        if self.condition is None:
            return {}
        _, why = decisive_leaves(self.condition, self.lookup)
        return {name: value for result in why for name, value in result.values.items()}

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "stage": self.stage,
            "rule": self.rule,
            "device": self.device,
            "concluded": self.concluded,
            "matched": _jsonable(self.matched),
        }


@dataclass
class Reason:
    """One reason a device scores what it does.

    ``kind`` says what the points are: ``"rule"`` is a preference rule that fired (its sentence is
    the rule's prose, so a reader shows the points beside it); ``"metric"`` is the device's share
    of a metric the user's priority weighs (its sentence already states the points it adds).
    """

    rule: str
    because: str
    sources: list[str]
    points: float = 0.0
    kind: ReasonKind = "rule"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"rule": self.rule, "because": self.because, "sources": self.sources}
        if self.points:
            data["points"] = self.points
        return data


T = TypeVar("T")

Text = str | Callable[[], str]
"""A rule's text, or a function that words it when first read (most consultations, such as the
lever search's hundreds of re-consultations, never read the words of every exclusion)."""


class _WorkedOutWhenRead(Generic[T]):
    """A field whose value may be given as a function, called once on the first read and its
    result kept: the words of a rule (:data:`Text`), a comparison with the first device. Plain
    values (a ``str``, a :class:`Comparison`, None) are never callable, so a callable is always
    the function that gives the value."""

    def __init__(self, *default: T) -> None:
        self._default = default  # (value,) or (): a required field

    def __set_name__(self, owner: type, name: str) -> None:
        self._slot = "_" + name

    def __get__(self, obj: object, owner: type | None = None) -> T:
        if obj is None:  # the dataclass asks for the default: none keeps the field required
            if not self._default:
                raise AttributeError(self._slot[1:])
            return self._default[0]
        value = getattr(obj, self._slot)
        if callable(value):
            value = value()
            setattr(obj, self._slot, value)
        return cast(T, value)

    def __set__(self, obj: object, value: T | Callable[[], T]) -> None:
        setattr(obj, self._slot, value)


@dataclass(kw_only=True)
class Exclusion:
    """A rule that took a device out, with its reason (worded when first read)."""

    device: str
    rule: str
    because: _WorkedOutWhenRead[str] = _WorkedOutWhenRead()  # required; a str, or Text to word it
    sources: list[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "rule": self.rule,
            "because": self.because,
            "sources": self.sources,
        }


@dataclass(kw_only=True)
class RuleWarning:
    """A rule's warning, with its message (worded when first read)."""

    rule: str
    message: _WorkedOutWhenRead[str] = _WorkedOutWhenRead()  # required; a str, or Text to word it
    severity: str
    sources: list[str]
    device: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "rule": self.rule,
            "message": self.message,
            "severity": self.severity,
            "sources": self.sources,
        }
        if self.device:
            data["device"] = self.device
        return data


@dataclass
class Note:
    """Where a seed's verdict and the numbers part ways, or a seed claim a consultation touches."""

    kind: str
    message: str
    rule: str | None
    sources: list[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "message": self.message,
            "rule": self.rule,
            "sources": self.sources,
        }


@dataclass(frozen=True)
class Comparison:
    """What a lower-ranked device gains and loses against the first (cost, speed, memory
    headroom, risk), each item a short phrase with its numbers."""

    against: str
    gains: tuple[str, ...] = ()
    loses: tuple[str, ...] = ()

    def line(self) -> str:
        gains = "; ".join(self.gains) or "nothing"
        loses = "; ".join(self.loses) or "nothing"
        return f"against {self.against}: gains {gains}; loses {loses}"

    def to_json(self) -> dict[str, Any]:
        return {"against": self.against, "gains": list(self.gains), "loses": list(self.loses)}


@dataclass
class Recommendation:
    """A device that met every requirement. ``score`` is the priority's score (what decides the
    order); ``tie_break`` orders devices whose priority scores are near-tied; ``contributions``
    holds both, the tie-break parts prefixed ``tie:`` and preference rules ``rule:``."""

    device: str
    name: str
    count: int
    cost_usd: float
    score: float
    reasons: list[Reason]
    contributions: dict[str, float]
    tie_break: float = 0.0
    versus_first: _WorkedOutWhenRead[Comparison | None] = _WorkedOutWhenRead(None)
    """Gains and losses against the first (None for the first): a :class:`Comparison`, or a
    function that works it out when first read."""

    def to_json(self) -> dict[str, Any]:
        data = {
            "device": self.device,
            "name": self.name,
            "count": self.count,
            "cost_usd": self.cost_usd,
            "score": round(self.score, 3),
            "reasons": [r.to_json() for r in self.reasons],
            "score_parts": {k: round(v, 3) for k, v in self.contributions.items()},
        }
        data["tie_break"] = round(self.tie_break, 3)
        if self.versus_first is not None:
            data["versus_first"] = self.versus_first.to_json()
        return data


def lookup_in(
    answers: Answers, facts: Mapping[str, Any], attrs: Mapping[str, Any]
) -> Callable[[Ref], Any]:
    """How a rule's condition or text reads one consultation's answers, facts and a device's
    attributes. The closure holds those, never the consultation: exclusions and warnings keep
    what words them, and a cycle back to the consultation would leave every re-consultation of
    the lever search to the cyclic garbage collector."""

    def lookup(ref: Ref) -> Any:
        if ref.scope == "answer":
            return answers.get(ref.name)
        if ref.scope == "fact":
            value = facts.get(ref.name)
            return MISSING if value is None else value
        value = attrs.get(ref.name)
        return MISSING if value is None else value

    return lookup


def worded_in(
    template: str, answers: Answers, facts: Mapping[str, Any], attrs: Mapping[str, Any]
) -> str:
    """A rule's text filled in from a consultation's values (what a lazy :data:`Text` calls)."""
    return render(template, lookup_in(answers, facts, attrs))


@dataclass(kw_only=True)
class Consultation:
    """Everything one consultation concluded, and what it needs to explain itself: the rule
    base it ran (rules, questions, knowledge) and a way to consult again for counterfactuals."""

    rulebase: RuleBase = field(repr=False, compare=False)
    reconsult: Reconsult = field(repr=False, compare=False)
    answers: Answers
    facts: dict[str, Any]
    derived_by: dict[str, list[str]]
    devices: dict[str, dict[str, Any]]
    arithmetic: Arithmetic
    evaluator: str
    firings: list[tuple[str, int, str | None]] = field(default_factory=list)
    """(rule, stage, device or None) of every firing, in the order of the trace."""
    recommendations: list[Recommendation] = field(default_factory=list)
    excluded: list[Exclusion] = field(default_factory=list)
    all_exclusions: dict[str, list[Exclusion]] = field(default_factory=dict)
    warnings: list[RuleWarning] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    fired: set[tuple[str, str | None]] = field(default_factory=set)
    _trace: list[TraceEntry] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def trace(self) -> list[TraceEntry]:
        """Every firing with what it concluded, built when first read (the lever search's
        re-consultations never read theirs)."""
        if self._trace is None:
            rule_of = self.rulebase.rule
            trace = []
            for seq, (rule_id, stage, device) in enumerate(self.firings, start=1):
                rule = rule_of(rule_id)
                trace.append(
                    TraceEntry(
                        seq=seq,
                        stage=stage,
                        rule=rule_id,
                        device=device,
                        concluded=rule.conclusion,
                        condition=rule.when,
                        lookup=self.lookup(device),
                    )
                )
            self._trace = trace
        return self._trace

    def status(self, device_id: str) -> Status:
        if any(r.device == device_id for r in self.recommendations):
            return "recommended"
        if device_id in self.all_exclusions:
            return "excluded"
        return "not considered"

    def recommendation(self, device_id: str) -> Recommendation | None:
        """The device's recommendation, or None when it is not recommended."""
        return next((r for r in self.recommendations if r.device == device_id), None)

    def lookup(self, device_id: str | None = None) -> Callable[[Ref], Any]:
        attrs = self.devices.get(device_id, {}) if device_id else {}
        return lookup_in(self.answers, self.facts, attrs)

    def outcome_key(self) -> tuple[Any, ...]:
        """What must agree between evaluators: recommendations, exclusions, warnings, facts."""
        return (
            tuple((r.device, r.count, round(r.score, 6)) for r in self.recommendations),
            tuple(sorted((e.device, e.rule) for ex in self.all_exclusions.values() for e in ex)),
            tuple(sorted((w.rule, w.device or "") for w in self.warnings)),
            tuple(sorted((k, repr(v)) for k, v in self.facts.items())),
            tuple(sorted((t.rule, t.device or "") for t in self.trace)),
        )

    def to_json(self) -> dict[str, Any]:
        """The consultation's JSON without its explanation block (``present.report`` adds that,
        since explaining runs the explainers and, for counterfactuals, more consultations)."""
        data: dict[str, Any] = {
            "answers": _jsonable(self.answers.to_json()),
            "facts": _jsonable(self.facts),
            "recommendations": [r.to_json() for r in self.recommendations],
            "excluded": [self._exclusion_json(e) for e in self.excluded],
            "warnings": [w.to_json() for w in self.warnings],
            "notes": [n.to_json() for n in self.notes],
            "trace": [t.to_json() for t in self.trace],
        }
        if self.answers.ignored:
            data["ignored_answers"] = dict(self.answers.ignored)
        if self.arithmetic.estimate is not None:
            data["sizing"] = self.arithmetic.estimate.to_json()
        return data

    def _exclusion_json(self, first: Exclusion) -> dict[str, Any]:
        """The first rule that excluded a device (the existing keys), and in ``also`` every
        other rule that excluded it too, as the text report lists them."""
        data = first.to_json()
        data["also"] = [
            {"rule": e.rule, "because": e.because, "sources": e.sources}
            for e in self.all_exclusions.get(first.device, [])
            if e is not first and (e.rule, e.because) != (first.rule, first.because)
        ]
        return data


def _jsonable(value: Any) -> Any:
    if value is MISSING:
        return None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


__all__ = [
    "Comparison",
    "Consultation",
    "Exclusion",
    "Note",
    "Reason",
    "ReasonKind",
    "Recommendation",
    "Reconsult",
    "RuleWarning",
    "Status",
    "TraceEntry",
]
