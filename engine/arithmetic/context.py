"""Turn answers into the numbers rules reason about: memory need, units, cost, throughput.

Rules never hard-code thresholds such as "70B does not fit 96 GB": they compare a device's
capacity with the need computed here by the sizing model, and this module records how each
number was obtained so that explanations can show the arithmetic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from gpu_advisor.knowledge.answers import Answers
from gpu_advisor.knowledge.energy import EnergyKnobs
from gpu_advisor.knowledge.kb import Device
from gpu_advisor.lang.conditions import MISSING

SIZED_WORKLOADS = ("pretraining", "fine-tuning", "inference")
ARITHMETIC_ANSWERS = ("workload", "model_params_b", "method", "precision", "context_tokens", "batch_size",
                      "max_gpus", "parallelism", "budget_usd", "purchase", "off_grid", "off_grid_hours",
                      "site_power_kw")
"""Every answer the arithmetic reads, the one list of them: device facts depend on these (and the
candidates) only, so explanations (``why``), the consultation cache and the audit use it."""
POOLED = ("tensor", "pipeline")


@dataclass
class Arithmetic:
    """The computed facts of one consultation and the sizing estimate behind them."""

    facts: dict[str, Any] = field(default_factory=dict)
    estimate: Any = None  # sizing.Estimate of the whole workload on one GPU, when sized
    request: Any = None
    notes: list[str] = field(default_factory=list)


def sizing_request(answers: Answers) -> Any:
    """The sizing model's request for these answers, or None when the workload is not sized."""
    from gpu_advisor.arithmetic import sizing

    workload = answers.get("workload")
    params = answers.get("model_params_b")
    if workload not in SIZED_WORKLOADS or params is MISSING:
        return None
    method = answers.get("method")
    precision = answers.get("precision")
    if method == "qlora":
        precision = "nf4"
    parallelism = answers.get("parallelism")
    zero = 3 if (workload != "inference" and parallelism in POOLED) else 0
    return sizing.SizingRequest(
        workload=str(workload),
        params_b=float(params),
        method=None if method is MISSING or workload != "fine-tuning" else str(method),
        precision="bf16" if precision is MISSING else str(precision),
        context_tokens=int(answers.get("context_tokens")) if answers.get("context_tokens") is not MISSING else 4096,
        batch_size=int(answers.get("batch_size")) if answers.get("batch_size") is not MISSING else 1,
        gpus=1,
        zero_stage=zero,
    )


def context_arithmetic(answers: Answers) -> Arithmetic:
    """Computed context facts (memory need of the whole workload)."""
    from gpu_advisor.arithmetic import sizing

    result = Arithmetic()
    request = sizing_request(answers)
    if request is None:
        return result
    estimate = sizing.estimate(request)
    result.request = request
    result.estimate = estimate
    result.facts["memory_need_gb"] = round(estimate.total_gb, 2)
    weights = next((item.gb for item in estimate.breakdown if item.item == "weights"), None)
    if weights is not None:
        result.facts["weights_gb"] = round(weights, 2)
    return result


def max_gpus(answers: Answers) -> int:
    value = answers.get("max_gpus")
    return 1 if value is MISSING else int(value)


def pooled(answers: Answers) -> bool:
    return max_gpus(answers) > 1 and answers.get("parallelism") in POOLED


def device_attributes(device: Device, answers: Answers, arithmetic: Arithmetic,
                      kb_dir: Path | None = None) -> dict[str, Any]:
    """The flat facts rules see for one device in one consultation (see vocabulary.py)."""
    from gpu_advisor.arithmetic import sizing

    # Every knowledge-base attribute (kb.KB_FACTS / KB_DERIVED), generically: a new fact in the
    # device files reaches the rules without a line here. memory_gb is the GPU-usable memory
    # (for unified-memory devices, usable_memory_gb: see Device.attribute).
    attrs: dict[str, Any] = device.attributes()
    fp32 = device.throughput("fp32", sparse=False)

    limit = max_gpus(answers)
    request = arithmetic.request
    memory = float(attrs["memory_gb"])
    if request is None:
        needed: int | None = 1
        per_gpu = None
    elif pooled(answers):
        needed = sizing.gpus_needed(request, memory, max_gpus=limit)
        per_gpu = sizing.estimate(replace(request, gpus=needed or limit)).per_gpu_gb
    else:  # one model per GPU: replicas (data parallel) or a single card
        one = arithmetic.estimate  # the whole workload on one GPU: computed once per consultation
        needed = 1 if one.per_gpu_gb <= sizing.usable_memory_gb(memory) else None
        per_gpu = one.per_gpu_gb
    attrs["gpus_needed"] = needed
    attrs["fits"] = needed is not None
    attrs["memory_per_gpu_gb"] = None if per_gpu is None else round(per_gpu, 2)
    attrs["memory_utilization"] = (None if per_gpu is None
                                   else round(per_gpu / sizing.usable_memory_gb(memory), 3))

    count = needed or 1
    if answers.get("parallelism") == "data":
        count = max(count, limit)
    price = float(device.value("price_usd"))
    budget = answers.get("budget_usd")
    if answers.get("purchase") == "fill-budget" and budget is not MISSING and price > 0:
        count = max(count, math.floor(float(budget) / price + 1e-9))
    attrs["count"] = count
    attrs["cost_usd"] = round(count * price, 2)
    per_node = int(device.value("units_per_node") or 1)
    attrs["nodes"] = max(1, math.ceil(count / per_node))
    attrs["total_power_w"] = count * float(device.value("power_w"))
    attrs["aggregate_fp32_tflops"] = round(count * fp32.tflops, 1) if fp32 else None
    group = needed or 1
    if group <= 1:
        scope = "none"
    elif device.value("nvlink") and group <= int(device.value("nvlink_max_gpus") or 1):
        scope = "nvlink"
    elif group <= per_node:
        scope = "pcie"
    else:
        scope = "network"
    attrs["pool_scope"] = scope

    precision = workload_precision(answers)
    dense = device.dense_throughput_for(precision) if precision != "fp32" else fp32
    attrs["dense_tflops"] = dense.tflops if dense else None
    if kb_dir is not None:
        box_and_energy(device, answers, attrs, kb_dir)
    weights = arithmetic.facts.get("weights_gb")
    if answers.get("workload") == "inference" and weights:
        attrs["decode_tokens_s"] = round(group * float(device.value("bandwidth_gbs")) / float(weights), 1)
    return attrs


@lru_cache(maxsize=8)
def _energy_knobs(kb_dir: str) -> EnergyKnobs:
    from gpu_advisor.knowledge.catalogs import load_energy

    return load_energy(Path(kb_dir))


ENERGY_SCENARIO = "engineering"
"""The paper's planning baseline (host overhead, PUE 1.2, 90% efficiency and depth of discharge)."""


def box_and_energy(device: Device, answers: Answers, attrs: dict[str, Any], kb_dir: Path) -> None:
    """PSU and circuits for one box; off-grid: facility power and batteries for the purchase."""
    from gpu_advisor.arithmetic.power import box_facts_for_device

    count = int(attrs["count"])
    box_units = min(count, int(attrs["units_per_node"] or 1))
    attrs["box_units"] = box_units
    if attrs["setting"] != "appliance":
        box = box_facts_for_device(device, box_units)
        attrs["psu_w"] = box["psu_w_needed"]
        attrs["box_circuits_120v"] = box["circuits_120v"]
    attrs["total_cost_usd"] = attrs["cost_usd"]
    off_grid = answers.get("off_grid") is True
    if not off_grid and answers.get("site_power_kw") is MISSING:
        return  # facility power is only needed for a power-limited or off-grid site
    from gpu_advisor.arithmetic.plan import device_from_kb, scenario_energy

    knobs = _energy_knobs(str(kb_dir))
    hours = answers.get("off_grid_hours")
    if hours is not MISSING:
        knobs = replace(knobs, hours=float(hours))
    plan_device = device_from_kb(device)
    spent = plan_device.price_usd * count
    result = scenario_energy(plan_device, count, knobs.scenario(ENERGY_SCENARIO), knobs, spent, spent)
    attrs["facility_kw"] = round(result.facility_kw, 2)
    if not off_grid:
        return
    attrs["battery_kwh"] = round(result.battery_kwh, 1)
    attrs["batteries"] = max(result.powerwalls, result.powerwalls_for_power)
    attrs["total_cost_usd"] = round(attrs["cost_usd"] + attrs["batteries"] * float(knobs.battery.price_usd), 2)


def workload_precision(answers: Answers) -> str:
    """The precision throughput comparisons use: what the workload computes in."""
    if answers.get("workload") == "scientific":
        return "fp32"
    precision = answers.get("precision")
    if answers.get("method") == "qlora":
        return "bf16"  # QLoRA stores the base in NF4 but computes in bf16
    return "bf16" if precision is MISSING else str(precision)
