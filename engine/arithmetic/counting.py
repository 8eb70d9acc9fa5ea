"""From answers and one device to "how many": the demand of the consultation, sized on the device.

``demand.py`` is the arithmetic on plain numbers; this module reads the answers (users, speed,
tokens, deadline, cap, budget), the model's shape, the sizing estimate and the device's facts,
chooses the defaults of kb/demand.yaml where an answer is not given (and records which, with
their sources), and returns the count with what set it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from gpu_advisor.arithmetic import model_memory, sizing
from gpu_advisor.arithmetic.demand import (
    COUNTS_REMEMBERED,
    Count,
    Hardware,
    Interactive,
    ServedModel,
    Training,
    batch_count,
    interactive_count,
    training_count,
)
from gpu_advisor.arithmetic.model_memory import FileModel
from gpu_advisor.arithmetic.remembered import NOT_FOUND, Remembered
from gpu_advisor.knowledge.answers import Answers
from gpu_advisor.knowledge.demand import DemandDefaults
from gpu_advisor.knowledge.kb import Device
from gpu_advisor.lang.conditions import MISSING

LARGEST_SEARCH = 1 << 20
"""The most GPUs a memory search tries when the user sets no cap."""


@dataclass(frozen=True)
class Demand:
    """What the purchase must deliver, independent of the device: the served model and users,
    an offline token rate, or a training run; with the defaults that filled unanswered questions."""

    kind: str  # interactive | batch | training | none
    served: ServedModel | None = None
    interactive: Interactive | None = None
    tokens_per_day: float | None = None
    context_tokens: int = 0
    training: Training | None = None
    training_mfu_given: bool = False
    defaults_used: tuple[str, ...] = ()
    """Names of kb/demand.yaml defaults the answers left in force."""


def _answer(answers: Answers, key: str) -> Any:
    value = answers.get(key)
    return None if value is MISSING else value


def demand_of(answers: Answers, estimate: Any, arch: Any, defaults: DemandDefaults) -> Demand:
    """The consultation's demand: for inference the model as served and the users (or the token
    rate), for training the run's FLOPs and deadline. ``estimate`` is the sizing of one replica
    holding one sequence (weights, activations, CUDA context)."""
    workload = _answer(answers, "workload")
    used: list[str] = []

    def pick(key: str, default: str) -> float:
        value = _answer(answers, key)
        if value is None:
            used.append(default)
            return defaults[default]
        return float(value)

    if workload == "inference" and estimate is not None:
        weights = estimate.item("weights").gb
        kv_item = estimate.item("kv_cache")
        request = estimate.request
        kv_per_token = (
            (kv_item.gb / (request.context_tokens * request.batch_size)) if kv_item else 0.0
        )
        # Per GPU besides weights and KV cache: the activation peak and the CUDA context (the
        # serving engine's reserve is taken off the card's capacity instead, see hardware()).
        overhead = sum(
            item.per_gpu_gb
            for item in estimate.breakdown
            if item.item in ("activations", "overhead")
        )
        served = ServedModel(
            weights_gb=weights,
            kv_gb_per_token=kv_per_token,
            active_params_b=float(arch.active_params_b),
            overhead_gb_per_gpu=overhead,
            **_experts_served(arch, weights, request.precision),
        )
        context = int(
            _answer(answers, "average_context_tokens") or _answer(answers, "context_tokens") or 4096
        )
        if _answer(answers, "serving") == "batch":
            per_day = _answer(answers, "tokens_per_day")
            return Demand(
                "batch",
                served=served,
                tokens_per_day=None if per_day is None else float(per_day),
                context_tokens=context,
                defaults_used=tuple(used),
            )
        users = int(_answer(answers, "concurrent_users") or 1)
        speed = pick("tokens_per_s_per_user", "tokens_per_s_per_user")
        return Demand(
            "interactive",
            served=served,
            context_tokens=context,
            interactive=Interactive(users, context, speed, defaults["decode_mfu"]),
            defaults_used=tuple(used),
        )
    if workload in ("pretraining", "fine-tuning") and arch is not None:
        params = float(arch.params_b)
        method = _answer(answers, "method") if workload == "fine-tuning" else "full"
        tokens = _answer(answers, "train_tokens_b")
        if tokens is None:
            if workload == "pretraining":
                used.append("tokens_per_param_pretraining")
                tokens = defaults["tokens_per_param_pretraining"] * params
            else:
                used.append("finetune_tokens_b")
                tokens = defaults["finetune_tokens_b"]
        tokens = float(tokens)
        if workload == "fine-tuning":
            tokens *= pick("epochs", "finetune_epochs")
        factor_name = (
            "flops_per_param_token_lora"
            if method in ("lora", "qlora")
            else "flops_per_param_token_full"
        )
        used.append(factor_name)
        time_factor = 1.0
        if method == "qlora":
            used.append("qlora_time_factor")
            time_factor = defaults["qlora_time_factor"]
        deadline = pick("deadline_days", "deadline_days")
        mfu = _answer(answers, "mfu")
        run = Training(
            params_b=float(arch.active_params_b),
            tokens_b=tokens,
            flops_per_param_token=defaults[factor_name],
            mfu=float(mfu) if mfu is not None else defaults["mfu_nvlink"],
            deadline_days=deadline,
            time_factor=time_factor,
        )
        return Demand(
            "training", training=run, training_mfu_given=mfu is not None, defaults_used=tuple(used)
        )
    return Demand("none")


def _experts_served(arch: Any, weights_gb: float, precision: str) -> dict[str, Any]:
    """For a mixture of experts: the routed experts' share of the weights, and E and k, so a
    decode step reads only the experts its batch routes to. Nothing for a dense model: it reads
    all its weights.

    The share is of the bytes: a model read from its files may hold its experts at another
    width than its embeddings (``model_memory`` works that out); a catalog model is sized at
    one width for every weight, so its experts' share of the bytes is their share of the
    parameters. Either way it scales the weights sized, so both paths split them alike."""
    if arch is None or not arch.is_moe:
        return {}
    if isinstance(arch, FileModel):
        spec = arch.spec
        held = model_memory.held_format(spec, precision)
        whole = model_memory.weight_bytes(spec, held).value
        experts = model_memory.expert_weight_bytes(spec, held).value
    else:
        whole, experts = float(round(arch.params_b * 1e9)), float(arch.routed_expert_params)
    if whole <= 0 or experts <= 0:
        return {}
    return {
        "expert_gb": weights_gb * experts / whole,
        "experts": arch.experts,
        "experts_per_token": arch.experts_per_token,
    }


def peer_to_peer(device: Device) -> bool:
    """Whether the device's GPUs reach each other directly: GeForce cards have no PCIe
    peer-to-peer with the stock driver, and appliances are separate boxes on a network."""
    return device.value("driver_class") != "geforce" and device.value("setting") != "appliance"


def tensor_parallel_degrees(
    device: Device, defaults: DemandDefaults, box: int | None = None
) -> tuple[int, ...]:
    """Group sizes a model can be split over: powers of two within the NVLink domain, and small
    PCIe groups where the cards reach each other directly (heads must split evenly); never more
    than one box holds (``box``), since a tensor-parallel group does not cross the network."""
    pcie_max = int(defaults["pcie_tensor_parallel_max"])
    return device.remembered(
        ("tensor_parallel_degrees", pcie_max, box), _degrees, device, pcie_max, box
    )


def _degrees(device: Device, pcie_max: int, box: int | None) -> tuple[int, ...]:
    nvlink = int(device.value("nvlink_max_gpus") or 1) if device.value("nvlink") else 1
    pcie = pcie_max if peer_to_peer(device) else 1
    largest = max(nvlink, pcie)
    if box is not None:
        largest = min(largest, max(1, box))
    degrees, degree = [], 1
    while degree <= largest:
        degrees.append(degree)
        degree *= 2
    return tuple(degrees)


def hardware(
    device: Device,
    precision: str,
    defaults: DemandDefaults,
    serving: bool = False,
    memory_gb: float | None = None,
    box: int | None = None,
    gpus_per_unit: int = 1,
) -> Hardware:
    """The device's figures that a count depends on. A serving engine fills the card up to its
    memory-utilization setting (vLLM: 0.9 of the binary capacity); training, to the usable 95%.
    Remembered by its inputs: every situation of a lever search asks it again of each device."""
    key = (id(device), id(defaults), precision, serving, memory_gb, box, gpus_per_unit)
    found = _HARDWARE.find(key, (device, defaults))
    if found is not NOT_FOUND:
        return found
    made = _hardware(device, precision, defaults, serving, memory_gb, box, gpus_per_unit)
    return _HARDWARE.keep(key, (device, defaults), made)


_HARDWARE: Remembered[Hardware] = Remembered()


def forget_remembered() -> None:
    """Drop every count, hardware, purchase and sizing estimate remembered by its inputs, so
    that the next consultation computes them afresh (benchmarks of a situation new to the
    process)."""
    from gpu_advisor.arithmetic.purchase import forget_purchases

    _HARDWARE.clear()
    _CAPPED.clear()
    for remembered in (interactive_count, batch_count, training_count, _training_on):
        remembered.cache_clear()
    sizing.forget_estimates()
    forget_purchases()


def _hardware(
    device: Device,
    precision: str,
    defaults: DemandDefaults,
    serving: bool,
    memory_gb: float | None,
    box: int | None,
    gpus_per_unit: int,
) -> Hardware:
    dense = device.dense_throughput_for(precision)
    nvlink = int(device.value("nvlink_max_gpus") or 1) if device.value("nvlink") else 1
    memory = float(device.value("memory_gb")) if memory_gb is None else memory_gb
    usable = (
        memory * sizing.BINARY_GB_IN_DECIMAL * sizing.SERVING_MEMORY_UTILIZATION
        if serving
        else sizing.usable_memory_gb(memory)
    )
    return Hardware(
        usable_memory_gb=usable,
        bandwidth_gbs=float(device.value("bandwidth_gbs")),
        dense_tflops=dense.tflops if dense else None,
        tensor_parallel_degrees=tensor_parallel_degrees(device, defaults, box),
        mbu=defaults["decode_mbu"],
        mbu_tensor_parallel=defaults["decode_mbu_pcie"],
        mbu_nvlink=defaults["decode_mbu_nvlink"],
        nvlink_group=nvlink,
        gpus_per_unit=gpus_per_unit,
    )


def training_mfu(device: Device, several: bool, defaults: DemandDefaults) -> tuple[float, str]:
    """The utilization a training run reaches on this kind of device, and the default's name."""
    nvlink = int(device.value("nvlink_max_gpus") or 1) if device.value("nvlink") else 1
    if nvlink >= 8:
        name = "mfu_nvlink"
    elif not several:
        name = "mfu_single_gpu"
    elif not peer_to_peer(device):
        name = "mfu_no_p2p"
    elif device.value("setting") == "server":
        name = "mfu_pcie_server"
    else:
        name = "mfu_pcie_workstation"
    return defaults[name], name


def memory_gpus(
    request: Any,
    memory_gb: float,
    cap: int | None,
    estimate: Callable[[Any], Any] = sizing.estimate,
    per_gpu_gb: Callable[[int], float] | None = None,
) -> int | None:
    """The fewest GPUs whose memory holds the training state with the sharding asked for (the
    need per GPU falls as GPUs are added only when the state is sharded). ``per_gpu_gb``, when
    given, is the need per GPU of ``request`` split over a number of GPUs, remembered across
    devices (the same few counts are tried for every device)."""
    usable = sizing.usable_memory_gb(memory_gb)

    def fits(gpus: int) -> bool:
        if per_gpu_gb is not None:
            return per_gpu_gb(gpus) <= usable
        return bool(estimate(replace(request, gpus=gpus)).per_gpu_gb <= usable)

    if fits(1):
        return 1
    if request.zero_stage == 0:
        return None
    limit = cap if cap is not None else LARGEST_SEARCH
    high = 2
    while high < limit and not fits(high):
        high *= 2
    high = min(high, limit)
    if not fits(high):
        return None
    low = high // 2  # does not fit
    while high - low > 1:
        middle = (low + high) // 2
        if fits(middle):
            high = middle
        else:
            low = middle
    return high


def count_on(
    device: Device,
    answers: Answers,
    demand: Demand,
    request: Any,
    precision: str,
    defaults: DemandDefaults,
    memory_gb: float | None = None,
    estimate: Callable[[Any], Any] = sizing.estimate,
    *,
    box: int | None = None,
    gpus_per_unit: int = 1,
    affordable: int | None = None,
    per_gpu_gb: Callable[[int], float] | None = None,
) -> tuple[Count, str | None]:
    """The count of this device the demand needs, and the MFU default it used (training).
    ``memory_gb`` is the memory the GPU may use (less than stated on unified-memory devices);
    ``box`` the most GPUs one box holds at the site; counts come in whole purchase units of
    ``gpus_per_unit``; ``affordable`` is the most GPUs the budget buys, boxes and network
    included."""
    memory = float(device.value("memory_gb")) if memory_gb is None else memory_gb
    cap_answer = _answer(answers, "max_gpus")
    cap = int(cap_answer) if cap_answer is not None else None
    hw = hardware(
        device,
        precision,
        defaults,
        serving=demand.kind in ("interactive", "batch"),
        memory_gb=memory,
        box=box,
        gpus_per_unit=gpus_per_unit,
    )
    if demand.kind == "interactive" and demand.served and demand.interactive:
        return capped(interactive_count(hw, demand.served, demand.interactive), cap), None
    if demand.kind == "batch" and demand.served:
        if demand.tokens_per_day is None:
            one = Interactive(
                1, demand.context_tokens, 1e-9
            )  # memory only: the fewest that hold it
            count = interactive_count(hw, demand.served, one)
            held = count.memory_gpus or 0
            bought = _round_up(held, gpus_per_unit)
            return capped(
                replace(
                    count,
                    gpus=bought,
                    set_by="purchase_unit"
                    if bought > held
                    else ("memory" if (count.memory_gpus or 1) > 1 else "minimum"),
                    tensor_parallel=held or 1,
                    demanded=held,
                    replicas=1,
                    tokens_per_s=None,
                    tokens_per_s_per_user=None,
                    users_served=None,
                    kv_cache_gb=None,
                ),
                cap,
            ), None
        return capped(
            batch_count(
                hw,
                demand.served,
                demand.tokens_per_day,
                demand.context_tokens,
                defaults["decode_mfu"],
            ),
            cap,
        ), None
    if demand.kind == "training" and demand.training and request is not None:
        floor = memory_gpus(request, memory, cap, estimate, per_gpu_gb)
        if floor is None:
            return Count(
                gpus=0,
                set_by="memory",
                shortfall="the training state does not fit"
                + (f" on up to {cap:,} GPUs (the cap)" if cap else ""),
            ), None
        degree = training_tensor_parallel(answers, hw, floor)
        if demand.training_mfu_given:
            count, _ = _training_on(demand.training, hw, floor, degree, cap, affordable, None)
            return count, None
        several = training_mfu(device, True, defaults)
        single = training_mfu(device, False, defaults)
        count, on_one = _training_on(
            demand.training, hw, floor, degree, cap, affordable, (several[0], single[0])
        )
        return count, (single if on_one else several)[1]
    return Count(gpus=gpus_per_unit, set_by="minimum", memory_gpus=1), None


@lru_cache(maxsize=COUNTS_REMEMBERED)
def _training_on(
    run: Training,
    hw: Hardware,
    floor: int,
    degree: int,
    cap: int | None,
    affordable: int | None,
    mfus: tuple[float, float] | None,
) -> tuple[Count, bool]:
    """The training count on this hardware, and whether it is one GPU's (then at the single-GPU
    utilization). ``mfus``: the utilization of several GPUs and of one, when the user gave none.
    Remembered by its frozen inputs: the audit and the lever search ask it again and again."""
    per_unit = hw.gpus_per_unit
    hw = replace(hw, gpus_per_unit=max(per_unit, degree), unit_is_purchase=per_unit >= degree)
    if mfus is not None:
        run = replace(run, mfu=mfus[0])
    count = training_count(run, hw, floor, cap=cap, affordable=affordable)
    on_one = False
    if count.gpus == 1 and mfus is not None:
        on_one = True
        count = training_count(replace(run, mfu=mfus[1]), hw, floor, cap=cap, affordable=affordable)
    return replace(count, memory_gpus=floor, tensor_parallel=degree), on_one


def training_tensor_parallel(answers: Answers, hw: Hardware, memory_gpus: int) -> int:
    """The tensor-parallel degree of a training job that asked for tensor parallelism: the
    smallest group the links carry that holds the state, else the largest they carry (the rest
    of the split is pipeline or ZeRO stages across groups). 1 when no split is needed."""
    if _answer(answers, "parallelism") != "tensor" or memory_gpus <= 1:
        return 1
    degrees = hw.tensor_parallel_degrees
    if hw.nvlink_group > 1:  # keep the all-reduces of every layer on NVLink
        degrees = tuple(d for d in degrees if d <= hw.nvlink_group)
    return next((d for d in degrees if d >= memory_gpus), degrees[-1])


def _round_up(gpus: int, per_unit: int) -> int:
    return per_unit * math.ceil(gpus / per_unit) if per_unit > 1 and gpus > 0 else gpus


def capped(count: Count, cap: int | None) -> Count:
    """A count over the user's cap does not meet the demand: the cap is a limit, never a target.
    Remembered by the count (remembered itself) and the cap: a lever search tries each cap on
    every device."""
    if cap is None or count.shortfall is not None or count.gpus <= cap:
        return count
    found = _CAPPED.find((id(count), cap), (count,))
    if found is not NOT_FOUND:
        return found
    shortfall = f"the demand needs {count.gpus:,} GPUs, more than the cap of {cap:,} (max_gpus)"
    return _CAPPED.keep((id(count), cap), (count,), replace(count, shortfall=shortfall))


_CAPPED: Remembered[Count] = Remembered()
