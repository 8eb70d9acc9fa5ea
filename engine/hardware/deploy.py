"""Plan a job on given GPUs, and write its DeepSpeed and PyTorch FSDP settings, each explained.

A plan answers "does this job fit the cards I have, and if not, what makes it fit?" with the
same memory arithmetic as the recommendations (:mod:`gpu_advisor.arithmetic.sizing`): a ladder of ways to
run it on the cards in hand, cheapest in communication first (one full copy per GPU, ZeRO-2,
ZeRO-3, then optimizer offload to host RAM, with the host RAM it needs), then purchases ranked
by cost (more of the same card, or the recommendation engine's lowest-cost choice), then changes
to the job itself (LoRA/QLoRA instead of full fine-tuning, FP8/FP4 weights for inference).

The first rung that fits becomes a deployment: a DeepSpeed configuration (the keys DeepSpeed
reads: ``train_micro_batch_size_per_gpu``, ``gradient_accumulation_steps``, ``bf16``,
``zero_optimization.stage``, ``offload_optimizer.device``...) and the equivalent Hugging Face
Accelerate FSDP configuration, with one sentence per setting saying why it has that value.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gpu_advisor.lang.conditions import MISSING
from gpu_advisor.errors import UsageError
from gpu_advisor.arithmetic.sizing import (
    FOUR_BIT,
    ModelArch,
    SizingRequest,
    architecture_from_params,
    estimate,
    load_model_catalog,
    resolve_model,
    usable_memory_gb,
)

if TYPE_CHECKING:
    from gpu_advisor.core.answers import Answers
    from gpu_advisor.core.consult import Engine
    from gpu_advisor.knowledge.kb import Device, Knowledge
    from gpu_advisor.hardware.probe import Machine

MAX_GPUS = 64
"""Largest GPU count a plan or a purchase considers (the questionnaire's max_gpus limit)."""
MAX_AUTO_MICRO_BATCH = 64
POOLED = ("tensor", "pipeline")


# ---------------------------------------------------------------------------------------------
# The hardware a plan runs on


@dataclass(frozen=True)
class Hardware:
    """GPUs in hand (probed) or to be bought (a knowledge-base device x count)."""

    count: int
    memory_gb: float
    """Capacity of the smallest card, as sold (binary GB); sizing takes 95% of it as usable."""
    name: str
    device_id: str | None
    origin: str
    host_ram_gb: float | None = None
    nvlink_all: bool | None = None
    bf16: bool | None = True
    mixed: bool = False

    @property
    def usable_gb(self) -> float:
        return usable_memory_gb(self.memory_gb)

    def to_json(self) -> dict[str, Any]:
        return {"count": self.count, "name": self.name, "device": self.device_id,
                "memory_gb": self.memory_gb, "usable_gb": round(self.usable_gb, 2),
                "origin": self.origin, "host_ram_gb": self.host_ram_gb,
                "nvlink_all": self.nvlink_all, "mixed_models": self.mixed}


def hardware_from_machine(machine: Machine, knowledge: Knowledge,
                          host_ram_gb: float | None = None) -> Hardware:
    """The probed GPUs as one pool: a mixed box is planned on its smallest card."""
    from gpu_advisor.hardware.probe import bf16_capable, stated_memory_gb

    memories = [stated_memory_gb(g, knowledge) for g in machine.gpus]
    if any(m is None for m in memories):
        unknown = [g.name for g, m in zip(machine.gpus, memories) if m is None]
        raise UsageError(f"the memory of {', '.join(unknown)} is not reported and the knowledge "
                         "base does not know the model: cannot plan on it")
    kb_ids = Counter(g.kb_id for g in machine.gpus if g.kb_id)
    capable = [bf16_capable(g) for g in machine.gpus]
    topology = machine.topology
    nvlink_all = None
    if topology is not None and topology.links:
        nvlink_all = all(p.startswith("NV") for p in topology.links.values())
    return Hardware(
        count=len(machine.gpus), memory_gb=min(m for m in memories if m is not None),
        name=machine.describe_models(),
        device_id=kb_ids.most_common(1)[0][0] if kb_ids else None, origin="probed",
        host_ram_gb=host_ram_gb if host_ram_gb is not None else machine.host_ram_gb,
        nvlink_all=nvlink_all, bf16=False if False in capable else (None if None in capable else True),
        mixed=len(machine.models()) > 1)


def hardware_from_device(device: Device, count: int, origin: str,
                         host_ram_gb: float | None = None) -> Hardware:
    """``count`` x a knowledge-base device."""
    nvlink_all = None
    if count > 1:
        nvlink_all = bool(device.value("nvlink")) and count <= int(device.value("nvlink_max_gpus") or 1)
    return Hardware(count=count, memory_gb=float(device.value("memory_gb")),
                    name=f"{count} x {device.name}", device_id=device.id, origin=origin,
                    host_ram_gb=host_ram_gb, nvlink_all=nvlink_all, bf16=True)


# ---------------------------------------------------------------------------------------------
# The job: answers turned into a sizing request


@dataclass
class Job:
    """The user's job: normalized answers, the base sizing request, and what was said explicitly."""

    answers: Answers
    raw: dict[str, Any]
    request: SizingRequest
    model: ModelArch | None
    explicit: frozenset[str]

    @property
    def planned_parallelism(self) -> str | None:
        value = self.answers.get("parallelism")
        return str(value) if "parallelism" in self.explicit and value is not MISSING else None

    @property
    def workload(self) -> str:
        return self.request.workload

    def describe(self, batch: bool = True) -> str:
        req = self.request
        model = req.model.name if req.model else f"a {req.params_b:g}B-parameter model"
        if req.workload == "inference":
            return f"{req.precision} inference of {model}, {req.batch_size} sequence(s) of {req.context_tokens:,} tokens"
        method = req.method or "full"
        shape = (f"micro-batch {req.batch_size} x {req.context_tokens:,} tokens" if batch
                 else f"sequences of {req.context_tokens:,} tokens")
        return f"{req.workload} ({method}, {req.precision}) of {model}, {shape}"


def catalog_path(kb_dir: str | Path | None) -> Path | None:
    """models.yaml of a --kb folder when it has one, else the shipped catalog."""
    if kb_dir is None:
        return None
    candidate = Path(kb_dir) / "models.yaml"
    return candidate if candidate.is_file() else None


def resolve_job(engine: Engine, raw: Mapping[str, Any], model_name: str | None = None,
                gpu_count: int | None = None, kb_dir: str | Path | None = None) -> Job:
    """Validate the answers against the questionnaire and build the base sizing request.

    The model size must be said (``model_params_b`` or a catalog ``--model``): the questionnaire's
    default of 7B would otherwise plan a job nobody asked for. With GPUs in hand, ``max_gpus``
    defaults to their number.
    """
    from gpu_advisor.core.answers import normalize_answers
    from gpu_advisor.arithmetic.context import sizing_request

    values = dict(raw)
    explicit = frozenset(values)
    model = None
    if model_name is not None:
        if "model_params_b" in values:
            raise UsageError("--model and --set model_params_b are exclusive: a catalog model "
                             "carries its parameter count")
        model = resolve_model(model_name, load_model_catalog(catalog_path(kb_dir)))
        values["model_params_b"] = model.params_b
    elif "model_params_b" not in values:
        raise UsageError("say how large the model is: --set model_params_b=70 (billions of "
                         "parameters) or --model llama-3.1-70b")
    if gpu_count is not None and "max_gpus" not in values:
        values["max_gpus"] = max(1, min(gpu_count, MAX_GPUS))
    rulebase = engine.rulebase
    answers = normalize_answers(rulebase.questions, values, rulebase.knowledge)
    request = sizing_request(answers)
    if request is None:
        raise UsageError(f"workload {answers.get('workload')}: there is no memory model to plan "
                         "it with (pretraining, fine-tuning and inference are sized)")
    if model is not None:
        request = replace(request, model=model)
    return Job(answers, values, request, model, explicit | ({"model_params_b"} if model else set()))


# ---------------------------------------------------------------------------------------------
# The plan


@dataclass
class Option:
    """One way to run the job: on the cards in hand, after a purchase, or with a changed job."""

    key: str
    kind: str  # in-hand | purchase | change-job
    label: str
    gpus: int
    zero_stage: int | None
    offload: bool
    per_gpu_gb: float | None
    usable_gb: float | None
    host_ram_gb: float = 0.0
    host_ok: bool | None = None
    fits: bool = False
    planned: bool = False
    cost_usd: float | None = None
    device: str | None = None
    buy: int | None = None
    notes: list[str] = field(default_factory=list)
    request: SizingRequest | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "key": self.key, "kind": self.kind, "label": self.label, "fits": self.fits,
            "gpus": self.gpus, "zero_stage": self.zero_stage, "offload": self.offload,
            "per_gpu_gb": None if self.per_gpu_gb is None else round(self.per_gpu_gb, 2),
            "usable_gb": None if self.usable_gb is None else round(self.usable_gb, 2),
            "host_ram_gb": round(self.host_ram_gb, 1), "host_ram_ok": self.host_ok,
            "planned": self.planned, "notes": list(self.notes)}
        if self.kind == "purchase":
            data.update(device=self.device, buy=self.buy, cost_usd=self.cost_usd)
        return data


@dataclass
class Plan:
    """Every option tried, the one chosen (first in-hand option that fits), and the verdict."""

    hardware: Hardware
    job: Job
    options: list[Option]
    chosen: Option | None
    verdict: str
    notes: list[str] = field(default_factory=list)

    @property
    def fits_as_planned(self) -> bool:
        return self.chosen is not None and self.chosen.planned

    def to_json(self) -> dict[str, Any]:
        return {"hardware": self.hardware.to_json(), "job": self.job.request.to_json(),
                "verdict": self.verdict, "fits_in_hand": self.chosen is not None,
                "chosen": self.chosen.key if self.chosen else None,
                "options": [o.to_json() for o in self.options], "notes": list(self.notes)}


def _gb(value: float) -> str:
    return f"{value:,.1f}"


def _evaluate(option: Option, request: SizingRequest, usable: float,
              host_ram: float | None) -> Option:
    result = estimate(request)
    option.request = request
    option.per_gpu_gb = result.per_gpu_gb
    option.usable_gb = usable
    option.host_ram_gb = result.host_ram_gb
    if result.host_ram_gb:
        option.host_ok = None if host_ram is None else result.host_ram_gb <= host_ram
    else:
        option.host_ok = True
    option.fits = result.per_gpu_gb <= usable and option.host_ok is not False
    return option


def _powers_of_two(limit: int) -> list[int]:
    counts, count = [], 1
    while count <= limit:
        counts.append(count)
        count *= 2
    return counts


_STAGE_TEXT = {
    0: "nothing sharded: a full copy of weights, gradients and optimizer state on each GPU",
    2: "ZeRO-2: gradients and optimizer state sharded, weights whole on each GPU",
    3: "ZeRO-3 (FSDP full shard): weights, gradients and optimizer state sharded",
}


def in_hand_options(hardware: Hardware, job: Job) -> list[Option]:
    """The ladder on the cards in hand, least communication first."""
    base, n = job.request, hardware.count
    usable, host = hardware.usable_gb, hardware.host_ram_gb
    planned = job.planned_parallelism
    options: list[Option] = []
    if base.workload == "inference":
        counts = _powers_of_two(n)
        for count in counts:
            label = "one GPU" if count == 1 else f"tensor parallel over {count} GPUs"
            if count == 1 and n > 1:
                label += f" (the other {n - 1} can serve replicas)"
            option = Option(f"tp-{count}", "in-hand", label, count, None, False, None, None)
            option.planned = planned is not None and count == (counts[-1] if planned in POOLED else 1)
            options.append(_evaluate(option, replace(base, gpus=count, zero_stage=0, offload=False),
                                     usable, host))
        return options
    ladder = [(0, False)] + ([(2, False), (3, False)] if n > 1 else []) + [(2, True), (3, True)]
    for stage, offload in ladder:
        gpus = n
        if stage == 0:
            label = "one GPU, nothing sharded" if n == 1 else f"data parallel over {n} GPUs, {_STAGE_TEXT[0]}"
        else:
            label = f"ZeRO-{stage} over {n} GPU{'s' if n > 1 else ''}: {_STAGE_TEXT[stage].split(': ', 1)[1]}"
            if offload:
                label = (f"ZeRO-{stage} over {n} GPU{'s' if n > 1 else ''} with the optimizer "
                         "state offloaded to host RAM")
        key = f"zero-{stage}" + ("-offload" if offload else "")
        option = Option(key, "in-hand", label, gpus, stage, offload, None, None)
        if planned is not None and not offload:
            option.planned = stage == (3 if planned in POOLED and n > 1 else 0)
        if offload:
            option.notes.append("every step moves gradients to the CPU and weights back over "
                                "PCIe, and the optimizer steps on the CPU: expect it to run "
                                "several times slower than without offload")
        options.append(_evaluate(option, replace(base, gpus=gpus, zero_stage=stage, offload=offload),
                                 usable, host))
    return options


def _best_in_hand(base: SizingRequest, n: int) -> SizingRequest:
    """The most memory-saving way to run on n cards without offload."""
    if base.workload == "inference":
        return replace(base, gpus=_powers_of_two(n)[-1], zero_stage=0, offload=False)
    return replace(base, gpus=n, zero_stage=3 if n > 1 else 0, offload=False)


def _more_of_the_same(hardware: Hardware, job: Job, knowledge: Knowledge,
                      allow_offload: bool = True) -> list[Option]:
    """Add cards of the model in hand: the fewest that fit without offload and, when fewer
    fit with the optimizer offloaded (and the host RAM allows it), that purchase too."""
    if hardware.device_id is None or hardware.mixed:
        return []
    device = knowledge.devices[hardware.device_id]
    price = float(device.value("price_usd"))
    per_node = int(device.value("units_per_node") or 1)
    base, n, usable = job.request, hardware.count, hardware.usable_gb
    training = base.workload != "inference"
    counts = range(1, MAX_GPUS + 1) if training else _powers_of_two(MAX_GPUS)

    def fewest(offload: bool) -> Option | None:
        for total in counts:
            if total <= n:
                continue
            request = _best_in_hand(base, total)
            if offload:
                request = replace(request, zero_stage=3, offload=True)
            buy = total - n
            nodes = math.ceil(total / per_node)
            where = (f"{total} in one box" if nodes == 1
                     else f"{total} over {nodes} boxes of {per_node}, joined by the network")
            how = ", ZeRO-3 with optimizer offload" if offload else ""
            option = Option("buy-more-offload" if offload else "buy-more", "purchase",
                            f"buy {buy} more {device.short_name} ({where}{how})", total,
                            request.zero_stage if training else None, offload, None, None,
                            cost_usd=round(buy * price, 2), device=device.id, buy=buy)
            if not _evaluate(option, request, usable, hardware.host_ram_gb).fits:
                continue
            option.notes.append(f"at the knowledge base's ${price:,.0f} per card; check the "
                                "chassis has the slots, power and cooling for them")
            if nodes > 1:
                option.notes.append("sharding one job across boxes needs a fast network "
                                    "(InfiniBand or RoCE) between them")
            return option
        return None

    without = fewest(False)
    with_offload = fewest(True) if training and allow_offload else None
    if with_offload is not None and (without is None or with_offload.gpus < without.gpus):
        return [with_offload] + ([without] if without else [])
    return [without] if without else []


def _engine_purchases(engine: Engine, job: Job, limit: int = 3) -> list[Option]:
    """The recommendation engine's lowest-cost purchases for the same job, from scratch."""
    raw = {k: v for k, v in job.raw.items() if k not in ("priority", "purchase")}
    raw["priority"] = "lowest-cost"
    raw["purchase"] = "minimum"
    if "max_gpus" not in job.explicit:
        raw["max_gpus"] = max(8, int(job.answers.get("max_gpus") or 1))
    if "parallelism" not in job.explicit and job.workload != "inference":
        raw["parallelism"] = "tensor"
    try:
        consultation = engine.consult(raw)
    except UsageError:
        return []
    options = []
    for rec in consultation.recommendations[:limit]:
        option = Option(f"buy-{rec.device}", "purchase",
                        f"buy {rec.count} x {rec.name} (a new set, for this job alone)",
                        rec.count, None, False, None, None, fits=True,
                        cost_usd=rec.cost_usd, device=rec.device, buy=rec.count)
        device = engine.rulebase.knowledge.devices[rec.device]
        attrs = consultation.devices.get(rec.device, {})
        option.per_gpu_gb = attrs.get("memory_per_gpu_gb")
        option.usable_gb = usable_memory_gb(float(device.value("memory_gb")))
        because = next((r.because for r in rec.reasons if not r.rule.startswith("ranking")), "")
        option.notes.append("the recommendation engine's lowest-cost choice (gpu-advisor "
                            "recommend --set priority=lowest-cost)" + (f": {because}" if because else ""))
        options.append(option)
    return options


def _job_changes(hardware: Hardware, job: Job, knowledge: Knowledge | None) -> list[Option]:
    """The same cards with a lighter job: adapters instead of full training, narrower weights."""
    base, n = job.request, hardware.count
    changes: list[tuple[str, str, SizingRequest]] = []
    if base.workload == "fine-tuning" and (base.method or "full") == "full":
        changes.append(("lora", "LoRA instead of full fine-tuning (frozen base, small adapters)",
                        replace(base, method="lora")))
        changes.append(("qlora", "QLoRA instead of full fine-tuning (4-bit NF4 base, adapters)",
                        replace(base, method="qlora", precision="nf4")))
    elif base.workload == "fine-tuning" and base.method == "lora":
        changes.append(("qlora", "QLoRA instead of LoRA (4-bit NF4 base)",
                        replace(base, method="qlora", precision="nf4")))
    elif base.workload == "inference":
        if base.precision not in ("fp8", "int8") and base.precision not in FOUR_BIT:
            changes.append(("fp8", "FP8 weights instead of " + base.precision,
                            replace(base, precision="fp8")))
        if base.precision not in FOUR_BIT:
            changes.append(("fp4", "4-bit weights (NVFP4) instead of " + base.precision,
                            replace(base, precision="nvfp4")))
    device = knowledge.devices.get(hardware.device_id) if knowledge and hardware.device_id else None
    options = []
    for key, label, request in changes:
        request = _best_in_hand(request, n)
        where = ("one GPU" if request.gpus == 1 else
                 (f"ZeRO-3 over {request.gpus} GPUs" if base.workload != "inference"
                  else f"tensor parallel over {request.gpus} GPUs"))
        option = Option(f"change-{key}", "change-job", f"{label}, {where}", request.gpus,
                        request.zero_stage if base.workload != "inference" else None, False,
                        None, None)
        _evaluate(option, request, hardware.usable_gb, hardware.host_ram_gb)
        if device is not None and key == "fp8" and device.throughput("fp8", sparse=True) is None \
                and device.throughput("fp8", sparse=False) is None:
            option.notes.append(f"{device.short_name} has no FP8 tensor cores: the weights are "
                                "stored in FP8 and computed in 16 bit (weight-only), so memory "
                                "drops but speed does not rise")
        if device is not None and key == "fp4" and not device.value("fp4"):
            option.notes.append(f"{device.short_name} has no FP4 tensor cores: 4-bit weights are "
                                "unpacked to 16 bit for compute (weight-only)")
        if key in ("lora", "qlora"):
            option.notes.append("changes what is trained: adapters, not every weight")
        options.append(option)
    return options


def make_plan(hardware: Hardware, job: Job, knowledge: Knowledge | None = None,
              engine: Engine | None = None) -> Plan:
    """Options in hand (in ladder order), then purchases by cost, then changes to the job."""
    in_hand = in_hand_options(hardware, job)
    chosen = next((o for o in in_hand if o.fits), None)
    purchases: list[Option] = []
    changes: list[Option] = []
    notes: list[str] = []
    if chosen is None or chosen.offload:
        if knowledge is not None:
            purchases.extend(_more_of_the_same(hardware, job, knowledge, chosen is None))
        if engine is not None:
            purchases.extend(_engine_purchases(engine, job))
        purchases.sort(key=lambda o: (o.cost_usd is None, o.cost_usd or 0.0))
        changes = _job_changes(hardware, job, knowledge)
    if hardware.mixed:
        notes.append(f"the cards differ; the plan uses the smallest ({hardware.memory_gb:g} GiB) "
                     "for every GPU, as an evenly sharded job must")
    if hardware.host_ram_gb is None and any(o.host_ram_gb for o in in_hand):
        notes.append("host RAM was not measured (saved outputs do not include it): pass "
                     "--host-ram-gb to check the offload options against it")
    plan = Plan(hardware, job, in_hand + purchases + changes, chosen, "", notes)
    plan.verdict = _verdict(plan, purchases, changes)
    return plan


def _need(option: Option) -> str:
    return f"{_gb(option.per_gpu_gb or 0)} GB per GPU of {_gb(option.usable_gb or 0)} usable"


def _verdict(plan: Plan, purchases: list[Option], changes: list[Option]) -> str:
    hardware, chosen = plan.hardware, plan.chosen
    planned = next((o for o in plan.options if o.planned), None)
    host = ""
    if chosen is not None and chosen.host_ram_gb:
        have = ("not measured: pass --host-ram-gb" if hardware.host_ram_gb is None
                else f"this machine has {_gb(hardware.host_ram_gb)} GB")
        host = f", and {_gb(chosen.host_ram_gb)} GB of host RAM ({have})"
    if chosen is not None and chosen.planned:
        return f"Fits as planned on {hardware.name}: {chosen.label}, {_need(chosen)}{host}."
    if chosen is not None:
        text = f"Fits {hardware.name} with {chosen.label}: {_need(chosen)}{host}."
        if planned is not None:
            text += f" As planned ({planned.label}) it needs {_need(planned)}."
        if chosen.offload and purchases:
            text += (f" To avoid offload, the smallest purchase: {purchases[0].label}, "
                     f"${purchases[0].cost_usd:,.0f}.")
        return text
    best = min((o for o in plan.options if o.kind == "in-hand" and o.per_gpu_gb is not None),
               key=lambda o: o.per_gpu_gb or 0.0, default=None)
    text = f"Does not fit {hardware.name}"
    if best is not None:
        text += f" even with {best.label} ({_need(best)}"
        if best.host_ok is False:
            text += f"; its {_gb(best.host_ram_gb)} GB of host RAM exceeds the {_gb(hardware.host_ram_gb or 0)} GB here"
        text += ")"
    text += "."
    if purchases:
        text += f" Smallest purchase that does: {purchases[0].label}, ${purchases[0].cost_usd:,.0f}."
    else:
        text += f" No purchase of up to {MAX_GPUS} GPUs found."
    fitting_change = next((o for o in changes if o.fits), None)
    if fitting_change is not None:
        text += f" Or change the job: {fitting_change.label} fits ({_need(fitting_change)})."
    return text


def plan_lines(plan: Plan) -> list[str]:
    """The plan as text: verdict, then every option with its numbers."""
    lines = [f"Job: {plan.job.describe()}", f"Verdict: {plan.verdict}"]
    titles = {"in-hand": "On the cards in hand", "purchase": "Purchases, cheapest first",
              "change-job": "Or change the job"}
    for kind, title in titles.items():
        group = [o for o in plan.options if o.kind == kind]
        if not group:
            continue
        lines.append(f"{title}:")
        for option in group:
            mark = "fits" if option.fits else "no  "
            if option is plan.chosen:
                mark = "FITS"
            need = ""
            if option.per_gpu_gb is not None:
                need = f" — {_need(option)}"
            if option.host_ram_gb:
                state = {True: "enough", False: "NOT enough", None: "not measured"}[option.host_ok]
                need += f"; host RAM {_gb(option.host_ram_gb)} GB ({state})"
            cost = f" — ${option.cost_usd:,.0f}" if option.cost_usd is not None else ""
            planned = " [as planned]" if option.planned else ""
            lines.append(f"  [{mark}] {option.label}{planned}{need}{cost}")
            lines.extend(f"         {note}" for note in option.notes)
    lines.extend(f"Note: {note}" for note in plan.notes)
    return lines


# ---------------------------------------------------------------------------------------------
# Deployment: DeepSpeed and FSDP settings with their reasons


@dataclass(frozen=True)
class Setting:
    """One configuration key (dotted path), its value, and why it has that value."""

    key: str
    value: Any
    why: str

    def to_json(self) -> dict[str, Any]:
        return {"setting": self.key, "value": self.value, "why": self.why}


@dataclass
class Deployment:
    plan: Plan
    option: Option
    micro_batch: int
    accumulation: int
    precision: str
    deepspeed: dict[str, Any]
    deepspeed_why: list[Setting]
    fsdp: dict[str, Any]
    fsdp_why: list[Setting]
    per_gpu_gb: float = 0.0
    host_ram_gb: float = 0.0
    warnings: list[str] = field(default_factory=list)

    @property
    def world_size(self) -> int:
        return self.option.gpus

    def to_json(self) -> dict[str, Any]:
        return {"hardware": self.plan.hardware.to_json(), "plan": self.plan.to_json(),
                "option": self.option.key, "world_size": self.world_size,
                "micro_batch": self.micro_batch, "gradient_accumulation_steps": self.accumulation,
                "per_gpu_gb": round(self.per_gpu_gb, 2), "host_ram_gb": round(self.host_ram_gb, 1),
                "global_batch": self.micro_batch * self.accumulation * self.world_size,
                "precision": self.precision, "deepspeed": self.deepspeed, "fsdp": self.fsdp,
                "explanations": {"deepspeed": [s.to_json() for s in self.deepspeed_why],
                                 "fsdp": [s.to_json() for s in self.fsdp_why]},
                "warnings": list(self.warnings)}


def pick_option(plan: Plan, zero_stage: int | None = None, offload: bool | None = None) -> Option:
    """The plan's chosen option, or the in-hand option the user forces with --zero/--offload."""
    if zero_stage is None and offload is None:
        if plan.chosen is None:
            raise UsageError(f"nothing to deploy: {plan.verdict}")
        return plan.chosen
    if plan.job.workload == "inference":
        raise UsageError("--zero and --offload apply to training")
    chosen_stage = plan.chosen.zero_stage if plan.chosen is not None else None
    stage = zero_stage if zero_stage is not None else (chosen_stage if chosen_stage is not None else 3)
    off = bool(offload) if offload is not None else (plan.chosen.offload if plan.chosen else False)
    if stage == 0 and off:
        raise UsageError("--offload needs --zero 1, 2 or 3: DeepSpeed offloads the sharded optimizer state")
    hardware = plan.hardware
    request = replace(plan.job.request, gpus=hardware.count, zero_stage=stage, offload=off)
    label = f"ZeRO-{stage} over {hardware.count} GPUs" + (" with optimizer offload" if off else "")
    option = Option(f"zero-{stage}" + ("-offload" if off else ""), "in-hand", label,
                    hardware.count, stage, off, None, None)
    return _evaluate(option, request, hardware.usable_gb, hardware.host_ram_gb)


def _auto_micro_batch(option: Option, usable: float) -> int:
    """The largest power-of-two micro-batch that still fits (at least 1)."""
    assert option.request is not None
    best = 1
    for batch in _powers_of_two(MAX_AUTO_MICRO_BATCH):
        if estimate(replace(option.request, batch_size=batch)).per_gpu_gb <= usable:
            best = batch
        else:
            break
    return best


def _training_precision(job: Job, hardware: Hardware) -> tuple[str, list[str]]:
    """bf16, fp16 or fp32 for the optimizer loop, and any caveat."""
    precision = job.request.precision
    notes: list[str] = []
    if precision == "fp32":
        return "fp32", notes
    if precision == "fp16":
        return "fp16", notes
    if precision not in ("bf16",):
        notes.append(f"{precision} weights: the training loop still runs in bf16 mixed precision "
                     "(FP8 compute needs Transformer Engine, outside these configurations)"
                     if job.request.method in (None, "full")
                     else f"the frozen base is stored in {precision}; adapters and compute use bf16")
    if hardware.bf16 is False:
        notes.append("these GPUs predate bf16 tensor cores (before Ampere): fp16 with dynamic loss "
                     "scaling instead")
        return "fp16", notes
    return "bf16", notes


def _arch(job: Job) -> ModelArch:
    return job.request.model or architecture_from_params(job.request.params_b)


def build_deployment(plan: Plan, option: Option, micro_batch: int | None = None,
                     global_batch: int | None = None, learning_rate: float | None = None) -> Deployment:
    """DeepSpeed and FSDP settings for one option of a plan, each with its reason."""
    job, hardware = plan.job, plan.hardware
    if job.workload == "inference":
        raise UsageError("deploy writes training configurations (DeepSpeed ZeRO, FSDP); for "
                         f"inference the plan says: {plan.verdict}")
    assert option.request is not None and option.zero_stage is not None
    usable = hardware.usable_gb
    warnings: list[str] = []
    explicit_batch = "batch_size" in job.explicit
    if micro_batch is None:
        micro_batch = job.request.batch_size if explicit_batch else _auto_micro_batch(option, usable)
    request = replace(option.request, batch_size=micro_batch)
    result = estimate(request)
    if result.per_gpu_gb > usable:
        warnings.append(f"this setting does not fit: {_gb(result.per_gpu_gb)} GB per GPU of "
                        f"{_gb(usable)} usable; expect CUDA out-of-memory errors")
    if result.host_ram_gb and hardware.host_ram_gb is not None and result.host_ram_gb > hardware.host_ram_gb:
        warnings.append(f"offload needs {_gb(result.host_ram_gb)} GB of host RAM; this machine has "
                        f"{_gb(hardware.host_ram_gb)} GB")
    world = option.gpus
    if global_batch is not None:
        per_step = micro_batch * world
        accumulation = max(1, math.ceil(global_batch / per_step))
        if accumulation * per_step != global_batch:
            warnings.append(f"a global batch of {global_batch} is not a multiple of micro-batch x "
                            f"GPUs = {per_step}; it becomes {accumulation * per_step}")
    else:
        accumulation = 1
    precision, precision_notes = _training_precision(job, hardware)
    warnings.extend(precision_notes)
    stage = option.zero_stage
    arch = _arch(job)
    context = _Context(plan, option, request, result.per_gpu_gb, usable, result.host_ram_gb,
                       micro_batch, explicit_batch, accumulation, global_batch, precision, arch,
                       learning_rate)
    ds, ds_why = _deepspeed(context)
    fsdp, fsdp_why = _fsdp(context)
    if stage == 0 and world > 1:
        warnings.append("ZeRO-0 keeps a full replica on every GPU: plain DDP, no sharding")
    return Deployment(plan, option, micro_batch, accumulation, precision, ds, ds_why, fsdp,
                      fsdp_why, result.per_gpu_gb, result.host_ram_gb, warnings)


@dataclass
class _Context:
    plan: Plan
    option: Option
    request: SizingRequest
    per_gpu_gb: float
    usable_gb: float
    host_ram_gb: float
    micro_batch: int
    explicit_batch: bool
    accumulation: int
    global_batch: int | None
    precision: str
    arch: ModelArch
    learning_rate: float | None

    @property
    def world(self) -> int:
        return self.option.gpus

    def ladder(self) -> str:
        """The in-hand rungs with their per-GPU needs, for the stage explanation."""
        parts = []
        for o in self.plan.options:
            if o.kind == "in-hand" and o.per_gpu_gb is not None:
                parts.append(f"{o.key} {_gb(o.per_gpu_gb)} GB")
        return ", ".join(parts)


def _batch_why(c: _Context) -> str:
    if c.explicit_batch:
        return (f"the batch_size you gave; with it the job needs {_gb(c.per_gpu_gb)} GB per GPU of "
                f"{_gb(c.usable_gb)} usable")
    return (f"the largest power of two (up to {MAX_AUTO_MICRO_BATCH}) that still fits: "
            f"{_gb(c.per_gpu_gb)} GB per GPU of {_gb(c.usable_gb)} usable at "
            f"{c.request.context_tokens:,} tokens; activations grow with it, weights do not")


def _accumulation_why(c: _Context) -> str:
    per_step = c.micro_batch * c.world
    if c.global_batch is None:
        return (f"no global batch asked (--global-batch N): each optimizer step sees micro-batch "
                f"{c.micro_batch} x {c.world} GPU(s) = {per_step} sequences")
    return (f"global batch {c.global_batch} / (micro-batch {c.micro_batch} x {c.world} GPUs) = "
            f"{c.accumulation} steps accumulated per optimizer step, with no extra memory")


def _setter(config: dict[str, Any], why: list[Setting]) -> Callable[[str, Any, str], None]:
    """``put("a.b.c", value, reason)``: set a nested key of ``config`` and record why."""

    def put(key: str, value: Any, reason: str) -> None:
        target = config
        *parents, last = key.split(".")
        for part in parents:
            target = target.setdefault(part, {})
        target[last] = value
        why.append(Setting(key, value, reason))

    return put


def _deepspeed(c: _Context) -> tuple[dict[str, Any], list[Setting]]:
    stage, offload, hidden = int(c.option.zero_stage or 0), c.option.offload, c.arch.hidden
    why: list[Setting] = []
    ds: dict[str, Any] = {}
    put = _setter(ds, why)

    put("train_micro_batch_size_per_gpu", c.micro_batch, _batch_why(c))
    put("gradient_accumulation_steps", c.accumulation, _accumulation_why(c))
    put("gradient_clipping", 1.0, "clip the gradient norm at 1.0, the usual guard against loss "
                                  "spikes in LLM fine-tuning")
    put("bf16.enabled", c.precision == "bf16",
        "bf16 mixed precision: same exponent range as fp32, so no loss scaling"
        if c.precision == "bf16" else f"training runs in {c.precision}")
    put("fp16.enabled", c.precision == "fp16",
        "fp16 mixed precision with dynamic loss scaling (the GPUs lack bf16, or fp16 was asked)"
        if c.precision == "fp16" else "off: one mixed-precision mode at a time")
    if c.precision == "fp16":
        put("fp16.loss_scale", 0, "0 selects dynamic loss scaling")
        put("fp16.initial_scale_power", 16, "start the loss scale at 2^16 and let it adapt")
        put("fp16.loss_scale_window", 1000, "raise the scale after 1,000 steps without overflow")
        put("fp16.hysteresis", 2, "tolerate 2 overflows before lowering the scale")
        put("fp16.min_loss_scale", 1, "never scale below 1")
    stage_why = (f"the first rung of the ladder that fits these {c.world} GPU(s) "
                 f"({c.ladder()}; {_gb(c.usable_gb)} GB usable per GPU): "
                 f"{_STAGE_TEXT.get(stage, f'ZeRO-{stage}')}")
    if c.option is not c.plan.chosen:
        stage_why = f"ZeRO-{stage} as asked; {_gb(c.per_gpu_gb)} GB per GPU of {_gb(c.usable_gb)} usable"
    put("zero_optimization.stage", stage, stage_why)
    if stage >= 1:
        put("zero_optimization.offload_optimizer.device", "cpu" if offload else "none",
            (f"fp32 master weights, Adam moments and fp32 gradients (16 B per trainable parameter) "
             f"live in host RAM: {_gb(c.host_ram_gb)} GB with DeepSpeed's 1.5 buffer factor "
             + ("(not measured here)" if c.plan.hardware.host_ram_gb is None
                else f"of the {_gb(c.plan.hardware.host_ram_gb)} GB this machine has")
             + "; the step runs on the CPU (DeepSpeedCPUAdam)")
            if offload else "the optimizer state fits on the GPUs, where the step is fastest")
        if offload:
            put("zero_optimization.offload_optimizer.pin_memory", True,
                "page-locked host buffers double the CPU-GPU copy speed; they cannot be swapped "
                "out, so the host RAM above must really be free")
        put("zero_optimization.overlap_comm", True,
            "reduce gradients while the backward pass still computes; costs bucket-sized buffers")
        put("zero_optimization.contiguous_gradients", True,
            "copy gradients into one contiguous buffer as they are produced: no fragmentation "
            "late in the backward pass")
        put("zero_optimization.reduce_bucket_size", hidden * hidden,
            f"hidden^2 = {hidden:,}^2 elements, the size Hugging Face's integration derives for "
            "'auto': large enough to keep the links busy, small enough to leave memory")
    if stage == 2:
        put("zero_optimization.allgather_bucket_size", hidden * hidden,
            "the same hidden^2 bucket for the all-gather of updated weights")
        put("zero_optimization.reduce_scatter", True,
            "reduce-scatter instead of all-reduce: each GPU receives only its shard of gradients")
    if stage == 3:
        put("zero_optimization.offload_param.device", "none",
            "weights stay on the GPUs (sharded): parameter offload is the last resort and the "
            "sizing above shows it is not needed")
        put("zero_optimization.stage3_prefetch_bucket_size", int(0.9 * hidden * hidden),
            "0.9 x hidden^2 elements: gather the next layers' weights while this one computes")
        put("zero_optimization.stage3_param_persistence_threshold", 10 * hidden,
            f"10 x hidden = {10 * hidden:,} elements: smaller tensors (norms, biases) stay whole on "
            "every GPU instead of being gathered each time")
        put("zero_optimization.stage3_max_live_parameters", 1_000_000_000,
            "at most 1e9 gathered parameters alive at once (DeepSpeed's default); lower it if "
            "gathering still runs out of memory")
        put("zero_optimization.stage3_max_reuse_distance", 1_000_000_000,
            "keep a gathered parameter if it is reused within 1e9 parameters (default)")
        put("zero_optimization.stage3_gather_16bit_weights_on_model_save", True,
            "write one consolidated 16-bit checkpoint at save time, loadable without DeepSpeed "
            "(otherwise only per-GPU shards are saved)")
        put("zero_optimization.sub_group_size", 1_000_000_000,
            "the optimizer steps over groups of 1e9 parameters; lower it if the step runs out of "
            "(host) memory")
    if offload:
        lr = c.learning_rate if c.learning_rate is not None else (
            1e-5 if (c.request.method or "full") == "full" else 2e-4)
        put("optimizer.type", "AdamW",
            "with offload DeepSpeed must build the optimizer itself to run its CPU Adam on the "
            "offloaded state; a torch optimizer passed in is refused")
        put("optimizer.params.lr", lr,
            "a common starting learning rate for this method; set yours (--learning-rate)")
        put("optimizer.params.betas", [0.9, 0.999], "AdamW's usual moment decay rates")
        put("optimizer.params.eps", 1e-8, "AdamW's usual epsilon")
        put("optimizer.params.weight_decay", 0.0, "no weight decay, the usual choice for fine-tuning")
    put("steps_per_print", 10, "log every 10 steps")
    put("wall_clock_breakdown", False, "no per-phase timing (turn on to see the cost of offload)")
    return ds, why


def _fsdp(c: _Context) -> tuple[dict[str, Any], list[Setting]]:
    """An Accelerate config file (``accelerate launch --config_file``) with FSDP settings."""
    stage, offload, world = int(c.option.zero_stage or 0), c.option.offload, c.world
    why: list[Setting] = []
    config: dict[str, Any] = {}
    put = _setter(config, why)

    put("compute_environment", "LOCAL_MACHINE", "one machine, launched with accelerate launch")
    mixed = {"bf16": "bf16", "fp16": "fp16", "fp32": "no"}[c.precision]
    if stage == 0:
        kind = "MULTI_GPU" if world > 1 else "NO"
        put("distributed_type", kind,
            "nothing needs sharding: plain DistributedDataParallel (one replica per GPU)"
            if world > 1 else "one GPU: no distribution at all")
    else:
        put("distributed_type", "FSDP", "PyTorch Fully Sharded Data Parallel, the ZeRO equivalent")
    put("mixed_precision", mixed, f"the same {c.precision} mixed precision as the DeepSpeed file")
    put("num_machines", 1, "one box")
    put("machine_rank", 0, "this box")
    put("num_processes", world, f"one process per GPU: {world}")
    put("main_training_function", "main", "Accelerate's default entry point name")
    put("rdzv_backend", "static", "single machine: fixed rendezvous")
    put("same_network", True, "single machine")
    put("use_cpu", False, "train on the GPUs")
    if stage == 0:
        return config, why
    strategy = {1: "SHARD_GRAD_OP", 2: "SHARD_GRAD_OP", 3: "FULL_SHARD"}.get(stage, "FULL_SHARD")
    meaning = {"SHARD_GRAD_OP": "shards gradients and optimizer state, keeps whole weights: ZeRO-2",
               "FULL_SHARD": "shards weights, gradients and optimizer state: ZeRO-3"}
    put("fsdp_config.fsdp_sharding_strategy", strategy, meaning[strategy])
    offload_why = "weights, gradients and optimizer state stay on the GPUs"
    if offload:
        offload_why = ("FSDP has no optimizer-only offload: CPU offload moves the parameters and "
                       "gradients too and steps on the CPU, so it uses at least the "
                       f"{_gb(c.host_ram_gb)} GB of host RAM the DeepSpeed estimate gives and is "
                       "slower; prefer the DeepSpeed file for this plan")
        if stage == 2:
            offload_why += "; with CPU offload FSDP shards fully (FULL_SHARD), ZeRO-2 has no twin"
            config["fsdp_config"]["fsdp_sharding_strategy"] = "FULL_SHARD"
            why[-1] = Setting("fsdp_config.fsdp_sharding_strategy", "FULL_SHARD",
                              "CPU offload in FSDP works with full sharding")
    put("fsdp_config.fsdp_offload_params", offload, offload_why)
    put("fsdp_config.fsdp_auto_wrap_policy", "TRANSFORMER_BASED_WRAP",
        "one FSDP unit per transformer block (the model's _no_split_modules), so only one block's "
        "weights are gathered at a time")
    put("fsdp_config.fsdp_backward_prefetch", "BACKWARD_PRE",
        "gather the previous block's weights before this block's gradients are computed: overlap "
        "at the cost of one extra block in memory")
    put("fsdp_config.fsdp_forward_prefetch", False, "no explicit forward prefetch (PyTorch's default)")
    put("fsdp_config.fsdp_state_dict_type", "SHARDED_STATE_DICT",
        "each GPU saves its own shard: fast, and no GPU ever holds the whole model")
    put("fsdp_config.fsdp_sync_module_states", True,
        "rank 0 loads the weights and broadcasts them, so the other ranks need no copy")
    put("fsdp_config.fsdp_cpu_ram_efficient_loading", True,
        "load the checkpoint once (rank 0) instead of once per GPU: host RAM "
        f"for {world} copies is not needed")
    put("fsdp_config.fsdp_use_orig_params", True,
        "keep the original parameters visible: needed by PEFT adapters, torch.compile and "
        "per-parameter optimizer groups")
    put("fsdp_config.fsdp_activation_checkpointing", c.request.gradient_checkpointing,
        "recompute activations in the backward pass: the sizing assumes it (each layer keeps "
        "only its input)")
    if c.request.method == "qlora":
        why.append(Setting("note", None, "QLoRA under FSDP needs the 4-bit weights stored in the "
                                         "compute dtype (bnb_4bit_quant_storage=bfloat16)"))
    return config, why


def deployment_lines(dep: Deployment) -> list[str]:
    """A readable deployment: header, the two files, and one line of reasons per setting."""
    import json

    import yaml

    option = dep.option
    lines = [f"Deployment on {dep.plan.hardware.name} ({dep.plan.hardware.origin})",
             f"Job: {dep.plan.job.describe(batch=False)}",
             f"Plan: {option.label}: {_gb(dep.per_gpu_gb)} GB per GPU of "
             f"{_gb(option.usable_gb or 0)} usable at micro-batch {dep.micro_batch}"
             + (f", {_gb(dep.host_ram_gb)} GB of host RAM" if dep.host_ram_gb else ""),
             (f"Global batch: micro-batch {dep.micro_batch} x {dep.accumulation} accumulation "
             f"x {dep.world_size} GPU(s) = {dep.micro_batch * dep.accumulation * dep.world_size}")]
    lines.extend(f"Warning: {w}" for w in dep.warnings)
    lines += ["", "DeepSpeed (ds_config.json):", json.dumps(dep.deepspeed, indent=2), "",
              "Why each DeepSpeed setting:"]
    lines += [f"  {s.key} = {json.dumps(s.value)}: {s.why}" for s in dep.deepspeed_why]
    lines += ["", "PyTorch FSDP through Accelerate (accelerate launch --config_file fsdp.yaml):",
              yaml.safe_dump(dep.fsdp, sort_keys=False).rstrip(), "", "Why each FSDP setting:"]
    lines += [f"  {s.key} = {json.dumps(s.value)}: {s.why}" if s.key != "note" else f"  note: {s.why}"
              for s in dep.fsdp_why]
    return lines
