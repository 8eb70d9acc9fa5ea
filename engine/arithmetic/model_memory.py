"""Bytes and FLOPs of a model read from its own files: weights by quantization, KV cache by
attention kind, sliding windows and mixtures of experts.

Every function returns an :class:`Amount`: the number and a one-line formula that shows the
arithmetic with the model's own figures, so a report can print how each number was reached.

- Weights: bits per weight for each storage format, including the block scales (NVFP4: 16-value
  blocks sharing an FP8 scale; MXFP4: 32-value blocks sharing an 8-bit scale; NF4 with double
  quantization, QLoRA paper section 3; GGUF types from the ``gguf`` package's own block table).
  Quantized formats cover the linear layers; embeddings and the output head stay 16-bit, as
  bitsandbytes, ModelOpt and compressed-tensors checkpoints keep them. All experts of a mixture
  are resident, so weight memory counts every expert.
- KV cache: keys and values per layer per token (2 x KV heads x head_dim), or for multi-head latent
  attention the compressed latent plus the shared rope key (kv_lora_rank + qk_rope_head_dim, no
  factor 2). A sliding-window layer holds min(context, window) tokens.
- Compute follows the *active* parameters (experts chosen per token). A decode step of a batch
  reads the dense part and the routed experts some token of the batch chose
  (:func:`expert_weight_bytes` gives the experts' bytes; ``demand.ServedModel.read_gb`` the
  expected share touched).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from gpu_advisor.errors import UsageError, did_you_mean, one_of
from gpu_advisor.knowledge.models import ModelArch

if TYPE_CHECKING:  # the file readers are imported when a model file is read
    from gpu_advisor.knowledge.model_files import ModelSpec


@dataclass(frozen=True, kw_only=True)
class FileModel(ModelArch):
    """A model read from its own files, where the sizing wants a :class:`ModelArch`: the
    catalog-shaped fields for everything that reads a shape, and the full spec for the terms
    a shape alone gets wrong (experts, latent or windowed KV, tied embeddings, GGUF types)."""

    spec: ModelSpec

    @property
    def active_params_b(self) -> float:
        """Parameters a token passes through: for a mixture, only its chosen experts."""
        return self.spec.active_params / 1e9

    @property
    def routed_expert_params(self) -> int:
        """The routed experts as the files count them (non-gated MLPs, a count capped by the
        total), not the catalog's gated-MLP product."""
        return routed_expert_params(self.spec)


def file_model(spec: ModelSpec) -> FileModel:
    """The sizing's view of a spec: params_b is every weight held (all experts resident)."""
    return FileModel(
        name=spec.name,
        params_b=spec.params / 1e9,
        layers=spec.layers,
        hidden=spec.hidden,
        attention_heads=spec.attention_heads,
        kv_heads=spec.kv_heads,
        head_dim=spec.head_dim,
        source=spec.source,
        vocab_size=spec.vocab or None,
        experts=spec.experts,
        experts_per_token=spec.experts_per_token,
        moe_layers=spec.moe_layers,
        expert_intermediate_size=spec.expert_intermediate_size,
        spec=spec,
    )


def describe_spec(spec: ModelSpec) -> list[str]:
    """Sentences that say what the files say, each term with the config field it came from."""
    p = spec.provenance

    def of(term: str) -> str:
        return f" ({p[term]})" if term in p else ""

    sentences = [
        f"Model {spec.name} read from {spec.source}: {spec.layers} layers{of('layers')}, "
        f"hidden {spec.hidden}{of('hidden')}, {spec.attention_heads} attention "
        f"heads{of('attention_heads')}, {spec.kv_heads} KV heads{of('kv_heads')} of dimension "
        f"{spec.head_dim}{of('head_dim')}, vocabulary {spec.vocab:,}{of('vocab')}.",
        f"Parameters: {spec.params:,} ({spec.params_formula}).",
    ]
    if spec.attention == "latent":
        sentences.append(
            f"Multi-head latent attention{of('attention')}: each layer caches a "
            f"{spec.kv_lora_rank}-wide latent{of('kv_lora_rank')} and a {spec.qk_rope_head_dim}"
            f"-wide rope key{of('qk_rope_head_dim')} per token, not K and V per head; the "
            "latent is not split by heads, so every tensor-parallel GPU holds all of it."
        )
    else:
        sentences.append(
            f"{spec.attention.capitalize()} attention{of('attention')}: the KV cache holds "
            f"{spec.kv_heads} KV heads, not {spec.attention_heads}."
        )
    if spec.is_moe:
        shared = (
            f", {spec.shared_experts} shared{of('shared_experts')}" if spec.shared_experts else ""
        )
        sentences.append(
            f"Mixture of experts: {spec.experts} experts{of('experts')} in {spec.moe_layers} "
            f"layers, {spec.experts_per_token} chosen per token{of('experts_per_token')}{shared}. "
            f"All experts are resident in memory ({spec.params:,} weights); the FLOPs per token "
            f"follow the {spec.active_params:,} active ones."
        )
    windows = sorted({w for w in spec.layer_windows if w is not None})
    if windows:
        sentences.append(
            f"Sliding-window attention{of('layer_windows')}: {spec.sliding_layers} of "
            f"{spec.layers} layers keep only the last {', '.join(f'{w:,}' for w in windows)} "
            "tokens of KV cache; the others keep the whole context."
        )
    sentences.append(
        f"Embeddings {'tied' if spec.tied_embeddings else 'untied'}{of('tied_embeddings')}: "
        + (
            "one vocabulary x hidden matrix serves input and output."
            if spec.tied_embeddings
            else "the input embedding and the output head are two matrices."
        )
    )
    if spec.quantization:
        sentences.append(
            f"Quantization: {spec.quantization}{of('quantization')}"
            + (
                "; weights are sized from the file's own tensor types."
                if spec.quantization == "gguf"
                else "; weights are sized as the checkpoint stores them."
                if spec.stored_bytes
                else "."
            )
        )
    return sentences


@dataclass(frozen=True)
class Amount:
    """A computed quantity with the arithmetic that produced it."""

    value: float
    unit: str
    formula: str

    def __str__(self) -> str:
        return self.formula


WEIGHT_BITS: dict[str, tuple[float, str]] = {
    "fp32": (32.0, "4 bytes"),
    "bf16": (16.0, "2 bytes"),
    "fp16": (16.0, "2 bytes"),
    "fp8": (
        8 + 32 / (128 * 128),
        (
            "1 byte + one fp32 scale per 128x128 block (DeepSeek-V3 "
            "and vLLM block FP8): 8 + 32/16384 bits"
        ),
    ),
    "fp8-tensor": (8.0, "1 byte + one fp32 scale per tensor (negligible)"),
    "int8": (8.0, "1 byte + one scale per output channel (negligible)"),
    "int4": (
        4 + (16 + 4) / 128,
        ("AWQ/GPTQ: 4 bits + a 16-bit scale and 4-bit zero per 128-value group: 4 + 20/128 bits"),
    ),
    "nf4": (
        4 + 8 / 64 + 32 / (64 * 256),
        ("bitsandbytes NF4, double quantization (QLoRA §3): 4 + 8/64 + 32/(64x256) bits"),
    ),
    "fp4": (4.0, "4 bits, no block scales counted"),
    "nvfp4": (4 + 8 / 16, "4 bits + one FP8 (E4M3) scale per 16-value block: 4 + 8/16 bits"),
    "mxfp4": (4 + 8 / 32, "4 bits + one 8-bit (E8M0) scale per 32-value block: 4 + 8/32 bits"),
}
"""Bits per stored weight for each quantization name, with the block layout behind it."""

CHECKPOINT_QUANTIZATION: dict[str, str] = {
    "fp8": "fp8",
    "mxfp4": "mxfp4",
    "awq": "int4",
    "gptq": "int4",
    "bitsandbytes": "nf4",
}
"""A config's quantization_config.quant_method -> the weight format it stores (when the
safetensors headers are not there to give the bytes themselves)."""

SIXTEEN_BIT_WHOLE = frozenset({"fp32", "bf16", "fp16"})
"""Formats that store the whole model, embeddings included, at the same width."""

KV_CACHE_BYTES: dict[str, tuple[float, str]] = {
    "fp32": (4.0, "4 bytes"),
    "bf16": (2.0, "2 bytes"),
    "fp16": (2.0, "2 bytes"),
    "auto": (2.0, "the model's 16-bit dtype"),
    "fp8": (1.0, "1 byte"),
    "fp8_e4m3": (1.0, "1 byte"),
    "fp8_e5m2": (1.0, "1 byte"),
    "q8_0": (34 / 32, "llama.cpp q8_0: 32 values in 34 bytes"),
    "q5_1": (24 / 32, "llama.cpp q5_1: 32 values in 24 bytes"),
    "q5_0": (22 / 32, "llama.cpp q5_0: 32 values in 22 bytes"),
    "q4_1": (20 / 32, "llama.cpp q4_1: 32 values in 20 bytes"),
    "q4_0": (18 / 32, "llama.cpp q4_0: 32 values in 18 bytes"),
}
"""Bytes per cached key or value element for each KV-cache dtype the serving engines offer."""


def gguf_bits_per_weight(type_name: str) -> Amount:
    """Bits per weight of a GGML tensor type, from the gguf package's (block, bytes) table."""
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    names = [kind.name for kind in GGML_QUANT_SIZES]
    try:
        kind = GGMLQuantizationType[type_name.upper()]
        block, size = GGML_QUANT_SIZES[kind]
    except KeyError:
        raise UsageError(
            f"unknown GGUF tensor type {type_name!r}"
            + (did_you_mean(type_name.upper(), names) or f"; {one_of(names)}"),
            field="quantization",
        ) from None
    bits = 8 * size / block
    return Amount(
        bits,
        "bits",
        f"{kind.name}: {size} bytes per {block} weights = 8 x {size} / {block} = {bits:g} bits",
    )


def bits_per_weight(quantization: str) -> Amount:
    """Bits per weight of a named quantization (or any GGML tensor type such as q4_k)."""
    key = quantization.lower()
    if key in WEIGHT_BITS:
        bits, why = WEIGHT_BITS[key]
        return Amount(bits, "bits", f"{key}: {why} = {bits:g} bits")
    try:
        return gguf_bits_per_weight(key)
    except UsageError:
        raise UsageError(
            f"unknown quantization {quantization!r}"
            + (
                did_you_mean(key, WEIGHT_BITS)
                or f"; {one_of(WEIGHT_BITS)} or a GGUF tensor type (q8_0, q4_k, ...)"
            ),
            field="quantization",
        ) from None


def weight_bytes(spec: ModelSpec, quantization: str = "stored") -> Amount:
    """Bytes of all weights (every expert resident) in a quantization, or as the files store them.

    "stored" uses the files' own figures: for a GGUF, each tensor type's bits times its weights;
    for safetensors, the byte ranges in the headers. A quantized format (fp8, nf4, nvfp4, ...)
    covers the linear layers and keeps embeddings and output head in 16-bit.
    """
    if quantization == "stored":
        return _stored_weight_bytes(spec)
    bits = bits_per_weight(quantization)
    key = quantization.lower()
    if key in SIXTEEN_BIT_WHOLE or key not in WEIGHT_BITS:
        total = spec.params * bits.value / 8
        return Amount(
            total,
            "bytes",
            f"{spec.params:,} weights x {bits.value:g} bits / 8 = {total:,.0f} B ({bits.formula})",
        )
    linear = spec.params - spec.embedding_params
    total = linear * bits.value / 8 + spec.embedding_params * 2
    return Amount(
        total,
        "bytes",
        f"{linear:,} linear-layer weights x {bits.value:g} bits / 8 + "
        f"{spec.embedding_params:,} embedding weights x 2 B = "
        f"{total:,.0f} B ({bits.formula})",
    )


def held_format(spec: ModelSpec, precision: str) -> str:
    """The format the weights are sized in: "stored" for a GGUF or a quantized checkpoint whose
    files give their bytes, else the checkpoint's declared quantization, else the precision asked
    (the files win over the answers)."""
    stored = spec.quantization == "gguf" or bool(spec.quantization and spec.stored_bytes)
    declared = CHECKPOINT_QUANTIZATION.get(spec.quantization or "")
    return "stored" if stored else declared or precision


def routed_expert_params(spec: ModelSpec) -> int:
    """Weights of every routed expert of every MoE layer (shared experts and routers excluded:
    every token passes through those); 0 for a dense model."""
    return min(spec.params, spec.moe_layers * spec.experts * spec.expert_params)


def expert_weight_bytes(spec: ModelSpec, quantization: str = "stored") -> Amount:
    """Bytes of the routed experts, the part of the weights a decode step reads only where some
    token of its batch routes: linear-layer weights, so at the format's linear-layer width; as
    stored, at the files' average bytes per weight (a GGUF may give experts their own type)."""
    routed = routed_expert_params(spec)
    how = (
        f"{spec.moe_layers} MoE layers x {spec.experts} experts x {spec.expert_params:,} "
        f"weights = {routed:,}"
    )
    if not routed:
        return Amount(0.0, "bytes", "dense: no routed experts = 0 B")
    if quantization == "stored":
        weights = weight_bytes(spec, "stored")
        total = routed * weights.value / spec.params
        return Amount(
            total,
            "bytes",
            f"{how} x ({weights.value:,.0f} B / {spec.params:,} weights, the files' average) "
            f"= {total:,.0f} B",
        )
    bits = bits_per_weight(quantization)
    total = routed * bits.value / 8
    return Amount(total, "bytes", f"{how} x {bits.value:g} bits / 8 = {total:,.0f} B")


def _stored_weight_bytes(spec: ModelSpec) -> Amount:
    if spec.quantization == "gguf" and spec.weight_formats:
        total = 0.0
        terms = []
        for kind, count in sorted(spec.weight_formats.items(), key=lambda kv: -kv[1]):
            bits = gguf_bits_per_weight(kind).value
            total += count * bits / 8
            terms.append(f"{count:,} {kind} x {bits:g} bits")
        return Amount(total, "bytes", f"({' + '.join(terms)}) / 8 = {total:,.0f} B")
    if spec.stored_bytes:
        return Amount(
            float(spec.stored_bytes),
            "bytes",
            f"{spec.stored_bytes:,} B as stored ({spec.provenance.get('stored_bytes')})",
        )
    raise UsageError(
        f"{spec.name}: the files give no stored size (config.json alone); name a "
        "quantization such as bf16, fp8 or nf4",
        field="quantization",
    )


def kv_element_bytes(kv_dtype: str) -> Amount:
    """Bytes per cached element for a KV-cache dtype."""
    key = kv_dtype.lower()
    if key not in KV_CACHE_BYTES:
        raise UsageError(
            f"unknown KV cache dtype {kv_dtype!r}"
            + (did_you_mean(key, KV_CACHE_BYTES) or f"; {one_of(KV_CACHE_BYTES)}"),
            field="kv_cache_dtype",
        )
    size, why = KV_CACHE_BYTES[key]
    return Amount(size, "bytes", f"{key}: {why} = {size:g} B per element")


def _kv_elements_per_layer(spec: ModelSpec) -> tuple[int, str]:
    """Cached elements per token in one layer, and how they are made up."""
    if spec.attention == "latent":
        return (
            spec.kv_lora_rank + spec.qk_rope_head_dim,
            f"({spec.kv_lora_rank} kv_lora_rank + {spec.qk_rope_head_dim} rope)",
        )
    return (
        2 * spec.kv_heads * spec.head_dim,
        f"2 (K,V) x {spec.kv_heads} KV heads x {spec.head_dim} head_dim",
    )


def kv_bytes_per_token(spec: ModelSpec, kv_dtype: str = "bf16") -> Amount:
    """KV-cache bytes one token adds across all layers (before any sliding window caps it)."""
    per_layer, how = _kv_elements_per_layer(spec)
    size = kv_element_bytes(kv_dtype).value
    total = per_layer * spec.layers * size
    return Amount(
        total,
        "bytes",
        f"{how} x {spec.layers} layers x {size:g} B = {total:,.0f} B "
        f"per token ({spec.attention} attention)",
    )


def kv_bytes(spec: ModelSpec, context: int, kv_dtype: str = "bf16", sequences: int = 1) -> Amount:
    """KV-cache bytes held for ``sequences`` sequences of ``context`` tokens each.

    A sliding-window layer keeps only the last ``window`` tokens: min(context, window).
    """
    if context < 0 or sequences < 1:
        raise UsageError(
            "context must be at least 0 tokens and sequences at least 1", field="context"
        )
    per_layer, how = _kv_elements_per_layer(spec)
    size = kv_element_bytes(kv_dtype).value
    windows = spec.layer_windows or (None,) * spec.layers
    held: dict[int | None, int] = {}
    for window in windows:
        held[window] = held.get(window, 0) + 1
    tokens = sum(
        count * (context if window is None else min(context, window))
        for window, count in held.items()
    )
    total = tokens * per_layer * size * sequences
    parts = " + ".join(
        f"{count} layers x {context:,}"
        if window is None
        else f"{count} layers x min({context:,}, {window:,})"
        for window, count in sorted(held.items(), key=lambda kv: kv[0] or 0)
    )
    return Amount(
        total,
        "bytes",
        f"({parts}) = {tokens:,} layer-tokens x {how} x {size:g} B x "
        f"{sequences} sequence(s) = {total:,.0f} B",
    )


def matmul_params_per_token(spec: ModelSpec) -> Amount:
    """Weights a token multiplies through: the active ones, less the input embedding lookup."""
    lookup = 0 if spec.tied_embeddings else spec.vocab * spec.hidden
    value = spec.active_params - lookup
    experts = (
        f" ({spec.experts_per_token} of {spec.experts} experts per MoE layer)"
        if spec.is_moe
        else ""
    )
    return Amount(
        value,
        "params",
        f"{spec.active_params:,} active{experts} - {lookup:,} input "
        f"embedding (a lookup, no multiply) = {value:,}",
    )


def flops_per_token(spec: ModelSpec, context: int = 0) -> Amount:
    """Forward FLOPs per token: 2 per active matmul weight, plus attention over the context."""
    params = matmul_params_per_token(spec)
    windows = spec.layer_windows or (None,) * spec.layers
    attended = sum(context if w is None else min(context, w) for w in windows)
    attention = 4 * attended * spec.attention_heads * spec.head_dim
    total = 2 * params.value + attention
    return Amount(
        total,
        "FLOPs",
        f"2 x {params.value:,.0f} weights + 4 x {attended:,} "
        f"attended layer-tokens x {spec.attention_heads} heads x "
        f"{spec.head_dim} head_dim = {total:,.0f} FLOPs",
    )


def decode_bytes_per_token(spec: ModelSpec, quantization: str = "stored") -> Amount:
    """Weight bytes one decode step reads at batch 1: only the active experts' weights."""
    weights = weight_bytes(spec, quantization)
    params = matmul_params_per_token(spec)
    per_weight = weights.value / spec.params
    total = params.value * per_weight
    return Amount(
        total,
        "bytes",
        f"{params.value:,.0f} weights read x ({weights.value:,.0f} B / "
        f"{spec.params:,} weights) = {total:,.0f} B per step",
    )
