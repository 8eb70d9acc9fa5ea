"""The defaults of the demand arithmetic (kb/demand.yaml), as plain records with their sources.

How fast a chat user must be served, what fraction of memory bandwidth a decode step reaches,
the FLOPs per parameter and token of each kind of training, and the model FLOPs utilization by
interconnect: each a sourced value, so that an explanation can cite where the number came from.
"""

from __future__ import annotations

from dataclasses import dataclass

INTERACTIVE_FIELDS = (
    "tokens_per_s_per_user",
    "decode_mbu",
    "decode_mbu_nvlink",
    "decode_mbu_pcie",
    "decode_mfu",
    "pcie_tensor_parallel_max",
)
TRAINING_FIELDS = (
    "flops_per_param_token_full",
    "flops_per_param_token_lora",
    "qlora_time_factor",
    "tokens_per_param_pretraining",
    "finetune_tokens_b",
    "finetune_epochs",
    "deadline_days",
    "mfu_nvlink",
    "mfu_pcie_server",
    "mfu_single_gpu",
    "mfu_pcie_workstation",
    "mfu_no_p2p",
    "step_tokens_pretraining",
    "step_tokens_finetune",
    "gradient_bytes",
)


@dataclass(frozen=True)
class Default:
    """One default: its value, the source id it comes from, and why it is this number."""

    name: str
    value: float
    source: str
    note: str

    def cite(self) -> str:
        return f"{self.name} = {self.value:g} [{self.source}]"


@dataclass(frozen=True)
class DemandDefaults:
    """Every default of kb/demand.yaml by name (see INTERACTIVE_FIELDS and TRAINING_FIELDS)."""

    values: dict[str, Default]

    def __getitem__(self, name: str) -> float:
        return self.values[name].value

    def default(self, name: str) -> Default:
        return self.values[name]
