"""`gpu-advisor deploy`: DeepSpeed and FSDP settings for a job on given or recommended GPUs, and
launch settings for the serving engines (vLLM, SGLang, llama.cpp, Ollama) on given GPUs.

Only argparse and the standard library are imported at module level (the CLI registers every
subcommand at start-up); the sizing, the engine and NVML are imported when `deploy` runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gpu_advisor.cli.argtypes import positive_float, positive_int
from gpu_advisor.cli.probe import add_job_arguments, job_given, raw_answers, read_machine

if TYPE_CHECKING:
    from gpu_advisor.core.consult import Engine
    from gpu_advisor.hardware.deploy import Deployment
    from gpu_advisor.hardware.planning import Hardware, Job
    from gpu_advisor.hardware.serving import LaunchPlan
    from gpu_advisor.knowledge.kb import Knowledge

SERVING_FORMATS = ("vllm", "sglang", "llama-cpp", "ollama")
"""Formats that write a serving engine's launch file (hardware.serving) instead of a training
configuration."""
FORMATS = ("text", "json", "deepspeed", "fsdp", *SERVING_FORMATS)

_DESCRIPTION = """\
Write the DeepSpeed configuration (ZeRO stage, optimizer offload, precision, micro-batch,
gradient accumulation) and the equivalent PyTorch FSDP settings (as an Accelerate config) for a
training job, each setting explained. The hardware is, in this order: saved outputs (--from),
the local GPUs (--live), a knowledge-base device (--device ID [--gpus N]), or else the
recommendation engine's first choice for the job.

The ZeRO stage and offload are the first rung of `probe`'s plan that fits: nothing sharded,
ZeRO-2, ZeRO-3, then optimizer offload to host RAM. --zero and --offload force another.

Formats: text (both files with their reasons), json (everything, for tools), deepspeed (the
ds_config.json alone), fsdp (the Accelerate YAML alone). With -o PATH the chosen format is
written atomically; without --format, a .json path gets the DeepSpeed file and a .yaml path the
FSDP file.

Serving: --format vllm or sglang (a YAML file for `--config`), llama-cpp (a llama-server shell
script) or ollama (a Modelfile) writes the engine's launch settings for --model (a catalog model,
a config.json, a model folder or a .gguf) on --device ID [--gpus N] or the probed GPUs (--from,
--live): tensor and pipeline parallel sizes, context length, memory share, KV-cache type and
quantization for vLLM and SGLang; GPU layers, tensor split, context and KV-cache type for
llama.cpp and Ollama. Each setting is preceded by a comment that says why it has its value."""


def zero_stage(text: str) -> int:
    """0, 1, 2 or 3."""
    if text.strip() not in ("0", "1", "2", "3"):
        raise argparse.ArgumentTypeError(f"expected a ZeRO stage 0, 1, 2 or 3, got {text!r}")
    return int(text)


def register(subparsers: Any) -> None:
    """Add the `deploy` subcommand to an argparse subparsers object."""
    parser = subparsers.add_parser(
        "deploy",
        help="DeepSpeed and FSDP settings for a training job, each explained",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--from",
        dest="from_files",
        action="append",
        default=[],
        metavar="FILE",
        help="saved `nvidia-smi -q -x` / `nvidia-smi topo -m` outputs (repeatable)",
    )
    where.add_argument("--live", action="store_true", help="read the local GPUs through NVML")
    where.add_argument("--device", metavar="ID", help="a knowledge-base device, e.g. h100-pcie")
    parser.add_argument(
        "--gpus",
        type=positive_int,
        metavar="N",
        help="with --device: how many (default: the fewest that hold the job)",
    )
    parser.add_argument(
        "--micro-batch",
        type=positive_int,
        metavar="N",
        help="micro-batch per GPU (default: batch_size if given, else the largest "
        "power of two that fits)",
    )
    parser.add_argument(
        "--global-batch",
        type=positive_int,
        metavar="N",
        help="sequences per optimizer step; sets gradient accumulation",
    )
    parser.add_argument(
        "--zero",
        type=zero_stage,
        metavar="STAGE",
        help="force a ZeRO stage (0-3) instead of the plan's",
    )
    offload = parser.add_mutually_exclusive_group()
    offload.add_argument(
        "--offload",
        dest="offload",
        action="store_true",
        default=None,
        help="force optimizer offload to host RAM",
    )
    offload.add_argument(
        "--no-offload", dest="offload", action="store_false", help="forbid optimizer offload"
    )
    parser.add_argument(
        "--learning-rate",
        type=positive_float,
        metavar="LR",
        help="learning rate written into the optimizer block (offload only)",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        help="text (default), json, deepspeed, fsdp; serving: vllm, sglang, llama-cpp, ollama",
    )
    parser.add_argument(
        "--context",
        type=positive_int,
        metavar="TOKENS",
        help="serving: context length to plan for (default: context_tokens if answered, else "
        "the model's own limit; shortened when memory does not hold it)",
    )
    parser.add_argument(
        "--kv-cache-dtype",
        metavar="T",
        default="auto",
        help="serving: KV-cache type, auto (the model's 16-bit dtype, default), fp8, q8_0, q4_0...",
    )
    parser.add_argument(
        "--quantization",
        metavar="Q",
        help="serving: weight format to load as, e.g. fp8 or nf4 (default: as the files store it)",
    )
    parser.add_argument("-o", "--output", metavar="PATH", help="write to PATH (atomically)")
    add_job_arguments(parser)
    parser.set_defaults(func=run)


def output_format(args: argparse.Namespace) -> str:
    """--format, else guessed from -o's suffix, else text."""
    if args.format:
        return str(args.format)
    if args.output:
        suffix = Path(args.output).suffix.lower()
        if suffix == ".json":
            return "deepspeed"
        if suffix in (".yaml", ".yml"):
            return "fsdp"
    return "text"


def _hardware(
    args: argparse.Namespace, engine: Engine, knowledge: Knowledge, raw: dict[str, Any]
) -> tuple[Hardware, Job, list[str]]:
    """The hardware the flags name, the job on it, and warnings from the probe's checks."""
    from gpu_advisor.errors import UsageError, did_you_mean, one_of
    from gpu_advisor.hardware import probe
    from gpu_advisor.hardware.planning import (
        hardware_from_device,
        hardware_from_machine,
        resolve_job,
    )

    if args.gpus is not None and not args.device:
        raise UsageError("--gpus goes with --device (probed hardware has its own count)")
    if args.from_files or args.live:
        rules = probe.load_hardware_rules(knowledge, args.checks)
        machine = read_machine(args.from_files)
        if args.host_ram_gb is not None:
            machine.host_ram_gb = args.host_ram_gb
        probe.match_models(machine, knowledge, rules.names)
        job = resolve_job(engine, raw, args.model, len(machine.gpus), args.kb)
        findings = probe.run_checks(
            machine, rules, knowledge, job.answers.values, job.planned_parallelism, True
        )
        warnings = [
            f"{f.check} ({'GPU ' + str(f.gpu) if f.gpu is not None else 'machine'}): {f.message}"
            for f in findings
            if f.severity == "serious"
        ]
        return hardware_from_machine(machine, knowledge, args.host_ram_gb), job, warnings
    if args.device:
        if args.device not in knowledge.devices:
            raise UsageError(
                f"--device: unknown device {args.device!r}"
                f"{did_you_mean(args.device, knowledge.devices)}; {one_of(knowledge.devices)}"
            )
        device = knowledge.devices[args.device]
        job = resolve_job(engine, raw, args.model, args.gpus, args.kb)
        count = args.gpus or _fewest(job, device)
        return hardware_from_device(device, count, "knowledge base", args.host_ram_gb), job, []
    return _recommended(args, engine, knowledge, raw)


def _fewest(job: Job, device: Any) -> int:
    """Fewest cards that hold the job without offload (one box's worth if none does)."""
    from gpu_advisor.arithmetic.sizing import gpus_needed

    per_node = int(device.value("units_per_node") or 1)
    request = job.request
    if request.workload != "inference":
        from dataclasses import replace

        request = replace(request, zero_stage=3)
    needed = gpus_needed(request, float(device.value("memory_gb")), max_gpus=per_node)
    return needed or per_node


def _recommended(
    args: argparse.Namespace, engine: Engine, knowledge: Knowledge, raw: dict[str, Any]
) -> tuple[Hardware, Job, list[str]]:
    """The recommendation engine's first choice for the job, as the hardware."""
    from gpu_advisor.errors import UsageError
    from gpu_advisor.hardware.planning import hardware_from_device, resolve_job

    values = dict(raw)
    if "max_gpus" not in values:
        values["max_gpus"] = 8
    job = resolve_job(engine, values, args.model, None, args.kb)
    consult_raw = dict(job.raw)
    if "parallelism" not in job.explicit and job.workload != "inference":
        consult_raw["parallelism"] = "tensor"
    consultation = engine.consult(consult_raw)
    if not consultation.recommendations:
        raise UsageError(
            "the recommendation engine found no device for this job "
            "(gpu-advisor recommend shows why); name one with --device"
        )
    top = consultation.recommendations[0]
    device = knowledge.devices[top.device]
    origin = (
        "recommended: the recommendation engine's first choice (gpu-advisor recommend explains it)"
    )
    return hardware_from_device(device, top.count, origin, args.host_ram_gb), job, []


def build(args: argparse.Namespace) -> Deployment:
    """Hardware, plan and deployment for the flags."""
    from gpu_advisor.core.consult import Engine
    from gpu_advisor.errors import UsageError
    from gpu_advisor.hardware.deploy import build_deployment, pick_option
    from gpu_advisor.hardware.planning import make_plan
    from gpu_advisor.knowledge.kb_schema import load_knowledge
    from gpu_advisor.knowledge.rulebase import load_rulebase

    if not job_given(args):
        raise UsageError(
            "describe the job: e.g. --set workload=fine-tuning --set method=full "
            "--model llama-3.1-70b (see gpu-advisor questions)"
        )
    knowledge = load_knowledge(args.kb)
    engine = Engine(load_rulebase(args.rules, knowledge))
    raw = raw_answers(args)
    hardware, job, warnings = _hardware(args, engine, knowledge, raw)
    plan = make_plan(hardware, job, knowledge, engine)
    option = pick_option(plan, args.zero, args.offload)
    deployment = build_deployment(
        plan, option, args.micro_batch, args.global_batch, args.learning_rate
    )
    deployment.warnings = warnings + deployment.warnings
    return deployment


def render(deployment: Deployment, fmt: str) -> str:
    """The text of one output format."""
    import json

    import yaml

    from gpu_advisor.hardware.deploy import deployment_lines

    if fmt == "deepspeed":
        return json.dumps(deployment.deepspeed, indent=2) + "\n"
    if fmt == "fsdp":
        header = "".join(f"# {s.key}: {s.why}\n" for s in deployment.fsdp_why)
        return header + yaml.safe_dump(deployment.fsdp, sort_keys=False)
    if fmt == "json":
        return json.dumps(deployment.to_json(), indent=2) + "\n"
    return "\n".join(deployment_lines(deployment)) + "\n"


def serving_launch(args: argparse.Namespace, fmt: str) -> tuple[str, str]:
    """The launch file of a serving engine for --model on the named or probed GPUs, and a
    one-line summary of it."""
    from gpu_advisor.errors import UsageError, did_you_mean, one_of
    from gpu_advisor.hardware.serving import SERVING_FORMATS as ENGINES
    from gpu_advisor.hardware.serving import plan_launch, render_launch
    from gpu_advisor.knowledge.kb_schema import load_knowledge

    if not args.model:
        raise UsageError(
            f"--format {fmt} needs --model: a catalog model, a config.json, a model folder or "
            "a .gguf file"
        )
    if args.gpus is not None and not args.device:
        raise UsageError("--gpus goes with --device (probed hardware has its own count)")
    knowledge = load_knowledge(args.kb)
    if args.device:
        if args.device not in knowledge.devices:
            raise UsageError(
                f"--device: unknown device {args.device!r}"
                f"{did_you_mean(args.device, knowledge.devices)}; {one_of(knowledge.devices)}"
            )
        device = knowledge.devices[args.device]
        memory_gb = float(device.value("memory_gb"))
        gpus = args.gpus or min(8, int(device.value("units_per_node") or 1))
        where = str(device.short_name or device.name)
        choose_count = args.gpus is None
    elif args.from_files or args.live:
        from gpu_advisor.hardware import probe
        from gpu_advisor.hardware.planning import hardware_from_machine

        machine = read_machine(args.from_files)
        probe.match_models(
            machine, knowledge, probe.load_hardware_rules(knowledge, args.checks).names
        )
        hardware = hardware_from_machine(machine, knowledge)
        memory_gb, gpus, where = hardware.memory_gb, hardware.count, f"probed {hardware.name}"
        choose_count = False
    else:
        raise UsageError(
            f"--format {fmt}: name the GPUs with --device ID [--gpus N], --from FILE or --live"
        )
    spec, model_ref = _served_model(args.model, args.kb)
    raw = raw_answers(args)
    context = args.context or _answered_int(raw, "context_tokens") or spec.max_context or 4096
    engine = ENGINES[fmt]

    def launch(cards: int) -> LaunchPlan:
        return plan_launch(
            spec,
            engine=engine,
            device_memory_gb=memory_gb,
            gpus=cards,
            context=context,
            kv_dtype=args.kv_cache_dtype.strip().lower(),
            quantization=args.quantization.strip().lower() if args.quantization else None,
        )

    if engine in ("llama.cpp", "ollama") and spec.quantization != "gguf":
        model_ref = Path(model_ref).name + ".gguf"  # the converted file (plan_launch notes it)
    plan = launch(gpus)
    if choose_count and engine in ("llama.cpp", "ollama"):
        # llama.cpp spreads layers over every visible card: offer the fewest that hold them all
        plan = next(
            (p for n in range(1, gpus + 1) if _all_layers(p := launch(n), spec.layers)), plan
        )
    heading = (
        f"{engine} launch settings for {spec.name} on {plan.gpus or gpus} x {where} "
        f"({memory_gb:g} GB each), written by gpu-advisor deploy"
    )
    return render_launch(plan, model_ref, heading), f"{engine} settings for {spec.name}"


def _all_layers(plan: LaunchPlan, layers: int) -> bool:
    """Whether a llama.cpp/Ollama plan puts every layer on the GPUs."""
    offloaded = plan.value("n_gpu_layers")
    offloaded = plan.value("num_gpu") if offloaded is None else offloaded
    return offloaded == layers


def _answered_int(raw: dict[str, Any], key: str) -> int | None:
    """A whole-number answer from --set/--answers, when given (checked like any number)."""
    from gpu_advisor.errors import UsageError

    if key not in raw:
        return None
    try:
        value = int(str(raw[key]).replace("_", ""))
    except ValueError:
        raise UsageError(f"{key}: {raw[key]!r} is not a whole number") from None
    if value < 1:
        raise UsageError(f"{key}: must be at least 1, got {value}")
    return value


def _served_model(reference: str, kb: str | None) -> tuple[Any, str]:
    """The spec of --model and what the engine is told to load: the folder (not its
    config.json), the .gguf, or for a catalog model its Hugging Face repository."""
    from gpu_advisor.arithmetic.model_memory import FileModel
    from gpu_advisor.arithmetic.sizing import resolve_model_reference
    from gpu_advisor.hardware.planning import catalog_path
    from gpu_advisor.knowledge.model_files import spec_from_arch

    model = resolve_model_reference(reference, catalog_path(kb))
    if isinstance(model, FileModel):
        path = Path(reference).expanduser()
        return model.spec, str(path.parent if path.suffix == ".json" else path)
    repository = model.source.split()[0] if "/" in model.source.split()[0] else model.name
    return spec_from_arch(model), repository


def run(args: argparse.Namespace) -> int:
    """Build the deployment (or a serving engine's launch file) and print it, or write it
    with -o."""
    fmt = output_format(args)
    if fmt in SERVING_FORMATS:
        text, summary = serving_launch(args, fmt)
        return _emit(args, text, f"wrote {summary} to {args.output}", [])
    deployment = build(args)
    text = render(deployment, fmt)
    what = {
        "deepspeed": "DeepSpeed config",
        "fsdp": "Accelerate FSDP config",
        "json": "deployment (JSON)",
        "text": "deployment",
    }[fmt]
    return _emit(
        args,
        text,
        f"wrote {what} to {args.output}: {deployment.option.label}",
        deployment.warnings,
    )


def _emit(args: argparse.Namespace, text: str, written: str, warnings: list[str]) -> int:
    """Print the text, or write it atomically to -o and say so (warnings on stderr)."""
    from gpu_advisor.knowledge.safe_files import write_text_safely

    if not args.output:
        sys.stdout.write(text)
        return 0
    target = Path(args.output)
    if target.parent and not target.parent.is_dir():
        from gpu_advisor.errors import UsageError

        raise UsageError(f"-o {args.output}: folder {target.parent} does not exist")
    write_text_safely(target, text)
    sys.stdout.write(written + "\n")
    for warning in warnings:
        sys.stderr.write(f"warning: {warning}\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m gpu_advisor.cli.deploy ...`` runs ``gpu-advisor deploy ...``."""
    from gpu_advisor.cli.main import main as cli_main

    return cli_main(["deploy", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
