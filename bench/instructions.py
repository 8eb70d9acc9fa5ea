"""Instructions, not milliseconds: the lever search's first consultation at ten times the
devices, counted by valgrind's cachegrind, which is the same from run to run on a machine whose
timings swing by a third from one minute to the next.

Run: .venv/bin/python bench/instructions.py [--python PATH]   (needs ``valgrind`` on PATH)

For each case of ``bench_levers``: the instructions of one process that loads the 220-device
knowledge base and consults once (``WARM_UP``), and of one that then also runs the case's first
consultation with its lever search (the collector off, as in the CLI); the difference is the
case's cost. Compare two versions by
running this with each one's interpreter (a non-editable install of each).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_levers import CASES, synthetic_kb  # noqa: E402

_ONE_RUN = """
import sys
from pathlib import Path
sys.path.insert(0, {root!r})
from bench.bench_levers import CASES, WARM_UP
from gpu_advisor.core.consult import Engine
from gpu_advisor.core.explain import what_would_change
engine = Engine.load({kb!r}, Path({root!r}) / "rules", cached=False)
what_would_change(engine.consult(WARM_UP))
import gc
gc.disable()  # as the CLI runs a consultation
if {case!r} is not None:
    what_would_change(engine.consult(CASES[{case!r}]))
"""


def instructions(python: str, kb: Path, case: str | None) -> int:
    """Instructions one process executes (cachegrind's I refs), hash seed fixed."""
    script = _ONE_RUN.format(root=str(ROOT), kb=str(kb), case=case)
    done = subprocess.run(
        [
            "valgrind",
            "--tool=cachegrind",
            "--cache-sim=no",
            "--cachegrind-out-file=/dev/null",
            python,
            "-c",
            script,
        ],
        capture_output=True,
        text=True,
        env={"PYTHONHASHSEED": "0", "GPU_ADVISOR_NO_CACHE": "1", "PATH": "/usr/bin:/bin"},
        check=True,
    )
    found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if found is None:
        raise SystemExit(f"no instruction count in valgrind's output:\n{done.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    big = synthetic_kb(10)
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            base = pool.submit(instructions, args.python, big, None)
            each = {name: pool.submit(instructions, args.python, big, name) for name in CASES}
            start = base.result()
            print(
                f"Instructions of the first consultation with its lever search ({args.python}):\n"
            )
            print("| case (220 devices) | million instructions |")
            print("|---|---:|")
            for name, counted in each.items():
                print(f"| {name} | {(counted.result() - start) / 1e6:,.0f} |")
    finally:
        shutil.rmtree(big.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
