"""What the hardware checks read: each probed GPU named by the knowledge base, and its facts.

The checks in ``rules/hardware/`` are written in the condition language of the main rule base and
read three scopes, each declared here with the type and meaning of every name (the loader checks
each condition against these declarations, as the rule base checks its rules against questions,
facts and device attributes):

- ``device.*``: one probed GPU (``pcie_width_current``, ``ecc_enabled``...) and the knowledge
  base's figures for its model (``kb_pcie_gen``, ``kb_nvlink``...);
- ``fact.*``: the machine (``gpu_count``, ``mixed_models``, ``nvlink_all``) and the plan
  (``planned_parallelism``);
- ``answer.*``: the user's answers (workload, deployment, longest run...).

A value nobody measured is None here, so it is "not set" to a condition.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gpu_advisor.hardware.machine import GPU, PCIE_PATHS, Machine
from gpu_advisor.knowledge.kb import Device, Knowledge
from gpu_advisor.knowledge.vocabulary import Attribute

_ARCH_WITHOUT_BF16 = frozenset({"kepler", "maxwell", "pascal", "volta", "turing"})


def normalize_name(name: str) -> str:
    """A product name as matched: case and runs of spaces do not count."""
    return " ".join(name.split()).casefold()


def match_models(machine: Machine, knowledge: Knowledge, names: Mapping[str, str]) -> None:
    """Set each GPU's ``kb_id``: by the product-name table, then by the device's own name."""
    by_kb_name = {normalize_name(device.name): device.id for device in knowledge.devices.values()}
    for gpu in machine.gpus:
        key = normalize_name(gpu.name)
        gpu.kb_id = names.get(key) or by_kb_name.get(key)


def bf16_capable(gpu: GPU) -> bool | None:
    """bf16 tensor math arrived with Ampere; older (or unnamed) architectures are flagged."""
    if gpu.architecture is None:
        return None
    return gpu.architecture.split()[0].casefold() not in _ARCH_WITHOUT_BF16


def stated_memory_gb(gpu: GPU, knowledge: Knowledge) -> float | None:
    """The card's capacity for sizing: probed, else the knowledge base's (unified-memory parts)."""
    if gpu.memory_gb is not None:
        return gpu.memory_gb
    if gpu.kb_id is not None:
        value = knowledge.devices[gpu.kb_id].value("memory_gb")
        return float(value) if isinstance(value, (int, float)) else None
    return None


def _probed(
    name: str, kind: str, description: str, choices: tuple[str, ...] = (), unit: str = ""
) -> Attribute:
    """A name whose value the probe reads from the driver."""
    return Attribute(name, kind, description, choices, origin="probe", unit=unit)


def _answered(
    name: str, kind: str, description: str, choices: tuple[str, ...] = (), unit: str = ""
) -> Attribute:
    """A name whose value the user gives (answers, or the plan they describe)."""
    return Attribute(name, kind, description, choices, origin="answer", unit=unit)


GPU_FACTS: dict[str, Attribute] = {
    a.name: a
    for a in (
        _probed("index", "number", "nvidia-smi index of the GPU"),
        _probed("name", "string", "product name as the driver prints it"),
        _probed("bus_id", "string", "PCI bus id"),
        _probed("kb_id", "string", "knowledge-base device id (not set: unknown model)"),
        _probed("known", "bool", "the model is in the knowledge base"),
        _probed("architecture", "string", "GPU architecture as reported"),
        _probed("memory_gb", "number", "memory as sold, binary GB (MiB / 1024)", unit="GiB"),
        _probed("ecc_supported", "bool", "the card has ECC (nvidia-smi does not print N/A)"),
        _probed("ecc_enabled", "bool", "ECC is on now"),
        _probed("ecc_pending_enabled", "bool", "ECC will be on after the next reboot"),
        _probed("ecc_state", "string", "enabled or disabled (now)", ("enabled", "disabled")),
        _probed(
            "ecc_pending_state",
            "string",
            "enabled or disabled (after reboot)",
            ("enabled", "disabled"),
        ),
        _probed("pcie_gen_current", "number", "PCIe generation the link runs at now"),
        _probed("pcie_gen_max", "number", "highest generation this card can train to in this slot"),
        _probed("pcie_gen_device_max", "number", "highest generation the card supports"),
        _probed("pcie_gen_host_max", "number", "highest generation the slot supports"),
        _probed("pcie_width_current", "number", "PCIe lanes in use now"),
        _probed("pcie_width_max", "number", "PCIe lanes the link can use"),
        _probed("idle", "bool", "the GPU is idle (idle reason active or under 5% utilization)"),
        _probed("utilization_pct", "number", "GPU utilization", unit="%"),
        _probed("performance_state", "string", "performance state, P0 (max) to P12"),
        _probed("temperature_c", "number", "GPU temperature", unit="C"),
        _probed("power_draw_w", "number", "power drawn now", unit="W"),
        _probed("power_limit_w", "number", "power limit in force", unit="W"),
        _probed("default_power_limit_w", "number", "the card's default power limit", unit="W"),
        _probed("max_power_limit_w", "number", "highest power limit allowed", unit="W"),
        _probed("throttle_power", "bool", "clocks held down by the power cap or a power brake"),
        _probed("throttle_thermal", "bool", "clocks held down for temperature (HW or SW)"),
        _probed("throttle_hw_slowdown", "bool", "hardware slowdown asserted"),
        _probed("throttle_reasons", "string", "active clock event reasons, comma-separated"),
        _probed("mig_enabled", "bool", "Multi-Instance GPU mode is on"),
        _probed("remap_pending", "bool", "a memory row remap waits for a GPU reset"),
        _probed("remap_failure", "bool", "a memory row remap failed"),
        _probed("nvlink_peers", "number", "GPUs this one reaches over NVLink (needs topology)"),
        Attribute("kb_name", "string", "knowledge-base name of the model"),
        Attribute("kb_memory_gb", "number", "knowledge-base memory of the model", unit="GB"),
        Attribute("kb_ecc", "bool", "the model has ECC (knowledge base)"),
        Attribute("kb_nvlink", "bool", "the model has NVLink (knowledge base)"),
        Attribute("kb_nvlink_max_gpus", "number", "GPUs one NVLink domain of the model joins"),
        Attribute("kb_pcie_gen", "number", "PCIe generation of the model (knowledge base)"),
        Attribute("kb_pcie_lanes", "number", "PCIe lanes of the model (knowledge base)"),
        Attribute("kb_power_w", "number", "board power of the model (knowledge base)", unit="W"),
        Attribute(
            "kb_driver_class",
            "string",
            "driver branch of the model",
            ("geforce", "professional", "datacenter"),
        ),
    )
}
"""``device.*`` names a hardware check may read: one probed GPU and its model's KB figures."""

MACHINE_FACTS: dict[str, Attribute] = {
    a.name: a
    for a in (
        _probed("gpu_count", "number", "GPUs in the machine"),
        _probed("model_count", "number", "distinct GPU models"),
        _probed("mixed_models", "bool", "more than one GPU model"),
        _probed("models", "string", "the models, e.g. '2 x NVIDIA RTX A6000'"),
        _probed("unknown_models", "number", "GPUs whose model the knowledge base lacks"),
        _probed("topology_known", "bool", "a topology (topo -m or NVML) was read"),
        _probed("gpu_pairs", "number", "pairs of GPUs"),
        _probed("nvlink_pairs", "number", "pairs joined by NVLink"),
        _probed("nvlink_all", "bool", "NVLink joins every pair"),
        _probed("nvlink_any", "bool", "NVLink joins at least one pair"),
        _probed("cross_socket", "bool", "some pair's path crosses the CPU-to-CPU link (SYS)"),
        _probed("worst_path", "string", "slowest PCIe path between two GPUs", PCIE_PATHS),
        _probed("smallest_memory_gb", "number", "memory of the smallest GPU", unit="GiB"),
        _probed("largest_memory_gb", "number", "memory of the largest GPU", unit="GiB"),
        _probed("host_ram_gb", "number", "host RAM", unit="GB"),
        _probed("driver_version", "string", "NVIDIA driver version"),
        _answered(
            "planned_parallelism",
            "string",
            "parallelism the user said the job will use",
            ("none", "data", "tensor", "pipeline"),
        ),
        _answered("plan_given", "bool", "the user described a job (--set, --answers or --model)"),
    )
}
"""``fact.*`` names a hardware check may read: the machine and the user's declared plan."""

ANSWER_FACTS: dict[str, Attribute] = {
    a.name: a
    for a in (
        _answered(
            "workload",
            "string",
            "the workload",
            ("pretraining", "fine-tuning", "inference", "scientific"),
        ),
        _answered("model_params_b", "number", "model size, billions of parameters"),
        _answered("method", "string", "fine-tuning method", ("full", "lora", "qlora")),
        _answered(
            "precision", "string", "weight precision", ("fp32", "bf16", "fp16", "fp8", "fp4")
        ),
        _answered(
            "deployment",
            "string",
            "who depends on the results",
            ("hobby", "research", "production"),
        ),
        _answered("longest_run_hours", "number", "longest unattended run", unit="hours"),
        _answered("max_gpus", "number", "GPUs one job may use"),
        _answered(
            "parallelism",
            "string",
            "how a job uses several GPUs (default tensor)",
            ("none", "data", "tensor", "pipeline"),
        ),
    )
}
"""``answer.*`` names a hardware check may read (questionnaire answers, defaults filled)."""

VOCABULARY = {"device": GPU_FACTS, "fact": MACHINE_FACTS, "answer": ANSWER_FACTS}


def _kb_facts(device: Device | None) -> dict[str, Any]:
    if device is None:
        return {}
    return {
        "kb_name": device.name,
        "kb_memory_gb": device.value("memory_gb"),
        "kb_ecc": device.value("ecc"),
        "kb_nvlink": device.value("nvlink"),
        "kb_nvlink_max_gpus": device.value("nvlink_max_gpus"),
        "kb_pcie_gen": device.value("pcie_gen"),
        "kb_pcie_lanes": device.value("pcie_lanes"),
        "kb_power_w": device.value("power_w"),
        "kb_driver_class": device.value("driver_class"),
    }


def gpu_facts(gpu: GPU, machine: Machine, knowledge: Knowledge) -> dict[str, Any]:
    """The ``device.*`` values of one GPU (None where unknown)."""
    device = knowledge.devices.get(gpu.kb_id) if gpu.kb_id else None
    reasons = set(gpu.throttle_reasons)
    known_reasons = gpu.reasons_known

    def reason(*names: str) -> bool | None:
        return bool(reasons.intersection(names)) if known_reasons else None

    def state(value: bool | None) -> str | None:
        return None if value is None else ("enabled" if value else "disabled")

    facts: dict[str, Any] = {
        "index": gpu.index,
        "name": gpu.name,
        "bus_id": gpu.bus_id,
        "kb_id": gpu.kb_id,
        "known": gpu.kb_id is not None,
        "architecture": gpu.architecture,
        "memory_gb": stated_memory_gb(gpu, knowledge),
        "ecc_supported": gpu.ecc_current is not None,
        "ecc_enabled": gpu.ecc_current,
        "ecc_pending_enabled": gpu.ecc_pending,
        "ecc_state": state(gpu.ecc_current),
        "ecc_pending_state": state(gpu.ecc_pending),
        "pcie_gen_current": gpu.pcie_gen_current,
        "pcie_gen_max": gpu.pcie_gen_max,
        "pcie_gen_device_max": gpu.pcie_gen_device_max,
        "pcie_gen_host_max": gpu.pcie_gen_host_max,
        "pcie_width_current": gpu.pcie_width_current,
        "pcie_width_max": gpu.pcie_width_max,
        "idle": gpu.idle,
        "utilization_pct": gpu.utilization_pct,
        "performance_state": gpu.performance_state,
        "temperature_c": gpu.temperature_c,
        "power_draw_w": gpu.power_draw_w,
        "power_limit_w": gpu.power_limit_w,
        "default_power_limit_w": gpu.default_power_limit_w,
        "max_power_limit_w": gpu.max_power_limit_w,
        "throttle_power": reason("sw_power_cap", "hw_power_brake_slowdown"),
        "throttle_thermal": reason("hw_thermal_slowdown", "sw_thermal_slowdown"),
        "throttle_hw_slowdown": reason("hw_slowdown"),
        "throttle_reasons": ", ".join(
            r.replace("_", " ") for r in gpu.throttle_reasons if r != "gpu_idle"
        )
        or ("none" if known_reasons else None),
        "mig_enabled": gpu.mig_enabled,
        "remap_pending": gpu.remap_pending,
        "remap_failure": gpu.remap_failure,
        "nvlink_peers": machine.topology.peers(gpu.index) if machine.topology else None,
    }
    facts.update(_kb_facts(device))
    return facts


def machine_facts(
    machine: Machine,
    knowledge: Knowledge,
    planned_parallelism: str | None = None,
    plan_given: bool = False,
) -> dict[str, Any]:
    """The ``fact.*`` values of the machine (None where unknown)."""
    count = len(machine.gpus)
    memories = [m for m in (stated_memory_gb(g, knowledge) for g in machine.gpus) if m is not None]
    facts: dict[str, Any] = {
        "gpu_count": count,
        "model_count": len(machine.models()),
        "mixed_models": len(machine.models()) > 1,
        "models": machine.describe_models(),
        "unknown_models": sum(1 for g in machine.gpus if g.kb_id is None),
        "topology_known": machine.topology is not None,
        "gpu_pairs": count * (count - 1) // 2,
        "smallest_memory_gb": min(memories) if memories else None,
        "largest_memory_gb": max(memories) if memories else None,
        "host_ram_gb": machine.host_ram_gb,
        "driver_version": machine.driver_version,
        "planned_parallelism": planned_parallelism,
        "plan_given": plan_given,
    }
    topology = machine.topology
    if topology is not None:
        paths = list(topology.links.values())
        nvlink = sum(1 for p in paths if p.startswith("NV"))
        pcie = [p for p in paths if not p.startswith("NV")]
        facts.update(
            nvlink_pairs=nvlink,
            nvlink_all=bool(paths) and nvlink == len(paths),
            nvlink_any=nvlink > 0,
            cross_socket="SYS" in pcie,
            worst_path=max(pcie, key=PCIE_PATHS.index) if pcie else None,
        )
        if not paths:
            facts.update(nvlink_all=None, nvlink_any=None)
    return facts
