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
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.cold_start import cold_start, print_cold_start  # noqa: E402
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
    answers = ["workload=inference", "model_params_b=70", "max_gpus=2", "site=datacenter"]
    cold = cold_start(args.cold_runs, args.python, answers)
    print_cold_start(cold, args.cold_runs, args.python)


if __name__ == "__main__":
    main()
