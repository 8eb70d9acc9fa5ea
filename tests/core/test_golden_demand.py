"""How many, from the demand (issue 11): buyer questions whose counts are worked out by hand.

Every expected count below is derived in the comments from the formulas of docs/sizing.md
("How many"), the model's config (kb/models.yaml) and the device's figures (kb/devices), never
copied from the engine's output. Conventions used throughout (decimal GB):

- a serving engine fills a card up to 0.9 of its binary capacity (vLLM's gpu_memory_utilization):
  96 GB -> 96 x 1.073741824 x 0.9 = 92.7713; 80 GB -> 77.3094; 24 GB -> 23.1928;
- per GPU it also keeps the CUDA context (1 GB) and the prefill activation peak
  (context x hidden x 24 B + vocab x 4 B);
- a decode step reads the weights once and every user's KV cache at 60% of the bandwidth on one
  GPU, 55% within an NVLink domain, 40% over PCIe (kb/demand.yaml);
- the default speed per user is 10 tokens/s, so a step may take 0.1 s.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpu_advisor.core.consult import Engine
from gpu_advisor.errors import UsageError

GIB = 1.073741824
LLAMA_70B_KV_PER_TOKEN = 2 * 80 * 8 * 128 * 2 / 1e9  # K and V x layers x KV heads x head dim x bf16
LLAMA_8B_KV_PER_TOKEN = 2 * 32 * 8 * 128 * 2 / 1e9


def _users(
    capacity_gb: float, overhead_gb: float, degree: int, weights_gb: float, kv_gb: float
) -> int:
    return math.floor((degree * (capacity_gb - overhead_gb) - weights_gb) / kv_gb)


def _speed_users(bandwidth: float, mbu: float, degree: int, weights_gb: float, kv_gb: float) -> int:
    return math.floor((0.1 * degree * bandwidth * mbu - weights_gb) / kv_gb)


def test_200_users_of_70b_fp8_at_8k_on_rtx_pro_6000_max_q(engine: Engine) -> None:
    # Weights 70.55 GB (fp8), KV per user 0.00032768 x 8192 = 2.684 GB: 536.9 GB for 200 users.
    kv = LLAMA_70B_KV_PER_TOKEN * 8192
    overhead = 8192 * 8192 * 24 / 1e9 + 128256 * 4 / 1e9 + 1.0  # 2.611 GB
    capacity = 96 * GIB * 0.9
    # No NVLink, PCIe peer-to-peer: groups of 1, 2 or 4 (mbu 0.6, then 0.4 over PCIe).
    tp1 = min(_users(capacity, overhead, 1, 70.55, kv), _speed_users(1792, 0.6, 1, 70.55, kv))
    tp2 = min(_users(capacity, overhead, 2, 70.55, kv), _speed_users(1792, 0.4, 2, 70.55, kv))
    tp4 = min(_users(capacity, overhead, 4, 70.55, kv), _speed_users(1792, 0.4, 4, 70.55, kv))
    assert (tp1, tp2, tp4) == (7, 27, 80)  # memory holds 7, 40, 108; speed allows 13, 27, 80
    gpus = {1: 29 * 1, 2: 8 * 2, 4: 3 * 4}  # ceil(200/7) = 29, ceil(200/27) = 8, ceil(200/80) = 3
    assert min(gpus.values()) == 12
    c = engine.consult(
        {
            "workload": "inference",
            "model": "llama-3.1-70b",
            "precision": "fp8",
            "concurrent_users": 200,
            "context_tokens": 8192,
            "candidates": "rtx-pro-6000-blackwell-max-q,rtx-pro-6000-blackwell",
        }
    )
    # The Max-Q (300 W, same 96 GB and 1,792 GB/s) goes four to a tower (1,600 W of GPUs,
    # kb/systems.yaml), so a group of 4 shares a box: 3 towers, 3 replicas of 4. Its 439 dense
    # TFLOPS never bind: 0.1 s x 4 x 439e12 x 0.5 / (2 x 70.6e9) = 622 users per replica.
    top = c.recommendations[0]
    attrs = c.devices[top.device]
    assert top.device == "rtx-pro-6000-blackwell-max-q"
    assert (top.count, attrs["tensor_parallel"], attrs["replicas"], attrs["count_set_by"]) == (
        12,
        4,
        3,
        "throughput",
    )
    # 12 x $9,000 + 3 towers x $7,000 + a 25 GbE port per tower ($700) between the replicas
    assert top.cost_usd == pytest.approx(12 * 9000 + 3 * 7000 + 3 * 700)
    # The 600 W Workstation Edition fits two to a tower: groups of 2, 27 users each ->
    # ceil(200 / 27) = 8 replicas = 16 cards in 8 towers.
    ws = c.devices["rtx-pro-6000-blackwell"]
    assert (ws["count"], ws["tensor_parallel"], ws["hosts"]) == (16, 2, 8)
    assert c.facts["kv_cache_all_users_gb"] == pytest.approx(200 * kv, abs=0.01)
    # 200 users over 3 replicas: 67 in each; (70.55 + 67 x 2.684) / (4 x 1792 x 0.4) = 0.0873 s.
    assert attrs["tokens_per_s_per_user"] == pytest.approx(
        1 / ((70.55 + 67 * kv) / (4 * 1792 * 0.4)), abs=0.01
    )


def test_the_answer_grows_with_the_users(engine: Engine) -> None:
    base = {
        "workload": "inference",
        "model": "llama-3.1-70b",
        "precision": "fp8",
        "context_tokens": 8192,
        "candidates": "rtx-pro-6000-blackwell-max-q",
    }
    counts = [
        engine.consult({**base, "concurrent_users": users}).recommendations[0].count
        for users in (1, 200, 999)
    ]
    # 1 user: one card holds 7 and serves 13 at 10 tokens/s -> 1. 999 users: TP4 serves 80 per
    # replica -> ceil(999/80) = 13 replicas = 52 GPUs (TP2: 37 x 2 = 74; TP1: 143).
    assert counts == [1, 12, 52]


def test_200_users_of_70b_on_h100_sxm_use_nvlink_groups(engine: Engine) -> None:
    kv = LLAMA_70B_KV_PER_TOKEN * 8192
    overhead = 8192 * 8192 * 24 / 1e9 + 128256 * 4 / 1e9 + 1.0
    capacity = 80 * GIB * 0.9
    # NVLink joins 8: groups 1, 2, 4, 8 at 55% within the domain.
    by_degree = {
        d: min(
            _users(capacity, overhead, d, 70.55, kv),
            _speed_users(3350, 0.6 if d == 1 else 0.55, d, 70.55, kv),
        )
        for d in (1, 2, 4, 8)
    }
    assert by_degree == {1: 1, 2: 29, 4: 85, 8: 196}  # memory binds everywhere
    gpus = {d: math.ceil(200 / users) * d for d, users in by_degree.items()}
    assert gpus == {1: 200, 2: 14, 4: 12, 8: 16}
    # H100 SXM come 8 to a board: the 12 GPUs of groups of 4 are bought as 2 boards = 16 (groups
    # of 2 would need 14, of 8 16: all 16 after rounding; the split needing fewest stays). The
    # 16 GPUs all serve: 4 replicas of 4, 4 x 85 = 340 users.
    c = engine.consult(
        {
            "workload": "inference",
            "model": "llama-3.1-70b",
            "precision": "fp8",
            "concurrent_users": 200,
            "context_tokens": 8192,
            "site": "datacenter",
            "candidates": "h100-sxm",
        }
    )
    attrs = c.devices["h100-sxm"]
    assert (c.recommendations[0].count, attrs["tensor_parallel"], attrs["count_set_by"]) == (
        16,
        4,
        "purchase_unit",
    )
    assert (attrs["replicas"], attrs["users_served"], attrs["units"]) == (4, 340, 2)


def test_200_users_of_an_8b_model_do_not_fit_one_24_gb_card(engine: Engine) -> None:
    # Llama 3.1 8B in bf16: 16.06 GB of weights; KV 131,072 B/token x 4096 = 0.537 GB per user,
    # 107.4 GB for 200 users (the "about 100 GB"), which no single 24 GB card holds.
    kv = LLAMA_8B_KV_PER_TOKEN * 4096
    overhead = 4096 * 4096 * 24 / 1e9 + 128256 * 4 / 1e9 + 1.0  # 1.403 GB
    capacity = 24 * GIB * 0.9
    by_degree = {
        1: min(_users(capacity, overhead, 1, 16.06, kv), _speed_users(768, 0.6, 1, 16.06, kv)),
        2: min(_users(capacity, overhead, 2, 16.06, kv), _speed_users(768, 0.55, 2, 16.06, kv)),
        4: min(_users(capacity, overhead, 4, 16.06, kv), _speed_users(768, 0.4, 4, 16.06, kv)),
    }
    assert by_degree == {1: 10, 2: 51, 4: 132}
    assert {d: math.ceil(200 / u) * d for d, u in by_degree.items()} == {1: 20, 2: 8, 4: 8}
    c = engine.consult(
        {
            "workload": "inference",
            "model": "llama-3.1-8b",
            "concurrent_users": 200,
            "candidates": "rtx-a5000",
        }
    )
    attrs = c.devices["rtx-a5000"]
    # A tie at 8 GPUs goes to the smaller group: 4 bridged pairs.
    assert (c.recommendations[0].count, attrs["tensor_parallel"], attrs["replicas"]) == (8, 2, 4)
    assert c.facts["kv_cache_all_users_gb"] == pytest.approx(200 * kv, abs=0.01)


def test_a_bandwidth_starved_box_is_excluded_for_chat_speed(engine: Engine) -> None:
    # Qwen2.5 32B in bf16: 65.52 GB of weights and 1.074 GB of KV at 4,096 tokens read per step
    # at 273 GB/s x 0.6: one user gets 163.8 / 66.59 = 2.46 tokens/s, under 10, and a second box
    # adds no speed to a user (DGX Spark units join over Ethernet, not NVLink).
    c = engine.consult({"workload": "inference", "model": "qwen2.5-32b", "concurrent_users": 4})
    assert "dgx-spark" in c.all_exclusions
    because = c.all_exclusions["dgx-spark"][0].because
    assert f"{273 * 0.6 / (65.52 + 2 * 64 * 8 * 128 * 2 * 4096 / 1e9):.3g} tokens/s" in because
    assert "below the 10 tokens/s asked" in because
    # A reader content with 2 tokens/s is served by it.
    slow = engine.consult(
        {
            "workload": "inference",
            "model": "qwen2.5-32b",
            "concurrent_users": 4,
            "tokens_per_s_per_user": 2,
        }
    )
    assert "dgx-spark" not in slow.all_exclusions


def test_pretraining_7b_on_1t_tokens_is_a_cluster_not_one_card(engine: Engine) -> None:
    # 6 x 7e9 x 1e12 = 4.2e22 FLOPs. H200: 989.5 TFLOPS dense bf16 x 0.40 MFU (NVLink, Llama 3's
    # 38-43%) = 3.958e14 FLOP/s: 1,228 days on one GPU; 30 days (the default) -> ceil(40.94) = 41.
    one_gpu_days = 4.2e22 / (989.5e12 * 0.4) / 86400
    assert one_gpu_days == pytest.approx(1228.2, abs=0.1)
    # H200s come 8 to a board: 41 -> 6 boards = 48 GPUs in 6 HGX servers (a datacenter's: each
    # draws 10.2 kW). The model fits one box (2 GPUs hold 7B's 112 GB of state), so the boxes
    # exchange gradients once per 4M-token step: 2 x 2 x 989.5e12 x 0.4 / (6 x (4e6 / 48) x 8)
    # = 0.396 GB/s per GPU; 25 GbE gives 3.125 / 8 = 0.391, just short: 100 GbE (1.56).
    need = 2 * 2 * 989.5e12 * 0.4 / (6 * (4e6 / 48) * 8) / 1e9
    assert 3.125 / 8 < need < 12.5 / 8
    c = engine.consult(
        {
            "workload": "pretraining",
            "model_params_b": 7,
            "train_tokens_b": 1000,
            "site": "datacenter",
            "candidates": "h200",
        }
    )
    attrs = c.devices["h200"]
    assert (c.recommendations[0].count, attrs["count_set_by"]) == (48, "purchase_unit")
    assert attrs["train_days"] == pytest.approx(one_gpu_days / 48, abs=0.01)
    assert c.facts["training_flops"] == pytest.approx(4.2e22)
    assert (attrs["nodes"], attrs["network"]) == (6, "ethernet-100g")
    assert attrs["network_gbs_needed"] == pytest.approx(need, abs=0.001)
    # 48 x $35,000 + 6 x $45,000 + 6 x $2,500
    assert attrs["cost_usd"] == pytest.approx(48 * 35_000 + 6 * 45_000 + 6 * 2_500)


def test_a_budget_short_of_the_deadline_buys_what_it_can_and_says_how_long(engine: Engine) -> None:
    # One H200 board with its server: 8 x $35,000 + $45,000 = $325,000; two cost $650,000 and
    # more: $500,000 buys 8 GPUs, 1,228.2 / 8 = 153.5 days, past 30 (said as "154 days").
    c = engine.consult(
        {
            "workload": "pretraining",
            "model_params_b": 7,
            "train_tokens_b": 1000,
            "budget_usd": 500000,
            "site": "datacenter",
            "candidates": "h200",
        }
    )
    attrs = c.devices["h200"]
    assert (c.recommendations[0].count, attrs["count_set_by"]) == (8, "budget")
    assert attrs["cost_usd"] == pytest.approx(8 * 35_000 + 45_000)
    assert attrs["train_days"] == pytest.approx(4.2e22 / (989.5e12 * 0.4) / 86400 / 8, abs=0.01)
    assert any(
        w.rule == "throughput.budget-misses-deadline" and "154 days" in w.message
        for w in c.warnings
    )


def test_pretraining_defaults_to_chinchilla_tokens(engine: Engine) -> None:
    # No token count: 20 tokens per parameter (Chinchilla) -> 1.4e11 tokens; FLOPs 6 x 7e9 x 1.4e11.
    c = engine.consult(
        {"workload": "pretraining", "model_params_b": 7, "site": "datacenter", "candidates": "h200"}
    )
    assert c.facts["training_flops"] == pytest.approx(6 * 7e9 * 1.4e11)
    # 5.88e21 / (3.958e14 x 30 x 86400) = 5.73 -> 6 GPUs, bought as one board of 8.
    assert c.devices["h200"]["count_set_by"] == "purchase_unit"
    assert c.recommendations[0].count == 8


def test_max_gpus_is_a_cap_not_a_target(engine: Engine) -> None:
    base = {
        "workload": "inference",
        "model": "llama-3.1-8b",
        "candidates": "rtx-pro-6000-blackwell-max-q",
    }
    # One user of an 8B model: one card, whatever the cap (64 used to buy 64).
    assert engine.consult({**base, "max_gpus": 64}).recommendations[0].count == 1
    assert engine.consult({**base, "max_gpus": 1024}).recommendations[0].count == 1
    # 200 users of 70B fp8 need 12 PRO 6000 (above): a cap of 8 excludes it with the number.
    capped = engine.consult(
        {
            "workload": "inference",
            "model": "llama-3.1-70b",
            "precision": "fp8",
            "concurrent_users": 200,
            "context_tokens": 8192,
            "max_gpus": 8,
            "candidates": "rtx-pro-6000-blackwell-max-q",
        }
    )
    assert not capped.recommendations
    assert (
        "needs 12 GPUs, more than the cap of 8"
        in capped.all_exclusions["rtx-pro-6000-blackwell-max-q"][0].because
    )
    with pytest.raises(UsageError):
        engine.consult({**base, "max_gpus": 0})


def test_70b_bf16_without_a_cap_fits_two_80_gb_cards(engine: Engine) -> None:
    # 70B in bf16: 141.1 GB of weights. Two H100 SXM over NVLink: 2 x (77.31 - 1.81) - 141.1
    # = 9.9 GB left for KV (1.342 GB per user at 4k): one copy fits on 2 GPUs; nothing is refused.
    # 141.1 GB > one H200's 136.2 GB of serving capacity: two H200 too. Both come 8 to a board.
    c = engine.consult(
        {
            "workload": "inference",
            "model": "llama-3.1-70b",
            "site": "datacenter",
            "candidates": "h100-sxm,h200",
        }
    )
    assert {r.device: c.devices[r.device]["gpus_needed"] for r in c.recommendations} == {
        "h100-sxm": 2,
        "h200": 2,
    }
    assert {r.device: r.count for r in c.recommendations} == {"h100-sxm": 8, "h200": 8}


def test_a_named_model_sets_the_parameter_count(engine: Engine) -> None:
    c = engine.consult({"workload": "inference", "model": "llama-3.1-70b", "model_params_b": 7})
    assert c.answers.get("model_params_b") == 70.55
    assert "model_params_b" in c.answers.ignored


@settings(max_examples=25, deadline=None)
@given(
    users=st.integers(1, 3000),
    more=st.integers(0, 3000),
    cap=st.one_of(st.none(), st.integers(1, 64)),
)
def test_more_users_never_lower_a_count_and_caps_hold(
    engine: Engine, users: int, more: int, cap: int | None
) -> None:
    base = {
        "workload": "inference",
        "model": "llama-3.1-8b",
        "candidates": "rtx-pro-6000-blackwell,h100-sxm,rtx-a6000",
    }
    if cap is not None:
        base["max_gpus"] = cap
    fewer = engine.consult({**base, "concurrent_users": users})
    larger = engine.consult({**base, "concurrent_users": users + more})
    for device in ("rtx-pro-6000-blackwell", "h100-sxm", "rtx-a6000"):
        a, b = fewer.devices[device], larger.devices[device]
        if a["meets_demand"] and b["meets_demand"]:
            assert b["count"] >= a["count"]
    for rec in fewer.recommendations + larger.recommendations:
        assert cap is None or rec.count <= cap


@settings(max_examples=15, deadline=None)
@given(days=st.floats(5, 400), shorter=st.floats(0.2, 1.0))
def test_a_shorter_deadline_never_lowers_a_count(
    engine: Engine, days: float, shorter: float
) -> None:
    base = {
        "workload": "pretraining",
        "model_params_b": 7,
        "train_tokens_b": 300,
        "candidates": "h100-sxm,b200",
    }
    slow = engine.consult({**base, "deadline_days": days})
    fast = engine.consult({**base, "deadline_days": days * shorter})
    for device in ("h100-sxm", "b200"):
        assert fast.devices[device]["count"] >= slow.devices[device]["count"]
