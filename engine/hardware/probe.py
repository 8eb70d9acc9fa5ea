"""The GPUs in hand: read them (NVML, or saved ``nvidia-smi`` outputs), name them, check them.

Many users start from hardware they already own. This module turns what the driver reports into
facts the rest of gpu-advisor understands: each GPU matched to a knowledge-base device (or
reported as unknown, with its raw facts), the links between GPUs from ``nvidia-smi topo -m``, and
findings from the checks in ``rules/hardware/`` -- rules written in the same condition language as
the main rule base, evaluated here in Python against three scopes:

- ``device.*``: one probed GPU (``pcie_width_current``, ``ecc_enabled``...) and the knowledge
  base's figures for its model (``kb_pcie_gen``, ``kb_nvlink``...);
- ``fact.*``: the machine (``gpu_count``, ``mixed_models``, ``nvlink_all``, ``planned_parallelism``);
- ``answer.*``: the user's answers (workload, deployment, longest run...).

A value nobody measured (``N/A`` in nvidia-smi, no topology file) is not set, and a comparison
with it is false, so no check fires on a guess. Saved XML is parsed with expat directly and any
DOCTYPE internal subset or entity declaration is refused; nothing from a file is evaluated.
``nvidia-ml-py`` is imported only by :func:`probe_live`.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gpu_advisor.lang.conditions import render as fill_template
from gpu_advisor.lang.conditions import (
    MISSING,
    Condition,
    Leaf,
    LeafResult,
    Ref,
    decisive_leaves,
    leaves,
    parse_condition,
)
from gpu_advisor.errors import FileError, FileErrors, Location, UsageError, did_you_mean
from gpu_advisor.knowledge.kb import Device, Knowledge
from gpu_advisor.knowledge.schema import validation_errors
from gpu_advisor.knowledge.vocabulary import Attribute
from gpu_advisor.knowledge.yamlio import Document, iter_yaml_files, load_yaml

SEVERITIES = ("info", "caution", "serious")
"""Finding severities, mildest first (the same scale as the main rule base's warnings)."""

PCIE_PATHS = ("PIX", "PXB", "PHB", "NODE", "SYS")
"""nvidia-smi topo -m path kinds between two devices, shortest first (NV# is NVLink)."""

MAX_XML_BYTES = 64 * 2**20
"""A saved nvidia-smi -q -x of a full 8-GPU server is well under 1 MB; anything huge is refused."""

_ARCH_WITHOUT_BF16 = frozenset({"kepler", "maxwell", "pascal", "volta", "turing"})
_NVML_ARCHITECTURES = {2: "Kepler", 3: "Maxwell", 4: "Pascal", 5: "Volta", 6: "Turing",
                       7: "Ampere", 8: "Ada Lovelace", 9: "Hopper", 10: "Blackwell"}
# NVML clock event (throttle) reason bits, stable across driver versions.
_REASON_BITS = {0x1: "gpu_idle", 0x2: "applications_clocks_setting", 0x4: "sw_power_cap",
                0x8: "hw_slowdown", 0x10: "sync_boost", 0x20: "sw_thermal_slowdown",
                0x40: "hw_thermal_slowdown", 0x80: "hw_power_brake_slowdown",
                0x100: "display_clocks_setting"}
_NVML_TOPOLOGY = {0: "PIX", 10: "PIX", 20: "PXB", 30: "PHB", 40: "NODE", 50: "SYS"}
_NOT_A_VALUE = {"", "n/a", "[n/a]", "not supported", "[not supported]", "unknown error",
                "[unknown error]", "not available", "[not available]",
                "insufficient permissions", "[insufficient permissions]", "requested functionality has been deprecated"}


class ProbeUnavailable(UsageError):
    """No NVIDIA GPU or driver to read: one clear message, exit status 2."""


# ---------------------------------------------------------------------------------------------
# What was read


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
            "index": self.index, "name": self.name, "bus_id": self.bus_id, "device": self.kb_id,
            "architecture": self.architecture, "memory_mib": self.memory_mib,
            "memory_gb": self.memory_gb,
            "ecc": {"current": self.ecc_current, "pending": self.ecc_pending},
            "pcie": {"gen_current": self.pcie_gen_current, "gen_max": self.pcie_gen_max,
                     "gen_device_max": self.pcie_gen_device_max,
                     "gen_host_max": self.pcie_gen_host_max,
                     "width_current": self.pcie_width_current, "width_max": self.pcie_width_max},
            "performance_state": self.performance_state, "utilization_pct": self.utilization_pct,
            "temperature_c": self.temperature_c,
            "power": {"draw_w": self.power_draw_w, "limit_w": self.power_limit_w,
                      "default_limit_w": self.default_power_limit_w,
                      "max_limit_w": self.max_power_limit_w},
            "throttle_reasons": list(self.throttle_reasons), "mig_enabled": self.mig_enabled,
            "remapped_rows": {"pending": self.remap_pending, "failure": self.remap_failure},
            "raw": dict(self.raw),
        }


@dataclass
class Topology:
    """The GPU-to-GPU part of ``nvidia-smi topo -m``: ``links[(i, j)]`` for i < j."""

    gpus: int
    links: dict[tuple[int, int], str]

    def link(self, i: int, j: int) -> str:
        return self.links[(min(i, j), max(i, j))]

    def nvlinks(self, i: int, j: int) -> int:
        """Bonded NVLinks between two GPUs (0 when the path is PCIe)."""
        entry = self.link(i, j)
        return int(entry[2:]) if entry.startswith("NV") else 0

    def peers(self, i: int) -> int:
        """GPUs this one reaches over NVLink."""
        return sum(1 for j in range(self.gpus) if j != i and self.nvlinks(i, j) > 0)

    def to_json(self) -> dict[str, Any]:
        return {"gpus": self.gpus,
                "links": [{"a": i, "b": j, "path": path} for (i, j), path in sorted(self.links.items())]}


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
        return Counter(gpu.name for gpu in self.gpus)

    def describe_models(self) -> str:
        return ", ".join(f"{count} x {name}" for name, count in self.models().most_common())

    def to_json(self) -> dict[str, Any]:
        return {"origin": list(self.origin), "driver_version": self.driver_version,
                "cuda_version": self.cuda_version, "host_ram_gb": self.host_ram_gb,
                "gpus": [gpu.to_json() for gpu in self.gpus],
                "topology": self.topology.to_json() if self.topology else None}


# ---------------------------------------------------------------------------------------------
# Safe XML


class _Refused(Exception):
    """Raised inside expat handlers for constructs we do not accept."""


def parse_xml(text: str, display: str) -> ET.Element:
    """Parse XML with expat into an ElementTree; refuse DTD internal subsets and entities.

    nvidia-smi's own output starts with ``<!DOCTYPE nvidia_smi_log SYSTEM "nvsmi_device_v12.dtd">``,
    which is accepted: expat does not fetch external DTDs. Entity declarations (the billion-laughs
    and external-entity attacks) and internal subsets are refused with the file's position.
    """
    from xml.parsers import expat

    if len(text) > MAX_XML_BYTES:
        raise FileErrors([FileError(Location(display), "file too large for an nvidia-smi output")])
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate()

    def doctype(name: str, system_id: str | None, public_id: str | None, internal: int) -> None:
        if internal:
            raise _Refused("a DOCTYPE with an internal subset is not accepted")

    def entity(*_args: Any) -> None:
        raise _Refused("entity declarations are not accepted")

    def external(*_args: Any) -> int:
        raise _Refused("external entities are not accepted")

    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = entity
    parser.UnparsedEntityDeclHandler = entity
    parser.ExternalEntityRefHandler = external
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(text, True)
        return builder.close()
    except _Refused as exc:
        where = Location(display, parser.CurrentLineNumber, parser.CurrentColumnNumber + 1)
        raise FileErrors([FileError(where, str(exc))]) from None
    except expat.ExpatError as exc:
        where = Location(display, exc.lineno, exc.offset + 1)
        message = expat.ErrorString(exc.code) if exc.code else str(exc)
        raise FileErrors([FileError(where, f"not well-formed XML: {message}")]) from None
    except AssertionError:  # TreeBuilder: unbalanced tags cannot pass expat, but stay safe
        raise FileErrors([FileError(Location(display), "not well-formed XML")]) from None


def _text(node: ET.Element, path: str) -> str | None:
    found = node.find(path)
    if found is None or found.text is None:
        return None
    value = " ".join(found.text.split())
    return None if value.lower() in _NOT_A_VALUE else value


def _first(node: ET.Element, *paths: str) -> str | None:
    for path in paths:
        value = _text(node, path)
        if value is not None:
            return value
    return None


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    match = _NUMBER.search(text)
    return float(match.group()) if match else None


def _integer(text: str | None) -> int | None:
    value = _number(text)
    return None if value is None else int(value)


def _mib(text: str | None) -> float | None:
    value = _number(text)
    if value is None or text is None:
        return None
    unit = text.lower()
    if "gib" in unit:
        return value * 1024
    if "kib" in unit:
        return value / 1024
    return value


def _flag(text: str | None, yes: str, no: str) -> bool | None:
    if text is None:
        return None
    lowered = text.lower()
    if lowered == yes:
        return True
    if lowered == no:
        return False
    return None


_RAW_FIELDS = {
    "product_name": "product_name", "product_brand": "product_brand",
    "product_architecture": "product_architecture", "pci_device_id": "pci/pci_device_id",
    "board_part_number": "board_part_number", "vbios_version": "vbios_version",
    "memory_total": "fb_memory_usage/total", "ecc_mode": "ecc_mode/current_ecc",
    "pcie_gen": "pci/pci_gpu_link_info/pcie_gen/current_link_gen",
    "pcie_gen_max": "pci/pci_gpu_link_info/pcie_gen/max_link_gen",
    "pcie_width": "pci/pci_gpu_link_info/link_widths/current_link_width",
    "pcie_width_max": "pci/pci_gpu_link_info/link_widths/max_link_width",
    "performance_state": "performance_state",
}


def _gpu_from_xml(index: int, node: ET.Element) -> GPU:
    """One <gpu> element; accepts both the R535+ names and the older ones."""
    link = "pci/pci_gpu_link_info/"
    power = node.find("gpu_power_readings")
    if power is None:
        power = node.find("power_readings")
    gpu = GPU(index=index, name=_text(node, "product_name") or "unknown GPU")
    gpu.bus_id = node.get("id") or _text(node, "pci/pci_bus_id") or ""
    gpu.architecture = _text(node, "product_architecture")
    gpu.memory_mib = _mib(_text(node, "fb_memory_usage/total"))
    gpu.ecc_current = _flag(_text(node, "ecc_mode/current_ecc"), "enabled", "disabled")
    gpu.ecc_pending = _flag(_text(node, "ecc_mode/pending_ecc"), "enabled", "disabled")
    gpu.pcie_gen_current = _integer(_text(node, link + "pcie_gen/current_link_gen"))
    gpu.pcie_gen_max = _integer(_text(node, link + "pcie_gen/max_link_gen"))
    gpu.pcie_gen_device_max = _integer(_text(node, link + "pcie_gen/max_device_link_gen"))
    gpu.pcie_gen_host_max = _integer(_text(node, link + "pcie_gen/max_host_link_gen"))
    gpu.pcie_width_current = _integer(_text(node, link + "link_widths/current_link_width"))
    gpu.pcie_width_max = _integer(_text(node, link + "link_widths/max_link_width"))
    gpu.performance_state = _text(node, "performance_state")
    gpu.utilization_pct = _number(_text(node, "utilization/gpu_util"))
    gpu.temperature_c = _number(_text(node, "temperature/gpu_temp"))
    if power is not None:
        gpu.power_draw_w = _number(_first(power, "power_draw", "instant_power_draw",
                                          "average_power_draw"))
        gpu.power_limit_w = _number(_first(power, "current_power_limit", "power_limit",
                                           "enforced_power_limit"))
        gpu.default_power_limit_w = _number(_text(power, "default_power_limit"))
        gpu.max_power_limit_w = _number(_text(power, "max_power_limit"))
    reasons = node.find("clocks_event_reasons")
    if reasons is None:
        reasons = node.find("clocks_throttle_reasons")
    if reasons is not None:
        active = []
        for child in reasons:
            name = re.sub(r"^clocks_(event|throttle)_reason_", "", child.tag)
            value = " ".join((child.text or "").split()).lower()
            if value == "active":
                active.append(name)
        gpu.throttle_reasons = tuple(active)
        gpu.reasons_known = True
    gpu.mig_enabled = _flag(_text(node, "mig_mode/current_mig"), "enabled", "disabled")
    gpu.remap_pending = _flag(_text(node, "remapped_rows/remapped_row_pending"), "yes", "no")
    gpu.remap_failure = _flag(_text(node, "remapped_rows/remapped_row_failure"), "yes", "no")
    for key, path in _RAW_FIELDS.items():
        shown = _text(node, path)
        if shown is not None:
            gpu.raw[key] = shown
    return gpu


def parse_smi_xml(text: str, display: str) -> Machine:
    """A machine from ``nvidia-smi -q -x``; ProbeUnavailable when it lists no GPU."""
    root = parse_xml(text, display)
    if root.tag != "nvidia_smi_log":
        raise FileErrors([FileError(Location(display, 1, 1),
                                    f"expected <nvidia_smi_log> (nvidia-smi -q -x), found <{root.tag}>")])
    gpus = [_gpu_from_xml(i, node) for i, node in enumerate(root.findall("gpu"))]
    if not gpus:
        raise ProbeUnavailable(f"{display}: nvidia-smi lists no GPU (attached_gpus "
                               f"{_text(root, 'attached_gpus') or 0}): nothing to probe")
    return Machine(gpus, _text(root, "driver_version"), _text(root, "cuda_version"),
                   origin=(display,))


# ---------------------------------------------------------------------------------------------
# nvidia-smi topo -m


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_DEVICE_LABEL = re.compile(r"^(GPU\d+|NIC\d+|mlx\d+_\d+)$")
_CELL = re.compile(r"^(X|NV\d+|PIX|PXB|PHB|NODE|SYS|SOC)$")


def parse_topology(text: str, display: str) -> Topology:
    """The GPU block of ``nvidia-smi topo -m`` (tabs or spaces; ANSI underline codes ignored)."""
    lines = [_ANSI.sub("", line) for line in text.splitlines()]
    columns: list[str] = []
    header_line = 0
    for number, line in enumerate(lines, start=1):
        tokens = line.split()
        if tokens and tokens[0] == "GPU0" and not _CELL.match(tokens[1] if len(tokens) > 1 else ""):
            for token in tokens:
                if not _DEVICE_LABEL.match(token):
                    break
                columns.append(token)
            header_line = number
            break
    gpu_columns = [c for c in columns if c.startswith("GPU")]
    if not gpu_columns or columns[: len(gpu_columns)] != [f"GPU{i}" for i in range(len(gpu_columns))]:
        raise FileErrors([FileError(Location(display), "no GPU0 GPU1 ... header: not an "
                                                       "nvidia-smi topo -m output")])
    count = len(gpu_columns)
    rows: dict[int, list[str]] = {}
    errors: list[FileError] = []
    for number, line in enumerate(lines[header_line:], start=header_line + 1):
        tokens = line.split()
        if not tokens:
            continue
        if tokens[0].startswith("Legend"):
            break
        match = re.fullmatch(r"GPU(\d+)", tokens[0])
        if not match:
            continue
        index = int(match.group(1))
        if index >= count:
            errors.append(FileError(Location(display, number, 1),
                                    f"GPU{index}: the header names only {count} GPUs"))
            continue
        cells = tokens[1: 1 + count]
        if len(cells) < count or not all(_CELL.match(c) for c in cells):
            bad = next((c for c in cells if not _CELL.match(c)), None)
            column = line.find(bad) + 1 if bad else 1
            errors.append(FileError(Location(display, number, max(column, 1)),
                                    f"GPU{index}: expected {count} entries of X, NV#, PIX, PXB, "
                                    f"PHB, NODE or SYS" + (f", found {bad!r}" if bad else "")))
            continue
        if cells[index] != "X":
            errors.append(FileError(Location(display, number, 1),
                                    f"GPU{index}: the entry for itself is not X"))
            continue
        rows[index] = ["SYS" if c == "SOC" else c for c in cells]
    if errors:
        raise FileErrors(errors)
    if sorted(rows) != list(range(count)):
        raise FileErrors([FileError(Location(display, header_line, 1),
                                    f"the header names {count} GPUs but {len(rows)} GPU rows follow")])
    links = {(i, j): rows[i][j] for i in range(count) for j in range(i + 1, count)}
    return Topology(count, links)


# ---------------------------------------------------------------------------------------------
# Reading files and the live machine


def _kind_of(text: str) -> str:
    stripped = _ANSI.sub("", text).lstrip("\ufeff \t\r\n")
    if stripped.startswith("<"):
        return "xml"
    lowered = stripped.lower()
    if "no devices were found" in lowered:
        return "no-devices"
    if "couldn't communicate with the nvidia driver" in lowered or "nvidia-smi has failed" in lowered:
        return "no-driver"
    if re.search(r"^[ \t]*GPU0[ \t]", stripped, re.MULTILINE):
        return "topology"
    return "unknown"


def read_outputs(inputs: Sequence[tuple[str, str]]) -> Machine:
    """A machine from saved outputs: ``(display name, text)`` pairs, in any order.

    Exactly one ``nvidia-smi -q -x`` is needed; a ``nvidia-smi topo -m`` is optional. The saved
    messages of a machine without GPUs or driver raise :class:`ProbeUnavailable`.
    """
    xml_inputs: list[tuple[str, str]] = []
    topo_inputs: list[tuple[str, str]] = []
    for display, text in inputs:
        kind = _kind_of(text)
        if kind == "xml":
            xml_inputs.append((display, text))
        elif kind == "topology":
            topo_inputs.append((display, text))
        elif kind == "no-devices":
            raise ProbeUnavailable(f"{display}: nvidia-smi found no NVIDIA GPU (\"No devices were "
                                   "found\"): nothing to probe")
        elif kind == "no-driver":
            raise ProbeUnavailable(f"{display}: nvidia-smi could not talk to the NVIDIA driver "
                                   "(not installed or not loaded): nothing to probe")
        else:
            raise FileErrors([FileError(Location(display), "not an nvidia-smi -q -x or nvidia-smi "
                                                           "topo -m output")])
    if len(xml_inputs) != 1 or len(topo_inputs) > 1:
        found = f"{len(xml_inputs)} nvidia-smi -q -x and {len(topo_inputs)} topo -m outputs"
        raise UsageError(f"--from: give one nvidia-smi -q -x output and at most one nvidia-smi "
                         f"topo -m output of the same machine ({found})")
    display, text = xml_inputs[0]
    machine = parse_smi_xml(text, display)
    if topo_inputs:
        topo_display, topo_text = topo_inputs[0]
        topology = parse_topology(topo_text, topo_display)
        if topology.gpus != len(machine.gpus):
            raise FileErrors([FileError(Location(topo_display),
                                        f"the topology has {topology.gpus} GPUs but {display} lists "
                                        f"{len(machine.gpus)}: not the same machine?")])
        machine.topology = topology
        machine.origin = (display, topo_display)
    return machine


def read_files(paths: Sequence[str], stdin_text: Callable[[], str] | None = None) -> Machine:
    """:func:`read_outputs` over files (``-`` reads standard input once)."""
    inputs: list[tuple[str, str]] = []
    for path in paths:
        if path == "-":
            if stdin_text is None:
                raise UsageError("--from -: standard input is not available here")
            inputs.append(("<stdin>", stdin_text()))
            continue
        try:
            data = Path(path).read_bytes()
        except FileNotFoundError:
            raise FileErrors([FileError(Location(path), "no such file")]) from None
        except IsADirectoryError:
            raise FileErrors([FileError(Location(path), "is a directory, not a file")]) from None
        except OSError as exc:
            raise FileErrors([FileError(Location(path), f"cannot read: {exc.strerror}")]) from None
        if len(data) > MAX_XML_BYTES:
            raise FileErrors([FileError(Location(path), "file too large for an nvidia-smi output")])
        try:
            inputs.append((path, data.decode("utf-8")))
        except UnicodeDecodeError as exc:
            raise FileErrors([FileError(Location(path), f"not UTF-8 text ({exc.reason})")]) from None
    return read_outputs(inputs)


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
            "or pass saved outputs: --from FILE (nvidia-smi -q -x, nvidia-smi topo -m)") from None
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        raise ProbeUnavailable(
            f"no NVIDIA driver to talk to (NVML: {exc}); on a machine without NVIDIA GPUs, pass "
            "saved outputs of another machine with --from FILE") from None
    try:
        count = pynvml.nvmlDeviceGetCount()
        if not count:
            raise ProbeUnavailable("the NVIDIA driver is loaded but reports no GPU: nothing to probe")
        handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
        gpus = [_gpu_from_nvml(pynvml, i, handle) for i, handle in enumerate(handles)]
        topology = _topology_from_nvml(pynvml, handles, [g.bus_id for g in gpus])
        driver = _call(pynvml.nvmlSystemGetDriverVersion)
        cuda_raw = _call(getattr(pynvml, "nvmlSystemGetCudaDriverVersion_v2", None)
                         or pynvml.nvmlSystemGetCudaDriverVersion)
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
    gpu = GPU(index=index, name=str(_decode(_call(nvml.nvmlDeviceGetName, handle)) or "unknown GPU"))
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
    gpu.pcie_gen_device_max = _call(getattr(nvml, "nvmlDeviceGetGpuMaxPcieLinkGeneration", None), handle)
    gpu.pcie_width_current = _call(nvml.nvmlDeviceGetCurrPcieLinkWidth, handle)
    gpu.pcie_width_max = _call(nvml.nvmlDeviceGetMaxPcieLinkWidth, handle)
    state = _call(nvml.nvmlDeviceGetPerformanceState, handle)
    gpu.performance_state = f"P{state}" if isinstance(state, int) else None
    rates = _call(nvml.nvmlDeviceGetUtilizationRates, handle)
    gpu.utilization_pct = float(rates.gpu) if rates is not None else None
    temperature = _call(nvml.nvmlDeviceGetTemperature, handle, getattr(nvml, "NVML_TEMPERATURE_GPU", 0))
    gpu.temperature_c = float(temperature) if temperature is not None else None

    def watts(value: Any) -> float | None:
        return round(value / 1000, 2) if isinstance(value, (int, float)) else None

    gpu.power_draw_w = watts(_call(nvml.nvmlDeviceGetPowerUsage, handle))
    gpu.power_limit_w = watts(_call(nvml.nvmlDeviceGetPowerManagementLimit, handle))
    gpu.default_power_limit_w = watts(_call(nvml.nvmlDeviceGetPowerManagementDefaultLimit, handle))
    limits = _call(nvml.nvmlDeviceGetPowerManagementLimitConstraints, handle)
    gpu.max_power_limit_w = watts(limits[1]) if limits else None
    reasons_call = (getattr(nvml, "nvmlDeviceGetCurrentClocksEventReasons", None)
                    or getattr(nvml, "nvmlDeviceGetCurrentClocksThrottleReasons", None))
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
                links[(i, j)] = _NVML_TOPOLOGY.get(level, "SYS") if isinstance(level, int) else "SYS"
    return Topology(count, links)


# ---------------------------------------------------------------------------------------------
# Matching models to the knowledge base, and the facts checks read


def normalize_name(name: str) -> str:
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


GPU_FACTS: dict[str, Attribute] = {a.name: a for a in (
    Attribute("index", "number", "nvidia-smi index of the GPU", origin="probe"),
    Attribute("name", "string", "product name as the driver prints it", origin="probe"),
    Attribute("bus_id", "string", "PCI bus id", origin="probe"),
    Attribute("kb_id", "string", "knowledge-base device id (not set: unknown model)", origin="probe"),
    Attribute("known", "bool", "the model is in the knowledge base", origin="probe"),
    Attribute("architecture", "string", "GPU architecture as reported", origin="probe"),
    Attribute("memory_gb", "number", "memory as sold, binary GB (MiB / 1024)", origin="probe", unit="GiB"),
    Attribute("ecc_supported", "bool", "the card has ECC (nvidia-smi does not print N/A)", origin="probe"),
    Attribute("ecc_enabled", "bool", "ECC is on now", origin="probe"),
    Attribute("ecc_pending_enabled", "bool", "ECC will be on after the next reboot", origin="probe"),
    Attribute("ecc_state", "string", "enabled or disabled (now)", ("enabled", "disabled"), origin="probe"),
    Attribute("ecc_pending_state", "string", "enabled or disabled (after reboot)",
              ("enabled", "disabled"), origin="probe"),
    Attribute("pcie_gen_current", "number", "PCIe generation the link runs at now", origin="probe"),
    Attribute("pcie_gen_max", "number", "highest generation this card can train to in this slot",
              origin="probe"),
    Attribute("pcie_gen_device_max", "number", "highest generation the card supports", origin="probe"),
    Attribute("pcie_gen_host_max", "number", "highest generation the slot supports", origin="probe"),
    Attribute("pcie_width_current", "number", "PCIe lanes in use now", origin="probe"),
    Attribute("pcie_width_max", "number", "PCIe lanes the link can use", origin="probe"),
    Attribute("idle", "bool", "the GPU is idle (idle reason active or under 5% utilization)", origin="probe"),
    Attribute("utilization_pct", "number", "GPU utilization", origin="probe", unit="%"),
    Attribute("performance_state", "string", "performance state, P0 (max) to P12", origin="probe"),
    Attribute("temperature_c", "number", "GPU temperature", origin="probe", unit="C"),
    Attribute("power_draw_w", "number", "power drawn now", origin="probe", unit="W"),
    Attribute("power_limit_w", "number", "power limit in force", origin="probe", unit="W"),
    Attribute("default_power_limit_w", "number", "the card's default power limit", origin="probe", unit="W"),
    Attribute("max_power_limit_w", "number", "highest power limit allowed", origin="probe", unit="W"),
    Attribute("throttle_power", "bool", "clocks held down by the power cap or a power brake", origin="probe"),
    Attribute("throttle_thermal", "bool", "clocks held down for temperature (HW or SW)", origin="probe"),
    Attribute("throttle_hw_slowdown", "bool", "hardware slowdown asserted", origin="probe"),
    Attribute("throttle_reasons", "string", "active clock event reasons, comma-separated", origin="probe"),
    Attribute("mig_enabled", "bool", "Multi-Instance GPU mode is on", origin="probe"),
    Attribute("remap_pending", "bool", "a memory row remap waits for a GPU reset", origin="probe"),
    Attribute("remap_failure", "bool", "a memory row remap failed", origin="probe"),
    Attribute("nvlink_peers", "number", "GPUs this one reaches over NVLink (needs topology)", origin="probe"),
    Attribute("kb_name", "string", "knowledge-base name of the model"),
    Attribute("kb_memory_gb", "number", "knowledge-base memory of the model", unit="GB"),
    Attribute("kb_ecc", "bool", "the model has ECC (knowledge base)"),
    Attribute("kb_nvlink", "bool", "the model has NVLink (knowledge base)"),
    Attribute("kb_nvlink_max_gpus", "number", "GPUs one NVLink domain of the model joins"),
    Attribute("kb_pcie_gen", "number", "PCIe generation of the model (knowledge base)"),
    Attribute("kb_pcie_lanes", "number", "PCIe lanes of the model (knowledge base)"),
    Attribute("kb_power_w", "number", "board power of the model (knowledge base)", unit="W"),
    Attribute("kb_driver_class", "string", "driver branch of the model",
              ("geforce", "professional", "datacenter")),
)}
"""``device.*`` names a hardware check may read: one probed GPU and its model's KB figures."""

MACHINE_FACTS: dict[str, Attribute] = {a.name: a for a in (
    Attribute("gpu_count", "number", "GPUs in the machine", origin="probe"),
    Attribute("model_count", "number", "distinct GPU models", origin="probe"),
    Attribute("mixed_models", "bool", "more than one GPU model", origin="probe"),
    Attribute("models", "string", "the models, e.g. '2 x NVIDIA RTX A6000'", origin="probe"),
    Attribute("unknown_models", "number", "GPUs whose model the knowledge base lacks", origin="probe"),
    Attribute("topology_known", "bool", "a topology (topo -m or NVML) was read", origin="probe"),
    Attribute("gpu_pairs", "number", "pairs of GPUs", origin="probe"),
    Attribute("nvlink_pairs", "number", "pairs joined by NVLink", origin="probe"),
    Attribute("nvlink_all", "bool", "NVLink joins every pair", origin="probe"),
    Attribute("nvlink_any", "bool", "NVLink joins at least one pair", origin="probe"),
    Attribute("cross_socket", "bool", "some pair's path crosses the CPU-to-CPU link (SYS)", origin="probe"),
    Attribute("worst_path", "string", "slowest PCIe path between two GPUs", PCIE_PATHS, origin="probe"),
    Attribute("smallest_memory_gb", "number", "memory of the smallest GPU", origin="probe", unit="GiB"),
    Attribute("largest_memory_gb", "number", "memory of the largest GPU", origin="probe", unit="GiB"),
    Attribute("host_ram_gb", "number", "host RAM", origin="probe", unit="GB"),
    Attribute("driver_version", "string", "NVIDIA driver version", origin="probe"),
    Attribute("planned_parallelism", "string", "parallelism the user said the job will use",
              ("none", "data", "tensor", "pipeline"), origin="answer"),
    Attribute("plan_given", "bool", "the user described a job (--set, --answers or --model)",
              origin="answer"),
)}
"""``fact.*`` names a hardware check may read: the machine and the user's declared plan."""

ANSWER_FACTS: dict[str, Attribute] = {a.name: a for a in (
    Attribute("workload", "string", "the workload",
              ("pretraining", "fine-tuning", "inference", "scientific"), origin="answer"),
    Attribute("model_params_b", "number", "model size, billions of parameters", origin="answer"),
    Attribute("method", "string", "fine-tuning method", ("full", "lora", "qlora"), origin="answer"),
    Attribute("precision", "string", "weight precision", ("fp32", "bf16", "fp16", "fp8", "fp4"),
              origin="answer"),
    Attribute("deployment", "string", "who depends on the results",
              ("hobby", "research", "production"), origin="answer"),
    Attribute("longest_run_hours", "number", "longest unattended run", origin="answer", unit="hours"),
    Attribute("max_gpus", "number", "GPUs one job may use", origin="answer"),
    Attribute("parallelism", "string", "how a job uses several GPUs (default tensor)",
              ("none", "data", "tensor", "pipeline"), origin="answer"),
)}
"""``answer.*`` names a hardware check may read (questionnaire answers, defaults filled)."""

VOCABULARY = {"device": GPU_FACTS, "fact": MACHINE_FACTS, "answer": ANSWER_FACTS}


def _kb_facts(device: Device | None) -> dict[str, Any]:
    if device is None:
        return {}
    return {"kb_name": device.name, "kb_memory_gb": device.value("memory_gb"),
            "kb_ecc": device.value("ecc"), "kb_nvlink": device.value("nvlink"),
            "kb_nvlink_max_gpus": device.value("nvlink_max_gpus"),
            "kb_pcie_gen": device.value("pcie_gen"), "kb_pcie_lanes": device.value("pcie_lanes"),
            "kb_power_w": device.value("power_w"), "kb_driver_class": device.value("driver_class")}


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
        "index": gpu.index, "name": gpu.name, "bus_id": gpu.bus_id, "kb_id": gpu.kb_id,
        "known": gpu.kb_id is not None, "architecture": gpu.architecture,
        "memory_gb": stated_memory_gb(gpu, knowledge),
        "ecc_supported": gpu.ecc_current is not None, "ecc_enabled": gpu.ecc_current,
        "ecc_pending_enabled": gpu.ecc_pending, "ecc_state": state(gpu.ecc_current),
        "ecc_pending_state": state(gpu.ecc_pending),
        "pcie_gen_current": gpu.pcie_gen_current, "pcie_gen_max": gpu.pcie_gen_max,
        "pcie_gen_device_max": gpu.pcie_gen_device_max, "pcie_gen_host_max": gpu.pcie_gen_host_max,
        "pcie_width_current": gpu.pcie_width_current, "pcie_width_max": gpu.pcie_width_max,
        "idle": gpu.idle, "utilization_pct": gpu.utilization_pct,
        "performance_state": gpu.performance_state, "temperature_c": gpu.temperature_c,
        "power_draw_w": gpu.power_draw_w, "power_limit_w": gpu.power_limit_w,
        "default_power_limit_w": gpu.default_power_limit_w,
        "max_power_limit_w": gpu.max_power_limit_w,
        "throttle_power": reason("sw_power_cap", "hw_power_brake_slowdown"),
        "throttle_thermal": reason("hw_thermal_slowdown", "sw_thermal_slowdown"),
        "throttle_hw_slowdown": reason("hw_slowdown"),
        "throttle_reasons": ", ".join(r.replace("_", " ") for r in gpu.throttle_reasons
                                      if r != "gpu_idle") or ("none" if known_reasons else None),
        "mig_enabled": gpu.mig_enabled, "remap_pending": gpu.remap_pending,
        "remap_failure": gpu.remap_failure,
        "nvlink_peers": machine.topology.peers(gpu.index) if machine.topology else None,
    }
    facts.update(_kb_facts(device))
    return facts


def machine_facts(machine: Machine, knowledge: Knowledge,
                  planned_parallelism: str | None = None, plan_given: bool = False) -> dict[str, Any]:
    """The ``fact.*`` values of the machine (None where unknown)."""
    count = len(machine.gpus)
    memories = [m for m in (stated_memory_gb(g, knowledge) for g in machine.gpus) if m is not None]
    facts: dict[str, Any] = {
        "gpu_count": count, "model_count": len(machine.models()),
        "mixed_models": len(machine.models()) > 1, "models": machine.describe_models(),
        "unknown_models": sum(1 for g in machine.gpus if g.kb_id is None),
        "topology_known": machine.topology is not None,
        "gpu_pairs": count * (count - 1) // 2,
        "smallest_memory_gb": min(memories) if memories else None,
        "largest_memory_gb": max(memories) if memories else None,
        "host_ram_gb": machine.host_ram_gb, "driver_version": machine.driver_version,
        "planned_parallelism": planned_parallelism, "plan_given": plan_given,
    }
    topology = machine.topology
    if topology is not None:
        paths = list(topology.links.values())
        nvlink = sum(1 for p in paths if p.startswith("NV"))
        pcie = [p for p in paths if not p.startswith("NV")]
        facts.update(nvlink_pairs=nvlink, nvlink_all=bool(paths) and nvlink == len(paths),
                     nvlink_any=nvlink > 0, cross_socket="SYS" in pcie,
                     worst_path=max(pcie, key=PCIE_PATHS.index) if pcie else None)
        if not paths:
            facts.update(nvlink_all=None, nvlink_any=None)
    return facts


# ---------------------------------------------------------------------------------------------
# Hardware rules: the product-name table and the checks


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CheckModel(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]*$")
    scope: Literal["gpu", "machine"]
    description: str
    when: Any
    severity: Literal["info", "caution", "serious"]
    finding: str
    fix: str
    sources: list[str] = []
    see: list[str] = []


class ModelNames(_Strict):
    device: str
    names: list[str] = Field(min_length=1)


class HardwareFile(_Strict):
    """A file's shape; each entry is validated on its own so one bad entry hides no other."""

    topic: str | None = None
    title: str | None = None
    checks: list[Any] | None = None
    models: list[Any] | None = None


@dataclass(frozen=True)
class Check:
    """One hardware check: a condition over one GPU (scope gpu) or the machine, and its finding."""

    id: str
    scope: str
    description: str
    when: Condition
    severity: str
    finding: str
    fix: str
    sources: tuple[str, ...]
    see: tuple[str, ...]
    location: Location


@dataclass(frozen=True)
class HardwareRules:
    checks: tuple[Check, ...]
    names: Mapping[str, str]
    """Normalized product name -> knowledge-base device id."""
    directory: Path


def shipped_hardware_dir() -> Path:
    return Path(str(resources.files("gpu_advisor.rules"))) / "hardware"


_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def _check_ref(ref: Ref, scope: str, where: Location, errors: list[FileError]) -> None:
    if ref.scope == "device" and scope == "machine":
        errors.append(FileError(where, f"{ref}: a machine check has no device; use scope: gpu"))
        return
    names = VOCABULARY[ref.scope]
    if ref.name not in names:
        errors.append(FileError(where, f"unknown name {ref}{did_you_mean(ref.name, names)}"))


def _type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return "string"


def _check_leaf_types(leaf: Leaf, errors: list[FileError]) -> None:
    left = VOCABULARY[leaf.left.scope].get(leaf.left.name)
    if left is None or leaf.op in ("set", "not set"):
        return
    if isinstance(leaf.right, Ref):
        right = VOCABULARY[leaf.right.scope].get(leaf.right.name)
        if right is not None and right.type != left.type:
            errors.append(FileError(leaf.location, f"{leaf}: compares {left.type} {leaf.left} with "
                                                   f"{right.type} {leaf.right}"))
        return
    values = leaf.right if isinstance(leaf.right, tuple) else (leaf.right,)
    for value in values:
        if _type_of(value) != left.type:
            errors.append(FileError(leaf.location, f"{leaf}: {leaf.left} is a {left.type}, "
                                                   f"not {_type_of(value)} {value!r}"))
        elif left.choices and value not in left.choices:
            errors.append(FileError(leaf.location, f"{leaf}: {value!r} is not one of "
                                                   f"{', '.join(left.choices)}"
                                                   f"{did_you_mean(str(value), left.choices)}"))


def load_hardware_rules(knowledge: Knowledge, directory: Path | str | None = None) -> HardwareRules:
    """Load ``rules/hardware/*.yaml``; raise FileErrors listing every problem in every file."""
    base = Path(directory) if directory is not None else shipped_hardware_dir()
    if not base.is_dir():
        raise FileErrors([FileError(Location(str(base)), "hardware rules folder not found")])
    errors: list[FileError] = []
    checks: list[Check] = []
    names: dict[str, str] = {}
    seen: dict[str, Location] = {}
    for path in iter_yaml_files(base):
        try:
            doc = load_yaml(path)
        except FileErrors as exc:
            errors.extend(exc.errors)
            continue
        try:
            parsed = HardwareFile.model_validate(doc.data if doc.data is not None else {})
        except ValidationError as exc:
            errors.extend(validation_errors(doc, HardwareFile, exc))
            continue
        if parsed.checks is None and parsed.models is None:
            errors.append(FileError(doc.location(), "expected a 'checks:' or a 'models:' list"))
        for i, raw in enumerate(parsed.checks or []):
            try:
                model = CheckModel.model_validate(raw)
            except ValidationError as exc:
                errors.extend(validation_errors(doc, CheckModel, exc, ("checks", i)))
                continue
            check = _build_check(doc, ("checks", i), model, knowledge, errors)
            if check.id in seen:
                errors.append(FileError(doc.location(("checks", i, "id")),
                                        f"duplicate check id {check.id!r} (also at {seen[check.id]})"))
            seen[check.id] = check.location
            checks.append(check)
        for i, raw in enumerate(parsed.models or []):
            try:
                entry = ModelNames.model_validate(raw)
            except ValidationError as exc:
                errors.extend(validation_errors(doc, ModelNames, exc, ("models", i)))
                continue
            if entry.device not in knowledge.devices:
                errors.append(FileError(doc.location(("models", i, "device")),
                                        f"unknown device {entry.device!r}"
                                        f"{did_you_mean(entry.device, knowledge.devices)}"))
            for j, name in enumerate(entry.names):
                key = normalize_name(name)
                if key in names and names[key] != entry.device:
                    errors.append(FileError(doc.location(("models", i, "names", j)),
                                            f"product name {name!r} already maps to {names[key]!r}"))
                names[key] = entry.device
    if errors:
        raise FileErrors(errors)
    return HardwareRules(tuple(checks), names, base)


def _build_check(doc: Document, key: tuple[str | int, ...], model: CheckModel,
                 knowledge: Knowledge, errors: list[FileError]) -> Check:
    where = doc.location(key)
    when = parse_condition(model.when, doc.location, key + ("when",), lambda k: k in doc.quoted, errors)
    for leaf in leaves(when):
        for ref in leaf.refs():
            _check_ref(ref, model.scope, leaf.location, errors)
        _check_leaf_types(leaf, errors)
    for field_name in ("finding", "fix"):
        text = getattr(model, field_name)
        for match in _PLACEHOLDER.finditer(text):
            body = match.group(1).split(":", 1)[0].strip()
            scope, _, name = body.partition(".")
            spot = doc.location(key + (field_name,))
            if scope not in VOCABULARY or not name:
                errors.append(FileError(spot, f"placeholder {{{match.group(1)}}}: expected "
                                              "{answer.x}, {fact.x} or {device.x}"))
                continue
            _check_ref(Ref(scope, name), model.scope, spot, errors)
    for i, citation in enumerate(model.sources):
        source_id = citation.split("#", 1)[0]
        if source_id not in knowledge.sources:
            errors.append(FileError(doc.location(key + ("sources", i)),
                                    f"unknown source {source_id!r}{did_you_mean(source_id, knowledge.sources)}"))
    return Check(model.id, model.scope, model.description, when, model.severity, model.finding,
                 model.fix, tuple(model.sources), tuple(model.see), where)


# ---------------------------------------------------------------------------------------------
# Running the checks


@dataclass(frozen=True)
class Finding:
    """A check that held, with the values that made it hold."""

    check: str
    severity: str
    gpu: int | None
    message: str
    fix: str
    because: tuple[str, ...]
    sources: tuple[str, ...]
    see: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"check": self.check, "severity": self.severity, "gpu": self.gpu,
                "message": self.message, "fix": self.fix, "because": list(self.because),
                "sources": list(self.sources), "see": list(self.see)}


def render(template: str, lookup: Callable[[Ref], Any]) -> str:
    """A check's message filled from the values it saw, on one line (YAML folds may leave runs
    of spaces)."""
    return " ".join(fill_template(template, lookup).split())


def _lookup(answers: Mapping[str, Any], machine: Mapping[str, Any],
            device: Mapping[str, Any] | None) -> Callable[[Ref], Any]:
    def lookup(ref: Ref) -> Any:
        source = {"answer": answers, "fact": machine}.get(ref.scope, device or {})
        value = source.get(ref.name)
        return MISSING if value is None else value

    return lookup


def _describe(result: LeafResult) -> str:
    text = result.describe()
    return text if result.holds else f"not ({text})"


def run_checks(machine: Machine, rules: HardwareRules, knowledge: Knowledge,
               answers: Mapping[str, Any] | None = None, planned_parallelism: str | None = None,
               plan_given: bool = False) -> list[Finding]:
    """Every check that holds, most serious first, then by GPU."""
    values = dict(answers or {})
    context = machine_facts(machine, knowledge, planned_parallelism, plan_given)
    per_gpu = [gpu_facts(gpu, machine, knowledge) for gpu in machine.gpus]
    findings: list[Finding] = []
    for check in rules.checks:
        targets: Iterable[Mapping[str, Any] | None] = per_gpu if check.scope == "gpu" else [None]
        for device in targets:
            lookup = _lookup(values, context, device)
            holds, why = decisive_leaves(check.when, lookup)
            if not holds:
                continue
            findings.append(Finding(
                check.id, check.severity, None if device is None else int(device["index"]),
                render(check.finding, lookup), render(check.fix, lookup),
                tuple(dict.fromkeys(_describe(r) for r in why)), check.sources, check.see))
    order = {s: i for i, s in enumerate(reversed(SEVERITIES))}
    findings.sort(key=lambda f: (order[f.severity], -1 if f.gpu is None else f.gpu))
    return findings
