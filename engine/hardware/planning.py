"""Plan a job on given GPUs: does it fit the cards in hand, and if not, what makes it fit?

Why one module of this length: the ladder of options is one algorithm over one Plan type; its
steps (replicas, ZeRO stages, offload, purchases) are read in order and share their checks.

A plan answers with the same memory arithmetic as the recommendations
(:mod:`gpu_advisor.arithmetic.sizing`): a ladder of ways to run it on the cards in hand, cheapest
in communication first (one full copy per GPU, ZeRO-2, ZeRO-3, then optimizer offload to host
RAM, with the host RAM it needs), then purchases ranked by cost (more of the same card, or the
recommendation engine's lowest-cost choice), then changes to the job itself (LoRA/QLoRA instead
of full fine-tuning, FP8/FP4 weights for inference). The first rung that fits is what
:mod:`gpu_advisor.hardware.deploy` writes settings for.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gpu_advisor.arithmetic.sizing import (
    FOUR_BIT,
    ModelArch,
    SizingRequest,
    estimate,
    resolve_model_reference,
    usable_memory_gb,
)
from gpu_advisor.errors import UsageError
from gpu_advisor.hardware.facts import bf16_capable, stated_memory_gb
from gpu_advisor.lang.conditions import MISSING

if TYPE_CHECKING:
    from gpu_advisor.core.answers import Answers
    from gpu_advisor.core.consult import Engine
    from gpu_advisor.hardware.machine import Machine
    from gpu_advisor.knowledge.kb import Device, Knowledge

MAX_GPUS = 64
"""Largest GPU count a plan or a purchase considers (the questionnaire's max_gpus limit)."""
POOLED = ("tensor", "pipeline")
"""Parallelisms that pool the memory of the GPUs one model runs on."""


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
        return {
            "count": self.count,
            "name": self.name,
            "device": self.device_id,
            "memory_gb": self.memory_gb,
            "usable_gb": round(self.usable_gb, 2),
            "origin": self.origin,
            "host_ram_gb": self.host_ram_gb,
            "nvlink_all": self.nvlink_all,
            "mixed_models": self.mixed,
        }


def hardware_from_machine(
    machine: Machine, knowledge: Knowledge, host_ram_gb: float | None = None
) -> Hardware:
    """The probed GPUs as one pool: a mixed box is planned on its smallest card."""
    memories = [stated_memory_gb(g, knowledge) for g in machine.gpus]
    if any(m is None for m in memories):
        unknown = [g.name for g, m in zip(machine.gpus, memories, strict=True) if m is None]
        raise UsageError(
            f"the memory of {', '.join(unknown)} is not reported and the knowledge "
            "base does not know the model: cannot plan on it"
        )
    kb_ids = Counter(g.kb_id for g in machine.gpus if g.kb_id)
    capable = [bf16_capable(g) for g in machine.gpus]
    topology = machine.topology
    nvlink_all = None
    if topology is not None and topology.links:
        nvlink_all = all(p.startswith("NV") for p in topology.links.values())
    return Hardware(
        count=len(machine.gpus),
        memory_gb=min(m for m in memories if m is not None),
        name=machine.describe_models(),
        device_id=kb_ids.most_common(1)[0][0] if kb_ids else None,
        origin="probed",
        host_ram_gb=host_ram_gb if host_ram_gb is not None else machine.host_ram_gb,
        nvlink_all=nvlink_all,
        bf16=False if False in capable else (None if None in capable else True),
        mixed=len(machine.models()) > 1,
    )


def hardware_from_device(
    device: Device, count: int, origin: str, host_ram_gb: float | None = None
) -> Hardware:
    """``count`` x a knowledge-base device."""
    nvlink_all = None
    if count > 1:
        domain = int(device.value("nvlink_max_gpus") or 1)
        nvlink_all = bool(device.value("nvlink")) and count <= domain
    return Hardware(
        count=count,
        memory_gb=float(device.value("memory_gb")),
        name=f"{count} x {device.name}",
        device_id=device.id,
        origin=origin,
        host_ram_gb=host_ram_gb,
        nvlink_all=nvlink_all,
        bf16=True,
    )


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
            return (
                f"{req.precision} inference of {model}, {req.batch_size} sequence(s) of "
                f"{req.context_tokens:,} tokens"
            )
        method = req.method or "full"
        shape = (
            f"micro-batch {req.batch_size} x {req.context_tokens:,} tokens"
            if batch
            else f"sequences of {req.context_tokens:,} tokens"
        )
        return f"{req.workload} ({method}, {req.precision}) of {model}, {shape}"


def catalog_path(kb_dir: str | Path | None) -> Path | None:
    """models.yaml of a --kb folder when it has one, else the shipped catalog."""
    if kb_dir is None:
        return None
    candidate = Path(kb_dir) / "models.yaml"
    return candidate if candidate.is_file() else None


def resolve_job(
    engine: Engine,
    raw: Mapping[str, Any],
    model_name: str | None = None,
    gpu_count: int | None = None,
    kb_dir: str | Path | None = None,
) -> Job:
    """Validate the answers against the questionnaire and build the base sizing request.

    The model size must be said (``model_params_b`` or a catalog ``--model``): the questionnaire's
    default of 7B would otherwise plan a job nobody asked for. With GPUs in hand, ``max_gpus``
    defaults to their number.
    """
    from gpu_advisor.arithmetic.context import sizing_request
    from gpu_advisor.core.answers import normalize_answers

    values = dict(raw)
    explicit = frozenset(values)
    model = None
    if model_name is not None:
        if "model_params_b" in values:
            raise UsageError(
                "--model and --set model_params_b are exclusive: a catalog model "
                "carries its parameter count"
            )
        model = resolve_model_reference(model_name, catalog_path(kb_dir))
        values["model_params_b"] = model.params_b
    elif "model_params_b" not in values:
        raise UsageError(
            "say how large the model is: --set model_params_b=70 (billions of "
            "parameters) or --model llama-3.1-70b"
        )
    if gpu_count is not None and "max_gpus" not in values:
        values["max_gpus"] = max(1, min(gpu_count, MAX_GPUS))
    rulebase = engine.rulebase
    answers = normalize_answers(rulebase.questions, values, rulebase.knowledge)
    request = sizing_request(answers)
    if request is None:
        raise UsageError(
            f"workload {answers.get('workload')}: there is no memory model to plan "
            "it with (pretraining, fine-tuning and inference are sized)"
        )
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
            "key": self.key,
            "kind": self.kind,
            "label": self.label,
            "fits": self.fits,
            "gpus": self.gpus,
            "zero_stage": self.zero_stage,
            "offload": self.offload,
            "per_gpu_gb": None if self.per_gpu_gb is None else round(self.per_gpu_gb, 2),
            "usable_gb": None if self.usable_gb is None else round(self.usable_gb, 2),
            "host_ram_gb": round(self.host_ram_gb, 1),
            "host_ram_ok": self.host_ok,
            "planned": self.planned,
            "notes": list(self.notes),
        }
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
        """The job fits as the user planned it, with nothing changed."""
        return self.chosen is not None and self.chosen.planned

    def to_json(self) -> dict[str, Any]:
        return {
            "hardware": self.hardware.to_json(),
            "job": self.job.request.to_json(),
            "verdict": self.verdict,
            "fits_in_hand": self.chosen is not None,
            "chosen": self.chosen.key if self.chosen else None,
            "options": [o.to_json() for o in self.options],
            "notes": list(self.notes),
        }


def format_gb(value: float) -> str:
    """GB as every plan and deployment sentence prints them: one decimal, thousands separated."""
    return f"{value:,.1f}"


def evaluate_option(
    option: Option, request: SizingRequest, usable: float, host_ram: float | None
) -> Option:
    """Size the option's request and record whether it fits the GPUs and the host RAM."""
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


def powers_of_two(limit: int) -> list[int]:
    """1, 2, 4... up to ``limit``: the tensor-parallel sizes and micro-batches tried."""
    counts, count = [], 1
    while count <= limit:
        counts.append(count)
        count *= 2
    return counts


STAGE_TEXT = {
    0: "nothing sharded: a full copy of weights, gradients and optimizer state on each GPU",
    2: "ZeRO-2: gradients and optimizer state sharded, weights whole on each GPU",
    3: "ZeRO-3 (FSDP full shard): weights, gradients and optimizer state sharded",
}
"""What each ZeRO stage shards, for option labels and the deployment's explanations."""


def in_hand_options(hardware: Hardware, job: Job) -> list[Option]:
    """The ladder on the cards in hand, least communication first."""
    base, n = job.request, hardware.count
    usable, host = hardware.usable_gb, hardware.host_ram_gb
    planned = job.planned_parallelism
    options: list[Option] = []
    if base.workload == "inference":
        counts = powers_of_two(n)
        for count in counts:
            label = "one GPU" if count == 1 else f"tensor parallel over {count} GPUs"
            if count == 1 and n > 1:
                label += f" (the other {n - 1} can serve replicas)"
            option = Option(f"tp-{count}", "in-hand", label, count, None, False, None, None)
            pooled_count = counts[-1] if planned in POOLED else 1
            option.planned = planned is not None and count == pooled_count
            request = replace(base, gpus=count, zero_stage=0, offload=False)
            options.append(evaluate_option(option, request, usable, host))
        return options
    ladder = [(0, False)] + ([(2, False), (3, False)] if n > 1 else []) + [(2, True), (3, True)]
    for stage, offload in ladder:
        gpus = n
        if stage == 0:
            label = (
                "one GPU, nothing sharded"
                if n == 1
                else f"data parallel over {n} GPUs, {STAGE_TEXT[0]}"
            )
        else:
            shards = STAGE_TEXT[stage].split(": ", 1)[1]
            label = f"ZeRO-{stage} over {n} GPU{'s' if n > 1 else ''}: {shards}"
            if offload:
                label = (
                    f"ZeRO-{stage} over {n} GPU{'s' if n > 1 else ''} with the optimizer "
                    "state offloaded to host RAM"
                )
        key = f"zero-{stage}" + ("-offload" if offload else "")
        option = Option(key, "in-hand", label, gpus, stage, offload, None, None)
        if planned is not None and not offload:
            option.planned = stage == (3 if planned in POOLED and n > 1 else 0)
        if offload:
            option.notes.append(
                "every step moves gradients to the CPU and weights back over "
                "PCIe, and the optimizer steps on the CPU: expect it to run "
                "several times slower than without offload"
            )
        request = replace(base, gpus=gpus, zero_stage=stage, offload=offload)
        options.append(evaluate_option(option, request, usable, host))
    return options


def _best_in_hand(base: SizingRequest, n: int) -> SizingRequest:
    """The most memory-saving way to run on n cards without offload."""
    if base.workload == "inference":
        return replace(base, gpus=powers_of_two(n)[-1], zero_stage=0, offload=False)
    return replace(base, gpus=n, zero_stage=3 if n > 1 else 0, offload=False)


def _more_of_the_same(
    hardware: Hardware, job: Job, knowledge: Knowledge, allow_offload: bool = True
) -> list[Option]:
    """Add cards of the model in hand: the fewest that fit without offload and, when fewer
    fit with the optimizer offloaded (and the host RAM allows it), that purchase too."""
    if hardware.device_id is None or hardware.mixed:
        return []
    device = knowledge.devices[hardware.device_id]
    price = float(device.value("price_usd"))
    per_node = int(device.value("units_per_node") or 1)
    base, n, usable = job.request, hardware.count, hardware.usable_gb
    training = base.workload != "inference"
    counts = range(1, MAX_GPUS + 1) if training else powers_of_two(MAX_GPUS)

    def fewest(offload: bool) -> Option | None:
        for total in counts:
            if total <= n:
                continue
            request = _best_in_hand(base, total)
            if offload:
                request = replace(request, zero_stage=3, offload=True)
            buy = total - n
            nodes = math.ceil(total / per_node)
            where = (
                f"{total} in one box"
                if nodes == 1
                else f"{total} over {nodes} boxes of {per_node}, joined by the network"
            )
            how = ", ZeRO-3 with optimizer offload" if offload else ""
            option = Option(
                "buy-more-offload" if offload else "buy-more",
                "purchase",
                f"buy {buy} more {device.short_name} ({where}{how})",
                total,
                request.zero_stage if training else None,
                offload,
                None,
                None,
                cost_usd=round(buy * price, 2),
                device=device.id,
                buy=buy,
            )
            if not evaluate_option(option, request, usable, hardware.host_ram_gb).fits:
                continue
            option.notes.append(
                f"at the knowledge base's ${price:,.0f} per card; check the "
                "chassis has the slots, power and cooling for them"
            )
            if nodes > 1:
                option.notes.append(
                    "sharding one job across boxes needs a fast network "
                    "(InfiniBand or RoCE) between them"
                )
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
        option = Option(
            f"buy-{rec.device}",
            "purchase",
            f"buy {rec.count} x {rec.name} (a new set, for this job alone)",
            rec.count,
            None,
            False,
            None,
            None,
            fits=True,
            cost_usd=rec.cost_usd,
            device=rec.device,
            buy=rec.count,
        )
        device = engine.rulebase.knowledge.devices[rec.device]
        attrs = consultation.devices.get(rec.device, {})
        option.per_gpu_gb = attrs.get("memory_per_gpu_gb")
        option.usable_gb = usable_memory_gb(float(device.value("memory_gb")))
        because = next((r.because for r in rec.reasons if not r.rule.startswith("ranking")), "")
        option.notes.append(
            "the recommendation engine's lowest-cost choice (gpu-advisor "
            "recommend --set priority=lowest-cost)" + (f": {because}" if because else "")
        )
        options.append(option)
    return options


def _job_changes(hardware: Hardware, job: Job, knowledge: Knowledge | None) -> list[Option]:
    """The same cards with a lighter job: adapters instead of full training, narrower weights."""
    base, n = job.request, hardware.count
    changes: list[tuple[str, str, SizingRequest]] = []
    if base.workload == "fine-tuning" and (base.method or "full") == "full":
        changes.append(
            (
                "lora",
                "LoRA instead of full fine-tuning (frozen base, small adapters)",
                replace(base, method="lora"),
            )
        )
        changes.append(
            (
                "qlora",
                "QLoRA instead of full fine-tuning (4-bit NF4 base, adapters)",
                replace(base, method="qlora", precision="nf4"),
            )
        )
    elif base.workload == "fine-tuning" and base.method == "lora":
        changes.append(
            (
                "qlora",
                "QLoRA instead of LoRA (4-bit NF4 base)",
                replace(base, method="qlora", precision="nf4"),
            )
        )
    elif base.workload == "inference":
        if base.precision not in ("fp8", "int8") and base.precision not in FOUR_BIT:
            changes.append(
                ("fp8", "FP8 weights instead of " + base.precision, replace(base, precision="fp8"))
            )
        if base.precision not in FOUR_BIT:
            changes.append(
                (
                    "fp4",
                    "4-bit weights (NVFP4) instead of " + base.precision,
                    replace(base, precision="nvfp4"),
                )
            )
    device = knowledge.devices.get(hardware.device_id) if knowledge and hardware.device_id else None
    options = []
    for key, label, request in changes:
        request = _best_in_hand(request, n)
        where = (
            "one GPU"
            if request.gpus == 1
            else (
                f"ZeRO-3 over {request.gpus} GPUs"
                if base.workload != "inference"
                else f"tensor parallel over {request.gpus} GPUs"
            )
        )
        option = Option(
            f"change-{key}",
            "change-job",
            f"{label}, {where}",
            request.gpus,
            request.zero_stage if base.workload != "inference" else None,
            False,
            None,
            None,
        )
        evaluate_option(option, request, hardware.usable_gb, hardware.host_ram_gb)
        if (
            device is not None
            and key == "fp8"
            and device.throughput("fp8", sparse=True) is None
            and device.throughput("fp8", sparse=False) is None
        ):
            option.notes.append(
                f"{device.short_name} has no FP8 tensor cores: the weights are "
                "stored in FP8 and computed in 16 bit (weight-only), so memory "
                "drops but speed does not rise"
            )
        if device is not None and key == "fp4" and not device.value("fp4"):
            option.notes.append(
                f"{device.short_name} has no FP4 tensor cores: 4-bit weights are "
                "unpacked to 16 bit for compute (weight-only)"
            )
        if key in ("lora", "qlora"):
            option.notes.append("changes what is trained: adapters, not every weight")
        options.append(option)
    return options


def make_plan(
    hardware: Hardware, job: Job, knowledge: Knowledge | None = None, engine: Engine | None = None
) -> Plan:
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
        notes.append(
            f"the cards differ; the plan uses the smallest ({hardware.memory_gb:g} GiB) "
            "for every GPU, as an evenly sharded job must"
        )
    if hardware.host_ram_gb is None and any(o.host_ram_gb for o in in_hand):
        notes.append(
            "host RAM was not measured (saved outputs do not include it): pass "
            "--host-ram-gb to check the offload options against it"
        )
    plan = Plan(hardware, job, in_hand + purchases + changes, chosen, "", notes)
    plan.verdict = _verdict(plan, purchases, changes)
    return plan


def _need(option: Option) -> str:
    return (
        f"{format_gb(option.per_gpu_gb or 0)} GB per GPU of "
        f"{format_gb(option.usable_gb or 0)} usable"
    )


def _verdict(plan: Plan, purchases: list[Option], changes: list[Option]) -> str:
    hardware, chosen = plan.hardware, plan.chosen
    planned = next((o for o in plan.options if o.planned), None)
    host = ""
    if chosen is not None and chosen.host_ram_gb:
        have = (
            "not measured: pass --host-ram-gb"
            if hardware.host_ram_gb is None
            else f"this machine has {format_gb(hardware.host_ram_gb)} GB"
        )
        host = f", and {format_gb(chosen.host_ram_gb)} GB of host RAM ({have})"
    if chosen is not None and chosen.planned:
        return f"Fits as planned on {hardware.name}: {chosen.label}, {_need(chosen)}{host}."
    if chosen is not None:
        text = f"Fits {hardware.name} with {chosen.label}: {_need(chosen)}{host}."
        if planned is not None:
            text += f" As planned ({planned.label}) it needs {_need(planned)}."
        if chosen.offload and purchases:
            text += (
                f" To avoid offload, the smallest purchase: {purchases[0].label}, "
                f"${purchases[0].cost_usd:,.0f}."
            )
        return text
    best = min(
        (o for o in plan.options if o.kind == "in-hand" and o.per_gpu_gb is not None),
        key=lambda o: o.per_gpu_gb or 0.0,
        default=None,
    )
    text = f"Does not fit {hardware.name}"
    if best is not None:
        text += f" even with {best.label} ({_need(best)}"
        if best.host_ok is False:
            text += (
                f"; its {format_gb(best.host_ram_gb)} GB of host RAM exceeds the "
                f"{format_gb(hardware.host_ram_gb or 0)} GB here"
            )
        text += ")"
    text += "."
    if purchases:
        cheapest = purchases[0]
        text += f" Smallest purchase that does: {cheapest.label}, ${cheapest.cost_usd:,.0f}."
    else:
        text += f" No purchase of up to {MAX_GPUS} GPUs found."
    fitting_change = next((o for o in changes if o.fits), None)
    if fitting_change is not None:
        text += f" Or change the job: {fitting_change.label} fits ({_need(fitting_change)})."
    return text


def plan_lines(plan: Plan) -> list[str]:
    """The plan as text: verdict, then every option with its numbers."""
    lines = [f"Job: {plan.job.describe()}", f"Verdict: {plan.verdict}"]
    titles = {
        "in-hand": "On the cards in hand",
        "purchase": "Purchases, cheapest first",
        "change-job": "Or change the job",
    }
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
                need += f"; host RAM {format_gb(option.host_ram_gb)} GB ({state})"
            cost = f" — ${option.cost_usd:,.0f}" if option.cost_usd is not None else ""
            planned = " [as planned]" if option.planned else ""
            lines.append(f"  [{mark}] {option.label}{planned}{need}{cost}")
            lines.extend(f"         {note}" for note in option.notes)
    lines.extend(f"Note: {note}" for note in plan.notes)
    return lines
