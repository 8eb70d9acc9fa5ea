"""A model folder with config.json and model.safetensors.index.json but no shards (what the Hub
fetch keeps): the index's total size gives the parameter count of an unquantized checkpoint."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from gpu_advisor.knowledge.model_files import read_model

MODELS = Path(__file__).parents[1] / "fixtures" / "models"


def _folder(tmp_path: Path, name: str, total: int, **changes: object) -> Path:
    shutil.copy(MODELS / name / "config.json", tmp_path / "config.json")
    if changes:
        config = json.loads((tmp_path / "config.json").read_text())
        config.update(changes)
        (tmp_path / "config.json").write_text(json.dumps(config))
    index = {"metadata": {"total_size": total}, "weight_map": {}}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    return tmp_path


def test_a_bf16_mixtral_index_gives_the_count_and_the_active_experts(tmp_path: Path) -> None:
    # Mixtral-8x7B's published index: total_size 93,405,585,408 B / 2 B (bfloat16) =
    # 46,702,792,704 weights; active = total - 32 layers x 6 idle experts x 176,160,768
    # = 46,702,792,704 - 33,822,867,456 = 12,879,925,248.
    spec = read_model(_folder(tmp_path, "mixtral-8x7b", 93_405_585_408))
    assert spec.params == 46_702_792_704 and spec.params_counted
    assert spec.active_params == 12_879_925_248
    assert spec.provenance["params"].startswith(
        "model.safetensors.index.json: metadata.total_size 93,405,585,408 B / 2 B (bfloat16)"
    )


def test_an_index_far_from_the_shape_is_not_trusted_for_the_count(tmp_path: Path) -> None:
    # The config says float32 but the shards hold bf16: 16,060,522,496 / 4 = 4,015,130,624,
    # half the shape's 8,030,261,248 (over the 25% allowed): the shape's count stays.
    spec = read_model(_folder(tmp_path, "llama-3.1-8b", 16_060_522_496, torch_dtype="float32"))
    assert spec.params == 8_030_261_248 and not spec.params_counted
    assert spec.stored_bytes == 16_060_522_496


def test_a_quantized_index_gives_the_stored_size_only(tmp_path: Path) -> None:
    spec = read_model(
        _folder(
            tmp_path,
            "llama-3.1-8b",
            9_000_000_000,
            quantization_config={"quant_method": "fp8"},
        )
    )
    assert spec.params == 8_030_261_248 and not spec.params_counted
    assert spec.stored_bytes == 9_000_000_000
