"""The model readers: shapes and parameter counts from real configs, safetensors headers and GGUF.

Every expected parameter count is worked by hand below from the config's own fields, with
attention = q + k + v + o projections, MLP = 3 x hidden x intermediate (gated), norms = 2 x hidden
per layer (4 for Gemma 2), embeddings = vocab x hidden (twice when untied), plus a final norm.
Fixtures and their sources: tests/fixtures/models/README.md.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest

from gpu_advisor.errors import FileError
from gpu_advisor.knowledge.model_files import (
    ModelSpec,
    read_config,
    read_gguf,
    read_model,
    read_safetensors_header,
    spec_from_config,
)

MODELS = Path(__file__).parent.parent / "fixtures" / "models"


def model(name: str) -> ModelSpec:
    return read_model(MODELS / name)


def test_llama_3_1_8b_matches_its_published_parameter_count() -> None:
    # attention 2 x 4096 x 4096 (q, o) + 2 x 4096 x 8 x 128 (k, v) = 33,554,432 + 8,388,608
    #   = 41,943,040; MLP 3 x 4096 x 14336 = 176,160,768; norms 2 x 4096 = 8,192
    # 32 x 218,112,000 = 6,979,584,000; embeddings 2 x 128,256 x 4096 = 1,050,673,152; + 4,096
    # = 8,030,261,248 (the count the released checkpoint reports).
    spec = model("llama-3.1-8b")
    assert spec.params == 8_030_261_248
    assert (spec.layers, spec.hidden, spec.attention_heads, spec.kv_heads, spec.head_dim) == (
        32,
        4096,
        32,
        8,
        128,
    )
    assert spec.attention == "grouped"
    assert spec.provenance["kv_heads"] == "num_key_value_heads"
    assert spec.provenance["head_dim"] == "hidden_size / num_attention_heads"
    assert not spec.params_counted and "8,030,261,248" in spec.params_formula


def test_llama_3_1_70b_matches_its_published_parameter_count() -> None:
    # attention 2 x 8192^2 + 2 x 8192 x 1024 = 150,994,944; MLP 3 x 8192 x 28672 = 704,643,072;
    # norms 16,384 -> 855,654,400 x 80 = 68,452,352,000; embeddings 2 x 128,256 x 8192
    # = 2,101,346,304; + 8,192 = 70,553,706,496.
    spec = model("llama-3.1-70b")
    assert spec.params == 70_553_706_496
    assert spec.max_context == 131072


def test_mixtral_counts_all_experts_in_total_and_two_in_active() -> None:
    # Model card: 46.7B total, 12.9B active. Per layer: attention 41,943,040; one expert
    # 3 x 4096 x 14336 = 176,160,768; router 4096 x 8 = 32,768; norms 8,192.
    # total: 32 x (41,943,040 + 8 x 176,160,768 + 32,768 + 8,192) + 2 x 32000 x 4096 + 4096
    #      = 32 x 1,451,270,144 + 262,148,096 = 46,702,792,704
    # active: total - 32 x 6 idle x 176,160,768 = 46,702,792,704 - 33,822,867,456 = 12,879,925,248
    spec = model("mixtral-8x7b")
    assert spec.params == 46_702_792_704
    assert spec.active_params == 12_879_925_248
    assert round(spec.params / 1e9, 1) == 46.7 and round(spec.active_params / 1e9, 1) == 12.9
    assert (spec.experts, spec.experts_per_token, spec.moe_layers) == (8, 2, 32)
    assert spec.provenance["experts"] == "num_local_experts"
    assert spec.sliding_layers == 0  # "sliding_window": null


def test_deepseek_v3_reads_latent_attention_and_its_expert_layout() -> None:
    # MLA attention per layer: q_a 7168 x 1536 + q norm 1536 + q_b 1536 x 128 x (128 + 64)
    #   + kv_a 7168 x (512 + 64) + kv norm 512 + kv_b 512 x 128 x (128 + 128) + o 128 x 128 x 7168
    #   = 11,010,048 + 1,536 + 37,748,736 + 4,128,768 + 512 + 16,777,216 + 117,440,512 = 187,107,328
    # 3 dense layers: 187,107,328 + 3 x 7168 x 18432 + 2 x 7168 = 583,483,392
    # 58 MoE layers: 187,107,328 + 256 x 44,040,192 (3 x 7168 x 2048) + 44,040,192 shared
    #   + 7168 x 256 router + 14,336 = 11,507,286,016
    # total = 3 x 583,483,392 + 58 x 11,507,286,016 + 2 x 129,280 x 7168 + 7168 = 671,026,404,352
    # DeepSeek's README: 671B main model (the 14B MTP module is separate).
    spec = model("deepseek-v3")
    assert spec.params == 671_026_404_352
    assert spec.attention == "latent"
    assert (spec.kv_lora_rank, spec.qk_rope_head_dim) == (512, 64)
    assert (spec.experts, spec.experts_per_token, spec.shared_experts) == (256, 8, 1)
    assert (spec.moe_layers, spec.expert_intermediate_size) == (58, 2048)
    assert spec.provenance["dense_layers"] == "first_k_dense_replace"
    assert spec.quantization == "fp8"
    # active = total - 58 x 248 idle x 44,040,192 = 37,552,282,624; DeepSeek quotes 36.6B without
    # the 0.93B input embedding (129,280 x 7168 = 926,679,040): 36,625,603,584.
    assert spec.active_params == 37_552_282_624
    assert round((spec.active_params - 129_280 * 7168) / 1e9, 1) == 36.6


def test_gemma_2_alternates_local_and_global_layers() -> None:
    # Gemma 2 9B: head_dim 256 from the config (not 3584 / 16 = 224); tied embeddings.
    # attention 3584 x 4096 x 2 + 3584 x 2048 x 2 = 44,040,192; MLP 3 x 3584 x 14336
    # = 154,140,672; four norms 14,336 -> 198,195,200 x 42 = 8,324,198,400; + 256,000 x 3584
    # + 3584 = 9,241,705,984.
    spec = model("gemma-2-9b")
    assert spec.params == 9_241_705_984
    assert spec.head_dim == 256 and spec.provenance["head_dim"] == "head_dim"
    assert spec.tied_embeddings
    assert spec.layer_windows[:4] == (4096, None, 4096, None)
    assert spec.sliding_layers == 21
    big = model("gemma-2-27b")
    # 27B: attention 4608 x 4096 x 2 + 4608 x 2048 x 2 = 56,623,104; MLP 3 x 4608 x 36864
    # = 509,607,936; norms 18,432 -> 566,249,472 x 46 = 26,047,475,712; + 256,000 x 4608 + 4608
    # = 27,227,128,320.
    assert big.params == 27_227_128_320
    assert (big.head_dim, big.sliding_layers) == (128, 23)


def test_gemma_3_keeps_one_global_layer_in_six() -> None:
    # Gemma 3's text config: 5 local layers (window 1024), then 1 global, repeated.
    config = {
        "model_type": "gemma3_text",
        "num_hidden_layers": 12,
        "hidden_size": 256,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 64,
        "intermediate_size": 512,
        "vocab_size": 1000,
        "sliding_window": 1024,
        "sliding_window_pattern": 6,
    }
    spec = spec_from_config({"text_config": config}, name="gemma3-mini")
    assert spec.layer_windows == (1024,) * 5 + (None,) + (1024,) * 5 + (None,)
    assert spec.provenance["layers"] == "text_config.num_hidden_layers"


def test_layer_types_list_wins_over_patterns() -> None:
    config = {
        "num_hidden_layers": 3,
        "hidden_size": 64,
        "num_attention_heads": 4,
        "vocab_size": 10,
        "sliding_window": 128,
        "layer_types": ["sliding_attention", "full_attention", "sliding_attention"],
    }
    assert spec_from_config(config, name="x").layer_windows == (128, None, 128)


def test_mistral_style_window_applies_to_every_layer_and_qwen_flag_switches_it_off() -> None:
    base = {
        "num_hidden_layers": 2,
        "hidden_size": 64,
        "num_attention_heads": 4,
        "vocab_size": 10,
        "sliding_window": 4096,
    }
    assert spec_from_config(base, name="m").layer_windows == (4096, 4096)
    qwen = model("qwen2.5-7b")  # sliding_window 131072 but use_sliding_window false
    assert qwen.sliding_layers == 0
    assert qwen.provenance["layer_windows"] == "use_sliding_window is false"


def test_qwen_2_5_counts_its_qkv_biases() -> None:
    # 7B: q 3584^2 + 3584 bias, k and v 3584 x 512 + 512 bias each, o 3584^2 -> 29,364,736;
    # MLP 3 x 3584 x 18944 = 203,685,888; norms 7,168 -> 233,057,792 x 28 = 6,525,618,176;
    # + 2 x 152,064 x 3584 + 3584 = 7,615,616,512 (model card: 7.61B).
    assert model("qwen2.5-7b").params == 7_615_616_512
    # 72B: 67,108,864 x 2 + 8192 x 1024 x 2 + (8192 + 2048) biases = 151,005,184; MLP
    # 3 x 8192 x 29568 = 726,663,168; norms 16,384 -> 877,684,736 x 80 = 70,214,778,880;
    # + 2 x 152,064 x 8192 + 8192 = 72,706,203,648 (model card: 72.7B).
    assert model("qwen2.5-72b").params == 72_706_203_648


def test_llama_2_13b_and_llama_65b_are_multi_head() -> None:
    # 13B: 4 x 5120^2 + 3 x 5120 x 13824 + 10,240 = 317,204,480 x 40 + 2 x 32000 x 5120 + 5120
    #    = 13,015,864,320.
    thirteen = model("llama-2-13b")
    assert thirteen.params == 13_015_864_320
    assert (thirteen.attention, thirteen.kv_heads) == ("multi-head", 40)
    assert thirteen.name == "meta-llama/Llama-2-13b-hf"
    # 65B (no num_key_value_heads): 4 x 8192^2 + 3 x 8192 x 22016 + 16,384 = 809,517,056 x 80
    #    + 2 x 32000 x 8192 + 8192 = 65,285,660,672 (LLaMA paper: 65.2B).
    sixty_five = model("llama-65b")
    assert sixty_five.params == 65_285_660_672
    assert (sixty_five.attention, sixty_five.kv_heads) == ("multi-head", 64)
    assert sixty_five.provenance["kv_heads"].startswith("num_attention_heads (no num_key_value")
    assert sixty_five.max_context == 2048
    assert sixty_five.provenance["max_context"] == "max_sequence_length"


def test_multi_query_attention_is_named() -> None:
    config = {
        "num_hidden_layers": 2,
        "hidden_size": 64,
        "num_attention_heads": 8,
        "num_key_value_heads": 1,
        "vocab_size": 10,
    }
    assert spec_from_config(config, name="mq").attention == "multi-query"


# --- errors ----------------------------------------------------------------------------------


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_missing_file_suggests_the_near_name(tmp_path: Path) -> None:
    write(tmp_path, "config.json", "{}")
    with pytest.raises(FileError) as caught:
        read_model(tmp_path / "confg.json")
    assert "no such file or folder" in str(caught.value)
    assert "did you mean 'config.json'" in str(caught.value)


def test_bad_json_points_at_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "config.json", '{\n  "hidden_size": 4096,\n  "layers": ,\n}\n')
    with pytest.raises(FileError) as caught:
        read_model(path)
    assert str(caught.value).startswith(f"{path}:3:13: not valid JSON")


def test_top_level_must_be_an_object(tmp_path: Path) -> None:
    with pytest.raises(FileError, match="expected a JSON object"):
        read_model(write(tmp_path, "config.json", "[1, 2]"))


def test_missing_field_offers_the_misspelt_key(tmp_path: Path) -> None:
    config = json.loads((MODELS / "llama-3.1-8b" / "config.json").read_text())
    config["num_hiden_layers"] = config.pop("num_hidden_layers")
    path = write(tmp_path, "config.json", json.dumps(config, indent=2))
    with pytest.raises(FileError) as caught:
        read_model(path)
    message = str(caught.value)
    assert "missing 'num_hidden_layers' (layers)" in message
    assert "did you mean 'num_hiden_layers'" in message


def test_inconsistent_heads_point_at_the_kv_field(tmp_path: Path) -> None:
    text = (
        '{\n  "num_hidden_layers": 2,\n  "hidden_size": 4096,\n  "num_attention_heads": 32,\n'
        '  "num_key_value_heads": 7,\n  "vocab_size": 100\n}\n'
    )
    path = write(tmp_path, "config.json", text)
    with pytest.raises(FileError) as caught:
        read_model(path)
    assert str(caught.value).startswith(f"{path}:5:3: inconsistent heads: 7 KV heads")


def test_hidden_not_divisible_by_heads_without_head_dim(tmp_path: Path) -> None:
    config = {
        "num_hidden_layers": 2,
        "hidden_size": 100,
        "num_attention_heads": 3,
        "vocab_size": 10,
    }
    with pytest.raises(FileError, match="not a multiple of 3 heads"):
        read_model(write(tmp_path, "config.json", json.dumps(config)))


def test_wrong_type_names_the_field(tmp_path: Path) -> None:
    config = {
        "num_hidden_layers": "32",
        "hidden_size": 64,
        "num_attention_heads": 4,
        "vocab_size": 10,
    }
    with pytest.raises(FileError, match="'num_hidden_layers' must be a whole number"):
        read_model(write(tmp_path, "config.json", json.dumps(config)))


def test_folder_without_config_says_so(tmp_path: Path) -> None:
    write(tmp_path, "conifg.json", "{}")
    with pytest.raises(FileError, match="no config.json and no .gguf.*did you mean 'conifg.json'"):
        read_model(tmp_path)


# --- safetensors headers -------------------------------------------------------------------------


def write_safetensors(
    path: Path, tensors: dict[str, tuple[str, list[int]]], with_data: bool = True
) -> None:
    """A .safetensors file: 8-byte little-endian header length, JSON header, then data."""
    sizes = {"BF16": 2, "F32": 4, "F8_E4M3": 1, "U8": 1}
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, (dtype, shape) in tensors.items():
        nbytes = sizes[dtype] * int(np.prod(shape))
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + (b"\0" * offset if with_data else b""))


TINY = {
    "num_hidden_layers": 1,
    "hidden_size": 8,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "intermediate_size": 16,
    "vocab_size": 32,
    "tie_word_embeddings": False,
    "model_type": "llama",
}


def test_safetensors_headers_give_exact_counts_without_reading_data(tmp_path: Path) -> None:
    write(tmp_path, "config.json", json.dumps(TINY))
    # Shards written without their data: the reader must need only the headers.
    write_safetensors(
        tmp_path / "model-00001-of-00002.safetensors",
        {
            "model.embed_tokens.weight": ("BF16", [32, 8]),
            "model.layers.0.self_attn.q_proj.weight": ("F8_E4M3", [8, 8]),
            "model.layers.0.self_attn.q_proj.weight_scale_inv": ("F32", [1, 1]),
        },
        with_data=False,
    )
    write_safetensors(
        tmp_path / "model-00002-of-00002.safetensors",
        {
            "lm_head.weight": ("BF16", [32, 8]),
            "model.norm.weight": ("F32", [8]),
        },
        with_data=False,
    )
    spec = read_model(tmp_path)
    # 32 x 8 + 8 x 8 + 32 x 8 + 8 = 584 parameters (the fp8 scale is not a parameter)
    assert spec.params == 584 and spec.params_counted
    assert dict(spec.weight_formats) == {"BF16": 512, "F8_E4M3": 64, "F32": 8}
    # bytes: 512 x 2 + 64 x 1 + 1 x 4 (scale) + 8 x 4 = 1,124
    assert spec.stored_bytes == 1124
    assert spec.provenance["params"].startswith("counted from 2 safetensors header(s)")


def test_index_without_shards_gives_the_stored_size(tmp_path: Path) -> None:
    write(tmp_path, "config.json", json.dumps(TINY))
    write(
        tmp_path,
        "model.safetensors.index.json",
        json.dumps({"metadata": {"total_size": 123456}, "weight_map": {}}),
    )
    spec = read_model(tmp_path)
    assert spec.stored_bytes == 123456 and not spec.params_counted


def test_corrupt_safetensors_header_is_a_file_error(tmp_path: Path) -> None:
    bad = tmp_path / "model.safetensors"
    bad.write_bytes(struct.pack("<Q", 10**12) + b"{}")
    with pytest.raises(FileError, match="over the format's 100 MB cap"):
        read_safetensors_header(bad)
    bad.write_bytes(struct.pack("<Q", 50) + b'{"a": 1}')
    with pytest.raises(FileError, match="truncated"):
        read_safetensors_header(bad)
    bad.write_bytes(b"abc")
    with pytest.raises(FileError, match="too short"):
        read_safetensors_header(bad)


# --- GGUF --------------------------------------------------------------------------------------


def write_gguf(path: Path, arch: str = "llama", sliding_window: int = 0) -> None:
    """A tiny two-layer GGUF with chosen tensor types (quantized payloads are zero bytes)."""
    from gguf import GGUFWriter
    from gguf.constants import GGML_QUANT_SIZES
    from gguf.constants import GGMLQuantizationType as Q

    writer = GGUFWriter(str(path), arch)
    writer.add_name("tiny-test")
    writer.add_block_count(2)
    writer.add_context_length(4096)
    writer.add_embedding_length(256)
    writer.add_feed_forward_length(512)
    writer.add_head_count(4)
    writer.add_head_count_kv(2)
    writer.add_vocab_size(32)
    if sliding_window:
        writer.add_sliding_window(sliding_window)

    def quantized(name: str, rows: int, cols: int, kind: Q) -> None:
        block, size = GGML_QUANT_SIZES[kind]
        writer.add_tensor(
            name, np.zeros((rows, cols // block * size), dtype=np.uint8), raw_dtype=kind
        )

    writer.add_tensor("token_embd.weight", np.zeros((32, 256), dtype=np.float16))
    quantized("blk.0.attn_q.weight", 256, 256, Q.Q4_K)
    quantized("blk.0.ffn_down.weight", 256, 512, Q.Q6_K)
    quantized("blk.1.attn_q.weight", 256, 256, Q.Q8_0)
    quantized("blk.1.ffn_down.weight", 256, 512, Q.IQ4_XS)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def test_gguf_is_read_back_with_its_types(tmp_path: Path) -> None:
    path = tmp_path / "tiny.gguf"
    write_gguf(path)
    spec = read_model(path)
    assert spec.name == "tiny-test"
    assert (spec.layers, spec.hidden, spec.attention_heads, spec.kv_heads, spec.head_dim) == (
        2,
        256,
        4,
        2,
        64,
    )
    assert spec.vocab == 32 and spec.max_context == 4096 and spec.intermediate_size == 512
    assert spec.tied_embeddings  # no output.weight tensor
    # 32 x 256 = 8,192 F16; 256 x 256 = 65,536 each of Q4_K and Q8_0; 131,072 each of Q6_K, IQ4_XS
    assert dict(spec.weight_formats) == {
        "F16": 8192,
        "Q4_K": 65536,
        "Q6_K": 131072,
        "Q8_0": 65536,
        "IQ4_XS": 131072,
    }
    assert spec.params == 8192 + 65536 * 2 + 131072 * 2 and spec.params_counted
    # bytes: 8,192 x 2 + 65,536 x 144/256 + 131,072 x 210/256 + 65,536 x 34/32 + 131,072 x 136/256
    #      = 16,384 + 36,864 + 107,520 + 69,632 + 69,632 = 300,032
    assert spec.stored_bytes == 300_032
    assert spec.provenance["kv_heads"] == "llama.attention.head_count_kv"


def test_gguf_gemma2_window_alternates(tmp_path: Path) -> None:
    path = tmp_path / "g.gguf"
    write_gguf(path, arch="gemma2", sliding_window=4096)
    assert read_gguf(path).layer_windows == (4096, None)


def test_not_a_gguf_is_a_file_error(tmp_path: Path) -> None:
    path = tmp_path / "fake.gguf"
    path.write_bytes(b"not a gguf at all, just text")
    with pytest.raises(FileError, match="not a readable GGUF file"):
        read_model(path)


def test_folder_with_only_a_gguf_reads_it(tmp_path: Path) -> None:
    write_gguf(tmp_path / "m.gguf")
    assert read_model(tmp_path).quantization == "gguf"


def test_split_gguf_needs_every_part(tmp_path: Path) -> None:
    write_gguf(tmp_path / "m-00001-of-00002.gguf")
    with pytest.raises(FileError, match="missing m-00002-of-00002.gguf"):
        read_model(tmp_path / "m-00001-of-00002.gguf")


def test_config_json_file_reads_as_well_as_its_folder() -> None:
    assert read_config(MODELS / "mixtral-8x7b" / "config.json") == model("mixtral-8x7b")


def test_a_hostile_config_is_one_located_error_not_a_traceback(tmp_path: Path) -> None:
    # issue 17's hardening for the files --model reads: 50,000 nested brackets, an integer of
    # 5,000 digits (past Python's conversion limit) and a FIFO each give one FileError
    from gpu_advisor.errors import FileError
    from gpu_advisor.knowledge.model_files import read_model

    deep = tmp_path / "deep" / "config.json"
    deep.parent.mkdir()
    deep.write_text('{"a": ' + "[" * 50_000 + "]" * 50_000 + "}", encoding="utf-8")
    huge = tmp_path / "huge" / "config.json"
    huge.parent.mkdir()
    huge.write_text('{"hidden_size": ' + "9" * 5000 + "}", encoding="utf-8")
    fifo = tmp_path / "fifo" / "config.json"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    for path, words in (
        (deep, "nested too deeply"),
        (huge, "not valid JSON"),
        (fifo, "not a regular file"),
    ):
        with pytest.raises(FileError) as caught:
            read_model(str(path))
        assert str(caught.value).startswith(str(path)) and words in str(caught.value)
