"""Memory sizing: published figures, properties, the model catalog and the `size` command."""

from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpu_advisor.arithmetic.sizing import (
    PRECISION_BYTES,
    Estimate,
    ModelArch,
    SizingRequest,
    architecture_from_params,
    estimate,
    gpus_needed,
    load_model_catalog,
    resolve_model,
    usable_memory_gb,
)
from gpu_advisor.cli import size as size_command
from gpu_advisor.errors import FileErrors, UsageError

CATALOG = load_model_catalog()


def model(name: str) -> ModelArch:
    return resolve_model(name, CATALOG)


def request(
    workload: str = "fine-tuning",
    name: str | None = None,
    params_b: float | None = None,
    **fields: object,
) -> SizingRequest:
    arch = model(name) if name else None
    size = arch.params_b if arch else params_b
    assert size is not None
    return SizingRequest(workload=workload, params_b=size, model=arch, **fields)  # type: ignore[arg-type]


def gb(est: Estimate, item: str) -> float:
    found = est.item(item)
    return found.per_gpu_gb if found else 0.0


def model_states_per_gpu(est: Estimate) -> float:
    return gb(est, "weights") + gb(est, "gradients") + gb(est, "optimizer")


# ---------------------------------------------------------------------------------------------
# Published figures


def test_precision_table_matches_published_bits_per_parameter() -> None:
    assert PRECISION_BYTES["fp32"] == 4 and PRECISION_BYTES["bf16"] == PRECISION_BYTES["fp16"] == 2
    assert PRECISION_BYTES["fp8"] == PRECISION_BYTES["int8"] == 1
    assert PRECISION_BYTES["fp4"] == PRECISION_BYTES["int4"] == 0.5
    assert PRECISION_BYTES["nf4"] * 8 == pytest.approx(4.127)  # QLoRA paper, double quantization
    assert PRECISION_BYTES["nvfp4"] * 8 == pytest.approx(4.5)  # 16-value blocks, FP8 scale
    assert PRECISION_BYTES["mxfp4"] * 8 == pytest.approx(4.25)  # 32-value blocks, 8-bit scale


@pytest.mark.parametrize(("convention", "bytes_per_param"), [(16, 16), (18, 18), (12, 12)])
def test_mixed_precision_adamw_bytes_per_parameter(convention: int, bytes_per_param: int) -> None:
    est = estimate(request(params_b=7, bytes_per_param_convention=convention))
    assert model_states_per_gpu(est) == pytest.approx(7 * bytes_per_param)


def test_eight_bit_adam_saves_six_bytes_per_parameter() -> None:
    est = estimate(request(params_b=7, optimizer="adamw-8bit"))
    assert model_states_per_gpu(est) == pytest.approx(7 * 10)


def test_fp32_training_is_16_bytes_without_master_copy() -> None:
    est = estimate(request(params_b=1, precision="fp32", bytes_per_param_convention=18))
    assert model_states_per_gpu(est) == pytest.approx(16)


@pytest.mark.parametrize(("stage", "expected_gb"), [(0, 120.0), (1, 31.4), (2, 16.6), (3, 1.9)])
def test_zero_paper_figure_1_for_a_7_5b_model_on_64_gpus(stage: int, expected_gb: float) -> None:
    """Rajbhandari et al. 2020, Figure 1: model states per GPU, K=12, 64-way data parallel."""
    est = estimate(request(params_b=7.5, gpus=64, zero_stage=stage))
    assert model_states_per_gpu(est) == pytest.approx(expected_gb, abs=0.05)


def _deepspeed_zero3_gpu(params: float, largest_layer: float, gpus: int, offload: bool) -> float:
    """deepspeed.runtime.zero.stage3.estimate_zero3_model_states_mem_needs (bytes)."""
    if offload:  # optimizer offloaded, parameters on GPU
        return 4 * largest_layer + 2 * params / gpus
    return 4 * largest_layer + 18 * params / gpus


def _deepspeed_zero2_gpu(params: float, gpus: int, offload: bool) -> float:
    """deepspeed.runtime.zero.stage_1_and_2.estimate_zero2_model_states_mem_needs (bytes)."""
    return 2 * params if offload else 4 * params + 16 * params / gpus


@pytest.mark.parametrize("gpus", [1, 2, 8, 64])
def test_zero3_matches_deepspeed_estimator_with_fp32_gradients(gpus: int) -> None:
    arch = model("llama-3.1-70b")
    est = estimate(
        request(name="llama-3.1-70b", gpus=gpus, zero_stage=3, bytes_per_param_convention=18)
    )
    ours = (model_states_per_gpu(est) + gb(est, "overhead") - 1.0) * 1e9  # minus the CUDA context
    expected = _deepspeed_zero3_gpu(
        arch.params_b * 1e9, arch.largest_layer_params, gpus, offload=False
    )
    assert ours == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("gpus", [1, 4, 16])
def test_zero3_optimizer_offload_matches_deepspeed_estimator(gpus: int) -> None:
    arch = model("llama-3.1-70b")
    est = estimate(request(name="llama-3.1-70b", gpus=gpus, zero_stage=3, offload=True))
    ours = (model_states_per_gpu(est) + gb(est, "overhead") - 1.0) * 1e9
    assert ours == pytest.approx(
        _deepspeed_zero3_gpu(arch.params_b * 1e9, arch.largest_layer_params, gpus, offload=True),
        rel=1e-9,
    )
    assert est.host_ram_gb == pytest.approx(arch.params_b * 16 * 1.5)  # zero_init, one node


@pytest.mark.parametrize("gpus", [1, 2, 8])
def test_zero2_follows_deepspeed_without_its_full_16_bit_gradient_buffer(gpus: int) -> None:
    """DeepSpeed's ZeRO-2 estimator adds 2P for whole 16-bit gradients; we count them sharded."""
    params = 13e9
    est = estimate(request(params_b=13, gpus=gpus, zero_stage=2, bytes_per_param_convention=18))
    assert model_states_per_gpu(est) * 1e9 == pytest.approx(
        _deepspeed_zero2_gpu(params, gpus, offload=False) - 2 * params, rel=1e-9
    )
    assert model_states_per_gpu(est) == pytest.approx(2 * 13 + 16 * 13 / gpus)


@pytest.mark.parametrize("gpus", [1, 2, 8])
def test_zero2_offload_matches_deepspeed_estimator(gpus: int) -> None:
    est = estimate(request(params_b=13, gpus=gpus, zero_stage=2, offload=True))
    assert model_states_per_gpu(est) * 1e9 == pytest.approx(_deepspeed_zero2_gpu(13e9, gpus, True))
    assert est.host_ram_gb == pytest.approx(13 * max(4 * gpus, 16) * 1.5)


def test_qlora_paper_65b_fits_one_48gb_gpu() -> None:
    """Dettmers et al. 2023 fine-tune LLaMA 65B with QLoRA on a single 48 GB GPU."""
    for context in (512, 2048):
        req = request(name="llama-65b", method="qlora", precision="nf4", context_tokens=context)
        assert estimate(req).per_gpu_gb <= usable_memory_gb(48)
        assert gpus_needed(req, 48) == 1
    # and it is the 4-bit base that makes it possible: a bf16 LoRA does not come close
    assert estimate(request(name="llama-65b", method="lora", context_tokens=512)).per_gpu_gb > 120


@pytest.mark.parametrize(
    ("name", "bf16_gb"),
    [("llama-2-7b", 13.5), ("llama-2-13b", 26.0), ("qwen2.5-32b", 65.6), ("llama-3.1-70b", 141.0)],
)
def test_worked_table_bf16_weights(name: str, bf16_gb: float) -> None:
    est = estimate(request("inference", name=name))
    assert gb(est, "weights") == pytest.approx(bf16_gb, rel=0.03)


def test_worked_table_70b_other_precisions_and_full_training() -> None:
    assert gb(
        estimate(request("inference", "llama-3.1-70b", precision="fp8")), "weights"
    ) == pytest.approx(70.6, rel=0.02)
    for four_bit in ("nf4", "mxfp4", "nvfp4"):
        weights = gb(estimate(request("inference", "llama-3.1-70b", precision=four_bit)), "weights")
        assert 36 <= weights <= 40
    low = model_states_per_gpu(estimate(request(name="llama-3.1-70b")))
    high = model_states_per_gpu(
        estimate(request(name="llama-3.1-70b", bytes_per_param_convention=18))
    )
    assert low == pytest.approx(1130, rel=0.01) and high == pytest.approx(1271, rel=0.01)
    seven_low = model_states_per_gpu(estimate(request(name="llama-2-7b")))
    seven_high = model_states_per_gpu(
        estimate(request(name="llama-2-7b", bytes_per_param_convention=18))
    )
    assert seven_low == pytest.approx(108, rel=0.01) and seven_high == pytest.approx(121, rel=0.01)


@pytest.mark.parametrize(
    ("name", "lora_gb", "qlora_gb"),
    [
        ("llama-2-7b", 18, 7),
        ("llama-2-13b", 31, 11),
        ("qwen2.5-32b", 73, 24),
        ("llama-3.1-70b", 152, 50),
    ],
)
def test_worked_table_lora_and_qlora_at_2k(name: str, lora_gb: float, qlora_gb: float) -> None:
    lora = estimate(request(name=name, method="lora", context_tokens=2048))
    qlora = estimate(request(name=name, method="qlora", precision="nf4", context_tokens=2048))
    assert lora.total_gb == pytest.approx(lora_gb, rel=0.12)
    assert qlora.total_gb == pytest.approx(qlora_gb, rel=0.12)


def test_gqa_kv_cache_llama3_70b_at_8k() -> None:
    est = estimate(request("inference", "llama-3.1-70b", context_tokens=8192))
    assert gb(est, "kv_cache") == pytest.approx(80 * 8 * 128 * 2 * 2 * 8192 / 1e9)
    assert gb(est, "kv_cache") == pytest.approx(2.68, abs=0.01)


def test_multi_head_kv_is_8x_a_same_size_gqa_model() -> None:
    mha, gqa = model("llama-65b"), model("llama-2-70b")
    assert mha.kv_elements_per_token / gqa.kv_elements_per_token == 8
    kv = [
        gb(estimate(request("inference", name, context_tokens=4096)), "kv_cache")
        for name in ("llama-65b", "llama-2-70b")
    ]
    assert kv[0] == pytest.approx(8 * kv[1])
    assert (
        model("llama-2-7b").kv_elements_per_token == 4 * model("mistral-7b").kv_elements_per_token
    )


def test_fp8_kv_cache_halves_it() -> None:
    bf16 = estimate(request("inference", "llama-3.1-8b", context_tokens=32768))
    fp8 = estimate(request("inference", "llama-3.1-8b", context_tokens=32768, kv_precision="fp8"))
    assert gb(fp8, "kv_cache") == pytest.approx(gb(bf16, "kv_cache") / 2)


def test_tensor_parallel_splits_weights_and_kv_heads() -> None:
    one = estimate(request("inference", "llama-3.1-70b"))
    two = estimate(request("inference", "llama-3.1-70b", gpus=2))
    assert gb(two, "weights") == pytest.approx(gb(one, "weights") / 2)
    assert gb(two, "kv_cache") == pytest.approx(gb(one, "kv_cache") / 2)
    sixteen = estimate(request("inference", "llama-3.1-70b", gpus=16))  # 8 KV heads: replicated
    assert gb(sixteen, "kv_cache") == pytest.approx(gb(one, "kv_cache") / 8)
    assert gb(two, "overhead") == gb(one, "overhead")


def test_checkpointing_off_costs_far_more_activation_memory() -> None:
    on = estimate(request(name="llama-3.1-8b", method="lora", context_tokens=4096))
    off = estimate(
        request(
            name="llama-3.1-8b", method="lora", context_tokens=4096, gradient_checkpointing=False
        )
    )
    assert gb(on, "activations") == pytest.approx((32 * 4096 * 4096 * 2 + 4096 * 4096 * 34) / 1e9)
    assert gb(off, "activations") == pytest.approx(32 * 4096 * 4096 * 34 / 1e9)
    assert gb(off, "activations") > 10 * gb(on, "activations")


def test_lora_adapters_are_half_a_percent_at_16_bytes() -> None:
    est = estimate(request(params_b=10, method="lora"))
    adapter_state = gb(est, "adapters") + gb(est, "gradients") + gb(est, "optimizer")
    assert adapter_state == pytest.approx(10 * 0.005 * 16)
    assert gb(est, "weights") == pytest.approx(20)


def test_qlora_base_is_about_0_52_bytes_per_parameter() -> None:
    est = estimate(request(params_b=70, method="qlora"))  # bf16 given: base still NF4
    assert gb(est, "weights") == pytest.approx(70 * 0.516, rel=0.01)
    assert any("compute dtype" in a for a in est.assumptions)


def test_inference_headroom_reproduces_vllm_utilization() -> None:
    est = estimate(request("inference", "llama-3.1-8b"))
    rest = est.per_gpu_gb - gb(est, "headroom")
    # need <= 95% of the card  <=>  everything else <= 90% of the card
    assert est.per_gpu_gb * 0.90 == pytest.approx(rest * 0.95)


def test_usable_memory_reads_card_capacity_as_binary_gb() -> None:
    assert usable_memory_gb(80) == pytest.approx(80 * 1.073741824 * 0.95)
    assert 81 < usable_memory_gb(80) < 82


def test_pretraining_is_full_training() -> None:
    pre = estimate(request("pretraining", params_b=7))
    fine = estimate(request("fine-tuning", params_b=7, method="full"))
    assert pre.per_gpu_gb == fine.per_gpu_gb


def test_full_training_with_fp8_compute_keeps_16_bit_weights() -> None:
    est = estimate(request(params_b=7, precision="fp8"))
    assert model_states_per_gpu(est) == pytest.approx(7 * 16)
    assert any("Transformer Engine" in a for a in est.assumptions)


def test_every_estimate_states_its_assumptions_and_formulas() -> None:
    for req in (
        request("inference", params_b=13),
        request(name="qwen2.5-7b", method="qlora"),
        request("pretraining", params_b=1, gpus=4, zero_stage=3),
    ):
        est = estimate(req)
        assert est.assumptions and all(a.endswith(".") for a in est.assumptions)
        assert all(item.formula for item in est.breakdown)
        assert any("decimal" in a for a in est.assumptions)


def test_json_contract() -> None:
    data = estimate(request(name="llama-3.1-70b", method="lora", gpus=2, zero_stage=3)).to_json()
    assert {"total_gb", "per_gpu_gb", "breakdown", "assumptions", "host_ram_gb"} <= set(data)
    assert all(set(row) == {"item", "gb", "per_gpu_gb", "formula"} for row in data["breakdown"])
    assert sum(row["gb"] for row in data["breakdown"]) == pytest.approx(data["total_gb"], abs=0.01)
    json.dumps(data)


# ---------------------------------------------------------------------------------------------
# Properties

WORKLOADS = st.sampled_from(
    [
        ("inference", None, "bf16"),
        ("inference", None, "nvfp4"),
        ("fine-tuning", "full", "bf16"),
        ("fine-tuning", "lora", "bf16"),
        ("fine-tuning", "qlora", "nf4"),
        ("pretraining", None, "fp32"),
    ]
)
PARAMS = st.floats(min_value=0.05, max_value=1000, allow_nan=False)
CONTEXT = st.integers(min_value=1, max_value=262_144)
BATCH = st.integers(min_value=1, max_value=256)
GPUS = st.integers(min_value=1, max_value=64)


def _req(kind: tuple[str, str | None, str], params_b: float, **fields: object) -> SizingRequest:
    workload, method, precision = kind
    return SizingRequest(
        workload=workload, params_b=params_b, method=method, precision=precision, **fields
    )  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(WORKLOADS, PARAMS, PARAMS, CONTEXT, BATCH, st.integers(0, 3), GPUS)
def test_memory_grows_with_parameters(
    kind: tuple[str, str | None, str],
    a: float,
    b: float,
    context: int,
    batch: int,
    zero: int,
    gpus: int,
) -> None:
    low, high = sorted((a, b))
    small = estimate(
        _req(kind, low, context_tokens=context, batch_size=batch, zero_stage=zero, gpus=gpus)
    )
    large = estimate(
        _req(kind, high, context_tokens=context, batch_size=batch, zero_stage=zero, gpus=gpus)
    )
    assert small.per_gpu_gb <= large.per_gpu_gb * (1 + 1e-12)
    assert small.total_gb <= large.total_gb * (1 + 1e-12)


@settings(max_examples=300, deadline=None)
@given(WORKLOADS, PARAMS, CONTEXT, CONTEXT, BATCH, BATCH, GPUS)
def test_memory_grows_with_context_and_batch(
    kind: tuple[str, str | None, str],
    params_b: float,
    c1: int,
    c2: int,
    b1: int,
    b2: int,
    gpus: int,
) -> None:
    (c_low, c_high), (b_low, b_high) = sorted((c1, c2)), sorted((b1, b2))
    zero = 3 if kind[0] != "inference" else 0
    low = estimate(
        _req(kind, params_b, context_tokens=c_low, batch_size=b_low, gpus=gpus, zero_stage=zero)
    )
    high = estimate(
        _req(kind, params_b, context_tokens=c_high, batch_size=b_high, gpus=gpus, zero_stage=zero)
    )
    assert low.per_gpu_gb <= high.per_gpu_gb * (1 + 1e-12)


@settings(max_examples=200, deadline=None)
@given(WORKLOADS, PARAMS, CONTEXT, GPUS, GPUS, st.booleans())
def test_per_gpu_memory_does_not_grow_with_gpus_under_zero3_or_tensor_parallel(
    kind: tuple[str, str | None, str],
    params_b: float,
    context: int,
    n1: int,
    n2: int,
    offload: bool,
) -> None:
    few, many = sorted((n1, n2))
    training = kind[0] != "inference"
    extra = {"zero_stage": 3, "offload": offload and kind[1] != "qlora"} if training else {}
    small = estimate(_req(kind, params_b, context_tokens=context, gpus=few, **extra))
    large = estimate(_req(kind, params_b, context_tokens=context, gpus=many, **extra))
    assert large.per_gpu_gb <= small.per_gpu_gb * (1 + 1e-12)


@settings(max_examples=300, deadline=None)
@given(
    WORKLOADS,
    PARAMS,
    CONTEXT,
    BATCH,
    GPUS,
    st.integers(0, 3),
    st.booleans(),
    st.sampled_from(["adamw", "adamw-8bit"]),
    st.sampled_from([12, 16, 18]),
)
def test_breakdown_sums_to_totals_and_is_never_negative(
    kind: tuple[str, str | None, str],
    params_b: float,
    context: int,
    batch: int,
    gpus: int,
    zero: int,
    checkpointing: bool,
    optimizer: str,
    convention: int,
) -> None:
    est = estimate(
        _req(
            kind,
            params_b,
            context_tokens=context,
            batch_size=batch,
            gpus=gpus,
            zero_stage=zero,
            gradient_checkpointing=checkpointing,
            optimizer=optimizer,
            bytes_per_param_convention=convention,
        )
    )
    assert est.total_gb > 0 and est.per_gpu_gb > 0 and est.host_ram_gb >= 0
    assert all(item.gb >= 0 and item.per_gpu_gb >= 0 for item in est.breakdown)
    assert math.fsum(i.gb for i in est.breakdown) == pytest.approx(est.total_gb, rel=1e-9)
    assert math.fsum(i.per_gpu_gb for i in est.breakdown) == pytest.approx(est.per_gpu_gb, rel=1e-9)
    assert est.total_gb == pytest.approx(est.per_gpu_gb * gpus, rel=1e-9)


@settings(max_examples=150, deadline=None)
@given(WORKLOADS, PARAMS, st.sampled_from([16, 24, 32, 48, 80, 96, 141, 180]), st.integers(0, 3))
def test_gpus_needed_is_the_fewest_that_fit(
    kind: tuple[str, str | None, str], params_b: float, memory: float, zero: int
) -> None:
    req = _req(kind, params_b, zero_stage=zero)
    found = gpus_needed(req, memory, max_gpus=8)
    limit = usable_memory_gb(memory)
    if found is None:
        assert estimate(replace(req, gpus=1)).per_gpu_gb > limit
        return
    assert estimate(replace(req, gpus=found)).per_gpu_gb <= limit
    if found > 1:
        previous = found // 2 if kind[0] == "inference" else found - 1
        assert estimate(replace(req, gpus=previous)).per_gpu_gb > limit


def test_gpus_needed_zero0_training_never_uses_more_gpus() -> None:
    req = request(params_b=70)  # 1.1 TB replicated: more GPUs do not help
    assert gpus_needed(req, 80, max_gpus=64) is None
    assert gpus_needed(replace(req, zero_stage=3), 80, max_gpus=64) is not None
    assert gpus_needed(request(params_b=1), 80) == 1


def test_gpus_needed_inference_uses_powers_of_two() -> None:
    req = request("inference", "llama-3.1-70b")
    assert gpus_needed(req, 80) == 2
    assert gpus_needed(req, 48) == 4
    assert gpus_needed(req, 24) == 8
    assert gpus_needed(req, 16) is None
    assert gpus_needed(req, 16, max_gpus=16) == 16


def test_gpus_needed_rejects_bad_limits() -> None:
    with pytest.raises(UsageError, match="whole number") as caught:
        gpus_needed(request(params_b=1), 80, max_gpus=0)
    assert caught.value.field == "max_gpus"
    with pytest.raises(UsageError, match="device memory"):
        gpus_needed(request(params_b=1), 0)


def test_estimates_are_fast() -> None:
    start = time.perf_counter()
    for i in range(300):
        gpus_needed(request("fine-tuning", params_b=20 + i / 100, method="lora", zero_stage=3), 24)
    per_call = (time.perf_counter() - start) / 300
    assert per_call < 0.005  # each call runs up to 8 estimates; typically ~0.2 ms uncached


# ---------------------------------------------------------------------------------------------
# Model catalog


def test_catalog_has_the_required_architectures() -> None:
    expected = {
        "llama-3.1-8b": (32, 4096, 32, 8, 128),
        "llama-3.1-70b": (80, 8192, 64, 8, 128),
        "llama-3.1-405b": (126, 16384, 128, 8, 128),
        "qwen2.5-7b": (28, 3584, 28, 4, 128),
        "qwen2.5-32b": (64, 5120, 40, 8, 128),
        "qwen2.5-72b": (80, 8192, 64, 8, 128),
        "mistral-7b": (32, 4096, 32, 8, 128),
        "llama-2-13b": (40, 5120, 40, 40, 128),
    }
    for name, shape in expected.items():
        arch = CATALOG[name]
        assert (
            arch.layers,
            arch.hidden,
            arch.attention_heads,
            arch.kv_heads,
            arch.head_dim,
        ) == shape
        assert "config.json" in arch.source and not arch.assumed
    assert CATALOG["qwen2.5-7b"].params_b == pytest.approx(7.6, abs=0.05)
    assert CATALOG["qwen2.5-32b"].params_b == pytest.approx(32.8, abs=0.05)
    assert CATALOG["qwen2.5-72b"].params_b == pytest.approx(72.7, abs=0.05)
    assert CATALOG["mistral-7b"].params_b == pytest.approx(7.2, abs=0.05)


@pytest.mark.parametrize(
    "spelling",
    [
        "llama-3-70b",
        "LLAMA-3-70B",
        "Llama 3.1 70B",
        "llama_3.1_70b",
        "Llama-3.1-70B-Instruct",
        "meta-llama/Llama-3.1-70B",
    ],
)
def test_models_resolve_case_insensitively_with_aliases(spelling: str) -> None:
    assert resolve_model(spelling, CATALOG).name == "llama-3.1-70b"


def test_unknown_model_suggests_the_closest() -> None:
    with pytest.raises(
        UsageError, match=r"^unknown model 'lama-3-70b' \(did you mean 'llama-3-70b'\?\)"
    ) as caught:
        resolve_model("lama-3-70b", CATALOG)
    assert caught.value.field == "model"


def test_catalog_is_cached() -> None:
    assert load_model_catalog()["mistral-7b"] is CATALOG["mistral-7b"]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "models.yaml"
    path.write_text(text, encoding="utf-8")
    return path


GOOD_ENTRY = """\
  - name: tiny
    params_b: 1
    layers: 4
    hidden: 512
    attention_heads: 8
    kv_heads: 2
    head_dim: 64
    source: test config.json
"""


def test_catalog_from_another_file(tmp_path: Path) -> None:
    catalog = load_model_catalog(_write(tmp_path, "models:\n" + GOOD_ENTRY))
    assert catalog["tiny"].kv_elements_per_token == 2 * 4 * 2 * 64


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            GOOD_ENTRY.replace("kv_heads: 2", "kv_heads: 3"),
            r":7:15: kv_heads 3 must divide attention_heads 8",
        ),
        (GOOD_ENTRY.replace("    layers: 4\n", ""), r":2:5: missing required key 'layers'"),
        (GOOD_ENTRY + "    layer: 4\n", r":10:5: unknown key 'layer' \(did you mean 'layers'\?\)"),
        (GOOD_ENTRY.replace("hidden: 512", "hidden: -512"), r":5:13: hidden: must be positive"),
        (GOOD_ENTRY.replace("params_b: 1", "params_b: big"), r":3:15: params_b: expected a number"),
        (GOOD_ENTRY + GOOD_ENTRY, r"model name 'tiny' is already used by entry 1"),
        (GOOD_ENTRY + "    layers: 5\n", r"duplicate key 'layers'"),
    ],
)
def test_catalog_errors_point_at_the_line(tmp_path: Path, entry: str, message: str) -> None:
    path = _write(tmp_path, "models:\n" + entry)
    with pytest.raises(FileErrors, match=message) as info:
        load_model_catalog(path)
    assert str(info.value).startswith(str(path.resolve()))


def test_fallback_architecture_is_stated_and_close_to_real_gqa_models() -> None:
    for name in (
        "llama-3.1-8b",
        "llama-3.1-70b",
        "llama-3.1-405b",
        "mistral-7b",
        "qwen2.5-32b",
        "qwen2.5-72b",
        "llama-2-70b",
    ):
        real = CATALOG[name]
        fitted = architecture_from_params(real.params_b)
        assert fitted.assumed and fitted.kv_heads == 8 and fitted.head_dim == 128
        assert fitted.kv_elements_per_token / real.kv_elements_per_token == pytest.approx(
            1, abs=0.2
        )
        assert fitted.layers * fitted.hidden / (real.layers * real.hidden) == pytest.approx(
            1, abs=0.2
        )
    est = estimate(request("inference", params_b=70))
    assert any("No model was named" in a and "76 layers" in a for a in est.assumptions)


@settings(max_examples=200, deadline=None)
@given(PARAMS, PARAMS)
def test_fallback_architecture_grows_with_parameters(a: float, b: float) -> None:
    low, high = architecture_from_params(min(a, b)), architecture_from_params(max(a, b))
    assert low.layers <= high.layers and low.hidden <= high.hidden and low.kv_heads <= high.kv_heads


# ---------------------------------------------------------------------------------------------
# Request validation (library callers get the same UsageErrors as the CLI)


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"params_b": 0}, "params_b", "positive number"),
        ({"params_b": -3}, "params_b", "positive number"),
        ({"params_b": float("nan")}, "params_b", "positive number"),
        ({"precision": "fp9"}, "precision", "unknown precision"),
        ({"kv_precision": "fp7"}, "kv_precision", "unknown precision"),
        ({"context_tokens": 0}, "context", "whole number"),
        ({"batch_size": -1}, "batch", "whole number"),
        ({"gpus": 0}, "gpus", "whole number"),
        ({"zero_stage": 4}, "zero", "must be 0, 1, 2 or 3"),
        ({"optimizer": "sgd"}, "optimizer", "unknown optimizer"),
        ({"bytes_per_param_convention": 17}, "bytes_per_param", "must be 12, 16 or 18"),
        ({"method": "dora"}, "method", "unknown method"),
        ({"workload": "inferance"}, "workload", "unknown workload"),
        ({"workload": "scientific"}, "workload", "scientific is not sized"),
        ({"workload": "pretraining", "method": "lora"}, "method", "lora: pretraining"),
        ({"offload": True}, "offload", "needs ZeRO"),
        ({"zero_stage": 2, "offload": True, "optimizer": "adamw-8bit"}, "offload", "adamw-8bit"),
    ],
)
def test_bad_requests_name_the_field(fields: dict[str, object], field: str, message: str) -> None:
    """Domain code names the field (the command line maps it to its flag), never a flag."""
    base: dict[str, object] = {"workload": "fine-tuning", "params_b": 7}
    base.update(fields)
    with pytest.raises(UsageError, match=message) as caught:
        estimate(SizingRequest(**base))  # type: ignore[arg-type]
    assert caught.value.field == field and "--" not in caught.value.message


def test_sizing_imports_nothing_heavy() -> None:
    code = (
        "import sys, gpu_advisor.arithmetic.sizing, gpu_advisor.cli.size, "
        "gpu_advisor.arithmetic.claims; "
        "heavy = {'rich', 'pydantic', 'networkx', 'durable', 'textual'} & "
        "{m.split('.')[0] for m in sys.modules}; print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------------------------------------
# The `size` command

FAKE_DEVICES = [
    ("rtx-5090", "RTX 5090", 32.0),
    ("rtx-pro-6000-blackwell", "RTX PRO 6000", 96.0),
    ("h100-pcie", "H100 PCIe", 80.0),
    ("b200", "B200", 180.0),
]


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="gpu-advisor")
    size_command.register(root.add_subparsers(dest="command"))
    return root


def parse(*argv: str) -> argparse.Namespace:
    return parser().parse_args(["size", *argv])


@pytest.fixture()
def fake_kb(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(size_command, "load_devices", lambda kb: list(FAKE_DEVICES))


def test_register_wires_run() -> None:
    args = parse("--params-b", "7", "--workload", "inference")
    assert args.func is size_command.run
    help_text = parser()._subparsers._group_actions[0].choices["size"].format_help()  # type: ignore[union-attr]
    for flag in (
        "--params-b",
        "--model",
        "--workload",
        "--zero",
        "--offload",
        "--max-gpus",
        "--kb",
    ):
        assert flag in help_text


def test_text_output(fake_kb: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        size_command.run(
            parse("--model", "llama-3-70b", "--workload", "inference", "--max-gpus", "4")
        )
        == 0
    )
    out = capsys.readouterr().out
    for text in (
        "weights",
        "kv_cache",
        "overhead",
        "GB = 10^9 bytes",
        "Assumptions",
        "RTX PRO 6000 (96 GB, 97.9 usable): 2 GPUs",
        "B200 (180 GB, 183.6 usable): 1 GPU",
        "H100 PCIe (80 GB, 81.6 usable): 2 GPUs",
        "Does not fit at up to 4 GPUs: RTX 5090 (32 GB)",
    ):
        assert text in out


def test_text_output_explains_zero0(fake_kb: None, capsys: pytest.CaptureFixture[str]) -> None:
    size_command.run(parse("--params-b", "13", "--workload", "fine-tuning"))
    assert "ZeRO-0 replicates everything on each GPU; try --zero 3" in capsys.readouterr().out


def test_text_output_shows_host_ram(fake_kb: None, capsys: pytest.CaptureFixture[str]) -> None:
    size_command.run(
        parse("--params-b", "7", "--workload", "fine-tuning", "--zero", "2", "--offload")
    )
    assert "Host RAM for offloaded optimizer state: 168.0 GB" in capsys.readouterr().out


def test_json_output(fake_kb: None, capsys: pytest.CaptureFixture[str]) -> None:
    size_command.run(
        parse(
            "--model",
            "qwen2.5-72b",
            "--workload",
            "fine-tuning",
            "--method",
            "qlora",
            "--context",
            "2048",
            "--format",
            "json",
        )
    )
    data = json.loads(capsys.readouterr().out)
    assert {"total_gb", "per_gpu_gb", "breakdown", "assumptions", "host_ram_gb", "fits"} <= set(
        data
    )
    assert data["request"]["precision"] == "nf4"
    fits = {row["device"]: row["gpus"] for row in data["fits"]}
    assert fits == {"rtx-pro-6000-blackwell": 1, "h100-pcie": 1, "b200": 1}
    assert data["does_not_fit"] == ["rtx-5090"]
    req = size_command.build_request(
        parse(
            "--model",
            "qwen2.5-72b",
            "--workload",
            "fine-tuning",
            "--method",
            "qlora",
            "--context",
            "2048",
        )
    )
    for device_id, _, memory in FAKE_DEVICES:
        assert fits.get(device_id) == gpus_needed(req, memory)


def test_json_fits_with_zero3(fake_kb: None, capsys: pytest.CaptureFixture[str]) -> None:
    size_command.run(
        parse(
            "--params-b",
            "70",
            "--workload",
            "pretraining",
            "--zero",
            "3",
            "--max-gpus",
            "64",
            "--format",
            "json",
        )
    )
    data = json.loads(capsys.readouterr().out)
    fits = {row["device"]: row["gpus"] for row in data["fits"]}
    assert fits["b200"] < fits["rtx-pro-6000-blackwell"] < fits["h100-pcie"] <= 64
    assert data["does_not_fit"] == ["rtx-5090"]  # activations and buffers alone exceed 32 GB


def test_real_knowledge_base_when_it_loads(capsys: pytest.CaptureFixture[str]) -> None:
    knowledge = pytest.importorskip("gpu_advisor.knowledge.kb_schema")
    try:
        knowledge.load_knowledge()
    except FileErrors:
        pytest.skip("the shipped knowledge base does not load yet")
    size_command.run(parse("--params-b", "8", "--workload", "inference", "--format", "json"))
    data = json.loads(capsys.readouterr().out)
    assert data["fits"] and all(row["gpus"] == 1 for row in data["fits"])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ((), "--params-b N"),
        (
            ("--params-b", "7", "--model", "mistral-7b", "--workload", "inference"),
            "--params-b and --model",
        ),
        (
            ("--model", "mistrel-7b", "--workload", "inference"),
            r"--model: unknown model 'mistrel-7b' \(did you mean",
        ),
        (("--params-b", "7"), "--workload is required"),
        (
            ("--params-b", "7", "--workload", "inferense"),
            r"--workload: unknown workload 'inferense' \(did you mean 'inference'",
        ),
        (("--params-b", "7", "--workload", "scientific"), "--workload: scientific is not sized"),
        (
            ("--params-b", "7", "--workload", "inference", "--precision", "bf61"),
            r"--precision: unknown precision 'bf61' \(did you mean 'bf16'",
        ),
        (("--params-b", "7", "--workload", "inference", "--kv-precision", "fp9"), "--kv-precision"),
        (
            ("--params-b", "7", "--workload", "fine-tuning", "--zero", "4"),
            "--zero: must be 0, 1, 2 or 3",
        ),
        (
            ("--params-b", "7", "--workload", "fine-tuning", "--zero", "-1"),
            "--zero: must be 0, 1, 2 or 3",
        ),
        (
            ("--params-b", "7", "--workload", "fine-tuning", "--method", "lorra"),
            r"--method: unknown method 'lorra' \(did you mean 'lora'",
        ),
        (
            ("--params-b", "7", "--workload", "pretraining", "--method", "qlora"),
            "--method: qlora: pretraining",
        ),
        (("--params-b", "7", "--workload", "fine-tuning", "--offload"), "--offload: needs ZeRO"),
        (("--params-b", "7", "--workload", "fine-tuning", "--optimizer", "adam8"), "--optimizer"),
        (
            ("--params-b", "7", "--workload", "fine-tuning", "--bytes-per-param", "20"),
            "--bytes-per-param",
        ),
    ],
)
def test_size_command_usage_errors(fake_kb: None, argv: tuple[str, ...], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        size_command.run(parse(*argv))


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (("--params-b", "0"), "--params-b"),
        (("--params-b", "-5"), "--params-b"),
        (("--params-b", "seven"), "--params-b"),
        (("--params-b", "nan"), "--params-b"),
        (("--params-b", "inf"), "--params-b"),
        (("--context", "0"), "--context"),
        (("--context", "1.5"), "--context"),
        (("--batch", "-1"), "--batch"),
        (("--gpus", "0"), "--gpus"),
        (("--max-gpus", "zero"), "--max-gpus"),
        (("--zero", "three"), "--zero"),
        (("--bytes-per-param", "16.5"), "--bytes-per-param"),
        (("--format", "xml"), "--format"),
    ],
)
def test_argparse_rejects_bad_numbers(
    argv: tuple[str, ...], flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        parse("--workload", "inference", *argv)
    assert info.value.code == 2
    assert f"argument {flag}" in capsys.readouterr().err


def test_kb_folder_models_override(
    tmp_path: Path, fake_kb: None, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(tmp_path, "models:\n" + GOOD_ENTRY)
    size_command.run(
        parse(
            "--model", "tiny", "--workload", "inference", "--kb", str(tmp_path), "--format", "json"
        )
    )
    assert json.loads(capsys.readouterr().out)["request"]["model"] == "tiny"


def test_docs_worked_table_matches_the_code() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "sizing.md").read_text(encoding="utf-8")
    row = re.compile(
        r"^\| `([a-z0-9.-]+)` \([0-9.]+B\) \| ([0-9.]+) \| ([0-9.]+) \| ([0-9.]+)-([0-9.]+) \| "
        r"([0-9]+) \| ([0-9]+)-([0-9]+) \| ([0-9.]+) \| ([0-9.]+) \|$",
        re.MULTILINE,
    )
    rows = row.findall(docs)
    assert len(rows) == 4
    for name, *figures in rows:
        arch = CATALOG[name]

        def sized(arch: ModelArch = arch, **fields: object) -> Estimate:
            request = SizingRequest(params_b=arch.params_b, model=arch, **fields)  # type: ignore[arg-type]
            return estimate(request)

        full = sized(workload="fine-tuning", context_tokens=2048)
        computed = [
            gb(sized(workload="inference"), "weights"),
            gb(sized(workload="inference", precision="fp8"), "weights"),
            gb(sized(workload="inference", precision="nf4"), "weights"),
            gb(sized(workload="inference", precision="nvfp4"), "weights"),
            model_states_per_gpu(full),
            full.total_gb,
            sized(
                workload="fine-tuning", context_tokens=2048, bytes_per_param_convention=18
            ).total_gb,
            sized(workload="fine-tuning", method="lora", context_tokens=2048).total_gb,
            sized(
                workload="fine-tuning", method="qlora", precision="nf4", context_tokens=2048
            ).total_gb,
        ]
        for shown, value in zip(figures, computed, strict=True):
            assert float(shown) == pytest.approx(value, abs=0.51 if "." not in shown else 0.051)
