"""Logic checks over the whole answer space: conflicts, redundancy, unreachable rules, dead facts
and questions, gaps, holes in explanations, and preferences the knowledge base contradicts.

Why one module of this length: every check walks the same enumeration state (situations,
device masks, firings) built once per audit; split, each part would rebuild or pass it around.

The enumeration is in audit_enum; what each finding means is in docs/audit.md. Every finding
about behaviour carries a counterexample: answers (non-default ones) that reproduce it with
``gpu-advisor recommend``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gpu_advisor.audit.enumeration import (
    ComponentRun,
    Conflict,
    Progress,
    Stat,
    add_tally,
)
from gpu_advisor.audit.facts import DeviceFacts
from gpu_advisor.audit.findings import Finding, SpaceStats
from gpu_advisor.audit.limits import bounded_plan
from gpu_advisor.audit.space import (
    ARITHMETIC_ANSWERS,
    RANKING_ANSWERS,
    Component,
    Domain,
    RuleFacts,
    analyze_rules,
    asked,
    assignments,
    budget_variants,
    build_components,
    build_domains,
    compared_with_computed,
    computed_attribute,
    epsilon,
    literal_compared,
    raw_answers,
    situation_plan,
    template_refs,
)
from gpu_advisor.backends.python import Predicate, compile_condition, context_of
from gpu_advisor.errors import AdvisorError
from gpu_advisor.knowledge.rulebase import Rule, RuleBase
from gpu_advisor.knowledge.vocabulary import DEVICE_ATTRIBUTES
from gpu_advisor.lang.conditions import MISSING, All, Ref, refs, show

GAP_WARNING_SHARE = 0.25
"""Share of answer combinations with no recommendation above which the gap is a warning."""


def _no_progress(phase: str, done: int, total: int | None) -> None:
    return None


@dataclass
class ClaimCheck:
    """A claim-bearing preference against the numbers, for one device it fires for."""

    rule: str
    device: str
    metric: str
    best: str
    value: Any = None
    best_devices: tuple[str, ...] = ()
    best_value: Any = None
    answers: dict[str, Any] = field(default_factory=dict)
    contradicted: int = 0
    held: int = 0


@dataclass
class LogicResult:
    findings: list[Finding]
    stats: SpaceStats
    runs: list[ComponentRun]
    domains: dict[str, Domain]
    components: list[Component]
    claim_checks: dict[tuple[str, str], ClaimCheck] = field(default_factory=dict)


class LogicAudit:
    """Runs the whole-space enumeration and turns what it saw into findings."""

    def __init__(
        self, rb: RuleBase, progress: Progress | None = None, budget_values: int = 8
    ) -> None:
        self.rb = rb
        self.progress = progress or _no_progress
        self.budget_values = budget_values
        self.analysis: dict[str, RuleFacts] = analyze_rules(rb)
        self.components = build_components(rb, self.analysis)
        self.devices = list(rb.knowledge.devices)
        self.all_devices = (1 << len(self.devices)) - 1
        self.facts_engine = DeviceFacts(rb)
        self.base_values = {k: q.default for k, q in rb.questions.items() if q.default is not None}
        self.base_computed, self.base_attrs = self.facts_engine.compute(
            self.asked_only(self.base_values)
        )
        self.domains = build_domains(
            rb, self.components, dict(zip(self.devices, self.base_attrs)), self._flips()
        )
        self.engine_errors: list[tuple[dict[str, Any], str]] = []
        self.claims: dict[tuple[str, str], ClaimCheck] = {}
        self.claim_rules = [
            r for r in rb.rules if r.prefer is not None and r.prefer.claim is not None
        ]
        self.rule_run: dict[str, ComponentRun] = {}
        self.external_refs: set[Ref] = set()
        self.unset_at: dict[tuple[Ref, int], dict[str, Any]] = {}
        self.budget_seen: dict[str, set[tuple[Any, ...]]] = {}
        self._compared: dict[str, list[Any]] = {}
        self._seen: set[tuple[str, ...]] = set()
        self.runs: list[ComponentRun] = []
        self._predicates: dict[str, Predicate] = {}

    def asked_only(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The answers that are asked given each other (defaults of unasked questions dropped)."""
        out: dict[str, Any] = {}
        for key, q in self.rb.questions.items():
            if key in values and asked(q, out):
                out[key] = values[key]
        return out

    def raw(self, values: Mapping[str, Any] | None) -> dict[str, Any]:
        return raw_answers(values or {}, self.rb)

    # -- flip points ----------------------------------------------------------------------------

    def _flips(self) -> dict[str, list[float]]:
        """For numbers the arithmetic reads and the rules compare: the values at which a computed
        yes/no device fact (``fits``) changes for some device, the other answers at defaults."""
        flags = [
            n for n, a in DEVICE_ATTRIBUTES.items() if a.origin == "computed" and a.type == "bool"
        ]
        arith = next((c for c in self.components if c.arithmetic), None)
        found: dict[str, list[float]] = {}
        if arith is None or not flags:
            return found
        for key in arith.situation_questions:
            q = self.rb.questions[key]
            if q.type not in ("number", "integer") or q.min is None or q.max is None:
                continue
            if not literal_compared(self.rb, key):
                continue
            points = [
                p
                for i in range(len(self.devices))
                for flag in flags
                if (p := self._flip_point(key, q, i, flag)) is not None
            ]
            found[key] = points
        return found

    def _flip_point(self, key: str, q: Any, index: int, flag: str) -> float | None:
        low, high = float(q.min), float(q.max)

        def state(value: float) -> Any:
            values = self.asked_only(
                {**self.base_values, key: int(round(value)) if q.type == "integer" else value}
            )
            if key not in values:
                return None
            try:
                _, attrs = self.facts_engine.compute(values)
            except (AdvisorError, ValueError, ArithmeticError):
                return None
            return attrs[index].get(flag)

        at_low, at_high = state(low), state(high)
        if at_low is None or at_high is None or at_low == at_high:
            return None
        for _ in range(60):
            mid = (low + high) / 2
            if state(mid) == at_low:
                low = mid
            else:
                high = mid
            if high - low <= max(1e-6, abs(low) * 1e-5):
                break
        if q.type == "integer":
            return float(int(low))
        scale = 10 ** (3 - math.floor(math.log10(abs(low)))) if low > 0 else 1
        return math.floor(low * scale) / scale  # four significant digits, on the low side

    # -- enumeration ----------------------------------------------------------------------------

    def run(self) -> LogicResult:
        started = time.perf_counter()
        runs = [
            ComponentRun(self.rb, comp, self.analysis, self.domains) for comp in self.components
        ]
        for run in runs:
            for rule in run.comp.rules:
                self.rule_run[rule.id] = run
            self.external_refs.update(p.ref for p in run.probes if p.kind == "external")
        for run in sorted(runs, key=lambda r: r.comp.arithmetic):  # the arithmetic's component last
            if run.comp.arithmetic:
                self._enumerate_arithmetic(run)
            else:
                run.add_situation({}, self.base_computed, self.base_attrs)
            run.finish()
        self.runs = runs
        stats = self._stats(runs, time.perf_counter() - started)
        findings = self._findings(runs)
        return LogicResult(findings, stats, runs, self.domains, self.components, self.claims)

    def _enumerate_arithmetic(self, run: ComponentRun) -> None:
        comp = run.comp
        budget_keys = [k for k in comp.situation_questions if self.domains[k].role == "budget"]
        plan = bounded_plan(
            situation_plan(self.rb, comp, self.domains), self.rb, comp, self.domains
        )
        total = len(plan)
        self.progress("situations", 0, total)
        for done, (how, values) in enumerate(plan, start=1):
            attrs = self._situation(run, values)
            if attrs is not None and how == "product":
                for key in budget_keys:
                    self._budget(run, values, key, attrs)
            if done % 500 == 0 or done == total:
                self.progress("situations", done, total)

    def _situation(self, run: ComponentRun, values: dict[str, Any]) -> list[dict[str, Any]] | None:
        key = tuple(repr(values.get(k, MISSING)) for k in run.comp.situation_questions)
        if key in self._seen:
            return None  # met already (a sweep or budget value equal to a default): count it once
        self._seen.add(key)
        try:
            computed, attrs = self.facts_engine.compute(values)
        except (
            AdvisorError,
            ValueError,
            ArithmeticError,
            TypeError,
            KeyError,
            ZeroDivisionError,
        ) as exc:
            if len(self.engine_errors) < 20:
                self.engine_errors.append((dict(values), f"{type(exc).__name__}: {exc}"))
            return None
        sc, masks = run.add_situation(values, computed, attrs)
        self._track_unset(values, computed, attrs)
        self._observe_claims(run, sc, values, attrs, masks)
        return attrs

    def _track_unset(
        self, values: dict[str, Any], computed: Mapping[str, Any], attrs: list[dict[str, Any]]
    ) -> None:
        """Where the arithmetic leaves unset a figure that an explanation outside its component
        quotes: per device, the first situation."""
        for ref in self.external_refs:
            if ref.scope == "fact":
                if computed.get(ref.name) is None and (ref, -1) not in self.unset_at:
                    self.unset_at[(ref, -1)] = dict(values)
                continue
            for i, dev in enumerate(attrs):
                if dev.get(ref.name) is None and (ref, i) not in self.unset_at:
                    self.unset_at[(ref, i)] = dict(values)

    def _budget(
        self, run: ComponentRun, values: dict[str, Any], key: str, attrs: list[dict[str, Any]]
    ) -> None:
        """A number compared only with computed device figures (the budget with the cost): at and
        just below each device's figure, once per distinct set of figures."""
        q = self.rb.questions[key]
        points: set[float] = set()
        figures: list[Any] = []
        compared = self._compared.get(key)
        if compared is None:
            compared = self._compared[key] = compared_with_computed(self.rb, key)
        for leaf in compared:
            other = leaf.right if leaf.left == Ref("answer", key) else leaf.left
            assert isinstance(other, Ref)
            for dev in attrs:
                value = dev.get(other.name)
                figures.append(value)
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    points.update(
                        {float(value), float(value) - epsilon(float(value), q.type == "integer")}
                    )
        seen = self.budget_seen.setdefault(key, set())
        signature = tuple(figures)
        if signature in seen:
            return
        seen.add(signature)
        for value in self.domains[key].values:
            if value is not MISSING:
                points.add(float(value))
        chosen = sorted(
            p for p in points if (q.min is None or p >= q.min) and (q.max is None or p <= q.max)
        )
        if len(chosen) > self.budget_values:  # the extremes and an even spread between them
            step = (len(chosen) - 1) / (self.budget_values - 1)
            chosen = sorted({chosen[round(i * step)] for i in range(self.budget_values)})
        typed = [int(p) if float(p).is_integer() else round(p, 2) for p in chosen]
        for variant in budget_variants(self.rb, run.comp, self.domains, values, key, typed):
            self._situation(run, variant)

    def _observe_claims(
        self,
        run: ComponentRun,
        sc: int,
        values: dict[str, Any],
        attrs: list[dict[str, Any]],
        masks: list[int],
    ) -> None:
        """Claims: does each device a claim-bearing preference fires for lead on its metric?"""
        for rule in self.claim_rules:
            own = self.rule_run.get(rule.id)
            if own is run:
                bit = run.bits[rule.id]
                if not run.kany[sc] >> bit & 1:
                    continue
                mask = masks[run.dev_index[rule.id]]
                context = run.kbit_combo[sc].get(bit, {})
            elif own is not None and own.stats[rule.id].mask:
                stat = own.stats[rule.id]
                mask, context = stat.mask, stat.answers or {}
            else:
                continue
            if mask:
                self._check_claim(rule, mask, attrs, {**values, **context})

    def _check_claim(
        self, rule: Rule, mask: int, attrs: list[dict[str, Any]], answers: dict[str, Any]
    ) -> None:
        assert rule.prefer is not None and rule.prefer.claim is not None
        metric, best = rule.prefer.claim.metric, rule.prefer.claim.best
        values = [_metric(dev.get(metric)) for dev in attrs]
        known = [v for v in values if v is not None]
        if not known:
            return
        target = max(known) if best == "highest" else min(known)
        leaders = tuple(self.devices[i] for i, v in enumerate(values) if v == target)
        for i, device in enumerate(self.devices):
            if not mask >> i & 1:
                continue
            check = self.claims.setdefault(
                (rule.id, device), ClaimCheck(rule.id, device, metric, best)
            )
            if values[i] == target:
                check.held += 1
                continue
            check.contradicted += 1
            if not check.answers:
                check.value, check.best_devices, check.best_value = values[i], leaders, target
                check.answers = dict(answers)

    # -- statistics -----------------------------------------------------------------------------

    def _stats(self, runs: list[ComponentRun], seconds: float) -> SpaceStats:
        stats = SpaceStats()
        total = 1
        for run in runs:
            comp_total = run.total()
            total *= max(comp_total, 1)
            stats.components.append(
                {
                    "questions": run.comp.questions,
                    "rules": [r.id for r in run.comp.rules],
                    "arithmetic": run.comp.arithmetic,
                    "combinations": comp_total,
                    "situations": run.situations,
                    "context_classes": len(run.ksets),
                    "context_combinations": run.context_evaluations,
                    "joint_signatures": len(run.sigs),
                }
            )
            stats.situations += run.situations
            stats.context_classes += len(run.ksets)
            stats.context_evaluations += run.context_evaluations
            stats.signatures += len(run.sigs)
        stats.combinations = total
        stats.python_evaluations = stats.context_evaluations + stats.situations * len(self.devices)
        stats.domains = {k: [_shown(v) for v in d.values] for k, d in self.domains.items()}
        roles: dict[str, list[str]] = {}
        for key, dom in self.domains.items():
            roles.setdefault(dom.role, []).append(key)
        stats.notes.append(
            "question roles: "
            + "; ".join(f"{role}: {', '.join(keys)}" for role, keys in sorted(roles.items()))
        )
        if self.facts_engine.mismatch:
            stats.notes.append(self.facts_engine.mismatch)
        stats.notes.append(f"logic enumeration took {seconds:.1f} s")
        return stats

    # -- findings -------------------------------------------------------------------------------

    def _findings(self, runs: list[ComponentRun]) -> list[Finding]:
        out: list[Finding] = []
        out += self._engine_error_findings()
        out += self._conflict_findings(runs)
        out += self._reachability_findings(runs)
        out += self._redundancy_findings(runs)
        out += self._cancel_findings(runs)
        out += self._dead_findings()
        out += self._unexplained_findings(runs)
        out += self._gap_findings(runs)
        out += self._claim_findings()
        return out

    def _engine_error_findings(self) -> list[Finding]:
        return [
            Finding(
                "logic",
                "engine-error",
                "error",
                f"the engine cannot process answers the questionnaire accepts: {message}",
                counterexample=self.raw(values),
            )
            for values, message in self.engine_errors[:5]
        ]

    def _conflict_findings(self, runs: list[ComponentRun]) -> list[Finding]:
        out = []
        for run in runs:
            for conflict in run.conflicts.values():
                first, second = (self.rb.rule(r) for r in conflict.rules)
                v1, v2 = (_shown(v) for v in conflict.values)
                if conflict.kind == "fact-conflict":
                    tail = "the fact takes one value, so the consultation stops with an error"
                else:
                    tail = (
                        f"{conflict.fact} combines with 'or', so the false derivation is overridden"
                    )
                message = (
                    f"{first.id} derives {conflict.fact} = {v1} and {second.id} derives "
                    f"{conflict.fact} = "
                    f"{v2} for the same answers; {tail}"
                )
                out.append(
                    Finding(
                        "logic",
                        conflict.kind,
                        "error",
                        message,
                        second.location,
                        conflict.rules,
                        counterexample=self.raw(self._complete(run, conflict)),
                        details={
                            "fact": conflict.fact,
                            "values": list(conflict.values),
                            "first_location": str(first.location),
                        },
                    )
                )
        return out

    def _complete(self, run: ComponentRun, conflict: Conflict) -> dict[str, Any]:
        """A conflict's context answers with a situation of a class where they occur."""
        for sc, kset in enumerate(run.ksets):
            for _, (_, combo, _) in kset.items():
                if combo == {k: v for k, v in conflict.answers.items() if k in combo}:
                    return {**run.sc_situation[sc], **conflict.answers}
        return dict(conflict.answers)

    def _reachability_findings(self, runs: list[ComponentRun]) -> list[Finding]:
        out = []
        for run in runs:
            for rule in run.comp.rules:
                if run.stats[rule.id].mask:
                    continue
                parts = self._part_witnesses(run, rule)
                never = [p["part"] for p in parts if p["holds_for"] is None]
                why = (
                    ("never holds: " + "; ".join(never))
                    if never
                    else "each part holds for some answers, but never all at once"
                )
                details = {"condition": rule.condition_text(), "parts": parts}
                if not self._reads_computed(rule, set()):
                    out.append(
                        Finding(
                            "logic",
                            "unreachable",
                            "error",
                            f"{rule.id} can never fire: no answers satisfy its condition ({why})",
                            rule.location,
                            (rule.id,),
                            details=details,
                        )
                    )
                else:
                    out.append(
                        Finding(
                            "logic",
                            "not-reached",
                            "warning",
                            f"{rule.id} fired for no answer combination the audit tried "
                            f"({why}); it "
                            "reads computed device facts, so a rarer combination may still "
                            "reach it",
                            rule.location,
                            (rule.id,),
                            details=details,
                        )
                    )
        return out

    def _reads_computed(self, rule: Rule, seen: set[str]) -> bool:
        """Whether a rule's condition depends, directly or through derived facts, on computed
        figures (which the audit samples rather than enumerates by class)."""
        if rule.id in seen:
            return False
        seen.add(rule.id)
        for ref in refs(rule.when):
            if ref.scope == "device" and computed_attribute(ref.name):
                return True
            if ref.scope == "fact":
                fact = self.rb.facts.get(ref.name)
                if fact is not None and fact.kind == "computed":
                    return True
                if any(self._reads_computed(d, seen) for d in self.rb.derivers(ref.name)):
                    return True
        return False

    def _part_witnesses(self, run: ComponentRun, rule: Rule) -> list[dict[str, Any]]:
        """Each top-level part of a condition that never holds, with answers where it holds."""
        parts = list(rule.when.items) if isinstance(rule.when, All) else [rule.when]
        samples = self._samples(run)
        result = []
        for part in parts:
            pred = compile_condition(part)
            device = any(r.scope == "device" for r in refs(part))
            witness = None
            for answers, ctx, attrs in samples:
                if any(pred(ctx, dev) for dev in (attrs if device else [{}])):
                    witness = self.raw(answers)
                    break
            result.append({"part": show(part), "holds_for": witness})
        return result

    def _samples(
        self, run: ComponentRun
    ) -> list[tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]]:
        """(answers, context with derived facts, device facts) for a spread of combinations."""
        cached = getattr(run, "_samples_cache", None)
        if cached is not None:
            return cached
        seen: list[dict[str, Any]] = []
        for _, _, situation, combo in run.context_combinations():
            seen.append({**situation, **combo})
        for info in run.sigs.values():
            seen.append(info.answers)
        step = max(1, len(seen) // 600)
        samples = [self.evaluate(answers) for answers in seen[::step]]
        run._samples_cache = samples  # type: ignore[attr-defined]
        return samples

    def _compiled(self, rule: Rule) -> Predicate:
        """A rule's condition compiled once (``evaluate`` runs for hundreds of samples)."""
        found = self._predicates.get(rule.id)
        if found is None:
            found = self._predicates[rule.id] = compile_condition(rule.when)
        return found

    def evaluate(
        self, answers: Mapping[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
        """Full answers (defaults filled), their context with the derived facts, device facts."""
        from gpu_advisor.core.answers import normalize_answers

        normalized = normalize_answers(self.rb.questions, self.raw(answers), self.rb.knowledge)
        values = dict(normalized.values)
        computed, attrs = self.facts_engine.compute(values)
        facts = {
            name: fact.default
            for name, fact in self.rb.facts.items()
            if fact.kind != "computed" and fact.default is not None
        }
        facts.update(computed)
        derived: set[str] = set()
        for stage in range(max(self.rb.strata - 1, 0)):
            ctx = context_of(values, facts)
            for rule in self.rb.rules:
                if (
                    rule.stratum != stage
                    or rule.scope != "context"
                    or not self._compiled(rule)(ctx, {})
                ):
                    continue
                for name, value in rule.derive.items():
                    combine = self.rb.facts[name].combine
                    if name not in derived or facts.get(name) is None:
                        facts[name] = value
                    elif combine == "or":
                        facts[name] = bool(facts[name]) or bool(value)
                    elif combine == "max":
                        facts[name] = max(facts[name], value)
                    elif combine == "min":
                        facts[name] = min(facts[name], value)
                    derived.add(name)
        return values, context_of(values, facts), attrs

    # -- redundancy -----------------------------------------------------------------------------

    def _exclusions(self, run: ComponentRun) -> list[int]:
        return [i for i, r in enumerate(run.joint_rules) if r.exclude]

    def _elsewhere(self, runs: list[ComponentRun]) -> dict[int, int]:
        """Per component: devices the other components exclude in every one of their
        combinations."""
        always: dict[int, int] = {}
        for run in runs:
            excl = self._exclusions(run)
            mask = self.all_devices if run.sigs else 0
            for sig in run.sigs:
                mask &= _or(sig[i] for i in excl)
            always[run.comp.index] = mask
        return {
            run.comp.index: _or(always[r.comp.index] for r in runs if r is not run) for run in runs
        }

    def _redundancy_findings(self, runs: list[ComponentRun]) -> list[Finding]:
        out: list[Finding] = []
        elsewhere = self._elsewhere(runs)
        reported: set[frozenset[str]] = set()
        for run in runs:
            excl = self._exclusions(run)
            other = elsewhere[run.comp.index]
            for i in excl:
                rule = run.joint_rules[i]
                if not run.stats[rule.id].mask:
                    continue
                covering = self._covering(run, i, excl, other)
                if covering is not None:
                    out.extend(self._subsumed(run, i, covering, reported))
            for i, rule in enumerate(run.joint_rules):
                if rule.prefer is None or not run.stats[rule.id].mask:
                    continue
                if all(not (sig[i] & ~(_or(sig[j] for j in excl) | other)) for sig in run.sigs):
                    out.append(
                        Finding(
                            "logic",
                            "preference-on-excluded",
                            "warning",
                            f"{rule.id} only ever scores devices that another rule excludes "
                            "for the same "
                            "answers, so it never changes a ranking",
                            rule.location,
                            (rule.id,),
                            counterexample=self.raw(run.stats[rule.id].answers),
                        )
                    )
            out.extend(self._derivation_redundancy(run))
        return out

    def _covering(
        self, run: ComponentRun, i: int, excl: list[int], elsewhere: int
    ) -> list[str] | None:
        """The exclusion rules that always exclude what rule ``i`` excludes, for the same answers:
        one rule if a single one does, else all that share its exclusions (together); None when
        rule ``i`` is sometimes the only reason a device is out."""
        others = [j for j in excl if j != i]
        single = list(others)
        sharing: set[int] = set()
        for sig in run.sigs:
            mine = sig[i]
            if not mine:
                continue
            union = elsewhere
            for j in others:
                union |= sig[j]
                if mine & sig[j]:
                    sharing.add(j)
            if mine & ~union:
                return None
            single = [j for j in single if not mine & ~sig[j]]
        if single:
            return [run.joint_rules[single[0]].id]
        names = [run.joint_rules[j].id for j in others if j in sharing]
        if elsewhere:
            names.append("rules about other questions")
        return names

    def _subsumed(
        self, run: ComponentRun, i: int, covering: list[str], reported: set[frozenset[str]]
    ) -> list[Finding]:
        rule = run.joint_rules[i]
        example = self.raw(run.stats[rule.id].answers)
        if len(covering) == 1 and covering[0] in run.stats:
            j = run.joint_index(covering[0])
            if all(not sig[j] & ~sig[i] for sig in run.sigs):
                pair = frozenset({rule.id, covering[0]})
                if pair in reported:
                    return []
                reported.add(pair)
                other = self.rb.rule(covering[0])
                return [
                    Finding(
                        "logic",
                        "equivalent",
                        "warning",
                        f"{rule.id} and {other.id} exclude the same devices for exactly the same "
                        "answers; "
                        "one of them is enough",
                        rule.location,
                        (rule.id, other.id),
                        counterexample=example,
                        details={"other_location": str(other.location)},
                    )
                ]
        who = covering[0] if len(covering) == 1 else "at least one of " + ", ".join(covering)
        return [
            Finding(
                "logic",
                "subsumed",
                "warning",
                f"{rule.id} never changes an outcome: whenever it excludes a device, {who} "
                "excludes it too, for the same answers",
                rule.location,
                (rule.id, *[c for c in covering if c in run.stats]),
                counterexample=example,
                details={"covered_by": covering},
            )
        ]

    def _derivation_redundancy(self, run: ComponentRun) -> list[Finding]:
        """A rule whose every derivation another firing rule makes as well (or that only derives
        false for an 'or' fact that is false by default) never changes a fact."""
        out = []
        rb = self.rb
        derivers = [r for r in run.context_rules if r.derive]
        combos = run.context_combinations()
        for rule in derivers:
            stat = run.stats[rule.id]
            if not stat.mask:
                continue
            if all(
                rb.facts[n].combine == "or" and v is False and rb.facts[n].default is False
                for n, v in rule.derive.items()
            ):
                out.append(
                    Finding(
                        "logic",
                        "subsumed",
                        "warning",
                        f"{rule.id} only derives false for facts that combine with 'or' and are "
                        "false "
                        "by default: it never changes a fact",
                        rule.location,
                        (rule.id,),
                        counterexample=self.raw(stat.answers),
                    )
                )
                continue
            bit = run.bits[rule.id]
            helpers: set[str] = set()
            redundant = True
            for bits, _, _, _ in combos:
                if not bits >> bit & 1:
                    continue
                for name, value in rule.derive.items():
                    combine = rb.facts[name].combine
                    cover = [
                        o.id
                        for o in derivers
                        if o.id != rule.id
                        and name in o.derive
                        and bits >> run.bits[o.id] & 1
                        and _dominates(combine, o.derive[name], value)
                    ]
                    if not cover:
                        redundant = False
                        break
                    helpers.add(cover[0])
                if not redundant:
                    break
            if redundant:
                names = ", ".join(sorted(helpers))
                verb = "derives" if len(helpers) == 1 else "derive"
                out.append(
                    Finding(
                        "logic",
                        "subsumed",
                        "warning",
                        f"{rule.id} never changes a fact: whenever it fires, {names} {verb} the "
                        "same "
                        "for the same answers",
                        rule.location,
                        (rule.id, *sorted(helpers)),
                        counterexample=self.raw(stat.answers),
                        details={"covered_by": sorted(helpers)},
                    )
                )
        return out

    def _cancel_findings(self, runs: list[ComponentRun]) -> list[Finding]:
        out = []
        prefs = [
            r
            for r in self.rb.rules
            if r.prefer is not None and self.rule_run[r.id].stats[r.id].mask
        ]
        for n, a in enumerate(prefs):
            for b in prefs[n + 1 :]:
                assert a.prefer is not None and b.prefer is not None
                if a.prefer.points == 0 or abs(a.prefer.points + b.prefer.points) > 1e-9:
                    continue
                ra, rb_ = self.rule_run[a.id], self.rule_run[b.id]
                if ra is rb_:
                    i, j = ra.joint_index(a.id), ra.joint_index(b.id)
                    same = all(sig[i] == sig[j] for sig in ra.sigs)
                else:
                    ca, cb = self._constant(ra, a.id), self._constant(rb_, b.id)
                    same = ca is not None and ca == cb
                if same:
                    out.append(
                        Finding(
                            "logic",
                            "cancelling-preferences",
                            "warning",
                            f"{a.id} ({a.prefer.points:+g}) and {b.id} ({b.prefer.points:+g}) fire "
                            "for the "
                            "same devices for every answer, so their points always cancel",
                            b.location,
                            (a.id, b.id),
                            counterexample=self.raw(ra.stats[a.id].answers),
                        )
                    )
        return out

    def _constant(self, run: ComponentRun, rule_id: str) -> int | None:
        i = run.joint_index(rule_id)
        values = {sig[i] for sig in run.sigs}
        return values.pop() if len(values) == 1 else None

    # -- dead facts and questions ---------------------------------------------------------------

    def _fact_location(self, name: str) -> Any:
        """Where a fact's name stands in facts.yaml (the loader keeps its value's position)."""
        from gpu_advisor.errors import FileErrors
        from gpu_advisor.knowledge.yamlio import load_yaml

        fact = self.rb.facts[name]
        try:
            return load_yaml(fact.location.path).key_location(("facts", name))
        except (FileErrors, OSError):
            return fact.location

    def _dead_findings(self) -> list[Finding]:
        rb = self.rb
        out = []
        read: set[str] = set(rb.emphasis)
        for rule in rb.rules:
            read.update(r.name for r in rule.reads() if r.scope == "fact")
        derived = {name for rule in rb.rules for name in rule.derive}
        for name, fact in rb.facts.items():
            if fact.kind == "computed":
                continue
            derivers = [r.id for r in rb.derivers(name)]
            if name in derived and name not in read:
                stat = self.rule_run[derivers[0]].stats[derivers[0]]
                out.append(
                    Finding(
                        "logic",
                        "dead-fact",
                        "warning",
                        f"fact {name} is derived (by {', '.join(derivers)}) but no rule, "
                        "explanation or "
                        "ranking emphasis reads it",
                        self._fact_location(name),
                        tuple(derivers),
                        counterexample=self.raw(stat.answers) if stat.mask else None,
                        details={"fact": name},
                    )
                )
            elif name in read and name not in derived:
                readers = tuple(r.id for r in rb.rules if Ref("fact", name) in r.reads())
                out.append(
                    Finding(
                        "logic",
                        "underived-fact",
                        "warning",
                        f"fact {name} is read by {', '.join(readers)} but no rule derives it, "
                        "so it is "
                        f"always {_shown(fact.default)}",
                        self._fact_location(name),
                        readers,
                        details={"fact": name},
                    )
                )
            elif name not in read and name not in derived:
                out.append(
                    Finding(
                        "logic",
                        "unused-fact",
                        "info",
                        f"fact {name} is declared but no rule derives or reads it",
                        self._fact_location(name),
                        details={"fact": name},
                    )
                )
        used: set[str] = set(ARITHMETIC_ANSWERS) | set(RANKING_ANSWERS)
        for rule in rb.rules:
            used.update(r.name for r in rule.reads() if r.scope == "answer")
        for q in rb.questions.values():
            used.update(r.name for r in refs(q.ask_when) if r.scope == "answer")
        for key, q in rb.questions.items():
            if key in used or q.type in ("devices", "model"):
                continue
            pair = self._two_values(q)
            base = self._asked_example(key)
            same = (
                [self.raw({**base, key: v}) for v in pair]
                if len(pair) == 2 and base is not None
                else None
            )
            out.append(
                Finding(
                    "logic",
                    "dead-question",
                    "warning",
                    f"question {key} is asked but no rule, ask_when, arithmetic or ranking reads "
                    "its "
                    "answer: every answer gives the same outcome",
                    q.location,
                    counterexample=same[0] if same else None,
                    details={"question": key, "same_outcome": same},
                )
            )
        return out

    def _two_values(self, q: Any) -> list[Any]:
        if q.type == "choice":
            return list(q.choices)[:2]
        if q.type == "boolean":
            return [False, True]
        values = [v for v in (q.min, q.max) if v is not None]
        return [int(v) if float(v).is_integer() else v for v in values][:2]

    def _asked_example(self, key: str) -> dict[str, Any] | None:
        """The questionnaire's defaults, adjusted so that ``key`` is asked."""
        q = self.rb.questions[key]
        base = self.asked_only(self.base_values)
        if asked(q, base):
            return base
        deps = [r.name for r in refs(q.ask_when) if r.scope == "answer"]
        for combo in assignments(self.rb, deps, self.domains):
            trial = self.asked_only(
                {**self.base_values, **{k: v for k, v in combo.items() if v is not MISSING}}
            )
            if asked(q, trial):
                return trial
        return None

    # -- explanations and gaps --------------------------------------------------------------------

    def _unexplained_findings(self, runs: list[ComponentRun]) -> list[Finding]:
        out = []
        for run in runs:
            for probe in run.probes:
                stat = probe.stat
                mask = stat.mask
                answers = stat.answers
                count = stat.count
                if probe.kind == "external" and mask:
                    mask, answers = self._external(probe.ref, mask, answers)
                    count = 0
                if not mask or answers is None:
                    continue
                rule = probe.rule
                devices = (
                    tuple(d for i, d in enumerate(self.devices) if mask >> i & 1)
                    if rule.scope == "device"
                    else ()
                )
                where = (
                    "because"
                    if str(probe.ref) in {str(r) for r in template_refs(rule.because)}
                    else "warn"
                )
                counted = f" ({count:,} combinations)" if count else ""
                out.append(
                    Finding(
                        "logic",
                        "unexplained",
                        "error" if rule.exclude else "warning",
                        f"{rule.id} {'excludes' if rule.exclude else 'concludes'} for answers "
                        "where "
                        f"{{{probe.ref}}} in its {where} text has no value: the explanation would "
                        "read "
                        f"'not set'{counted}",
                        rule.location,
                        (rule.id,),
                        devices,
                        self.raw(answers),
                        details={"placeholder": str(probe.ref), "combinations": count},
                    )
                )
        return out

    def _external(
        self, ref: Ref, mask: int, answers: dict[str, Any] | None
    ) -> tuple[int, dict[str, Any] | None]:
        """Match a rule's firings with situations where the arithmetic leaves ``ref`` unset."""
        if ref.scope == "fact":
            where = self.unset_at.get((ref, -1))
            return (mask, {**(answers or {}), **where}) if where is not None else (0, None)
        hit = 0
        where_first = None
        for i in range(len(self.devices)):
            if mask >> i & 1 and (ref, i) in self.unset_at:
                hit |= 1 << i
                where_first = where_first or self.unset_at[(ref, i)]
        if not hit or where_first is None:
            return 0, None
        return hit, {**(answers or {}), **where_first}

    def _gap_findings(self, runs: list[ComponentRun]) -> list[Finding]:
        """Answers for which every device is excluded (each with its reason): combined across the
        independent components from each one's distinct exclusion masks, with how many of those
        combinations give each question each value (to name the largest empty regions)."""
        # mask -> [combinations, example answers, rules in the example, per-value tally]
        combined: dict[int, list[Any]] = {0: [1, {}, (), {}]}
        for run in runs:
            excl = self._exclusions(run)
            local: dict[int, list[Any]] = {}
            for sig, info in run.sigs.items():
                mask = 0
                names: list[str] = []
                for i in excl:
                    if sig[i]:
                        mask |= sig[i]
                        names.append(run.joint_rules[i].id)
                slot = local.get(mask)
                if slot is None:
                    local[mask] = [info.count, info.answers, tuple(names), dict(info.values)]
                else:
                    slot[0] += info.count
                    add_tally(slot[3], info.values)
            merged: dict[int, list[Any]] = {}
            for m1, (c1, a1, n1, t1) in combined.items():
                for m2, (c2, a2, n2, t2) in local.items():
                    # The components ask different questions: a value of one is counted once per
                    # combination of the other.
                    slot = merged.get(m1 | m2)
                    if slot is None:
                        slot = merged[m1 | m2] = [
                            0,
                            {**a1, **a2},
                            tuple(dict.fromkeys(n1 + n2)),
                            {},
                        ]
                    slot[0] += c1 * c2
                    add_tally(slot[3], t1, c2)
                    add_tally(slot[3], t2, c1)
            combined = merged
        gap = combined.get(self.all_devices)
        if gap is None:
            return []
        count, answers, names, empty = gap
        total = sum(slot[0] for slot in combined.values())
        everywhere: dict[tuple[str, Any], int] = {}
        for slot in combined.values():
            add_tally(everywhere, slot[3])
        regions = empty_regions(empty, everywhere, count, total)
        # A small gap is expected (a tiny budget buys nothing); a large one means many users
        # would be told "nothing fits": a warning (warnings never fail `audit`: only errors do).
        severity = "warning" if count / total >= GAP_WARNING_SHARE else "info"
        largest = (
            "; largest empty regions: " + "; ".join(region_text(r) for r in regions[:3])
            if regions
            else ""
        )
        return [
            Finding(
                "logic",
                "no-recommendation",
                severity,
                f"no device is recommended for {count:,} of {total:,} answer combinations "
                f"({count / total:.1%}){largest}; every device is then excluded with its reason "
                f"(here by {', '.join(names)})",
                rules=tuple(names),
                counterexample=self.raw(answers),
                details={
                    "combinations": count,
                    "of": total,
                    "rules_in_example": list(names),
                    "empty_regions": regions,
                },
            )
        ]

    def _claim_findings(self) -> list[Finding]:
        """One finding per claim-bearing rule, listing each device it prefers that the numbers
        do not put first."""
        out = []
        by_rule: dict[str, list[ClaimCheck]] = {}
        for check in self.claims.values():
            if check.contradicted:
                by_rule.setdefault(check.rule, []).append(check)
        for rule_id, checks in by_rule.items():
            rule = self.rb.rule(rule_id)
            first = checks[0]

            def beaten(c: ClaimCheck) -> str:
                if not c.held:
                    return ""
                share = c.contradicted / (c.contradicted + c.held)
                return f" (beaten in {share:.0%} of the situations)"

            same = all(
                (c.best_devices, c.best_value) == (first.best_devices, first.best_value)
                for c in checks
            )
            if same:
                numbers = (
                    f"{', '.join(first.best_devices)} {_num(first.best_value)} against "
                    + ", ".join(f"{c.device} {_num(c.value)}{beaten(c)}" for c in checks)
                )
            else:
                numbers = "; ".join(
                    f"{', '.join(c.best_devices)} {_num(c.best_value)} against {c.device} "
                    f"{_num(c.value)}{beaten(c)}"
                    for c in checks
                )
            message = (
                f"{rule.id} rests on the {first.best} {first.metric}, but the knowledge base gives "
                f"{numbers}; the engine withholds the points whenever a remaining candidate beats "
                "the "
                "preferred device"
            )
            devices = tuple(dict.fromkeys([c.device for c in checks] + list(first.best_devices)))
            out.append(
                Finding(
                    "knowledge",
                    "contradicted-claim",
                    "warning",
                    message,
                    rule.location,
                    (rule.id,),
                    devices,
                    self.raw(first.answers),
                    details={
                        "metric": first.metric,
                        "best": first.best,
                        "devices": {
                            c.device: {
                                "value": c.value,
                                "leaders": list(c.best_devices),
                                "leader_value": c.best_value,
                                "situations_contradicted": c.contradicted,
                                "situations_held": c.held,
                                "answers": self.raw(c.answers),
                            }
                            for c in checks
                        },
                    },
                )
            )
        return out


def _dominates(combine: str, other: Any, mine: Any) -> bool:
    """Whether another rule's derived value makes this one's irrelevant."""
    if combine == "or":
        return bool(other) or not bool(mine)
    if combine == "max":
        return bool(other >= mine)
    if combine == "min":
        return bool(other <= mine)
    return bool(other == mine)


def _or(values: Iterable[int]) -> int:
    mask = 0
    for value in values:
        mask |= value
    return mask


def _metric(value: Any) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        return float(value)
    return None


def _num(value: Any) -> str:
    if value is None:
        return "no value"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.2f}"


def _shown(value: Any) -> Any:
    return "not set" if value is MISSING else value


EMPTY_REGIONS_LISTED = 5
"""At most this many answer values are listed as the largest empty regions."""


def empty_regions(
    empty: Mapping[tuple[str, Any], int],
    everywhere: Mapping[tuple[str, Any], int],
    count: int,
    total: int,
) -> list[dict[str, Any]]:
    """The answer values under which nothing is recommended far more often than overall (for
    at least half of the way from the overall share to all of their combinations), the largest
    first: each with the share of its own combinations that are empty and the share of all
    combinations it stands for (``q = v`` holds in ``of`` combinations, ``empty`` of them
    recommend nothing)."""
    overall = count / total if total else 0.0
    threshold = (1 + overall) / 2
    found = []
    for (key, value), hit in empty.items():
        of = everywhere.get((key, value), 0)
        if not hit or not of or hit / of < threshold:
            continue
        found.append(
            {
                "question": key,
                "value": _shown(list(value) if isinstance(value, tuple) else value),
                "empty": hit,
                "of": of,
                "share_of_value": hit / of,
                "share_of_all": hit / total,
            }
        )
    found.sort(key=lambda r: (-r["empty"], -r["share_of_value"], r["question"], str(r["value"])))
    return found[:EMPTY_REGIONS_LISTED]


def region_text(region: Mapping[str, Any]) -> str:
    """'site = office: 100% of its combinations recommend nothing (50.0% of all)'."""
    return (
        f"{region['question']} = {region['value']}: {region['share_of_value']:.0%} of its "
        f"combinations recommend nothing ({region['share_of_all']:.1%} of all)"
    )


__all__ = ["LogicAudit", "LogicResult", "ClaimCheck", "Stat"]
