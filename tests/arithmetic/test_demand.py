"""The count from the demand, checked against sums worked by hand from the formulas.

Figures used below (decimal GB):
- RTX PRO 6000 Blackwell: 96 GB sold as binary GB, 95% usable: 96 x 2^30/1e9 x 0.95 = 97.925 GB;
  1,792 GB/s; FP8 dense 1,000 TFLOPS (the vendor's 2,000 sparse / 2).
- Llama 3.1 70B: 70.55e9 parameters, FP8 weights 70.55 GB; KV cache per token in bf16 =
  2 (K and V) x 80 layers x 8 KV heads x 128 head dim x 2 bytes = 327,680 B = 0.00032768 GB.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpu_advisor.arithmetic.demand import (
    Hardware,
    Interactive,
    ServedModel,
    Training,
    interactive_count,
    train_days,
    training_count,
)

PRO_6000 = Hardware(
    usable_memory_gb=96 * 2**30 / 1e9 * 0.95,
    bandwidth_gbs=1792,
    dense_tflops=1000,
    tensor_parallel_degrees=(1, 2, 4),
    mbu=0.6,
    mbu_tensor_parallel=0.4,
)
LLAMA_70B_FP8 = ServedModel(
    weights_gb=70.55, kv_gb_per_token=327_680 / 1e9, active_params_b=70.55, overhead_gb_per_gpu=2.0
)


def test_200_users_of_a_70b_model_need_replicas_not_one_card() -> None:
    # KV per user at 8,192 tokens: 0.00032768 x 8192 = 2.684 GB; target 10 tokens/s -> 0.1 s a step.
    # TP1: memory (97.925 - 2) - 70.55 = 25.38 GB -> 9 users; speed (0.1 x 1792 x 0.6 - 70.55)
    #      / 2.684 = 13.8 -> 13 users; replicas ceil(200/9) = 23 -> 23 GPUs.
    # TP2: memory 2 x 95.925 - 70.55 = 121.3 GB -> 45 users; speed (0.1 x 2 x 1792 x 0.4 - 70.55)
    #      / 2.684 = 27.1 -> 27; replicas ceil(200/27) = 8 -> 16 GPUs.
    # TP4: memory 4 x 95.925 - 70.55 = 313.15 GB -> 116; speed (0.1 x 4 x 1792 x 0.4 - 70.55)
    #      / 2.684 = 80.5 -> 80; replicas ceil(200/80) = 3 -> 12 GPUs: the fewest.
    count = interactive_count(PRO_6000, LLAMA_70B_FP8, Interactive(200, 8192, 10.0))
    assert (count.gpus, count.tensor_parallel, count.replicas) == (12, 4, 3)
    assert count.set_by == "throughput"  # speed (80 users) binds before memory (116)
    assert count.kv_cache_gb == pytest.approx(200 * 2.68435, abs=0.01)
    # 67 users per replica: step = (70.55 + 67 x 2.684) / (4 x 1792 x 0.4) = 0.0873 s -> 11.45 tok/s
    assert count.tokens_per_s_per_user == pytest.approx(11.45, abs=0.01)
    assert count.users_served == 240
    assert count.meets_demand


def test_one_user_fits_on_one_card() -> None:
    count = interactive_count(PRO_6000, LLAMA_70B_FP8, Interactive(1, 8192, 10.0))
    # One user: TP1 holds 9 and serves 13 at 10 tokens/s: one card.
    assert (count.gpus, count.set_by) == (1, "minimum")


def test_one_user_split_wider_than_memory_needs_is_set_by_speed_not_memory() -> None:
    # One user at 20 tokens/s: a step in 0.05 s, KV 2.684 GB at 8,192 tokens.
    # TP1 holds the model (9 users by memory) but reads at 0.05 x 1792 x 0.6 = 53.76 GB a step,
    #     less than the 70.55 GB of weights: no user at that speed.
    # TP2: (0.05 x 2 x 1792 x 0.4 - 70.55) / 2.684 = 0.42 -> still none.
    # TP4: (0.05 x 4 x 1792 x 0.4 - 70.55) / 2.684 = 27.1 -> 27 users: one replica of 4 GPUs,
    #     four times what memory needs, so the speed set the count.
    assert 0.05 * 1792 * 0.6 < 70.55 and (0.05 * 2 * 1792 * 0.4 - 70.55) / 2.684 < 1
    count = interactive_count(PRO_6000, LLAMA_70B_FP8, Interactive(1, 8192, 20.0))
    assert (count.gpus, count.tensor_parallel, count.replicas) == (4, 4, 1)
    assert count.set_by == "throughput"
    # at 10 tokens/s one card serves 13 users (above): one is enough
    assert interactive_count(PRO_6000, LLAMA_70B_FP8, Interactive(1, 8192, 10.0)).gpus == 1


def test_pairs_only_links_cap_the_group_at_two() -> None:
    pairs = Hardware(**{**PRO_6000.__dict__, "tensor_parallel_degrees": (1, 2)})
    count = interactive_count(pairs, LLAMA_70B_FP8, Interactive(200, 8192, 10.0))
    assert (count.gpus, count.tensor_parallel, count.replicas) == (16, 2, 8)  # TP2 above


def test_a_bandwidth_starved_box_cannot_reach_chat_speed_at_any_count() -> None:
    # DGX Spark: 273 GB/s, one box per model (no NVLink between boxes). A 32B model in bf16 has
    # 65.5 GB of weights: one user gets at most 273 x 0.6 / (65.5 + KV) < 2.6 tokens/s < 10.
    spark = Hardware(
        usable_memory_gb=115,
        bandwidth_gbs=273,
        dense_tflops=None,
        tensor_parallel_degrees=(1,),
        mbu=0.6,
        mbu_tensor_parallel=0.6,
    )
    model = ServedModel(
        weights_gb=65.5,
        kv_gb_per_token=262_144 / 1e9,
        active_params_b=32.8,
        overhead_gb_per_gpu=2.0,
    )
    count = interactive_count(spark, model, Interactive(4, 4096, 10.0))
    assert not count.meets_demand
    assert count.gpus == 0
    assert "below the 10 tokens/s asked" in (count.shortfall or "")
    best = 273 * 0.6 / (65.5 + 262_144 / 1e9 * 4096)
    assert f"{best:.3g} tokens/s" in (count.shortfall or "")


def test_weights_that_fit_no_group_are_a_memory_shortfall() -> None:
    small = Hardware(
        usable_memory_gb=24,
        bandwidth_gbs=768,
        dense_tflops=150,
        tensor_parallel_degrees=(1, 2),
        mbu=0.6,
        mbu_tensor_parallel=0.4,
    )
    count = interactive_count(small, LLAMA_70B_FP8, Interactive(1, 4096, 10.0))
    assert not count.meets_demand and "do not fit on 2 GPU(s)" in (count.shortfall or "")


H200 = Hardware(
    usable_memory_gb=141 * 2**30 / 1e9 * 0.95,
    bandwidth_gbs=4800,
    dense_tflops=989.5,
    tensor_parallel_degrees=(1, 2, 4, 8),
    mbu=0.6,
    mbu_tensor_parallel=0.55,
    gpus_per_unit=8,
)
PRETRAIN_7B = Training(
    params_b=7, tokens_b=1000, flops_per_param_token=6, mfu=0.4, deadline_days=30
)


def test_pretraining_a_7b_model_on_1t_tokens_in_30_days() -> None:
    # FLOPs = 6 x 7e9 x 1e12 = 4.2e22. One H200: 989.5e12 x 0.4 = 3.958e14 FLOP/s
    # -> 4.2e22 / 3.958e14 = 1.0611e8 s = 1,228 days on one GPU (the issue's "about three years").
    assert train_days(PRETRAIN_7B, H200, 1) == pytest.approx(4.2e22 / 3.958e14 / 86400, rel=1e-9)
    # 30 days: ceil(1.0611e8 / 2.592e6) = ceil(40.94) = 41 GPUs, bought in boards of 8 -> 48.
    count = training_count(PRETRAIN_7B, H200, memory_gpus=1)
    assert count.flops == pytest.approx(4.2e22)
    assert (count.gpus, count.set_by) == (48, "purchase_unit")
    assert count.train_days == pytest.approx(4.2e22 / 3.958e14 / 86400 / 48, abs=0.01)  # 25.59


def test_a_budget_short_of_the_deadline_gives_the_best_it_can_and_the_days() -> None:
    # The budget buys 20 GPUs -> two boards (16): 1,228.2 / 16 = 76.8 days, past 30. The count
    # is the best the budget can do (it meets the demand as far as money allows), with the days.
    count = training_count(PRETRAIN_7B, H200, memory_gpus=1, affordable=20)
    assert (count.gpus, count.set_by) == (16, "budget")
    assert count.train_days == pytest.approx(4.2e22 / 3.958e14 / 86400 / 16, abs=0.01)
    assert count.meets_demand
    assert "76.8 days, past the 30-day deadline" in (count.deadline_missed or "")


def test_a_cap_short_of_the_deadline_excludes_with_the_numbers() -> None:
    # 41 GPUs are needed (above, before boards); a cap of 16 would take 1,228.2 / 16 = 76.8 days.
    loose = Hardware(**{**H200.__dict__, "gpus_per_unit": 1})
    count = training_count(PRETRAIN_7B, loose, memory_gpus=1, cap=16)
    assert not count.meets_demand and count.gpus == 0
    assert "needs 41 GPUs to finish in 30 days; the cap of 16 (max_gpus) would take 76.8 days" in (
        count.shortfall or ""
    )


def test_memory_sets_the_floor_when_the_deadline_is_easy() -> None:
    # LoRA of 70B on 0.3B tokens: 4 x 70e9 x 3e8 = 8.4e19 FLOPs; one GPU at 3.958e14 takes
    # 2.46 days, so a 30-day deadline needs 1 GPU; memory needs 2 -> 2, rounded to 8 per board.
    run = Training(params_b=70, tokens_b=0.3, flops_per_param_token=4, mfu=0.4, deadline_days=30)
    count = training_count(run, H200, memory_gpus=2)
    assert count.flops == pytest.approx(8.4e19)
    assert (count.gpus, count.set_by) == (8, "purchase_unit")
    loose = Hardware(**{**H200.__dict__, "gpus_per_unit": 1})
    assert (
        training_count(run, loose, memory_gpus=2).gpus,
        training_count(run, loose, memory_gpus=2).set_by,
    ) == (2, "memory")


@settings(max_examples=200, deadline=None)
@given(
    users=st.integers(1, 5000),
    more=st.integers(0, 5000),
    context=st.sampled_from([1024, 4096, 8192, 32768]),
    speed=st.sampled_from([5.0, 10.0, 12.0]),
)
def test_more_users_never_lower_the_count(
    users: int, more: int, context: int, speed: float
) -> None:
    fewer = interactive_count(PRO_6000, LLAMA_70B_FP8, Interactive(users, context, speed))
    larger = interactive_count(PRO_6000, LLAMA_70B_FP8, Interactive(users + more, context, speed))
    if fewer.meets_demand and larger.meets_demand:
        assert larger.gpus >= fewer.gpus


@settings(max_examples=200, deadline=None)
@given(
    days=st.floats(1, 3000),
    shorter=st.floats(0.1, 1.0),
    memory=st.integers(1, 64),
    cap=st.one_of(st.none(), st.integers(1, 100_000)),
)
def test_a_shorter_deadline_never_lowers_the_count_and_a_cap_is_never_exceeded(
    days: float, shorter: float, memory: int, cap: int | None
) -> None:
    loose = Hardware(**{**H200.__dict__, "gpus_per_unit": 1})
    slow = training_count(Training(7, 1000, 6, 0.4, days), loose, memory, cap=cap)
    fast = training_count(Training(7, 1000, 6, 0.4, days * shorter), loose, memory, cap=cap)
    if slow.shortfall is None and fast.shortfall is None:
        assert fast.gpus >= slow.gpus
    for count in (slow, fast):
        if cap is not None:
            assert count.gpus <= cap
        assert count.gpus == 0 or count.gpus >= memory or count.shortfall is not None
    assert math.isfinite(slow.train_days or 0.0)
