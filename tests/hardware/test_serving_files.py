"""The launch files `deploy --format vllm|sglang|llama-cpp|ollama` writes, read back the way each
engine reads them and checked against its documented options.

None of the engines' own parsers installs without a GPU stack (vLLM and SGLang pull in torch and
CUDA kernels; llama-server and Ollama are native binaries), so each file is checked against the
engine's documented schema, written out here with its source:
- vLLM: `vllm serve --config FILE` reads a YAML mapping whose keys are the long option names
  (docs.vllm.ai/en/latest/configuration/serve_args: "The argument names must be the long form");
  options and choices from docs.vllm.ai/en/latest/cli/serve (EngineArgs).
- SGLang: `python -m sglang.launch_server --config FILE`, the same convention
  (docs.sglang.io/advanced_features/server_arguments: "create a YAML file with your server
  arguments"); options from that page's list.
- llama.cpp: llama-server's flags (tools/server/README.md); -ctk/-ctv allowed values "f32, f16,
  bf16, q8_0, q4_0, q4_1, iq4_nl, q5_0, q5_1"; --flash-attn "on, off, auto".
- Ollama: the Modelfile (docs/modelfile.md): `# comment`, then `INSTRUCTION arguments` with
  FROM, PARAMETER, TEMPLATE, SYSTEM, ADAPTER, LICENSE, MESSAGE; PARAMETER names from that page's
  table plus num_gpu (api/types.go Runner options, "number of layers to send to the GPU").
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from gpu_advisor.errors import UsageError
from gpu_advisor.hardware.serving import plan_launch, render_launch
from gpu_advisor.knowledge.model_files import ModelSpec, read_model
from tests.knowledge.test_model_files import write_gguf

MODELS = Path(__file__).parents[1] / "fixtures" / "models"


def model(name: str) -> ModelSpec:
    return read_model(MODELS / name)


def vllm_parser() -> argparse.ArgumentParser:
    """The documented vLLM serve options the files use, with their types and choices."""
    parser = argparse.ArgumentParser(exit_on_error=False)
    parser.add_argument("--model", type=str)
    parser.add_argument("--tensor-parallel-size", type=int)
    parser.add_argument("--pipeline-parallel-size", type=int)
    parser.add_argument("--max-model-len", type=int)
    parser.add_argument("--gpu-memory-utilization", type=float)
    parser.add_argument(
        "--kv-cache-dtype", choices=["auto", "bfloat16", "fp8", "fp8_e4m3", "fp8_e5m2", "fp8_inc"]
    )
    parser.add_argument(
        "--quantization", choices=["fp8", "bitsandbytes", "awq", "gptq", "gguf", "modelopt"]
    )
    return parser


def sglang_parser() -> argparse.ArgumentParser:
    """The documented SGLang server options the files use."""
    parser = argparse.ArgumentParser(exit_on_error=False)
    parser.add_argument("--model-path", type=str)
    parser.add_argument("--tp-size", type=int)
    parser.add_argument("--pp-size", type=int)
    parser.add_argument("--context-length", type=int)
    parser.add_argument("--mem-fraction-static", type=float)
    parser.add_argument("--kv-cache-dtype", choices=["auto", "fp8_e5m2", "fp8_e4m3", "bf16"])
    parser.add_argument("--quantization", choices=["fp8", "awq", "gptq", "bitsandbytes"])
    return parser


def read_config_file(text: str, parser: argparse.ArgumentParser) -> argparse.Namespace:
    """What `--config FILE` does: each YAML key becomes `--key value`, then the engine's parser
    reads them (an unknown key or a wrong type is an error)."""
    data: dict[str, Any] = yaml.safe_load(text)
    argv: list[str] = []
    for key, value in data.items():
        argv += [f"--{key}", str(value)]
    return parser.parse_args(argv)


def commented_settings(text: str) -> list[tuple[str, str]]:
    """(reason, setting line) pairs: every setting line must follow a comment saying why."""
    lines = text.splitlines()
    pairs = []
    for at, line in enumerate(lines):
        if line and not line.startswith(("#", " ", "exec ", "FROM ", "model")):
            assert lines[at - 1].startswith("# "), f"no reason before {line!r}"
            pairs.append((lines[at - 1], line))
    return pairs


def test_vllm_file_loads_as_vllm_reads_its_config() -> None:
    plan = plan_launch(
        model("llama-3.1-70b"),
        engine="vllm",
        device_memory_gb=80,
        gpus=8,
        context=32768,
        kv_dtype="fp8",
        quantization="fp8",
    )
    text = render_launch(plan, "meta-llama/Llama-3.1-70B", "heading")
    args = read_config_file(text, vllm_parser())
    # fp8 weights 72.67 GB + fp8 KV 32,768 x 163,840 B = 5.37 GB = 78.04 GB; one 80 GB card
    # holds 80 x 0.9 - 1 = 71 GB, two hold 39.0 GB each: tensor parallel 2.
    assert (args.tensor_parallel_size, args.pipeline_parallel_size) == (2, 1)
    assert args.max_model_len == 32768 and args.gpu_memory_utilization == 0.9
    assert (args.kv_cache_dtype, args.quantization) == ("fp8", "fp8")
    assert args.model == "meta-llama/Llama-3.1-70B"
    assert len(commented_settings(text)) == 6


def test_sglang_file_loads_as_sglang_reads_its_config() -> None:
    plan = plan_launch(
        model("deepseek-v3"), engine="sglang", device_memory_gb=141, gpus=8, context=32768
    )
    args = read_config_file(render_launch(plan, "deepseek-ai/DeepSeek-V3", "h"), sglang_parser())
    # 673.0 GB fp8 weights + 2.3 GB latent KV over 8 H200s: 84.4 GB each <= 141 x 0.88 - 1
    assert (args.tp_size, args.context_length, args.mem_fraction_static) == (8, 32768, 0.88)
    assert args.pp_size is None and args.kv_cache_dtype == "auto"


def test_the_check_refuses_an_unknown_key_or_a_wrong_type(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):  # argparse: "unrecognized arguments"
        read_config_file("tensor_parallel: 2\n", vllm_parser())
    with pytest.raises(argparse.ArgumentError, match="invalid int value"):
        read_config_file("tensor-parallel-size: two\n", vllm_parser())
    capsys.readouterr()


LLAMA_SERVER_FLAGS = {
    "--model": str,
    "--n-gpu-layers": int,
    "--ctx-size": int,
    "--cache-type-k": ["f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "iq4_nl", "q5_0", "q5_1"],
    "--cache-type-v": ["f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "iq4_nl", "q5_0", "q5_1"],
    "--tensor-split": "comma-separated proportions",
    "--flash-attn": ["on", "off", "auto"],
}


def test_llama_server_script_is_valid_shell_with_documented_flags(tmp_path: Path) -> None:
    path = tmp_path / "tiny.gguf"
    write_gguf(path)
    plan = plan_launch(
        read_model(path),
        engine="llama.cpp",
        device_memory_gb=24,
        gpus=2,
        context=4096,
        kv_dtype="q8_0",
    )
    script = render_launch(plan, str(path), "heading")
    if shutil.which("sh"):
        target = tmp_path / "serve.sh"
        target.write_text(script)
        subprocess.run(["sh", "-n", str(target)], check=True)
    command = script[script.index("exec llama-server") :].replace("\\\n", " ")
    argv = shlex.split(command)[2:]
    assert argv[-1] == "$@"
    flags = dict(zip(argv[:-1:2], argv[1:-1:2], strict=True))
    for flag, value in flags.items():
        kind = LLAMA_SERVER_FLAGS[flag]
        if kind is int:
            int(value)
        elif isinstance(kind, list):
            assert value in kind, (flag, value)
    assert flags["--tensor-split"] == "1,1" and flags["--n-gpu-layers"] == "2"
    assert flags["--flash-attn"] == "on"  # a quantized V cache needs it
    assert len(commented_settings(script)) == 0  # the reasons precede the command, flag by flag
    assert script.count("# --") == len(flags) - 1  # every flag but --model has its reason


OLLAMA_INSTRUCTIONS = {"FROM", "PARAMETER", "TEMPLATE", "SYSTEM", "ADAPTER", "LICENSE", "MESSAGE"}
OLLAMA_PARAMETERS = {
    "num_ctx": int,
    "num_gpu": int,
    "repeat_last_n": int,
    "repeat_penalty": float,
    "temperature": float,
    "seed": int,
    "stop": str,
    "num_predict": int,
    "top_k": int,
    "top_p": float,
    "min_p": float,
}


def test_ollama_modelfile_follows_the_modelfile_grammar() -> None:
    plan = plan_launch(
        model("llama-3.1-70b"),
        engine="ollama",
        device_memory_gb=24,
        gpus=1,
        context=8192,
        kv_dtype="q8_0",
        quantization="q4_k",
    )
    text = render_launch(plan, "Llama-3.1-70B.gguf", "heading")
    parameters = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        instruction, _, rest = line.partition(" ")
        assert instruction in OLLAMA_INSTRUCTIONS, line
        if instruction == "PARAMETER":
            name, value = rest.split()
            parameters[name] = OLLAMA_PARAMETERS[name](value)
    assert parameters == {"num_ctx": 8192, "num_gpu": 44}  # see test_serving: 44 of 80 layers
    assert text.splitlines()[2:4] == [
        "# run: ollama create NAME -f Modelfile",
        "FROM Llama-3.1-70B.gguf",
    ]
    assert "#   OLLAMA_KV_CACHE_TYPE=q8_0:" in text and "#   OLLAMA_FLASH_ATTENTION=1:" in text


def test_a_plan_that_does_not_fit_writes_nothing() -> None:
    plan = plan_launch(model("llama-65b"), engine="vllm", device_memory_gb=24, gpus=1, context=2048)
    with pytest.raises(UsageError, match="nothing to write for vllm: the weights alone"):
        render_launch(plan, "huggyllama/llama-65b", "heading")
