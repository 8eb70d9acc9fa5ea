"""A thousand-GPU question, worked by hand: the top of the range of buyers the tool serves.

Every expected number is derived in the comments from docs/sizing.md ("How many" and the
training network need), kb/demand.yaml (MFU 0.40 inside an NVLink domain, 2 bytes exchanged per
parameter, a 4,096-token micro-batch by default, a 30-day deadline), kb/devices/h100-sxm.yaml
(989.5 TFLOPS dense bf16, half the 1,979 sparse figure; 80 GB; an 8-GPU HGX board estimated at
$240,000) and kb/systems.yaml (the HGX server around a board: $45,000; 100 GbE per node at
12.5 GB/s, $2,500; 400G RoCE per GPU at 50 GB/s, $4,500; InfiniBand NDR per GPU at 50 GB/s,
$5,000), never copied from the engine's output.
"""

from __future__ import annotations

import math

import pytest

from gpu_advisor.core.consult import Engine
from gpu_advisor.core.explain import what_would_change

H100_DENSE_BF16 = 1979 / 2 * 1e12  # FLOP/s
MFU_NVLINK = 0.40
FLOPS = 6 * 70e9 * 2e12  # 6ND: a 70B model on 2T tokens = 8.4e23 FLOPs


def test_70b_pretraining_on_2t_tokens_in_30_days_is_824_h100s_on_400g_per_gpu(
    engine: Engine,
) -> None:
    # One GPU: 8.4e23 / (989.5e12 x 0.40) = 8.4e23 / 3.958e14 = 2.12228e9 s = 24,563.5 days.
    one_gpu_days = FLOPS / (H100_DENSE_BF16 * MFU_NVLINK) / 86400
    assert one_gpu_days == pytest.approx(24_563.5, abs=0.1)
    # The 30-day deadline: ceil(24,563.5 / 30) = ceil(818.78) = 819 GPUs demanded. H100 SXM comes
    # 8 to an HGX board: ceil(819 / 8) = 103 boards = 824 GPUs, in 103 HGX servers.
    demanded = math.ceil(one_gpu_days / 30)
    boards = math.ceil(demanded / 8)
    assert (demanded, boards, boards * 8) == (819, 103, 824)
    # The training state alone (bf16 weights and gradients, fp32 Adam moments and master weights:
    # 16 B x 70e9 = 1,120 GB) is more than one box holds (8 x 80 GB x 0.95 usable = 608 GB), so
    # it is sharded across boxes (ZeRO-3) and parameters are all-gathered for every micro-batch:
    # 3 x 2 B per parameter per 4,096-token micro-batch per box, 1/8 of it on each GPU's port:
    # 3 x 2 x 989.5e12 x 0.40 / (6 x 4,096 x 8) = 12.08 GB/s per GPU. 100 GbE gives 12.5 / 8 =
    # 1.56 GB/s per GPU: too slow. Both 400G fabrics give 50; RoCE is the cheaper ($4,500 a GPU).
    need = 3 * 2 * H100_DENSE_BF16 * MFU_NVLINK / (6 * 4096 * 8) / 1e9
    assert 70e9 * 16 / 1e9 > 8 * 80 * 0.95
    assert need == pytest.approx(12.08, abs=0.01)
    assert 12.5 / 8 < need <= 50
    c = engine.consult(
        {
            "workload": "pretraining",
            "model_params_b": 70,
            "train_tokens_b": 2000,
            "site": "datacenter",
            "candidates": "h100-sxm",
        }
    )
    attrs = c.devices["h100-sxm"]
    first = c.recommendations[0]
    assert (first.device, first.count, attrs["count_set_by"]) == ("h100-sxm", 824, "purchase_unit")
    assert attrs["gpus_demanded"] == 819
    assert c.facts["training_flops"] == pytest.approx(FLOPS)
    # 24,563.5 days / 824 GPUs = 29.81 days: inside the deadline.
    assert attrs["train_days"] == pytest.approx(one_gpu_days / 824, abs=0.01)
    assert (attrs["nodes"], attrs["host"], attrs["network"]) == (103, "hgx-8gpu", "roce-400g")
    assert attrs["network_gbs_needed"] == pytest.approx(need, abs=0.01)
    # 103 boards x $240,000 + 103 servers x $45,000 + 824 ports x $4,500 = $33,063,000.
    cost = 103 * 240_000 + 103 * 45_000 + 824 * 4_500
    assert cost == 33_063_000
    assert attrs["cost_usd"] == pytest.approx(cost)
    assert first.cost_usd == pytest.approx(cost)


def test_a_cap_below_the_deadline_count_excludes_the_cluster_and_says_what_would_do(
    engine: Engine,
) -> None:
    # The same job on at most 512 GPUs: 24,563.5 / 512 = 47.98 days, past the 30-day deadline, so
    # the demand is not met; the shortfall names both numbers (824 GPUs bought for 30 days, "48
    # days" on the cap). The lever search raises the cap (its steps double it: 512 -> 1,024), under
    # which the first consultation's purchase comes back: 824 GPUs for $33,063,000.
    one_gpu_days = FLOPS / (H100_DENSE_BF16 * MFU_NVLINK) / 86400
    assert round(one_gpu_days / 512) == 48
    answers = {
        "workload": "pretraining",
        "model_params_b": 70,
        "train_tokens_b": 2000,
        "max_gpus": 512,
        "site": "datacenter",
        "candidates": "h100-sxm",
    }
    c = engine.consult(answers)
    assert c.recommendations == []
    (exclusion,) = c.all_exclusions["h100-sxm"]
    assert exclusion.rule == "throughput.demand-not-met"
    assert "824 GPUs" in exclusion.because and "48 days" in exclusion.because
    (suggestion,) = what_would_change(c)["h100-sxm"]
    assert [(ch.answer, ch.before, ch.after) for ch in suggestion.changes] == [
        ("max_gpus", 512, 1024)
    ]
    assert suggestion.cost_usd == pytest.approx(103 * 240_000 + 103 * 45_000 + 824 * 4_500)
    applied = engine.consult({**answers, "max_gpus": 1024})
    assert [(r.device, r.count) for r in applied.recommendations] == [("h100-sxm", 824)]
