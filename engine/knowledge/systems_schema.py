"""The schema of kb/systems.yaml and its checks (pydantic; imported only when the file is read).

``knowledge.systems`` turns what :func:`parse_systems` returns into its plain records.

Each host, network and site is validated on its own against a strict schema, so that an unknown
key gets a did-you-mean and every error its ``path:line:col``; then the cross-references are
checked: the sites, device settings and coolers a host names, the hosts a network names, and the
source of every number (registered in the sources.yaml beside the file).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from gpu_advisor.errors import FileError, FileErrors, did_you_mean
from gpu_advisor.knowledge.kb import DEVICE_ENUMS, source_id
from gpu_advisor.knowledge.kb_schema import PriceKind, load_sources
from gpu_advisor.knowledge.schema import StrictModel, file_check, validate_document, validate_part
from gpu_advisor.knowledge.yamlio import Document, PathKey, load_yaml

ESTIMATE = "maintainer-estimate"
_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")


class _Number(StrictModel):
    """A sourced number: positive and finite, with its source; an estimate says its basis."""

    value: float
    source: str
    kind: PriceKind | None = None
    as_of: str | None = Field(default=None, pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")
    note: str | None = None

    @field_validator("value", mode="before")
    @classmethod
    def _positive_finite(cls, value: Any) -> Any:
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or value <= 0
        ):
            raise file_check(f"value: expected a positive finite number, got {value!r}")
        return value

    @model_validator(mode="after")
    def _estimate_says_why(self) -> _Number:
        if self.source == ESTIMATE and (self.kind != "estimate" or not self.note):
            raise file_check(f"a {ESTIMATE} needs kind: estimate and a note giving its basis")
        return self


class _Price(_Number):
    """A price: also when it was seen (as_of, YYYY-MM) and what kind of price it is."""

    @model_validator(mode="after")
    def _dated(self) -> _Price:
        if self.as_of is None or self.kind is None:
            raise file_check('a price needs as_of: "YYYY-MM" and kind')
        return self


class _Host(StrictModel):
    name: str
    kind: Literal["workstation", "server", "hgx"]
    sites: list[str] = Field(min_length=1)
    settings: list[str] = Field(min_length=1)
    coolers: list[str] = Field(min_length=1)
    max_gpus: int = Field(ge=1, le=64)
    slot_widths: int | None = Field(ge=1, le=64)
    gpu_power_w: _Number | None
    platform_power_w: _Number
    price_usd: _Price
    rack_units: int | None = Field(ge=1, le=60)

    @model_validator(mode="after")
    def _board_or_slots(self) -> _Host:
        board = self.kind == "hgx"
        if board and (self.slot_widths is not None or self.gpu_power_w is not None):
            raise file_check(
                "an hgx host takes a baseboard: slot_widths and gpu_power_w must be null"
            )
        if not board and (self.slot_widths is None or self.gpu_power_w is None):
            raise file_check(f"a {self.kind} host needs slot_widths and gpu_power_w")
        return self


class _Network(StrictModel):
    name: str
    fabric: Literal["ethernet", "roce", "infiniband"]
    per: Literal["node", "gpu"]
    gbs: _Number
    usd_per_port: _Price
    hosts: list[str] = Field(min_length=1)


class _Site(StrictModel):
    max_node_kw: _Number


class _SystemsFile(StrictModel):
    hosts: dict[str, Any] = Field(min_length=1)
    networks: dict[str, Any] = Field(min_length=1)
    sites: dict[str, Any]

    @field_validator("hosts", "networks", "sites")
    @classmethod
    def _mappings(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        for name, entry in value.items():
            if not isinstance(entry, dict):
                raise file_check(f"{info.field_name}: {name!r} must be a mapping")
        return value


@dataclass(frozen=True)
class ParsedSystems:
    """The validated file: hosts, networks and sites by id, as their schemas."""

    hosts: dict[str, _Host]
    networks: dict[str, _Network]
    sites: dict[str, _Site]


def parse_systems(path: Path, sources_path: Path, sites_known: tuple[str, ...]) -> ParsedSystems:
    """kb/systems.yaml read, validated and cross-checked against the sources registry and the
    site names `sites_known`; FileErrors listing every problem."""
    doc = load_yaml(path)
    errors: list[FileError] = []
    top = validate_document(doc, _SystemsFile, errors)
    if top is None:
        raise FileErrors(errors)
    registry = load_sources(sources_path, errors)
    hosts: dict[str, _Host] = {}
    for host_id, entry in top.hosts.items():
        host = _part(doc, _Host, entry, ("hosts", host_id), errors)
        if host is not None:
            hosts[host_id] = host
    networks: dict[str, _Network] = {}
    for network_id, entry in top.networks.items():
        network = _part(doc, _Network, entry, ("networks", network_id), errors)
        if network is not None:
            networks[network_id] = network
    sites: dict[str, _Site] = {}
    for site, entry in top.sites.items():
        if site not in sites_known:
            errors.append(
                FileError(
                    doc.key_location(("sites", site)),
                    f"unknown site {site!r}{did_you_mean(site, sites_known)}",
                )
            )
            continue
        parsed = validate_part(doc, _Site, entry, errors, ("sites", site))
        if parsed is not None:
            sites[site] = parsed
    for site in sites_known:
        if site not in top.sites:
            errors.append(FileError(doc.location(("sites",)), f"missing site {site!r}"))
    for host_id, host in hosts.items():
        where = ("hosts", host_id)
        _names(doc, host.sites, sites_known, (*where, "sites"), "site", errors)
        _names(doc, host.settings, DEVICE_ENUMS["setting"], (*where, "settings"), "setting", errors)
        _names(doc, host.coolers, DEVICE_ENUMS["cooling"], (*where, "coolers"), "cooling", errors)
    for network_id, network in networks.items():
        _names(doc, network.hosts, top.hosts, ("networks", network_id, "hosts"), "host", errors)
    _check_sources(doc, registry, errors)
    if errors:
        raise FileErrors(errors)
    return ParsedSystems(hosts, networks, sites)


def _part(
    doc: Document, model: type[Any], entry: Any, where: PathKey, errors: list[FileError]
) -> Any:
    """One entry of a section validated on its own (so unknown keys get a did-you-mean)."""
    name = str(where[-1])
    if not _ID.match(name):
        errors.append(
            FileError(
                doc.key_location(where),
                f"{where[0]} id {name!r} must be lowercase letters, digits and '-'",
            )
        )
        return None
    return validate_part(doc, model, entry, errors, where)


def _names(
    doc: Document,
    given: list[str],
    known: Any,
    where: PathKey,
    what: str,
    errors: list[FileError],
) -> None:
    """Each name of a list must be one of `known` (did-you-mean otherwise); none twice."""
    seen: set[str] = set()
    for index, name in enumerate(given):
        if name not in known:
            errors.append(
                FileError(
                    doc.location((*where, index)),
                    f"unknown {what} {name!r}{did_you_mean(name, known)}",
                )
            )
        elif name in seen:
            errors.append(FileError(doc.location((*where, index)), f"{what} {name!r} given twice"))
        seen.add(name)


def _check_sources(
    doc: Document, registry: dict[str, Any], errors: list[FileError], key: PathKey = ()
) -> None:
    """Every `source` must name an entry of sources.yaml (a '#locator' after it is allowed)."""
    data: Any = doc.data
    for part in key:
        data = data[part]
    if isinstance(data, dict):
        for name, value in data.items():
            if name == "source" and isinstance(value, str):
                if registry and source_id(value) not in registry:
                    errors.append(
                        FileError(
                            doc.location((*key, name)),
                            f"unknown source {value!r}{did_you_mean(value, registry)}",
                        )
                    )
            else:
                _check_sources(doc, registry, errors, (*key, name))
    elif isinstance(data, list):
        for index in range(len(data)):
            _check_sources(doc, registry, errors, (*key, index))
