"""DeepSpeed and PyTorch FSDP settings for a plan's option, each with the reason for its value.

The option a plan chose (:mod:`gpu_advisor.hardware.planning`), or the one forced with
``--zero``/``--offload``, becomes a DeepSpeed configuration (the keys DeepSpeed reads:
``train_micro_batch_size_per_gpu``, ``gradient_accumulation_steps``, ``bf16``,
``zero_optimization.stage``, ``offload_optimizer.device``...) and the equivalent Hugging Face
Accelerate FSDP configuration, with one sentence per setting saying why it has that value.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from gpu_advisor.arithmetic.sizing import (
    ModelArch,
    SizingRequest,
    architecture_from_params,
    estimate,
)
from gpu_advisor.errors import UsageError
from gpu_advisor.hardware.planning import (
    STAGE_TEXT,
    Hardware,
    Job,
    Option,
    Plan,
    evaluate_option,
    format_gb,
    powers_of_two,
)

MAX_AUTO_MICRO_BATCH = 64
"""Largest micro-batch the automatic choice tries (powers of two up to it)."""


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
    """One option made concrete: batch sizes, precision, and both configurations with reasons."""

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
        return {
            "hardware": self.plan.hardware.to_json(),
            "plan": self.plan.to_json(),
            "option": self.option.key,
            "world_size": self.world_size,
            "micro_batch": self.micro_batch,
            "gradient_accumulation_steps": self.accumulation,
            "per_gpu_gb": round(self.per_gpu_gb, 2),
            "host_ram_gb": round(self.host_ram_gb, 1),
            "global_batch": self.micro_batch * self.accumulation * self.world_size,
            "precision": self.precision,
            "deepspeed": self.deepspeed,
            "fsdp": self.fsdp,
            "explanations": {
                "deepspeed": [s.to_json() for s in self.deepspeed_why],
                "fsdp": [s.to_json() for s in self.fsdp_why],
            },
            "warnings": list(self.warnings),
        }


def pick_option(plan: Plan, zero_stage: int | None = None, offload: bool | None = None) -> Option:
    """The plan's chosen option, or the in-hand option the user forces with --zero/--offload."""
    if zero_stage is None and offload is None:
        if plan.chosen is None:
            raise UsageError(f"nothing to deploy: {plan.verdict}")
        return plan.chosen
    if plan.job.workload == "inference":
        raise UsageError("--zero and --offload apply to training")
    chosen_stage = plan.chosen.zero_stage if plan.chosen is not None else None
    if zero_stage is not None:
        stage = zero_stage
    else:
        stage = chosen_stage if chosen_stage is not None else 3
    off = bool(offload) if offload is not None else (plan.chosen.offload if plan.chosen else False)
    if stage == 0 and off:
        raise UsageError(
            "--offload needs --zero 1, 2 or 3: DeepSpeed offloads the sharded optimizer state"
        )
    hardware = plan.hardware
    request = replace(plan.job.request, gpus=hardware.count, zero_stage=stage, offload=off)
    label = f"ZeRO-{stage} over {hardware.count} GPUs" + (" with optimizer offload" if off else "")
    option = Option(
        f"zero-{stage}" + ("-offload" if off else ""),
        "in-hand",
        label,
        hardware.count,
        stage,
        off,
        None,
        None,
    )
    return evaluate_option(option, request, hardware.usable_gb, hardware.host_ram_gb)


def _auto_micro_batch(option: Option, usable: float) -> int:
    """The largest power-of-two micro-batch that still fits (at least 1)."""
    assert option.request is not None
    best = 1
    for batch in powers_of_two(MAX_AUTO_MICRO_BATCH):
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
        notes.append(
            f"{precision} weights: the training loop still runs in bf16 mixed precision "
            "(FP8 compute needs Transformer Engine, outside these configurations)"
            if job.request.method in (None, "full")
            else f"the frozen base is stored in {precision}; adapters and compute use bf16"
        )
    if hardware.bf16 is False:
        notes.append(
            "these GPUs predate bf16 tensor cores (before Ampere): fp16 with dynamic loss "
            "scaling instead"
        )
        return "fp16", notes
    return "bf16", notes


def _arch(job: Job) -> ModelArch:
    return job.request.model or architecture_from_params(job.request.params_b)


def build_deployment(
    plan: Plan,
    option: Option,
    micro_batch: int | None = None,
    global_batch: int | None = None,
    learning_rate: float | None = None,
) -> Deployment:
    """DeepSpeed and FSDP settings for one option of a plan, each with its reason."""
    job, hardware = plan.job, plan.hardware
    if job.workload == "inference":
        raise UsageError(
            "deploy writes training configurations (DeepSpeed ZeRO, FSDP); for "
            f"inference the plan says: {plan.verdict}"
        )
    assert option.request is not None and option.zero_stage is not None
    usable = hardware.usable_gb
    warnings: list[str] = []
    explicit_batch = "batch_size" in job.explicit
    if micro_batch is None:
        micro_batch = (
            job.request.batch_size if explicit_batch else _auto_micro_batch(option, usable)
        )
    request = replace(option.request, batch_size=micro_batch)
    result = estimate(request)
    if result.per_gpu_gb > usable:
        warnings.append(
            f"this setting does not fit: {format_gb(result.per_gpu_gb)} GB per GPU of "
            f"{format_gb(usable)} usable; expect CUDA out-of-memory errors"
        )
    host_ram = hardware.host_ram_gb
    if result.host_ram_gb and host_ram is not None and result.host_ram_gb > host_ram:
        warnings.append(
            f"offload needs {format_gb(result.host_ram_gb)} GB of host RAM; this "
            f"machine has {format_gb(host_ram)} GB"
        )
    world = option.gpus
    if global_batch is not None:
        per_step = micro_batch * world
        accumulation = max(1, math.ceil(global_batch / per_step))
        if accumulation * per_step != global_batch:
            warnings.append(
                f"a global batch of {global_batch} is not a multiple of micro-batch x "
                f"GPUs = {per_step}; it becomes {accumulation * per_step}"
            )
    else:
        accumulation = 1
    precision, precision_notes = _training_precision(job, hardware)
    warnings.extend(precision_notes)
    stage = option.zero_stage
    arch = _arch(job)
    context = _Context(
        plan,
        option,
        request,
        result.per_gpu_gb,
        usable,
        result.host_ram_gb,
        micro_batch,
        explicit_batch,
        accumulation,
        global_batch,
        precision,
        arch,
        learning_rate,
    )
    ds, ds_why = _deepspeed(context)
    fsdp, fsdp_why = _fsdp(context)
    if stage == 0 and world > 1:
        warnings.append("ZeRO-0 keeps a full replica on every GPU: plain DDP, no sharding")
    return Deployment(
        plan,
        option,
        micro_batch,
        accumulation,
        precision,
        ds,
        ds_why,
        fsdp,
        fsdp_why,
        result.per_gpu_gb,
        result.host_ram_gb,
        warnings,
    )


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
                parts.append(f"{o.key} {format_gb(o.per_gpu_gb)} GB")
        return ", ".join(parts)


def _batch_why(c: _Context) -> str:
    if c.explicit_batch:
        return (
            f"the batch_size you gave; with it the job needs {format_gb(c.per_gpu_gb)} GB "
            f"per GPU of {format_gb(c.usable_gb)} usable"
        )
    return (
        f"the largest power of two (up to {MAX_AUTO_MICRO_BATCH}) that still fits: "
        f"{format_gb(c.per_gpu_gb)} GB per GPU of {format_gb(c.usable_gb)} usable at "
        f"{c.request.context_tokens:,} tokens; activations grow with it, weights do not"
    )


def _accumulation_why(c: _Context) -> str:
    per_step = c.micro_batch * c.world
    if c.global_batch is None:
        return (
            f"no global batch asked (--global-batch N): each optimizer step sees micro-batch "
            f"{c.micro_batch} x {c.world} GPU(s) = {per_step} sequences"
        )
    return (
        f"global batch {c.global_batch} / (micro-batch {c.micro_batch} x {c.world} GPUs) = "
        f"{c.accumulation} steps accumulated per optimizer step, with no extra memory"
    )


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
    put(
        "gradient_clipping",
        1.0,
        "clip the gradient norm at 1.0, the usual guard against loss spikes in LLM fine-tuning",
    )
    put(
        "bf16.enabled",
        c.precision == "bf16",
        "bf16 mixed precision: same exponent range as fp32, so no loss scaling"
        if c.precision == "bf16"
        else f"training runs in {c.precision}",
    )
    put(
        "fp16.enabled",
        c.precision == "fp16",
        "fp16 mixed precision with dynamic loss scaling (the GPUs lack bf16, or fp16 was asked)"
        if c.precision == "fp16"
        else "off: one mixed-precision mode at a time",
    )
    if c.precision == "fp16":
        put("fp16.loss_scale", 0, "0 selects dynamic loss scaling")
        put("fp16.initial_scale_power", 16, "start the loss scale at 2^16 and let it adapt")
        put("fp16.loss_scale_window", 1000, "raise the scale after 1,000 steps without overflow")
        put("fp16.hysteresis", 2, "tolerate 2 overflows before lowering the scale")
        put("fp16.min_loss_scale", 1, "never scale below 1")
    stage_why = (
        f"the first rung of the ladder that fits these {c.world} GPU(s) "
        f"({c.ladder()}; {format_gb(c.usable_gb)} GB usable per GPU): "
        f"{STAGE_TEXT.get(stage, f'ZeRO-{stage}')}"
    )
    if c.option is not c.plan.chosen:
        stage_why = (
            f"ZeRO-{stage} as asked; {format_gb(c.per_gpu_gb)} GB per GPU of "
            f"{format_gb(c.usable_gb)} usable"
        )
    put("zero_optimization.stage", stage, stage_why)
    if stage >= 1:
        put(
            "zero_optimization.offload_optimizer.device",
            "cpu" if offload else "none",
            (
                "fp32 master weights, Adam moments and fp32 gradients (16 B per trainable "
                "parameter) "
                f"live in host RAM: {format_gb(c.host_ram_gb)} GB with DeepSpeed's 1.5 buffer "
                "factor "
                + (
                    "(not measured here)"
                    if c.plan.hardware.host_ram_gb is None
                    else f"of the {format_gb(c.plan.hardware.host_ram_gb)} GB this machine has"
                )
                + "; the step runs on the CPU (DeepSpeedCPUAdam)"
            )
            if offload
            else "the optimizer state fits on the GPUs, where the step is fastest",
        )
        if offload:
            put(
                "zero_optimization.offload_optimizer.pin_memory",
                True,
                "page-locked host buffers double the CPU-GPU copy speed; they cannot be swapped "
                "out, so the host RAM above must really be free",
            )
        put(
            "zero_optimization.overlap_comm",
            True,
            "reduce gradients while the backward pass still computes; costs bucket-sized buffers",
        )
        put(
            "zero_optimization.contiguous_gradients",
            True,
            "copy gradients into one contiguous buffer as they are produced: no fragmentation "
            "late in the backward pass",
        )
        put(
            "zero_optimization.reduce_bucket_size",
            hidden * hidden,
            f"hidden^2 = {hidden:,}^2 elements, the size Hugging Face's integration derives for "
            "'auto': large enough to keep the links busy, small enough to leave memory",
        )
    if stage == 2:
        put(
            "zero_optimization.allgather_bucket_size",
            hidden * hidden,
            "the same hidden^2 bucket for the all-gather of updated weights",
        )
        put(
            "zero_optimization.reduce_scatter",
            True,
            "reduce-scatter instead of all-reduce: each GPU receives only its shard of gradients",
        )
    if stage == 3:
        put(
            "zero_optimization.offload_param.device",
            "none",
            "weights stay on the GPUs (sharded): parameter offload is the last resort and the "
            "sizing above shows it is not needed",
        )
        put(
            "zero_optimization.stage3_prefetch_bucket_size",
            int(0.9 * hidden * hidden),
            "0.9 x hidden^2 elements: gather the next layers' weights while this one computes",
        )
        put(
            "zero_optimization.stage3_param_persistence_threshold",
            10 * hidden,
            f"10 x hidden = {10 * hidden:,} elements: smaller tensors (norms, biases) stay whole "
            "on every GPU instead of being gathered each time",
        )
        put(
            "zero_optimization.stage3_max_live_parameters",
            1_000_000_000,
            "at most 1e9 gathered parameters alive at once (DeepSpeed's default); lower it if "
            "gathering still runs out of memory",
        )
        put(
            "zero_optimization.stage3_max_reuse_distance",
            1_000_000_000,
            "keep a gathered parameter if it is reused within 1e9 parameters (default)",
        )
        put(
            "zero_optimization.stage3_gather_16bit_weights_on_model_save",
            True,
            "write one consolidated 16-bit checkpoint at save time, loadable without DeepSpeed "
            "(otherwise only per-GPU shards are saved)",
        )
        put(
            "zero_optimization.sub_group_size",
            1_000_000_000,
            "the optimizer steps over groups of 1e9 parameters; lower it if the step runs out of "
            "(host) memory",
        )
    if offload:
        lr = (
            c.learning_rate
            if c.learning_rate is not None
            else (1e-5 if (c.request.method or "full") == "full" else 2e-4)
        )
        put(
            "optimizer.type",
            "AdamW",
            "with offload DeepSpeed must build the optimizer itself to run its CPU Adam on the "
            "offloaded state; a torch optimizer passed in is refused",
        )
        put(
            "optimizer.params.lr",
            lr,
            "a common starting learning rate for this method; set yours (--learning-rate)",
        )
        put("optimizer.params.betas", [0.9, 0.999], "AdamW's usual moment decay rates")
        put("optimizer.params.eps", 1e-8, "AdamW's usual epsilon")
        put(
            "optimizer.params.weight_decay",
            0.0,
            "no weight decay, the usual choice for fine-tuning",
        )
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
        put(
            "distributed_type",
            kind,
            "nothing needs sharding: plain DistributedDataParallel (one replica per GPU)"
            if world > 1
            else "one GPU: no distribution at all",
        )
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
    meaning = {
        "SHARD_GRAD_OP": "shards gradients and optimizer state, keeps whole weights: ZeRO-2",
        "FULL_SHARD": "shards weights, gradients and optimizer state: ZeRO-3",
    }
    put("fsdp_config.fsdp_sharding_strategy", strategy, meaning[strategy])
    offload_why = "weights, gradients and optimizer state stay on the GPUs"
    if offload:
        offload_why = (
            "FSDP has no optimizer-only offload: CPU offload moves the parameters and "
            "gradients too and steps on the CPU, so it uses at least the "
            f"{format_gb(c.host_ram_gb)} GB of host RAM the DeepSpeed estimate gives "
            "and is slower; prefer the DeepSpeed file for this plan"
        )
        if stage == 2:
            offload_why += "; with CPU offload FSDP shards fully (FULL_SHARD), ZeRO-2 has no twin"
            config["fsdp_config"]["fsdp_sharding_strategy"] = "FULL_SHARD"
            why[-1] = Setting(
                "fsdp_config.fsdp_sharding_strategy",
                "FULL_SHARD",
                "CPU offload in FSDP works with full sharding",
            )
    put("fsdp_config.fsdp_offload_params", offload, offload_why)
    put(
        "fsdp_config.fsdp_auto_wrap_policy",
        "TRANSFORMER_BASED_WRAP",
        "one FSDP unit per transformer block (the model's _no_split_modules), so only one block's "
        "weights are gathered at a time",
    )
    put(
        "fsdp_config.fsdp_backward_prefetch",
        "BACKWARD_PRE",
        "gather the previous block's weights before this block's gradients are computed: overlap "
        "at the cost of one extra block in memory",
    )
    put(
        "fsdp_config.fsdp_forward_prefetch",
        False,
        "no explicit forward prefetch (PyTorch's default)",
    )
    put(
        "fsdp_config.fsdp_state_dict_type",
        "SHARDED_STATE_DICT",
        "each GPU saves its own shard: fast, and no GPU ever holds the whole model",
    )
    put(
        "fsdp_config.fsdp_sync_module_states",
        True,
        "rank 0 loads the weights and broadcasts them, so the other ranks need no copy",
    )
    put(
        "fsdp_config.fsdp_cpu_ram_efficient_loading",
        True,
        "load the checkpoint once (rank 0) instead of once per GPU: host RAM "
        f"for {world} copies is not needed",
    )
    put(
        "fsdp_config.fsdp_use_orig_params",
        True,
        "keep the original parameters visible: needed by PEFT adapters, torch.compile and "
        "per-parameter optimizer groups",
    )
    put(
        "fsdp_config.fsdp_activation_checkpointing",
        c.request.gradient_checkpointing,
        "recompute activations in the backward pass: the sizing assumes it (each layer keeps "
        "only its input)",
    )
    if c.request.method == "qlora":
        why.append(
            Setting(
                "note",
                None,
                "QLoRA under FSDP needs the 4-bit weights stored in the "
                "compute dtype (bnb_4bit_quant_storage=bfloat16)",
            )
        )
    return config, why


def deployment_lines(dep: Deployment) -> list[str]:
    """A readable deployment: header, the two files, and one line of reasons per setting."""
    import json

    import yaml

    option = dep.option
    lines = [
        f"Deployment on {dep.plan.hardware.name} ({dep.plan.hardware.origin})",
        f"Job: {dep.plan.job.describe(batch=False)}",
        f"Plan: {option.label}: {format_gb(dep.per_gpu_gb)} GB per GPU of "
        f"{format_gb(option.usable_gb or 0)} usable at micro-batch {dep.micro_batch}"
        + (f", {format_gb(dep.host_ram_gb)} GB of host RAM" if dep.host_ram_gb else ""),
        (
            f"Global batch: micro-batch {dep.micro_batch} x {dep.accumulation} accumulation "
            f"x {dep.world_size} GPU(s) = {dep.micro_batch * dep.accumulation * dep.world_size}"
        ),
    ]
    lines.extend(f"Warning: {w}" for w in dep.warnings)
    lines += [
        "",
        "DeepSpeed (ds_config.json):",
        json.dumps(dep.deepspeed, indent=2),
        "",
        "Why each DeepSpeed setting:",
    ]
    lines += [f"  {s.key} = {json.dumps(s.value)}: {s.why}" for s in dep.deepspeed_why]
    lines += [
        "",
        "PyTorch FSDP through Accelerate (accelerate launch --config_file fsdp.yaml):",
        yaml.safe_dump(dep.fsdp, sort_keys=False).rstrip(),
        "",
        "Why each FSDP setting:",
    ]
    lines += [
        f"  note: {s.why}" if s.key == "note" else f"  {s.key} = {json.dumps(s.value)}: {s.why}"
        for s in dep.fsdp_why
    ]
    return lines
