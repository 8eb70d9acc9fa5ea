"""How many: the count of a recommended device, what set it, and the arithmetic behind it.

One place for the words, so that the text and Markdown reports, the JSON contract and the TUI
say the same thing about a count.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gpu_advisor.formatting import money, plural

if TYPE_CHECKING:
    from gpu_advisor.core.results import Consultation

SET_BY_WORDS = {
    "memory": "set by memory: one copy of the model needs this many GPUs",
    "kv_cache": "set by the KV cache of every concurrent user",
    "throughput": "set by decode speed: the users at the speed asked, or the token rate",
    "deadline": "set by the deadline: the run's FLOPs at a realistic utilization",
    "budget": "set by the budget",
    "purchase_unit": "set by the unit it is sold in",
    "minimum": "one is enough",
}
"""What each ``count_set_by`` value means, in the reports' words."""


def capacity(attrs: dict[str, Any]) -> dict[str, Any]:
    """The JSON contract's ``capacity`` of a recommendation (null where it does not apply)."""
    return {
        "tokens_per_s": attrs.get("tokens_per_s"),
        "tokens_per_s_per_user": attrs.get("tokens_per_s_per_user"),
        "users_served": attrs.get("users_served"),
        "train_days": attrs.get("train_days"),
    }


def purchase_json(attrs: dict[str, Any]) -> dict[str, Any]:
    """The JSON contract's ``purchase`` of a recommendation: what is ordered and what holds it."""
    return {
        "unit": attrs.get("purchase_unit"),
        "units": attrs.get("units"),
        "gpus_per_unit": attrs.get("gpus_per_unit"),
        "host": attrs.get("host"),
        "hosts": attrs.get("hosts"),
        "gpus_per_node": attrs.get("gpus_per_node"),
        "network": attrs.get("network"),
        "network_gbs_per_gpu": attrs.get("network_gbs_per_gpu"),
        "network_gbs_needed": attrs.get("network_gbs_needed"),
        "node_power_kw": attrs.get("node_power_kw"),
        "total_power_kw": None
        if attrs.get("total_power_w") is None
        else round(float(attrs["total_power_w"]) / 1000.0, 2),
    }


def cost_breakdown(attrs: dict[str, Any]) -> dict[str, float]:
    """The parts of ``cost_usd``, which is their sum."""
    return {
        "gpus": float(attrs.get("gpu_cost_usd") or 0.0),
        "hosts": float(attrs.get("host_cost_usd") or 0.0),
        "network": float(attrs.get("network_cost_usd") or 0.0),
        "batteries": float(attrs.get("battery_cost_usd") or 0.0),
    }


def purchase_phrase(consultation: Consultation, device_id: str) -> str:
    """'1 board of 8 GPUs in 1 x HGX 8-GPU server': the order, in a few words."""
    attrs = consultation.devices[device_id]
    bought = consultation.arithmetic.purchases.get(device_id)
    unit = str(attrs.get("purchase_unit") or "card")
    units = int(attrs.get("units") or attrs.get("count") or 0)
    per_unit = int(attrs.get("gpus_per_unit") or 1)
    phrase = plural(units, unit)
    if per_unit > 1:
        phrase += f" of {per_unit} GPUs"
    if bought is not None and bought.host is not None:
        phrase += f" in {bought.hosts:,} x {bought.host.name}"
    if bought is not None and bought.network is not None:
        phrase += f", joined by {bought.network.name}"
    return phrase


def purchase_lines(consultation: Consultation, device_id: str) -> list[str]:
    """Text lines: the units, the boxes and the network bought, and the cost by part."""
    attrs = consultation.devices[device_id]
    bought = consultation.arithmetic.purchases.get(device_id)
    lines = [
        f"What to buy: {purchase_phrase(consultation, device_id)} "
        f"= {attrs['count']:,} x {device_id}"
    ]
    if bought is not None:
        lines += [f"  - {step}" for step in bought.steps]
    parts = cost_breakdown(attrs)
    lines.append(
        "  cost: "
        + " + ".join(f"{name} {money(value)}" for name, value in parts.items() if value)
        + f" = {money(float(attrs['cost_usd']))}"
    )
    if attrs.get("node_power_kw") is not None:
        lines.append(
            f"  power: {attrs['node_power_kw']:,g} kW per full box, "
            f"{float(attrs['total_power_w']) / 1000:,.2f} kW in all (GPUs and hosts at full load)"
        )
    return lines


def recommendation_json(consultation: Consultation, device_id: str) -> dict[str, Any]:
    """The count fields of one recommendation: GPUs, nodes, what set the count, capacity, steps,
    and what is bought (units, boxes, network) with the cost by part."""
    attrs = consultation.devices[device_id]
    count = consultation.arithmetic.counts.get(device_id)
    bought = consultation.arithmetic.purchases.get(device_id)
    return {
        "purchase": purchase_json(attrs),
        "cost_breakdown": cost_breakdown(attrs),
        "purchase_steps": list(bought.steps) if bought is not None else [],
        "nodes": attrs.get("nodes"),
        "count_set_by": attrs.get("count_set_by"),
        "tensor_parallel": attrs.get("tensor_parallel"),
        "replicas": attrs.get("replicas"),
        "capacity": capacity(attrs),
        "count_steps": list(count.steps) if count else [],
    }


def demand_json(consultation: Consultation) -> dict[str, Any] | None:
    """The sizing's demand block: what the count was sized for, and the defaults in force."""
    arithmetic = consultation.arithmetic
    demand = arithmetic.demand
    if demand is None or demand.kind == "none":
        return None
    defaults = arithmetic.defaults
    used = [
        {"name": name, "value": defaults[name], "source": defaults.default(name).source}
        for name in demand.defaults_used
    ]
    for device_id, name in sorted(arithmetic.mfu_defaults.items()):
        used.append(
            {
                "name": name,
                "value": defaults[name],
                "source": defaults.default(name).source,
                "device": device_id,
            }
        )
    data: dict[str, Any] = {
        "kind": demand.kind,
        "defaults_used": used,
        "kv_cache_all_users_gb": arithmetic.facts.get("kv_cache_all_users_gb"),
        "training_flops": arithmetic.facts.get("training_flops"),
    }
    if demand.interactive is not None:
        data.update(
            users=demand.interactive.users,
            context_tokens=demand.interactive.context_tokens,
            context_is=(
                "average" if "average_context_tokens" in consultation.answers.values else "longest"
            ),
            tokens_per_s_per_user=demand.interactive.tokens_per_s_per_user,
        )
    if demand.tokens_per_day is not None:
        data["tokens_per_day"] = demand.tokens_per_day
    if demand.training is not None:
        run = demand.training
        data.update(
            params_b=run.params_b,
            tokens_b=run.tokens_b,
            flops_per_param_token=run.flops_per_param_token,
            deadline_days=run.deadline_days,
        )
    return data


def how_many_lines(consultation: Consultation, device_id: str) -> list[str]:
    """Text lines: the count, what set it, the arithmetic, the capacity and the defaults used."""
    attrs = consultation.devices[device_id]
    count = consultation.arithmetic.counts.get(device_id)
    if count is None:
        return purchase_lines(consultation, device_id)
    set_by = str(attrs.get("count_set_by"))
    lines = [f"How many: {attrs['count']} x {device_id}, {SET_BY_WORDS.get(set_by, set_by)}."]
    lines += [f"  - {step}" for step in count.steps]
    labels = {
        "tokens_per_s": "tokens/s in all",
        "tokens_per_s_per_user": "tokens/s per user",
        "users_served": "users served",
        "train_days": "days to train",
    }
    served = [
        f"{value:,g} {labels[name]}" for name, value in capacity(attrs).items() if value is not None
    ]
    if served:
        lines.append("  capacity: " + ", ".join(served))
    demand = demand_json(consultation)
    if demand and demand["defaults_used"]:
        shown = [
            f"{d['name']} = {d['value']:g} [{d['source']}]"
            for d in demand["defaults_used"]
            if d.get("device") in (None, device_id)
        ]
        lines.append("  defaults (kb/demand.yaml): " + "; ".join(shown))
    if demand and demand.get("context_is"):
        lines.append(
            f"  each user's KV cache is sized at the {demand['context_is']} context "
            f"({demand['context_tokens']:,} tokens)"
        )
    return lines + purchase_lines(consultation, device_id)
