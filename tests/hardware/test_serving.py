"""Serving-engine launch settings from a model's files, with the memory worked by hand.

Usable memory per GPU for vLLM = card GB x 0.90 (its default gpu_memory_utilization) - 1 GB
runtime reserve. Setting names follow vLLM's EngineArgs (tensor_parallel_size,
pipeline_parallel_size, max_model_len, gpu_memory_utilization, kv_cache_dtype, quantization),
llama-server's flags and Ollama's Modelfile PARAMETERs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gpu_advisor.errors import UsageError
from gpu_advisor.hardware.serving import plan_launch
from gpu_advisor.knowledge.model_files import ModelSpec, read_model
from tests.knowledge.test_model_files import write_gguf

MODELS = Path(__file__).parents[1] / "fixtures" / "models"


def model(name: str) -> ModelSpec:
    return read_model(MODELS / name)


def test_vllm_splits_a_70b_in_fp8_over_two_80_gb_cards() -> None:
    # fp8 weights: 68,452,360,192 linear x 8.001953125 / 8 + 2,101,346,304 embeddings x 2 B
    #   = 72,671,764,802 B; KV for 32,768 tokens: 32,768 x 327,680 B = 10,737,418,240 B.
    # Usable per card 80 x 0.9 - 1 = 71 GB. TP1: 83.4 GB > 71. TP2: 41.7 GB each -> fits.
    plan = plan_launch(
        model("llama-3.1-70b"),
        engine="vllm",
        device_memory_gb=80,
        gpus=2,
        context=32768,
        quantization="fp8",
    )
    assert plan.fits
    assert plan.value("tensor_parallel_size") == 2
    assert plan.value("pipeline_parallel_size") == 1
    assert plan.value("max_model_len") == 32768
    assert plan.value("gpu_memory_utilization") == 0.90
    assert plan.value("kv_cache_dtype") == "auto"
    assert plan.value("quantization") == "fp8"
    assert all(setting.reason for setting in plan.settings)


def test_vllm_shortens_the_context_to_what_memory_holds() -> None:
    # 8B in bf16 on one 24 GB card: usable 24 x 0.9 - 1 = 20.6 GB; weights 16.060522496 GB;
    # left 4.539477504 GB / 131,072 B per token = 34,633 tokens -> 34,560 (a multiple of 256).
    plan = plan_launch(
        model("llama-3.1-8b"), engine="vllm", device_memory_gb=24, gpus=1, context=131072
    )
    assert plan.value("max_model_len") == 34560
    reason = next(s.reason for s in plan.settings if s.name == "max_model_len")
    assert "not the 131,072 asked" in reason


def test_vllm_respects_the_models_own_context_limit() -> None:
    plan = plan_launch(
        model("llama-2-13b"), engine="vllm", device_memory_gb=80, gpus=1, context=16384
    )
    assert plan.value("max_model_len") == 4096
    assert "the model's own limit" in next(
        s.reason for s in plan.settings if s.name == "max_model_len"
    )


def test_vllm_keeps_a_prequantized_checkpoint_and_uses_a_whole_node() -> None:
    # DeepSeek-V3 ships fp8 (quantization_config): weights 673.0 GB; 8 x H200 at 141 GB:
    # usable 125.9 GB; TP8: (673.0 + 32,768 x 70,272 B = 2.3 GB) / 8 = 84.4 GB each.
    plan = plan_launch(
        model("deepseek-v3"), engine="vllm", device_memory_gb=141, gpus=8, context=32768
    )
    assert plan.value("tensor_parallel_size") == 8
    assert plan.value("quantization") is None
    assert any("already fp8" in note for note in plan.notes)


def test_vllm_adds_pipeline_stages_past_one_node() -> None:
    # 673.0 + 2.3 GB over 8 x 80 GB cards (71 GB usable): 84.4 GB each -> 2 stages of 8.
    plan = plan_launch(
        model("deepseek-v3"), engine="vllm", device_memory_gb=80, gpus=16, context=32768
    )
    assert (plan.value("tensor_parallel_size"), plan.value("pipeline_parallel_size")) == (8, 2)


def test_too_big_does_not_fit() -> None:
    plan = plan_launch(model("llama-65b"), engine="vllm", device_memory_gb=24, gpus=1, context=2048)
    assert not plan.fits and plan.settings == ()


def test_llama_cpp_offloads_the_layers_that_fit() -> None:
    # q4_k weights: 70,553,706,496 x 4.5 / 8 = 39,686,459,904 B; q8_0 KV for 8,192 tokens:
    # 2 x 80 x 8 x 128 x 34/32 = 174,080 B per token x 8,192 = 1,426,063,360 B.
    # Per layer (39,686,459,904 + 1,426,063,360) / 80 = 513,906,541 B; one 24 GB card less 1 GB
    # reserve = 23 GB / 0.514 GB = 44.75 -> 44 layers on the GPU.
    plan = plan_launch(
        model("llama-3.1-70b"),
        engine="llama.cpp",
        device_memory_gb=24,
        gpus=1,
        context=8192,
        kv_dtype="q8_0",
        quantization="q4_k",
    )
    assert plan.value("n_gpu_layers") == 44
    assert plan.value("ctx_size") == 8192
    assert (plan.value("cache_type_k"), plan.value("cache_type_v")) == ("q8_0", "q8_0")
    assert plan.value("flash_attn") == "on"
    assert any("convert the checkpoint" in note for note in plan.notes)


def test_ollama_gets_modelfile_parameters_and_the_server_kv_setting() -> None:
    plan = plan_launch(
        model("llama-3.1-70b"),
        engine="ollama",
        device_memory_gb=24,
        gpus=1,
        context=8192,
        kv_dtype="q8_0",
        quantization="q4_k",
    )
    assert (plan.value("num_ctx"), plan.value("num_gpu")) == (8192, 44)
    assert plan.value("OLLAMA_KV_CACHE_TYPE") == "q8_0"
    assert plan.value("OLLAMA_FLASH_ATTENTION") == 1


def test_a_small_gguf_goes_wholly_on_two_cards(tmp_path: Path) -> None:
    path = tmp_path / "tiny.gguf"
    write_gguf(path)
    plan = plan_launch(
        read_model(path), engine="llama.cpp", device_memory_gb=24, gpus=2, context=4096
    )
    assert plan.value("n_gpu_layers") == 2
    assert plan.value("tensor_split") == "1,1"
    assert plan.value("cache_type_k") == "f16"
    assert plan.notes == ()


def test_sglang_names_its_own_settings() -> None:
    plan = plan_launch(
        model("llama-3.1-70b"),
        engine="sglang",
        device_memory_gb=80,
        gpus=2,
        context=32768,
        kv_dtype="fp8",
        quantization="fp8",
    )
    assert plan.value("tp_size") == 2
    assert plan.value("context_length") == 32768
    assert plan.value("kv_cache_dtype") == "fp8_e4m3"


def test_unknown_engine_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown serving engine") as caught:
        plan_launch(model("llama-3.1-8b"), engine="tgi", device_memory_gb=80, gpus=1, context=1024)
    assert caught.value.field == "engine"
