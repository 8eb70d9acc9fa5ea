"""The lever search (WHAT WOULD CHANGE IT), the slowest part of a consultation, side by side
with its baselines.

Run: .venv/bin/python bench/bench_levers.py [--runs N] [--first-runs N] [--cold-runs N]
Two measurements, each interleaved with its baseline (this machine is shared and noisy: the
ratios matter more than the times):

1. ``gpu-advisor recommend --format json`` (levers included) from a cold process against
   ``python -c "import durable.engine, yaml"`` (target: within 4x, shipped knowledge base);
2. in process, the consultation and its lever search with the shipped knowledge base and with
   ten times as many devices (synthetic copies of kb/devices, each a different card, in a
   temporary folder; target: the consultation with levers within 50 ms at ten times the
   devices), first on an engine new to the case with every count the process remembers
   forgotten (the median of several such first runs), then repeated; and questionnaire walks
   at ten times the devices, one answer at a time as in the TUI (``WALKS``).
"""

from __future__ import annotations

import argparse
import gc
import pickle
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
from gpu_advisor.arithmetic.counting import forget_remembered  # noqa: E402
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
    """kb/ with every device file copied ``copies - 1`` more times under new ids, each copy a
    different card: its memory bandwidth i% lower and its price i% higher. Identical copies would
    flatter any cache keyed on a device's figures; these make every copy's arithmetic (speed,
    count, cost) its own, as ten times as many real cards would."""
    target = Path(tempfile.mkdtemp(prefix="gpu-advisor-bench-")) / "kb"
    shutil.copytree(ROOT / "kb", target)
    for path in sorted((ROOT / "kb" / "devices").glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        for i in range(1, copies):
            renamed = re.sub(
                r"^id: (\S+)", lambda m, i=i: f"id: {m.group(1)}-copy{i}", text, count=1, flags=re.M
            )
            renamed = _scaled(renamed, r"^bandwidth_gbs:(?: \{|\n)\s*value: ", 1 - i / 100)
            renamed = _scaled(renamed, r"^price_usd:(?: \{|\n)\s*value: ", 1 + i / 100)
            (target / "devices" / f"{path.stem}-copy{i}.yaml").write_text(renamed, encoding="utf-8")
    return target


def _scaled(text: str, prefix: str, factor: float) -> str:
    """The first number after ``prefix`` (a regex) scaled by ``factor``, rounded to a whole one."""
    changed, count = re.subn(
        prefix + r"(\d+(?:\.\d+)?)",
        lambda m: m.group(0)[: -len(m.group(1))] + str(round(float(m.group(1)) * factor)),
        text,
        count=1,
        flags=re.M,
    )
    if count != 1:
        raise SystemExit(f"synthetic_kb: no {prefix!r} in a device file")
    return changed


WARM_UP = {"workload": "inference", "model_params_b": 8}
"""A consultation unlike every case: it compiles the rules (a start-up cost, which the cold-start
measurement counts) without warming any case's arithmetic."""


def bench_in_process(runs: int, first_runs: int) -> list[tuple[str, str, float, float, float]]:
    """Per knowledge base and case: the median of ``first_runs`` first consultations with their
    lever search, each on an engine that has not seen the case and with every count and sizing
    remembered by the process forgotten (what one ``recommend`` does), then the median of
    ``runs`` repeats (what the TUI does as answers go back and forth)."""
    big = synthetic_kb(10)
    folders = {"shipped": ROOT / "kb", "10x devices": big}
    rows = []
    for label, folder in folders.items():
        rulebase = Engine.load(folder, ROOT / "rules", cached=False).rulebase
        devices = len(rulebase.knowledge.devices)
        pristine = pickle.dumps(rulebase)  # as the rule-base cache holds it: nothing worked out
        for name, answers in CASES.items():
            first: list[float] = []
            for _ in range(first_runs):
                forget_remembered()
                engine = Engine(pickle.loads(pristine))  # nothing remembered
                gc.collect()  # the last run's garbage is not this run's to collect
                what_would_change(engine.consult(WARM_UP))
                start = time.perf_counter()
                what_would_change(engine.consult(answers))
                first.append((time.perf_counter() - start) * 1000)
            consult_ms: list[float] = []
            levers_ms: list[float] = []
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
                    statistics.median(first),
                    statistics.median(consult_ms),
                    statistics.median(levers_ms),
                )
            )
    shutil.rmtree(big.parent, ignore_errors=True)
    return rows


WALKS: dict[str, list[dict[str, object]]] = {
    "a serving buyer": [
        {"workload": "inference"},
        {"model_params_b": 70},
        {"concurrent_users": 16},
        {"max_gpus": 2},
        {"site": "datacenter"},
        {"precision": "fp8"},  # a suggestion applied
        {"max_gpus": 4},  # another
    ],
    "a training buyer": [
        {"workload": "pretraining"},
        {"model_params_b": 13},
        {"budget_usd": 250000},
        {"max_gpus": 8},
        {"context_tokens": 2048},  # a suggestion applied
        {"max_gpus": 16},  # another
    ],
}
"""Questionnaires answered one answer at a time, as in the TUI: each step is a consultation
with its lever search of answers the engine has not seen, on an engine that has seen the steps
before (what it remembers of them may serve, as it does for a user)."""


def bench_walks(big: Path) -> list[tuple[str, list[float]]]:
    """Per walk, the time of each step's consultation with its lever search (220 devices),
    every remembered count forgotten before the walk starts."""
    rulebase = pickle.dumps(Engine.load(big, ROOT / "rules", cached=False).rulebase)
    rows = []
    for name, steps in WALKS.items():
        forget_remembered()
        engine = Engine(pickle.loads(rulebase))
        gc.collect()
        what_would_change(engine.consult(WARM_UP))
        answers: dict[str, object] = {}
        times: list[float] = []
        for step in steps:
            answers.update(step)
            start = time.perf_counter()
            what_would_change(engine.consult(dict(answers)))
            times.append((time.perf_counter() - start) * 1000)
        rows.append((name, times))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--first-runs", type=int, default=5)
    parser.add_argument("--cold-runs", type=int, default=15)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--no-cold", action="store_true", help="skip the cold-process runs")
    args = parser.parse_args()
    print(
        f"In process: the median of {args.first_runs} first consultations with their lever search, "
        f"each on an engine new to the case, then the median of {args.runs} repeats:\n"
    )
    print(
        "| knowledge base | consultation | first: consultation + levers (ms) "
        "| again: consultation (ms) | again: levers (ms) |"
    )
    print("|---|---|---:|---:|---:|")
    for label, name, first, consult, levers in bench_in_process(args.runs, args.first_runs):
        print(f"| {label} | {name} | {first:.1f} | {consult:.1f} | {levers:.1f} |")
    big = synthetic_kb(10)
    try:
        walks = bench_walks(big)
    finally:
        shutil.rmtree(big.parent, ignore_errors=True)
    print(
        "\nQuestionnaire walks, 220 devices: each answer in turn, the consultation with its lever "
        "search (ms):\n"
    )
    print("| walk | each step (ms) | median | slowest |")
    print("|---|---|---:|---:|")
    for name, times in walks:
        steps = ", ".join(f"{t:.0f}" for t in times)
        print(f"| {name} | {steps} | {statistics.median(times):.1f} | {max(times):.1f} |")
    if args.no_cold:
        return
    answers = ["workload=inference", "model_params_b=70", "max_gpus=2", "site=datacenter"]
    cold = cold_start(args.cold_runs, args.python, answers)
    print_cold_start(cold, args.cold_runs, args.python)


if __name__ == "__main__":
    main()
