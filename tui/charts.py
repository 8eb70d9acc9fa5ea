"""What the pictures show, computed from a consultation or a plan (no Textual here).

Three pictures: memory need per GPU against each device's memory, what one unit of the
workload's bottleneck costs on each device, and a plan's per-dollar and per-watt figures. Each
builder returns plain :class:`Bar` rows and a title, so the charts can be checked in tests
without a terminal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gpu_advisor.arithmetic.sizing import usable_memory_gb
from gpu_advisor.formatting import money, number

if TYPE_CHECKING:
    from gpu_advisor.arithmetic.plan import DevicePlan
    from gpu_advisor.core.results import Consultation


@dataclass(frozen=True)
class Bar:
    """One row of a chart: a label, a value on the chart's scale, and what to print after it."""

    label: str
    value: float
    text: str
    variant: str = "primary"
    limit: float | None = None


def _short(consultation: Consultation, device_id: str) -> str:
    device = consultation.rulebase.knowledge.devices.get(device_id)
    return device.short_name if device is not None else device_id


def _ordered(consultation: Consultation) -> list[str]:
    """Recommended devices in rank order, then the excluded ones."""
    ranked = [r.device for r in consultation.recommendations]
    return ranked + [d for d in consultation.devices if d not in ranked]


def memory_bars(consultation: Consultation) -> tuple[str, list[Bar]]:
    """Memory each GPU must hold against each device's memory (overflow drawn in red)."""
    estimate = consultation.arithmetic.estimate
    if estimate is None:
        return "Memory: no sizing for this workload", []
    bars = []
    for device_id in _ordered(consultation):
        attrs = consultation.devices[device_id]
        need, stated = attrs.get("memory_per_gpu_gb"), attrs.get("memory_gb")
        if need is None or stated is None:
            continue
        capacity = round(usable_memory_gb(float(stated)), 1)  # what the fit test compares with
        gpus = attrs.get("gpus_needed")
        excluded = device_id in consultation.all_exclusions
        if gpus is None:
            text = f"{number(need, 1)} of {number(capacity, 1)} GB ✗ no fit"
            variant = "bad"
        elif excluded:  # it holds the need, but a rule left it out: never drawn as fitting
            rule = consultation.all_exclusions[device_id][0].rule
            text = f"{number(need, 1)} of {number(capacity, 1)} GB, excluded: {rule}"
            variant = "muted"
        else:
            text = f"{number(need, 1)} of {number(capacity, 1)} GB × {gpus}"
            variant = "ok"
        bars.append(
            Bar(_short(consultation, device_id), float(need), text, variant, float(capacity))
        )
    # usable: 95% of the stated memory, which is binary GB (sizing.usable_memory_gb); the
    # title stays within the results panel
    title = f"Memory per GPU against usable memory ({estimate.total_gb:,.1f} GB on one GPU)"
    return title, bars


def _bottleneck(consultation: Consultation) -> tuple[str, str, Any]:
    """The figure the workload needs most, as (title, unit, function of device attributes)."""
    answers = consultation.answers
    workload = answers.get("workload")
    precision = answers.get("precision")

    def memory(attrs: dict[str, Any]) -> float | None:
        return attrs.get("memory_gb", 0) * attrs.get("count", 0) or None

    if workload == "inference" and answers.get("serving") == "interactive":
        return (
            "Cost per token/s of single-stream decode (lower is better)",
            "token/s",
            lambda a: a.get("decode_tokens_s"),
        )
    if workload == "inference":
        return "Cost per GB of memory bought (lower is better)", "GB", memory
    if workload in ("pretraining", "fine-tuning"):
        label = str(precision).upper() if isinstance(precision, str) else "tensor"
        return (
            f"Cost per dense {label} TFLOPS bought (lower is better)",
            "TFLOPS",
            lambda a: (a.get("dense_tflops") or 0) * a.get("count", 0) or None,
        )
    if answers.get("scientific_profile") == "fp32-throughput":
        return (
            "Cost per FP32 TFLOPS bought (lower is better)",
            "TFLOPS",
            lambda a: a.get("aggregate_fp32_tflops"),
        )
    return "Cost per GB of memory bought (lower is better)", "GB", memory


def count_bars(consultation: Consultation) -> tuple[str, list[Bar]]:
    """What sets the count of the first recommendation: the GPUs one copy of the model needs
    (memory) against the GPUs the demand needs (users and speed, token rate, deadline)."""
    from gpu_advisor.present.how_many import SET_BY_WORDS

    if not consultation.recommendations:
        return "How many: nothing is recommended", []
    rec = consultation.recommendations[0]
    attrs = consultation.devices[rec.device]
    if rec.device not in consultation.arithmetic.counts:
        return f"How many: {rec.count} × {_short(consultation, rec.device)}", []
    set_by = str(attrs.get("count_set_by"))
    memory = int(attrs.get("gpus_needed") or 1)
    demand_label = {
        "kv_cache": "users' KV cache",
        "throughput": "users at speed",
        "deadline": "deadline",
        "budget": "budget",
    }.get(set_by, "demand")
    bars = [
        Bar(
            "memory",
            float(memory),
            f"{memory} GPU{'s hold' if memory != 1 else ' holds'} one copy",
            "accent" if set_by in ("memory", "minimum") else "muted",
        ),
        Bar(
            demand_label,
            float(rec.count),
            f"{rec.count} GPU{'s' if rec.count != 1 else ''} bought",
            "muted" if set_by in ("memory", "minimum") else "accent",
        ),
    ]
    title = f"How many {_short(consultation, rec.device)}: {SET_BY_WORDS.get(set_by, set_by)}"
    return title, bars


def cost_bars(consultation: Consultation) -> tuple[str, list[Bar]]:
    """What one unit of the workload's bottleneck costs on each recommended device."""
    title, unit, measure = _bottleneck(consultation)
    bars = []
    for rec in consultation.recommendations:
        attrs = consultation.devices[rec.device]
        amount = measure(attrs)
        cost = attrs.get("total_cost_usd") or rec.cost_usd
        if not amount or not cost:
            continue
        per = float(cost) / float(amount)
        bars.append(
            Bar(
                _short(consultation, rec.device),
                per,
                f"{money(round(per, 2))} per {unit}",
                "accent",
            )
        )
    if bars:
        best = min(b.value for b in bars)
        bars = [Bar(b.label, b.value, b.text, "ok" if b.value == best else "accent") for b in bars]
    return title, bars


def score_bars(parts: dict[str, float]) -> list[Bar]:
    """A recommendation's score, part by part (rules' points and the ranking's weights)."""
    bars = []
    for name, value in sorted(parts.items(), key=lambda item: -item[1]):
        label = name.removeprefix("rule:")
        bars.append(Bar(label, max(0.0, value), f"{value:+.2f}", "ok" if value >= 0 else "bad"))
    return bars


PLAN_METRICS: dict[str, tuple[str, str]] = {
    "dense_ai_per_usd": ("Dense AI PFLOP/s per $1M (typed: compare like with like)", "PFLOP/s"),
    "fp32_per_usd": ("FP32 TFLOP/s per $1k", "TFLOP/s"),
    "gb_per_usd": ("Memory GB per $1k", "GB"),
    "gbs_per_w": ("Memory bandwidth GB/s per W", "GB/s"),
}
"""The plan's per-dollar and per-watt pictures: id -> (title, unit)."""


def plan_bars(plans: Sequence[DevicePlan], metric: str) -> tuple[str, list[Bar]]:
    """One of the plan's per-unit figures for every row; AI peaks keep their precision label."""
    title, _unit = PLAN_METRICS[metric]
    bars: list[Bar] = []
    for row in plans:
        device, per = row.device, row.per_unit
        price = float(device.price_usd)
        value: float | None
        if metric == "dense_ai_per_usd":
            peak = device.ai_peak.dense() if device.ai_peak else None
            value = (
                None if per.ai_dense_pflops_per_usd is None else per.ai_dense_pflops_per_usd * 1e6
            )
            text = "—" if value is None or peak is None else f"{value:,.2f} ({peak.label})"
        elif metric == "fp32_per_usd":
            value = None if device.fp32_tflops is None else device.fp32_tflops / price * 1e3
            text = "—" if value is None else f"{value:,.2f}"
        elif metric == "gb_per_usd":
            value = per.gb_per_usd * 1e3
            text = f"{value:,.2f}"
        else:
            value = per.gbs_per_w
            text = f"{value:,.2f}"
        bars.append(Bar(device.name, value or 0.0, text, "primary" if value else "muted"))
    finite = [b.value for b in bars if b.value > 0]
    if finite:
        best = max(finite)
        bars = [Bar(b.label, b.value, b.text, "ok" if b.value == best else b.variant) for b in bars]
    return title, bars
