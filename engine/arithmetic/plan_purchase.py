"""A plan's knowledge-base devices bought whole: what the budget buys in purchase units, with the
boxes that hold them and the network between the boxes, and the system power they draw.

The paper's tables (seed-003) divide the budget by one card's price and scale one card's watts by
a host factor. Vendors sell SXM GPUs on 8-GPU baseboards inside a server, cards go in a
workstation or a server, and boxes that work together need a network, so for a device whose
knowledge-base entry says how it is sold (``purchase_unit``) the plan counts whole purchases
(:func:`gpu_advisor.arithmetic.purchase.most_affordable`) at the buyer's site and takes the power
of the boxes themselves: the vendor's system figure for a baseboard's server, the GPUs plus the
host platform otherwise. That power already holds the host, so no host factor goes on top.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from gpu_advisor.arithmetic.purchase import (
    INCLUDED_HOST_UNITS,
    Purchase,
    box_gpus,
    buy,
    most_affordable,
    purchase_unit,
)
from gpu_advisor.knowledge.energy import Money, PlanDevice, to_money
from gpu_advisor.knowledge.kb import Device, Sourced
from gpu_advisor.knowledge.systems import SITES, Systems


def priced_device(device: PlanDevice) -> Device:
    """The knowledge-base device at the plan's price: a price given for the plan (``ID=USD``)
    replaces the knowledge base's, so the boxes are bought at the price the rows show."""
    kb = device.kb_device
    assert kb is not None, "only knowledge-base devices are bought whole"
    if to_money(kb.value("price_usd") or 0, "price") == device.price_usd:
        return kb
    facts = {**kb.facts, "price_usd": Sourced(float(device.price_usd), "command line")}
    return Device(kb.id, kb.name, kb.short_name, kb.family, kb.edition, facts, kb.figures, kb.path)


def sites_taking(device: Device, systems: Systems) -> list[str]:
    """The sites where some box of the systems catalog takes the device."""
    return [site for site in SITES if box_gpus(device, site, systems) > 0]


def nothing_bought(device: Device, site: str, systems: Systems) -> Purchase:
    """One purchase unit with its box, emptied: what the budget cannot pay for, so that a row of
    zeros still says what the unit and the box would have been."""
    _, per_unit = purchase_unit(device)
    one = buy(device, per_unit, site, systems)
    assert one is not None, "only for a device some box takes at the site"
    return replace(
        one,
        units=0,
        gpus=0,
        hosts=0,
        nodes=0,
        network=None,
        network_gbs_per_gpu=None,
        gpu_cost_usd=0.0,
        host_cost_usd=0.0,
        network_cost_usd=0.0,
        power_w=0.0,
        steps=(),
    )


def buy_within_budget(
    device: PlanDevice, budget: Money, site: str, systems: Systems
) -> Purchase | None:
    """The largest whole purchase the budget pays for (an emptied one when it pays for none), or
    None when no box of the catalog takes the device at the site."""
    kb = priced_device(device)
    if box_gpus(kb, site, systems) == 0:
        return None
    gpus = most_affordable(kb, float(budget), site, systems)
    if gpus == 0:
        return nothing_bought(kb, site, systems)
    bought = buy(kb, gpus, site, systems)
    assert bought is not None  # box_gpus found a box above
    return bought


def money(value: float) -> Money:
    """A purchase's float dollars (rounded to cents there) as exact money."""
    return to_money(round(value, 2), "price")


def purchase_spent(device: PlanDevice, bought: Purchase | None) -> Money:
    """GPUs at the row's price + hosts + network, exactly: ``spent + leftover == budget``."""
    if bought is None:
        return Decimal(0)
    return (
        device.price_usd * bought.gpus
        + money(bought.host_cost_usd)
        + money(bought.network_cost_usd)
    )


def plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def order_phrase(bought: Purchase) -> str:
    """'2 boards of 8 GPUs = 16 GPUs in 2 x HGX 8-GPU server, joined by 25 GbE'."""
    phrase = plural(bought.units, bought.unit)
    if bought.gpus_per_unit > 1:
        phrase += f" of {bought.gpus_per_unit} GPUs = {plural(bought.gpus, 'GPU')}"
    if bought.host is not None:
        phrase += f" in {bought.hosts:,} x {bought.host.name} (up to {bought.gpus_per_node} each)"
    elif bought.unit in INCLUDED_HOST_UNITS:
        phrase += " (each its own box)"
    if bought.network is not None:
        phrase += f", joined by {bought.network.name}"
    return phrase


def cost_phrase(device: PlanDevice, bought: Purchase) -> str:
    """'GPUs $720,000.00 + hosts $90,000.00 + network $1,400.00 = $811,400.00'."""
    parts = [("GPUs", device.price_usd * bought.gpus)]
    if bought.host is not None:
        parts.append(("hosts", money(bought.host_cost_usd)))
    if bought.network is not None:
        parts.append(("network", money(bought.network_cost_usd)))
    total = purchase_spent(device, bought)
    return " + ".join(f"{name} ${value:,.2f}" for name, value in parts) + f" = ${total:,.2f}"


def power_note(device: PlanDevice, bought: Purchase) -> str | None:
    """Where the row's IT power comes from: the boxes' system power, with its parts."""
    if bought.gpus == 0:
        return None
    if device.host_included:
        return None  # the appliance note says it (plan.plan_device)
    kb = device.kb_device
    assert kb is not None
    system = kb.fact("system_power_w")
    if system is not None and system.value:
        dated = f", {system.date}" if system.date else ""
        return (
            f"Power is the system power of the boxes: {bought.nodes:,} x "
            f"{float(system.value):,.0f} W ({system.source}{dated}), which covers the CPUs, "
            "memory, NICs, fans and power-supply losses: host factor 1 in every scenario."
        )
    if bought.host is None:
        return (
            f"Power is the system power of the boxes: {bought.nodes:,} x "
            f"{bought.node_power_w:,.0f} W: host factor 1 in every scenario."
        )
    gpu_w = float(kb.value("power_w") or 0.0)
    return (
        f"Power is the system power of the boxes: {bought.gpus:,} x {gpu_w:,.0f} W GPUs + "
        f"{bought.hosts:,} x {bought.host.platform_power_w:,.0f} W for the {bought.host.name} "
        f"without GPUs (CPUs, memory, drives, fans) = {bought.power_w:,.0f} W: host factor 1 "
        "in every scenario."
    )


def purchase_notes(
    device: PlanDevice, budget: Money, site: str, bought: Purchase | None, systems: Systems
) -> list[str]:
    """What the row bought and why its figures are what they are, in words."""
    if bought is None:
        kb = device.kb_device
        assert kb is not None
        elsewhere = sites_taking(kb, systems)
        where = f" (sites that take it: {', '.join(elsewhere)})" if elsewhere else ""
        return [
            f"No box in the systems catalog (kb/systems.yaml) takes {device.id} at a {site} "
            f"site{where}: nothing is bought, so every figure is zero."
        ]
    if bought.units == 0:
        cheapest = buy(priced_device(device), bought.gpus_per_unit, site, systems)
        assert cheapest is not None  # the same box took the emptied purchase
        return [
            f"The budget (${budget:,.2f}) is below the cheapest whole purchase at a {site} "
            f"site: {order_phrase(cheapest)}, {cost_phrase(device, cheapest)}: nothing fits, "
            "so every figure is zero."
        ]
    notes = [
        f"Bought whole at a {site} site: {order_phrase(bought)}; {cost_phrase(device, bought)}."
    ]
    if bought.network is not None:
        notes.append(
            f"The network is the cheapest that joins the boxes ({bought.network.name}): a plan "
            "has no workload to size it by; a consultation sizes it for a training job."
        )
    power = power_note(device, bought)
    if power is not None:
        notes.append(power)
    return notes
