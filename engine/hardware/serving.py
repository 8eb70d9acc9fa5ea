"""Launch settings for serving a model read from its files: vLLM, SGLang, llama.cpp and Ollama.

Given a :class:`ModelSpec`, the cards (memory each, how many), the context wanted and the KV-cache
and weight formats, this picks the engine's own settings and says why each has its value, so the
user can paste a command instead of guessing ``--tensor-parallel-size`` or ``-ngl``. The memory
model is the one in :mod:`gpu_advisor.arithmetic.model_memory`: weights split evenly across
tensor- and pipeline-parallel ranks, the KV cache of one full-context sequence split the same way,
and a fixed per-GPU runtime reserve. Setting names are the engines' own: vLLM's EngineArgs
(``tensor_parallel_size``, ``pipeline_parallel_size``, ``max_model_len``,
``gpu_memory_utilization``, ``kv_cache_dtype``, ``quantization``), SGLang's server arguments,
llama.cpp's ``llama-server`` flags and Ollama's Modelfile ``PARAMETER`` names.
"""

from __future__ import annotations

from dataclasses import dataclass

from gpu_advisor.arithmetic.model_memory import WEIGHT_BITS, kv_bytes, weight_bytes
from gpu_advisor.errors import UsageError, one_of
from gpu_advisor.knowledge.model_files import ModelSpec

ENGINES = ("vllm", "sglang", "llama.cpp", "ollama")
VLLM_MEMORY_UTILIZATION = 0.90
"""vLLM's default gpu_memory_utilization: the share of each card the engine may fill."""
SGLANG_MEM_FRACTION = 0.88
"""SGLang's usual mem_fraction_static on large cards (weights plus KV pool)."""
RUNTIME_RESERVE_GB = 1.0
"""Per GPU: CUDA context, cuBLAS workspaces, NCCL buffers and CUDA graphs, kept out of the pool."""
PARALLEL_DEGREES = (1, 2, 4, 8)
"""Tensor-parallel sizes tried, smallest first: one node's GPUs, powers of two."""
_VLLM_KV = {
    "auto": "auto",
    "bf16": "auto",
    "fp16": "auto",
    "fp8": "fp8",
    "fp8_e4m3": "fp8_e4m3",
    "fp8_e5m2": "fp8_e5m2",
}
_LLAMA_CPP_KV = {
    "auto": "f16",
    "bf16": "bf16",
    "fp16": "f16",
    "f16": "f16",
    "q8_0": "q8_0",
    "q4_0": "q4_0",
    "q4_1": "q4_1",
    "q5_0": "q5_0",
    "q5_1": "q5_1",
}
_VLLM_QUANT = {"fp8": "fp8", "nf4": "bitsandbytes"}
"""Quantizations vLLM applies at load time to a 16-bit checkpoint."""


@dataclass(frozen=True)
class Setting:
    """One launch setting: the engine's own name for it, its value, and why."""

    name: str
    value: str | int | float
    reason: str


@dataclass(frozen=True)
class LaunchPlan:
    """An engine's settings for one model on given cards, and whether the model fits at all."""

    engine: str
    fits: bool
    settings: tuple[Setting, ...]
    notes: tuple[str, ...] = ()
    gpus: int = 0
    """GPUs it runs on: tensor x pipeline ranks (vLLM, SGLang), every card given (llama.cpp)."""

    def value(self, name: str) -> str | int | float | None:
        return next((s.value for s in self.settings if s.name == name), None)


@dataclass(frozen=True)
class _Split:
    tensor: int
    pipeline: int
    context: int
    weights_gb: float
    kv_gb: float
    asked: int


def plan_launch(
    spec: ModelSpec,
    *,
    engine: str,
    device_memory_gb: float,
    gpus: int,
    context: int,
    kv_dtype: str = "auto",
    quantization: str | None = None,
) -> LaunchPlan:
    """Settings for ``engine`` to serve ``spec`` on ``gpus`` cards of ``device_memory_gb`` each."""
    if engine not in ENGINES:
        raise UsageError(f"unknown serving engine {engine!r}; {one_of(ENGINES)}", field="engine")
    if gpus < 1 or device_memory_gb <= 0 or context < 1:
        raise UsageError(
            "need at least one GPU with memory and a context of at least 1 token", field="gpus"
        )
    quant = quantization or (
        "stored"
        if spec.stored_bytes
        else spec.quantization
        if spec.quantization in WEIGHT_BITS
        else "bf16"
    )
    weights_gb = weight_bytes(spec, quant).value / 1e9
    kv_name = "bf16" if kv_dtype in ("auto", "f16") else kv_dtype
    if engine in ("llama.cpp", "ollama"):
        return _plan_llama_cpp(spec, engine, device_memory_gb, gpus, context, kv_dtype, weights_gb)
    fraction = VLLM_MEMORY_UTILIZATION if engine == "vllm" else SGLANG_MEM_FRACTION
    usable = device_memory_gb * fraction - RUNTIME_RESERVE_GB
    split = _choose_split(spec, gpus, usable, context, kv_name, weights_gb)
    if engine == "vllm":
        return _plan_vllm(spec, split, usable, fraction, kv_dtype, quant, gpus)
    return _plan_sglang(spec, split, usable, fraction, kv_dtype, quant, gpus)


def _choose_split(
    spec: ModelSpec, gpus: int, usable_gb: float, context: int, kv_dtype: str, weights_gb: float
) -> _Split | None:
    """Fewest GPUs (tensor parallel first, then pipeline stages) that hold the weights and one
    full-context sequence; the context shrinks only when nothing holds it whole."""
    wanted = min(context, spec.max_context or context)
    kv_gb = kv_bytes(spec, wanted, kv_dtype).value / 1e9
    degrees = [tp for tp in PARALLEL_DEGREES if tp <= gpus and spec.attention_heads % tp == 0]
    options = [(tp, 1) for tp in degrees]
    if degrees:  # pipeline stages only once the widest tensor-parallel group is not enough
        options += [(degrees[-1], pp) for pp in range(2, min(gpus // degrees[-1], spec.layers) + 1)]
    for tp, pp in options:
        if (weights_gb + kv_gb) / (tp * pp) <= usable_gb:
            return _Split(tp, pp, wanted, weights_gb, kv_gb, context)
    if not options:
        return None
    tp, pp = max(options, key=lambda tp_pp: tp_pp[0] * tp_pp[1])
    room = usable_gb * tp * pp - weights_gb
    if room <= 0:
        return None
    per_token = kv_gb / wanted
    shorter = int(room / per_token) // 256 * 256
    return (
        _Split(tp, pp, shorter, weights_gb, per_token * shorter, context)
        if shorter >= 256
        else None
    )


def _split_reasons(split: _Split, usable: float) -> tuple[str, str]:
    ranks = split.tensor * split.pipeline
    per_gpu = (split.weights_gb + split.kv_gb) / ranks
    tp_reason = (
        f"{split.weights_gb:.1f} GB weights + {split.kv_gb:.1f} GB KV for one "
        f"{split.context:,}-token sequence over {ranks} GPU(s) = {per_gpu:.1f} GB each, "
        f"within {usable:.1f} GB usable" + ("" if ranks == 1 else "; fewer GPUs do not hold it")
    )
    pp_reason = (
        "the widest tensor-parallel group was not enough: layers split into "
        f"{split.pipeline} stages"
        if split.pipeline > 1
        else "the model fits without splitting layers into stages"
    )
    return tp_reason, pp_reason


def _context_reason(spec: ModelSpec, split: _Split) -> str:
    asked = split.asked
    if split.context < asked and split.context == spec.max_context:
        return f"the model's own limit ({spec.provenance.get('max_context', 'config')})"
    if split.context < asked:
        return (
            f"memory left after weights holds {split.context:,} tokens of KV for one "
            f"sequence, not the {asked:,} asked"
        )
    return "the context asked for"


def _plan_vllm(
    spec: ModelSpec,
    split: _Split | None,
    usable: float,
    fraction: float,
    kv_dtype: str,
    quant: str,
    gpus: int,
) -> LaunchPlan:
    if split is None:
        reason = f"the weights alone do not fit {gpus} GPU(s) at {usable:.1f} GB usable each"
        return LaunchPlan("vllm", False, (), (reason,))
    tp_reason, pp_reason = _split_reasons(split, usable)
    settings = [
        Setting("tensor_parallel_size", split.tensor, tp_reason),
        Setting("pipeline_parallel_size", split.pipeline, pp_reason),
        Setting("max_model_len", split.context, _context_reason(spec, split)),
        Setting(
            "gpu_memory_utilization",
            fraction,
            "vLLM's default share of each card; the "
            f"rest and {RUNTIME_RESERVE_GB:g} GB runtime reserve stay free",
        ),
    ]
    notes: list[str] = []
    vllm_kv = _VLLM_KV.get(kv_dtype)
    if vllm_kv is None:
        notes.append(f"vLLM has no {kv_dtype} KV cache (a llama.cpp type); using auto")
        vllm_kv = "auto"
    settings.append(
        Setting(
            "kv_cache_dtype",
            vllm_kv,
            "auto keeps the model's 16-bit dtype"
            if vllm_kv == "auto"
            else "1-byte KV halves the cache",
        )
    )
    if spec.quantization and spec.quantization != "gguf":
        notes.append(
            f"the checkpoint is already {spec.quantization}: vLLM reads its "
            "quantization_config, so no quantization setting"
        )
    elif quant in _VLLM_QUANT:
        settings.append(
            Setting(
                "quantization",
                _VLLM_QUANT[quant],
                f"quantize the 16-bit weights to {quant} at load time",
            )
        )
    elif quant in ("nvfp4", "mxfp4", "int4"):
        notes.append(f"{quant} needs a checkpoint quantized ahead of time; vLLM cannot make it")
    return LaunchPlan("vllm", True, tuple(settings), tuple(notes), split.tensor * split.pipeline)


def _plan_sglang(
    spec: ModelSpec,
    split: _Split | None,
    usable: float,
    fraction: float,
    kv_dtype: str,
    quant: str,
    gpus: int,
) -> LaunchPlan:
    if split is None:
        return LaunchPlan("sglang", False, (), (f"the weights alone do not fit {gpus} GPU(s)",))
    tp_reason, pp_reason = _split_reasons(split, usable)
    settings = [Setting("tp_size", split.tensor, tp_reason)]
    if split.pipeline > 1:
        settings.append(Setting("pp_size", split.pipeline, pp_reason))
    sglang_kv = _VLLM_KV.get(kv_dtype, "auto")
    sglang_kv = "fp8_e4m3" if sglang_kv == "fp8" else sglang_kv
    settings += [
        Setting("context_length", split.context, _context_reason(spec, split)),
        Setting("mem_fraction_static", fraction, "share of each card for weights and KV pool"),
        Setting(
            "kv_cache_dtype",
            sglang_kv,
            "auto keeps the model's 16-bit dtype"
            if sglang_kv == "auto"
            else "1-byte KV halves the cache",
        ),
    ]
    if not spec.quantization and quant == "fp8":
        settings.append(Setting("quantization", "fp8", "quantize 16-bit weights at load time"))
    return LaunchPlan("sglang", True, tuple(settings), (), split.tensor * split.pipeline)


def _plan_llama_cpp(
    spec: ModelSpec,
    engine: str,
    device_memory_gb: float,
    gpus: int,
    context: int,
    kv_dtype: str,
    weights_gb: float,
) -> LaunchPlan:
    """Layers offloaded to the GPUs (the rest run on the CPU), split evenly across cards."""
    cache_type = _LLAMA_CPP_KV.get(kv_dtype)
    notes: list[str] = []
    if cache_type is None:
        notes.append(f"llama.cpp has no {kv_dtype} KV cache; using f16")
        cache_type = "f16"
    kv_dtype = "fp16" if cache_type == "f16" else cache_type
    if spec.quantization != "gguf":
        notes.append(
            "llama.cpp and Ollama run GGUF files: convert the checkpoint first "
            "(llama.cpp's convert_hf_to_gguf.py, then llama-quantize) and name that file"
        )
    wanted = min(context, spec.max_context or context)
    kv_gb = kv_bytes(spec, wanted, kv_dtype).value / 1e9
    room = gpus * (device_memory_gb - RUNTIME_RESERVE_GB)
    per_layer = (weights_gb + kv_gb) / spec.layers
    offloaded = min(spec.layers, int(room // per_layer)) if per_layer > 0 else spec.layers
    all_on_gpu = offloaded == spec.layers
    layers_reason = (
        f"all {spec.layers} layers fit: {weights_gb:.1f} GB weights + {kv_gb:.1f} "
        f"GB KV within {room:.1f} GB"
        if all_on_gpu
        else f"{room:.1f} GB of GPU memory / {per_layer:.2f} GB per layer (weights and KV)"
        f" = {offloaded} of {spec.layers} layers; the rest run on the CPU"
    )
    quantized_v = cache_type not in ("f16", "bf16")
    if engine == "ollama":
        settings = [
            Setting("num_ctx", wanted, "Modelfile PARAMETER: the context asked for"),
            Setting("num_gpu", offloaded, "Modelfile PARAMETER: " + layers_reason),
            Setting(
                "OLLAMA_KV_CACHE_TYPE",
                cache_type,
                f"{cache_type} keys and values (the type asked for)",
            ),
        ]
        if quantized_v:
            settings.append(
                Setting("OLLAMA_FLASH_ATTENTION", 1, "a quantized KV cache needs flash attention")
            )
        return LaunchPlan("ollama", offloaded > 0, tuple(settings), tuple(notes), gpus)
    settings = [
        Setting("n_gpu_layers", offloaded, layers_reason),
        Setting("ctx_size", wanted, "the context asked for"),
        Setting("cache_type_k", cache_type, f"{cache_type} keys"),
        Setting("cache_type_v", cache_type, f"{cache_type} values"),
    ]
    if gpus > 1:
        settings.append(
            Setting(
                "tensor_split",
                ",".join(["1"] * gpus),
                "equal cards: an even share of layers on each (split mode layer)",
            )
        )
    if quantized_v:
        settings.append(Setting("flash_attn", "on", "a quantized V cache needs flash attention"))
    return LaunchPlan("llama.cpp", offloaded > 0, tuple(settings), tuple(notes), gpus)


# ---------------------------------------------------------------------------------------------
# The files the engines read

SERVING_FORMATS = {"vllm": "vllm", "sglang": "sglang", "llama-cpp": "llama.cpp", "ollama": "ollama"}
"""``deploy --format`` name -> engine name in :data:`ENGINES`."""
_LLAMA_SERVER_FLAGS = {
    "n_gpu_layers": "--n-gpu-layers",
    "ctx_size": "--ctx-size",
    "cache_type_k": "--cache-type-k",
    "cache_type_v": "--cache-type-v",
    "tensor_split": "--tensor-split",
    "flash_attn": "--flash-attn",
}
"""llama-server's long flags for the settings (tools/server/README.md of llama.cpp)."""


def _comment(text: str, indent: str = "") -> list[str]:
    """A reason as comment lines (one line each; the engines' parsers ignore them)."""
    return [f"{indent}# {line}" for line in text.splitlines() or [""]]


def _yaml_scalar(value: str | int | float) -> str:
    """A value as YAML reads it back unchanged: numbers bare, strings JSON-quoted (valid YAML)."""
    import json

    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return json.dumps(str(value))
    return repr(value) if isinstance(value, float) else str(value)


def render_launch(plan: LaunchPlan, model_ref: str, heading: str) -> str:
    """The launch file for ``plan.engine``: vLLM and SGLang YAML configs (``--config``), a
    llama-server shell script, an Ollama Modelfile; each setting preceded by its reason."""
    if not plan.fits:
        raise UsageError(
            f"nothing to write for {plan.engine}: " + "; ".join(plan.notes or ("it does not fit",)),
            field="engine",
        )
    head = _comment(heading) + [f"# note: {note}" for note in plan.notes]
    if plan.engine in ("vllm", "sglang"):
        run = (
            "vllm serve --config vllm.yaml"
            if plan.engine == "vllm"
            else "python -m sglang.launch_server --config sglang.yaml"
        )
        model_key = "model" if plan.engine == "vllm" else "model-path"
        lines = [*head, f"# run: {run}", f"{model_key}: {_yaml_scalar(model_ref)}"]
        for setting in plan.settings:
            lines += _comment(setting.reason)
            lines.append(f"{setting.name.replace('_', '-')}: {_yaml_scalar(setting.value)}")
        return "\n".join(lines) + "\n"
    if plan.engine == "llama.cpp":
        import shlex

        lines = ["#!/bin/sh", *head]
        args = [f"  --model {shlex.quote(model_ref)}"]
        for setting in plan.settings:
            lines += _comment(f"{_LLAMA_SERVER_FLAGS[setting.name]}: {setting.reason}")
            args.append(f"  {_LLAMA_SERVER_FLAGS[setting.name]} {shlex.quote(str(setting.value))}")
        lines.append("exec llama-server \\")
        lines.append(" \\\n".join(args) + ' "$@"')
        return "\n".join(lines) + "\n"
    lines = [*head, "# run: ollama create NAME -f Modelfile", f"FROM {model_ref}"]
    environment = []
    for setting in plan.settings:
        if setting.name.startswith("OLLAMA_"):
            environment.append(setting)
            continue
        lines += _comment(setting.reason)
        lines.append(f"PARAMETER {setting.name} {setting.value}")
    if environment:
        lines.append(
            "# Set in the Ollama server's environment before `ollama serve` (these are not"
        )
        lines.append("# Modelfile parameters: they apply to every model the server loads):")
        for setting in environment:
            lines.append(f"#   {setting.name}={setting.value}: {setting.reason}")
    return "\n".join(lines) + "\n"
