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
from typing import TYPE_CHECKING, Any

from gpu_advisor.arithmetic import sizing
from gpu_advisor.arithmetic.counting import (
    count_on,
    peer_to_peer,
    tensor_parallel_degrees,
    training_mfu,
)
from gpu_advisor.arithmetic.power import box_facts_for_device
from gpu_advisor.arithmetic.purchase import (
    TrainingExchange,
    box_gpus,
    buy,
    most_affordable,
    purchase_unit,
)
from gpu_advisor.knowledge.answers import Answers
from gpu_advisor.knowledge.kb import Device
from gpu_advisor.lang.conditions import MISSING

if TYPE_CHECKING:
    from gpu_advisor.knowledge.energy import EnergyKnobs  # decimal and more: off-grid only

SIZED_WORKLOADS = ("pretraining", "fine-tuning", "inference")
ARITHMETIC_ANSWERS = (
    "workload",
    "model",
    "model_params_b",
    "method",
    "precision",
    "kv_precision",
    "context_tokens",
    "batch_size",
    "serving",
    "concurrent_users",
    "average_context_tokens",
    "tokens_per_s_per_user",
    "tokens_per_day",
    "train_tokens_b",
    "epochs",
    "deadline_days",
    "mfu",
    "max_gpus",
    "parallelism",
    "budget_usd",
    "purchase",
    "off_grid",
    "off_grid_hours",
    "site_power_kw",
    "site",
)
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
    demand: Any = None  # counting.Demand: what the purchase must deliver
    defaults: Any = None  # knowledge.demand.DemandDefaults in force
    counts: dict[str, Any] = field(default_factory=dict)  # device id -> demand.Count
    estimates: dict[Any, Any] = field(default_factory=dict, repr=False)
    per_gpu: dict[int, float] = field(default_factory=dict, repr=False)
    """Sizing estimates by request: each distinct one is computed once per consultation, so
    the work per device is only what depends on the device."""

    def per_gpu_gb(self, group: int) -> float:
        """Memory per GPU of one copy of the workload split over ``group`` GPUs (for serving,
        with one sequence: the users' KV cache is the demand's business)."""
        found = self.per_gpu.get(group)
        if found is None:
            request = self.request
            split = (
                replace(request, gpus=group, batch_size=1)
                if request.workload == "inference"
                else replace(request, gpus=group)
            )
            found = self.per_gpu[group] = self.estimate_for(split).per_gpu_gb
        return float(found)

    def estimate_for(self, request: Any) -> Any:
        found = self.estimates.get(request)
        if found is None:
            found = self.estimates[request] = sizing.estimate(request)
        return found

    mfu_defaults: dict[str, str] = field(default_factory=dict)  # device id -> MFU default used
    systems: Any = None  # knowledge.systems.Systems: hosts, networks, site limits
    purchases: dict[str, Any] = field(default_factory=dict)  # device id -> purchase.Purchase


def sizing_request(answers: Answers, kb_dir: Path | None = None) -> Any:
    """The sizing model's request for these answers, or None when the workload is not sized.

    Interactive inference is sized for every concurrent user at the context each holds (the
    average when given, else the longest): the KV cache of all users is part of the need.
    """
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
    context = _given(answers, "context_tokens", 4096)
    batch = _given(answers, "batch_size", 1)
    kv_precision = answers.get("kv_precision")
    if workload == "inference":
        context = _given(answers, "average_context_tokens", context)
        if answers.get("serving") != "batch":
            batch = _given(answers, "concurrent_users", 1)
    model = answers.get("model")
    arch = None
    if model is not MISSING:
        from gpu_advisor.knowledge.catalogs import kb_file, load_model_catalog

        catalog = load_model_catalog(kb_file("models.yaml", kb_dir))
        if str(model) in catalog:
            arch = catalog[str(model)]
        else:  # the model's own files (config.json, folder, .gguf): their shape and count win
            from gpu_advisor.arithmetic.model_memory import file_model
            from gpu_advisor.knowledge.model_files import read_model_cached

            arch = file_model(read_model_cached(str(model)))
            params = arch.params_b
    return sizing.SizingRequest(
        workload=str(workload),
        params_b=float(params),
        model=arch,
        method=None if method is MISSING or workload != "fine-tuning" else str(method),
        precision="bf16" if precision is MISSING else str(precision),
        context_tokens=context,
        batch_size=batch,
        gpus=1,
        zero_stage=zero,
        kv_precision=None
        if kv_precision is MISSING or workload != "inference"
        else str(kv_precision),
    )


def _given(answers: Answers, key: str, default: int) -> int:
    value = answers.get(key)
    return default if value is MISSING else int(value)


def context_arithmetic(
    answers: Answers, kb_dir: Path | None = None, defaults: Any = None, systems: Any = None
) -> Arithmetic:
    """Computed context facts: the memory need of the whole workload (every user's KV cache
    included) and the demand the count is sized for (users and speed, tokens, FLOPs)."""
    from gpu_advisor.arithmetic.counting import Demand, demand_of

    if systems is None:
        from gpu_advisor.knowledge.systems import load_systems

        systems = load_systems(kb_dir)
    if defaults is None:
        from gpu_advisor.knowledge.catalogs import load_demand_defaults  # pydantic: not when cached

        defaults = load_demand_defaults(kb_dir)
    result = Arithmetic(demand=Demand("none"), systems=systems, defaults=defaults)
    site = answers.get("site")
    if site is not MISSING and str(site) in systems.max_node_kw:
        result.facts["site_max_node_kw"] = systems.max_node_kw[str(site)]
    request = sizing_request(answers, kb_dir)
    if request is None:
        return result
    estimate = result.estimate_for(request)
    result.request = request
    result.estimate = estimate
    result.facts["memory_need_gb"] = round(estimate.total_gb, 2)
    weights = next((item.gb for item in estimate.breakdown if item.item == "weights"), None)
    if weights is not None:
        result.facts["weights_gb"] = round(weights, 2)
    kv_cache = estimate.item("kv_cache")
    if request.workload == "inference" and kv_cache is not None:
        result.facts["kv_cache_all_users_gb"] = round(kv_cache.gb, 2)
    arch = request.model or sizing.architecture_from_params(request.params_b)
    one = (
        result.estimate_for(replace(request, batch_size=1))
        if request.workload == "inference"
        else None
    )
    result.demand = demand_of(answers, one, arch, result.defaults)
    if result.demand.training is not None:
        result.facts["training_flops"] = float(f"{result.demand.training.flops:.6g}")
        result.facts["training_tokens_b"] = round(result.demand.training.tokens_b, 6)
    return result


def device_attributes(
    device: Device, answers: Answers, arithmetic: Arithmetic, kb_dir: Path | None = None
) -> dict[str, Any]:
    """The flat facts rules see for one device in one consultation (see vocabulary.py)."""
    return completed_attributes(
        device, answers, arithmetic, counted_attributes(device, answers, arithmetic), kb_dir
    )


@dataclass
class Counted:
    """A device's facts up to its count, before its purchase: what the lever search's
    re-consultations need to rule out a device that cannot hold or serve the workload (most of
    the devices they try), without pricing its purchase."""

    attrs: dict[str, Any]
    count: int
    box: int
    unit: str
    per_unit: int
    precision: str
    recounted: bool  # the purchase may count again (a training run with a budget)

    def with_attrs(self, attrs: dict[str, Any], recounted: bool | None = None) -> Counted:
        return Counted(
            attrs,
            self.count,
            self.box,
            self.unit,
            self.per_unit,
            self.precision,
            self.recounted if recounted is None else recounted,
        )

    def settles(self, names: frozenset[str]) -> bool:
        """Whether the rest of the computation leaves these attributes as they are: set here,
        not what the purchase may set (``count_set_by``), and, when it may count again for what
        the budget buys, nothing the count says but what it says of memory."""
        return (
            names <= self.attrs.keys()
            and "count_set_by" not in names
            and not (self.recounted and not names.isdisjoint(RECOUNTED_ATTRIBUTES))
        )


COUNT_ATTRIBUTES = frozenset(
    (
        "meets_demand",
        "demand_shortfall",
        "count_set_by",
        "tensor_parallel",
        "replicas",
        "tokens_per_s",
        "tokens_per_s_per_user",
        "users_served",
        "train_days",
        "deadline_missed",
        "gpus_demanded",
        "gpus_needed",
        "fits",
        "memory_per_gpu_gb",
        "memory_utilization",
    )
)
"""The attributes a count sets (``_count``)."""

RECOUNTED_ATTRIBUTES = COUNT_ATTRIBUTES - {
    "gpus_needed",
    "fits",
    "memory_per_gpu_gb",
    "memory_utilization",
}
"""What a count for what the budget buys may change: all it says but what it says of memory."""


def counted_attributes(device: Device, answers: Answers, arithmetic: Arithmetic) -> Counted:
    """The first part of ``device_attributes``: the knowledge base's attributes, whether a box
    at the site takes the device, and the demand's count on it."""
    # Every knowledge-base attribute (kb.KB_FACTS / KB_DERIVED), generically: a new fact in the
    # device files reaches the rules without a line here. memory_gb is the GPU-usable memory
    # (for unified-memory devices, usable_memory_gb: see Device.attribute).
    attrs: dict[str, Any] = device.attributes()
    precision = workload_precision(answers)
    unit, per_unit = purchase_unit(device)
    box = box_gpus(device, _site(answers), arithmetic.systems)
    attrs["housable"] = box > 0
    count = _count(device, answers, arithmetic, precision, attrs, box or None, per_unit, None)
    return Counted(attrs, count, box, unit, per_unit, precision, may_recount(answers, box))


UNPRICED = ("budget_usd", "purchase", "off_grid", "off_grid_hours", "site_power_kw")
"""Answers a device's first part (``counted_attributes``) does not read: they price it. Only
whether a budget is given matters to it (``Counted.recounted``), which the caller sets."""


def may_recount(answers: Answers, box: int) -> bool:
    """Whether ``completed_attributes`` may count again: a training run with a budget."""
    return (
        box > 0
        and answers.get("budget_usd") is not MISSING
        and answers.get("workload") in ("pretraining", "fine-tuning")
    )


def completed_attributes(
    device: Device,
    answers: Answers,
    arithmetic: Arithmetic,
    counted: Counted,
    kb_dir: Path | None = None,
) -> dict[str, Any]:
    """The rest of ``device_attributes`` from its first part (whose attributes it completes in
    place): the purchase, the network, power and energy."""
    attrs, count, box = counted.attrs, counted.count, counted.box
    unit, per_unit, precision = counted.unit, counted.per_unit, counted.precision
    fp32 = device.throughput("fp32", sparse=False)
    site = _site(answers)
    systems = arithmetic.systems
    training = answers.get("workload") in ("pretraining", "fine-tuning")
    # after the count: what crosses the network depends on how many GPUs hold the state
    need = _network_need(device, answers, arithmetic, precision)
    budget = answers.get("budget_usd")
    if budget is not MISSING and box > 0:
        # What the budget buys (boxes and network included) matters when the budget is to be
        # filled, or when a training run's count costs more than the budget: then the run gets
        # what the budget buys, and takes longer.
        fill = answers.get("purchase") == "fill-budget"
        over = may_recount(answers, box) and (
            _purchase_cost(device, count, site, systems, attrs, need) > float(budget)
        )
        if fill or over:
            affordable = most_affordable(device, float(budget), site, systems, network_need=need)
            if over:
                count = _count(
                    device, answers, arithmetic, precision, attrs, box or None, per_unit, affordable
                )
            if fill and affordable > count:
                count = affordable
                attrs["count_set_by"] = "budget"
    degrees = tensor_parallel_degrees(device, arithmetic.defaults, box or None)
    attrs["peer_to_peer"] = peer_to_peer(device)
    attrs["tensor_parallel_max"] = degrees[-1]
    needed = attrs["gpus_needed"]
    attrs["tensor_parallel_blocked"] = bool(
        answers.get("parallelism") == "tensor"
        and answers.get("workload") in ("pretraining", "fine-tuning")
        and (needed or 1) > 1
        and degrees[-1] == 1
    )
    bought = _bought(device, count, site, systems, attrs, need if training else None)
    if bought is not None:
        arithmetic.purchases[device.id] = bought
    _purchase_attributes(device, attrs, bought, count, unit, per_unit, arithmetic)
    count = int(attrs["count"])
    attrs["aggregate_fp32_tflops"] = round(count * fp32.tflops, 1) if fp32 else None
    group = needed or 1
    if group <= 1:
        scope = "none"
    elif device.value("nvlink") and group <= int(device.value("nvlink_max_gpus") or 1):
        scope = "nvlink"
    elif group <= int(attrs["gpus_per_node"]):
        scope = "pcie"
    else:
        scope = "network"
    attrs["pool_scope"] = scope

    dense = device.dense_throughput_for(precision) if precision != "fp32" else fp32
    attrs["dense_tflops"] = dense.tflops if dense else None
    if kb_dir is not None:
        box_and_energy(device, answers, attrs, kb_dir)
    weights = arithmetic.facts.get("weights_gb")
    if answers.get("workload") == "inference" and weights:
        # One stream reads, per token, the weights a step of one sequence reads: all of a dense
        # model's, a mixture's dense part and k/E of its experts (ServedModel.read_gb), in GB to
        # two decimals as the weights_gb fact.
        served = arithmetic.demand.served if arithmetic.demand is not None else None
        read_gb = round(served.read_gb(1), 2) if served is not None else float(weights)
        if read_gb > 0:
            bandwidth = float(device.value("bandwidth_gbs"))
            attrs["decode_tokens_s"] = round(group * bandwidth / read_gb, 1)
    return attrs


def _bought(
    device: Device,
    count: int,
    site: str,
    systems: Any,
    attrs: dict[str, Any],
    need: Any,
    explain: bool = True,
) -> Any:
    """The purchase of ``count`` GPUs, tensor-parallel groups kept within a box."""
    group = int(attrs["tensor_parallel"] or 1)
    return buy(device, count, site, systems, group=group, network_need=need, explain=explain)


def _purchase_cost(
    device: Device, count: int, site: str, systems: Any, attrs: dict[str, Any], need: Any
) -> float:
    # worded: the purchase that follows is usually this one, and then it is remembered
    bought = _bought(device, count, site, systems, attrs, need)
    return 0.0 if bought is None else float(bought.cost_usd)


def _site(answers: Answers) -> str:
    site = answers.get("site")
    return "server-room" if site is MISSING else str(site)


def _purchase_attributes(
    device: Device,
    attrs: dict[str, Any],
    bought: Any,
    count: int,
    unit: str,
    per_unit: int,
    arithmetic: Arithmetic,
) -> None:
    """What is bought, as rules see it: units, boxes, network, cost by part, power by box."""
    price = float(device.value("price_usd"))
    if bought is None:  # no box we know takes it at this site: priced as loose GPUs
        per_node = int(device.value("units_per_node") or 1)
        attrs.update(
            count=count,
            units=math.ceil(count / per_unit),
            gpus_per_unit=per_unit,
            host=None,
            host_kind=None,
            hosts=0,
            gpus_per_node=per_node,
            nodes=max(1, math.ceil(count / per_node)),
            network="none",
            network_gbs_per_gpu=None,
            network_gbs_needed=None,
            network_short=False,
            gpu_cost_usd=round(count * price, 2),
            host_cost_usd=0.0,
            network_cost_usd=0.0,
            node_power_kw=None,
            total_power_w=count * float(device.value("power_w")),
        )
    else:
        if bought.gpus > count and attrs.get("count_set_by") != "budget":
            attrs["count_set_by"] = "purchase_unit"
        attrs.update(bought.rule_attributes)
    attrs["battery_cost_usd"] = 0.0
    attrs["hardware_cost_usd"] = round(
        attrs["gpu_cost_usd"] + attrs["host_cost_usd"] + attrs["network_cost_usd"], 2
    )
    attrs["cost_usd"] = attrs["hardware_cost_usd"]
    attrs["total_cost_usd"] = attrs["cost_usd"]
    limit = arithmetic.facts.get("site_max_node_kw")
    attrs["node_over_site"] = bool(
        limit is not None and attrs["node_power_kw"] is not None and attrs["node_power_kw"] > limit
    )
    attrs["box_units"] = min(int(attrs["count"]), int(attrs["gpus_per_node"]))


def _network_need(device: Device, answers: Answers, arithmetic: Arithmetic, precision: str) -> Any:
    """For training: the network need of the job as a function of (GPUs, GPUs per box)."""
    demand = arithmetic.demand
    defaults = arithmetic.defaults
    if demand is None or demand.training is None or defaults is None:
        return None
    dense = device.dense_throughput_for(precision)
    if dense is None:
        return None
    run = demand.training
    mfu = run.mfu if demand.training_mfu_given else training_mfu(device, True, defaults)[0]
    method = answers.get("method") if answers.get("workload") == "fine-tuning" else "full"
    step_tokens = defaults[
        "step_tokens_pretraining"
        if answers.get("workload") == "pretraining"
        else "step_tokens_finetune"
    ]
    micro_tokens = float(_given(answers, "batch_size", 1) * _given(answers, "context_tokens", 4096))

    held = arithmetic.counts.get(device.id)
    return TrainingExchange(
        dense_tflops=float(dense.tflops),
        mfu=mfu,
        flops_per_param_token=run.flops_per_param_token,
        gradient_bytes=defaults["gradient_bytes"],
        step_tokens=step_tokens,
        micro_tokens=micro_tokens,
        memory_gpus=held.memory_gpus if held is not None and held.memory_gpus else 1,
        frozen=method in ("lora", "qlora"),
    )


SCALE_FACTS = ("fewest_gpus", "fewest_tensor_parallel")
"""The context facts worked out over the candidate devices (the only facts that depend on which
devices are candidates)."""


def scale_facts(arithmetic: Arithmetic, devices: dict[str, dict[str, Any]]) -> None:
    """Context facts about the scale of the job, over the candidate devices that meet the demand:
    the fewest GPUs any of them needs and the smallest tensor-parallel group it serves with."""
    meeting = [
        attrs for attrs in devices.values() if attrs.get("fits") and attrs.get("meets_demand")
    ]
    for name in SCALE_FACTS:
        arithmetic.facts.pop(name, None)
    if arithmetic.request is None or not meeting:
        return
    # The scale of the job is what the demand needs, before whole purchase units round it up.
    arithmetic.facts["fewest_gpus"] = min(
        int(attrs.get("gpus_demanded") or attrs["count"]) for attrs in meeting
    )
    if arithmetic.request.workload == "inference":
        arithmetic.facts["fewest_tensor_parallel"] = min(
            int(attrs["tensor_parallel"]) for attrs in meeting
        )


def _count(
    device: Device,
    answers: Answers,
    arithmetic: Arithmetic,
    precision: str,
    attrs: dict[str, Any],
    box: int | None,
    per_unit: int,
    affordable: int | None,
) -> int:
    """The demand's count on this device, into the attributes rules read; returns the count."""
    request = arithmetic.request
    memory = float(attrs["memory_gb"])  # for unified-memory devices, what the GPU may use
    attrs.update(
        meets_demand=True,
        demand_shortfall=None,
        count_set_by="minimum",
        tensor_parallel=1,
        replicas=1,
        tokens_per_s=None,
        tokens_per_s_per_user=None,
        users_served=None,
        train_days=None,
        deadline_missed=None,
        gpus_demanded=None,
    )
    if request is None or arithmetic.defaults is None:
        attrs.update(gpus_needed=1, fits=True, memory_per_gpu_gb=None, memory_utilization=None)
        return per_unit
    result, mfu_name = count_on(
        device,
        answers,
        arithmetic.demand,
        request,
        precision,
        arithmetic.defaults,
        memory,
        arithmetic.estimate_for,
        box=box,
        gpus_per_unit=per_unit,
        affordable=affordable,
        per_gpu_gb=arithmetic.per_gpu_gb if request.workload != "inference" else None,
    )
    arithmetic.counts[device.id] = result
    if mfu_name:
        arithmetic.mfu_defaults[device.id] = mfu_name
    needed = result.memory_gpus
    group = needed or 1
    per_gpu = arithmetic.per_gpu_gb(group)
    attrs.update(
        gpus_needed=needed,
        fits=needed is not None,
        memory_per_gpu_gb=round(per_gpu, 2),
        memory_utilization=round(per_gpu / sizing.usable_memory_gb(memory), 3),
        meets_demand=result.shortfall is None,
        demand_shortfall=result.shortfall,
        count_set_by=result.set_by,
        tensor_parallel=result.tensor_parallel,
        replicas=result.replicas,
        tokens_per_s=result.tokens_per_s,
        tokens_per_s_per_user=result.tokens_per_s_per_user,
        users_served=result.users_served,
        train_days=result.train_days,
        deadline_missed=result.deadline_missed,
        gpus_demanded=result.demanded,
    )
    return result.gpus if result.gpus > 0 else max(group, per_unit)


@lru_cache(maxsize=8)
def _energy_knobs(kb_dir: str) -> EnergyKnobs:
    from gpu_advisor.knowledge.catalogs import load_energy

    return load_energy(Path(kb_dir))


ENERGY_SCENARIO = "engineering"
"""The paper's planning baseline (host overhead, PUE 1.2, 90% efficiency and depth of discharge)."""


def box_and_energy(device: Device, answers: Answers, attrs: dict[str, Any], kb_dir: Path) -> None:
    """PSU and circuits for a tower (servers and systems come with rated supplies); for a
    power-limited or off-grid site, facility power from the system power of every box, and
    off-grid the batteries, which join the purchase cost."""
    if attrs.get("host_kind") == "workstation":
        units = int(attrs["box_units"])  # a box's supply depends on the device and units alone
        box = device.remembered(("box_facts", units), box_facts_for_device, device, units)
        attrs["psu_w"] = box["psu_w_needed"]
        attrs["box_circuits_120v"] = box["circuits_120v"]
    off_grid = answers.get("off_grid") is True
    if not off_grid and answers.get("site_power_kw") is MISSING:
        return  # facility power is only needed for a power-limited or off-grid site
    from gpu_advisor.arithmetic.plan import device_from_kb, scenario_energy

    knobs = _energy_knobs(str(kb_dir))
    hours = answers.get("off_grid_hours")
    if hours is not MISSING:
        knobs = replace(knobs, hours=float(hours))
    count = int(attrs["count"])
    # The system power of the boxes (GPUs and hosts) is the IT load: no host factor on top.
    plan_device = replace(
        device_from_kb(device), power_w=float(attrs["total_power_w"]) / count, host_included=True
    )
    spent = plan_device.price_usd * count
    result = scenario_energy(
        plan_device, count, knobs.scenario(ENERGY_SCENARIO), knobs, spent, spent
    )
    attrs["facility_kw"] = round(result.facility_kw, 2)
    if not off_grid:
        return
    attrs["battery_kwh"] = round(result.battery_kwh, 1)
    attrs["batteries"] = max(result.powerwalls, result.powerwalls_for_power)
    attrs["battery_cost_usd"] = round(attrs["batteries"] * float(knobs.battery.price_usd), 2)
    attrs["cost_usd"] = round(attrs["cost_usd"] + attrs["battery_cost_usd"], 2)
    attrs["total_cost_usd"] = attrs["cost_usd"]


def workload_precision(answers: Answers) -> str:
    """The precision throughput comparisons use: what the workload computes in."""
    if answers.get("workload") == "scientific":
        return "fp32"
    precision = answers.get("precision")
    if answers.get("method") == "qlora":
        return "bf16"  # QLoRA stores the base in NF4 but computes in bf16
    return "bf16" if precision is MISSING else str(precision)
