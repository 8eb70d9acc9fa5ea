"""A mixture of experts' decode step reads the dense weights and only the experts its batch
routes to; every expected number is worked by hand below.

The formula (docs/sizing.md, "Mixtures of experts at decode"): a token picks k of the E experts
of a MoE layer, so a given expert escapes one token with probability 1 - k/E and all b tokens of
a step with (1 - k/E)^b (uniform, independent routing). A step of b sequences therefore reads
``dense + experts x (1 - (1 - k/E)^b)`` bytes of weights, where ``experts`` is every routed
expert's weights (all resident in memory) and ``dense`` the rest (attention, norms, routers,
shared experts, embeddings).

Figures from the fixtures' config.json files (tests/fixtures/models):
- Mixtral-8x7B: 32 MoE layers x 8 experts x (3 x 4096 hidden x 14336) = 32 x 8 x 176,160,768 =
  45,097,156,608 routed-expert weights of 46,702,792,704; k = 2.
- DeepSeek-V3: 58 MoE layers (61 - 3 first_k_dense_replace) x 256 routed experts x
  (3 x 7168 x 2048 moe_intermediate_size) = 58 x 256 x 44,040,192 = 653,908,770,816 routed
  weights of 671,026,404,352; k = 8 (num_experts_per_tok); the shared expert is dense.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpu_advisor.arithmetic.demand import (
    Hardware,
    Interactive,
    ServedModel,
    batch_count,
    decode_step_s,
    interactive_count,
    largest_batch_read_within,
)
from gpu_advisor.arithmetic.model_memory import (
    expert_weight_bytes,
    held_format,
    routed_expert_params,
    weight_bytes,
)
from gpu_advisor.knowledge.model_files import ModelSpec, read_model

MODELS = Path(__file__).parent.parent / "fixtures" / "models"
MIXTRAL_ROUTED = 32 * 8 * 3 * 4096 * 14336  # 45,097,156,608
MIXTRAL_TOTAL = 46_702_792_704
DEEPSEEK_ROUTED = 58 * 256 * 3 * 7168 * 2048  # 653,908,770,816
DEEPSEEK_TOTAL = 671_026_404_352
KV_MIXTRAL_GB = 2 * 32 * 8 * 128 * 2 / 1e9  # K and V x layers x KV heads x head_dim x bf16


def spec(name: str) -> ModelSpec:
    return read_model(MODELS / name)


def mixtral_bf16() -> ServedModel:
    # All weights 46,702,792,704 x 2 B = 93.405585408 GB; experts 45,097,156,608 x 2 B =
    # 90.194313216 GB; dense 93.405585408 - 90.194313216 = 3.211272192 GB.
    return ServedModel(
        weights_gb=MIXTRAL_TOTAL * 2 / 1e9,
        kv_gb_per_token=KV_MIXTRAL_GB,
        active_params_b=12.879925248,
        overhead_gb_per_gpu=1.4,
        expert_gb=MIXTRAL_ROUTED * 2 / 1e9,
        experts=8,
        experts_per_token=2,
    )


def test_the_routed_experts_of_mixtral_and_deepseek_v3_are_counted_from_the_config() -> None:
    assert routed_expert_params(spec("mixtral-8x7b")) == MIXTRAL_ROUTED == 45_097_156_608
    assert routed_expert_params(spec("deepseek-v3")) == DEEPSEEK_ROUTED == 653_908_770_816
    # Dense models have none.
    assert routed_expert_params(spec("llama-3.1-8b")) == 0
    assert expert_weight_bytes(spec("llama-3.1-8b"), "bf16").value == 0
    # bf16: 2 B each.
    assert expert_weight_bytes(spec("mixtral-8x7b"), "bf16").value == MIXTRAL_ROUTED * 2
    # Block FP8: 8 + 32/16384 = 8.001953125 bits each (experts are linear layers).
    assert expert_weight_bytes(spec("deepseek-v3"), "fp8").value == pytest.approx(
        DEEPSEEK_ROUTED * 8.001953125 / 8
    )


def test_at_batch_one_the_bytes_read_are_the_active_weights() -> None:
    # Mixtral: dense 46,702,792,704 - 45,097,156,608 = 1,605,636,096 weights + 2/8 of the
    # experts 11,274,289,152 = 12,879,925,248: the model card's 12.9B active per token.
    mixtral = spec("mixtral-8x7b")
    assert (MIXTRAL_TOTAL - MIXTRAL_ROUTED) + MIXTRAL_ROUTED * 2 // 8 == mixtral.active_params
    # DeepSeek-V3: 671,026,404,352 - 653,908,770,816 = 17,117,633,536 dense + 8/256 of the
    # experts 20,434,649,088 = 37,552,282,624 (the paper's "37B activated").
    deepseek = spec("deepseek-v3")
    assert (DEEPSEEK_TOTAL - DEEPSEEK_ROUTED) + DEEPSEEK_ROUTED * 8 // 256 == (
        deepseek.active_params
    )


def test_mixtral_reads_a_quarter_of_its_experts_at_batch_1_and_99_percent_at_16() -> None:
    model = mixtral_bf16()
    assert model.dense_gb == pytest.approx(3.211272192)
    # b = 1: 3.211272192 + 90.194313216 x 2/8 = 3.211272192 + 22.548578304 = 25.759850496 GB,
    # not the 93.41 GB of every expert.
    assert model.read_gb(1) == pytest.approx(25.759850496)
    # b = 16: (6/8)^16 = 0.75^16 = 0.0100226 (0.75^2 = 0.5625, ^4 = 0.31640625, ^8 = 0.10011292,
    # ^16 = 0.01002260): 99.0% of the experts; 3.211272192 + 90.194313216 x 0.98997740 =
    # 92.50160 GB.
    assert model.experts_read_fraction(16) == pytest.approx(1 - 0.0100226, abs=1e-7)
    assert model.read_gb(16) == pytest.approx(92.50160, abs=1e-4)
    assert "(1 - (1 - 2/8)^16) = 92.5 GB" in model.read_formula(16)


def test_deepseek_v3_in_fp8_reads_a_thirty_second_of_its_experts_at_batch_1() -> None:
    # Block FP8 (8.001953125 bits on linear layers, embeddings 16-bit): all weights
    # 673,043,134,758 B (tests/arithmetic/test_model_memory.py); experts 653,908,770,816 x
    # 8.001953125 / 8 = 654,068,416,512 B; dense 673,043,134,758 - 654,068,416,512 =
    # 18,974,718,246 B.
    deepseek = spec("deepseek-v3")
    experts = expert_weight_bytes(deepseek, "fp8").value
    assert experts == pytest.approx(654_068_416_512, abs=1)
    whole = weight_bytes(deepseek, "fp8").value
    model = ServedModel(
        weights_gb=whole / 1e9,
        kv_gb_per_token=0.0,
        active_params_b=37.55,
        overhead_gb_per_gpu=1.0,
        expert_gb=experts / 1e9,
        experts=256,
        experts_per_token=8,
    )
    # b = 1: 18.974718 + 654.068417 x 8/256 = 18.974718 + 20.439638 = 39.414356 GB.
    assert model.read_gb(1) == pytest.approx(39.414356, abs=1e-5)
    # b = 32: (248/256)^32 = (31/32)^32 = e^(32 x ln 0.96875) = e^(32 x -0.0317487) =
    # e^(-1.0159583) = 0.3678794 x 0.9841684 = 0.362055: 63.8% of the experts;
    # 18.974718 + 654.068417 x 0.637945 = 18.974718 + 417.259 = 436.234 GB.
    assert model.experts_read_fraction(32) == pytest.approx(0.637945, abs=1e-6)
    assert model.read_gb(32) == pytest.approx(436.234, abs=1e-3)
    # b = 256: (31/32)^256 = 0.362055^8 (^2 = 0.131084, ^4 = 0.017183, ^8 = 0.00029526):
    # 99.97% of the experts.
    assert model.experts_read_fraction(256) == pytest.approx(1 - 0.00029526, abs=1e-7)


def test_a_checkpoint_stored_quantized_is_held_as_stored() -> None:
    # A config alone names no stored bytes: the precision asked; a GGUF: as stored.
    assert held_format(spec("mixtral-8x7b"), "fp8") == "fp8"


@settings(max_examples=200, deadline=None)
@given(
    dense=st.floats(0.0, 100.0),
    experts_gb=st.floats(0.01, 1000.0),
    experts=st.integers(1, 512),
    data=st.data(),
)
def test_bytes_read_grow_with_the_batch_from_the_active_weights_to_all_of_them(
    dense: float, experts_gb: float, experts: int, data: st.DataObject
) -> None:
    k = data.draw(st.integers(1, experts))
    model = ServedModel(
        weights_gb=dense + experts_gb,
        kv_gb_per_token=0.0,
        active_params_b=1.0,
        overhead_gb_per_gpu=0.0,
        expert_gb=experts_gb,
        experts=experts,
        experts_per_token=k,
    )
    reads = [model.read_gb(b) for b in range(1, 65)]
    assert all(later >= earlier for earlier, later in zip(reads, reads[1:]))
    assert reads[0] == pytest.approx(dense + experts_gb * k / experts)
    # Never more than every weight; approaching it: (1 - k/E)^b <= e^(-bk/E) < 1e-6 once
    # b k / E > 14 (e^-14 = 8.3e-7).
    assert reads[-1] <= model.weights_gb * (1 + 1e-12)
    b = 15 * experts // k + 1
    assert model.weights_gb - model.read_gb(b) <= experts_gb * 1e-6 + 1e-9


@settings(max_examples=100, deadline=None)
@given(
    budget=st.floats(1.0, 400.0),
    kv=st.floats(0.01, 5.0),
    experts=st.integers(2, 256),
    data=st.data(),
)
def test_the_batch_search_finds_the_largest_batch_within_the_budget(
    budget: float, kv: float, experts: int, data: st.DataObject
) -> None:
    k = data.draw(st.integers(1, experts))
    model = ServedModel(
        weights_gb=100.0,
        kv_gb_per_token=kv,
        active_params_b=1.0,
        overhead_gb_per_gpu=0.0,
        expert_gb=90.0,
        experts=experts,
        experts_per_token=k,
    )
    found = largest_batch_read_within(model, kv, budget)

    def step_gb(batch: int) -> float:
        return model.read_gb(batch) + batch * kv

    brute = 0  # within rounding: a step that reads 1e-12 of the budget over still fits
    while step_gb(brute + 1) <= budget * (1 + 1e-12):
        brute += 1
    assert found == brute


def test_a_dense_model_reads_all_its_weights_at_every_batch() -> None:
    dense = ServedModel(
        weights_gb=70.55, kv_gb_per_token=0.0003, active_params_b=70.55, overhead_gb_per_gpu=2.0
    )
    assert {dense.read_gb(b) for b in (1, 2, 17, 4096)} == {70.55}
    assert not dense.is_moe


PRO_6000_MAX_Q = Hardware(
    usable_memory_gb=96 * 1.073741824 * 0.9,  # vLLM's 0.9 of 96 GiB = 92.7713 GB
    bandwidth_gbs=1792,
    dense_tflops=439,  # bf16: 878 sparse / 2
    tensor_parallel_degrees=(1, 2, 4),
    mbu=0.6,
    mbu_tensor_parallel=0.4,
)


def test_four_mixtral_users_at_20_tokens_per_s_need_two_cards_not_four() -> None:
    # Context 4,096: KV per user 131,072 B x 4,096 = 0.536871 GB. A step may take 1/20 = 0.05 s.
    # TP1: 92.7713 - 1.4 = 91.37 GB < 93.41 GB of weights: does not fit.
    # TP2 (PCIe, 40% of 1,792 GB/s): a step may read 0.05 x 2 x 1,792 x 0.4 = 71.68 GB.
    #   b = 4: 3.211272 + 90.194313 x (1 - 0.75^4 = 0.68359375) + 4 x 0.536871
    #        = 3.211272 + 61.656269 + 2.147484 = 67.015025 GB <= 71.68: fits;
    #   b = 5: 3.211272 + 90.194313 x (1 - 0.2373047) + 5 x 0.536871 = 74.686 GB > 71.68.
    #   Speed allows 4; memory 2 x (92.7713 - 1.4) - 93.4056 = 89.337 GB / 0.536871 = 166.
    #   Compute never binds: 0.05 x 2 x 439e12 x 0.5 / (2 x 12.88e9) = 852 users.
    # Reading every expert each step (the dense roofline) TP2 would allow
    # (71.68 - 93.41) / 0.537 < 0 users, and four users would take a TP4 group.
    model = mixtral_bf16()
    count = interactive_count(PRO_6000_MAX_Q, model, Interactive(4, 4096, 20.0))
    assert (count.gpus, count.tensor_parallel, count.replicas) == (2, 2, 1)
    # Their speed: 1 / (67.015025 / (2 x 1792 x 0.4)) = 1433.6 / 67.015025 = 21.39 tokens/s.
    assert count.tokens_per_s_per_user == pytest.approx(21.39, abs=0.01)
    assert any(
        "read(b) = 3.2 GB dense + 90.2 GB experts x (1 - (1 - 2/8)^b)" in step
        and "at b = 4: 3.2 GB dense + 90.2 GB experts x (1 - (1 - 2/8)^4) = 64.9 GB" in step
        for step in count.steps
    ), count.steps
    step = decode_step_s(PRO_6000_MAX_Q, model, 2, 4, KV_MIXTRAL_GB * 4096, 0.5)
    assert step == pytest.approx(67.015025 / 1433.6, rel=1e-6)


def test_an_offline_mixtral_job_reads_all_experts_at_a_full_batch() -> None:
    # TP2 holds 166 sequences of 4,096 tokens (above); at b = 166, (0.75)^166 = 1.9e-21: every
    # expert is read, 93.405585 + 166 x 0.536871 = 182.526 GB a step over 1,433.6 GB/s =
    # 0.127320 s -> 166 / 0.127320 = 1,303.8 tokens/s per replica.
    count = batch_count(PRO_6000_MAX_Q, mixtral_bf16(), 1e6, 4096)
    assert (count.tensor_parallel, count.replicas) == (2, 1)
    assert count.tokens_per_s == pytest.approx(1303.8, abs=0.1)
    assert "x (1 - (1 - 2/8)^166) = 93.4 GB of weights" in count.steps[1]
