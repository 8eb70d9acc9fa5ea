"""The names rules may use for device facts, with their types.

Rules read devices through a flat set of attributes: some come straight from the knowledge base
(preferred values), others are computed per consultation by the arithmetic (how many GPUs the
workload needs on this device, what they cost). Declaring them here lets the loader type-check
every condition and suggest a name on typos.

The knowledge-base part is not written here: it is derived from the one declaration of device
facts, ``kb.KB_FACTS`` (and ``kb.KB_DERIVED``), which the file schema also uses. Only the
computed attributes (per consultation) are listed by hand.
"""

from __future__ import annotations

from dataclasses import dataclass

from gpu_advisor.knowledge.kb import KB_ATTRIBUTE_NAMES, KB_DERIVED, KB_FACT_BY_NAME


@dataclass(frozen=True)
class Attribute:
    """A name a condition can reference, with its type (bool, number, string) and meaning."""

    name: str
    type: str
    description: str
    choices: tuple[str, ...] = ()
    origin: str = "kb"  # kb | computed
    unit: str = ""


def _attrs(*items: Attribute) -> dict[str, Attribute]:
    return {a.name: a for a in items}


def _kb_attributes() -> list[Attribute]:
    """The attributes of knowledge-base origin, from their declarations in ``kb``."""
    derived = {d.name: d for d in KB_DERIVED}
    out = []
    for name in KB_ATTRIBUTE_NAMES:
        spec = KB_FACT_BY_NAME.get(name) or derived[name]
        out.append(Attribute(spec.name, spec.type, spec.description, spec.choices, unit=spec.unit))
    return out


DEVICE_ATTRIBUTES: dict[str, Attribute] = _attrs(
    *_kb_attributes(),
    # computed per consultation
    Attribute(
        "gpus_needed",
        "number",
        "fewest units whose memory holds one copy of the model (one user's KV cache or the "
        "sharded training state); not set when no group the links carry does",
        origin="computed",
    ),
    Attribute(
        "fits",
        "bool",
        "one copy of the workload fits a group of units its links carry (within max_gpus when set)",
        origin="computed",
    ),
    Attribute(
        "meets_demand",
        "bool",
        "some count of this device meets the demand (users at the speed asked, the token "
        "rate, the deadline) within the cap and, for training, the budget",
        origin="computed",
    ),
    Attribute(
        "demand_shortfall",
        "string",
        "why no count of this device meets the demand, with the numbers (not set when it does)",
        origin="computed",
    ),
    Attribute(
        "count_set_by",
        "string",
        "what set the count",
        ("memory", "kv_cache", "throughput", "deadline", "budget", "purchase_unit", "minimum"),
        origin="computed",
    ),
    Attribute(
        "tensor_parallel",
        "number",
        "GPUs one copy of the model is split over (serving)",
        origin="computed",
    ),
    Attribute(
        "replicas", "number", "copies of the model bought to serve the users", origin="computed"
    ),
    Attribute(
        "tokens_per_s",
        "number",
        "total decode rate of the purchase at the demand",
        origin="computed",
        unit="tokens/s",
    ),
    Attribute(
        "tokens_per_s_per_user",
        "number",
        "decode speed each user gets at the demand",
        origin="computed",
        unit="tokens/s",
    ),
    Attribute(
        "users_served",
        "number",
        "concurrent users the purchase serves at the speed asked",
        origin="computed",
    ),
    Attribute(
        "train_days",
        "number",
        "days the training run takes on the count bought",
        origin="computed",
        unit="days",
    ),
    Attribute(
        "deadline_missed",
        "string",
        "set when the budget buys fewer GPUs than the deadline needs: how long the run takes",
        origin="computed",
    ),
    Attribute(
        "memory_per_gpu_gb",
        "number",
        "memory the workload needs on each unit",
        origin="computed",
        unit="GB",
    ),
    Attribute("count", "number", "GPUs to buy (whole purchase units)", origin="computed"),
    Attribute(
        "gpus_demanded",
        "number",
        "GPUs the demand needs before rounding up to whole purchase units",
        origin="computed",
    ),
    Attribute(
        "cost_usd",
        "number",
        "the whole purchase: GPUs + hosts + network (+ batteries off-grid)",
        origin="computed",
        unit="USD",
    ),
    Attribute(
        "hardware_cost_usd",
        "number",
        "GPUs + hosts + network: what the budget pays for (off-grid batteries come on top, as "
        "in the procurement paper's CapEx)",
        origin="computed",
        unit="USD",
    ),
    Attribute("gpu_cost_usd", "number", "count x GPU price", origin="computed", unit="USD"),
    Attribute(
        "host_cost_usd",
        "number",
        "the boxes around the GPUs (chassis, CPUs, RAM, PSUs); 0 when the unit includes them",
        origin="computed",
        unit="USD",
    ),
    Attribute(
        "network_cost_usd",
        "number",
        "NICs, cables and switch ports between the boxes; 0 for one box",
        origin="computed",
        unit="USD",
    ),
    Attribute(
        "battery_cost_usd",
        "number",
        "off-grid batteries; 0 on the grid",
        origin="computed",
        unit="USD",
    ),
    Attribute(
        "units", "number", "purchase units to buy (cards, boards, systems)", origin="computed"
    ),
    Attribute("gpus_per_unit", "number", "GPUs in one purchase unit", origin="computed"),
    Attribute(
        "housable",
        "bool",
        "some box of kb/systems.yaml takes this device at the site",
        origin="computed",
    ),
    Attribute(
        "host",
        "string",
        "the box the GPUs go into (kb/systems.yaml id; included: the unit is its own box)",
        origin="computed",
    ),
    Attribute(
        "host_kind",
        "string",
        "workstation (a tower), server (PCIe), hgx (a baseboard's server) or appliance",
        ("workstation", "server", "hgx", "appliance"),
        origin="computed",
    ),
    Attribute("hosts", "number", "boxes bought to hold the GPUs", origin="computed"),
    Attribute("gpus_per_node", "number", "the most GPUs one box holds", origin="computed"),
    Attribute("nodes", "number", "boxes the purchase needs", origin="computed"),
    Attribute(
        "network", "string", "the network between the boxes (none for one box)", origin="computed"
    ),
    Attribute(
        "network_gbs_per_gpu",
        "number",
        "network bandwidth each GPU gets between boxes",
        origin="computed",
        unit="GB/s",
    ),
    Attribute(
        "network_gbs_needed",
        "number",
        "bandwidth per GPU a training step exchanges between boxes (hidden behind compute)",
        origin="computed",
        unit="GB/s",
    ),
    Attribute(
        "network_short",
        "bool",
        "the best network the boxes take carries less than the job exchanges",
        origin="computed",
    ),
    Attribute(
        "node_power_kw",
        "number",
        "one full box at full load: GPUs and host (vendor system figure for baseboards)",
        origin="computed",
        unit="kW",
    ),
    Attribute(
        "node_over_site",
        "bool",
        "one box draws more than the site type supplies to one rack",
        origin="computed",
    ),
    Attribute(
        "peer_to_peer",
        "bool",
        "the GPUs reach each other directly over PCIe or NVLink (not GeForce, not appliances)",
        origin="computed",
    ),
    Attribute(
        "tensor_parallel_max",
        "number",
        "the largest tensor-parallel group the links and one box carry",
        origin="computed",
    ),
    Attribute(
        "tensor_parallel_blocked",
        "bool",
        "tensor parallelism was asked for and the state needs several GPUs the links cannot join",
        origin="computed",
    ),
    Attribute(
        "total_power_w",
        "number",
        "system power of the purchase: GPUs and hosts at full load",
        origin="computed",
        unit="W",
    ),
    Attribute(
        "pool_scope",
        "string",
        "what joins the units that share one model: none (one unit), nvlink, pcie (one box) "
        "or network (several boxes)",
        ("none", "nvlink", "pcie", "network"),
        origin="computed",
    ),
    Attribute(
        "dense_tflops",
        "number",
        "dense tensor throughput at the workload's precision (or the next wider one)",
        origin="computed",
        unit="TFLOPS",
    ),
    Attribute(
        "aggregate_fp32_tflops",
        "number",
        "count x FP32 dense throughput",
        origin="computed",
        unit="TFLOPS",
    ),
    Attribute(
        "memory_utilization",
        "number",
        "share of a unit's usable memory the workload fills (1.0 = full)",
        origin="computed",
    ),
    Attribute(
        "box_units",
        "number",
        "GPUs in the fullest box (count, at most gpus_per_node)",
        origin="computed",
    ),
    Attribute(
        "psu_w",
        "number",
        "PSU rating one box needs: GPUs at their limit, platform, transient headroom "
        "(not set for appliances, which bring their own)",
        origin="computed",
        unit="W",
    ),
    Attribute(
        "box_circuits_120v", "number", "15 A / 120 V circuits one box needs", origin="computed"
    ),
    Attribute(
        "facility_kw",
        "number",
        "facility power of the purchase in the engineering scenario (IT x host x PUE); set "
        "only for a power-limited or off-grid site",
        origin="computed",
        unit="kW",
    ),
    Attribute(
        "battery_kwh",
        "number",
        "off-grid battery energy for the run (engineering scenario, after efficiency and "
        "depth of discharge); set only when off_grid",
        origin="computed",
        unit="kWh",
    ),
    Attribute(
        "batteries", "number", "battery units (Powerwall 3) for the off-grid run", origin="computed"
    ),
    Attribute(
        "total_cost_usd",
        "number",
        "the same as cost_usd (batteries are part of it off-grid)",
        origin="computed",
        unit="USD",
    ),
    Attribute(
        "decode_tokens_s",
        "number",
        "upper bound on single-stream decode speed: bandwidth / bytes read per token",
        origin="computed",
        unit="tokens/s",
    ),
)
