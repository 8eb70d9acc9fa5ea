"""Memory sizing: how many GB a workload needs per GPU, itemized, with every assumption stated.

The arithmetic follows the formulas practitioners use (DeepSpeed's bytes-per-parameter accounting
and ZeRO estimators, the QLoRA paper's 4-bit storage, the grouped-query KV-cache formula) and is
documented with worked numbers in ``docs/sizing.md``. GB are decimal (10^9 bytes) throughout.

Two entry points matter to the rest of the system: :func:`estimate` (one itemized breakdown) and
:func:`gpus_needed` (fewest GPUs of a given size that hold it). Both are pure arithmetic over a
frozen request, cached, and do no I/O once the model catalog is loaded, so the recommendation
engine can call them per device without thinking about cost.

A model read from its own files (a :class:`~gpu_advisor.arithmetic.model_memory.FileModel`) is
sized with what the files say: every expert resident, latent or windowed KV, the stored format of
a GGUF or quantized checkpoint (``model_memory`` does that arithmetic, this module itemizes it).

Why one module of ~900 lines: the constants, the request checks and the itemized terms are one
derivation, read side by side with ``docs/sizing.md``; every term cites the constant it uses and
states it as an assumption, so splitting them would scatter a single formula across files. (The
model catalog it reads is knowledge and lives in ``knowledge.models``/``knowledge.catalogs``.)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gpu_advisor.arithmetic import model_memory
from gpu_advisor.arithmetic.model_memory import FileModel
from gpu_advisor.errors import FileError, UsageError, did_you_mean, one_of

# The model catalog is knowledge (kb/models.yaml); sizing's callers also find it here.
from gpu_advisor.knowledge.models import (  # noqa: F401
    ASSUMED_VOCAB,
    ModelArch,
    normalize_model_name,
    resolve_model,
    shipped_models_path,
)

if TYPE_CHECKING:  # the file readers are imported when a model file is read
    from gpu_advisor.knowledge.model_files import ModelSpec


def load_model_catalog(path: Path | None = None) -> dict[str, ModelArch]:
    """The model catalog by canonical name (read by ``knowledge.catalogs``, pydantic only then)."""
    from gpu_advisor.knowledge.catalogs import load_model_catalog as load

    return load(path)


def resolve_model_reference(text: str, catalog_path: Path | None = None) -> ModelArch:
    """A catalog model, or a model read from its own files (config.json, folder, .gguf) as a
    :class:`FileModel`; UsageError (field ``model``) says what is wrong with either."""
    from gpu_advisor.knowledge.model_files import is_file_reference, read_model_cached

    catalog = load_model_catalog(catalog_path)
    labels = {name for arch in catalog.values() for name in (arch.name, *arch.aliases)}
    if is_file_reference(text, labels):
        try:
            return model_memory.file_model(read_model_cached(text))
        except FileError as exc:
            raise UsageError(str(exc), field="model") from None
    try:
        return resolve_model(text, catalog)
    except UsageError as exc:
        raise UsageError(
            f"{exc.message}; or give a model's config.json, its folder or a .gguf file",
            field="model",
        ) from None


GB = 1e9
"""Bytes in one GB as printed everywhere here: decimal (card capacities are binary, see below)."""

PRECISION_BYTES: dict[str, float] = {
    "fp32": 4.0,
    "bf16": 2.0,
    "fp16": 2.0,
    "fp8": 1.0,
    "int8": 1.0,
    "fp4": 0.5,
    "int4": 0.5,
    "nf4": 4.127 / 8,  # QLoRA: 4-bit NormalFloat + double-quantized block scales, 4.127 bits/param
    "nvfp4": 4.5 / 8,  # 16-element blocks sharing an FP8 (E4M3) scale: 4 + 8/16 bits/param
    "mxfp4": 4.25 / 8,  # OCP microscaling: 32-element blocks sharing an 8-bit (E8M0) scale
}
"""Bytes per stored parameter (or KV element) for each precision name we accept."""

FOUR_BIT = frozenset({"fp4", "int4", "nf4", "nvfp4", "mxfp4"})
WORKLOADS = ("pretraining", "fine-tuning", "inference")
NOT_SIZED_WORKLOADS = {"scientific": "scientific computing has no model-state formula to size"}
METHODS = ("full", "lora", "qlora")
OPTIMIZERS = ("adamw", "adamw-8bit")
CONVENTIONS = (12, 16, 18)
FULL_TRAINING_PRECISIONS = ("fp32", "bf16", "fp16")

# --- The constants every estimate rests on (each one is printed as an assumption). -------------
CUDA_CONTEXT_GB = 1.0
"""Per GPU: CUDA context, cuBLAS/cuDNN workspaces, NCCL buffers (top of the usual 0.5-1 GB)."""
BINARY_GB_IN_DECIMAL = 2**30 / 1e9
"""Card capacities are binary: an "80 GB" H100 has 80 GiB = 85.9 GB (nvidia-smi: 81,559 MiB)."""
USABLE_FRACTION = 0.95
"""Share of a card's capacity a job can fill (driver reservations, allocator fragmentation)."""
SERVING_MEMORY_UTILIZATION = 0.90
"""vLLM's default gpu_memory_utilization: the serving engine never fills more than this."""
LORA_ADAPTER_FRACTION = 0.005
"""LoRA/QLoRA trainable parameters as a share of the base model (r=16-64 on all linear layers)."""
ADAPTER_WEIGHT_BYTES = 4.0
"""PEFT keeps adapter weights in fp32 by default; their gradients too."""
OFFLOAD_BUFFER_FACTOR = 1.5
"""DeepSpeed estimators' additional_buffer_factor for host RAM."""
PREFILL_CHUNK_TOKENS = 8192
"""Serving engines prefill long prompts in chunks; the activation peak follows one chunk."""
INFERENCE_ACTIVATION_BYTES_PER_HIDDEN = 24.0
"""One layer's live tensors per token in a forward pass (SwiGLU MLP at ~3.5x hidden, 16-bit)."""
TRAINING_ACTIVATION_BYTES_PER_HIDDEN = 34.0
"""Per layer per token, 16-bit, from Korthikanti et al. 2022 (sbh x 34), without the attention
score term (5as/h) because FlashAttention-style kernels do not store the s x s matrix."""
CHECKPOINT_BYTES_PER_HIDDEN = 2.0
"""With gradient checkpointing each layer keeps only its 16-bit input: 2 B x hidden per token."""
LOGIT_BYTES = 8.0
"""Training loss: an fp32 copy of the logits and its gradient, per token per vocabulary entry."""
INFERENCE_LOGIT_BYTES = 4.0
"""Decoding computes fp32 logits only for the last position of each sequence."""

# Fallback architecture from the parameter count alone (see architecture_from_params).
_PARAMS_PER_LAYER_PER_HIDDEN2 = 12.75  # q,o: 2h^2; k,v with 8 KV heads: ~0.25h^2; SwiGLU: 10.5h^2
_HIDDEN_PER_LAYER = 112  # catalog models: hidden/layers between 80 and 130
_FALLBACK_HEAD_DIM = 128
_FALLBACK_KV_HEADS = 8


@functools.lru_cache(maxsize=1024)
def architecture_from_params(params_b: float) -> ModelArch:
    """A Llama-like architecture fitted to a parameter count, for when no model is named.

    Each dimension is a non-decreasing step function of the parameter count, so memory never
    shrinks when the parameter count grows: hidden = (P x 112 / 12.75)^(1/3) rounded to a
    multiple of 128, layers = hidden/112, head_dim 128, 8 KV heads (fewer only if there are
    fewer heads). Against the catalog models with 8 KV heads this lands within 20% of the
    real KV size per token.
    """
    _require_positive_number(params_b, field="params_b")
    params = params_b * 1e9
    hidden_exact = (params * _HIDDEN_PER_LAYER / _PARAMS_PER_LAYER_PER_HIDDEN2) ** (1 / 3)
    hidden = _FALLBACK_HEAD_DIM * max(1, round(hidden_exact / _FALLBACK_HEAD_DIM))
    layers = max(1, round(hidden_exact / _HIDDEN_PER_LAYER))
    heads = hidden // _FALLBACK_HEAD_DIM
    return ModelArch(
        name=f"assumed-{params_b:g}b",
        params_b=params_b,
        layers=layers,
        hidden=hidden,
        attention_heads=heads,
        kv_heads=min(_FALLBACK_KV_HEADS, heads),
        head_dim=_FALLBACK_HEAD_DIM,
        source="fitted from the parameter count (no model named)",
        assumed=True,
    )


# ---------------------------------------------------------------------------------------------
# Requests and estimates


@dataclass(frozen=True)
class SizingRequest:
    """What to size. Batch: micro-batch per GPU for training, concurrent sequences for inference."""

    workload: str
    params_b: float
    model: ModelArch | None = None
    method: str | None = None
    precision: str = "bf16"
    context_tokens: int = 4096
    batch_size: int = 1
    gpus: int = 1
    zero_stage: int = 0
    offload: bool = False
    kv_precision: str | None = None
    optimizer: str = "adamw"
    gradient_checkpointing: bool = True
    bytes_per_param_convention: int = 16

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "workload": self.workload,
            "params_b": self.params_b,
            "model": self.model.name if self.model else None,
            **(
                {"model_files": self.model.spec.source} if isinstance(self.model, FileModel) else {}
            ),
            "method": self.method,
            "precision": self.precision,
            "context_tokens": self.context_tokens,
            "batch_size": self.batch_size,
            "gpus": self.gpus,
        }
        if self.workload == "inference":
            data["kv_precision"] = self.kv_precision
        else:
            data.update(
                zero_stage=self.zero_stage,
                offload=self.offload,
                optimizer=self.optimizer,
                gradient_checkpointing=self.gradient_checkpointing,
                bytes_per_param_convention=self.bytes_per_param_convention,
            )
        return data


@dataclass(frozen=True)
class Item:
    """One line of a breakdown: GB over all GPUs, GB on each GPU, and how it was computed."""

    item: str
    gb: float
    per_gpu_gb: float
    formula: str


@dataclass(frozen=True)
class Estimate:
    """An itemized memory need: ``total_gb`` sums all GPUs (replicas too), ``per_gpu_gb`` one."""

    request: SizingRequest
    total_gb: float
    per_gpu_gb: float
    breakdown: tuple[Item, ...]
    assumptions: tuple[str, ...]
    host_ram_gb: float

    def item(self, name: str) -> Item | None:
        return next((i for i in self.breakdown if i.item == name), None)

    def to_json(self) -> dict[str, Any]:
        """The JSON contract: totals, itemized breakdown, assumptions, host RAM (GB, 3 decimals)."""
        return {
            "request": self.request.to_json(),
            "unit": "GB (10^9 bytes)",
            "total_gb": round(self.total_gb, 3),
            "per_gpu_gb": round(self.per_gpu_gb, 3),
            "gpus": self.request.gpus,
            "breakdown": [
                {
                    "item": i.item,
                    "gb": round(i.gb, 3),
                    "per_gpu_gb": round(i.per_gpu_gb, 3),
                    "formula": i.formula,
                }
                for i in self.breakdown
            ],
            "assumptions": list(self.assumptions),
            "host_ram_gb": round(self.host_ram_gb, 3),
        }


def usable_memory_gb(device_memory_gb: float) -> float:
    """What a job can fill on a card, in decimal GB: 95% of its capacity read as binary GB.

    GPU memory is sold in powers of two, so the stated "80 GB" is 80 GiB = 85.9 decimal GB; the
    5% covers what the driver reserves and allocator fragmentation (the CUDA context is not in
    it: every estimate itemizes it). Net: usable = stated x 1.0737 x 0.95 = 1.02 x stated.
    Comparing decimal-GB needs with the stated figure instead would wrongly say, for example,
    that a 70B model in bf16 does not fit two 80 GB cards.
    """
    return device_memory_gb * BINARY_GB_IN_DECIMAL * USABLE_FRACTION


def gpus_needed(req: SizingRequest, device_memory_gb: float, max_gpus: int = 8) -> int | None:
    """Fewest GPUs of this size that hold the request, or None if none up to ``max_gpus`` does.

    Inference is tensor parallel, tried at 1, 2, 4, 8, ... (attention heads must split evenly);
    training tries every count with the ZeRO stage asked for. ZeRO-0 replicates the whole model
    on every GPU, so for it only one GPU is tried: more GPUs do not lower the need per GPU.
    """
    if isinstance(max_gpus, bool) or not isinstance(max_gpus, int) or max_gpus < 1:
        raise UsageError(f"must be a whole number >= 1, got {max_gpus!r}", field="max_gpus")
    _require_positive_number(device_memory_gb, what="device memory (GB)")
    limit = usable_memory_gb(device_memory_gb)
    for count in _gpu_counts(req, max_gpus):
        if _per_gpu_gb(replace(req, gpus=count)) <= limit:
            return count
    return None


def _gpu_counts(req: SizingRequest, max_gpus: int) -> Iterable[int]:
    if req.workload == "inference":
        count = 1
        while count <= max_gpus:
            yield count
            count *= 2
    elif req.zero_stage == 0:
        yield 1
    else:
        yield from range(1, max_gpus + 1)


def estimate(req: SizingRequest) -> Estimate:
    """The itemized memory need of a request; UsageError names the field of any bad value."""
    return _estimate_cached(req)


def _per_gpu_gb(req: SizingRequest) -> float:
    return _estimate_cached(req).per_gpu_gb


def forget_estimates() -> None:
    """Drop the estimates and fitted architectures remembered by their inputs (benchmarks of a
    situation new to the process)."""
    _estimate_cached.cache_clear()
    architecture_from_params.cache_clear()


@functools.lru_cache(maxsize=4096)
def _estimate_cached(req: SizingRequest) -> Estimate:
    _validate(req)
    arch = req.model or architecture_from_params(req.params_b)
    sizing = _Sizing(req, arch)
    if req.workload == "inference":
        sizing.inference()
    else:
        sizing.training()
    return sizing.result()


# ---------------------------------------------------------------------------------------------
# Validation


def _require_positive_number(value: object, field: str | None = None, what: str = "") -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        subject = f"{what} must" if what else "must"
        raise UsageError(f"{subject} be a positive number, got {value!r}", field=field)


def _require_positive_int(field: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(f"must be a whole number >= 1, got {value!r}", field=field)


def check_precision(field: str, value: str) -> str:
    """A known precision name (case-insensitive), or UsageError naming the field."""
    key = value.strip().lower() if isinstance(value, str) else value
    if key not in PRECISION_BYTES:
        raise UsageError(
            f"unknown precision {value!r}{did_you_mean(str(key), PRECISION_BYTES)}; "
            f"{one_of(PRECISION_BYTES)}",
            field=field,
        )
    return key


def check_workload(value: str) -> str:
    """A sized workload; scientific computing is recognized but refused with the reason."""
    key = value.strip().lower() if isinstance(value, str) else value
    if key in NOT_SIZED_WORKLOADS:
        raise UsageError(
            f"{key} is not sized ({NOT_SIZED_WORKLOADS[key]}); memory sizing "
            f"covers {one_of(WORKLOADS)}",
            field="workload",
        )
    if key not in WORKLOADS:
        raise UsageError(
            f"unknown workload {value!r}{did_you_mean(str(key), WORKLOADS)}; {one_of(WORKLOADS)}",
            field="workload",
        )
    return key


def _validate(req: SizingRequest) -> None:
    check_workload(req.workload)
    _require_positive_number(req.params_b, field="params_b")
    if req.model is not None and not isinstance(req.model, ModelArch):
        raise UsageError(f"must be a catalog model, got {req.model!r}", field="model")
    check_precision("precision", req.precision)
    if req.precision != req.precision.strip().lower():
        raise UsageError(f"must be lower case here, got {req.precision!r}", field="precision")
    if req.kv_precision is not None:
        if isinstance(req.model, FileModel) and req.kv_precision in model_memory.KV_CACHE_BYTES:
            pass  # a model's own files are sized with the engines' KV types too (q8_0, q4_0)
        else:
            check_precision("kv_precision", req.kv_precision)
    _require_positive_int("context", req.context_tokens)
    _require_positive_int("batch", req.batch_size)
    _require_positive_int("gpus", req.gpus)
    if isinstance(req.zero_stage, bool) or req.zero_stage not in (0, 1, 2, 3):
        raise UsageError(
            f"must be 0, 1, 2 or 3 (the DeepSpeed ZeRO stage), got {req.zero_stage!r}",
            field="zero",
        )
    if req.optimizer not in OPTIMIZERS:
        raise UsageError(
            f"unknown optimizer {req.optimizer!r}"
            f"{did_you_mean(str(req.optimizer), OPTIMIZERS)}; {one_of(OPTIMIZERS)}",
            field="optimizer",
        )
    if req.bytes_per_param_convention not in CONVENTIONS:
        raise UsageError(
            f"must be 12, 16 or 18, got {req.bytes_per_param_convention!r}",
            field="bytes_per_param",
        )
    if req.method is not None and req.method not in METHODS:
        raise UsageError(
            f"unknown method {req.method!r}{did_you_mean(str(req.method), METHODS)}; "
            f"{one_of(METHODS)}",
            field="method",
        )
    if req.workload == "inference":
        return
    if req.workload == "pretraining" and req.method not in (None, "full"):
        raise UsageError(
            f"{req.method}: pretraining trains every weight; use method full "
            "(or workload fine-tuning for LoRA/QLoRA)",
            field="method",
        )
    if req.offload and req.zero_stage == 0:
        raise UsageError(
            "needs ZeRO stage (zero) 1, 2 or 3: DeepSpeed offloads the (sharded) optimizer state",
            field="offload",
        )
    if req.offload and req.optimizer == "adamw-8bit":
        raise UsageError(
            "cannot go with optimizer adamw-8bit: DeepSpeed's CPU Adam keeps 32-bit "
            "state; choose one of the two",
            field="offload",
        )


# ---------------------------------------------------------------------------------------------
# The arithmetic


def _p(count: float) -> str:
    """A parameter count for formulas: 70.55B, 352.8M."""
    return f"{count / 1e9:.4g}B" if count >= 1e9 else f"{count / 1e6:.4g}M"


def _b(value: float) -> str:
    return f"{value:g}"


def _share(stage_sharded: bool, gpus: int, what: str) -> str:
    return f" / {gpus} GPUs ({what})" if stage_sharded and gpus > 1 else ""


@dataclass
class _Sizing:
    """Accumulates items (per-GPU bytes) and assumption sentences for one request."""

    req: SizingRequest
    arch: ModelArch
    items: list[tuple[str, float, str]] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)
    host_bytes: float = 0.0

    @property
    def spec(self) -> ModelSpec | None:
        """The model's own files, when it was read from them."""
        return self.arch.spec if isinstance(self.arch, FileModel) else None

    @property
    def params(self) -> float:
        """Parameters held: the files' own count wins over params_b (every expert included)."""
        return float(self.spec.params) if self.spec else self.req.params_b * 1e9

    def add(self, name: str, per_gpu_bytes: float, formula: str) -> None:
        self.items.append((name, max(0.0, per_gpu_bytes), formula))

    def note(self, sentence: str) -> None:
        self.assumptions.append(sentence)

    def result(self) -> Estimate:
        gpus = self.req.gpus
        breakdown = tuple(
            Item(name, per_gpu / GB * gpus, per_gpu / GB, formula)
            for name, per_gpu, formula in self.items
        )
        per_gpu = sum(i.per_gpu_gb for i in breakdown)
        total = sum(i.gb for i in breakdown)
        return Estimate(
            self.req, total, per_gpu, breakdown, tuple(self.assumptions), self.host_bytes / GB
        )

    # -- shared ------------------------------------------------------------------------------
    def describe_model(self) -> None:
        arch, req = self.arch, self.req
        if self.spec is not None:
            for sentence in model_memory.describe_spec(self.spec):
                self.note(sentence)
            if abs(self.spec.params - req.params_b * 1e9) > 0.01 * self.spec.params:
                self.note(
                    f"The files' {self.spec.params / 1e9:.4g}B parameters replace the "
                    f"{req.params_b:g}B given (model_params_b)."
                )
            self.note(
                "GB are decimal (10^9 bytes); each item is per GPU, and 'total' sums all GPUs, "
                "counting replicated copies on each."
            )
            return
        shape = (
            f"{arch.layers} layers, hidden {arch.hidden}, {arch.attention_heads} attention heads, "
            f"{arch.kv_heads} KV heads of dimension {arch.head_dim}"
        )
        if arch.assumed:
            self.note(
                f"No model was named, so the architecture is fitted to {req.params_b:g}B "
                f"parameters: "
                f"{shape} (hidden ~ (P x 112 / 12.75)^(1/3) rounded to 128, layers = hidden/112, "
                f"8 KV heads as in Llama 3, Mistral and Qwen2.5); name a model for its real shape."
            )
        else:
            self.note(f"Model {arch.name}: {shape} (source: {arch.source}).")
            if arch.is_moe:
                self.note(
                    f"Mixture of experts: {arch.experts} experts in {arch.moe_layers} layers, "
                    f"{arch.experts_per_token} chosen per token. All experts are resident in "
                    f"memory ({arch.params_b:.4g}B weights); the FLOPs per token follow the "
                    f"{arch.active_params_b:.4g}B active ones."
                )
            if abs(arch.params_b - req.params_b) > 0.01 * arch.params_b:
                self.note(
                    f"Weights are sized for {req.params_b:g}B parameters as asked, although "
                    f"{arch.name} has {arch.params_b:g}B."
                )
        if not arch.vocab_size:
            self.note(
                f"Vocabulary assumed to be {ASSUMED_VOCAB:,} tokens (the architecture does not "
                "say)."
            )
        self.note(
            "GB are decimal (10^9 bytes); each item is per GPU, and 'total' sums all GPUs, "
            "counting replicated copies on each."
        )

    def note_plain_four_bit(self, precision: str) -> None:
        if precision in ("fp4", "int4"):
            self.note(
                f"{precision} is counted at exactly 4 bits/param; real checkpoints carry block "
                "scales (NVFP4 4.5, MXFP4 4.25, NF4 4.127 bits): name that precision to count them."
            )

    def add_overhead(self, extra_bytes: float = 0.0, extra_formula: str = "") -> None:
        formula = f"CUDA context and library workspaces {CUDA_CONTEXT_GB:g} GB per GPU"
        self.add("overhead", CUDA_CONTEXT_GB * GB + extra_bytes, formula + extra_formula)

    # -- inference ---------------------------------------------------------------------------
    def inference(self) -> None:
        req, arch = self.req, self.arch
        gpus = req.gpus
        self.describe_model()
        if self.spec is not None:
            self.inference_from_files(self.spec)
            return
        weight_bytes = PRECISION_BYTES[req.precision]
        self.add(
            "weights",
            self.params * weight_bytes / gpus,
            f"{_p(self.params)} params x {_b(weight_bytes)} B ({req.precision})"
            f"{_share(True, gpus, 'tensor parallel')}",
        )
        if req.precision in FOUR_BIT or req.precision in ("fp8", "int8"):
            self.note(
                f"All weights are stored at {req.precision} ({_b(weight_bytes * 8)} bits/param, "
                "block scales included); embeddings kept in 16 bit would add a little."
            )
        self.note_plain_four_bit(req.precision)
        kv_name = self.kv_name()
        kv_bytes = PRECISION_BYTES[kv_name]
        heads_per_gpu = math.ceil(arch.kv_heads / gpus)
        kv_total = arch.kv_elements_per_token * kv_bytes * req.context_tokens * req.batch_size
        kv_per_gpu = kv_total * heads_per_gpu / arch.kv_heads
        split = ""
        if gpus > 1:
            split = (
                f" / {gpus} GPUs"
                if heads_per_gpu * gpus == arch.kv_heads
                else f", {heads_per_gpu} of {arch.kv_heads} KV heads per GPU (heads replicate when "
                f"GPUs outnumber them)"
            )
        self.add(
            "kv_cache",
            kv_per_gpu,
            f"2 x {arch.layers} layers x {arch.kv_heads} KV heads x {arch.head_dim} x "
            f"{_b(kv_bytes)} B ({kv_name}) x {req.context_tokens} tokens x "
            f"{req.batch_size} seq{split}",
        )
        self.note(
            f"The KV cache holds the full context ({req.context_tokens} tokens) for each of "
            f"{req.batch_size} concurrent sequence(s); it uses the {arch.kv_heads} KV heads, "
            "not all attention heads (grouped-query attention)."
        )
        self.inference_rest()

    def kv_name(self) -> str:
        """The KV-cache dtype asked for, else the activation dtype (said in a note)."""
        req = self.req
        kv_name = req.kv_precision or ("fp32" if req.precision == "fp32" else "bf16")
        if req.kv_precision is None:
            self.note(
                f"KV cache in {kv_name}, the activation dtype (serving engines' default); "
                "--kv-precision fp8 halves it."
            )
        return kv_name

    def inference_from_files(self, spec: ModelSpec) -> None:
        """Weights and KV cache with what the files say: the stored format of a GGUF or a
        quantized checkpoint, every expert resident, latent or windowed KV."""
        req, gpus = self.req, self.req.gpus
        held = model_memory.held_format(spec, req.precision)
        weights = model_memory.weight_bytes(spec, held)
        self.add(
            "weights",
            weights.value / gpus,
            f"{weights.formula}{_share(True, gpus, 'tensor parallel')}",
        )
        if held != req.precision:
            how = "as stored" if held == "stored" else f"as {held}"
            self.note(
                f"The files say the weights are {spec.quantization}: they are sized {how} "
                f"(the precision answer, {req.precision}, does not change them)."
            )
        else:
            self.note_plain_four_bit(req.precision)
        kv_name = self.kv_name()
        if kv_name in model_memory.KV_CACHE_BYTES:
            kv = model_memory.kv_bytes(spec, req.context_tokens, kv_name, req.batch_size)
        else:
            raise UsageError(
                f"{kv_name} is not a KV-cache type the serving engines offer; "
                f"{one_of(model_memory.KV_CACHE_BYTES)}",
                field="kv_precision",
            )
        if spec.attention == "latent":
            per_gpu, split = (
                kv.value,
                (
                    f", whole on each of {gpus} GPUs (the latent is not split by heads)"
                    if gpus > 1
                    else ""
                ),
            )
        else:
            heads_per_gpu = math.ceil(spec.kv_heads / gpus)
            per_gpu = kv.value * heads_per_gpu / spec.kv_heads
            split = ""
            if gpus > 1:
                split = (
                    f" / {gpus} GPUs"
                    if heads_per_gpu * gpus == spec.kv_heads
                    else f", {heads_per_gpu} of {spec.kv_heads} KV heads per GPU (heads "
                    "replicate when GPUs outnumber them)"
                )
        self.add("kv_cache", per_gpu, f"{kv.formula} ({kv_name}){split}")
        self.note(
            f"The KV cache holds the full context ({req.context_tokens} tokens) for each of "
            f"{req.batch_size} concurrent sequence(s)."
        )
        self.inference_rest()

    def inference_rest(self) -> None:
        """Activations, overhead and the serving engine's headroom (any model)."""
        req, arch, gpus = self.req, self.arch, self.req.gpus
        chunk = min(req.context_tokens * req.batch_size, PREFILL_CHUNK_TOKENS)
        act = chunk * arch.hidden * INFERENCE_ACTIVATION_BYTES_PER_HIDDEN
        logits = req.batch_size * arch.vocab * INFERENCE_LOGIT_BYTES
        self.add(
            "activations",
            act + logits,
            f"prefill peak {chunk} tokens x hidden {arch.hidden} x "
            f"{_b(INFERENCE_ACTIVATION_BYTES_PER_HIDDEN)} B + {req.batch_size} x vocab "
            f"{arch.vocab} x {_b(INFERENCE_LOGIT_BYTES)} B (last-token logits)",
        )
        self.note(
            f"Activation peak is one layer's working set for a prefill chunk of at most "
            f"{PREFILL_CHUNK_TOKENS} tokens, not split across GPUs."
        )
        if gpus > 1:
            self.note(
                f"Inference over {gpus} GPUs is tensor parallel: weights and KV heads split "
                "across them; context, activations and headroom are per GPU."
            )
        rest = sum(per_gpu for _, per_gpu, _ in self.items) + CUDA_CONTEXT_GB * GB
        self.add_overhead()
        headroom = rest * (USABLE_FRACTION / SERVING_MEMORY_UTILIZATION - 1)
        self.add(
            "headroom",
            headroom,
            f"serving engine reserve: (everything above) x ({USABLE_FRACTION:g} / "
            f"{SERVING_MEMORY_UTILIZATION:g} - 1)",
        )
        self.note(
            f"The serving engine is assumed to cap itself at {SERVING_MEMORY_UTILIZATION:.0%} of "
            f"the card (vLLM's default gpu_memory_utilization); the headroom item makes the "
            f"fit test 'need <= {USABLE_FRACTION:.0%} of the card' equivalent to it."
        )
        if req.method not in (None, "full"):
            self.note(f"--method {req.method} applies to training and is ignored for inference.")
        if req.zero_stage or req.offload:
            self.note("ZeRO stages and offload apply to training; they are ignored for inference.")

    # -- training ----------------------------------------------------------------------------
    def training(self) -> None:
        req = self.req
        method = req.method or "full"
        self.describe_model()
        if req.workload == "pretraining":
            self.note(
                "Pretraining is sized as full training of every weight (memory per step; "
                "the token budget does not change it)."
            )
        if method == "full":
            self.full_model_states()
        else:
            self.adapter_model_states(method)
        self.activations()
        extra, extra_formula = 0.0, ""
        if req.zero_stage == 3:
            extra = 4 * self.arch.largest_layer_params
            extra_formula = (
                f" + ZeRO-3 gathered-layer buffer 4 B x largest layer "
                f"{_p(self.arch.largest_layer_params)} params"
            )
        self.add_overhead(extra, extra_formula)
        if req.gpus > 1:
            parallel = {
                0: "plain data parallel (ZeRO-0): every GPU holds a full copy",
                1: "ZeRO-1: optimizer state sharded",
                2: "ZeRO-2: gradients and optimizer state sharded",
                3: "ZeRO-3: weights, gradients and optimizer state sharded",
            }
            self.note(f"{req.gpus} GPUs with {parallel[req.zero_stage]}; activations are per GPU.")

    def full_model_states(self) -> None:
        req, params, gpus, stage = self.req, self.params, self.req.gpus, self.req.zero_stage
        eight_bit = req.optimizer == "adamw-8bit"
        moments = 2.0 if eight_bit else 8.0
        if req.precision not in FULL_TRAINING_PRECISIONS:
            self.note(
                f"Full training with {req.precision} compute (e.g. Transformer Engine FP8) still "
                "keeps 16-bit weights and an fp32 master copy, so it is sized as bf16 mixed "
                "precision; for a quantized frozen base use --method lora or qlora."
            )
        if req.precision == "fp32":
            weight, grad, master = 4.0, 4.0, 0.0
            self.note(
                "fp32 training: fp32 weights (4 B), gradients (4 B) and Adam moments; no "
                "separate master copy, so the bytes-per-parameter convention does not apply."
            )
        else:
            convention = req.bytes_per_param_convention
            weight, grad, master = {16: (2.0, 2.0, 4.0), 18: (2.0, 4.0, 4.0), 12: (2.0, 2.0, 0.0)}[
                convention
            ]
            described = {
                16: "16 B/param, DeepSpeed's mixed-precision AdamW convention: 16-bit weights 2 + "
                "16-bit gradients 2 + fp32 master weights 4 + fp32 Adam moments 4 + 4",
                18: "18 B/param: as DeepSpeed's 16 but with fp32 gradients (4 B)",
                12: "12 B/param: 16-bit weights and gradients with fp32 Adam moments and no fp32 "
                "master copy (pure bf16 AdamW)",
            }
            self.note(f"Model states at {described[convention]}.")
        if eight_bit:
            self.note("8-bit AdamW (bitsandbytes): the two moments take 1 B each instead of 4.")
        stored = req.precision if req.precision in FULL_TRAINING_PRECISIONS else "bf16"
        self.add(
            "weights",
            params * weight / (gpus if stage == 3 else 1),
            f"{_p(params)} params x {_b(weight)} B ({stored}){_share(stage == 3, gpus, 'ZeRO-3')}",
        )
        self.sharded_trainable_state(params, grad, master, moments, "params")

    def sharded_trainable_state(
        self, trainable: float, grad: float, master: float, moments: float, what: str
    ) -> None:
        """Gradients and optimizer state of the trainable parameters, sharded per the ZeRO stage."""
        req, gpus, stage = self.req, self.req.gpus, self.req.zero_stage
        count = f"{_p(trainable)} {what}"
        if req.offload:
            grads_on_gpu = trainable * 2.0 if stage == 1 else 0.0
            self.add(
                "gradients",
                grads_on_gpu,
                f"{count} x 2 B (16-bit, kept whole under ZeRO-1)"
                if stage == 1
                else "reduced in buckets and streamed to host RAM (offload)",
            )
            self.add("optimizer", 0.0, "in host RAM (optimizer offload)")
            factor = 16.0 if stage == 3 else max(4.0 * gpus, 16.0)
            self.host_bytes += trainable * factor * OFFLOAD_BUFFER_FACTOR
            self.note(
                f"Optimizer offload (ZeRO-{stage}): fp32 master weights, Adam moments and fp32 "
                f"gradients live in host RAM, sized as DeepSpeed's estimator does: "
                f"{_b(factor)} B x {count} x {OFFLOAD_BUFFER_FACTOR:g} buffer factor "
                "(one node); only the weights stay on the GPU."
            )
            return
        self.add(
            "gradients",
            trainable * grad / (gpus if stage >= 2 else 1),
            f"{count} x {_b(grad)} B{_share(stage >= 2, gpus, f'ZeRO-{stage}')}",
        )
        moment_text = "8-bit Adam moments 1 + 1" if moments == 2.0 else "Adam moments 4 + 4"
        parts = f"fp32 master {_b(master)} + {moment_text}" if master else moment_text
        self.add(
            "optimizer",
            trainable * (master + moments) / (gpus if stage >= 1 else 1),
            f"{count} x {_b(master + moments)} B ({parts})"
            f"{_share(stage >= 1, gpus, f'ZeRO-{stage}')}",
        )

    def adapter_model_states(self, method: str) -> None:
        req, params, gpus, stage = self.req, self.params, self.req.gpus, self.req.zero_stage
        if method == "qlora":
            base = req.precision if req.precision in FOUR_BIT else "nf4"
            if base != req.precision:
                self.note(
                    f"QLoRA stores the frozen base in NF4 "
                    f"({PRECISION_BYTES['nf4'] * 8:.3f} bits/param "
                    f"with double quantization); --precision {req.precision} is taken as the "
                    "compute dtype."
                )
            self.note(
                "QLoRA's paged optimizer can spill optimizer state to host RAM under memory "
                "spikes; it is counted on the GPU here (the conservative case)."
            )
        else:
            base = req.precision
        self.note_plain_four_bit(base)
        base_bytes = PRECISION_BYTES[base]
        if self.spec is not None:
            held = model_memory.weight_bytes(self.spec, base)
            self.add(
                "weights",
                held.value / (gpus if stage == 3 else 1),
                f"frozen base: {held.formula}{_share(stage == 3, gpus, 'ZeRO-3')}",
            )
        else:
            self.add(
                "weights",
                params * base_bytes / (gpus if stage == 3 else 1),
                f"{_p(params)} frozen base params x {_b(round(base_bytes, 4))} B ({base})"
                f"{_share(stage == 3, gpus, 'ZeRO-3')}",
            )
        trainable = params * LORA_ADAPTER_FRACTION
        moments = 2.0 if req.optimizer == "adamw-8bit" else 8.0
        self.note(
            f"{'QLoRA' if method == 'qlora' else 'LoRA'} adapters: "
            f"{LORA_ADAPTER_FRACTION:.1%} of "
            f"the base parameters ({_p(trainable)}), trained in fp32 with AdamW at "
            f"{_b(ADAPTER_WEIGHT_BYTES * 2 + moments)} B per adapter parameter (weights 4 + "
            f"gradients 4 + moments {_b(moments)}); the base is frozen, so it has no gradients "
            "or optimizer state."
        )
        self.add(
            "adapters",
            trainable * ADAPTER_WEIGHT_BYTES / (gpus if stage == 3 else 1),
            f"{_p(trainable)} adapter params ({LORA_ADAPTER_FRACTION:.1%} of P) x "
            f"{_b(ADAPTER_WEIGHT_BYTES)} B (fp32){_share(stage == 3, gpus, 'ZeRO-3')}",
        )
        self.sharded_trainable_state(
            trainable, ADAPTER_WEIGHT_BYTES, 0.0, moments, "adapter params"
        )

    def activations(self) -> None:
        req, arch = self.req, self.arch
        tokens = req.context_tokens * req.batch_size
        shape = f"{req.context_tokens} seq x {req.batch_size} batch x hidden {arch.hidden}"
        if req.gradient_checkpointing:
            kept = arch.layers * tokens * arch.hidden * CHECKPOINT_BYTES_PER_HIDDEN
            recompute = tokens * arch.hidden * TRAINING_ACTIVATION_BYTES_PER_HIDDEN
            self.add(
                "activations",
                kept + recompute,
                f"{arch.layers} layers x {shape} x {_b(CHECKPOINT_BYTES_PER_HIDDEN)} B "
                "(checkpoints) + "
                f"one layer recomputed: {shape} x {_b(TRAINING_ACTIVATION_BYTES_PER_HIDDEN)} B",
            )
            self.note(
                "Gradient checkpointing on: each layer keeps its 16-bit input (2 B x hidden per "
                "token) and one layer's full activations (34 B x hidden per token, Korthikanti "
                "et al. 2022 without the attention-score term) exist during recomputation."
            )
        else:
            full = arch.layers * tokens * arch.hidden * TRAINING_ACTIVATION_BYTES_PER_HIDDEN
            self.add(
                "activations",
                full,
                f"{arch.layers} layers x {shape} x {_b(TRAINING_ACTIVATION_BYTES_PER_HIDDEN)} B",
            )
            self.note(
                "Gradient checkpointing off: every layer keeps its activations, 34 B x hidden "
                "per token (Korthikanti et al. 2022, FlashAttention so no s x s scores)."
            )
        self.add(
            "logits",
            tokens * arch.vocab * LOGIT_BYTES,
            f"{req.context_tokens} seq x {req.batch_size} batch x vocab {arch.vocab} x "
            f"{_b(LOGIT_BYTES)} B (fp32 logits and their gradient)",
        )
        self.note(
            f"Batch {req.batch_size} is the micro-batch per GPU at {req.context_tokens} tokens; "
            "a fused cross-entropy kernel would remove most of the logits item."
        )
