"""Rank the devices no rule excluded, by the user's priority, from facts rather than verdicts.

Each priority weighs metrics (``rules/ranking.yaml``); a metric is a device fact normalized over
the remaining candidates (best = 1, worst = 0). Preference rules add their points on top. A
preference that rests on a claim ("best per-device memory") is checked against the numbers: when
another remaining device beats it on that metric, the points are withheld and a note says so,
citing both the rule's source and the knowledge base.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gpu_advisor.core.results import Note, Reason, Recommendation
from gpu_advisor.knowledge.rulebase import Rule
from gpu_advisor.lang.conditions import render

if TYPE_CHECKING:
    from gpu_advisor.core.results import Consultation


def metric_value(consultation: Consultation, device_id: str, attribute: str) -> float | None:
    attrs = consultation.devices[device_id]
    if attribute == "deployment_ease":
        return consultation.rulebase.setting_ease.get(str(attrs.get("setting")))
    value = attrs.get(attribute)
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    return float(value) if isinstance(value, (int, float)) else None


def normalized(consultation: Consultation, remaining: list[str], attribute: str,
               better: str) -> dict[str, float]:
    """Each device's metric as a ratio to the best value (best = 1).

    Ratios rather than min-max scaling: half the cost scores twice as well whatever the most
    expensive candidate costs, so adding or removing an outlier does not reorder the others.
    A device without a value for the metric scores 0 on it.
    """
    values = {d: metric_value(consultation, d, attribute) for d in remaining}
    known = [v for v in values.values() if v is not None and v > 0]
    scores: dict[str, float] = {}
    for device, value in values.items():
        if value is None or not known:
            scores[device] = 0.0
        elif better == "higher":
            scores[device] = max(value, 0.0) / max(known)
        else:
            scores[device] = min(known) / value if value > 0 else 1.0
    return scores


def rank(consultation: Consultation, remaining: list[str],
         points: dict[str, list[tuple[Rule, float]]]) -> tuple[list[Recommendation], list[Note]]:
    """The remaining devices best first, with their reasons and score parts, and the notes on
    preferences whose claims the numbers contradict (those preferences are not applied)."""
    rb = consultation.rulebase
    priority = consultation.answers.get("priority")
    weights = dict(rb.priorities.get(str(priority), {}))
    for fact_name, extra in rb.emphasis.items():
        if consultation.facts.get(fact_name) is True:
            for metric_name, weight in extra.items():
                weights[metric_name] = weights.get(metric_name, 0.0) + weight
    notes: list[Note] = []
    parts: dict[str, dict[str, float]] = {d: {} for d in remaining}
    for metric_name, weight in weights.items():
        metric = rb.metrics[metric_name]
        for device, score in normalized(consultation, remaining, metric.attribute, metric.better).items():
            parts[device][metric_name] = weight * score
    reasons: dict[str, list[Reason]] = {d: [] for d in remaining}
    for device in remaining:
        for rule, value in points.get(device, []):
            lookup = consultation.lookup(device)
            claim = rule.prefer.claim if rule.prefer else None
            if claim is not None:
                best = _best(consultation, remaining, claim.metric, claim.best)
                if best is not None and device not in best[0]:
                    notes.append(_contradiction(consultation, rule, device, claim.metric, best))
                    continue
            parts[device][f"rule:{rule.id}"] = value
            reasons[device].append(Reason(rule=rule.id, because=render(rule.because, lookup),
                                          sources=list(rule.sources), points=value, kind="rule"))
    recommendations = []
    for device in remaining:
        attrs = consultation.devices[device]
        score = sum(parts[device].values())
        ranking_reasons = [Reason(rule=f"ranking:{priority}",
                                  because=_metric_sentence(consultation, device, name, part),
                                  sources=list(rb.ranking_sources), points=round(part, 3), kind="metric")
                           for name, part in sorted(parts[device].items(), key=lambda kv: -kv[1])
                           if not name.startswith("rule:") and part > 0]
        recommendations.append(Recommendation(device=device, name=rb.knowledge.devices[device].name,
                                              count=int(attrs["count"]), cost_usd=float(attrs["cost_usd"]),
                                              score=score, reasons=reasons[device] + ranking_reasons,
                                              contributions=parts[device]))
    recommendations.sort(key=lambda r: (-r.score, r.cost_usd, r.device))
    return recommendations, notes


def _best(consultation: Consultation, remaining: list[str], attribute: str,
          best: str) -> tuple[list[str], float] | None:
    values = {d: metric_value(consultation, d, attribute) for d in remaining}
    known = {d: v for d, v in values.items() if v is not None}
    if not known:
        return None
    target = max(known.values()) if best == "highest" else min(known.values())
    return [d for d, v in known.items() if v == target], target


def _contradiction(consultation: Consultation, rule: Rule, device: str, attribute: str,
                   best: tuple[list[str], float]) -> Note:
    kb = consultation.rulebase.knowledge
    mine = metric_value(consultation, device, attribute)
    winners = ", ".join(kb.devices[d].name for d in best[0])
    message = (f"{rule.id} prefers {kb.devices[device].name} for the best {attribute} "
               f"({', '.join(rule.sources)}), but the knowledge base gives {winners} "
               f"{_num(best[1])} against {_num(mine)}; the ranking follows the numbers and the "
               f"preference is not applied.")
    sources = list(rule.sources) + [s for d in best[0] for s in _fact_sources(consultation, d, attribute)]
    return Note(kind="contradiction", message=message, rule=rule.id, sources=sources)


def _fact_sources(consultation: Consultation, device_id: str, attribute: str) -> list[str]:
    fact = consultation.rulebase.knowledge.devices[device_id].fact(attribute)
    return [fact.source] if fact else []


def _num(value: Any) -> str:
    if value is None:
        return "no value"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def _metric_sentence(consultation: Consultation, device: str, metric_name: str, part: float) -> str:
    metric = consultation.rulebase.metrics[metric_name]
    value = metric_value(consultation, device, metric.attribute)
    return (f"{metric.description}: {_num(value)} ({metric.better} is better) "
            f"adds {part:.2f} to the score")
