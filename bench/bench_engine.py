"""Consultation latency and CLI cold start, each measured side by side with its baseline.

Run: .venv/bin/python bench/bench_engine.py [--runs N]
Prints a Markdown table; copy the numbers into docs/performance.md. Ratios matter more than
absolute times on this shared, noisy machine: both sides of each pair run interleaved.
"""

from __future__ import annotations

import argparse
import copy
import gc
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.cold_start import cold_start, print_cold_start  # noqa: E402
from gpu_advisor.backends import durable as durable_adapter  # noqa: E402
from gpu_advisor.core.consult import Engine  # noqa: E402

ANSWERS = {
    "workload": "fine-tuning",
    "model_params_b": 13,
    "method": "lora",
    "deployment": "production",
    "max_gpus": 4,
    "budget_usd": 60000,
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def bench_consultations(runs: int) -> dict[str, list[float]]:
    engine = Engine.load(ROOT / "kb", ROOT / "rules")
    probe = engine.consult(ANSWERS)
    # the bare baseline: the same compiled ruleset, the same facts, posted to durable_rules through
    # its own Python Host (the engine drives the C engine directly; see docs/engine.md)
    definition = {
        k: v for k, v in engine.compiled.definition.items() if k != durable_adapter.ANCHOR_RULE
    }
    host, name, _ = durable_adapter.bare_ruleset(copy.deepcopy(definition))
    stage_facts = []
    facts = dict(probe.facts)
    for stage in range(engine.rulebase.strata):
        batch = [durable_adapter.context_fact("S", stage, probe.answers.values, facts)]
        if stage == engine.rulebase.strata - 1:
            batch += [durable_adapter.device_fact("S", attrs) for attrs in probe.devices.values()]
        stage_facts.append(batch)
    times: dict[str, list[float]] = {
        "engine (full trace, durable)": [],
        "engine (python evaluator)": [],
        "bare durable_rules, same facts": [],
    }
    for i in range(runs):
        # each side starts from a collected heap: durable's own Host leaves cyclic garbage
        # (a closure per action) whose collection would otherwise land in whichever side runs next
        gc.collect()
        start = time.perf_counter()
        engine.consult(ANSWERS)
        times["engine (full trace, durable)"].append(time.perf_counter() - start)
        gc.collect()
        start = time.perf_counter()
        engine.consult(ANSWERS, evaluator="python")
        times["engine (python evaluator)"].append(time.perf_counter() - start)
        sid = f"b{i}"
        gc.collect()
        start = time.perf_counter()
        durable_adapter.open_raw(host, name, sid)
        for batch in stage_facts:
            for fact in batch:
                durable_adapter.assert_fact_raw(host, name, {**fact, "sid": sid})
        durable_adapter.delete_raw(host, name, sid)
        times["bare durable_rules, same facts"].append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--cold-runs", type=int, default=15)
    parser.add_argument(
        "--python",
        default=sys.executable,
        help="interpreter for the cold-start runs (e.g. a venv with a non-editable install)",
    )
    args = parser.parse_args()
    consult = bench_consultations(args.runs)
    base = statistics.median(consult["bare durable_rules, same facts"])
    print(f"In-process consultation ({args.runs} runs each, interleaved):\n")
    print("| what | p50 (ms) | p99 (ms) | p50 / bare |\n|---|---|---|---|")
    for name, values in consult.items():
        p50 = statistics.median(values)
        print(
            f"| {name} | {p50 * 1000:.3f} | {percentile(values, 0.99) * 1000:.3f} | "
            f"{p50 / base:.1f}x |"
        )
    cold = cold_start(
        args.cold_runs, args.python, ["workload=fine-tuning", "deployment=production"]
    )
    print_cold_start(cold, args.cold_runs, args.python)


if __name__ == "__main__":
    main()
