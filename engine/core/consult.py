"""A consultation: answers in; recommendations, exclusions, warnings and a full trace out.

Rules run in strata (see rulebase). At each stage the engine asserts a context fact holding the
answers and every fact derived so far; at the last stage it also asserts one fact per candidate
device, which device rules join with the context. The rules that fire are recorded with the
values they matched, which is what HOW, WHY NOT and WHAT WOULD CHANGE IT are built from.
Conditions are evaluated either by durable_rules (the default) or by the Python evaluator of the
same parsed conditions; the two must agree (tests and the audit check it).

The records a consultation produces are the types of ``core.results``; a ``Consultation`` holds
its rule base and a ``reconsult`` callable (for counterfactuals), never the engine. Explanations
(``core.explain``) are computed only when someone asks, so none of that cost is paid here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from gpu_advisor.arithmetic.context import (
    ARITHMETIC_ANSWERS,
    SCALE_FACTS,
    UNPRICED,
    Arithmetic,
    Counted,
    completed_attributes,
    context_arithmetic,
    counted_attributes,
    device_attributes,
    may_recount,
    scale_facts,
)
from gpu_advisor.arithmetic.counting import capped
from gpu_advisor.backends.durable import CompiledRules, Firing
from gpu_advisor.backends.python import (
    DeviceMemo,
    Predicate,
    StagedRule,
    compile_stages,
    context_of,
    run_compiled_stage,
)
from gpu_advisor.core.answers import Answers, normalize_answers
from gpu_advisor.core.ranking import rank
from gpu_advisor.core.results import (
    Consultation,
    Exclusion,
    Note,
    Reason,
    Recommendation,
    RuleWarning,
    TraceEntry,
    worded_in,
)
from gpu_advisor.errors import EngineError
from gpu_advisor.knowledge.kb import Knowledge
from gpu_advisor.knowledge.rulebase import Rule, RuleBase, load_rulebase
from gpu_advisor.lang.conditions import MISSING, Ref, evaluate, refs

_MEETS_DEMAND = frozenset(("meets_demand",))

MEMO_LIMIT = 128
"""Situations (and candidate sets) the engine remembers; the oldest is dropped first."""


def _bounded(memo: dict[Any, Any]) -> None:
    while len(memo) > MEMO_LIMIT:
        memo.pop(next(iter(memo)))


@dataclass(frozen=True)
class _EarlyRule:
    """An excluding rule that may rule a device out on the first part of its facts: its
    compiled parts and the device attributes it reads."""

    rule_id: str
    context: Predicate
    device: Predicate
    reads: frozenset[str]


@dataclass
class _Situation:
    """What the engine remembers of one situation (the answers the arithmetic reads): the
    context's arithmetic, each device's facts, and each device's first part with the rules that
    exclude it on that part alone (verdicts of the lever search), and the context those read."""

    base: Arithmetic
    complete: dict[str, dict[str, Any]] = field(default_factory=dict)
    first: dict[str, tuple[Counted, tuple[str, ...]]] = field(default_factory=dict)
    parts: dict[str, Counted] = field(default_factory=dict)  # first parts shared (never changed)
    context: dict[str, Any] = field(default_factory=dict)
    early: list[_EarlyRule] | None = None  # None: not worked out yet


@dataclass(frozen=True)
class _Shared:
    """Where a verdict's device facts come from. A device's first part (its count) does not
    read the answers that price it (``UNPRICED``: the budget, how it is spent, the site's power
    and batteries), so it is worked out once in the situation without them (``part``) and
    shared by the budgets and site limits the lever search tries. A serving count does not
    depend on the cap on GPUs either (the cap is a limit, never a target: ``counting.capped``
    only says the demand is not met), nor does anything priced after it: under a cap, the
    whole device is worked out in the situation without the cap (``whole``) and the cap
    applied, so the caps the search tries, alone and with other changes, share it too."""

    part: tuple[_Situation, Answers]
    whole: tuple[_Situation, Answers] | None  # None: the situation asked for
    cap: int | None  # the cap applied to a serving count


def _without(answers: Answers, keys: tuple[str, ...]) -> Answers:
    values = {k: v for k, v in answers.values.items() if k not in keys}
    return Answers(values, set(answers.defaulted), dict(answers.ignored))


def _only(by_device: dict[str, Any], device_ids: list[str]) -> dict[str, Any]:
    """The entries of these devices (a situation's records cover every device computed in it)."""
    return {d: by_device[d] for d in device_ids if d in by_device}


def _with_count(attrs: dict[str, Any], count: Any | None) -> dict[str, Any]:
    """A copy of a device's facts with what its count says of the demand taken from ``count``
    (the same count under a cap, see ``_Shared``)."""
    view = dict(attrs)
    if count is not None:  # none when the workload is not sized
        view["meets_demand"] = count.shortfall is None
        view["demand_shortfall"] = count.shortfall
    return view


class Engine:
    """A loaded rule base ready for consultations (compiled to durable_rules once, lazily)."""

    def __init__(self, rulebase: RuleBase) -> None:
        self.rulebase = rulebase
        self._compiled: CompiledRules | None = None
        self._python_rules: dict[int, list[StagedRule]] | None = None
        self._python_by_id: dict[str, StagedRule] = {}
        self._python_verdict_rules: dict[int, tuple[list[StagedRule], list[StagedRule]]] | None = (
            None
        )
        self._device_memo: DeviceMemo = {}
        self._rule_order = {rule.id: i for i, rule in enumerate(rulebase.rules)}
        self._rules_by_id = {rule.id: rule for rule in rulebase.rules}
        self._arithmetic_memo: dict[
            tuple[Any, ...],
            tuple[Arithmetic, dict[str, dict[str, Any]], dict[str, tuple[str, ...]]],
        ] = {}
        # by the answers the arithmetic reads: the context's arithmetic, each device's facts and
        # each device's first part (with the rules that exclude it on that part alone)
        self._situations: dict[tuple[Any, ...], _Situation] = {}
        self._early_excluding: list[_EarlyRule] | None = None

    @classmethod
    def load(
        cls,
        kb_dir: Path | str | None = None,
        rules_dir: Path | str | None = None,
        cached: bool = True,
    ) -> Engine:
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
            self._compiled = CompiledRules(
                (r.id, r.when, r.stratum, r.scope == "device") for r in self.rulebase.rules
            )
        return self._compiled

    def consult(
        self,
        raw_answers: Mapping[str, Any],
        evaluator: str = "durable",
        fact_overrides: Mapping[str, Any] | None = None,
        words: bool = True,
    ) -> Consultation:
        """Run one consultation. ``fact_overrides`` pins derived facts (for counterfactuals);
        ``words=False`` leaves out what only a reader needs (warnings, notes, reasons)."""
        rb = self.rulebase
        answers = normalize_answers(rb.questions, raw_answers, rb.knowledge)
        # a verdict of the Python evaluator need not price a device it can rule out before
        verdict_only = not words and evaluator == "python" and not fact_overrides
        arithmetic, devices, devices_key, early = self._arithmetic(
            answers, copied=words, verdict_only=verdict_only
        )
        facts: dict[str, Any] = {
            name: fact.default
            for name, fact in rb.facts.items()
            if fact.kind != "computed" and fact.default is not None
        }
        facts.update(arithmetic.facts)
        overrides = dict(fact_overrides or {})
        facts.update(overrides)
        position = {device_id: i for i, device_id in enumerate(devices)}
        derived_by: dict[str, list[str]] = {}
        firings: list[Firing] = []
        final = rb.strata - 1
        session = self.compiled.session() if evaluator == "durable" else None
        try:
            for stage in range(rb.strata):
                batch = list(devices.values()) if stage == final else []
                if session is not None:
                    fired = session.run_stage(
                        stage, answers.values, facts, batch, devices_key if batch else None
                    )
                    fired.sort(
                        key=lambda f: (
                            self._rule_order[f.rule_id],
                            position.get(f.device_id, -1) if f.device_id is not None else -1,
                        )
                    )
                elif stage != final:
                    fired = self._python_stage(stage, answers, facts, {}, None, words)
                elif not early:  # the Python evaluator's firings come in rule and device order
                    fired = self._python_stage(stage, answers, facts, devices, devices_key, words)
                else:
                    priced = {d: attrs for d, attrs in devices.items() if d not in early}
                    fired = self._python_stage(stage, answers, facts, priced, devices_key, words)
                    fired += [Firing(r, stage, d) for d, ids in early.items() for r in ids]
                    fired.sort(
                        key=lambda f: (
                            self._rule_order[f.rule_id],
                            -1 if f.device_id is None else position[f.device_id],
                        )
                    )
                firings.extend(fired)
                if stage != final:
                    self._apply_derivations(fired, facts, derived_by, overrides)
        finally:
            if session is not None:
                session.close()
        return self._conclude(
            answers, arithmetic, facts, derived_by, devices, firings, evaluator, words
        )

    def _arithmetic(
        self, answers: Answers, copied: bool = True, verdict_only: bool = False
    ) -> tuple[Arithmetic, dict[str, dict[str, Any]], tuple[Any, ...], dict[str, tuple[str, ...]]]:
        """Sizing and device facts, memoized on the answers the arithmetic reads (counterfactuals
        and edits in the TUI mostly change answers it does not read), and that memo key: the
        same key always gives the same device attributes. The attributes are copies unless
        ``copied`` is false (the lever search's verdict-only re-consultations only read them).

        A device's facts depend on the answers and the device alone, so they are computed once
        per situation whatever the candidates: the lever search screens a change on a few
        devices, then tries it on all of them. Only the scale facts depend on the candidates.

        ``verdict_only``: a device that an excluding rule rules out on its first part alone
        (``Engine._excluded_early``) keeps only that part, and the last item returned names
        such devices with the rules that exclude them (empty otherwise)."""
        situation = tuple((k, repr(answers.get(k))) for k in ARITHMETIC_ANSWERS)
        candidates = answers.get("candidates")
        key = situation + (repr(candidates), verdict_only)
        memo = self._arithmetic_memo.get(key)
        if memo is None:
            rb = self.rulebase
            known = self._situations.get(situation)
            if known is None:
                base = context_arithmetic(answers, rb.knowledge.directory, rb.demand, rb.systems)
                known = self._situations[situation] = _Situation(base)
                _bounded(self._situations)
            base = known.base
            device_ids = list(rb.knowledge.devices) if candidates is MISSING else list(candidates)
            devices: dict[str, dict[str, Any]] = {}
            early: dict[str, tuple[str, ...]] = {}
            shared = self._shared(answers) if verdict_only else None
            for d in device_ids:
                attrs = known.complete.get(d)
                if attrs is None:
                    if shared is None:  # with words: the whole device, as it is
                        device = rb.knowledge.devices[d]
                        attrs = known.complete[d] = device_attributes(
                            device, answers, base, rb.knowledge.directory
                        )
                    else:
                        attrs, ids = self._verdict_facts(d, answers, known, shared)
                        if ids:
                            early[d] = ids
                devices[d] = attrs
            arithmetic = replace(
                base,
                facts=dict(base.facts),
                counts=_only(base.counts, device_ids),
                mfu_defaults=_only(base.mfu_defaults, device_ids),
                purchases=_only(base.purchases, device_ids),
            )
            scale_facts(arithmetic, devices)
            memo = self._arithmetic_memo[key] = (arithmetic, devices, early)
            _bounded(self._arithmetic_memo)
        arithmetic, devices, early = memo
        if early:
            # The rules' memo takes a key to mean the same devices' facts. Which devices are
            # ruled out early depends on what the situation had priced when the key was worked
            # out, and a key dropped from the memo may come back with more devices priced.
            key = (*key, tuple(early))
        if not copied:
            return arithmetic, dict(devices), key, early
        return arithmetic, {d: dict(attrs) for d, attrs in devices.items()}, key, early

    def _shared(self, answers: Answers) -> _Shared:
        """Where a verdict's device facts are worked out (see ``_Shared``)."""
        cap = answers.get("max_gpus")
        serving_cap = answers.get("workload") == "inference" and cap is not MISSING
        whole = self._situation_of(_without(answers, ("max_gpus",))) if serving_cap else None
        unpriced = ("max_gpus", *UNPRICED) if serving_cap else UNPRICED
        part = self._situation_of(_without(answers, unpriced))
        return _Shared(part, whole, int(cap) if serving_cap else None)

    def _situation_of(self, answers: Answers) -> tuple[_Situation, Answers]:
        situation = tuple((k, repr(answers.get(k))) for k in ARITHMETIC_ANSWERS)
        known = self._situations.get(situation)
        if known is None:
            rb = self.rulebase
            base = context_arithmetic(answers, rb.knowledge.directory, rb.demand, rb.systems)
            known = self._situations[situation] = _Situation(base)
            _bounded(self._situations)
        return known, answers

    def _verdict_facts(
        self, d: str, answers: Answers, known: _Situation, shared: _Shared
    ) -> tuple[dict[str, Any], tuple[str, ...]]:
        """A device's facts for a verdict in a situation not worked out before, and the rules
        that rule it out on its first part alone (its facts are then that part): the first part
        comes from the situation without the answers it does not read, the whole from the
        situation without the cap when serving under one (``_Shared``)."""
        device = self.rulebase.knowledge.devices[d]
        whole_at, whole_answers = shared.whole or (known, answers)
        first = known.first.get(d)
        if first is None:
            whole = whole_at.complete.get(d)
            if whole is not None:  # priced before, under another cap
                return self._recorded(d, known, whole_at, whole, shared.cap), ()
            part_at, part_answers = shared.part
            part = part_at.parts.get(d)
            if part is None:
                part = part_at.parts[d] = counted_attributes(device, part_answers, part_at.base)
            count = part_at.base.counts.get(d)  # none when the workload is not sized
            if count is not None and shared.cap is not None:
                count = capped(count, shared.cap)
            if count is not None:
                known.base.counts[d] = count
            if d in part_at.base.mfu_defaults:
                known.base.mfu_defaults[d] = part_at.base.mfu_defaults[d]
            view = part.with_attrs(
                _with_count(part.attrs, count), recounted=may_recount(answers, part.box)
            )
            first = known.first[d] = (view, self._excluded_early(known, answers, view))
        if first[1]:
            return first[0].attrs, first[1]
        known.first.pop(d)
        whole = whole_at.complete.get(d)
        if whole is None:
            part_at, _ = shared.part
            part = part_at.parts[d]
            if d in part_at.base.counts:  # the count the purchase reads
                whole_at.base.counts[d] = part_at.base.counts[d]
            if d in part_at.base.mfu_defaults:
                whole_at.base.mfu_defaults[d] = part_at.base.mfu_defaults[d]
            whole = whole_at.complete[d] = completed_attributes(
                device,
                whole_answers,
                whole_at.base,
                part.with_attrs(dict(part.attrs), recounted=may_recount(whole_answers, part.box)),
                self.rulebase.knowledge.directory,
            )
        return self._recorded(d, known, whole_at, whole, shared.cap), ()

    def _recorded(
        self,
        d: str,
        known: _Situation,
        whole_at: _Situation,
        whole: dict[str, Any],
        cap: int | None,
    ) -> dict[str, Any]:
        """A device's whole facts recorded in the situation asked for (with its count and
        purchase): under a cap, the cap applied to the facts without it."""
        if whole_at is known:
            return whole
        count = whole_at.base.counts.get(d)
        if count is not None:
            count = known.base.counts[d] = capped(count, cap)
        if d in whole_at.base.purchases:
            known.base.purchases[d] = whole_at.base.purchases[d]
        view = known.complete[d] = _with_count(whole, count)
        return view

    def _excluded_early(
        self, known: _Situation, answers: Answers, counted: Counted
    ) -> tuple[str, ...]:
        """The first excluding rule that rules out a device on its first part alone, when the
        device cannot hold or serve the workload (so that it takes no part in the scale facts
        either): rules of the last stage that read only answers the arithmetic reads, the
        arithmetic's own facts and settled device attributes. They read nothing derived and
        nothing the situation leaves open, so they fire on these values exactly as they would
        on the whole device, in every consultation of the situation. One reason is enough for
        a verdict: the others are not looked for."""
        attrs = counted.attrs
        if not (
            attrs.get("fits") is False
            or (attrs.get("meets_demand") is False and counted.settles(_MEETS_DEMAND))
        ):
            return ()
        if known.early is None:  # the rules whose context part holds in this situation
            read = {k: answers.values[k] for k in ARITHMETIC_ANSWERS if k in answers.values}
            known.context = context_of(read, known.base.facts)
            known.early = [e for e in self._early_rules() if e.context(known.context, {})]
        ctx = known.context
        for early in known.early:
            if counted.settles(early.reads) and early.device(ctx, attrs):
                return (early.rule_id,)
        return ()

    def _early_rules(self) -> list[_EarlyRule]:
        """The excluding rules of the last stage that ``_excluded_early`` may run."""
        if self._early_excluding is None:
            rb = self.rulebase
            computed = {n for n, f in rb.facts.items() if f.kind == "computed"} - set(SCALE_FACTS)
            staged = self._staged_by_id()
            self._early_excluding = []
            for rule in rb.rules:
                if not rule.exclude or rule.scope != "device" or rule.stratum != rb.strata - 1:
                    continue
                read = refs(rule.when)
                if all(
                    (r.scope != "fact" or r.name in computed)
                    and (r.scope != "answer" or r.name in ARITHMETIC_ANSWERS)
                    for r in read
                ):
                    compiled = staged[rule.id]
                    assert compiled.device is not None  # a device rule has a device part
                    self._early_excluding.append(
                        _EarlyRule(
                            rule.id,
                            compiled.context,
                            compiled.device,
                            frozenset(r.name for r in read if r.scope == "device"),
                        )
                    )
        return self._early_excluding

    def _python_stage(
        self,
        stage: int,
        answers: Answers,
        facts: dict[str, Any],
        devices: dict[str, dict[str, Any]],
        devices_key: tuple[Any, ...] | None,
        words: bool = True,
    ) -> list[Firing]:
        """The Python evaluator's firings: each rule compiled once into closures, a device
        rule's context part tested once per stage rather than once per device, and its device
        part remembered by the devices (their memo key) and the context values it reads (the
        lever search re-consults many times, changing one answer at a time). Without ``words``
        only the rules that decide the verdict run (see ``_verdict_rules``), the excluding ones
        first: a device they take out is not scored."""
        if words:
            fired = run_compiled_stage(
                self._staged_rules().get(stage, []),
                answers.values,
                facts,
                devices,
                self._device_memo,
                devices_key,
            )
        else:
            excluding, scoring = self._verdict_rules().get(stage, ([], []))
            fired = run_compiled_stage(
                excluding, answers.values, facts, devices, self._device_memo, devices_key
            )
            out = frozenset(device for _, device in fired if device is not None)
            fired += run_compiled_stage(
                scoring,
                answers.values,
                facts,
                {d: attrs for d, attrs in devices.items() if d not in out} if out else devices,
                self._device_memo,
                None if devices_key is None else (devices_key, out),
            )
        return [Firing(rule_id, stage, device_id) for rule_id, device_id in fired]

    def _staged_rules(self) -> dict[int, list[StagedRule]]:
        """The rules compiled for the Python evaluator, by stage (compiled on first use)."""
        if self._python_rules is None:
            self._python_rules = compile_stages(
                (r.id, r.when, r.stratum, r.scope == "device") for r in self.rulebase.rules
            )
            self._python_by_id = {r.rule_id: r for rs in self._python_rules.values() for r in rs}
        return self._python_rules

    def _verdict_rules(self) -> dict[int, tuple[list[StagedRule], list[StagedRule]]]:
        """By stage, the compiled rules that can change a verdict, those that exclude a device
        apart from the rest (those that derive a fact or score a device). A rule that only warns
        changes no fact, exclusion or rank, so a consultation without words (the lever
        search's) does not run it, and its trace leaves such firings out."""
        if self._python_verdict_rules is None:
            rules = self.rulebase.rules
            excluding = {r.id for r in rules if r.exclude}
            deciding = {r.id for r in rules if r.derive or r.prefer is not None} - excluding
            self._python_verdict_rules = {
                stage: (
                    [r for r in staged if r.rule_id in excluding],
                    [r for r in staged if r.rule_id in deciding],
                )
                for stage, staged in self._staged_rules().items()
            }
        return self._python_verdict_rules

    def _staged_by_id(self) -> dict[str, StagedRule]:
        self._staged_rules()
        return self._python_by_id

    def _holds(
        self, answers: Answers, facts: dict[str, Any], devices: dict[str, dict[str, Any]]
    ) -> Callable[[str, str | None], bool]:
        """Whether a rule's condition holds, by the Python evaluator, for the check that every
        firing durable_rules reports is one the Python evaluation agrees with."""
        staged = self._staged_by_id()
        ctx = context_of(dict(answers.values), facts)
        nothing: dict[str, Any] = {}
        context_holds: dict[str, bool] = {}  # a device rule's context part, once per rule

        def holds(rule_id: str, device: str | None) -> bool:
            rule = staged[rule_id]
            held = context_holds.get(rule_id)
            if held is None:
                held = context_holds[rule_id] = rule.context(ctx, nothing)
            if not held:
                return False
            if rule.device is None:
                return True
            return device is not None and rule.device(ctx, devices.get(device, nothing))

        return holds

    def _apply_derivations(
        self,
        fired: list[Firing],
        facts: dict[str, Any],
        derived_by: dict[str, list[str]],
        overrides: Mapping[str, Any],
    ) -> None:
        rb = self.rulebase
        for firing in fired:
            rule = rb.rule(firing.rule_id)
            for name, value in rule.derive.items():
                if name in overrides:
                    continue
                fact = rb.facts[name]
                previous = facts.get(name) if name in derived_by else None
                if previous is not None and fact.combine == "agree" and previous != value:
                    raise EngineError(
                        f"rules disagree on fact {name}: {derived_by[name][0]} derived "
                        f"{previous!r}, {rule.id} derived {value!r}"
                    )
                facts[name] = combine(fact.combine, previous, value)
                derived_by.setdefault(name, []).append(rule.id)

    def _reconsult(
        self,
        raw_answers: Mapping[str, Any],
        fact_overrides: Mapping[str, Any],
        *,
        words: bool = True,
    ) -> Consultation:
        """A counterfactual consultation (the Python evaluator: no durable_rules session)."""
        return self.consult(
            raw_answers, evaluator="python", fact_overrides=fact_overrides, words=words
        )

    def _conclude(
        self,
        answers: Answers,
        arithmetic: Arithmetic,
        facts: dict[str, Any],
        derived_by: dict[str, list[str]],
        devices: dict[str, dict[str, Any]],
        firings: list[Firing],
        evaluator: str,
        words: bool = True,
    ) -> Consultation:
        rb = self.rulebase
        consultation = Consultation(
            rulebase=rb,
            reconsult=self._reconsult,
            answers=answers,
            facts=facts,
            derived_by=derived_by,
            devices=devices,
            arithmetic=arithmetic,
            evaluator=evaluator,
        )
        points: dict[str, list[tuple[Rule, float]]] = {d: [] for d in devices}
        rule_of = self._rules_by_id
        holds = self._holds(answers, facts, devices) if evaluator == "durable" else None
        nothing: dict[str, Any] = {}

        for firing in firings:
            rule = rule_of[firing.rule_id]
            device = firing.device_id
            if holds is not None and not holds(rule.id, device):
                raise EngineError(
                    f"engine disagreement: {rule.id} fired for {device or 'context'} "
                    "but its condition is false in Python"
                )
            consultation.firings.append((rule.id, firing.stage, device))
            consultation.fired.add((rule.id, device))
            if rule.warn and words:
                consultation.warnings.append(
                    RuleWarning(
                        rule=rule.id,
                        message=partial(
                            worded_in, rule.warn, answers, facts, devices.get(device or "", nothing)
                        ),
                        severity=rule.severity,
                        sources=list(rule.sources),
                        device=device,
                    )
                )
            if device is None:
                continue
            if rule.exclude:
                consultation.all_exclusions.setdefault(device, []).append(
                    Exclusion(
                        device=device,
                        rule=rule.id,
                        because=partial(
                            worded_in, rule.because, answers, facts, devices.get(device, nothing)
                        ),
                        sources=list(rule.sources),
                    )
                )
            if rule.prefer:
                points[device].append((rule, rule.prefer.points))
        consultation.excluded = [ex[0] for ex in consultation.all_exclusions.values()]
        # A warning about a device that is not bought is noise (the trace keeps every firing).
        consultation.warnings = [
            w
            for w in consultation.warnings
            if w.device is None or w.device not in consultation.all_exclusions
        ]
        remaining = [d for d in devices if d not in consultation.all_exclusions]
        consultation.recommendations, consultation.notes = rank(
            consultation, remaining, points, words=words
        )
        if arithmetic.estimate is not None and words:
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


def python_stage(
    rules: list[Rule],
    stage: int,
    answers: Mapping[str, Any],
    facts: Mapping[str, Any],
    devices: Mapping[str, Mapping[str, Any]],
    holds: Callable[[Any, Any], bool] = evaluate,
) -> list[Firing]:
    """The rules of one stage that fire, by the reference evaluation of their conditions
    (``conditions.evaluate`` on the same parsed conditions durable_rules runs). The audit's
    agreement check compares durable_rules with it, passing its own ``holds`` so that its tests
    can skew it; the engine's Python evaluator runs the compiled closures of
    ``backends.python`` instead."""
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
        message = f"{claim.source}: {claim.claim} — {verdict.verdict}: {verdict.explanation}"
        notes.append(Note(kind="seed-claim", message=message, rule=None, sources=[claim.source]))
    return notes


# The result types live in core.results; they are named here too for callers that predate the move.
__all__ = [
    "Consultation",
    "Engine",
    "Exclusion",
    "Note",
    "Reason",
    "Recommendation",
    "RuleWarning",
    "TraceEntry",
    "combine",
    "python_stage",
]
