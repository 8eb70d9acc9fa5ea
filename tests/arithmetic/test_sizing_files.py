"""The sizing of a model read from its own files, worked by hand against published figures.

Sources:
- vLLM paper (Kwon et al., "Efficient Memory Management for Large Language Model Serving with
  PagedAttention", SOSP 2023, section 3): a 13B model's KV cache is 800 KB per token, 2 (K, V)
  x 5,120 hidden x 40 layers x 2 B, and 2,048 tokens per sequence; Llama-2-13B has the same
  shape (40 layers, 40 heads x 128, multi-head): 819,200 B per token.
- QLoRA paper (Dettmers et al. 2023): LLaMA-65B finetuned on one 48 GB GPU with NF4, double
  quantization and paged optimizers; their script (artidoro/qlora,
  scripts/finetune_guanaco_65b.sh) uses source_max_len 16 + target_max_len 512 and
  per_device_train_batch_size 4 with gradient checkpointing.
- Mixtral 8x7B model card: 46.7B parameters, 12.9B used per token.
- DeepSeek-V3 technical report: 671B parameters, 37B activated; FP8 weights, MLA with
  kv_lora_rank 512 and a 64-dimensional rope key; served on 8 x H200 (SGLang, vLLM guides).
- Gemma 2 config: sliding_window 4,096 on alternate layers.

GB in the sizing are decimal; a card's usable memory is its stated GB x 2^30/10^9 x 0.95.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gpu_advisor.arithmetic.model_memory import FileModel, file_model
from gpu_advisor.arithmetic.sizing import (
    SizingRequest,
    estimate,
    gpus_needed,
    resolve_model_reference,
    usable_memory_gb,
)
from gpu_advisor.errors import UsageError
from gpu_advisor.knowledge.model_files import read_model
from tests.knowledge.test_model_files import write_gguf

MODELS = Path(__file__).parents[1] / "fixtures" / "models"


def model(name: str) -> FileModel:
    return file_model(read_model(MODELS / name))


def inference(arch: FileModel, **changes: object) -> SizingRequest:
    return SizingRequest(workload="inference", params_b=arch.params_b, model=arch, **changes)  # type: ignore[arg-type]


def item_bytes(req: SizingRequest, name: str) -> float:
    found = estimate(req).item(name)
    assert found is not None
    return found.per_gpu_gb * 1e9


def test_llama_2_13b_kv_cache_is_the_vllm_papers_800_kb_per_token() -> None:
    # 2 x 40 layers x 40 KV heads x 128 x 2 B = 819,200 B per token; x 2,048 tokens
    # = 1,677,721,600 B for one sequence.
    req = inference(model("llama-2-13b"), context_tokens=2048, kv_precision="fp16")
    assert item_bytes(req, "kv_cache") == pytest.approx(819_200 * 2048, abs=1)
    assert 819_200 * 2048 == 1_677_721_600
    # The shape fitted to 13.0B parameters (no model named) gave 4.6x less: hidden
    # (13.016e9 x 112 / 12.75)^(1/3) = 4,853 -> 4,864, layers 4,853/112 -> 43, 8 KV heads:
    # 2 x 43 x 8 x 128 x 2 B = 176,128 B per token; 819,200 / 176,128 = 4.65.
    fitted = SizingRequest(
        workload="inference", params_b=13.015864320, context_tokens=2048, kv_precision="fp16"
    )
    assert item_bytes(fitted, "kv_cache") == pytest.approx(176_128 * 2048, abs=1)


def test_the_output_says_where_each_term_came_from() -> None:
    notes = " ".join(estimate(inference(model("llama-2-13b"))).assumptions)
    assert "40 layers (num_hidden_layers)" in notes
    assert "40 KV heads (num_key_value_heads)" in notes
    assert "dimension 128 (hidden_size / num_attention_heads)" in notes
    assert "vocabulary 32,000 (vocab_size)" in notes and "Multi-head attention" in notes
    # LLaMA-65B predates num_key_value_heads: the output says what stood in for it
    older = " ".join(estimate(inference(model("llama-65b"))).assumptions)
    assert "64 KV heads (num_attention_heads (no num_key_value_heads" in older


def test_qlora_65b_fits_one_48_gb_card_as_in_the_qlora_paper() -> None:
    # 48 GB card: 48 x 1.073741824 x 0.95 = 48.9626 GB usable.
    assert usable_memory_gb(48) == pytest.approx(48.9626, abs=1e-4)
    llama = model("llama-65b")  # 65,285,660,672 params, 80 layers, hidden 8,192, vocab 32,000
    # weights: NF4 linear layers + 16-bit embeddings = 34,456,969,666 B (test_model_memory);
    # adapters 0.5% x 65,285,660,672 = 326,428,303.36 params: x 4 B = 1,305,713,213 (weights),
    # x 4 B (gradients), x 8 B = 2,611,426,427 (Adam moments).
    paper = SizingRequest(
        workload="fine-tuning",
        params_b=llama.params_b,
        model=llama,
        method="qlora",
        precision="nf4",
        context_tokens=528,  # source_max_len 16 + target_max_len 512
        batch_size=4,
    )
    # activations, 2,112 tokens: 80 x 2,112 x 8,192 x 2 B = 2,768,240,640 (checkpoints)
    # + 2,112 x 8,192 x 34 B = 588,251,136 (one layer recomputed) = 3,356,491,776;
    # logits 2,112 x 32,000 x 8 B = 540,672,000; overhead 1,000,000,000.
    # total 34,456,969,666 + 1,305,713,213 x 2 + 2,611,426,427 + 3,356,491,776 + 540,672,000
    #     + 1,000,000,000 = 44,576,986,296 B = 44.58 GB <= 48.96.
    assert estimate(paper).per_gpu_gb == pytest.approx(44.576986, abs=1e-5)
    assert gpus_needed(paper, 48) == 1
    # At the questionnaire's defaults (4,096 tokens, batch 1): activations 80 x 4,096 x 8,192
    # x 2 + 4,096 x 8,192 x 34 = 6,509,559,808; logits 4,096 x 32,000 x 8 = 1,048,576,000;
    # total 34,456,969,666 + 5,222,852,853 + 6,509,559,808 + 1,048,576,000 + 1e9
    #     = 48,237,958,327 B = 48.24 GB: still one card.
    defaults = SizingRequest(
        workload="fine-tuning",
        params_b=llama.params_b,
        model=llama,
        method="qlora",
        precision="nf4",
    )
    assert estimate(defaults).per_gpu_gb == pytest.approx(48.237958, abs=1e-5)
    assert gpus_needed(defaults, 48) == 1
    # The shape fitted to the count (74 layers, hidden 8,320, an assumed 128,000 vocabulary,
    # NF4 on every weight) came to 50.30 GB and was refused: the bug the files fix.
    fitted = SizingRequest(
        workload="fine-tuning", params_b=llama.params_b, method="qlora", precision="nf4"
    )
    assert estimate(fitted).per_gpu_gb == pytest.approx(50.2987, abs=1e-4)
    assert gpus_needed(fitted, 48) is None


def test_mixtral_holds_every_expert_and_computes_with_two() -> None:
    mixtral = model("mixtral-8x7b")
    # all 46,702,792,704 weights in bf16 = 93,405,585,408 B (the model card's 46.7B)
    assert item_bytes(inference(mixtral), "weights") == pytest.approx(93_405_585_408, abs=1)
    # the demand's FLOPs and decode compute use the active 12,879,925,248 (the card's 12.9B)
    assert mixtral.active_params_b == pytest.approx(12.879925248)
    assert mixtral.params_b == pytest.approx(46.702792704)


def test_deepseek_v3_fp8_serves_on_eight_h200_not_eight_h100() -> None:
    deepseek = model("deepseek-v3")
    req = inference(deepseek, context_tokens=32768, gpus=8)
    # weights: the config's quantization_config says fp8 (128 x 128 blocks, fp32 scales):
    # 669,173,046,272 linear x (8 + 32/16384) / 8 + 1,853,358,080 embeddings x 2 B
    # = 673,043,134,758 B; / 8 GPUs = 84,130,391,845 B.
    assert item_bytes(req, "weights") == pytest.approx(673_043_134_758 / 8, abs=1)
    # KV: (512 latent + 64 rope) x 61 layers x 32,768 tokens x 2 B = 2,302,672,896 B, whole on
    # every GPU: the latent is shared by all heads, so tensor parallelism does not split it.
    assert item_bytes(req, "kv_cache") == pytest.approx(2_302_672_896, abs=1)
    # activations 8,192 x 7,168 x 24 + 129,280 x 4 = 1,409,803,264; overhead 1e9;
    # subtotal 88,842,867,005; headroom x (0.95/0.9 - 1) = 4,935,714,834; total 93.78 GB.
    assert estimate(req).per_gpu_gb == pytest.approx(93.778582, abs=1e-5)
    one = inference(deepseek, context_tokens=32768)
    assert gpus_needed(one, 141) == 8  # H200: 143.8 GB usable; 4 GPUs would hold 168 GB each
    assert gpus_needed(one, 80) is None  # H100: 81.6 GB usable < 93.78
    notes = " ".join(estimate(req).assumptions)
    assert "sized as fp8" in notes and "256 experts (n_routed_experts)" in notes


def test_gemma_2_sliding_layers_hold_only_their_window() -> None:
    # 21 local layers x min(8,192, 4,096) + 21 global x 8,192 = 258,048 layer-tokens
    # x 2 x 8 KV heads x 256 x 2 B = 2,113,929,216 B
    req = inference(model("gemma-2-9b"), context_tokens=8192)
    assert item_bytes(req, "kv_cache") == pytest.approx(2_113_929_216, abs=1)
    assert "21 of 42 layers keep only the last 4,096 tokens" in " ".join(estimate(req).assumptions)


def test_tied_embeddings_are_counted_once() -> None:
    # Qwen2.5-7B unties (tie_word_embeddings false); Gemma 2 ties by default: 256,000 x 3,584
    # = 917,504,000 weights once, not twice.
    gemma = model("gemma-2-9b")
    assert gemma.spec.tied_embeddings and gemma.spec.embedding_params == 917_504_000
    assert "Embeddings tied (default for model_type 'gemma2')" in " ".join(
        estimate(inference(gemma)).assumptions
    )


def test_a_gguf_is_sized_by_its_own_tensor_types(tmp_path: Path) -> None:
    path = tmp_path / "tiny.gguf"
    write_gguf(path)
    tiny = resolve_model_reference(str(path))
    assert isinstance(tiny, FileModel)
    # 8,192 F16 x 16 + 65,536 Q4_K x 4.5 + 131,072 Q6_K x 6.5625 + 65,536 Q8_0 x 8.5
    # + 131,072 IQ4_XS x 4.25 bits = 300,032 B, whatever precision is asked
    req = SizingRequest(workload="inference", params_b=tiny.params_b, model=tiny, precision="fp8")
    assert item_bytes(req, "weights") == pytest.approx(300_032, abs=1e-6)
    assert "sized as stored" in " ".join(estimate(req).assumptions)


def test_llama_cpp_kv_types_are_accepted_for_files() -> None:
    llama = model("llama-3.1-8b")  # 131,072 B per token in bf16; q8_0: 65,536 x 34/32 = 69,632
    req = inference(llama, context_tokens=1000, kv_precision="q8_0")
    assert item_bytes(req, "kv_cache") == pytest.approx(69_632 * 1000, abs=1e-3)


def test_model_references() -> None:
    assert not isinstance(resolve_model_reference("llama-3.1-8b"), FileModel)
    assert isinstance(resolve_model_reference(str(MODELS / "llama-3.1-8b")), FileModel)
    with pytest.raises(UsageError, match="no such file or folder") as missing:
        resolve_model_reference(str(MODELS / "llama-9"))
    assert missing.value.field == "model"
    with pytest.raises(UsageError, match="or give a model's config.json"):
        resolve_model_reference("llama-9")
