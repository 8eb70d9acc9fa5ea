"""The live machine through NVML (``nvidia-ml-py``), and the host's RAM.

``pynvml`` is imported only inside :func:`probe_live`, so every other path of the probe (saved
outputs, the checks, the plan) works on machines without NVIDIA GPUs or the package.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from typing import Any

from gpu_advisor.hardware.machine import GPU, Machine, ProbeUnavailable, Topology

_NVML_ARCHITECTURES = {
    2: "Kepler",
    3: "Maxwell",
    4: "Pascal",
    5: "Volta",
    6: "Turing",
    7: "Ampere",
    8: "Ada Lovelace",
    9: "Hopper",
    10: "Blackwell",
}
# NVML clock event (throttle) reason bits, stable across driver versions.
_REASON_BITS = {
    0x1: "gpu_idle",
    0x2: "applications_clocks_setting",
    0x4: "sw_power_cap",
    0x8: "hw_slowdown",
    0x10: "sync_boost",
    0x20: "sw_thermal_slowdown",
    0x40: "hw_thermal_slowdown",
    0x80: "hw_power_brake_slowdown",
    0x100: "display_clocks_setting",
}
_NVML_TOPOLOGY = {0: "PIX", 10: "PIX", 20: "PXB", 30: "PHB", 40: "NODE", 50: "SYS"}


def host_ram_gb() -> float | None:
    """This machine's physical memory in GB (10^9 bytes), or None where the OS does not say."""
    try:
        pages = os.sysconf("SC_PHYS_PAGES")
        size = os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
    if pages <= 0 or size <= 0:
        return None
    return round(pages * size / 1e9, 1)


def probe_live() -> Machine:
    """The local GPUs through NVML (``nvidia-ml-py``), with the host's RAM.

    Raises :class:`ProbeUnavailable` when the package, the driver or any GPU is missing.
    """
    try:
        import pynvml  # provided by the nvidia-ml-py package
    except ImportError:
        raise ProbeUnavailable(
            "reading the local GPUs needs the nvidia-ml-py package (pip install nvidia-ml-py); "
            "or pass saved outputs: --from FILE (nvidia-smi -q -x, nvidia-smi topo -m)"
        ) from None
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        raise ProbeUnavailable(
            f"no NVIDIA driver to talk to (NVML: {exc}); on a machine without NVIDIA GPUs, pass "
            "saved outputs of another machine with --from FILE"
        ) from None
    try:
        count = pynvml.nvmlDeviceGetCount()
        if not count:
            raise ProbeUnavailable(
                "the NVIDIA driver is loaded but reports no GPU: nothing to probe"
            )
        handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
        gpus = [_gpu_from_nvml(pynvml, i, handle) for i, handle in enumerate(handles)]
        topology = _topology_from_nvml(pynvml, handles, [g.bus_id for g in gpus])
        driver = _call(pynvml.nvmlSystemGetDriverVersion)
        cuda_raw = _call(
            getattr(pynvml, "nvmlSystemGetCudaDriverVersion_v2", None)
            or pynvml.nvmlSystemGetCudaDriverVersion
        )
        cuda = f"{cuda_raw // 1000}.{cuda_raw % 1000 // 10}" if isinstance(cuda_raw, int) else None
        return Machine(gpus, _decode(driver), cuda, topology, host_ram_gb(), ("NVML",))
    except pynvml.NVMLError as exc:
        raise ProbeUnavailable(f"NVML failed while reading the GPUs: {exc}") from None
    finally:
        try:
            pynvml.nvmlShutdown()
        except pynvml.NVMLError:
            pass


def _decode(value: Any) -> Any:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _call(function: Callable[..., Any] | None, *args: Any) -> Any:
    """An NVML query, or None when the GPU or driver does not support it."""
    if function is None:
        return None
    try:
        return function(*args)
    except Exception as exc:  # NVMLError_NotSupported and friends: the value is just unknown
        if any(cls.__name__ == "NVMLError" for cls in type(exc).__mro__):
            return None
        raise


def _gpu_from_nvml(nvml: Any, index: int, handle: Any) -> GPU:
    name = _decode(_call(nvml.nvmlDeviceGetName, handle))
    gpu = GPU(index=index, name=str(name or "unknown GPU"))
    pci = _call(nvml.nvmlDeviceGetPciInfo, handle)
    gpu.bus_id = str(_decode(getattr(pci, "busId", "")) or "").upper()
    arch = _call(getattr(nvml, "nvmlDeviceGetArchitecture", None), handle)
    gpu.architecture = _NVML_ARCHITECTURES.get(arch) if isinstance(arch, int) else None
    memory = _call(nvml.nvmlDeviceGetMemoryInfo, handle)
    gpu.memory_mib = round(memory.total / 2**20) if memory is not None else None
    ecc = _call(nvml.nvmlDeviceGetEccMode, handle)
    if ecc is not None:
        gpu.ecc_current, gpu.ecc_pending = bool(ecc[0]), bool(ecc[1])
    gpu.pcie_gen_current = _call(nvml.nvmlDeviceGetCurrPcieLinkGeneration, handle)
    gpu.pcie_gen_max = _call(nvml.nvmlDeviceGetMaxPcieLinkGeneration, handle)
    gpu.pcie_gen_device_max = _call(
        getattr(nvml, "nvmlDeviceGetGpuMaxPcieLinkGeneration", None), handle
    )
    gpu.pcie_width_current = _call(nvml.nvmlDeviceGetCurrPcieLinkWidth, handle)
    gpu.pcie_width_max = _call(nvml.nvmlDeviceGetMaxPcieLinkWidth, handle)
    state = _call(nvml.nvmlDeviceGetPerformanceState, handle)
    gpu.performance_state = f"P{state}" if isinstance(state, int) else None
    rates = _call(nvml.nvmlDeviceGetUtilizationRates, handle)
    gpu.utilization_pct = float(rates.gpu) if rates is not None else None
    temperature = _call(
        nvml.nvmlDeviceGetTemperature, handle, getattr(nvml, "NVML_TEMPERATURE_GPU", 0)
    )
    gpu.temperature_c = float(temperature) if temperature is not None else None

    def watts(value: Any) -> float | None:
        return round(value / 1000, 2) if isinstance(value, (int, float)) else None

    gpu.power_draw_w = watts(_call(nvml.nvmlDeviceGetPowerUsage, handle))
    gpu.power_limit_w = watts(_call(nvml.nvmlDeviceGetPowerManagementLimit, handle))
    gpu.default_power_limit_w = watts(_call(nvml.nvmlDeviceGetPowerManagementDefaultLimit, handle))
    limits = _call(nvml.nvmlDeviceGetPowerManagementLimitConstraints, handle)
    gpu.max_power_limit_w = watts(limits[1]) if limits else None
    reasons_call = getattr(nvml, "nvmlDeviceGetCurrentClocksEventReasons", None) or getattr(
        nvml, "nvmlDeviceGetCurrentClocksThrottleReasons", None
    )
    mask = _call(reasons_call, handle)
    if isinstance(mask, int):
        gpu.throttle_reasons = tuple(name for bit, name in _REASON_BITS.items() if mask & bit)
        gpu.reasons_known = True
    mig = _call(getattr(nvml, "nvmlDeviceGetMigMode", None), handle)
    gpu.mig_enabled = bool(mig[0]) if mig is not None else None
    remapped = _call(getattr(nvml, "nvmlDeviceGetRemappedRows", None), handle)
    if remapped is not None:
        gpu.remap_pending, gpu.remap_failure = bool(remapped[2]), bool(remapped[3])
    gpu.raw = {"product_name": gpu.name, "source": "NVML"}
    if gpu.architecture:
        gpu.raw["product_architecture"] = gpu.architecture
    return gpu


def _topology_from_nvml(nvml: Any, handles: list[Any], bus_ids: list[str]) -> Topology:
    """NVLink links (direct or through NVSwitch) and the PCIe path of every GPU pair."""
    count = len(handles)
    by_bus = {bus.upper(): i for i, bus in enumerate(bus_ids)}
    direct: dict[tuple[int, int], int] = Counter()
    switch_links = [0] * count
    max_links = int(getattr(nvml, "NVML_NVLINK_MAX_LINKS", 18))
    for i, handle in enumerate(handles):
        for link in range(max_links):
            state = _call(nvml.nvmlDeviceGetNvLinkState, handle, link)
            if state is None:
                break
            if not state:
                continue
            remote = _call(nvml.nvmlDeviceGetNvLinkRemotePciInfo, handle, link)
            remote_bus = str(_decode(getattr(remote, "busId", "")) or "").upper()
            peer = by_bus.get(remote_bus)
            if peer is None:
                switch_links[i] += 1
            elif peer != i:
                direct[(min(i, peer), max(i, peer))] += 1
    links: dict[tuple[int, int], str] = {}
    for i in range(count):
        for j in range(i + 1, count):
            nv = (direct[(i, j)] + 1) // 2  # each link is seen from both of its ends
            if not nv and switch_links[i] and switch_links[j]:
                nv = min(switch_links[i], switch_links[j])
            if nv:
                links[(i, j)] = f"NV{nv}"
            else:
                level = _call(nvml.nvmlDeviceGetTopologyCommonAncestor, handles[i], handles[j])
                known = isinstance(level, int)
                links[(i, j)] = _NVML_TOPOLOGY.get(level, "SYS") if known else "SYS"
    return Topology(count, links)
