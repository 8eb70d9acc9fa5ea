"""--model with a model's own files on `size`, `recommend` and `deploy`, and the serving formats
of `deploy`, as a user runs them: exit status, one-line errors, the files written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from gpu_advisor.cli.main import main
from tests.knowledge.test_model_files import write_gguf

from ..conftest import ROOT

MODELS = ROOT / "tests" / "fixtures" / "models"
PROBE = ROOT / "tests" / "fixtures" / "probe"
DIRS = ("--kb", str(ROOT / "kb"))


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def usage_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    status, _, err = cli(capsys, *argv)
    assert status == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


def test_size_reads_a_model_folder(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = cli(
        capsys,
        "size",
        "--model",
        str(MODELS / "gemma-2-9b"),
        "--workload",
        "inference",
        "--context",
        "8192",
        "--format",
        "json",
        *DIRS,
    )
    assert status == 0, err
    data = json.loads(out)
    assert data["request"]["model_files"].endswith("gemma-2-9b/config.json")
    kv = next(item for item in data["breakdown"] if item["item"] == "kv_cache")
    # 21 windowed layers x 4,096 + 21 x 8,192 = 258,048 layer-tokens x 8,192 B = 2.114 GB
    assert kv["gb"] == 2.114
    assert "(21 layers x 8,192 + 21 layers x min(8,192, 4,096))" in kv["formula"]


def test_size_takes_a_gguf_and_a_llama_cpp_kv_type(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "tiny.gguf"
    write_gguf(path)
    status, out, err = cli(
        capsys,
        "size",
        "--model",
        str(path),
        "--workload",
        "inference",
        "--kv-precision",
        "q8_0",
        "--context",
        "32",
        "--format",
        "json",
        *DIRS,
    )
    assert status == 0, err
    data = json.loads(out)
    # tiny: 2 layers x 2 KV heads x 64 head_dim x 2 (K, V) = 512 elements per token;
    # 32 tokens x 512 x 34/32 B (q8_0) = 17,408 B
    kv = next(item for item in data["breakdown"] if item["item"] == "kv_cache")
    assert kv["formula"].endswith("= 17,408 B (q8_0)")
    assert data["request"]["kv_precision"] == "q8_0"


def test_size_names_the_flag_of_a_bad_model_file(capsys: pytest.CaptureFixture[str]) -> None:
    err = usage_error(capsys, "size", "--model", "models/missing.gguf", "--workload", "inference")
    assert "--model: models/missing.gguf: no such file or folder" in err


def test_recommend_model_flag_takes_a_config(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = cli(
        capsys,
        "recommend",
        "--model",
        str(MODELS / "llama-3.1-8b" / "config.json"),
        "--set",
        "workload=inference",
        "--set",
        "consultation_month=202612",
        "--format",
        "json",
        "--no-counterfactuals",
    )
    assert status == 0, err
    data = json.loads(out)
    assert data["answers"]["model"].endswith("llama-3.1-8b/config.json")
    assert data["answers"]["model_params_b"] == 8.03  # 8,030,261,248 computed from the config
    assert data["sizing"]["request"]["params_b"] == 8.030261248


def test_deploy_writes_a_vllm_config(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "vllm.yaml"
    status, out, err = cli(
        capsys,
        "deploy",
        "--format",
        "vllm",
        "--model",
        str(MODELS / "llama-3.1-8b" / "config.json"),
        "--device",
        "l4",
        "--context",
        "16384",
        "-o",
        str(target),
        *DIRS,
    )
    assert status == 0, err
    assert out == f"wrote vllm settings for llama-3.1-8b to {target}\n"
    data = yaml.safe_load(target.read_text())
    # bf16 weights 16.06 GB + 16,384 x 131,072 B = 2.15 GB KV = 18.21 GB; one L4 holds
    # 24 x 0.9 - 1 = 20.6 GB: tensor parallel 1 (the fewest of up to 8 L4s).
    assert data["model"] == str(MODELS / "llama-3.1-8b")  # the folder, not its config.json
    assert data["tensor-parallel-size"] == 1 and data["max-model-len"] == 16384
    assert "# vllm launch settings for llama-3.1-8b on 1 x L4 (24 GB each)" in target.read_text()


def test_deploy_writes_a_llama_server_script_for_probed_gpus(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "tiny.gguf"
    write_gguf(path)
    status, out, err = cli(
        capsys,
        "deploy",
        "--format",
        "llama-cpp",
        "--model",
        str(path),
        "--from",
        str(PROBE / "hgx-h100-8gpu.xml"),
        *DIRS,
    )
    assert status == 0, err
    assert "on 8 x probed" in out and "--tensor-split 1,1,1,1,1,1,1,1" in out
    assert f"--model {path}" in out and "--ctx-size 4096" in out  # the GGUF's context_length


def test_deploy_serving_needs_a_model_and_gpus(capsys: pytest.CaptureFixture[str]) -> None:
    assert "--format ollama needs --model" in usage_error(
        capsys, "deploy", "--format", "ollama", "--device", "l4", *DIRS
    )
    assert "name the GPUs with --device ID" in usage_error(
        capsys, "deploy", "--format", "sglang", "--model", "llama-3.1-8b", *DIRS
    )


def test_deploy_training_takes_a_config_file_too(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = cli(
        capsys,
        "deploy",
        "--format",
        "json",
        "--model",
        str(MODELS / "llama-3.1-8b"),
        "--set",
        "workload=fine-tuning",
        "--set",
        "method=lora",
        "--device",
        "h100-pcie",
        *DIRS,
    )
    assert status == 0, err
    job = json.loads(out)["plan"]["job"]
    assert job["model_files"].endswith("llama-3.1-8b/config.json")
    assert job["params_b"] == 8.030261248  # counted from the config, not a catalog figure
