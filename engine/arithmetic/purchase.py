"""From a count of GPUs to what a buyer orders: purchase units, the boxes that hold them, the
network between the boxes, and what all of it costs and draws.

Vendors do not sell loose SXM GPUs: they sell 8-GPU baseboards that go into a server, cards that
go into a workstation or a PCIe server, and appliances that are their own box. The count the
demand sets is rounded up to whole units, the boxes are chosen among the hosts of kb/systems.yaml
that take the device at the user's site, and a network is added when there is more than one box:
the cheapest whose bandwidth per GPU carries what the job exchanges between boxes.

Network need of a training job across boxes, per GPU (every symbol shown in the steps):

    need = k x b x F x MFU / (f x T x g)

Between two exchanges each GPU computes ``f x N x T`` FLOPs (T tokens) at ``F`` dense FLOP/s x
``MFU``; each box moves ``k x N x b`` bytes, of which each GPU's own port carries ``1/g`` (``g``
GPUs per box, hierarchical collectives). Data parallelism exchanges gradients once per optimizer
step (k = 2, an all-reduce; T = the step's tokens / GPUs); state sharded across boxes (ZeRO-3 /
FSDP) all-gathers the parameters for every micro-batch (k = 3 with the gradients' reduce-scatter,
2 when the weights are frozen, as in LoRA; T = the micro-batch's tokens). N cancels.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

from gpu_advisor.arithmetic.remembered import NOT_FOUND, Remembered
from gpu_advisor.knowledge.kb import Device
from gpu_advisor.knowledge.systems import Host, Network, Systems

INCLUDED_HOST_UNITS = ("appliance", "system")
"""Purchase units that are their own box: the price includes the host."""


@dataclass(frozen=True)
class HostFit:
    """A host that takes this device at the site, and how many of the device's GPUs one holds."""

    host: Host
    gpus: int
    limited_by: str  # slots | power | bays | board


@dataclass(frozen=True)
class NetworkNeed:
    """What one training step exchanges between boxes, per GPU, with the numbers behind it."""

    gbs_per_gpu: float
    steps: tuple[str, ...] = ()


@dataclass(frozen=True)
class Purchase:
    """What is bought for one device: units, boxes, network, cost and power, with the steps."""

    unit: str
    gpus_per_unit: int
    units: int
    gpus: int
    host: Host | None
    hosts: int
    gpus_per_node: int
    nodes: int
    network: Network | None = None
    network_gbs_per_gpu: float | None = None
    network_gbs_needed: float | None = None
    gpu_cost_usd: float = 0.0
    host_cost_usd: float = 0.0
    network_cost_usd: float = 0.0
    node_power_w: float = 0.0
    power_w: float = 0.0
    steps: tuple[str, ...] = field(default_factory=tuple)

    @property
    def cost_usd(self) -> float:
        return self.gpu_cost_usd + self.host_cost_usd + self.network_cost_usd

    @functools.cached_property
    def rule_attributes(self) -> dict[str, Any]:
        """What is bought as rules see it (``device.count``, ``device.host``, ...), worked out
        once per purchase: purchases are remembered by their inputs, and a lever search meets
        the same ones again and again. Read only (callers copy it into a device's facts)."""
        return {
            "count": self.gpus,
            "units": self.units,
            "gpus_per_unit": self.gpus_per_unit,
            "host": self.host.id if self.host else "included",
            "host_kind": self.host.kind if self.host else "appliance",
            "hosts": self.hosts,
            "gpus_per_node": self.gpus_per_node,
            "nodes": self.nodes,
            "network": self.network.id if self.network else "none",
            "network_gbs_per_gpu": None
            if self.network_gbs_per_gpu is None
            else round(self.network_gbs_per_gpu, 3),
            "network_gbs_needed": None
            if self.network_gbs_needed is None
            else round(self.network_gbs_needed, 3),
            "network_short": self.network_short,
            "gpu_cost_usd": self.gpu_cost_usd,
            "host_cost_usd": self.host_cost_usd,
            "network_cost_usd": self.network_cost_usd,
            "node_power_kw": round(self.node_power_w / 1000.0, 2),
            "total_power_w": round(self.power_w, 1),
        }

    @property
    def network_short(self) -> bool:
        """Whether the network carries less than the job exchanges between boxes."""
        return (
            self.network_gbs_needed is not None
            and self.network_gbs_per_gpu is not None
            and self.network_gbs_needed > self.network_gbs_per_gpu + 1e-9
        )


def purchase_unit(device: Device) -> tuple[str, int]:
    """How the device is sold (card, board, system, appliance) and how many GPUs one unit holds."""
    return device.remembered("purchase_unit", _purchase_unit, device)


def _purchase_unit(device: Device) -> tuple[str, int]:
    unit = str(device.value("purchase_unit") or "card")
    gpus = int(device.value("purchase_unit_gpus") or 1)
    return unit, max(1, gpus)


def host_fits(device: Device, site: str, systems: Systems) -> list[HostFit]:
    """The hosts that take this device at the site, each with the GPUs it holds: a board goes into
    the server built for it; a card into a box whose slots, GPU power budget and airflow take it.
    Worked out once per catalog, device and site (both are immutable once loaded)."""
    held, fits = device.remembered(
        ("host_fits", site, id(systems)), _held_host_fits, device, site, systems
    )
    return fits if held is systems else _host_fits(device, site, systems)


def _held_host_fits(device: Device, site: str, systems: Systems) -> tuple[Systems, list[HostFit]]:
    """The fits with the catalog they were worked out for (an id alone may be reused)."""
    return systems, _host_fits(device, site, systems)


def _host_fits(device: Device, site: str, systems: Systems) -> list[HostFit]:
    unit, per_unit = purchase_unit(device)
    if unit in INCLUDED_HOST_UNITS:
        return []
    setting = str(device.value("setting") or "")
    cooling = str(device.value("cooling") or "")
    fits: list[HostFit] = []
    for host in systems.hosts.values():
        if site not in host.sites:
            continue
        if unit == "board":
            if host.kind == "hgx" and host.max_gpus >= per_unit:
                fits.append(HostFit(host, per_unit, "board"))
            continue
        if host.kind == "hgx" or setting not in host.settings or cooling not in host.coolers:
            continue
        gpus, limited_by = host.max_gpus, "bays"
        slots = device.value("slots")
        if host.slot_widths is not None and slots:
            by_slots = host.slot_widths // int(slots)
            if by_slots < gpus:
                gpus, limited_by = by_slots, "slots"
        power = device.value("power_w")
        if host.gpu_power_w is not None and power:
            by_power = int(host.gpu_power_w // float(power))
            if by_power < gpus:
                gpus, limited_by = by_power, "power"
        if gpus >= 1:
            fits.append(HostFit(host, gpus, limited_by))
    return fits


def box_gpus(device: Device, site: str, systems: Systems) -> int:
    """The most GPUs of this device one box holds at the site (0: no box we know takes it)."""
    unit, per_unit = purchase_unit(device)
    if unit in INCLUDED_HOST_UNITS:
        return per_unit
    held, gpus = device.remembered(
        ("box_gpus", site, id(systems)), _held_box_gpus, device, site, systems
    )
    return gpus if held is systems else _box_gpus(device, site, systems)


def _held_box_gpus(device: Device, site: str, systems: Systems) -> tuple[Systems, int]:
    return systems, _box_gpus(device, site, systems)


def _box_gpus(device: Device, site: str, systems: Systems) -> int:
    return max((fit.gpus for fit in host_fits(device, site, systems)), default=0)


def boxes_for(fit: HostFit, gpus: int, group: int) -> int:
    """Boxes of this host for ``gpus`` GPUs in groups of ``group`` that must share a box (0: a
    group does not fit one box)."""
    per_box = (fit.gpus // group) * group
    return math.ceil(gpus / per_box) if per_box else 0


def training_network_need(
    *,
    k: float,
    gradient_bytes: float,
    dense_tflops: float,
    mfu: float,
    flops_per_param_token: float,
    tokens_per_exchange: float,
    gpus_per_node: int,
    exchange: str,
) -> NetworkNeed:
    """GB/s each GPU's network port must carry for the exchange to hide behind compute: each GPU
    computes ``f x N x T`` FLOPs between exchanges of ``k x N x b`` bytes per box, of which its
    own port carries ``1/g``."""
    need = (
        k
        * gradient_bytes
        * dense_tflops
        * 1e12
        * mfu
        / (flops_per_param_token * tokens_per_exchange * gpus_per_node)
    ) / 1e9
    steps = (
        f"between exchanges each GPU computes {flops_per_param_token:g} x N x "
        f"{tokens_per_exchange:,.0f} tokens at {dense_tflops:,.0f} TFLOPS x {mfu:g} MFU",
        f"{exchange}: {k:g} x N x {gradient_bytes:g} bytes per box, 1/{gpus_per_node} of it on "
        "each GPU's network port",
        f"network need = {k:g} x {gradient_bytes:g} x {dense_tflops:,.0f}e12 x {mfu:g} / "
        f"({flops_per_param_token:g} x {tokens_per_exchange:,.0f} x {gpus_per_node}) = "
        f"{need:.2f} GB/s per GPU",
    )
    return NetworkNeed(need, steps)


@dataclass(frozen=True)
class TrainingExchange:
    """What a training job exchanges between boxes, as numbers (hashable, so purchases can be
    remembered): called with (GPUs, GPUs per box) it gives the need per GPU with its steps."""

    dense_tflops: float
    mfu: float
    flops_per_param_token: float
    gradient_bytes: float
    step_tokens: float
    micro_tokens: float
    memory_gpus: int
    frozen: bool
    """LoRA and QLoRA: the base weights get no gradients."""

    def __call__(self, gpus: int, per_node: int) -> NetworkNeed:
        if self.memory_gpus > per_node:  # the state itself is sharded across boxes
            k, tokens = (2.0 if self.frozen else 3.0), self.micro_tokens
            exchange = "parameters all-gathered for every micro-batch (ZeRO-3 across boxes)"
        elif self.frozen:
            lora = "LoRA exchanges only the adapters' gradients between boxes: nothing to size"
            return NetworkNeed(0.0, (lora,))
        else:
            k, tokens = 2.0, self.step_tokens / max(1, gpus)
            exchange = "gradients all-reduced once per optimizer step (data parallelism)"
        return training_network_need(
            k=k,
            gradient_bytes=self.gradient_bytes,
            dense_tflops=self.dense_tflops,
            mfu=self.mfu,
            flops_per_param_token=self.flops_per_param_token,
            tokens_per_exchange=tokens,
            gpus_per_node=per_node,
            exchange=exchange,
        )


def network_options(systems: Systems, host: Host | None) -> list[Network]:
    """Networks that fit the box: any listed for the host; for appliances, per-node Ethernet."""
    if host is None:
        return [n for n in systems.networks.values() if n.per == "node" and n.fabric == "ethernet"]
    return [n for n in systems.networks.values() if host.id in n.hosts]


def per_gpu_gbs(network: Network, gpus_per_node: int) -> float:
    return network.gbs if network.per == "gpu" else network.gbs / max(1, gpus_per_node)


def choose_network(
    options: list[Network], need_gbs: float, gpus_per_node: int, nodes: int, gpus: int
) -> Network | None:
    """The cheapest network whose bandwidth per GPU meets the need; the fastest when none does."""
    if not options:
        return None

    def cost(network: Network) -> float:
        return network.usd_per_port * (gpus if network.per == "gpu" else nodes)

    enough = [n for n in options if per_gpu_gbs(n, gpus_per_node) + 1e-9 >= need_gbs]
    if enough:
        return min(enough, key=lambda n: (cost(n), n.id))
    return max(options, key=lambda n: (per_gpu_gbs(n, gpus_per_node), -cost(n), n.id))


_BOUGHT: Remembered[Purchase | None] = Remembered()
_AFFORDABLE: Remembered[int] = Remembered()


def forget_purchases() -> None:
    """Drop the purchases (and budget searches) remembered by their inputs (benchmarks of a
    process that has worked nothing out yet)."""
    _BOUGHT.clear()
    _AFFORDABLE.clear()


def buy(
    device: Device,
    gpus_needed: int,
    site: str,
    systems: Systems,
    *,
    group: int = 1,
    network_need: Any = None,
    explain: bool = True,
) -> Purchase | None:
    """:func:`priced_purchase`, remembered: the same device, count, site, group and network need
    (a hashable :class:`TrainingExchange` or None) always buy the same thing, and the audit and
    the budget search ask again and again."""
    key = (id(systems), id(device), gpus_needed, site, group, network_need, explain)
    found = _BOUGHT.find(key, (device, systems))
    if found is not NOT_FOUND:
        return found
    bought = priced_purchase(
        device, gpus_needed, site, systems, group=group, network_need=network_need, explain=explain
    )
    return _BOUGHT.keep(key, (device, systems), bought)


def priced_purchase(
    device: Device,
    gpus_needed: int,
    site: str,
    systems: Systems,
    *,
    group: int = 1,
    network_need: Any = None,
    explain: bool = True,
) -> Purchase | None:
    """The purchase for ``gpus_needed`` GPUs of the device at the site, or None when no box we
    know takes it there. ``group``: GPUs that must share a box (a tensor-parallel group).
    ``network_need(gpus, gpus_per_node) -> NetworkNeed`` when the job spans boxes (training).
    ``explain=False`` skips the steps' wording (searches price many purchases).

    Every host that takes the device is priced with the network its boxes need; the cheapest
    purchase whose network carries the job wins (then the fewest boxes)."""
    unit, per_unit = purchase_unit(device)
    units = max(1, math.ceil(max(1, gpus_needed) / per_unit))
    gpus = units * per_unit
    steps: list[str] = []
    if explain and gpus != gpus_needed:
        steps.append(
            f"{device.id} is sold as a {unit} of {per_unit} GPUs: {gpus_needed:,} GPUs -> "
            f"{units:,} {unit}{'s' if units != 1 else ''} = {gpus:,} GPUs"
        )
    if unit in INCLUDED_HOST_UNITS:
        return _priced(
            device,
            systems,
            unit,
            per_unit,
            units,
            gpus,
            None,
            units,
            per_unit,
            network_need,
            steps if explain else None,
        )
    fits = host_fits(device, site, systems)
    if not fits:
        return None
    largest = max(f.gpus for f in fits)
    options = []
    for fit in fits:
        boxes = units if unit == "board" else boxes_for(fit, gpus, min(group, largest))
        if boxes:
            options.append(
                _priced(
                    device,
                    systems,
                    unit,
                    per_unit,
                    units,
                    gpus,
                    fit,
                    boxes,
                    fit.gpus,
                    network_need,
                    steps if explain else None,
                )
            )
    return min(
        options, key=lambda p: (p.network_short, p.cost_usd, p.nodes, p.host.id if p.host else "")
    )


def _priced(
    device: Device,
    systems: Systems,
    unit: str,
    per_unit: int,
    units: int,
    gpus: int,
    fit: HostFit | None,
    nodes: int,
    per_node: int,
    network_need: Any,
    steps: list[str] | None,
) -> Purchase:
    """One way to buy: ``nodes`` boxes of ``fit`` (None: the unit is its own box), priced;
    ``steps`` None: no wording of the steps (a search's trial purchase)."""
    explain = steps is not None
    price = float(device.value("price_usd") or 0.0)
    gpu_power = float(device.value("power_w") or 0.0)
    system = device.value("system_power_w")
    host = fit.host if fit is not None else None
    steps = list(steps or ())
    if host is None:
        node_power = float(system or gpu_power * per_unit)
        power = node_power * nodes
        host_cost = 0.0
    else:
        host_cost = nodes * host.price_usd
        if system:
            node_power = float(system)
            power = node_power * nodes
        else:
            node_power = min(gpus, per_node) * gpu_power + host.platform_power_w
            power = gpus * gpu_power + nodes * host.platform_power_w
        if explain:
            steps.append(
                f"{nodes:,} x {host.name} (up to {per_node} x {device.id} each, "
                f"${host.price_usd:,.0f} without GPUs)"
            )
    network = None
    network_gbs = None
    needed = None
    network_cost = 0.0
    if nodes > 1:
        need = network_need(gpus, per_node) if network_need is not None else NetworkNeed(0.0)
        needed = need.gbs_per_gpu if network_need is not None else None
        if explain:
            steps.extend(need.steps)
        network = choose_network(
            network_options(systems, host), need.gbs_per_gpu, per_node, nodes, gpus
        )
        if network is not None:
            ports = gpus if network.per == "gpu" else nodes
            network_cost = ports * network.usd_per_port
            network_gbs = per_gpu_gbs(network, per_node)
            if explain:
                steps.append(
                    f"network: {network.name}, {ports:,} ports x "
                    f"${network.usd_per_port:,.0f} = ${network_cost:,.0f}; "
                    f"{network_gbs:.2f} GB/s per GPU"
                )
    return Purchase(
        unit=unit,
        gpus_per_unit=per_unit,
        units=units,
        gpus=gpus,
        host=host,
        hosts=0 if host is None else nodes,
        gpus_per_node=per_node,
        nodes=nodes,
        network=network,
        network_gbs_per_gpu=network_gbs,
        network_gbs_needed=needed,
        gpu_cost_usd=round(gpus * price, 2),
        host_cost_usd=round(host_cost, 2),
        network_cost_usd=round(network_cost, 2),
        node_power_w=node_power,
        power_w=power,
        steps=tuple(steps),
    )


def most_affordable(
    device: Device,
    budget_usd: float,
    site: str,
    systems: Systems,
    *,
    group: int = 1,
    network_need: Any = None,
) -> int:
    """The most GPUs whose whole purchase (units, boxes, network) the budget covers (0: none).
    Remembered as :func:`buy` is: a lever search asks it again of every device for each other
    cap or context it tries."""
    key = (id(systems), id(device), budget_usd, site, group, network_need)
    found = _AFFORDABLE.find(key, (device, systems))
    if found is not NOT_FOUND:
        return found
    gpus = _most_affordable(device, budget_usd, site, systems, group, network_need)
    return _AFFORDABLE.keep(key, (device, systems), gpus)


def _most_affordable(
    device: Device,
    budget_usd: float,
    site: str,
    systems: Systems,
    group: int,
    network_need: Any,
) -> int:
    _, per_unit = purchase_unit(device)

    def cost(units: int) -> float:
        bought = buy(
            device,
            units * per_unit,
            site,
            systems,
            group=group,
            network_need=network_need,
            explain=False,
        )
        return math.inf if bought is None else bought.cost_usd

    first = cost(1)
    if first > budget_usd:
        return 0
    # A unit with its share of a box costs less than the first unit with a whole box: starting
    # from budget / first, the answer is at or above it.
    low = max(1, int(budget_usd // first))
    while low > 1 and cost(low) > budget_usd:
        low //= 2
    high = low * 2
    while cost(high) <= budget_usd:
        low, high = high, high * 2
        if high > 1 << 22:
            return low * per_unit
    while high - low > 1:
        middle = (low + high) // 2
        if cost(middle) <= budget_usd:
            low = middle
        else:
            high = middle
    return low * per_unit
