"""Engine agreement: durable_rules and the Python evaluation of the same parsed conditions must
reach the same conclusions, and the audit's own fast model of the engine must match both.

A sample of the enumerated space is replayed stage by stage: at each stage the same context
(answers and facts derived so far) and, at the last stage, the same device facts go to a
durable_rules session and to ``conditions.evaluate``; the rule firings (rule, device) must be
equal. The sample holds, for every component, one combination per distinct firing pattern the
enumeration met (each rule's first firing, each joint signature, each context class), spread
over the rest of the space up to the limit. The audit's compiled closures are compared with the
same firings, and the first combinations also go through a full ``Engine.consult``, whose firings
and device facts must match what the audit assumed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from gpu_advisor.audit.enumeration import ComponentRun
from gpu_advisor.audit.facts import DeviceFacts
from gpu_advisor.audit.findings import Finding
from gpu_advisor.audit.space import ARITHMETIC_ANSWERS, raw_answers
from gpu_advisor.backends.python import compile_condition, context_of
from gpu_advisor.core.consult import python_stage
from gpu_advisor.errors import AdvisorError
from gpu_advisor.knowledge.rulebase import RuleBase
from gpu_advisor.lang.conditions import MISSING, evaluate

Firings = set[tuple[str, str | None]]


def samples(rb: RuleBase, runs: list[ComponentRun], limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` distinct raw answer sets covering every firing pattern first."""
    per_run: list[list[dict[str, Any]]] = []
    for run in runs:
        found: list[dict[str, Any]] = []
        for stat in run.stats.values():
            if stat.answers is not None:
                found.append(stat.answers)
        for probe in run.probes:
            if probe.stat.answers is not None:
                found.append(probe.stat.answers)
        found += [info.answers for info in run.sigs.values()]
        found += [{**situation, **combo} for _, _, situation, combo in run.context_combinations()]
        per_run.append(_dedupe(found, rb) or [{}])
    biggest = max(len(f) for f in per_run) if per_run else 0
    out: list[dict[str, Any]] = []
    seen: set[tuple[Any, ...]] = set()
    order = _spread(biggest, limit)
    for n in order:
        merged: dict[str, Any] = {}
        for found in per_run:
            merged.update(found[n % len(found)])
        raw = raw_answers(merged, rb)
        key = tuple(sorted((k, repr(v)) for k, v in raw.items()))
        if key not in seen:
            seen.add(key)
            out.append(raw)
        if len(out) >= limit:
            break
    return out


def _dedupe(found: list[dict[str, Any]], rb: RuleBase) -> list[dict[str, Any]]:
    seen: set[tuple[Any, ...]] = set()
    out = []
    for answers in found:
        key = tuple(sorted((k, repr(v)) for k, v in raw_answers(answers, rb).items()))
        if key not in seen:
            seen.add(key)
            out.append(answers)
    return out


def _spread(size: int, limit: int) -> Iterator[int]:
    """Indices: the first ``limit // 2`` in order (each rule's first firing comes first), then an
    even stride over the rest."""
    head = min(size, max(limit // 2, 1))
    yield from range(head)
    rest = size - head
    if rest <= 0:
        return
    step = max(1, rest // max(limit - head, 1))
    yield from range(head, size, step)


class Replayer:
    """Replays answers stage by stage through durable_rules, conditions.evaluate and the audit's
    closures."""

    def __init__(self, engine: Any, facts_engine: DeviceFacts | None = None) -> None:
        self.engine = engine
        self.rb: RuleBase = engine.rulebase
        self.facts_engine = facts_engine or DeviceFacts(self.rb)
        self.compiled = {r.id: compile_condition(r.when) for r in self.rb.rules}
        self._memo: dict[tuple[Any, ...], tuple[dict[str, Any], list[dict[str, Any]]]] = {}
        self.defaults = {
            name: fact.default
            for name, fact in self.rb.facts.items()
            if fact.kind != "computed" and fact.default is not None
        }

    def device_facts(
        self, values: Mapping[str, Any]
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        key = tuple(repr(values.get(k, MISSING)) for k in ARITHMETIC_ANSWERS)
        found = self._memo.get(key)
        if found is None:
            if len(self._memo) > 4096:
                self._memo.clear()
            found = self._memo[key] = self.facts_engine.compute(values)
        return found

    def replay(self, raw: Mapping[str, Any]) -> tuple[list[Firings], list[Firings], list[Firings]]:
        """Per stage: (durable firings, Python firings, audit closure firings)."""
        from gpu_advisor.core.answers import normalize_answers

        answers = normalize_answers(self.rb.questions, dict(raw), self.rb.knowledge)
        values = dict(answers.values)
        computed, attrs = self.device_facts(values)
        devices = dict(zip(self.rb.knowledge.devices, attrs))
        facts = dict(self.defaults)
        facts.update(computed)
        durable: list[Firings] = []
        python: list[Firings] = []
        closures: list[Firings] = []
        final = self.rb.strata - 1
        session = self.engine.compiled.session()
        derived: dict[str, list[Any]] = {}
        try:
            for stage in range(self.rb.strata):
                batch = list(devices.values()) if stage == final else []
                fired = session.run_stage(stage, values, facts, batch)
                durable.append({(f.rule_id, f.device_id) for f in fired})
                py = self._python_stage(stage, values, facts, devices if stage == final else {})
                python.append(py)
                closures.append(
                    self._closure_stage(stage, values, facts, devices if stage == final else {})
                )
                if stage != final:
                    self._derive(py, facts, derived)
        finally:
            session.close()
        return durable, python, closures

    def _python_stage(
        self,
        stage: int,
        values: dict[str, Any],
        facts: dict[str, Any],
        devices: dict[str, dict[str, Any]],
    ) -> Firings:
        """The engine's own Python evaluation of one stage."""
        fired = python_stage(self.rb.rules, stage, values, facts, devices, holds=evaluate)
        return {(f.rule_id, f.device_id) for f in fired}

    def _closure_stage(
        self,
        stage: int,
        values: dict[str, Any],
        facts: dict[str, Any],
        devices: dict[str, dict[str, Any]],
    ) -> Firings:
        ctx = context_of(values, facts)
        fired: Firings = set()
        for rule in self.rb.rules:
            if rule.stratum != stage:
                continue
            pred = self.compiled[rule.id]
            if rule.scope == "context":
                if pred(ctx, {}):
                    fired.add((rule.id, None))
                continue
            for device_id, attrs in devices.items():
                if pred(ctx, attrs):
                    fired.add((rule.id, device_id))
        return fired

    def _derive(self, fired: Firings, facts: dict[str, Any], derived: dict[str, list[Any]]) -> None:
        order = {r.id: i for i, r in enumerate(self.rb.rules)}
        for rule_id, _ in sorted(fired, key=lambda f: order[f[0]]):
            rule = self.rb.rule(rule_id)
            for name, value in rule.derive.items():
                combine = self.rb.facts[name].combine
                previous = facts.get(name) if name in derived else None
                if previous is None:
                    facts[name] = value
                elif combine == "or":
                    facts[name] = bool(previous) or bool(value)
                elif combine == "max":
                    facts[name] = max(previous, value)
                elif combine == "min":
                    facts[name] = min(previous, value)
                derived.setdefault(name, []).append(value)


def agreement_findings(
    engine: Any,
    runs: list[ComponentRun],
    limit: int = 1000,
    consult_limit: int = 100,
    facts_engine: DeviceFacts | None = None,
    progress: Callable[[str, int, int | None], None] | None = None,
) -> tuple[list[Finding], int, int]:
    """(findings, combinations replayed in both evaluators, combinations run through consult)."""
    rb: RuleBase = engine.rulebase
    chosen = samples(rb, runs, limit)
    replayer = Replayer(engine, facts_engine)
    out: list[Finding] = []
    disagreements = 0
    self_checks = 0
    consulted = 0
    for n, raw in enumerate(chosen, start=1):
        try:
            durable, python, closures = replayer.replay(raw)
        except AdvisorError as exc:
            out.append(
                Finding(
                    "agreement",
                    "engine-disagreement",
                    "error",
                    f"replaying these answers failed: {exc}",
                    counterexample=dict(raw),
                )
            )
            continue
        for stage, (d, p, c) in enumerate(zip(durable, python, closures)):
            if d != p and disagreements < 10:
                disagreements += 1
                only_d = sorted(_show(f) for f in d - p)
                only_p = sorted(_show(f) for f in p - d)
                rules = tuple(sorted({f[0] for f in (d ^ p)}))
                out.append(
                    Finding(
                        "agreement",
                        "engine-disagreement",
                        "error",
                        f"at stage {stage}, durable_rules and the Python evaluator disagree: only "
                        "durable "
                        f"fired {', '.join(only_d) or 'nothing more'}; only Python fired "
                        f"{', '.join(only_p) or 'nothing more'}",
                        rules=rules,
                        counterexample=dict(raw),
                        details={"stage": stage, "only_durable": only_d, "only_python": only_p},
                    )
                )
            if c != p and self_checks < 10:
                self_checks += 1
                rules = tuple(sorted({f[0] for f in (c ^ p)}))
                out.append(
                    Finding(
                        "agreement",
                        "audit-self-check",
                        "error",
                        f"at stage {stage}, the audit's compiled conditions and conditions."
                        "evaluate "
                        f"disagree on {', '.join(sorted(_show(f) for f in c ^ p))}; the audit's "
                        "logic "
                        "findings cannot be trusted for these rules",
                        rules=rules,
                        counterexample=dict(raw),
                    )
                )
        if consulted < consult_limit:
            consulted += 1
            out.extend(_consult_check(engine, replayer, raw, python))
        if progress is not None and (n % 50 == 0 or n == len(chosen)):
            progress("agreement", n, len(chosen))
    return out, len(chosen), consulted


def _consult_check(
    engine: Any, replayer: Replayer, raw: Mapping[str, Any], python: list[Firings]
) -> list[Finding]:
    """A full consultation must fire what the replay fired, on the device facts the audit used."""
    try:
        consultation = engine.consult(dict(raw))
    except AdvisorError as exc:
        if "rules disagree on fact" in str(exc):
            return []  # a fact conflict: the logic checks report it, with the rules involved
        return [
            Finding(
                "logic",
                "engine-error",
                "error",
                f"the engine cannot process answers the questionnaire accepts: {exc}",
                counterexample=dict(raw),
            )
        ]
    expected = set().union(*python) if python else set()
    out = []
    if consultation.fired != expected:
        diff = sorted(_show(f) for f in consultation.fired ^ expected)
        out.append(
            Finding(
                "agreement",
                "audit-self-check",
                "error",
                "a full consultation fired differently from the audit's replay "
                f"({', '.join(diff)})",
                rules=tuple(sorted({f[0] for f in consultation.fired ^ expected})),
                counterexample=dict(raw),
            )
        )
    _, attrs = replayer.device_facts(dict(consultation.answers.values))
    mine = dict(zip(replayer.rb.knowledge.devices, attrs))
    for device_id, facts in consultation.devices.items():
        if mine.get(device_id) != facts:
            changed = sorted(
                k
                for k in set(facts) | set(mine.get(device_id, {}))
                if facts.get(k) != mine.get(device_id, {}).get(k)
            )
            out.append(
                Finding(
                    "agreement",
                    "audit-self-check",
                    "error",
                    f"the audit computed other device facts for {device_id} than the consultation "
                    f"({', '.join(changed)})",
                    devices=(device_id,),
                    counterexample=dict(raw),
                )
            )
            break
    return out


def _show(firing: tuple[str, str | None]) -> str:
    rule, device = firing
    return f"{rule}@{device}" if device else rule


__all__ = ["agreement_findings", "Replayer", "samples"]
