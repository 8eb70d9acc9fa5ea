"""The GPUs in hand: read them (NVML, or saved ``nvidia-smi`` outputs), name them, check them.

Many users start from hardware they already own. The probe turns what the driver reports into
facts the rest of gpu-advisor understands: each GPU matched to a knowledge-base device (or
reported as unknown, with its raw facts), the links between GPUs from ``nvidia-smi topo -m``, and
findings from the checks in ``rules/hardware/``. This module is the probe's one public face; the
work is done along these seams:

- :mod:`~gpu_advisor.hardware.machine`: what was read (GPU, Topology, Machine);
- :mod:`~gpu_advisor.hardware.nvidia_smi`: saved ``nvidia-smi -q -x`` and ``topo -m`` outputs;
- :mod:`~gpu_advisor.hardware.nvml`: the live machine through NVML (``nvidia-ml-py``);
- :mod:`~gpu_advisor.hardware.facts`: model matching and the names the checks may read;
- :mod:`~gpu_advisor.hardware.checks`: loading the checks (with the rule base's checker) and
  running them.
"""

from __future__ import annotations

from gpu_advisor.hardware.checks import (
    SEVERITIES,
    Finding,
    HardwareRules,
    load_hardware_rules,
    run_checks,
)
from gpu_advisor.hardware.facts import (
    VOCABULARY,
    gpu_facts,
    machine_facts,
    match_models,
    stated_memory_gb,
)
from gpu_advisor.hardware.machine import GPU, Machine, ProbeUnavailable, Topology
from gpu_advisor.hardware.nvidia_smi import parse_topology, parse_xml, read_files, read_outputs
from gpu_advisor.hardware.nvml import probe_live

__all__ = [
    "GPU",
    "SEVERITIES",
    "VOCABULARY",
    "Finding",
    "HardwareRules",
    "Machine",
    "ProbeUnavailable",
    "Topology",
    "gpu_facts",
    "load_hardware_rules",
    "machine_facts",
    "match_models",
    "parse_topology",
    "parse_xml",
    "probe_live",
    "read_files",
    "read_outputs",
    "run_checks",
    "stated_memory_gb",
]
