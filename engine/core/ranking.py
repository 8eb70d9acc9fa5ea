"""Rank the devices no rule excluded: the buyer's priority decides, other qualities break near-ties.

Each priority weighs metrics (``rules/ranking.yaml`` ``priorities``); a metric is a device fact
as a ratio to the best remaining candidate (best = 1). That weighted sum, the priority score,
decides the order. Only devices whose priority scores are within the priority's near-tie
tolerance (``order.near_tie``) are ordered by anything else: the tie-break qualities
(``order.tie_breaks``), the limits of the workload (``emphasis``) and the preference rules'
points. A quality counts once: metrics that measure the same quality (decode bound and
bandwidth) are one, a quality the priority already weighs is not weighed again among its ties,
and a preference rule that rewards what a weighed metric measures (an HBM bonus, a verdict's
claim about memory or throughput) adds no points of its own.

A preference that rests on a claim ("best per-device memory") is checked against the numbers:
when another remaining device beats it on that metric, the preference is withheld and a note
says so, citing both the rule's source and the knowledge base.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from gpu_advisor.core.results import Comparison, Note, Reason, Recommendation
from gpu_advisor.knowledge.rulebase import Rule
from gpu_advisor.knowledge.tables import Order, load_order
from gpu_advisor.lang.conditions import render

if TYPE_CHECKING:
    from gpu_advisor.core.results import Consultation

_EXACT = 1e-9
"""Relative gap under which two scores are equal whatever the tolerance (float noise)."""


def metric_value(consultation: Consultation, device_id: str, attribute: str) -> float | None:
    attrs = consultation.devices[device_id]
    if attribute == "deployment_ease":
        return consultation.rulebase.setting_ease.get(str(attrs.get("setting")))
    value = attrs.get(attribute)
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    return float(value) if isinstance(value, (int, float)) else None


def normalized(
    consultation: Consultation, remaining: list[str], attribute: str, better: str
) -> dict[str, float]:
    """Each device's metric as a ratio to the best value (best = 1).

    Ratios rather than min-max scaling: half the cost scores twice as well whatever the most
    expensive candidate costs, so adding or removing an outlier does not reorder the others.
    A device without a value for the metric scores 0 on it.
    """
    values = {d: metric_value(consultation, d, attribute) for d in remaining}
    known = [v for v in values.values() if v is not None and v > 0]
    scores: dict[str, float] = {}
    if not known:
        return dict.fromkeys(values, 0.0)
    best = max(known) if better == "higher" else min(known)
    for device, value in values.items():
        if value is None:
            scores[device] = 0.0
        elif better == "higher":
            scores[device] = max(value, 0.0) / best
        else:
            scores[device] = best / value if value > 0 else 1.0
    return scores


class _Metrics:
    """The normalized metrics of one ranking, each worked out once when first asked for."""

    def __init__(self, consultation: Consultation, remaining: list[str], order: Order) -> None:
        self.consultation = consultation
        self.remaining = remaining
        self.order = order
        self._scores: dict[str, dict[str, float]] = {}
        self._known: dict[str, bool] = {}

    def scores(self, metric_name: str) -> dict[str, float]:
        if metric_name not in self._scores:
            metric = self.consultation.rulebase.metrics[metric_name]
            self._scores[metric_name] = normalized(
                self.consultation, self.remaining, metric.attribute, metric.better
            )
        return self._scores[metric_name]

    def known(self, metric_name: str) -> bool:
        if metric_name not in self._known:
            attribute = self.consultation.rulebase.metrics[metric_name].attribute
            self._known[metric_name] = any(
                metric_value(self.consultation, d, attribute) is not None for d in self.remaining
            )
        return self._known[metric_name]

    def measure(self, quality: str, preferred: list[str]) -> str | None:
        """The metric that measures a quality: the first of ``preferred``, then of the metrics
        the order table gives that quality, with a value for some remaining device."""
        same = [m for m in self.order.qualities if self.order.quality(m) == quality]
        for name in preferred + same:
            if name in self.consultation.rulebase.metrics and self.known(name):
                return name
        return None

    def one_per_quality(self, weights: dict[str, float]) -> dict[str, float]:
        """Weights with each quality counted once (its first metric that has values)."""
        chosen: dict[str, float] = {}
        seen: set[str] = set()
        for name in weights:
            quality = self.order.quality(name)
            if quality in seen:
                continue
            same = [m for m in weights if self.order.quality(m) == quality]
            pick = next((m for m in same if self.known(m)), None)
            seen.add(quality)
            if pick is not None:
                chosen[pick] = weights[pick]
        return chosen


def tie_break_weights(
    consultation: Consultation, metrics: _Metrics, priority: str, decided: set[str]
) -> dict[str, float]:
    """The tie-break weight of each quality (keyed by the metric that measures it): the largest
    ``order.tie_breaks`` weight that applies, plus, for each limit of the workload that holds,
    its largest ``emphasis`` weight on the quality. Qualities the priority weighs are left out."""
    order = metrics.order
    per_quality: dict[str, float] = {}
    preferred: dict[str, list[str]] = {}
    for tie in order.tie_breaks:
        if tie.priorities and priority not in tie.priorities:
            continue
        quality = order.quality(tie.metric)
        per_quality[quality] = max(per_quality.get(quality, 0.0), tie.weight)
        preferred.setdefault(quality, []).append(tie.metric)
    for fact_name, extra in consultation.rulebase.emphasis.items():
        if consultation.facts.get(fact_name) is not True:
            continue
        best: dict[str, float] = {}
        for metric_name, weight in extra.items():
            quality = order.quality(metric_name)
            best[quality] = max(best.get(quality, 0.0), weight)
            preferred.setdefault(quality, []).append(metric_name)
        for quality, weight in best.items():
            per_quality[quality] = per_quality.get(quality, 0.0) + weight
    weights: dict[str, float] = {}
    for quality, weight in per_quality.items():
        if quality in decided or weight <= 0:
            continue
        measured = metrics.measure(quality, preferred.get(quality, []))
        if measured is not None:
            weights[measured] = weight
    return weights


def _measured_quality(consultation: Consultation, order: Order, rule: Rule) -> str | None:
    """The quality a metric already measures that this preference rule rewards, if any."""
    if rule.id in order.measured_rules:
        return order.measured_rules[rule.id]
    claim = rule.prefer.claim if rule.prefer else None
    if claim is None:
        return None
    for name, metric in consultation.rulebase.metrics.items():
        if metric.attribute == claim.metric:
            return order.quality(name)
    return None


def rank(
    consultation: Consultation,
    remaining: list[str],
    points: dict[str, list[tuple[Rule, float]]],
    words: bool = True,
) -> tuple[list[Recommendation], list[Note]]:
    """The remaining devices best first, with their reasons and score parts, and the notes on
    preferences whose claims the numbers contradict (those preferences are not applied).
    ``words=False``: the same order, scores and costs, with no reasons, notes or comparisons
    worded (for the lever search's re-consultations)."""
    rb = consultation.rulebase
    order = rb.order if rb.order is not None else load_order(rb.directory)
    priority = str(consultation.answers.get("priority"))
    metrics = _Metrics(consultation, remaining, order)
    primary = metrics.one_per_quality(dict(rb.priorities.get(priority, {})))
    decided = {order.quality(name) for name in rb.priorities.get(priority, {})}
    ties = tie_break_weights(consultation, metrics, priority, decided)
    weighed = decided | {order.quality(name) for name in ties}
    notes: list[Note] = []
    parts: dict[str, dict[str, float]] = {d: {} for d in remaining}
    tie_scores: dict[str, float] = dict.fromkeys(remaining, 0.0)
    for metric_name, weight in primary.items():
        for device, score in metrics.scores(metric_name).items():
            parts[device][metric_name] = weight * score
    for metric_name, weight in ties.items():
        for device, score in metrics.scores(metric_name).items():
            parts[device][f"tie:{metric_name}"] = weight * score
            tie_scores[device] += weight * score
    reasons: dict[str, list[Reason]] = {d: [] for d in remaining}
    bests: dict[tuple[str, str], tuple[list[str], float] | None] = {}  # once per claim, not device
    for device in remaining:
        for rule, value in points.get(device, []):
            claim = rule.prefer.claim if rule.prefer else None
            if claim is not None:
                if (claim.metric, claim.best) not in bests:
                    bests[claim.metric, claim.best] = _best(
                        consultation, remaining, claim.metric, claim.best
                    )
                best = bests[claim.metric, claim.best]
                if best is not None and device not in best[0]:
                    if words:
                        notes.append(_contradiction(consultation, rule, device, claim.metric, best))
                    continue
            measured = _measured_quality(consultation, order, rule)
            counted = 0.0 if measured in weighed else value
            if counted:
                parts[device][f"rule:{rule.id}"] = counted
                tie_scores[device] += counted
            if not words:
                continue
            reasons[device].append(
                Reason(
                    rule=rule.id,
                    because=render(rule.because, consultation.lookup(device)),
                    sources=list(rule.sources),
                    points=counted,
                    kind="rule",
                )
            )
    recommendations = []
    for device in remaining:
        attrs = consultation.devices[device]
        score = sum(parts[device].get(name, 0.0) for name in primary)
        ranking_reasons = (
            [
                Reason(
                    rule=f"ranking:{priority}",
                    because=_metric_sentence(consultation, device, name, part),
                    sources=list(rb.ranking_sources),
                    points=round(part, 3),
                    kind="metric",
                )
                for name, part in sorted(parts[device].items(), key=lambda kv: -kv[1])
                if name in primary and part > 0
            ]
            if words
            else []
        )
        recommendations.append(
            Recommendation(
                device=device,
                name=rb.knowledge.devices[device].name,
                count=int(attrs["count"]),
                cost_usd=float(attrs["cost_usd"]),
                score=score,
                reasons=reasons[device] + ranking_reasons,
                contributions=parts[device],
                tie_break=tie_scores[device],
            )
        )
    ordered = order_by_priority(recommendations, order.within(priority))
    if ordered and words:
        first = ordered[0]
        for rec in ordered[1:]:  # worked out when read: most are never shown
            rec.versus_first = partial(compare, consultation, first, rec)
    return ordered, notes


def order_by_priority(recommendations: list[Recommendation], within: float) -> list[Recommendation]:
    """Best priority score first; devices within ``within`` (relative) of the best score of
    their band are near-tied and ordered by their tie-break score, then by cost and id."""
    by_score = sorted(recommendations, key=lambda r: (-r.score, -r.tie_break, r.cost_usd, r.device))
    ordered: list[Recommendation] = []
    i = 0
    while i < len(by_score):
        top = by_score[i].score
        gap = max(abs(top) * max(within, _EXACT), _EXACT)
        end = i + 1  # scores fall along by_score: the band is the run within the gap of its top
        while end < len(by_score) and top - by_score[end].score <= gap:
            end += 1
        band = by_score[i:end]
        band.sort(key=lambda r: (-r.tie_break, -r.score, r.cost_usd, r.device))
        ordered.extend(band)
        i += len(band)
    return ordered


# ---------------------------------------------------------------------------------------------
# Gains and losses against the first


def compare(
    consultation: Consultation,
    first: Recommendation,
    other: Recommendation,
    risks: dict[str, dict[str, int]] | None = None,
) -> Comparison:
    """What ``other`` gains and loses against ``first``: cost, speed, memory headroom, risk."""
    if risks is None:
        risks = _risks(consultation, [first.device, other.device])
    a = consultation.devices[first.device]
    b = consultation.devices[other.device]
    gains: list[str] = []
    loses: list[str] = []
    cost_a, cost_b = _number(a, "total_cost_usd"), _number(b, "total_cost_usd")
    if cost_a is not None and cost_b is not None and abs(cost_a - cost_b) >= 0.005:
        diff = cost_b - cost_a
        phrase = (
            f"${abs(diff):,.0f} {'cheaper' if diff < 0 else 'dearer'} "
            f"(${cost_b:,.0f} vs ${cost_a:,.0f})"
        )
        (gains if diff < 0 else loses).append(phrase)
    speed = _speed(a, b)
    if speed is not None:
        label, value_a, value_b, unit = speed
        if value_a > 0 and abs(value_b - value_a) / value_a >= 0.02:
            phrase = (
                f"{label} {_num(value_b)} vs {_num(value_a)} {unit} "
                f"({(value_b / value_a - 1):+.0%})"
            )
            (gains if value_b > value_a else loses).append(phrase)
    room_a, room_b = _headroom(a), _headroom(b)
    if room_a is not None and room_b is not None and abs(room_a[0] - room_b[0]) >= 0.01:
        phrase = f"memory headroom {room_b[1]} vs {room_a[1]}"
        (gains if room_b[0] > room_a[0] else loses).append(phrase)
    risk_a, risk_b = risks[first.device], risks[other.device]
    if risk_a != risk_b:
        phrase = f"risk: {_risk_text(risk_b)} vs {_risk_text(risk_a)}"
        (gains if sum(risk_b.values()) < sum(risk_a.values()) else loses).append(phrase)
    return Comparison(against=first.device, gains=tuple(gains), loses=tuple(loses))


def _number(attrs: dict[str, Any], name: str) -> float | None:
    value = attrs.get(name)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _speed(a: dict[str, Any], b: dict[str, Any]) -> tuple[str, float, float, str] | None:
    """The speed that matters to the buyer: the decode bound when the sizing gives one (served
    models), else the purchase's dense throughput at the workload's precision."""
    da, db = _number(a, "decode_tokens_s"), _number(b, "decode_tokens_s")
    if da is not None and db is not None:
        return "decode", da, db, "tokens/s"
    ta, tb = _number(a, "dense_tflops"), _number(b, "dense_tflops")
    if ta is not None and tb is not None:
        return (
            "dense throughput",
            ta * float(a.get("count", 1)),
            tb * float(b.get("count", 1)),
            "TFLOPS in total",
        )
    return None


def _headroom(attrs: dict[str, Any]) -> tuple[float, str] | None:
    """Free share of usable memory when the sizing gives one, else the memory bought."""
    used = _number(attrs, "memory_utilization")
    if used is not None:
        return 1.0 - used, f"{1.0 - used:.0%} free"
    memory = _number(attrs, "memory_gb")
    if memory is None:
        return None
    total = memory * float(attrs.get("count", 1))
    return total / 10000.0, f"{_num(total)} GB in total"


def _risks(consultation: Consultation, devices: list[str]) -> dict[str, dict[str, int]]:
    """Per device: its serious and caution warnings, and whether it lacks ECC."""
    counts: dict[str, dict[str, int]] = {d: {} for d in devices}
    for warning in consultation.warnings:
        mine = counts.get(warning.device or "")
        if mine is not None and warning.severity in ("serious", "caution"):
            mine[warning.severity] = mine.get(warning.severity, 0) + 1
    for device in devices:
        if not consultation.devices[device].get("ecc"):
            counts[device]["no ECC"] = 1
    return counts


def _risk_text(counts: dict[str, int]) -> str:
    if not counts:
        return "no warnings"
    parts = []
    for key in ("serious", "caution"):
        if counts.get(key):
            parts.append(f"{counts[key]} {key} warning{'s' if counts[key] > 1 else ''}")
    if counts.get("no ECC"):
        parts.append("no ECC")
    return ", ".join(parts)


# ---------------------------------------------------------------------------------------------
# Claims checked against the numbers


def _best(
    consultation: Consultation, remaining: list[str], attribute: str, best: str
) -> tuple[list[str], float] | None:
    values = {d: metric_value(consultation, d, attribute) for d in remaining}
    known = {d: v for d, v in values.items() if v is not None}
    if not known:
        return None
    target = max(known.values()) if best == "highest" else min(known.values())
    return [d for d, v in known.items() if v == target], target


def _contradiction(
    consultation: Consultation,
    rule: Rule,
    device: str,
    attribute: str,
    best: tuple[list[str], float],
) -> Note:
    kb = consultation.rulebase.knowledge
    mine = metric_value(consultation, device, attribute)
    winners = ", ".join(kb.devices[d].name for d in best[0])
    message = (
        f"{rule.id} prefers {kb.devices[device].name} for the best {attribute} "
        f"({', '.join(rule.sources)}), but the knowledge base gives {winners} "
        f"{_num(best[1])} against {_num(mine)}; the ranking follows the numbers and the "
        f"preference is not applied."
    )
    sources = list(rule.sources) + [
        s for d in best[0] for s in _fact_sources(consultation, d, attribute)
    ]
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
    return (
        f"{metric.description}: {_num(value)} ({metric.better} is better) "
        f"adds {part:.2f} to the score"
    )
