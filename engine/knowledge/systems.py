"""What a buyer must buy around the GPUs (kb/systems.yaml): hosts, networks and site limits.

A GPU is never run alone: PCIe cards go in a workstation or a server, an 8-GPU baseboard in an
HGX server, and boxes that work together need a network. These records carry the price, power
and capacity of each, with the source ids their figures cite, so that a cost or a power figure
built from them can say where it came from.

Plain dataclasses (no pydantic, so the arithmetic imports them cheaply); the file is validated by
``systems_schema`` when :func:`load_systems` first reads it, then cached per path.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpu_advisor.knowledge.kb import shipped_kb_dir, source_id

HOST_KINDS = ("workstation", "server", "hgx")
"""workstation: a tower at a desk; server: a rack server for PCIe cards; hgx: the server an
8-GPU baseboard (HGX or OAM) goes into."""

FABRICS = ("ethernet", "roce", "infiniband")
NETWORK_PER = ("node", "gpu")
"""node: one port per box; gpu: one port per GPU (rail-optimized)."""

SITES = ("office", "server-room", "datacenter")
"""The sites of the questionnaire's `site` answer, each with the most one box may draw."""


@dataclass(frozen=True)
class Host:
    """A box GPUs are bought in: what it takes, what it carries, what it costs and draws."""

    id: str
    name: str
    kind: str  # workstation | server | hgx
    sites: tuple[str, ...]
    settings: tuple[str, ...]  # device `setting` values it takes
    coolers: tuple[str, ...]  # device `cooling` values it is built for
    max_gpus: int
    slot_widths: int | None  # expansion-slot widths for GPUs; None for hgx
    gpu_power_w: float | None  # GPU power its PSUs and cooling carry; None for hgx
    platform_power_w: float  # the host without GPUs: CPUs, RAM, drives, fans, NICs
    price_usd: float  # without GPUs (for hgx: without the baseboard)
    rack_units: int | None
    sources: tuple[str, ...]  # every source id its figures cite


@dataclass(frozen=True)
class Network:
    """A network between boxes: its bandwidth per port and its cost per port."""

    id: str
    name: str
    fabric: str  # ethernet | roce | infiniband
    per: str  # "node" | "gpu"
    gbs: float  # GB/s per direction per port
    usd_per_port: float  # NIC + cable/optics + share of the switch ports
    hosts: tuple[str, ...]
    sources: tuple[str, ...]


@dataclass(frozen=True)
class Systems:
    """The whole catalog: hosts and networks by id, and the most one box may draw per site."""

    hosts: dict[str, Host]
    networks: dict[str, Network]
    max_node_kw: dict[str, float]  # site -> kW
    site_sources: dict[str, tuple[str, ...]]


def systems_path(kb_dir: str | Path | None = None) -> Path:
    """systems.yaml of `kb_dir` when that folder has one, else the shipped knowledge base's."""
    if kb_dir is not None:
        candidate = Path(kb_dir) / "systems.yaml"
        if candidate.is_file():
            return candidate
    return shipped_kb_dir() / "systems.yaml"


def load_systems(kb_dir: Path | None = None) -> Systems:
    """The systems catalog; every source must be registered in the sources.yaml beside it
    (FileErrors, each at ``path:line:col``, otherwise). Loaded once per path, then cached."""
    path = systems_path(kb_dir)
    return _load_cached(str(path.resolve()), str((path.parent / "sources.yaml").resolve()))


@functools.lru_cache(maxsize=8)
def _load_cached(path: str, sources_path: str) -> Systems:
    from gpu_advisor.knowledge.systems_schema import parse_systems  # pydantic: only when read

    parsed = parse_systems(Path(path), Path(sources_path), SITES)
    return Systems(
        hosts={host_id: _host(host_id, host) for host_id, host in parsed.hosts.items()},
        networks={
            network_id: Network(
                network_id,
                network.name,
                network.fabric,
                network.per,
                network.gbs.value,
                network.usd_per_port.value,
                tuple(network.hosts),
                _cited(network.gbs, network.usd_per_port),
            )
            for network_id, network in parsed.networks.items()
        },
        max_node_kw={site: parsed.sites[site].max_node_kw.value for site in SITES},
        site_sources={site: _cited(parsed.sites[site].max_node_kw) for site in SITES},
    )


def _cited(*numbers: Any) -> tuple[str, ...]:
    """The registry ids the sourced numbers cite, in order, each once (None: not applicable)."""
    return tuple(dict.fromkeys(source_id(n.source) for n in numbers if n is not None))


def _host(host_id: str, host: Any) -> Host:
    return Host(
        id=host_id,
        name=host.name,
        kind=host.kind,
        sites=tuple(host.sites),
        settings=tuple(host.settings),
        coolers=tuple(host.coolers),
        max_gpus=host.max_gpus,
        slot_widths=host.slot_widths,
        gpu_power_w=host.gpu_power_w.value if host.gpu_power_w is not None else None,
        platform_power_w=host.platform_power_w.value,
        price_usd=host.price_usd.value,
        rack_units=host.rack_units,
        sources=_cited(host.gpu_power_w, host.platform_power_w, host.price_usd),
    )
