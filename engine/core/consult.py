"""A consultation: answers in; recommendations, exclusions, warnings and a full trace out.

Rules run in strata (see rulebase). At each stage the engine asserts a context fact holding the
answers and every fact derived so far; at the last stage it also asserts one fact per candidate
device, which device rules join with the context. The rules that fire are recorded with the
values they matched, which is what HOW, WHY NOT and WHAT WOULD CHANGE IT are built from.
Conditions are evaluated either by durable_rules (the default) or by the Python evaluator of the
same parsed conditions; the two must agree (tests and the audit check it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpu_advisor.core.answers import Answers, normalize_answers
from gpu_advisor.arithmetic.context import ARITHMETIC_ANSWERS, Arithmetic, context_arithmetic, device_attributes
from gpu_advisor.lang.conditions import MISSING, Ref, decisive_leaves, evaluate, render
from gpu_advisor.backends.durable import CompiledRules, Firing
from gpu_advisor.errors import EngineError
from gpu_advisor.knowledge.kb import Knowledge
from gpu_advisor.knowledge.rulebase import Rule, RuleBase, load_rulebase



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
        return {"seq": self.seq, "stage": self.stage, "rule": self.rule, "device": self.device,
                "concluded": self.concluded, "matched": _jsonable(self.matched)}


@dataclass
class Reason:
    rule: str
    because: str
    sources: list[str]
    points: float = 0.0

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"rule": self.rule, "because": self.because, "sources": self.sources}
        if self.points:
            data["points"] = self.points
        return data


@dataclass
class Exclusion:
    device: str
    rule: str
    because: str
    sources: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"device": self.device, "rule": self.rule, "because": self.because, "sources": self.sources}


@dataclass
class RuleWarning:
    rule: str
    message: str
    severity: str
    sources: list[str]
    device: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"rule": self.rule, "message": self.message, "severity": self.severity,
                                "sources": self.sources}
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
        return {"kind": self.kind, "message": self.message, "rule": self.rule, "sources": self.sources}


@dataclass
class Recommendation:
    device: str
    name: str
    count: int
    cost_usd: float
    score: float
    reasons: list[Reason]
    contributions: dict[str, float]

    def to_json(self) -> dict[str, Any]:
        return {"device": self.device, "name": self.name, "count": self.count, "cost_usd": self.cost_usd,
                "score": round(self.score, 3), "reasons": [r.to_json() for r in self.reasons],
                "score_parts": {k: round(v, 3) for k, v in self.contributions.items()}}


@dataclass
class Consultation:
    """Everything one consultation concluded, and what it needs to explain itself."""

    engine: Engine
    answers: Answers
    facts: dict[str, Any]
    derived_by: dict[str, list[str]]
    devices: dict[str, dict[str, Any]]
    arithmetic: Arithmetic
    trace: list[TraceEntry]
    recommendations: list[Recommendation]
    excluded: list[Exclusion]
    all_exclusions: dict[str, list[Exclusion]]
    warnings: list[RuleWarning]
    notes: list[Note]
    evaluator: str
    fired: set[tuple[str, str | None]] = field(default_factory=set)

    @property
    def rulebase(self) -> RuleBase:
        return self.engine.rulebase

    def status(self, device_id: str) -> str:
        if any(r.device == device_id for r in self.recommendations):
            return "recommended"
        if device_id in self.all_exclusions:
            return "excluded"
        return "not considered"

    def lookup(self, device_id: str | None = None) -> Any:
        attrs = self.devices.get(device_id, {}) if device_id else {}

        def lookup(ref: Ref) -> Any:
            if ref.scope == "answer":
                return self.answers.get(ref.name)
            if ref.scope == "fact":
                value = self.facts.get(ref.name)
                return MISSING if value is None else value
            value = attrs.get(ref.name)
            return MISSING if value is None else value

        return lookup

    def outcome_key(self) -> tuple[Any, ...]:
        """What must agree between evaluators: recommendations, exclusions, warnings, facts."""
        return (tuple((r.device, r.count, round(r.score, 6)) for r in self.recommendations),
                tuple(sorted((e.device, e.rule) for ex in self.all_exclusions.values() for e in ex)),
                tuple(sorted((w.rule, w.device or "") for w in self.warnings)),
                tuple(sorted((k, repr(v)) for k, v in self.facts.items())),
                tuple(sorted((t.rule, t.device or "") for t in self.trace)))

    def to_json(self, explain: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "answers": _jsonable(self.answers.to_json()),
            "facts": _jsonable(self.facts),
            "recommendations": [r.to_json() for r in self.recommendations],
            "excluded": [e.to_json() for e in self.excluded],
            "warnings": [w.to_json() for w in self.warnings],
            "notes": [n.to_json() for n in self.notes],
            "trace": [t.to_json() for t in self.trace],
        }
        if self.answers.ignored:
            data["ignored_answers"] = dict(self.answers.ignored)
        if self.arithmetic.estimate is not None:
            data["sizing"] = self.arithmetic.estimate.to_json()
        if explain:
            from gpu_advisor.core.explain import explain_consultation

            data["explanation"] = explain_consultation(self, counterfactuals=True)
        return data


def _jsonable(value: Any) -> Any:
    if value is MISSING:
        return None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


class Engine:
    """A loaded rule base ready for consultations (compiled to durable_rules once, lazily)."""

    def __init__(self, rulebase: RuleBase) -> None:
        self.rulebase = rulebase
        self._compiled: CompiledRules | None = None
        self._rule_order = {rule.id: i for i, rule in enumerate(rulebase.rules)}
        self._arithmetic_memo: dict[tuple[Any, ...], tuple[Arithmetic, dict[str, dict[str, Any]]]] = {}

    @classmethod
    def load(cls, kb_dir: Path | str | None = None, rules_dir: Path | str | None = None,
             cached: bool = True) -> Engine:
        """Load and validate the knowledge base and rules (FileErrors lists every problem)."""
        if cached:
            from gpu_advisor.knowledge.cache import load_rulebase_cached

            return cls(load_rulebase_cached(kb_dir, rules_dir))
        from gpu_advisor.knowledge.kb_schema import load_knowledge  # pydantic only when loading

        knowledge: Knowledge = load_knowledge(kb_dir)
        return cls(load_rulebase(rules_dir, knowledge))

    @property
    def compiled(self) -> CompiledRules:
        if self._compiled is None:
            self._compiled = CompiledRules((r.id, r.when, r.stratum, r.scope == "device")
                                           for r in self.rulebase.rules)
        return self._compiled

    def consult(self, raw_answers: Mapping[str, Any], evaluator: str = "durable",
                fact_overrides: Mapping[str, Any] | None = None) -> Consultation:
        """Run one consultation. ``fact_overrides`` pins derived facts (for counterfactuals)."""
        rb = self.rulebase
        answers = normalize_answers(rb.questions, raw_answers, rb.knowledge)
        arithmetic, devices = self._arithmetic(answers)
        facts: dict[str, Any] = {name: fact.default for name, fact in rb.facts.items()
                                 if fact.kind != "computed" and fact.default is not None}
        facts.update(arithmetic.facts)
        overrides = dict(fact_overrides or {})
        facts.update(overrides)
        device_ids = list(devices)
        derived_by: dict[str, list[str]] = {}
        firings: list[Firing] = []
        final = rb.strata - 1
        session = self.compiled.session() if evaluator == "durable" else None
        try:
            for stage in range(rb.strata):
                batch = list(devices.values()) if stage == final else []
                if session is not None:
                    fired = session.run_stage(stage, answers.values, facts, batch)
                else:
                    fired = self._python_stage(stage, answers, facts, devices if stage == final else {})
                fired.sort(key=lambda f: (self._rule_order[f.rule_id], device_ids.index(f.device_id)
                                          if f.device_id in device_ids else -1))
                firings.extend(fired)
                if stage != final:
                    self._apply_derivations(fired, facts, derived_by, overrides)
        finally:
            if session is not None:
                session.close()
        return self._conclude(answers, arithmetic, facts, derived_by, devices, firings, evaluator)

    def _arithmetic(self, answers: Answers) -> tuple[Arithmetic, dict[str, dict[str, Any]]]:
        """Sizing and device facts, memoized on the answers the arithmetic reads (counterfactuals
        and edits in the TUI mostly change answers it does not read)."""
        key = tuple((k, repr(answers.get(k))) for k in ARITHMETIC_ANSWERS) + (repr(answers.get("candidates")),)
        memo = self._arithmetic_memo.get(key)
        if memo is None:
            rb = self.rulebase
            arithmetic = context_arithmetic(answers)
            candidates = answers.get("candidates")
            device_ids = list(rb.knowledge.devices) if candidates is MISSING else list(candidates)
            devices = {d: device_attributes(rb.knowledge.devices[d], answers, arithmetic, rb.knowledge.directory)
                       for d in device_ids}
            if len(self._arithmetic_memo) >= 128:
                self._arithmetic_memo.pop(next(iter(self._arithmetic_memo)))
            memo = self._arithmetic_memo[key] = (arithmetic, devices)
        arithmetic, devices = memo
        return arithmetic, {d: dict(attrs) for d, attrs in devices.items()}

    def _python_stage(self, stage: int, answers: Answers, facts: dict[str, Any],
                      devices: dict[str, dict[str, Any]]) -> list[Firing]:
        return python_stage(self.rulebase.rules, stage, answers.values, facts, devices)

    def _apply_derivations(self, fired: list[Firing], facts: dict[str, Any],
                           derived_by: dict[str, list[str]], overrides: Mapping[str, Any]) -> None:
        rb = self.rulebase
        for firing in fired:
            rule = rb.rule(firing.rule_id)
            for name, value in rule.derive.items():
                if name in overrides:
                    continue
                fact = rb.facts[name]
                previous = facts.get(name) if name in derived_by else None
                if previous is not None and fact.combine == "agree" and previous != value:
                    raise EngineError(f"rules disagree on fact {name}: {derived_by[name][0]} derived "
                                      f"{previous!r}, {rule.id} derived {value!r}")
                facts[name] = combine(fact.combine, previous, value)
                derived_by.setdefault(name, []).append(rule.id)

    def _conclude(self, answers: Answers, arithmetic: Arithmetic, facts: dict[str, Any],
                  derived_by: dict[str, list[str]], devices: dict[str, dict[str, Any]],
                  firings: list[Firing], evaluator: str) -> Consultation:
        from gpu_advisor.core.ranking import rank

        rb = self.rulebase
        consultation = Consultation(self, answers, facts, derived_by, devices, arithmetic, [], [], [], {},
                                    [], [], evaluator)
        points: dict[str, list[tuple[Rule, float]]] = {d: [] for d in devices}
        for seq, firing in enumerate(firings, start=1):
            rule = rb.rule(firing.rule_id)
            lookup = consultation.lookup(firing.device_id)
            if evaluator == "durable" and not evaluate(rule.when, lookup):
                raise EngineError(f"engine disagreement: {rule.id} fired for {firing.device_id or 'context'} "
                                  "but its condition is false in Python")
            consultation.trace.append(TraceEntry(seq, firing.stage, rule.id, firing.device_id,
                                                 rule.conclusion, rule.when, lookup))
            consultation.fired.add((rule.id, firing.device_id))
            if rule.warn:
                consultation.warnings.append(RuleWarning(rule.id, render(rule.warn, lookup), rule.severity,
                                                     list(rule.sources), firing.device_id))
            if firing.device_id is None:
                continue
            if rule.exclude:
                consultation.all_exclusions.setdefault(firing.device_id, []).append(
                    Exclusion(firing.device_id, rule.id, render(rule.because, lookup), list(rule.sources)))
            if rule.prefer:
                points[firing.device_id].append((rule, rule.prefer.points))
        consultation.excluded = [ex[0] for ex in consultation.all_exclusions.values()]
        remaining = [d for d in devices if d not in consultation.all_exclusions]
        consultation.recommendations, consultation.notes = rank(consultation, remaining, points)
        if arithmetic.estimate is not None:
            consultation.notes.extend(_claim_notes(answers, rb.claims))
        return consultation


def combine(how: str, previous: Any, value: Any) -> Any:
    """A fact derived again: booleans combine with or, numbers by max or min (facts.yaml)."""
    if previous is None:
        return value
    if how == "or":
        return bool(previous) or bool(value)
    if how == "max":
        return max(previous, value)
    if how == "min":
        return min(previous, value)
    return previous  # "agree": the first value stands (a disagreement is reported by the caller)


def python_stage(rules: list[Rule], stage: int, answers: Mapping[str, Any], facts: Mapping[str, Any],
                 devices: Mapping[str, Mapping[str, Any]],
                 holds: Callable[[Any, Any], bool] = evaluate) -> list[Firing]:
    """The rules of one stage that fire, by the Python evaluation of their conditions (the same
    parsed conditions durable_rules runs; used by the python evaluator and the audit, which
    passes its own ``holds`` so that its tests can skew it)."""
    fired: list[Firing] = []

    def context_lookup(ref: Ref) -> Any:
        if ref.scope == "answer":
            return answers.get(ref.name, MISSING)
        value = facts.get(ref.name) if ref.scope == "fact" else None
        return MISSING if value is None else value

    for rule in rules:
        if rule.stratum != stage:
            continue
        if rule.scope == "context":
            if holds(rule.when, context_lookup):
                fired.append(Firing(rule.id, stage, None))
            continue
        for device_id, attrs in devices.items():
            def lookup(ref: Ref, attrs: Mapping[str, Any] = attrs) -> Any:
                if ref.scope == "device":
                    value = attrs.get(ref.name)
                    return MISSING if value is None else value
                return context_lookup(ref)

            if holds(rule.when, lookup):
                fired.append(Firing(rule.id, stage, device_id))
    return fired


def _claim_notes(answers: Answers, claims: tuple[Any, ...]) -> list[Note]:
    """Seed claims the consultation's situation touches, with the sizing model's verdict."""
    if not claims:
        return []
    from gpu_advisor.arithmetic.claims import claims_touched

    notes = []
    for verdict in claims_touched(answers.values, list(claims)):
        claim = verdict.claim
        notes.append(Note("seed-claim", f"{claim.source}: {claim.claim} — {verdict.verdict}: "
                                         f"{verdict.explanation}", None, [claim.source]))
    return notes
