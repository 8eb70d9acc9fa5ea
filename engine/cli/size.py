"""`gpu-advisor size`: the memory a workload needs, itemized, and which devices hold it.

Only argparse is imported at module level: the CLI registers every subcommand at start-up, so the
sizing arithmetic, the YAML loaders and rich are imported when `size` actually runs.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gpu_advisor.arithmetic.sizing import Estimate, SizingRequest

from gpu_advisor.cli.argtypes import add_fetch_model, positive_float, positive_int, whole_number
from gpu_advisor.present.errors import fields_named

FORMATS = ("text", "json")
DEFAULT_MAX_GPUS = 8
FLAGS: dict[str, str] = {
    "params_b": "--params-b",
    "model": "--model",
    "workload": "--workload",
    "method": "--method",
    "precision": "--precision",
    "context": "--context",
    "batch": "--batch",
    "gpus": "--gpus",
    "zero": "--zero",
    "offload": "--offload",
    "kv_precision": "--kv-precision",
    "optimizer": "--optimizer",
    "bytes_per_param": "--bytes-per-param",
    "gradient_checkpointing": "--no-checkpointing",
    "max_gpus": "--max-gpus",
    "format": "--format",
    "kb": "--kb",
}
"""Fields the sizing may name in an error -> their flags."""

_DESCRIPTION = """\
Estimate the GPU memory a training or inference workload needs: an itemized breakdown (weights,
KV cache, gradients, optimizer state, activations, adapters, overhead) with every assumption
spelled out, and the fewest GPUs of each knowledge-base device that hold it.

Name a model from the catalog (--model llama-3.1-70b) or by its own files (--model
path/to/config.json, a model folder, or a .gguf; read offline) for its real architecture, or give
only a parameter count (--params-b 70) and a Llama-like shape is fitted and printed. A model's
files also give its experts, latent or sliding-window attention, tied embeddings and, for a GGUF
or a quantized checkpoint, the bytes its weights are stored in. GB are decimal (10^9 bytes).
Training over several GPUs uses the DeepSpeed ZeRO stage given by --zero (0 = plain data
parallel, nothing sharded); inference over several GPUs is tensor parallel."""


def register(subparsers: Any) -> None:
    """Add the `size` subcommand to an argparse subparsers object."""
    parser = subparsers.add_parser(
        "size",
        help="itemized GPU memory need of a workload, and which devices hold it",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--params-b",
        type=positive_float,
        metavar="N",
        help="model size in billions of parameters, e.g. 70 (or give --model)",
    )
    parser.add_argument(
        "--model",
        metavar="NAME|PATH",
        help="a catalog model, e.g. llama-3.1-70b, qwen2.5-32b, mistral-7b "
        "(case-insensitive; kb/models.yaml lists them), or a model's config.json, its folder "
        "or a .gguf file",
    )
    add_fetch_model(parser)
    parser.add_argument(
        "--workload", metavar="W", help="pretraining, fine-tuning or inference (required)"
    )
    parser.add_argument(
        "--method", metavar="M", help="training method: full (default), lora or qlora"
    )
    parser.add_argument(
        "--precision",
        metavar="P",
        help="weight precision: fp32, bf16 (default), fp16, fp8, int8, fp4, int4, nf4, "
        "nvfp4, mxfp4 (QLoRA defaults to nf4)",
    )
    parser.add_argument(
        "--context",
        type=positive_int,
        metavar="TOKENS",
        default=None,
        help="sequence length in tokens (default 4096)",
    )
    parser.add_argument(
        "--batch",
        type=positive_int,
        metavar="N",
        default=1,
        help="micro-batch per GPU for training, concurrent sequences for inference (default 1)",
    )
    parser.add_argument(
        "--gpus",
        type=positive_int,
        metavar="N",
        default=1,
        help="GPUs to size for (default 1): ZeRO sharding for training, tensor "
        "parallel for inference",
    )
    parser.add_argument(
        "--zero",
        type=whole_number,
        metavar="STAGE",
        default=0,
        help="DeepSpeed ZeRO stage 0-3 for training (default 0: nothing sharded)",
    )
    parser.add_argument(
        "--offload",
        action="store_true",
        help="offload optimizer state to host RAM (needs --zero 1-3)",
    )
    parser.add_argument(
        "--kv-precision",
        metavar="P",
        help="KV-cache precision for inference, e.g. fp8 (default: bf16, the activation dtype); "
        "with a model's files also q8_0, q4_0 (llama.cpp)",
    )
    parser.add_argument(
        "--optimizer", metavar="O", default="adamw", help="adamw (default) or adamw-8bit"
    )
    parser.add_argument(
        "--bytes-per-param",
        type=whole_number,
        metavar="B",
        default=16,
        help="mixed-precision AdamW convention: 16 (DeepSpeed, default), 18 (fp32 "
        "gradients) or 12 (no fp32 master weights)",
    )
    parser.add_argument(
        "--no-checkpointing",
        dest="gradient_checkpointing",
        action="store_false",
        help="size training without gradient checkpointing (much larger activations)",
    )
    parser.add_argument(
        "--max-gpus",
        type=positive_int,
        metavar="N",
        default=DEFAULT_MAX_GPUS,
        help=f"largest GPU count tried when fitting devices (default {DEFAULT_MAX_GPUS})",
    )
    parser.add_argument(
        "--format", choices=FORMATS, default="text", help="output format: text (default) or json"
    )
    parser.add_argument(
        "--kb", metavar="DIR", help="knowledge-base folder (devices; models.yaml if present there)"
    )
    parser.set_defaults(func=run)


# ---------------------------------------------------------------------------------------------
# Running


@dataclass(frozen=True)
class DeviceFit:
    """One knowledge-base device and the fewest GPUs of it that hold the workload (None: none)."""

    device: str
    name: str
    memory_gb: float
    usable_gb: float
    gpus: int | None


def build_request(args: argparse.Namespace) -> SizingRequest:
    """The command line as a sizing request; UsageError names the flag of any bad value."""
    from gpu_advisor.arithmetic.model_memory import KV_CACHE_BYTES, FileModel
    from gpu_advisor.arithmetic.sizing import (
        METHODS,
        SizingRequest,
        check_precision,
        check_workload,
        resolve_model_reference,
    )
    from gpu_advisor.errors import UsageError, did_you_mean, one_of

    if args.params_b is not None and args.model is not None:
        raise UsageError(
            "--params-b and --model are exclusive: give one (a catalog model carries "
            "its parameter count)"
        )
    if args.params_b is None and args.model is None:
        raise UsageError("give --params-b N (billions of parameters) or --model NAME")
    if args.workload is None:
        raise UsageError("--workload is required: pretraining, fine-tuning or inference")
    workload = check_workload(args.workload)
    method = None
    if args.method is not None:
        method = args.method.strip().lower()
        if method not in METHODS:
            raise UsageError(
                f"--method: unknown method {args.method!r}{did_you_mean(method, METHODS)}; "
                f"{one_of(METHODS)}"
            )
    if args.precision is not None:
        precision = check_precision("precision", args.precision)
    else:
        precision = "nf4" if method == "qlora" and workload != "inference" else "bf16"
    optimizer = args.optimizer.strip().lower()
    model = None
    if args.model is not None:
        model = resolve_model_reference(args.model, _catalog_path(args.kb))
    kv_precision = None
    if args.kv_precision is not None:
        kv_precision = args.kv_precision.strip().lower()
        if not (isinstance(model, FileModel) and kv_precision in KV_CACHE_BYTES):
            kv_precision = check_precision("kv_precision", args.kv_precision)
    params_b = model.params_b if model else args.params_b
    return SizingRequest(
        workload=workload,
        params_b=params_b,
        model=model,
        method=method,
        precision=precision,
        context_tokens=args.context if args.context is not None else 4096,
        batch_size=args.batch,
        gpus=args.gpus,
        zero_stage=args.zero,
        offload=args.offload,
        kv_precision=kv_precision,
        optimizer=optimizer,
        gradient_checkpointing=args.gradient_checkpointing,
        bytes_per_param_convention=args.bytes_per_param,
    )


def _catalog_path(kb: str | None) -> Path | None:
    """models.yaml from --kb when that folder has one, else the shipped catalog."""
    if kb is None:
        return None
    candidate = Path(kb) / "models.yaml"
    return candidate if candidate.is_file() else None


def load_devices(kb: str | None) -> list[tuple[str, str, float]]:
    """(id, display name, memory GB) of every knowledge-base device that states its memory."""
    from gpu_advisor.knowledge.kb_schema import load_knowledge

    knowledge = load_knowledge(kb)
    devices: list[tuple[str, str, float]] = []
    for device_id, device in knowledge.devices.items():
        memory = device.value("memory_gb")
        if isinstance(memory, (int, float)) and not isinstance(memory, bool) and memory > 0:
            devices.append((device_id, device.short_name or device.name, float(memory)))
    return devices


def fit_devices(
    request: SizingRequest, devices: list[tuple[str, str, float]], max_gpus: int
) -> list[DeviceFit]:
    """Each device with the fewest GPUs that hold the request, fitting ones first."""
    from gpu_advisor.arithmetic.sizing import gpus_needed, usable_memory_gb

    fits = [
        DeviceFit(
            device_id,
            name,
            memory,
            usable_memory_gb(memory),
            gpus_needed(request, memory, max_gpus=max_gpus),
        )
        for device_id, name, memory in devices
    ]
    return sorted(fits, key=lambda f: (f.gpus is None, f.gpus or 0, -f.memory_gb, f.name))


@fields_named(FLAGS)
def run(args: argparse.Namespace) -> int:
    """Size the workload, fit it to the knowledge base's devices, print text or JSON."""
    from gpu_advisor.arithmetic.sizing import estimate

    request = build_request(args)
    result = estimate(request)
    fits = fit_devices(request, load_devices(args.kb), args.max_gpus)
    if args.format == "json":
        print(json.dumps(to_json(result, fits, args.max_gpus), indent=2))
    else:
        print_text(result, fits, args.max_gpus)
    return 0


def to_json(result: Estimate, fits: list[DeviceFit], max_gpus: int) -> dict[str, Any]:
    """The estimate's JSON contract plus `fits` (devices that hold it) and `does_not_fit`."""
    data = result.to_json()
    data["max_gpus"] = max_gpus
    data["fits"] = [{"device": f.device, "name": f.name, "gpus": f.gpus} for f in fits if f.gpus]
    data["does_not_fit"] = [f.device for f in fits if f.gpus is None]
    return data


def _no_fit_hint(result: Estimate) -> str:
    req = result.request
    if req.workload != "inference" and req.zero_stage == 0:
        return " (ZeRO-0 replicates everything on each GPU; try --zero 3)"
    return ""


def print_text(result: Estimate, fits: list[DeviceFit], max_gpus: int) -> None:
    """A readable table: items per GPU and in total, assumptions, host RAM, device fits."""
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # pragma: no cover - rich is a dependency; plain text if it is missing
        print(plain_text(result, fits, max_gpus))
        return
    req = result.request
    console = Console()
    gpus = req.gpus
    title = f"Memory for {_describe(req)} — {result.per_gpu_gb:.1f} GB per GPU" + (
        f" x {gpus} GPUs = {result.total_gb:.1f} GB" if gpus > 1 else ""
    )
    table = Table(title=title, caption="GB = 10^9 bytes")
    table.add_column("item")
    table.add_column("per GPU (GB)", justify="right")
    if gpus > 1:
        table.add_column(f"all {gpus} GPUs (GB)", justify="right")
    table.add_column("how")
    for item in result.breakdown:
        row = [item.item, f"{item.per_gpu_gb:.2f}"]
        if gpus > 1:
            row.append(f"{item.gb:.2f}")
        table.add_row(*row, item.formula)
    total_row = ["total", f"{result.per_gpu_gb:.2f}"] + (
        [f"{result.total_gb:.2f}"] if gpus > 1 else []
    )
    table.add_row(*total_row, "", style="bold")
    console.print(table)
    if result.host_ram_gb:
        console.print(
            f"Host RAM for offloaded optimizer state: {result.host_ram_gb:.1f} GB", soft_wrap=True
        )
    console.print("Assumptions:")
    for sentence in result.assumptions:
        console.print(f"  - {sentence}", highlight=False, soft_wrap=True)
    console.print(_fits_text(result, fits, max_gpus), highlight=False, soft_wrap=True)


def _describe(req: SizingRequest) -> str:
    model = req.model.name if req.model else f"{req.params_b:g}B params"
    if req.workload == "inference":
        return f"{req.precision} inference of {model}"
    method = req.method or "full"
    return f"{req.workload} ({method}, {req.precision}) of {model}"


def _fits_text(result: Estimate, fits: list[DeviceFit], max_gpus: int) -> str:
    lines = [f"Fewest GPUs that hold it (usable = 95% of the card's binary GB, up to {max_gpus}):"]
    holding = [f for f in fits if f.gpus]
    for fit in holding:
        lines.append(
            f"  {fit.name} ({fit.memory_gb:g} GB, {fit.usable_gb:.1f} usable): "
            f"{fit.gpus} GPU{'s' if fit.gpus != 1 else ''}"
        )
    if not holding:
        lines.append("  none")
    missing = [f for f in fits if f.gpus is None]
    if missing:
        names = ", ".join(f"{f.name} ({f.memory_gb:g} GB)" for f in missing)
        lines.append(f"Does not fit at up to {max_gpus} GPUs{_no_fit_hint(result)}: {names}")
    return "\n".join(lines)


def plain_text(result: Estimate, fits: list[DeviceFit], max_gpus: int) -> str:
    """The same report without rich."""
    lines = [f"Memory for {_describe(result.request)} (GB = 10^9 bytes)"]
    for item in result.breakdown:
        lines.append(f"  {item.item:<14} {item.per_gpu_gb:9.2f} GB per GPU  {item.formula}")
    lines.append(
        f"  {'total':<14} {result.per_gpu_gb:9.2f} GB per GPU, {result.total_gb:.2f} GB in all"
    )
    if result.host_ram_gb:
        lines.append(f"Host RAM for offloaded optimizer state: {result.host_ram_gb:.1f} GB")
    lines.append("Assumptions:")
    lines.extend(f"  - {sentence}" for sentence in result.assumptions)
    lines.append(_fits_text(result, fits, max_gpus))
    return "\n".join(lines)
