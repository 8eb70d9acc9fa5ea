"""`gpu-advisor probe`: the GPUs in hand, what is wrong with them, and whether a job fits them.

Only argparse and the standard library are imported at module level: the CLI registers every
subcommand at start-up. NVML (``nvidia-ml-py``) is imported only when probing the live machine,
so saved outputs (``--from``) work anywhere, and a machine without NVIDIA GPUs gets one message
and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gpu_advisor.cli.argtypes import add_fetch_model, positive_float

if TYPE_CHECKING:
    from gpu_advisor.hardware.planning import Plan
    from gpu_advisor.hardware.probe import Finding, HardwareRules, Machine
    from gpu_advisor.knowledge.kb import Knowledge

FORMATS = ("text", "json")

_DESCRIPTION = """\
Read the GPUs of this machine through NVML (pip install nvidia-ml-py), or saved outputs of
another machine (--from nvidia-smi.xml --from topo.txt, from `nvidia-smi -q -x` and
`nvidia-smi topo -m`). Each GPU is matched to a knowledge-base device; the checks in
rules/hardware/ look for degraded PCIe links, ECC off, throttling, mixed cards and tensor
parallelism planned over PCIe.

Describe a job (--set workload=fine-tuning --set model_params_b=70 --set method=full, or
--model llama-3.1-70b) and the probe also plans it on these GPUs: does it fit as planned,
with ZeRO sharding over all the cards, with the optimizer offloaded to host RAM (and how much
RAM that needs), and if not, the smallest purchase that makes it fit."""


def add_job_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags that describe a job and where the rules live (shared with `deploy`)."""
    parser.add_argument("--answers", metavar="FILE", help="answers in YAML or JSON (key: value)")
    parser.add_argument(
        "--set",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        dest="set_values",
        help="one answer, e.g. workload=fine-tuning, model_params_b=70, method=full, "
        "parallelism=tensor; repeatable (see gpu-advisor questions)",
    )
    parser.add_argument(
        "--model",
        metavar="NAME",
        help="a catalog model (e.g. llama-3.1-70b), or a model's config.json, folder or .gguf, "
        "instead of model_params_b: its real shape sizes the KV cache, activations and "
        "DeepSpeed buckets",
    )
    add_fetch_model(parser)
    parser.add_argument(
        "--host-ram-gb",
        type=positive_float,
        metavar="GB",
        help="host RAM for the offload options (measured when probing live)",
    )
    parser.add_argument(
        "--kb", metavar="DIR", help="knowledge-base folder (default: the shipped one)"
    )
    parser.add_argument("--rules", metavar="DIR", help="rules folder (default: the shipped one)")
    parser.add_argument(
        "--checks",
        metavar="DIR",
        help="hardware checks folder (default: the shipped rules/hardware)",
    )


def register(subparsers: Any) -> None:
    """Add the `probe` subcommand to an argparse subparsers object."""
    parser = subparsers.add_parser(
        "probe",
        help="read the local GPUs (or saved nvidia-smi outputs), check them, plan a job on them",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--from",
        dest="from_files",
        action="append",
        default=[],
        metavar="FILE",
        help="a saved `nvidia-smi -q -x` or `nvidia-smi topo -m` output (repeatable; "
        "'-' reads standard input); without it, the local GPUs are read",
    )
    parser.add_argument("--format", choices=FORMATS, default="text", help="text (default) or json")
    parser.add_argument(
        "--fail-on",
        choices=("info", "caution", "serious"),
        metavar="SEVERITY",
        help="exit with status 1 when a finding is at least this severe "
        "(info, caution, serious); for scripts and CI",
    )
    add_job_arguments(parser)
    parser.set_defaults(func=run)


# ---------------------------------------------------------------------------------------------
# Shared by probe and deploy


def read_machine(from_files: Sequence[str]) -> Machine:
    """Saved outputs when given, else the live machine through NVML."""
    from gpu_advisor.hardware import probe

    if from_files:
        return probe.read_files(list(from_files), sys.stdin.read)
    return probe.probe_live()


def raw_answers(args: argparse.Namespace) -> dict[str, Any]:
    """--answers then --set (later wins), as the questionnaire will validate them."""
    from gpu_advisor.core.answers import load_answers_file, parse_set

    raw: dict[str, Any] = {}
    if getattr(args, "answers", None):
        raw.update(load_answers_file(args.answers))
    raw.update(parse_set(list(getattr(args, "set_values", []) or [])))
    return raw


def job_given(args: argparse.Namespace) -> bool:
    return bool(
        getattr(args, "set_values", None)
        or getattr(args, "answers", None)
        or getattr(args, "model", None)
    )


# ---------------------------------------------------------------------------------------------
# Running


def run(args: argparse.Namespace) -> int:
    """Probe, match, check, optionally plan; print text or JSON."""
    import json

    from gpu_advisor.hardware import probe
    from gpu_advisor.knowledge.kb_schema import load_knowledge

    knowledge = load_knowledge(args.kb)
    rules = probe.load_hardware_rules(knowledge, args.checks)
    machine = read_machine(args.from_files)
    if args.host_ram_gb is not None:
        machine.host_ram_gb = args.host_ram_gb
    probe.match_models(machine, knowledge, rules.names)
    plan = None
    answers: dict[str, Any] = {}
    planned = None
    if job_given(args):
        plan = plan_for_machine(args, machine, knowledge)
        answers = dict(plan.job.answers.values)
        planned = plan.job.planned_parallelism
    findings = probe.run_checks(machine, rules, knowledge, answers, planned, plan is not None)
    if args.format == "json":
        data = to_json(machine, findings, rules, plan)
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    else:
        sys.stdout.write("\n".join(text_lines(machine, findings, rules, knowledge, plan)) + "\n")
    return _status(findings, args.fail_on)


def plan_for_machine(args: argparse.Namespace, machine: Machine, knowledge: Knowledge) -> Plan:
    """Plan the job the flags describe on the probed GPUs."""
    from gpu_advisor.core.consult import Engine
    from gpu_advisor.hardware.planning import hardware_from_machine, make_plan, resolve_job
    from gpu_advisor.knowledge.rulebase import load_rulebase

    engine = Engine(load_rulebase(args.rules, knowledge))
    job = resolve_job(engine, raw_answers(args), args.model, len(machine.gpus), args.kb)
    hardware = hardware_from_machine(machine, knowledge, args.host_ram_gb)
    return make_plan(hardware, job, knowledge, engine)


def _status(findings: Sequence[Finding], fail_on: str | None) -> int:
    from gpu_advisor.hardware.probe import SEVERITIES

    if fail_on is None:
        return 0
    threshold = SEVERITIES.index(fail_on)
    return 1 if any(SEVERITIES.index(f.severity) >= threshold for f in findings) else 0


def to_json(
    machine: Machine, findings: Sequence[Finding], rules: HardwareRules, plan: Plan | None
) -> dict[str, Any]:
    """The JSON contract: machine (every GPU with its raw facts), findings, plan (or null)."""
    counts = {
        s: sum(1 for f in findings if f.severity == s) for s in ("serious", "caution", "info")
    }
    return {
        "machine": machine.to_json(),
        "checks_run": len(rules.checks),
        "findings": [f.to_json() for f in findings],
        "summary": counts,
        "plan": plan.to_json() if plan is not None else None,
    }


def _gpu_line(gpu: Any, knowledge: Knowledge) -> str:
    from gpu_advisor.hardware.probe import stated_memory_gb

    memory = stated_memory_gb(gpu, knowledge)
    parts = [
        f"GPU {gpu.index}",
        gpu.bus_id or "-",
        gpu.name,
        f"[{gpu.kb_id}]" if gpu.kb_id else "[unknown model]",
        f"{memory:g} GiB" if memory is not None else "memory n/a",
    ]
    if gpu.ecc_current is None:
        parts.append("no ECC")
    else:
        parts.append("ECC on" if gpu.ecc_current else "ECC off")
    if gpu.pcie_gen_current is not None:
        parts.append(
            f"PCIe Gen{gpu.pcie_gen_current} x{gpu.pcie_width_current} "
            f"(max Gen{gpu.pcie_gen_max} x{gpu.pcie_width_max})"
        )
    if gpu.power_limit_w is not None:
        parts.append(f"{gpu.power_limit_w:g} W limit")
    if gpu.performance_state:
        parts.append(gpu.performance_state + (" idle" if gpu.idle else ""))
    return "  " + "  ".join(parts)


def _topology_lines(machine: Machine) -> list[str]:
    topology = machine.topology
    if topology is None:
        return [
            "Topology: not read"
            + (" (pass nvidia-smi topo -m output with --from)" if len(machine.gpus) > 1 else "")
        ]
    if not topology.links:
        return ["Topology: one GPU"]
    paths = list(topology.links.values())
    nv = [p for p in paths if p.startswith("NV")]
    lines = []
    if nv and len(nv) == len(paths):
        kinds = ", ".join(sorted(set(nv)))
        lines.append(f"Topology: NVLink joins all {len(paths)} GPU pairs ({kinds})")
    else:
        lines.append(f"Topology: NVLink joins {len(nv)} of {len(paths)} GPU pairs")
        if len(paths) <= 6:
            lines.extend(f"  GPU{i}-GPU{j}: {p}" for (i, j), p in sorted(topology.links.items()))
    return lines


def text_lines(
    machine: Machine,
    findings: Sequence[Finding],
    rules: HardwareRules,
    knowledge: Knowledge,
    plan: Plan | None,
) -> list[str]:
    """The probe report for a terminal."""
    from gpu_advisor.hardware.planning import plan_lines

    ram = f"{machine.host_ram_gb:,.1f} GB" if machine.host_ram_gb is not None else "not measured"
    lines = [
        f"Read from: {', '.join(machine.origin)}",
        (
            f"Driver {machine.driver_version or 'unknown'}, CUDA "
            f"{machine.cuda_version or 'unknown'}; "
            f"host RAM {ram}"
        ),
        f"GPUs ({len(machine.gpus)}):",
    ]
    for gpu in machine.gpus:
        lines.append(_gpu_line(gpu, knowledge))
        if gpu.kb_id is None:
            raw = ", ".join(f"{k}={v}" for k, v in gpu.raw.items())
            lines.append(f"      raw facts: {raw}")
    lines.extend(_topology_lines(machine))
    if findings:
        lines.append(f"Findings ({len(findings)} of {len(rules.checks)} checks):")
        for finding in findings:
            where = f"GPU {finding.gpu}" if finding.gpu is not None else "machine"
            lines.append(f"  [{finding.severity}] {finding.check} ({where}): {finding.message}")
            lines.append(f"      fix: {finding.fix}")
            lines.append(f"      because: {'; '.join(finding.because)}")
    else:
        lines.append(f"Findings: none ({len(rules.checks)} checks passed)")
    if plan is not None:
        lines.append("")
        lines.extend(plan_lines(plan))
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m gpu_advisor.cli.probe ...`` runs ``gpu-advisor probe ...``."""
    from gpu_advisor.cli.main import main as cli_main

    return cli_main(["probe", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
