"""The lever search (WHAT WOULD CHANGE IT), the slowest part of a consultation, side by side
with its baselines.

Run: .venv/bin/python bench/bench_levers.py [--runs N] [--cold-runs N]
Two measurements, each interleaved with its baseline (this machine is shared and noisy: the
ratios matter more than the times):

1. ``gpu-advisor recommend --format json`` (levers included) from a cold process against
   ``python -c "import durable.engine, yaml"`` (target: within 4x, shipped knowledge base);
2. in process, the consultation and its lever search with the shipped knowledge base and with
   ten times as many devices (synthetic copies of kb/devices with new ids, in a temporary
   folder; target: the lever search within 50 ms at ten times the devices).
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gpu_advisor.core.consult import Engine  # noqa: E402
from gpu_advisor.core.explain import what_would_change  # noqa: E402

CASES = {
    "70B inference, up to 2 GPUs (devices excluded and ranked)": {
        "workload": "inference",
        "model_params_b": 70,
        "max_gpus": 2,
        "site": "datacenter",
    },
    "70B bf16 inference on one GPU (most devices excluded)": {
        "workload": "inference",
        "model_params_b": 70,
        "precision": "bf16",
        "max_gpus": 1,
    },
    "70B pretraining on 8 GPUs for $250,000 (nothing fits)": {
        "workload": "pretraining",
        "model_params_b": 70,
        "max_gpus": 8,
        "budget_usd": 250000,
    },
    "production fine-tuning, budget $60,000": {
        "workload": "fine-tuning",
        "model_params_b": 13,
        "method": "lora",
        "deployment": "production",
        "max_gpus": 4,
        "budget_usd": 60000,
    },
}


def synthetic_kb(copies: int) -> Path:
    """kb/ with every device file copied ``copies - 1`` more times under new ids."""
    target = Path(tempfile.mkdtemp(prefix="gpu-advisor-bench-")) / "kb"
    shutil.copytree(ROOT / "kb", target)
    for path in sorted((ROOT / "kb" / "devices").glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        for i in range(1, copies):
            renamed = re.sub(
                r"^id: (\S+)", lambda m, i=i: f"id: {m.group(1)}-copy{i}", text, count=1, flags=re.M
            )
            (target / "devices" / f"{path.stem}-copy{i}.yaml").write_text(renamed, encoding="utf-8")
    return target


def bench_in_process(runs: int) -> list[tuple[str, str, float, float, float]]:
    big = synthetic_kb(10)
    engines = {
        "shipped": Engine.load(ROOT / "kb", ROOT / "rules", cached=False),
        "10x devices": Engine.load(big, ROOT / "rules", cached=False),
    }
    rows = []
    for label, engine in engines.items():
        devices = len(engine.rulebase.knowledge.devices)
        for name, answers in CASES.items():
            consult_ms: list[float] = []
            levers_ms: list[float] = []
            engine.consult(answers)  # warm: compiled rules, arithmetic memo
            for _ in range(runs):
                start = time.perf_counter()
                consultation = engine.consult(answers)
                middle = time.perf_counter()
                what_would_change(consultation)
                end = time.perf_counter()
                consult_ms.append((middle - start) * 1000)
                levers_ms.append((end - middle) * 1000)
            rows.append(
                (
                    f"{label} ({devices} devices)",
                    name,
                    statistics.median(consult_ms),
                    statistics.median(levers_ms),
                    max(levers_ms),
                )
            )
    shutil.rmtree(big.parent, ignore_errors=True)
    return rows


def bench_cold(runs: int, python: str) -> dict[str, list[float]]:
    answers = [
        "--set",
        "workload=inference",
        "--set",
        "model_params_b=70",
        "--set",
        "max_gpus=2",
        "--set",
        "site=datacenter",
    ]
    commands = {
        "python -c 'import durable.engine, yaml'": [python, "-c", "import durable.engine, yaml"],
        "gpu-advisor recommend --format json": [
            python,
            "-m",
            "gpu_advisor.cli.main",
            "recommend",
            "--format",
            "json",
            *answers,
        ],
        "gpu-advisor recommend --format json --no-counterfactuals": [
            python,
            "-m",
            "gpu_advisor.cli.main",
            "recommend",
            "--format",
            "json",
            "--no-counterfactuals",
            *answers,
        ],
    }
    subprocess.run(
        commands["gpu-advisor recommend --format json"], check=True, capture_output=True, cwd="/"
    )
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, command in commands.items():
            start = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True, cwd="/")
            times[name].append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--cold-runs", type=int, default=15)
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()
    print(f"In process, median of {args.runs} runs (lever search: median / slowest):\n")
    print(
        "| knowledge base | consultation | consult (ms) | lever search (ms) | slowest search (ms) |"
    )
    print("|---|---|---|---|---|")
    for label, name, consult, levers, slowest in bench_in_process(args.runs):
        print(f"| {label} | {name} | {consult:.1f} | {levers:.1f} | {slowest:.1f} |")
    cold = bench_cold(args.cold_runs, args.python)
    base = statistics.median(cold["python -c 'import durable.engine, yaml'"])
    print(f"\nCold process wall time ({args.cold_runs} runs each, interleaved; {args.python}):\n")
    print("| command | median (ms) | vs import baseline |\n|---|---|---|")
    for name, values in cold.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.0f} | {median / base:.2f}x |")


if __name__ == "__main__":
    main()
