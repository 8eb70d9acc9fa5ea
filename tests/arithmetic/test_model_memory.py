"""Weight and KV-cache bytes from model files, checked against published figures.

Sources for the expected numbers:
- vLLM paper (Kwon et al., SOSP 2023, section 3): a 13B OPT model's KV cache takes 800 KB per
  token = 2 (K and V) x 5120 hidden x 40 layers x 2 bytes. Llama-2-13B has the same shape
  (40 layers, 40 heads x 128 = 5120, multi-head): 819,200 B = 800 KiB.
- Llama 3 70B: 2 x 80 layers x 8 KV heads x 128 head_dim x 2 B = 327,680 B per token.
- DeepSeek-V3 (MLA): the cache holds kv_lora_rank 512 + qk_rope_head_dim 64 per layer per token:
  (512 + 64) x 61 x 2 B = 70,272 B in bf16.
- Mixtral 8x7B model card: 46.7B total parameters, 12.9B used per token.
- QLoRA paper (Dettmers et al. 2023): NF4 with double quantization costs 4 + 8/64 + 32/(64 x 256)
  = 4.127 bits per parameter (section 3) and finetunes LLaMA-65B on a single 48 GB GPU.
- NVFP4: 16-value blocks with an FP8 E4M3 scale (4.5 bits); MXFP4 (OCP MX spec): 32-value blocks
  with an E8M0 scale (4.25 bits); GGUF types: the gguf package's block table.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gpu_advisor.arithmetic.model_memory import (
    bits_per_weight,
    decode_bytes_per_token,
    flops_per_token,
    gguf_bits_per_weight,
    kv_bytes,
    kv_bytes_per_token,
    kv_element_bytes,
    weight_bytes,
)
from gpu_advisor.errors import UsageError
from gpu_advisor.knowledge.model_files import ModelSpec, read_model

MODELS = Path(__file__).parent.parent / "fixtures" / "models"


def model(name: str) -> ModelSpec:
    return read_model(MODELS / name)


def test_llama_2_13b_kv_matches_the_vllm_papers_800_kb() -> None:
    per_token = kv_bytes_per_token(model("llama-2-13b"), "fp16")
    assert per_token.value == 2 * 40 * 5120 * 2 == 819_200
    assert per_token.value / 1024 == 800
    assert per_token.formula == (
        "2 (K,V) x 40 KV heads x 128 head_dim x 40 layers x 2 B = "
        "819,200 B per token (multi-head attention)"
    )


def test_llama_3_1_70b_kv_per_token() -> None:
    assert kv_bytes_per_token(model("llama-3.1-70b")).value == 2 * 80 * 8 * 128 * 2 == 327_680


def test_deepseek_v3_latent_kv_per_token() -> None:
    per_token = kv_bytes_per_token(model("deepseek-v3"))
    assert per_token.value == (512 + 64) * 61 * 2 == 70_272
    assert "(512 kv_lora_rank + 64 rope)" in per_token.formula


def test_kv_cache_dtypes() -> None:
    spec = model("llama-3.1-8b")  # 2 x 32 layers x 8 KV heads x 128 = 65,536 elements per token
    assert kv_bytes_per_token(spec, "bf16").value == 65_536 * 2 == 131_072
    assert kv_bytes_per_token(spec, "fp8").value == 65_536
    assert kv_bytes_per_token(spec, "q8_0").value == 65_536 * 34 / 32 == 69_632
    assert kv_bytes_per_token(spec, "q4_0").value == 65_536 * 18 / 32 == 36_864
    with pytest.raises(UsageError, match="did you mean 'q8_0'") as caught:
        kv_element_bytes("q8-0")
    assert caught.value.field == "kv_cache_dtype"


def test_sliding_windows_cap_what_local_layers_hold() -> None:
    gemma = model("gemma-2-9b")  # per layer per token: 2 x 8 x 256 x 2 B = 8,192 B
    assert kv_bytes_per_token(gemma).value == 8_192 * 42 == 344_064
    # At 8,192 tokens: 21 local layers keep min(8192, 4096) = 4,096 tokens, 21 global keep 8,192:
    # (21 x 4,096 + 21 x 8,192) x 8,192 B = 258,048 x 8,192 = 2,113,929,216 B
    at_8k = kv_bytes(gemma, 8192)
    assert at_8k.value == 2_113_929_216
    assert "21 layers x min(8,192, 4,096)" in at_8k.formula
    # Within the window every layer holds the whole context: the same as no window.
    assert kv_bytes(gemma, 4096).value == 344_064 * 4096
    # Two sequences hold twice as much.
    assert kv_bytes(gemma, 8192, sequences=2).value == 2 * 2_113_929_216


def test_global_models_hold_context_times_per_token() -> None:
    spec = model("llama-3.1-70b")
    assert kv_bytes(spec, 128_000, "fp8").value == 327_680 / 2 * 128_000


def test_weight_bits_of_the_block_formats() -> None:
    assert bits_per_weight("nvfp4").value == 4 + 8 / 16 == 4.5
    assert bits_per_weight("mxfp4").value == 4 + 8 / 32 == 4.25
    assert bits_per_weight("nf4").value == pytest.approx(4.127, abs=5e-4)
    assert bits_per_weight("bf16").value == 16
    assert bits_per_weight("fp8").value == 8 + 32 / 16384


@pytest.mark.parametrize(
    ("kind", "bits"),
    [
        ("Q8_0", 8.5),  # 34 bytes per 32
        ("Q6_K", 6.5625),  # 210 bytes per 256
        ("Q5_K", 5.5),  # 176 per 256
        ("Q4_K", 4.5),  # 144 per 256
        ("Q3_K", 3.4375),  # 110 per 256
        ("Q2_K", 2.625),  # 84 per 256
        ("IQ4_XS", 4.25),  # 136 per 256
        ("IQ2_XXS", 2.0625),  # 66 per 256
    ],
)
def test_gguf_bits_come_from_the_packages_block_table(kind: str, bits: float) -> None:
    assert gguf_bits_per_weight(kind).value == bits
    assert bits_per_weight(kind.lower()).value == bits


def test_unknown_quantization_suggests_a_name() -> None:
    with pytest.raises(UsageError, match="did you mean 'nvfp4'") as caught:
        bits_per_weight("nvfp5")
    assert caught.value.field == "quantization"


def test_bf16_weights_are_two_bytes_each() -> None:
    result = weight_bytes(model("llama-3.1-8b"), "bf16")
    assert result.value == 8_030_261_248 * 2 == 16_060_522_496
    assert result.formula.startswith("8,030,261,248 weights x 16 bits / 8 = 16,060,522,496 B")


def test_qlora_65b_weights_fit_a_48_gb_card() -> None:
    # LLaMA-65B: 65,285,660,672 params; embeddings 2 x 32000 x 8192 = 524,288,000 stay 16-bit.
    # linear 64,761,372,672 x 4.126953125 / 8 = 33,408,393,666 B; + 524,288,000 x 2
    # = 34,456,969,666 B = 34.5 GB, leaving 13.5 GB of a 48 GB card for adapters, optimizer
    # state and activations (the QLoRA paper's 65B run on one 48 GB GPU).
    result = weight_bytes(model("llama-65b"), "nf4")
    assert result.value == pytest.approx(34_456_969_666, abs=1)
    assert result.value < 48e9
    assert "64,761,372,672 linear-layer weights x 4.12695 bits / 8" in result.formula


def test_deepseek_v3_in_block_fp8() -> None:
    # linear 671,026,404,352 - 1,853,358,080 = 669,173,046,272 x (8 + 32/16384) / 8
    # + 1,853,358,080 x 2 = 673,043,134,758 B: about 673 GB for the 671B model.
    assert weight_bytes(model("deepseek-v3"), "fp8").value == pytest.approx(673_043_134_758, abs=1)


def test_mixture_weights_count_every_expert_but_compute_only_the_active() -> None:
    mixtral = model("mixtral-8x7b")
    assert weight_bytes(mixtral, "bf16").value == 46_702_792_704 * 2
    # FLOPs: 2 x (12,879,925,248 active - 131,072,000 input embedding) = 25,497,706,496
    assert flops_per_token(mixtral).value == 2 * (12_879_925_248 - 32_000 * 4096)
    # Decode at batch 1 reads the same 12,748,853,248 weights at 2 B each.
    assert decode_bytes_per_token(mixtral, "bf16").value == 2 * 12_748_853_248


def test_attention_flops_follow_the_window() -> None:
    gemma = model("gemma-2-9b")
    # At 8,192 tokens: attended layer-tokens 21 x 4,096 + 21 x 8,192 = 258,048;
    # attention FLOPs 4 x 258,048 x 16 heads x 256 = 4,227,858,432.
    matmul = 2 * 9_241_705_984  # tied: the embedding is also the output head
    assert flops_per_token(gemma, 8192).value == matmul + 4 * 258_048 * 16 * 256


def test_stored_weights_of_a_config_alone_ask_for_a_quantization() -> None:
    with pytest.raises(UsageError, match="name a quantization"):
        weight_bytes(model("llama-3.1-8b"))


def test_stored_gguf_weights_are_summed_by_type(tmp_path: Path) -> None:
    from tests.knowledge.test_model_files import write_gguf

    path = tmp_path / "tiny.gguf"
    write_gguf(path)
    spec = read_model(path)
    result = weight_bytes(spec)
    # F16 8,192 x 16 + Q4_K 65,536 x 4.5 + Q6_K 131,072 x 6.5625 + Q8_0 65,536 x 8.5
    # + IQ4_XS 131,072 x 4.25 bits = 2,400,256 bits / 8 = 300,032 B: the file's own byte sizes.
    assert result.value == 300_032 == spec.stored_bytes
    assert "131,072 Q6_K x 6.5625 bits" in result.formula
