"""The rule audit (``gpu-advisor audit``): what is wrong with the rule base and why, before anyone
relies on it.

Five parts, each producing findings (audit_findings.Finding) with a severity, a place and, for
anything about behaviour, answers that reproduce it:

- lint (audit_lint): every load error at ``path:line:col``, plus rules without rationale, sources
  or examples, examples that test nothing, implausible knowledge-base figures;
- examples (audit_lint): each rule's examples through the engine, both evaluators;
- logic (audit_logic, over the space of audit_space/audit_enum): conflicts, redundancy,
  unreachable rules, dead facts and questions, gaps, holes in explanations;
- agreement (audit_agreement): durable_rules against the Python evaluator on a sample covering
  every firing pattern, and the audit's own model against full consultations;
- knowledge (audit_knowledge, audit_logic): source disagreements, the seeds' claims under the
  sizing model, preferences whose claim the knowledge base contradicts.

``run_audit`` returns an AuditReport; audit_render turns it into text, Markdown, HTML or JSON.
Exit status: 0 clean, 1 error findings, 2 files that cannot be loaded.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gpu_advisor.audit.findings import AuditReport, Finding
from gpu_advisor.errors import AdvisorError, UsageError, did_you_mean

Progress = Callable[[str, int, int | None], None]

DEFAULT_AGREEMENT = 1000
"""Combinations replayed through durable_rules and Python (every firing pattern first)."""
DEFAULT_CONSULTS = 100
"""Of those, how many also go through a full consultation."""


def run_audit(
    kb_dir: Path | str | None = None,
    rules_dir: Path | str | None = None,
    *,
    rule_id: str | None = None,
    progress: Progress | None = None,
    agreement: int = DEFAULT_AGREEMENT,
    consults: int = DEFAULT_CONSULTS,
) -> AuditReport:
    """Audit a knowledge base and rule folder (the shipped ones by default)."""
    from gpu_advisor.audit.lint import load
    from gpu_advisor.knowledge.kb import shipped_kb_dir
    from gpu_advisor.knowledge.rulebase import shipped_rules_dir

    kb = Path(kb_dir) if kb_dir is not None else shipped_kb_dir()
    rules = Path(rules_dir) if rules_dir is not None else shipped_rules_dir()
    report = AuditReport(str(kb), str(rules))
    tick = progress or (lambda phase, done, total: None)
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        report.timings[name] = now - clock
        clock = now

    tick("load", 0, 1)
    rulebase, load_findings = load(kb, rules)
    report.findings += load_findings
    tick("load", 1, 1)
    lap("load")
    if rulebase is None:
        report.loaded = False
        return report
    if rule_id is not None and rule_id not in {r.id for r in rulebase.rules}:
        raise UsageError(
            f"unknown rule {rule_id!r}{did_you_mean(rule_id, [r.id for r in rulebase.rules])}"
        )
    report.rule_count = len(rulebase.rules)
    report.device_count = len(rulebase.knowledge.devices)
    return _audit_loaded(report, rulebase, rule_id, tick, agreement, consults, lap)


def _audit_loaded(
    report: AuditReport,
    rulebase: Any,
    rule_id: str | None,
    tick: Progress,
    agreement: int,
    consults: int,
    lap: Callable[[str], None],
) -> AuditReport:
    from gpu_advisor.audit.agreement import agreement_findings
    from gpu_advisor.audit.knowledge import (
        claim_findings,
        disagreement_findings,
        systems_findings,
    )
    from gpu_advisor.audit.lint import example_findings, lint_knowledge, lint_rules
    from gpu_advisor.audit.logic import LogicAudit
    from gpu_advisor.core.consult import Engine

    engine = Engine(rulebase)
    report.findings += lint_rules(rulebase) + lint_knowledge(rulebase)
    lap("lint")
    report.findings += example_findings(engine, tick)
    lap("examples")
    logic = LogicAudit(rulebase, tick)
    result = logic.run()
    report.findings += result.findings
    report.space = result.stats
    lap("logic")
    found, replayed, consulted = agreement_findings(
        engine, result.runs, agreement, consults, logic.facts_engine, tick
    )
    report.findings += found
    report.space.durable_checked = replayed
    report.space.engine_checked = consulted
    lap("agreement")
    report.findings += (
        disagreement_findings(rulebase) + claim_findings(rulebase) + systems_findings(rulebase)
    )
    lap("knowledge")
    if rule_id is not None:
        report.story = rule_story(engine, logic, rule_id, report.findings)
        lap("rule")
    return report


# ---------------------------------------------------------------------------------------------
# One rule's story


def rule_story(
    engine: Any, logic: Any, rule_id: str, findings: list[Finding], limit: int = 120
) -> dict[str, Any]:
    """Everything about one rule: its text, sources, examples, where it fires, the answers for
    which it decides the outcome (the consultation differs without it), what it conflicts with."""
    from gpu_advisor.audit.lint import check_example

    rb = engine.rulebase
    rule = rb.rule(rule_id)
    run = logic.rule_run[rule_id]
    stat = run.stats[rule_id]
    examples = []
    for example in rule.examples:
        try:
            problems = check_example(engine, rule, example)
        except AdvisorError as exc:
            problems = [f"the consultation failed: {exc}"]
        examples.append(
            {
                "name": example.name,
                "location": str(example.location),
                "answers": dict(example.answers),
                "holds": not problems,
                "problems": problems,
            }
        )
    devices = (
        [d for i, d in enumerate(logic.devices) if stat.mask >> i & 1]
        if rule.scope == "device"
        else []
    )
    story: dict[str, Any] = {
        "id": rule.id,
        "topic": rule.topic,
        "description": rule.description,
        "location": str(rule.location),
        "scope": rule.scope,
        "stratum": rule.stratum,
        "condition": rule.condition_text(),
        "concludes": rule.conclusion,
        "because": rule.because,
        "warn": rule.warn,
        "severity": rule.severity,
        "claim": (
            {"metric": rule.prefer.claim.metric, "best": rule.prefer.claim.best}
            if rule.prefer is not None and rule.prefer.claim is not None
            else None
        ),
        "sources": [{"citation": c, "title": rb.knowledge.cite(c)} for c in rule.sources],
        "examples": examples,
        "fires": {
            "combinations": stat.count,
            "devices": devices,
            "example": logic.raw(stat.answers) if stat.answers is not None else None,
        },
        "decides": decides(engine, logic, rule_id, limit),
        "findings": [f.to_json() for f in findings if rule_id in f.rules],
    }
    return story


def _candidates(logic: Any, rule_id: str, limit: int) -> list[dict[str, Any]]:
    """Answers for which the rule fires: its first firing, then every joint signature or
    context combination where it does."""
    run = logic.rule_run[rule_id]
    found: list[dict[str, Any]] = []
    if run.stats[rule_id].answers is not None:
        found.append(run.stats[rule_id].answers)
    if rule_id in [r.id for r in run.joint_rules]:
        index = run.joint_index(rule_id)
        found += [info.answers for sig, info in run.sigs.items() if sig[index]]
    bit = run.bits[rule_id]
    found += [
        {**situation, **combo}
        for bits, _, situation, combo in run.context_combinations()
        if bits >> bit & 1
    ]
    out: list[dict[str, Any]] = []
    seen: set[tuple[Any, ...]] = set()
    step = max(1, len(found) // limit)
    for answers in found[:1] + found[1::step]:
        raw = logic.raw(answers)
        key = tuple(sorted((k, repr(v)) for k, v in raw.items()))
        if key not in seen:
            seen.add(key)
            out.append(raw)
    return out[:limit]


def decides(engine: Any, logic: Any, rule_id: str, limit: int = 120) -> dict[str, Any]:
    """Consult with and without the rule where it fires: where the outcome differs, it decides."""
    from gpu_advisor.core.consult import Engine

    rb = engine.rulebase
    without = Engine(dataclasses.replace(rb, rules=[r for r in rb.rules if r.id != rule_id]))
    cases = []
    checked = 0
    for raw in _candidates(logic, rule_id, limit):
        try:
            with_rule = engine.consult(raw, evaluator="python")
            without_rule = without.consult(raw, evaluator="python")
        except AdvisorError:
            continue
        checked += 1
        change = describe_change(with_rule, without_rule)
        if change:
            cases.append({"answers": raw, "change": change})
    return {"checked": checked, "decided": len(cases), "cases": cases}


def describe_change(with_rule: Any, without_rule: Any) -> list[str]:
    """What the consultation loses or gains when the rule is taken out, in words."""
    changes: list[str] = []
    top_with = with_rule.recommendations[0].device if with_rule.recommendations else None
    top_without = without_rule.recommendations[0].device if without_rule.recommendations else None
    if top_with != top_without:
        changes.append(
            f"the top recommendation is {top_with or 'nothing'} with the rule, "
            f"{top_without or 'nothing'} without it"
        )
    excluded_with, excluded_without = (
        set(with_rule.all_exclusions),
        set(without_rule.all_exclusions),
    )
    for device in sorted(excluded_with - excluded_without):
        changes.append(f"{device} is excluded with the rule, a candidate without it")
    for device in sorted(excluded_without - excluded_with):
        changes.append(f"{device} is a candidate with the rule, excluded without it")
    for name in sorted(set(with_rule.facts) | set(without_rule.facts)):
        a, b = with_rule.facts.get(name), without_rule.facts.get(name)
        if a != b:
            changes.append(f"fact {name} is {a} with the rule, {b} without it")
    order_with = [r.device for r in with_rule.recommendations]
    order_without = [r.device for r in without_rule.recommendations]
    if not changes and order_with != order_without:
        first = next(
            i for i, (a, b) in enumerate(zip(order_with + [""], order_without + [""])) if a != b
        )
        changes.append(
            f"the ranking changes from place {first + 1}: "
            + " > ".join(order_with[first : first + 3])
            + " with the rule, "
            + " > ".join(order_without[first : first + 3])
            + " without it"
        )
    warns_with = {(w.rule, w.device) for w in with_rule.warnings}
    warns_without = {(w.rule, w.device) for w in without_rule.warnings}
    for rule, device in sorted(warns_with - warns_without, key=lambda w: (w[0], w[1] or "")):
        changes.append(
            f"the warning of {rule}{' about ' + device if device else ''} appears only with the "
            "rule"
        )
    return changes


__all__ = [
    "run_audit",
    "rule_story",
    "decides",
    "describe_change",
    "DEFAULT_AGREEMENT",
    "DEFAULT_CONSULTS",
]
