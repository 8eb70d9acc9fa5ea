"""Read a model's shape from its own files: a Hugging Face config.json, a model folder, or a GGUF.

The catalog can only size the models someone typed in; everything else used to get a Llama-like
shape fitted to a parameter count, which is wrong for most models (grouped vs multi-head KV,
mixtures of experts, latent attention, sliding windows). Here the shape comes from the files the
user already has, offline: the config's own fields, the JSON header of each ``.safetensors`` file
(8-byte little-endian length, then JSON: dtypes, shapes and byte offsets, never the tensor data)
for an exact parameter count, or a GGUF's metadata and tensor table (read with the ``gguf``
package, imported only when a ``.gguf`` is read; the file is memory-mapped, its data never read).

:func:`is_file_reference` tells a path from a catalog name and :func:`read_model_cached` reads
a file once per version (a consultation sizes it for every device). Nothing is fetched from the
network unless the user opts in: a Hugging Face Hub id (``org/name``, no such path) is read from
the cache of ``knowledge.hub``, fetched there first (config.json and the safetensors index
only) when ``GPU_ADVISOR_ALLOW_DOWNLOAD=1`` or ``--fetch-model`` allows it, else refused with
how to opt in.

Every derived term records the field it came from in :attr:`ModelSpec.provenance`, so a report
can say *why* a model has 8 KV heads. Bad input raises :class:`FileError` with ``path:line:col``
where the file has lines. The module runs over 600 lines because the three readers share one
spec and one set of error conventions; splitting them would scatter the provenance rules.
"""

from __future__ import annotations

import functools
import json
import re
import stat
import struct
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from gpu_advisor.errors import FileError, Location, did_you_mean
from gpu_advisor.knowledge import hub
from gpu_advisor.knowledge.models import MLP_RATIO, ModelArch
from gpu_advisor.knowledge.safe_files import MAX_DATA_FILE_BYTES

ATTENTION_KINDS = ("multi-head", "grouped", "multi-query", "latent")
"""multi-head: one KV head per query head; grouped: KV heads shared by groups of query heads;
multi-query: one KV head for all; latent: DeepSeek's compressed KV (kv_lora_rank + rope part)."""

_UNGATED_MLP = frozenset(
    {
        "gpt2",
        "opt",
        "gpt_neox",
        "falcon",
        "bloom",
        "gptj",
        "phi",
        "gpt_bigcode",
        "starcoder2",
        "mpt",
    }
)
"""Families whose MLP has two matrices (up, down) instead of the gated three (gate, up, down)."""
_FOUR_NORMS = frozenset({"gemma2", "gemma3", "gemma3_text"})
"""Families with norms before and after both attention and MLP (four per layer, not two)."""
_QK_NORM = frozenset({"gemma3", "gemma3_text", "qwen3", "qwen3_moe", "olmo2"})
"""Families that normalize queries and keys per head (two head_dim-sized norms per layer)."""
_QKV_BIAS = frozenset({"qwen2", "qwen2_moe"})
"""Families with biases on the q, k and v projections even without ``attention_bias``."""
_TIED_BY_DEFAULT = frozenset({"gemma", "gemma2", "gemma3", "gemma3_text"})
"""Families whose config class ties the output head to the embedding when the field is absent."""
_QUANT_METADATA = re.compile(
    r"(_scale_inv|weight_scale(_2)?|input_scale|[kv]_scale|_scales|"
    r"\.absmax|\.quant_map|\.nested_absmax|\.nested_quant_map|"
    r"\.quant_state\..*)$"
)
"""Safetensors entries that hold quantization scales, not parameters."""
_MAX_HEADER_BYTES = 100_000_000
"""The safetensors format caps its JSON header at 100 MB; a larger length means a corrupt file."""


@dataclass(frozen=True)
class ModelSpec:
    """A transformer's shape as its files state it, with where each number came from."""

    name: str
    source: str
    params: int
    active_params: int
    params_counted: bool
    params_formula: str
    layers: int
    hidden: int
    attention_heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    tied_embeddings: bool
    intermediate_size: int
    attention: str
    gated_mlp: bool = True
    experts: int = 0
    experts_per_token: int = 0
    shared_experts: int = 0
    expert_intermediate_size: int = 0
    moe_layers: int = 0
    kv_lora_rank: int = 0
    qk_rope_head_dim: int = 0
    layer_windows: tuple[int | None, ...] = ()
    max_context: int | None = None
    quantization: str | None = None
    stored_bytes: int | None = None
    weight_formats: Mapping[str, int] = field(default_factory=dict, hash=False, compare=False)
    provenance: Mapping[str, str] = field(default_factory=dict, hash=False, compare=False)

    @property
    def is_moe(self) -> bool:
        return self.experts > 0

    @property
    def embedding_params(self) -> int:
        """Input embedding plus output head (one matrix when they are tied)."""
        return self.vocab * self.hidden * (1 if self.tied_embeddings else 2)

    @property
    def sliding_layers(self) -> int:
        return sum(1 for window in self.layer_windows if window is not None)

    @property
    def expert_params(self) -> int:
        """Parameters of one routed expert's MLP."""
        return (3 if self.gated_mlp else 2) * self.hidden * self.expert_intermediate_size


# ---------------------------------------------------------------------------------------------
# Entry point


def read_model(path: str | Path) -> ModelSpec:
    """The spec of a model from a config.json, a model folder, or a .gguf file."""
    target = Path(path)
    if _is_hub_reference(str(path)):
        return _named(read_model_folder(hub.model_folder(str(path))), str(path).strip())
    if not target.exists():
        siblings = [p.name for p in target.parent.iterdir()] if target.parent.is_dir() else []
        raise FileError(
            Location(str(target)), "no such file or folder" + did_you_mean(target.name, siblings)
        )
    if target.is_dir():
        return read_model_folder(target)
    if target.suffix == ".gguf":
        return read_gguf(target)
    if target.suffix == ".safetensors":
        raise FileError(
            Location(str(target)),
            "give the model folder (config.json beside the "
            ".safetensors files), not one weights file",
        )
    return read_config(target)


def read_config(path: str | Path) -> ModelSpec:
    """The spec from a Hugging Face config.json alone (parameters computed from the shape)."""
    target = Path(path)
    text, config = _load_json(target)
    name = str(config.get("_name_or_path") or target.parent.name or target.stem)
    return spec_from_config(config, name=name, source=str(target), text=text)


def read_model_folder(folder: str | Path) -> ModelSpec:
    """The spec from a model folder: config.json, refined by safetensors headers when present."""
    root = Path(folder)
    config_path = root / "config.json"
    if not config_path.is_file():
        ggufs = sorted(root.glob("*.gguf"))
        if ggufs:
            first = [p for p in ggufs if re.search(r"-00001-of-\d{5}\.gguf$", p.name)]
            return read_gguf((first or ggufs)[0])
        names = [p.name for p in root.iterdir()]
        raise FileError(
            Location(str(config_path)),
            "the folder has no config.json and no .gguf" + did_you_mean("config.json", names),
        )
    spec = read_config(config_path)
    shards = sorted(root.glob("*.safetensors"))
    if shards:
        return _with_tensor_counts(spec, shards)
    index_path = root / "model.safetensors.index.json"
    if index_path.is_file():
        _, index = _load_json(index_path)
        total = (
            index.get("metadata", {}).get("total_size")
            if isinstance(index.get("metadata"), dict)
            else None
        )
        if isinstance(total, int) and total > 0:
            provenance = dict(
                spec.provenance, stored_bytes=f"{index_path.name}: metadata.total_size"
            )
            spec = _replace(spec, stored_bytes=total, provenance=provenance)
            _, config = _load_json(config_path)
            return _count_from_index(spec, config, total, index_path.name)
    return spec


_WHOLE_DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
"""A config's torch_dtype -> bytes per weight, for checkpoints that store every tensor in it."""
_INDEX_COUNT_TOLERANCE = 0.25
"""How far the index's count may stray from the shape's before the dtype is doubted."""


def _count_from_index(
    spec: ModelSpec, config: Mapping[str, Any], total: int, index_name: str
) -> ModelSpec:
    """The parameter count of an unquantized checkpoint from its index's total size: bytes /
    bytes per weight of the config's torch_dtype. Kept only when it lies within 25% of the
    shape's count (a checkpoint stored in another dtype than its config says is off by 2x);
    a quantized checkpoint mixes widths, so its index gives the stored size alone."""
    if spec.quantization:
        return spec
    dtype = None
    for where in (config, config.get("text_config")):
        if isinstance(where, dict) and (where.get("torch_dtype") or where.get("dtype")):
            dtype = str(where.get("torch_dtype") or where.get("dtype"))
            break
    size = _WHOLE_DTYPE_BYTES.get(dtype or "")
    if size is None or total % size:
        return spec
    params = total // size
    if abs(params - spec.params) > _INDEX_COUNT_TOLERANCE * spec.params:
        return spec
    formula = f"{index_name}: metadata.total_size {total:,} B / {size} B ({dtype}) = {params:,}"
    return _counted(spec, params, formula)


def _counted(
    spec: ModelSpec, params: int, formula: str, stored_from: str | None = None, **more: Any
) -> ModelSpec:
    """The spec with a counted parameter total: the active count leaves out the experts a token
    is not routed to, and the formula (with the active count when they differ) is its
    provenance; ``stored_from`` says where a stored size given in ``more`` came from."""
    idle = spec.moe_layers * (spec.experts - spec.experts_per_token) * spec.expert_params
    if idle:
        formula += f"; active = {params:,} - {idle:,} idle experts = {params - idle:,}"
    provenance = dict(spec.provenance, params=formula)
    if stored_from is not None:
        provenance["stored_bytes"] = stored_from
    return _replace(
        spec,
        params=params,
        active_params=params - idle,
        params_counted=True,
        params_formula=formula,
        provenance=provenance,
        **more,
    )


# ---------------------------------------------------------------------------------------------
# A model named by the user: a catalog id or one of these files


MODEL_FILE_SUFFIXES = (".json", ".gguf", ".safetensors")
"""Suffixes that make a model reference a file even when no such file exists (to say so)."""


def is_file_reference(text: str, catalog_names: Collection[str] = ()) -> bool:
    """Whether a ``--model``/``model`` value names files rather than a catalog model.

    A path separator or a file suffix always means a file; otherwise a catalog name wins (a
    stray folder named ``mistral-7b`` does not hide the catalog's), and an existing file or
    folder of that name is read only when the catalog has no such model.
    """
    from gpu_advisor.knowledge.models import normalize_model_name

    text = text.strip()
    if _is_hub_reference(text):
        # org/name: a catalog alias (mistralai/mistral-7b-v0.1) stays the catalog's, offline;
        # any other is a Hub id, read from its files (cached or fetched on opt-in).
        return normalize_model_name(text) not in catalog_names
    if "/" in text or "\\" in text or text.lower().endswith(MODEL_FILE_SUFFIXES):
        return True
    if text.startswith("~"):
        return True
    if normalize_model_name(text) in catalog_names:
        return False
    return Path(text).exists()


def read_model_cached(path: str | Path) -> ModelSpec:
    """:func:`read_model`, read once per file version (path, size and modification time): a
    consultation sizes the same model for every device and every lever."""
    target = Path(path).expanduser()
    if _is_hub_reference(str(path)):
        folder = hub.model_folder(str(path))
        return _named(read_model_cached(folder), str(path).strip())
    files = [target]
    if target.is_dir():  # a folder changes when its config, index, shards or GGUFs do
        files = sorted(
            p for p in target.iterdir() if p.suffix in (".json", ".safetensors", ".gguf")
        )
    stamp = tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files if p.exists())
    return _read_model_stamped(str(target.resolve()), stamp, str(target))


@functools.lru_cache(maxsize=32)
def _read_model_stamped(
    resolved: str, stamp: tuple[tuple[str, int, int], ...], shown: str
) -> ModelSpec:
    """Read once per (file, stamp), errors naming the path as given; a FileError is not cached."""
    return read_model(shown)


def _is_hub_reference(text: str) -> bool:
    """``org/name`` that names no local path: a Hub id. A missing path under a folder that
    exists (``models/llama-9b`` beside ``models/``) is a mistyped path, not a Hub id."""
    text = text.strip()
    if not hub.is_hub_id(text):
        return False
    local = Path(text)
    return not local.exists() and not local.parent.is_dir()


@functools.lru_cache(maxsize=32)
def _named(spec: ModelSpec, hub_id: str) -> ModelSpec:
    """A spec read from a Hub model's cached files, named by its Hub id (once per spec)."""
    return spec if spec.name == hub_id else _replace(spec, name=hub_id)


def spec_from_arch(arch: ModelArch) -> ModelSpec:
    """A spec for a catalog model (kb/models.yaml gives the shape, not the MLP or vocabulary
    details), so the serving settings can be written for catalog models too."""
    intermediate = round(MLP_RATIO * arch.hidden)
    params = round(arch.params_b * 1e9)
    where = f"the model catalog (kb/models.yaml: {arch.source})"
    provenance = {
        term: where
        for term in ("layers", "hidden", "attention_heads", "kv_heads", "head_dim", "params")
    }
    provenance["vocab"] = where if arch.vocab_size else f"assumed {arch.vocab:,} (catalog silent)"
    provenance["intermediate_size"] = f"assumed {MLP_RATIO:g} x hidden (catalog silent)"
    heads, kv = arch.attention_heads, arch.kv_heads
    return ModelSpec(
        name=arch.name,
        source=where,
        params=params,
        active_params=params,
        params_counted=False,
        params_formula=f"{arch.params_b:g}B from the catalog",
        layers=arch.layers,
        hidden=arch.hidden,
        attention_heads=heads,
        kv_heads=kv,
        head_dim=arch.head_dim,
        vocab=arch.vocab,
        tied_embeddings=False,
        intermediate_size=intermediate,
        attention="multi-head" if kv == heads else "multi-query" if kv == 1 else "grouped",
        layer_windows=(None,) * arch.layers,
        provenance=MappingProxyType(provenance),
    )


# ---------------------------------------------------------------------------------------------
# config.json


def _load_json(path: Path) -> tuple[str, dict[str, Any]]:
    """The text and the top-level object of a JSON file, or a FileError that points at the fault."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise FileError(Location(str(path)), "no such file") from None
    except OSError as err:
        raise FileError(Location(str(path)), f"cannot be read: {err.strerror}") from None
    if not stat.S_ISREG(info.st_mode):  # a FIFO or a device would block or never end
        raise FileError(Location(str(path)), "not a regular file")
    if info.st_size > MAX_DATA_FILE_BYTES:
        raise FileError(
            Location(str(path)), f"larger than {MAX_DATA_FILE_BYTES:,} bytes: not a model config"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileError(Location(str(path)), "no such file") from None
    except UnicodeDecodeError as err:
        raise FileError(Location(str(path)), f"not UTF-8 text (byte {err.start})") from None
    except OSError as err:
        raise FileError(Location(str(path)), f"cannot be read: {err.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise FileError(
            Location(str(path), err.lineno, err.colno), f"not valid JSON: {err.msg}"
        ) from None
    except RecursionError:
        raise FileError(Location(str(path)), "not valid JSON: nested too deeply") from None
    except ValueError as err:  # an integer of more digits than Python converts
        raise FileError(Location(str(path)), f"not valid JSON: {err}") from None
    if not isinstance(data, dict):
        raise FileError(
            Location(str(path), 1, 1),
            f"expected a JSON object at the top level, found {type(data).__name__}",
        )
    return text, data


class _Fields:
    """Reads config fields by their known spellings and remembers which spelling it used."""

    def __init__(self, config: Mapping[str, Any], source: str, text: str | None, prefix: str):
        self.config = config
        self.source = source
        self.text = text
        self.prefix = prefix
        self.provenance: dict[str, str] = {}

    def where(self, key: str) -> Location:
        """The line and column of a key in the file text, when we have the text."""
        if self.text is not None:
            at = self.text.find(f'"{key}"')
            if at >= 0:
                line = self.text.count("\n", 0, at) + 1
                return Location(self.source, line, at - (self.text.rfind("\n", 0, at) + 1) + 1)
        return Location(self.source)

    def present(self, keys: tuple[str, ...]) -> str | None:
        return next((k for k in keys if self.config.get(k) is not None), None)

    def integer(
        self,
        term: str,
        keys: tuple[str, ...],
        *,
        default: int | None = None,
        default_note: str = "",
        minimum: int = 1,
    ) -> int:
        key = self.present(keys)
        if key is None:
            if default is not None:
                self.provenance[term] = default_note or f"default {default}"
                return default
            raise FileError(
                Location(self.source),
                f"missing {keys[0]!r} ({term.replace('_', ' ')})"
                + did_you_mean(keys[0], self.config),
            )
        value = self.config[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise FileError(
                self.where(key),
                f"{key!r} must be a whole number of at least {minimum}, got {value!r}",
            )
        self.provenance[term] = self.prefix + key
        return value


def spec_from_config(
    config: Mapping[str, Any], *, name: str, source: str = "<config>", text: str | None = None
) -> ModelSpec:
    """The spec from a parsed config; parameters are computed from the shape (formula kept)."""
    prefix = ""
    if config.get("num_hidden_layers") is None and isinstance(config.get("text_config"), dict):
        config, prefix = config["text_config"], "text_config."  # multimodal wrapper (Gemma 3)
    f = _Fields(config, source, text, prefix)
    model_type = str(config.get("model_type", ""))
    layers = f.integer("layers", ("num_hidden_layers", "n_layer", "n_layers", "num_layers"))
    hidden = f.integer("hidden", ("hidden_size", "n_embd", "d_model", "dim"))
    heads = f.integer("attention_heads", ("num_attention_heads", "n_head", "n_heads"))
    kv_key = f.present(("num_key_value_heads", "num_kv_heads", "n_head_kv", "n_kv_heads"))
    if kv_key is None and config.get("multi_query") is True:
        kv_heads = 1
        f.provenance["kv_heads"] = prefix + "multi_query"
    else:
        kv_heads = f.integer(
            "kv_heads",
            ("num_key_value_heads", "num_kv_heads", "n_head_kv", "n_kv_heads"),
            default=heads,
            default_note=f"{prefix}num_attention_heads (no num_key_value_heads:"
            " one KV head per query head)",
        )
    if kv_heads > heads or heads % kv_heads:
        raise FileError(
            f.where(kv_key or "num_attention_heads"),
            f"inconsistent heads: {kv_heads} KV heads cannot serve {heads} attention "
            "heads in equal groups (KV heads must divide the attention heads)",
        )
    if f.present(("head_dim",)) is not None:
        head_dim = f.integer("head_dim", ("head_dim",))
    elif hidden % heads:
        raise FileError(
            f.where("num_attention_heads"),
            f"inconsistent heads: hidden size "
            f"{hidden} is not a multiple of {heads} heads and there is no head_dim",
        )
    else:
        head_dim = hidden // heads
        f.provenance["head_dim"] = f"{prefix}hidden_size / {prefix}num_attention_heads"
    vocab = f.integer("vocab", ("vocab_size", "padded_vocab_size", "n_vocab"))
    intermediate = f.integer(
        "intermediate_size",
        ("intermediate_size", "ffn_hidden_size", "n_inner", "ffn_dim"),
        minimum=0,
        default=4 * hidden,
        default_note="4 x hidden (no intermediate_size)",
    )
    tied_raw = config.get("tie_word_embeddings")
    tied = bool(tied_raw) if tied_raw is not None else model_type in _TIED_BY_DEFAULT
    f.provenance["tied_embeddings"] = (
        prefix + "tie_word_embeddings"
        if tied_raw is not None
        else f"default for model_type {model_type!r}"
    )
    max_context_key = f.present(
        (
            "max_position_embeddings",
            "max_sequence_length",
            "n_positions",
            "seq_length",
            "max_seq_len",
        )
    )
    max_context = f.integer("max_context", (max_context_key,)) if max_context_key else None

    kv_lora_rank = qk_rope = 0
    if f.present(("kv_lora_rank",)):
        kv_lora_rank = f.integer("kv_lora_rank", ("kv_lora_rank",))
        qk_rope = f.integer("qk_rope_head_dim", ("qk_rope_head_dim",))
        attention = "latent"
        f.provenance["attention"] = f"{prefix}kv_lora_rank"
        head_dim = f.integer("head_dim", ("qk_nope_head_dim",), default=head_dim) + qk_rope
        f.provenance["head_dim"] = f"{prefix}qk_nope_head_dim + {prefix}qk_rope_head_dim"
    else:
        attention = (
            "multi-head" if kv_heads == heads else "multi-query" if kv_heads == 1 else "grouped"
        )
        f.provenance["attention"] = f"{f.provenance['kv_heads']} vs {prefix}num_attention_heads"

    experts = f.integer(
        "experts",
        ("num_local_experts", "n_routed_experts", "num_experts"),
        default=0,
        default_note="dense (no expert count)",
        minimum=0,
    )
    per_token = shared = expert_inter = moe_layers = 0
    if experts:
        per_token = f.integer(
            "experts_per_token", ("num_experts_per_tok", "moe_topk", "num_activated_experts")
        )
        expert_inter = f.integer(
            "expert_intermediate_size",
            ("moe_intermediate_size",),
            default=intermediate,
            default_note=f"{f.provenance['intermediate_size']} (experts are full-size MLPs)",
        )
        if f.present(("shared_expert_intermediate_size",)):
            width = f.integer("shared_experts", ("shared_expert_intermediate_size",))
            shared = max(1, round(width / expert_inter))
        else:
            shared = f.integer(
                "shared_experts",
                ("n_shared_experts", "num_shared_experts"),
                default=0,
                default_note="none",
                minimum=0,
            )
        moe_layers = _moe_layer_count(config, layers, f)
        if per_token > experts:
            raise FileError(
                f.where("num_experts_per_tok"),
                f"{per_token} experts per token but only {experts} experts",
            )
    windows = _layer_windows(config, layers, model_type, f)
    quant = config.get("quantization_config")
    quantization = None
    if isinstance(quant, dict):
        quantization = str(quant.get("quant_method") or quant.get("quant_type") or "unknown")
        f.provenance["quantization"] = prefix + "quantization_config.quant_method"
    spec = ModelSpec(
        name=name,
        source=source,
        params=0,
        active_params=0,
        params_counted=False,
        params_formula="",
        layers=layers,
        hidden=hidden,
        attention_heads=heads,
        kv_heads=kv_heads,
        head_dim=head_dim,
        vocab=vocab,
        tied_embeddings=tied,
        intermediate_size=intermediate,
        attention=attention,
        gated_mlp=model_type not in _UNGATED_MLP,
        experts=experts,
        experts_per_token=per_token,
        shared_experts=shared,
        expert_intermediate_size=expert_inter,
        moe_layers=moe_layers,
        kv_lora_rank=kv_lora_rank,
        qk_rope_head_dim=qk_rope,
        layer_windows=windows,
        max_context=max_context,
        quantization=quantization,
    )
    total, active, formula = _count_from_shape(spec, config, model_type)
    f.provenance["params"] = "computed from the shape: " + formula
    return _replace(
        spec, params=total, active_params=active, params_formula=formula, provenance=f.provenance
    )


def _moe_layer_count(config: Mapping[str, Any], layers: int, f: _Fields) -> int:
    """How many layers carry experts: DeepSeek's first_k_dense_replace/moe_layer_freq, Qwen's
    decoder_sparse_step/mlp_only_layers, else every layer."""
    dense_first = f.integer(
        "dense_layers",
        ("first_k_dense_replace",),
        default=0,
        default_note="no leading dense layers",
        minimum=0,
    )
    freq = f.integer("moe_layer_freq", ("moe_layer_freq",), default=1, default_note="every layer")
    step = f.integer(
        "decoder_sparse_step", ("decoder_sparse_step",), default=1, default_note="every layer"
    )
    listed = config.get("mlp_only_layers")
    dense_only = listed if isinstance(listed, list) else []
    return sum(
        1
        for i in range(layers)
        if i >= dense_first and i % freq == 0 and (i + 1) % step == 0 and i not in dense_only
    )


def _layer_windows(
    config: Mapping[str, Any], layers: int, model_type: str, f: _Fields
) -> tuple[int | None, ...]:
    """Per layer, the sliding window (tokens of KV it keeps) or None for global attention."""
    window_key = f.present(("sliding_window", "sliding_window_size", "attention_chunk_size"))
    layer_types = config.get("layer_types")
    if isinstance(layer_types, list):
        if len(layer_types) != layers:
            raise FileError(
                f.where("layer_types"),
                f"layer_types lists {len(layer_types)} layers but the model has {layers}",
            )
        needs_window = any(t in ("sliding_attention", "chunked_attention") for t in layer_types)
        window = f.integer("sliding_window", (window_key,)) if needs_window and window_key else 0
        f.provenance["layer_windows"] = f"{f.prefix}layer_types"
        return tuple(
            window if t in ("sliding_attention", "chunked_attention") and window else None
            for t in layer_types
        )
    if window_key is None or config.get("use_sliding_window") is False:
        f.provenance["layer_windows"] = (
            "use_sliding_window is false" if window_key else "no sliding_window: every layer global"
        )
        return (None,) * layers
    window = f.integer("sliding_window", (window_key,))
    if model_type == "gemma2":
        f.provenance["layer_windows"] = "gemma2 alternates: even layers local, odd layers global"
        return tuple(window if i % 2 == 0 else None for i in range(layers))
    pattern_key = f.present(("sliding_window_pattern",))
    if pattern_key or model_type in ("gemma3", "gemma3_text"):
        pattern = f.integer(
            "sliding_window_pattern",
            ("sliding_window_pattern",),
            default=6,
            default_note="gemma3 default: 5 local layers then 1 global",
        )
        f.provenance["layer_windows"] = (
            f"every {pattern}th layer global, the rest local "
            f"({f.provenance['sliding_window_pattern']})"
        )
        return tuple(None if (i + 1) % pattern == 0 else window for i in range(layers))
    if config.get("use_sliding_window") is True and config.get("max_window_layers") is not None:
        first = f.integer("max_window_layers", ("max_window_layers",), minimum=0)
        f.provenance["layer_windows"] = f"{f.prefix}use_sliding_window from max_window_layers"
        return tuple(window if i >= first else None for i in range(layers))
    f.provenance["layer_windows"] = f"{f.prefix}{window_key} on every layer"
    return (window,) * layers


def _count_from_shape(
    spec: ModelSpec, config: Mapping[str, Any], model_type: str
) -> tuple[int, int, str]:
    """Total and active parameters from the shape, and the formula that gave them."""
    h, hd = spec.hidden, spec.head_dim
    if spec.attention == "latent":
        q_rank = int(config.get("q_lora_rank") or 0)
        nope = int(config.get("qk_nope_head_dim") or hd)
        v_dim = int(config.get("v_head_dim") or hd)
        q_width = spec.attention_heads * (nope + spec.qk_rope_head_dim)
        q = h * q_rank + q_rank + q_rank * q_width if q_rank else h * q_width
        attn = (
            q
            + h * (spec.kv_lora_rank + spec.qk_rope_head_dim)
            + spec.kv_lora_rank
            + spec.kv_lora_rank * spec.attention_heads * (nope + v_dim)
            + spec.attention_heads * v_dim * h
        )
    else:
        attn = 2 * h * spec.attention_heads * hd + 2 * h * spec.kv_heads * hd
        if config.get("attention_bias") is True or model_type in _QKV_BIAS:
            attn += (spec.attention_heads + 2 * spec.kv_heads) * hd
    if model_type in _QK_NORM:
        attn += 2 * hd
    norms = (4 if model_type in _FOUR_NORMS else 2) * h
    mlp = (3 if spec.gated_mlp else 2) * h * spec.intermediate_size
    embeddings = spec.embedding_params + h
    dense_layers = spec.layers - spec.moe_layers
    if not spec.is_moe:
        total = spec.layers * (attn + mlp + norms) + embeddings
        formula = (
            f"{spec.layers} layers x ({attn:,} attention + {mlp:,} MLP + {norms:,} norms)"
            f" + {spec.embedding_params:,} embeddings + {h:,} final norm = {total:,}"
        )
        return total, total, formula
    expert = spec.expert_params
    shared = spec.shared_experts * expert
    router = h * spec.experts
    moe_layer = attn + norms + router + shared + spec.experts * expert
    total = dense_layers * (attn + mlp + norms) + spec.moe_layers * moe_layer + embeddings
    inactive = spec.moe_layers * (spec.experts - spec.experts_per_token) * expert
    formula = (
        f"{dense_layers} dense layers x {attn + mlp + norms:,} + {spec.moe_layers} MoE "
        f"layers x ({attn:,} attention + {spec.experts} experts x {expert:,} + "
        f"{shared:,} shared + {router:,} router + {norms:,} norms) + "
        f"{spec.embedding_params + h:,} embeddings and final norm = {total:,}; active "
        f"= total - {spec.moe_layers} x {spec.experts - spec.experts_per_token} idle "
        f"experts x {expert:,} = {total - inactive:,}"
    )
    return total, total - inactive, formula


def _replace(spec: ModelSpec, **changes: Any) -> ModelSpec:
    """dataclasses.replace, keeping the mappings read-only."""
    values = {name: getattr(spec, name) for name in spec.__dataclass_fields__}
    values.update(changes)
    values["provenance"] = MappingProxyType(dict(values["provenance"]))
    values["weight_formats"] = MappingProxyType(dict(values["weight_formats"]))
    return ModelSpec(**values)


# ---------------------------------------------------------------------------------------------
# safetensors headers


@dataclass(frozen=True)
class TensorEntry:
    """One tensor as a safetensors header lists it."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    nbytes: int

    @property
    def elements(self) -> int:
        count = 1
        for size in self.shape:
            count *= size
        return count


def read_safetensors_header(path: str | Path) -> list[TensorEntry]:
    """The tensor table of a .safetensors file, reading only its JSON header."""
    target = Path(path)
    try:
        with target.open("rb") as handle:
            prefix = handle.read(8)
            if len(prefix) < 8:
                raise FileError(
                    Location(str(target)),
                    "too short for a safetensors file (no 8-byte header length)",
                )
            (length,) = struct.unpack("<Q", prefix)
            if length > _MAX_HEADER_BYTES:
                raise FileError(
                    Location(str(target)),
                    f"header length {length:,} bytes is over "
                    "the format's 100 MB cap: not a safetensors file",
                )
            raw = handle.read(length)
    except OSError as err:
        raise FileError(Location(str(target)), f"cannot be read: {err.strerror}") from None
    if len(raw) < length:
        raise FileError(
            Location(str(target)),
            f"header promises {length:,} bytes, file has {len(raw):,}: truncated",
        )
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise FileError(Location(str(target)), f"header is not JSON ({err})") from None
    if not isinstance(header, dict):
        raise FileError(Location(str(target)), "header is not a JSON object")
    entries = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            start, end = info["data_offsets"]
            entries.append(
                TensorEntry(
                    name, str(info["dtype"]), tuple(int(s) for s in info["shape"]), int(end - start)
                )
            )
        except (KeyError, TypeError, ValueError):
            raise FileError(
                Location(str(target)), f"header entry {name!r} lacks dtype, shape or data_offsets"
            ) from None
    return entries


def _with_tensor_counts(spec: ModelSpec, shards: list[Path]) -> ModelSpec:
    """The spec with exact parameters, dtypes and stored bytes counted from the headers."""
    formats: dict[str, int] = {}
    params = stored = 0
    for shard in shards:
        for entry in read_safetensors_header(shard):
            stored += entry.nbytes
            if _QUANT_METADATA.search(entry.name):
                continue
            count = entry.elements
            if entry.dtype == "U8" and (
                entry.name.endswith("_blocks") or spec.quantization == "bitsandbytes"
            ):
                count *= 2  # two 4-bit values packed in each byte (MXFP4 blocks, bnb NF4)
            params += count
            formats[entry.dtype] = formats.get(entry.dtype, 0) + count
    shown = ", ".join(s.name for s in shards[:2]) + (", ..." if len(shards) > 2 else "")
    formula = f"counted from {len(shards)} safetensors header(s) ({shown}): {params:,}"
    return _counted(
        spec,
        params,
        formula,
        "sum of data_offsets in the safetensors headers",
        stored_bytes=stored,
        weight_formats=formats,
    )


# ---------------------------------------------------------------------------------------------
# GGUF


def read_gguf(path: str | Path) -> ModelSpec:
    """The spec from a GGUF file's metadata and tensor table (split files: every part's tensors)."""
    target = Path(path)
    try:
        from gguf import GGUFReader
    except ImportError:  # pragma: no cover - gguf is a declared dependency
        raise FileError(
            Location(str(target)), "reading .gguf files needs the gguf package (pip install gguf)"
        ) from None
    parts = [target]
    split = re.search(r"-(\d{5})-of-(\d{5})\.gguf$", target.name)
    if split:
        count = int(split.group(2))
        parts = [
            target.with_name(target.name[: split.start()] + f"-{i:05d}-of-{count:05d}.gguf")
            for i in range(1, count + 1)
        ]
        missing = [p.name for p in parts if not p.is_file()]
        if missing:
            raise FileError(Location(str(target)), f"split GGUF is missing {', '.join(missing)}")
    readers = []
    for part in parts:
        try:
            readers.append(GGUFReader(part, "r"))
        except (ValueError, OSError, IndexError, struct.error) as err:
            raise FileError(Location(str(part)), f"not a readable GGUF file: {err}") from None
    fields = readers[0].fields
    source = str(target)

    def value(key: str, default: Any = None) -> Any:
        found = fields.get(key)
        if found is None:
            if default is None:
                raise FileError(
                    Location(source), f"GGUF metadata has no {key!r}" + did_you_mean(key, fields)
                )
            return default
        return found.contents()

    provenance: dict[str, str] = {}
    arch = str(value("general.architecture"))
    terms: dict[str, int] = {}
    for term, suffix, default in (
        ("layers", "block_count", None),
        ("hidden", "embedding_length", None),
        ("attention_heads", "attention.head_count", None),
        ("kv_heads", "attention.head_count_kv", 0),
        ("head_dim", "attention.key_length", 0),
        ("intermediate_size", "feed_forward_length", 0),
        ("max_context", "context_length", 0),
        ("experts", "expert_count", 0),
        ("experts_per_token", "expert_used_count", 0),
        ("shared_experts", "expert_shared_count", 0),
        ("expert_intermediate_size", "expert_feed_forward_length", 0),
        ("dense_layers", "leading_dense_block_count", 0),
        ("kv_lora_rank", "attention.kv_lora_rank", 0),
        ("qk_rope_head_dim", "rope.dimension_count", 0),
        ("sliding_window", "attention.sliding_window", 0),
    ):
        key = f"{arch}.{suffix}"
        raw = value(key, default)
        number = max(raw) if isinstance(raw, list) and raw else raw  # per-layer arrays: the widest
        if not isinstance(number, int) or isinstance(number, bool):
            raise FileError(
                Location(source), f"GGUF metadata {key!r} is not a whole number: {raw!r}"
            )
        terms[term] = int(number)
        if key in fields:
            provenance[term] = key
    heads = terms["attention_heads"]
    kv_heads = terms["kv_heads"] or heads
    if kv_heads > heads or heads % kv_heads:
        raise FileError(
            Location(source),
            f"inconsistent heads: {kv_heads} KV heads cannot serve "
            f"{heads} attention heads in equal groups",
        )
    head_dim = terms["head_dim"] or terms["hidden"] // heads
    tensors = [t for reader in readers for t in reader.tensors]
    names = {t.name for t in tensors}
    vocab_field = fields.get(f"{arch}.vocab_size") or fields.get("tokenizer.ggml.tokens")
    if vocab_field is not None and vocab_field.name.endswith("vocab_size"):
        vocab = int(vocab_field.contents())
    elif vocab_field is not None:
        vocab = len(vocab_field.data)
    else:
        embedding = next((t for t in tensors if t.name == "token_embd.weight"), None)
        vocab = int(max(embedding.shape)) if embedding is not None else 0
    provenance["vocab"] = vocab_field.name if vocab_field is not None else "token_embd.weight"
    layers = terms["layers"]
    window = terms["sliding_window"]
    if window and arch == "gemma2":
        windows: tuple[int | None, ...] = tuple(
            window if i % 2 == 0 else None for i in range(layers)
        )
    elif window and arch.startswith("gemma3"):
        windows = tuple(None if (i + 1) % 6 == 0 else window for i in range(layers))
    else:
        windows = tuple(window or None for _ in range(layers))
    formats: dict[str, int] = {}
    params = stored = 0
    for tensor in tensors:
        params += int(tensor.n_elements)
        stored += int(tensor.n_bytes)
        kind = tensor.tensor_type.name
        formats[kind] = formats.get(kind, 0) + int(tensor.n_elements)
    experts = terms["experts"]
    moe_layers = layers - terms["dense_layers"] if experts else 0
    expert_inter = terms["expert_intermediate_size"] or terms["intermediate_size"]
    idle = (
        moe_layers
        * max(0, experts - terms["experts_per_token"])
        * 3
        * terms["hidden"]
        * expert_inter
    )
    formula = f"counted from {len(tensors)} GGUF tensors: {params:,}"
    if idle:
        formula += f"; active = {params:,} - {idle:,} idle experts = {params - idle:,}"
    provenance["params"] = formula
    latent = terms["kv_lora_rank"] > 0
    name = str(value("general.name", target.stem))
    return ModelSpec(
        name=name,
        source=source,
        params=params,
        active_params=params - idle,
        params_counted=True,
        params_formula=formula,
        layers=layers,
        hidden=terms["hidden"],
        attention_heads=heads,
        kv_heads=kv_heads,
        head_dim=head_dim,
        vocab=vocab,
        tied_embeddings="output.weight" not in names,
        intermediate_size=terms["intermediate_size"],
        attention=(
            "latent"
            if latent
            else "multi-head"
            if kv_heads == heads
            else "multi-query"
            if kv_heads == 1
            else "grouped"
        ),
        experts=experts,
        experts_per_token=terms["experts_per_token"],
        shared_experts=terms["shared_experts"],
        expert_intermediate_size=expert_inter,
        moe_layers=moe_layers,
        kv_lora_rank=terms["kv_lora_rank"],
        qk_rope_head_dim=terms["qk_rope_head_dim"] if latent else 0,
        layer_windows=windows,
        max_context=terms["max_context"] or None,
        quantization="gguf",
        stored_bytes=stored,
        weight_formats=MappingProxyType(formats),
        provenance=MappingProxyType(provenance),
    )
