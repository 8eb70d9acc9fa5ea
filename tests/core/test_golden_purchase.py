"""Buy what can be bought (issue 12): each case of the issue, worked out by hand.

Figures used below, all from the knowledge base (cited where they are defined):
- kb/devices: B200 $45,000 per GPU on an 8-GPU board, 14.3 kW per DGX B200-class system;
  H200 $35,000, 8 per board, 10.2 kW per system; RTX PRO 6000 Workstation Edition 600 W,
  fan-cooled; Max-Q 300 W blower; Server Edition 600 W passive; all three $9,000 (the
  Workstation Edition $8,999.99).
- kb/systems.yaml: hgx-8gpu server $45,000 without its board; workstation-4gpu tower $7,000,
  4 bays, 8 slot widths, 1,600 W of GPU power; pcie-server-8gpu $25,000, 8 bays, 4,800 W;
  ethernet-25g $700 per node (3.125 GB/s), ethernet-100g $2,500 per node (12.5 GB/s), roce-400g
  $4,500 per GPU (50 GB/s); one box may draw 8 kW in a server room, 30 kW in a datacenter.
- kb/demand.yaml: MFU 0.40 on NVLink baseboards, 0.25 for workstation cards over PCIe; bf16
  gradients (2 bytes); the engineering energy scenario's PUE is 1.2 (kb/energy.yaml).
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from gpu_advisor.arithmetic.purchase import host_fits
from gpu_advisor.core.consult import Engine
from gpu_advisor.present.report import to_json_data, to_text

B200_BOARD = 8 * 45_000  # one HGX B200 baseboard
HGX_HOST = 45_000


def _excluded_by(consultation: Any, device: str) -> set[str]:
    return {e.rule for e in consultation.all_exclusions.get(device, [])}


def _rec(consultation: Any, device: str) -> Any:
    return next(r for r in consultation.recommendations if r.device == device)


def test_a_b200_comes_as_a_board_of_eight_in_its_server(engine: Engine) -> None:
    # An 8B model for one user fits one B200, but B200s are sold 8 to a board: 8 GPUs,
    # 8 x $45,000 = $360,000, plus the server the board goes into ($45,000) = $405,000.
    c = engine.consult(
        {"workload": "inference", "model_params_b": 8, "site": "datacenter", "candidates": "b200"}
    )
    top = c.recommendations[0]
    attrs = c.devices["b200"]
    assert (top.count, attrs["units"], attrs["count_set_by"]) == (8, 1, "purchase_unit")
    assert top.cost_usd == pytest.approx(B200_BOARD + HGX_HOST)  # 405,000
    rec = next(r for r in to_json_data(c, counterfactuals=False)["recommendations"])
    assert rec["purchase"]["unit"] == "board"
    assert (rec["purchase"]["units"], rec["purchase"]["gpus_per_unit"]) == (1, 8)
    assert rec["purchase"]["host"] == "hgx-8gpu"
    assert rec["cost_breakdown"] == {
        "gpus": 360_000.0,
        "hosts": 45_000.0,
        "network": 0.0,
        "batteries": 0.0,
    }
    assert rec["cost_usd"] == pytest.approx(sum(rec["cost_breakdown"].values()))
    text = to_text(c, counterfactuals=False)
    assert "1 board of 8 GPUs in 1 x HGX 8-GPU server" in text.splitlines()[0]


def test_a_70b_full_fine_tune_on_b200_buys_one_board(engine: Engine) -> None:
    # The training state needs 7 B200s (1,136 GB over 180 GB cards); boards hold 8, so 8.
    # FLOPs = 6 x 70e9 x (0.1e9 tokens x 3 epochs) = 1.26e20; 8 GPUs x 2,250e12 dense x 0.4 MFU
    # = 7.2e15 FLOP/s -> 1.26e20 / 7.2e15 / 86,400 = 0.2025 days.
    c = engine.consult(
        {
            "workload": "fine-tuning",
            "model_params_b": 70,
            "method": "full",
            "site": "datacenter",
            "candidates": "b200",
        }
    )
    attrs = c.devices["b200"]
    assert (attrs["gpus_needed"], attrs["count"], attrs["units"]) == (7, 8, 1)
    assert attrs["train_days"] == pytest.approx(1.26e20 / (8 * 2250e12 * 0.4) / 86_400, abs=0.01)
    assert attrs["cost_usd"] == pytest.approx(B200_BOARD + HGX_HOST)


def test_ten_million_dollars_fill_whole_b200_systems(engine: Engine) -> None:
    # One board with its server and a front-end 25 GbE port (several boxes of independent
    # replicas): 360,000 + 45,000 + 700 = 405,700 per box; floor(10,000,000 / 405,700) = 24
    # boxes = 192 GPUs (25 would cost 10,142,500). The old answer was 222 loose GPUs.
    per_box = B200_BOARD + HGX_HOST + 700
    boxes = math.floor(10_000_000 / per_box)
    assert boxes == 24
    c = engine.consult(
        {
            "workload": "inference",
            "model_params_b": 8,
            "site": "datacenter",
            "budget_usd": 10_000_000,
            "purchase": "fill-budget",
            "candidates": "b200",
        }
    )
    attrs = c.devices["b200"]
    assert (attrs["count"], attrs["nodes"], attrs["network"]) == (192, 24, "ethernet-25g")
    assert attrs["cost_usd"] == pytest.approx(boxes * per_box)  # 9,736,800
    assert attrs["count_set_by"] == "budget"


def test_a_3_kw_site_cannot_take_a_b200_system(engine: Engine) -> None:
    # A DGX B200-class system draws 14.3 kW; x PUE 1.2 = 17.16 kW at the facility, over 3 kW.
    c = engine.consult(
        {
            "workload": "inference",
            "model_params_b": 8,
            "site": "datacenter",
            "site_power_kw": 3,
            "candidates": "b200",
        }
    )
    assert c.devices["b200"]["facility_kw"] == pytest.approx(14.3 * 1.2)
    assert "site.power-limit" in _excluded_by(c, "b200")


def test_a_server_room_cannot_host_a_14_kw_box(engine: Engine) -> None:
    # 14.3 kW for one box against the 8 kW a server-room rack supplies: out, not "recommended
    # first with a warning that the room cannot host it".
    c = engine.consult(
        {"workload": "inference", "model_params_b": 8, "site": "server-room", "candidates": "b200"}
    )
    assert "site.box-power-over-site" in _excluded_by(c, "b200")
    assert not c.recommendations


def test_no_desktop_power_advice_for_servers_and_no_120_v_in_a_datacenter(engine: Engine) -> None:
    # 8 Server Edition cards fill one 8-GPU PCIe server; its PSUs and cables are the vendor's:
    # no 12V-2x6 cable advice, no 120 V circuits, nothing about a tower's PSU.
    c = engine.consult(
        {
            "workload": "inference",
            "model": "llama-3.1-70b",
            "precision": "fp8",
            "concurrent_users": 200,
            "context_tokens": 8192,
            "site": "datacenter",
            "candidates": "rtx-pro-6000-blackwell-server,b200",
        }
    )
    desk_rules = {
        "power.dedicated-connectors",
        "power.circuit-limit",
        "power.multi-gpu-psu",
        "power.high-draw-desktop-psu",
    }
    assert c.recommendations
    assert not {w.rule for w in c.warnings} & desk_rules
    assert c.devices["rtx-pro-6000-blackwell-server"]["host"] == "pcie-server-8gpu"


def test_70b_full_fine_tune_runs_on_two_h200_boxes_over_400g(engine: Engine) -> None:
    # 9 H200s hold the state -> 2 boards = 16 GPUs in two servers. The state is sharded across
    # the boxes (9 > 8), so parameters are all-gathered every micro-batch of 1 x 4,096 tokens:
    # need = 3 x 2 bytes x 989.5e12 (bf16 dense) x 0.4 / (6 x 4,096 x 8 GPUs per box) = 12.08
    # GB/s per GPU. 25 GbE (0.39 per GPU) and 100 GbE (1.56) fall short; 400G RoCE gives 50.
    # Cost: 16 x 35,000 + 2 x 45,000 + 16 x 4,500 = 560,000 + 90,000 + 72,000 = 722,000.
    need = 3 * 2 * 989.5e12 * 0.4 / (6 * 4096 * 8) / 1e9
    c = engine.consult(
        {
            "workload": "fine-tuning",
            "model_params_b": 70,
            "method": "full",
            "site": "datacenter",
            "candidates": "h100-sxm,h200",
        }
    )
    assert {r.device for r in c.recommendations} == {"h100-sxm", "h200"}
    attrs = c.devices["h200"]
    assert (attrs["count"], attrs["nodes"], attrs["network"]) == (16, 2, "roce-400g")
    assert attrs["network_gbs_needed"] == pytest.approx(need, abs=0.01)
    assert attrs["cost_usd"] == pytest.approx(722_000)
    rules = {w.rule for w in c.warnings if w.device == "h200"}
    assert "interconnect.multi-node-training" in rules
    assert "interconnect.partial-nvlink" not in rules


def test_pipeline_parallelism_does_not_require_nvlink(engine: Engine) -> None:
    answers = {"workload": "pretraining", "model_params_b": 7, "train_tokens_b": 1000}
    tensor = engine.consult({**answers, "parallelism": "tensor"})
    pipeline = engine.consult({**answers, "parallelism": "pipeline"})
    assert tensor.facts.get("needs_nvlink") is True
    assert not pipeline.facts.get("needs_nvlink")
    assert "interconnect.no-nvlink" not in _excluded_by(pipeline, "rtx-pro-6000-blackwell-server")


def test_tensor_parallel_training_stays_within_the_a6000_nvlink_pairs(engine: Engine) -> None:
    # A 7B full fine-tune: 112 GB of sharded state (16 bytes per parameter). Two 48 GB cards
    # (48.97 GB usable each) cannot hold 56 GB each; three hold 37.3 GB each plus activations.
    # Tensor parallelism keeps its all-reduces inside the bridged pairs: groups of 2, so 3
    # cards become 4 (two pairs), never 3 cards "over NVLink".
    c = engine.consult(
        {
            "workload": "fine-tuning",
            "model_params_b": 7,
            "method": "full",
            "parallelism": "tensor",
            "candidates": "rtx-a6000",
        }
    )
    attrs = c.devices["rtx-a6000"]
    assert (attrs["gpus_needed"], attrs["tensor_parallel"], attrs["count"]) == (3, 2, 4)
    assert "interconnect.partial-nvlink" not in {w.rule for w in c.warnings}


def test_geforce_cards_cannot_split_a_70b_model(engine: Engine) -> None:
    # 140 GB of bf16 weights need several 32 GB cards; the RTX 5090 has no PCIe peer-to-peer
    # with the stock driver and no NVLink, so its tensor-parallel groups are of one card.
    c = engine.consult(
        {"workload": "inference", "model": "llama-3.1-70b", "candidates": "rtx-5090"}
    )
    assert c.devices["rtx-5090"]["tensor_parallel_max"] == 1
    assert "memory.vram-ceiling" in _excluded_by(c, "rtx-5090")
    assert not c.recommendations


def test_geforce_tensor_parallel_training_is_refused_with_the_reason(engine: Engine) -> None:
    c = engine.consult(
        {
            "workload": "fine-tuning",
            "model_params_b": 8,
            "method": "full",
            "parallelism": "tensor",
            "site": "office",
            "candidates": "rtx-5090",
        }
    )
    assert "interconnect.tensor-parallel-needs-peer-links" in _excluded_by(c, "rtx-5090")


def test_geforce_is_not_licensed_for_a_datacenter(engine: Engine) -> None:
    c = engine.consult(
        {
            "workload": "inference",
            "model_params_b": 8,
            "site": "datacenter",
            "candidates": "rtx-5090",
        }
    )
    assert "site.geforce-not-licensed-for-datacenter" in _excluded_by(c, "rtx-5090")
    because = next(
        e.because
        for e in c.all_exclusions["rtx-5090"]
        if e.rule == "site.geforce-not-licensed-for-datacenter"
    )
    assert "2.1.3" in because


def test_the_server_edition_goes_into_datacenter_servers(engine: Engine) -> None:
    # The Workstation Edition's flow-through cooler is not for rack servers: it is out at a
    # datacenter, and the Server Edition ($0.01 dearer) is recommended.
    c = engine.consult(
        {
            "workload": "inference",
            "model": "llama-3.1-70b",
            "precision": "fp8",
            "concurrent_users": 200,
            "context_tokens": 8192,
            "site": "datacenter",
            "candidates": "rtx-pro-6000-blackwell,rtx-pro-6000-blackwell-server",
        }
    )
    assert "site.flow-through-cards-not-for-servers" in _excluded_by(c, "rtx-pro-6000-blackwell")
    assert c.recommendations[0].device == "rtx-pro-6000-blackwell-server"


def test_a_tower_takes_two_600_w_cards_or_four_300_w_max_q(engine: Engine) -> None:
    # workstation-4gpu: 4 bays, 8 slot widths, 1,600 W for GPUs. Workstation Edition:
    # min(4, 8 // 2, 1600 // 600) = 2, set by power; Max-Q: min(4, 8 // 2, 1600 // 300) = 4.
    systems = engine.rulebase.knowledge.devices
    from gpu_advisor.knowledge.systems import load_systems

    catalog = load_systems()
    flow = {f.host.id: f for f in host_fits(systems["rtx-pro-6000-blackwell"], "office", catalog)}
    maxq = {
        f.host.id: f for f in host_fits(systems["rtx-pro-6000-blackwell-max-q"], "office", catalog)
    }
    assert (flow["workstation-4gpu"].gpus, flow["workstation-4gpu"].limited_by) == (2, "power")
    assert maxq["workstation-4gpu"].gpus == 4
    # A 13B full fine-tune needs 3 of the 96 GB cards (208 GB of state and activations): four
    # Max-Q fill one tower, 4 x 9,000 + 7,000 = 43,000; the Workstation Edition needs two towers
    # and ZeRO-3 across them needs 3 x 2 x 505e12 x 0.25 / (6 x 4,096 x 2) = 15.4 GB/s per GPU,
    # where 100 GbE gives 12.5 / 2 = 6.25: out.
    c = engine.consult(
        {
            "workload": "fine-tuning",
            "model_params_b": 13,
            "method": "full",
            "site": "office",
            "candidates": "rtx-pro-6000-blackwell,rtx-pro-6000-blackwell-max-q",
        }
    )
    assert "interconnect.network-too-slow-for-training" in _excluded_by(c, "rtx-pro-6000-blackwell")
    top = c.recommendations[0]
    assert (top.device, top.count) == ("rtx-pro-6000-blackwell-max-q", 4)
    assert c.devices[top.device]["hosts"] == 1
    assert top.cost_usd == pytest.approx(4 * 9_000 + 7_000)


def test_no_warnings_about_devices_that_are_not_bought(engine: Engine) -> None:
    c = engine.consult({"workload": "inference", "model_params_b": 8, "budget_usd": 2_000})
    excluded = set(c.all_exclusions)
    assert "b200" in excluded
    assert not [w for w in c.warnings if w.device in excluded]


@pytest.mark.parametrize(
    "answers",
    [
        {"workload": "inference", "model_params_b": 8, "concurrent_users": 300},
        {
            "workload": "pretraining",
            "model_params_b": 7,
            "train_tokens_b": 1000,
            "site": "datacenter",
        },
        {"workload": "scientific", "off_grid": True},
        {"workload": "fine-tuning", "model_params_b": 13, "method": "qlora", "site": "office"},
    ],
)
def test_cost_is_the_sum_of_its_parts(engine: Engine, answers: dict[str, Any]) -> None:
    c = engine.consult(answers)
    for rec in to_json_data(c, counterfactuals=False)["recommendations"]:
        parts = rec["cost_breakdown"]
        assert rec["cost_usd"] == pytest.approx(sum(parts.values()), abs=0.01)
        assert rec["count"] == rec["purchase"]["units"] * rec["purchase"]["gpus_per_unit"]
