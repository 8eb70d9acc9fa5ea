"""PLACEHOLDER until branch kb12 lands: the types of the systems catalog (kb/systems.yaml)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Host:
    id: str
    name: str
    kind: str
    sites: tuple[str, ...]
    settings: tuple[str, ...]
    coolers: tuple[str, ...]
    max_gpus: int
    slot_widths: int | None
    gpu_power_w: float | None
    platform_power_w: float
    price_usd: float
    rack_units: int | None
    sources: tuple[str, ...]


@dataclass(frozen=True)
class Network:
    id: str
    name: str
    fabric: str
    per: str
    gbs: float
    usd_per_port: float
    hosts: tuple[str, ...]
    sources: tuple[str, ...]


@dataclass(frozen=True)
class Systems:
    hosts: dict[str, Host]
    networks: dict[str, Network]
    max_node_kw: dict[str, float]
    site_sources: dict[str, tuple[str, ...]]


def load_systems(kb_dir: Path | None = None) -> Systems:
    raise NotImplementedError


def _placeholder_load(kb_dir: Path | None = None) -> Systems:
    import yaml

    base = Path(kb_dir) if kb_dir else Path(__file__).resolve().parents[2] / "kb"
    path = base / "systems.yaml"
    if not path.is_file():
        path = Path(__file__).resolve().parents[2] / "kb" / "systems.yaml"
    doc = yaml.safe_load(path.read_text())
    hosts = {
        k: Host(id=k, name=v["name"], kind=v["kind"], sites=tuple(v["sites"]),
                settings=tuple(v["settings"]), coolers=tuple(v["coolers"]), max_gpus=v["max_gpus"],
                slot_widths=v["slot_widths"], gpu_power_w=v["gpu_power_w"],
                platform_power_w=v["platform_power_w"], price_usd=v["price_usd"],
                rack_units=v["rack_units"], sources=())
        for k, v in doc["hosts"].items()
    }
    nets = {
        k: Network(id=k, name=v["name"], fabric=v["fabric"], per=v["per"], gbs=v["gbs"],
                   usd_per_port=v["usd_per_port"], hosts=tuple(v["hosts"]), sources=())
        for k, v in doc["networks"].items()
    }
    return Systems(hosts, nets, {k: v["max_node_kw"] for k, v in doc["sites"].items()}, {})


load_systems = _placeholder_load  # type: ignore[assignment]  # noqa: F811
