"""HOW, WHY, WHY NOT and WHAT WOULD CHANGE IT, built from a consultation's record.

durable_rules reports nothing about why a rule fired; the engine records every firing and this
module re-reads the same parsed conditions in Python to name the leaves (and their values) that
decided each outcome. Counterfactuals search the changes a buyer controls (``core.levers``),
re-running the consultation through its own ``reconsult``. Everything here is computed when asked,
never as part of a
consultation; the answers are the typed records of ``core.explanations``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gpu_advisor.arithmetic.context import ARITHMETIC_ANSWERS
from gpu_advisor.core.explanations import (
    Changes,
    ExcludedBy,
    Explanation,
    FactStep,
    FiredRule,
    How,
    MissedPreference,
    PassedExclusion,
    RuleReadingAnswer,
    ScoreDifference,
    WhyAsked,
    WhyNot,
)
from gpu_advisor.core.levers import relevant_answers, search
from gpu_advisor.errors import UsageError
from gpu_advisor.lang.conditions import LeafResult, Ref, decisive_leaves, leaves, render

if TYPE_CHECKING:
    from gpu_advisor.core.results import Consultation
    from gpu_advisor.knowledge.rulebase import Question, RuleBase


def derivation_chain(
    consultation: Consultation, fact_name: str, seen: set[str] | None = None
) -> list[FactStep]:
    """The rules that derived a fact, each with what it matched and the chains of its own inputs."""
    seen = seen if seen is not None else set()
    if fact_name in seen:
        return []
    seen.add(fact_name)
    steps = []
    rb = consultation.rulebase
    for rule_id in consultation.derived_by.get(fact_name, []):
        rule = rb.rule(rule_id)
        lookup = consultation.lookup(None)
        _, why = decisive_leaves(rule.when, lookup)
        below: list[FactStep] = []
        for ref in {ref for r in why for ref in r.leaf.refs() if ref.scope == "fact"}:
            below.extend(derivation_chain(consultation, ref.name, seen))
        steps.append(
            FactStep(
                fact=fact_name,
                value=consultation.facts.get(fact_name),
                rule=rule.id,
                because=render(rule.because, lookup),
                matched=_described(why),
                sources=tuple(rule.sources),
                derived_from=tuple(below),
            )
        )
    if not steps and fact_name in consultation.arithmetic.facts:
        estimate = consultation.arithmetic.estimate
        steps.append(
            FactStep(
                fact=fact_name,
                value=consultation.facts.get(fact_name),
                rule="arithmetic:sizing",
                because="computed by the memory sizing model",
                matched=tuple(estimate.assumptions) if estimate is not None else (),
                sources=(),
            )
        )
    return steps


def _described(results: list[LeafResult]) -> tuple[str, ...]:
    return tuple(result.describe() for result in results)


def how(consultation: Consultation, device_id: str) -> How:
    """Why a device is recommended: its rules, the facts they used and where those came from."""
    rb = consultation.rulebase
    attrs = consultation.devices[device_id]
    fired = []
    facts_used: set[str] = set()
    for entry in consultation.trace:
        if entry.device != device_id:
            continue
        rule = rb.rule(entry.rule)
        lookup = consultation.lookup(device_id)
        _, why = decisive_leaves(rule.when, lookup)
        facts_used.update(ref.name for r in why for ref in r.leaf.refs() if ref.scope == "fact")
        fired.append(
            FiredRule(
                rule=rule.id,
                concluded=rule.conclusion,
                because=render(rule.because, lookup),
                matched=_described(why),
                sources=tuple(rule.sources),
            )
        )
    passed = []
    for rule in rb.rules:
        if (
            rule.scope == "device"
            and rule.exclude
            and (rule.id, device_id) not in consultation.fired
        ):
            _, why = decisive_leaves(rule.when, consultation.lookup(device_id))
            passed.append(
                PassedExclusion(rule=rule.id, not_met=_described([r for r in why if not r.holds]))
            )
    chains = [step for name in sorted(facts_used) for step in derivation_chain(consultation, name)]
    rec = consultation.recommendation(device_id)
    return How(
        device=device_id,
        status=consultation.status(device_id),
        rank=consultation.recommendations.index(rec) + 1 if rec else None,
        count=attrs.get("count"),
        cost_usd=attrs.get("cost_usd"),
        memory=_memory_line(consultation, device_id),
        rules=tuple(fired),
        facts=tuple(chains),
        exclusions_passed=tuple(passed),
        score_parts=dict(rec.contributions) if rec else {},
    )


def _memory_line(consultation: Consultation, device_id: str) -> str | None:
    attrs = consultation.devices[device_id]
    if attrs.get("memory_per_gpu_gb") is None:
        return None
    needed = attrs.get("gpus_needed")
    if needed is None:
        return (
            f"needs {attrs['memory_per_gpu_gb']} GB per GPU even split over the allowed GPUs; "
            f"{device_id} has {attrs['memory_gb']} GB"
        )
    return (
        f"{needed} x {attrs['memory_gb']} GB: {attrs['memory_per_gpu_gb']} GB per GPU "
        f"({attrs.get('memory_utilization', 0):.0%} of usable memory)"
    )


def why_question(consultation: Consultation, key: str) -> WhyAsked:
    """WHY are you asking this? The rules and questions that need the answer."""
    if key not in consultation.rulebase.questions:
        raise UsageError(f"unknown question {key!r}")
    return why_asked(consultation.rulebase, key)


def why_asked(rulebase: RuleBase, key: str) -> WhyAsked:
    """The rules that read the answer to ``key``, the questions it gates, and whether the
    arithmetic uses it (needs only the rule base: the question is asked before any verdict)."""
    ref = Ref("answer", key)
    rules = tuple(
        RuleReadingAnswer(
            rule=r.id,
            description=r.description,
            condition=r.condition_text(),
            sources=tuple(r.sources),
        )
        for r in rulebase.rules
        if ref in r.reads()
    )
    gates = tuple(
        q.key
        for q in rulebase.questions.values()
        if any(leaf_ref == ref for leaf in leaves(q.ask_when) for leaf_ref in leaf.refs())
    )
    question: Question = rulebase.questions[key]
    return WhyAsked(
        question=key,
        prompt=question.prompt,
        rules=rules,
        decides_whether_to_ask=gates,
        used_by_arithmetic=key in ARITHMETIC_ANSWERS,
    )


def why_not(consultation: Consultation, device_id: str) -> WhyNot:
    """WHY NOT: the rules that excluded a device and the condition that did it; or, for a
    lower-ranked device, what the better one has that it lacks."""
    rb = consultation.rulebase
    status = consultation.status(device_id)
    exclusions = consultation.all_exclusions.get(device_id, [])
    if exclusions:
        items = []
        for ex in exclusions:
            rule = rb.rule(ex.rule)
            _, why = decisive_leaves(rule.when, consultation.lookup(device_id))
            items.append(
                ExcludedBy(
                    rule=ex.rule,
                    because=ex.because,
                    condition=rule.condition_text(),
                    decided_by=_described(why),
                    sources=tuple(ex.sources),
                )
            )
        return WhyNot(device=device_id, status=status, excluded_by=tuple(items))
    rec = consultation.recommendation(device_id)
    if rec is None:
        return WhyNot(device=device_id, status=status, note="not among the candidates")
    top = consultation.recommendations[0]
    rank = consultation.recommendations.index(rec) + 1
    if top.device == device_id:
        return WhyNot(device=device_id, status=status, rank=rank, note="ranked first")
    gaps = []
    for name in sorted(set(top.contributions) | set(rec.contributions)):
        diff = top.contributions.get(name, 0.0) - rec.contributions.get(name, 0.0)
        if abs(diff) > 1e-9:
            gaps.append(
                ScoreDifference(
                    part=name,
                    leader=round(top.contributions.get(name, 0.0), 3),
                    this=round(rec.contributions.get(name, 0.0), 3),
                )
            )
    missed = []
    for rule in rb.rules:
        if rule.scope != "device" or not rule.prefer or rule.prefer.points <= 0:
            continue
        if (rule.id, top.device) in consultation.fired and (
            rule.id,
            device_id,
        ) not in consultation.fired:
            _, why = decisive_leaves(rule.when, consultation.lookup(device_id))
            missed.append(
                MissedPreference(
                    rule=rule.id,
                    points=rule.prefer.points,
                    failed=_described([r for r in why if not r.holds]),
                )
            )
    return WhyNot(
        device=device_id,
        status=status,
        rank=rank,
        behind=top.device,
        score_gap=round(top.score - rec.score, 3),
        score_differences=tuple(sorted(gaps, key=lambda g: -(g.leader - g.this))),
        preferences_missed=tuple(missed),
    )


# ---------------------------------------------------------------------------------------------
# Counterfactuals


def what_would_change(consultation: Consultation) -> Changes:
    """WHAT WOULD CHANGE IT, from the changes a buyer controls (``rules/levers.yaml``): for each
    excluded device the smallest set of changes that brings it back, for each device shown
    below the first what would put it first, and when nothing fits the cheapest ways to make
    something fit; each with its cost, rank and what the buyer gives up (``core.levers``)."""
    return search(consultation)


def explain_consultation(consultation: Consultation, counterfactuals: bool = True) -> Explanation:
    """The explanation block of the JSON output (``.to_json()`` gives the block itself)."""
    changes = what_would_change(consultation) if counterfactuals else {}
    first = {r.device for r in consultation.recommendations[:1]}
    return Explanation(
        how=tuple(how(consultation, r.device) for r in consultation.recommendations[:3]),
        why_not=tuple(why_not(consultation, d) for d in consultation.devices if d not in first),
        what_would_change=changes,
        questions={
            key: tuple(r.rule for r in why_asked(consultation.rulebase, key).rules)
            for key in consultation.answers.values
        },
    )


__all__ = [
    "derivation_chain",
    "explain_consultation",
    "how",
    "relevant_answers",
    "what_would_change",
    "why_asked",
    "why_not",
    "why_question",
]
