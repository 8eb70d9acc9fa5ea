"""The machine the probe read: its GPUs as the driver reports them, and the links between them.

Plain data, filled by the readers (:mod:`gpu_advisor.hardware.nvidia_smi` for saved outputs,
:mod:`gpu_advisor.hardware.nvml` for the live machine) and read by the facts the hardware checks
see (:mod:`gpu_advisor.hardware.facts`) and by the plan (:mod:`gpu_advisor.hardware.planning`).
``None`` always means "the driver did not say": nothing is guessed here.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from gpu_advisor.errors import UsageError

PCIE_PATHS = ("PIX", "PXB", "PHB", "NODE", "SYS")
"""nvidia-smi topo -m path kinds between two devices, shortest first (NV# is NVLink)."""


class ProbeUnavailable(UsageError):
    """No NVIDIA GPU or driver to read: one clear message, exit status 2."""


@dataclass
class GPU:
    """One GPU as the driver reports it; ``None`` means the driver did not say."""

    index: int
    name: str
    bus_id: str = ""
    architecture: str | None = None
    memory_mib: float | None = None
    ecc_current: bool | None = None
    ecc_pending: bool | None = None
    pcie_gen_current: int | None = None
    pcie_gen_max: int | None = None
    pcie_gen_device_max: int | None = None
    pcie_gen_host_max: int | None = None
    pcie_width_current: int | None = None
    pcie_width_max: int | None = None
    performance_state: str | None = None
    utilization_pct: float | None = None
    temperature_c: float | None = None
    power_draw_w: float | None = None
    power_limit_w: float | None = None
    default_power_limit_w: float | None = None
    max_power_limit_w: float | None = None
    throttle_reasons: tuple[str, ...] = ()
    reasons_known: bool = False
    mig_enabled: bool | None = None
    remap_pending: bool | None = None
    remap_failure: bool | None = None
    kb_id: str | None = None
    raw: dict[str, str] = field(default_factory=dict)

    @property
    def idle(self) -> bool | None:
        """Idle by the driver's own idle reason, or by (near) zero utilization."""
        if "gpu_idle" in self.throttle_reasons:
            return True
        if self.utilization_pct is not None:
            return self.utilization_pct < 5
        return False if self.reasons_known else None

    @property
    def memory_gb(self) -> float | None:
        """Capacity as cards are sold (binary GB): 81,559 MiB reads as 79.65."""
        return None if self.memory_mib is None else round(self.memory_mib / 1024, 2)

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "name": self.name,
            "bus_id": self.bus_id,
            "device": self.kb_id,
            "architecture": self.architecture,
            "memory_mib": self.memory_mib,
            "memory_gb": self.memory_gb,
            "ecc": {"current": self.ecc_current, "pending": self.ecc_pending},
            "pcie": {
                "gen_current": self.pcie_gen_current,
                "gen_max": self.pcie_gen_max,
                "gen_device_max": self.pcie_gen_device_max,
                "gen_host_max": self.pcie_gen_host_max,
                "width_current": self.pcie_width_current,
                "width_max": self.pcie_width_max,
            },
            "performance_state": self.performance_state,
            "utilization_pct": self.utilization_pct,
            "temperature_c": self.temperature_c,
            "power": {
                "draw_w": self.power_draw_w,
                "limit_w": self.power_limit_w,
                "default_limit_w": self.default_power_limit_w,
                "max_limit_w": self.max_power_limit_w,
            },
            "throttle_reasons": list(self.throttle_reasons),
            "mig_enabled": self.mig_enabled,
            "remapped_rows": {"pending": self.remap_pending, "failure": self.remap_failure},
            "raw": dict(self.raw),
        }


@dataclass
class Topology:
    """The GPU-to-GPU part of ``nvidia-smi topo -m``: ``links[(i, j)]`` for i < j."""

    gpus: int
    links: dict[tuple[int, int], str]

    def link(self, i: int, j: int) -> str:
        """The path between two GPUs, in either order."""
        return self.links[(min(i, j), max(i, j))]

    def nvlinks(self, i: int, j: int) -> int:
        """Bonded NVLinks between two GPUs (0 when the path is PCIe)."""
        entry = self.link(i, j)
        return int(entry[2:]) if entry.startswith("NV") else 0

    def peers(self, i: int) -> int:
        """GPUs this one reaches over NVLink."""
        return sum(1 for j in range(self.gpus) if j != i and self.nvlinks(i, j) > 0)

    def to_json(self) -> dict[str, Any]:
        return {
            "gpus": self.gpus,
            "links": [
                {"a": i, "b": j, "path": path} for (i, j), path in sorted(self.links.items())
            ],
        }


@dataclass
class Machine:
    """One machine's GPUs, driver, topology and host memory, and where they were read from."""

    gpus: list[GPU]
    driver_version: str | None = None
    cuda_version: str | None = None
    topology: Topology | None = None
    host_ram_gb: float | None = None
    origin: tuple[str, ...] = ()

    def models(self) -> Counter[str]:
        """How many GPUs of each product name."""
        return Counter(gpu.name for gpu in self.gpus)

    def describe_models(self) -> str:
        """The models for a sentence, most numerous first: '2 x NVIDIA RTX A6000'."""
        return ", ".join(f"{count} x {name}" for name, count in self.models().most_common())

    def to_json(self) -> dict[str, Any]:
        return {
            "origin": list(self.origin),
            "driver_version": self.driver_version,
            "cuda_version": self.cuda_version,
            "host_ram_gb": self.host_ram_gb,
            "gpus": [gpu.to_json() for gpu in self.gpus],
            "topology": self.topology.to_json() if self.topology else None,
        }
