"""The model catalog (``kb/models.yaml``): transformer architectures by name, validated once.

Sizing reads a model's shape (layers, hidden size, attention and KV heads) because KV cache and
activations depend on it; the catalog gives the real figures of well-known models (each with its
source) so that a named model is sized on its own architecture. These are plain dataclasses;
the file is read and validated by ``catalogs``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from gpu_advisor.errors import UsageError, did_you_mean

ASSUMED_VOCAB = 128_000
"""Vocabulary when the architecture does not say (modern tokenizers are 128k-152k)."""
MLP_RATIO = 3.5
"""MLP intermediate size over hidden size (Llama 3: 14336/4096 and 28672/8192)."""
GATED_MLP_MATRICES = 3
"""Weight matrices of one gated (SwiGLU) MLP or expert: gate, up and down, each hidden x I."""


@dataclass(frozen=True)
class ModelArch:
    """The shape of a transformer, which is what KV cache and activations depend on."""

    name: str
    params_b: float
    layers: int
    hidden: int
    attention_heads: int
    kv_heads: int
    head_dim: int
    source: str
    assumed: bool = False
    vocab_size: int | None = None
    aliases: tuple[str, ...] = ()
    experts: int = 0
    """Routed experts in each MoE layer (E; config.json ``num_local_experts``); 0 when dense."""
    experts_per_token: int = 0
    """Experts each token is routed to in a MoE layer (k; ``num_experts_per_tok``)."""
    moe_layers: int = 0
    """Layers whose MLP is a set of experts (Mixtral: every layer)."""
    expert_intermediate_size: int = 0
    """Intermediate size of one expert's gated MLP (I_e; Mixtral's ``intermediate_size``)."""

    @property
    def kv_elements_per_token(self) -> int:
        """KV elements per token (keys and values, every layer): multiply by bytes per element."""
        return 2 * self.layers * self.kv_heads * self.head_dim

    @property
    def is_moe(self) -> bool:
        return self.experts > 0 and self.routed_expert_params > 0

    @property
    def routed_expert_params(self) -> int:
        """Weights of every routed expert of every MoE layer: MoE layers x E x 3 x hidden x I_e
        (gated MLPs); the part of the weights a token reads only k/E of. 0 for a dense model."""
        return (
            self.moe_layers
            * self.experts
            * GATED_MLP_MATRICES
            * self.hidden
            * self.expert_intermediate_size
        )

    @property
    def active_params_b(self) -> float:
        """Parameters a token passes through (FLOPs, decode): all of them in a dense model; in a
        mixture, all but the E - k experts of each MoE layer the token is not routed to."""
        if not self.is_moe:
            return self.params_b
        per_expert_slot = self.routed_expert_params // self.experts  # MoE layers x 3 h I_e
        idle = per_expert_slot * (self.experts - self.experts_per_token)
        # In whole parameters, so the catalog and a model's files give the same float.
        return (round(self.params_b * 1e9) - idle) / 1e9

    @property
    def vocab(self) -> int:
        return self.vocab_size if self.vocab_size else ASSUMED_VOCAB

    @property
    def largest_layer_params(self) -> float:
        """Parameters of the largest single weight: the embedding or one MLP projection."""
        return max(float(self.vocab) * self.hidden, MLP_RATIO * self.hidden * self.hidden)


def normalize_model_name(name: str) -> str:
    """Lower-case, hyphenated, no chat/instruct suffix: fine-tunes share the base's architecture."""
    text = re.sub(r"[\s_]+", "-", name.strip().lower())
    text = re.sub(r"-(instruct|chat|hf|base)$", "", text)
    return text


def shipped_models_path() -> Path:
    """The model catalog that installs with the package."""
    return Path(str(resources.files("gpu_advisor.kb").joinpath("models.yaml")))


def resolve_model(name: str, catalog: dict[str, ModelArch]) -> ModelArch:
    """A catalog model by name or alias, any case; UsageError (field ``model``) if unknown."""
    wanted = normalize_model_name(name)
    labels: dict[str, ModelArch] = {}
    for arch in catalog.values():
        labels[arch.name] = arch
        for alias in arch.aliases:
            labels.setdefault(alias, arch)
    if wanted in labels:
        return labels[wanted]
    raise UsageError(
        f"unknown model {name!r}{did_you_mean(wanted, labels)}; "
        f"known models: {', '.join(sorted(catalog))}",
        field="model",
    )
