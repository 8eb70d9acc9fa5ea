"""Export time of the decision-tree graph, per format: the whole rule base, and one consultation's
path drawn on it.

Run: .venv/bin/python bench/bench_graph.py [--runs N]
Prints a Markdown table (median and slowest of N runs, in milliseconds); copy it into
docs/graph.md under "Performance". Each run builds the graph from a loaded engine and writes the
file, as `gpu-advisor graph -o` does after start-up; SVG and PNG include Graphviz's layout
(`dot`, run as a subprocess), so they are skipped when `dot` is not installed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gpu_advisor.core.consult import Engine  # noqa: E402
from gpu_advisor.present import graph  # noqa: E402

ANSWERS = {
    "workload": "inference",
    "model_params_b": 70,
    "precision": "fp4",
    "deployment": "production",
}


def measure(runs: int) -> list[tuple[str, str, list[float], int]]:
    engine = Engine.load(ROOT / "kb", ROOT / "rules")
    consultation = engine.consult(ANSWERS)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, subject in (
            ("whole rule base", None),
            ("with a consultation's path", consultation),
        ):
            for fmt in graph.FORMATS:
                if fmt in graph.RENDERED and graph.find_dot() is None:
                    continue
                target = Path(tmp) / f"graph.{fmt}"
                graph.export_graph(subject, engine, fmt, target)  # warm-up: imports, caches
                times = []
                for _ in range(runs):
                    start = time.perf_counter()
                    graph.export_graph(subject, engine, fmt, target)
                    times.append((time.perf_counter() - start) * 1000)
                rows.append((label, fmt, times, target.stat().st_size))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    engine = Engine.load(ROOT / "kb", ROOT / "rules")
    whole = graph.build_graph(engine)
    print(
        f"Rule base: {len(engine.rulebase.rules)} rules, {len(engine.rulebase.questions)} "
        "questions; "
        f"graph: {whole.number_of_nodes()} nodes, {whole.number_of_edges()} edges. "
        f"Median of {args.runs} runs.\n"
    )
    print("| graph | format | median ms | slowest ms | output size |")
    print("|---|---|---:|---:|---:|")
    for label, fmt, times, size in measure(args.runs):
        print(
            f"| {label} | {fmt} | {statistics.median(times):.1f} | {max(times):.1f} | "
            f"{size / 1000:,.0f} kB |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
