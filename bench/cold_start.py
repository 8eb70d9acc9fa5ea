"""Cold-process wall time of ``gpu-advisor recommend --format json`` against the imports we cannot
avoid, interleaved run by run (one helper for every benchmark that reports a cold start)."""

from __future__ import annotations

import statistics
import subprocess
import time

BASELINE = "python -c 'import durable.engine, yaml'"


def cold_start(runs: int, python: str, answers: list[str]) -> dict[str, list[float]]:
    """Seconds per run of the baseline and of ``recommend`` with and without counterfactuals;
    one untimed run first fills the rule-base cache."""
    recommend = [python, "-m", "gpu_advisor.cli.main", "recommend", "--format", "json"]
    sets = [word for answer in answers for word in ("--set", answer)]
    commands = {
        BASELINE: [python, "-c", "import durable.engine, yaml"],
        "gpu-advisor recommend --format json": [*recommend, *sets],
        "gpu-advisor recommend --format json --no-counterfactuals": [
            *recommend,
            "--no-counterfactuals",
            *sets,
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
            times[name].append(time.perf_counter() - start)
    return times


def print_cold_start(times: dict[str, list[float]], runs: int, python: str) -> None:
    """The Markdown table docs/performance.md keeps: medians and the ratio to the baseline."""
    base = statistics.median(times[BASELINE])
    print(f"\nCold process wall time ({runs} runs each, interleaved; {python}):\n")
    print("| command | median (ms) | vs import baseline |\n|---|---|---|")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| {name} | {median * 1000:.0f} | {median / base:.2f}x |")
