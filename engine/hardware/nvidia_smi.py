"""Saved ``nvidia-smi`` outputs read into a :class:`Machine`: ``-q -x`` (XML) and ``topo -m``.

Saved XML is parsed with defusedxml (no entity declarations, no external entities), a DOCTYPE
internal subset is refused, and the file's size and element count are bounded; nothing from a
file is evaluated. Files and standard input are read through the knowledge layer's capped reader
(a FIFO or ``/dev/zero`` is refused, never read forever). A value nvidia-smi prints as ``N/A``
(or "Not Supported", ...) is left unset, so no check fires on a value nobody measured.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from typing import Any

from gpu_advisor.errors import FileError, FileErrors, Location, UsageError
from gpu_advisor.hardware.machine import GPU, Machine, ProbeUnavailable, Topology
from gpu_advisor.knowledge.safe_files import MAX_PROBE_FILE_BYTES, read_bytes_limited

MAX_XML_ELEMENTS = 200_000
"""A saved nvidia-smi -q -x has about 300 elements per GPU (2,200 for an 8-GPU server): a file
with more is not one, and its tree would take memory in proportion (about 1 KB per element)."""

_NOT_A_VALUE = {
    "",
    "n/a",
    "[n/a]",
    "not supported",
    "[not supported]",
    "unknown error",
    "[unknown error]",
    "not available",
    "[not available]",
    "insufficient permissions",
    "[insufficient permissions]",
    "requested functionality has been deprecated",
}


# ---------------------------------------------------------------------------------------------
# Safe XML


class _Refused(Exception):
    """Raised inside the parser's handlers for constructs we do not accept."""


class _BoundedTreeBuilder(ET.TreeBuilder):
    """A TreeBuilder that refuses more than :data:`MAX_XML_ELEMENTS` elements, so that a file of
    millions of tiny elements is stopped before its tree takes gigabytes."""

    def __init__(self) -> None:
        super().__init__()
        self.elements = 0

    def start(self, tag: Any, attrs: Any) -> ET.Element:
        self.elements += 1
        if self.elements > MAX_XML_ELEMENTS:
            raise _Refused(
                f"more than {MAX_XML_ELEMENTS:,} elements: too many for an nvidia-smi output"
            )
        return super().start(tag, attrs)


def parse_xml(text: str, display: str) -> ET.Element:
    """Parse XML with defusedxml into an ElementTree, within a size and an element budget.

    nvidia-smi's own output starts with ``<!DOCTYPE nvidia_smi_log SYSTEM "nvsmi_device_v12.dtd">``,
    which is accepted: expat does not fetch external DTDs. defusedxml refuses entity declarations
    (the billion-laughs attack) and external entities; a DOCTYPE with an internal subset is
    refused too, and so is a file over :data:`MAX_PROBE_FILE_BYTES` or with more than
    :data:`MAX_XML_ELEMENTS` elements; each error at the file's position.
    """
    from defusedxml import DefusedXmlException, DTDForbidden, EntitiesForbidden
    from defusedxml.ElementTree import DefusedXMLParser

    if len(text) > MAX_PROBE_FILE_BYTES:
        raise FileErrors([FileError(Location(display), "file too large for an nvidia-smi output")])
    builder = _BoundedTreeBuilder()
    parser = DefusedXMLParser(
        target=builder, forbid_dtd=False, forbid_entities=True, forbid_external=True
    )
    expat_parser = parser.parser

    def doctype(name: str, system_id: str | None, public_id: str | None, internal: int) -> None:
        if internal:
            raise _Refused("a DOCTYPE with an internal subset is not accepted")

    expat_parser.StartDoctypeDeclHandler = doctype

    def here() -> Location:
        return Location(
            display, expat_parser.CurrentLineNumber, expat_parser.CurrentColumnNumber + 1
        )

    try:
        parser.feed(text)
        root = parser.close()
    except _Refused as exc:
        raise FileErrors([FileError(here(), str(exc))]) from None
    except (EntitiesForbidden, DTDForbidden):
        raise FileErrors([FileError(here(), "entity declarations are not accepted")]) from None
    except DefusedXmlException:  # ExternalReferenceForbidden, NotSupportedError
        raise FileErrors([FileError(here(), "external entities are not accepted")]) from None
    except ET.ParseError as exc:
        line, column = exc.position
        message = str(exc).split(":", 1)[0]
        where = Location(display, line, column + 1)
        raise FileErrors([FileError(where, f"not well-formed XML: {message}")]) from None
    except UnicodeEncodeError as exc:  # a lone surrogate, e.g. standard input undecodable
        problem = FileError(Location(display), f"not UTF-8 text ({exc.reason})")
        raise FileErrors([problem]) from None
    except (AssertionError, IndexError):  # TreeBuilder: unbalanced tags cannot pass expat
        raise FileErrors([FileError(Location(display), "not well-formed XML")]) from None
    if not isinstance(root, ET.Element):  # pragma: no cover - close() returns the root
        raise FileErrors([FileError(Location(display), "not well-formed XML")])
    return root


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


class _NotFinite(Exception):
    """A number too large for a float (``999...9 MiB``): refused, never read as infinity."""

    def __init__(self, token: str) -> None:
        super().__init__(token)
        self.token = token


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    match = _NUMBER.search(text)
    if not match:
        return None
    value = float(match.group())
    if not math.isfinite(value):
        raise _NotFinite(match.group())
    return value


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
    "product_name": "product_name",
    "product_brand": "product_brand",
    "product_architecture": "product_architecture",
    "pci_device_id": "pci/pci_device_id",
    "board_part_number": "board_part_number",
    "vbios_version": "vbios_version",
    "memory_total": "fb_memory_usage/total",
    "ecc_mode": "ecc_mode/current_ecc",
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
        gpu.power_draw_w = _number(
            _first(power, "power_draw", "instant_power_draw", "average_power_draw")
        )
        gpu.power_limit_w = _number(
            _first(power, "current_power_limit", "power_limit", "enforced_power_limit")
        )
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
        raise FileErrors(
            [
                FileError(
                    Location(display, 1, 1),
                    f"expected <nvidia_smi_log> (nvidia-smi -q -x), found <{root.tag}>",
                )
            ]
        )
    try:
        gpus = [_gpu_from_xml(i, node) for i, node in enumerate(root.findall("gpu"))]
    except _NotFinite as exc:
        offset = text.find(exc.token)
        line = text.count("\n", 0, offset) + 1
        column = offset - (text.rfind("\n", 0, offset) + 1) + 1
        shown = (
            exc.token
            if len(exc.token) <= 20
            else f"{exc.token[:12]}... ({len(exc.token):,} digits)"
        )
        problem = FileError(Location(display, line, column), f"{shown} is not a finite number")
        raise FileErrors([problem]) from None
    if not gpus:
        raise ProbeUnavailable(
            f"{display}: nvidia-smi lists no GPU (attached_gpus "
            f"{_text(root, 'attached_gpus') or 0}): nothing to probe"
        )
    return Machine(
        gpus, _text(root, "driver_version"), _text(root, "cuda_version"), origin=(display,)
    )


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
    expected = [f"GPU{i}" for i in range(len(gpu_columns))]
    if not gpu_columns or columns[: len(gpu_columns)] != expected:
        raise FileErrors(
            [
                FileError(
                    Location(display), "no GPU0 GPU1 ... header: not an nvidia-smi topo -m output"
                )
            ]
        )
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
            errors.append(
                FileError(
                    Location(display, number, 1), f"GPU{index}: the header names only {count} GPUs"
                )
            )
            continue
        cells = tokens[1 : 1 + count]
        if len(cells) < count or not all(_CELL.match(c) for c in cells):
            bad = next((c for c in cells if not _CELL.match(c)), None)
            column = line.find(bad) + 1 if bad else 1
            errors.append(
                FileError(
                    Location(display, number, max(column, 1)),
                    f"GPU{index}: expected {count} entries of X, NV#, PIX, PXB, "
                    f"PHB, NODE or SYS" + (f", found {bad!r}" if bad else ""),
                )
            )
            continue
        if cells[index] != "X":
            errors.append(
                FileError(
                    Location(display, number, 1), f"GPU{index}: the entry for itself is not X"
                )
            )
            continue
        rows[index] = ["SYS" if c == "SOC" else c for c in cells]
    if errors:
        raise FileErrors(errors)
    if sorted(rows) != list(range(count)):
        raise FileErrors(
            [
                FileError(
                    Location(display, header_line, 1),
                    f"the header names {count} GPUs but {len(rows)} GPU rows follow",
                )
            ]
        )
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
    if (
        "couldn't communicate with the nvidia driver" in lowered
        or "nvidia-smi has failed" in lowered
    ):
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
            raise ProbeUnavailable(
                f'{display}: nvidia-smi found no NVIDIA GPU ("No devices were '
                'found"): nothing to probe'
            )
        elif kind == "no-driver":
            raise ProbeUnavailable(
                f"{display}: nvidia-smi could not talk to the NVIDIA driver "
                "(not installed or not loaded): nothing to probe"
            )
        else:
            raise FileErrors(
                [
                    FileError(
                        Location(display), "not an nvidia-smi -q -x or nvidia-smi topo -m output"
                    )
                ]
            )
    if len(xml_inputs) != 1 or len(topo_inputs) > 1:
        found = f"{len(xml_inputs)} nvidia-smi -q -x and {len(topo_inputs)} topo -m outputs"
        raise UsageError(
            f"--from: give one nvidia-smi -q -x output and at most one nvidia-smi "
            f"topo -m output of the same machine ({found})"
        )
    display, text = xml_inputs[0]
    machine = parse_smi_xml(text, display)
    if topo_inputs:
        topo_display, topo_text = topo_inputs[0]
        topology = parse_topology(topo_text, topo_display)
        if topology.gpus != len(machine.gpus):
            raise FileErrors(
                [
                    FileError(
                        Location(topo_display),
                        f"the topology has {topology.gpus} GPUs but {display} "
                        f"lists {len(machine.gpus)}: not the same machine?",
                    )
                ]
            )
        machine.topology = topology
        machine.origin = (display, topo_display)
    return machine


def read_files(paths: Sequence[str], stdin_text: Callable[[int], str] | None = None) -> Machine:
    """:func:`read_outputs` over files (``-`` reads standard input once, ``stdin_text(n)``
    reading at most ``n`` characters), each capped at :data:`MAX_PROBE_FILE_BYTES` and read
    from regular files only."""
    inputs: list[tuple[str, str]] = []
    for path in paths:
        if path == "-":
            if stdin_text is None:
                raise UsageError("--from -: standard input is not available here")
            text = stdin_text(MAX_PROBE_FILE_BYTES + 1)
            if len(text) > MAX_PROBE_FILE_BYTES:
                problem = FileError(Location("<stdin>"), "too large for an nvidia-smi output")
                raise FileErrors([problem])
            inputs.append(("<stdin>", text))
            continue
        data = read_bytes_limited(path, MAX_PROBE_FILE_BYTES)
        try:
            inputs.append((path, data.decode("utf-8")))
        except UnicodeDecodeError as exc:
            problem = FileError(Location(path), f"not UTF-8 text ({exc.reason})")
            raise FileErrors([problem]) from None
    return read_outputs(inputs)
