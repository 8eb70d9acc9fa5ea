"""Terminal UI speed: launch to the first usable screen, and an answer change to updated results.

Run: .venv/bin/python bench/bench_tui.py [--starts N] [--updates N]
Prints Markdown tables; copy them into docs/tui.md under "Performance".

Start-up: each run is a new process (as ``gpu-advisor`` is), timed by the wall clock from just
before the process is spawned until the app reports its first screen mounted and drawn (the
questionnaire, usable), and until the first consultation's results are on screen. Side by side,
the same measure for an empty Textual app (``App()`` with nothing in it), which is the floor:
the Python interpreter, Textual's import and its first frame. Both run headless at 120x40 (no
terminal to draw to, otherwise the same work).

Update: in one running app, a committed answer change (what Enter or picking a choice does) until
its results are drawn: the worker thread hop, the consultation in durable_rules, redrawing the
results panel and the next screen refresh (the app notes the time once that frame is composed;
headless, nothing is written to a terminal). The benchmark sleeps until then on an event rather
than polling: a poll every millisecond woke the event loop to compete with the engine's thread
for the GIL. Typing in a number field adds the 150 ms debounce on top by design (one
consultation per pause in typing, not per key); the counterfactual search runs only when the
explanation view opens, so it is timed separately.

Step by step: ``--steps`` times each step of the same answer changes in one app, in CPU time of
the thread it runs on (the consultation on the engine's thread; updating the widgets, the layout
and composing the frame on the UI thread), so the table says where the time goes.

Before and after: ``--compare REV`` times the same answer changes with the TUI and engine of
git revision REV too (its ``engine/`` and ``tui/`` unpacked to a temporary folder), in new
processes that alternate with this checkout's, so machine noise hits both alike; the knowledge
base and rules are this checkout's for both.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

CHILD_ADVISOR = r"""
import sys, time, json, asyncio
spawned = float(sys.argv[1])
started = time.time()
from gpu_advisor.core.consult import Engine
from gpu_advisor.tui.app import AdvisorApp

async def main():
    engine = Engine.load(%(kb)r, %(rules)r)
    app = AdvisorApp(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        first = time.time()
        await app.wait_idle()
        await pilot.pause()
        results = time.time()
    print(json.dumps({"interpreter": started - spawned, "first": first - spawned,
                      "results": results - spawned}))
asyncio.run(main())
"""

CHILD_EMPTY = r"""
import sys, time, json, asyncio
spawned = float(sys.argv[1])
started = time.time()
from textual.app import App

async def main():
    app = App()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        first = time.time()
    print(json.dumps({"interpreter": started - spawned, "first": first - spawned}))
asyncio.run(main())
"""


CHILD_UPDATES = r"""
import sys, time, json, asyncio
if %(source)r:
    sys.path.insert(0, %(source)r)
import gpu_advisor
assert not %(source)r or gpu_advisor.__file__.startswith(%(source)r), gpu_advisor.__file__
from gpu_advisor.core.consult import Engine
from gpu_advisor.tui.app import AdvisorApp
from textual._compositor import Compositor
from textual.widget import Widget

# The work behind the time, counted (not timed, so machine noise does not blur it): layout
# passes, and widget lines rendered, during the timed updates.
counting = [False]
work = {"layouts": 0, "lines": 0}
reflow, render_lines = Compositor.reflow, Widget.render_lines

def counted_reflow(self, *args, **kwargs):
    work["layouts"] += counting[0]
    return reflow(self, *args, **kwargs)

def counted_render_lines(self, crop):
    work["lines"] += crop.height * counting[0]
    return render_lines(self, crop)

Compositor.reflow, Widget.render_lines = counted_reflow, counted_render_lines

# Wake when the app notes the time (after the frame), rather than polling every millisecond:
# a poll wakes the event loop, which then competes with the engine's thread for the GIL.
drawn = []
note_update_time = AdvisorApp._note_update_time

def noting(self):
    note_update_time(self)
    if drawn and self.last_update_seconds is not None:
        drawn[-1].set()

AdvisorApp._note_update_time = noting

engine = Engine.load(%(kb)r, %(rules)r)
answers = {"workload": "inference", "model_params_b": 70, "precision": "fp4", "max_gpus": 2}
app = AdvisorApp(engine, answers)
sizes = [8, 70, 13, 405, 30, 70]
found = []
cpu = []  # CPU time of the process (all threads) per change: less hit by other jobs than wall time

async def main():
    async with app.run_test(size=(120, 40)) as pilot:
        await app.wait_idle()
        await pilot.pause()
        for i in range(%(runs)d):
            app.last_update_seconds = None
            drawn.append(asyncio.Event())
            counting[0] = True
            cpu_start = time.process_time()
            app.set_answer("model_params_b", sizes[i %% len(sizes)] + (i // len(sizes)) * 0.5)
            await drawn[-1].wait()
            cpu.append((time.process_time() - cpu_start) * 1000)
            counting[0] = False
            found.append(app.last_update_seconds * 1000)
            await pilot.pause(0.05)  # let the screen go idle, as between two key presses
asyncio.run(main())
print(json.dumps({"ms": found, "cpu": cpu, "layouts": work["layouts"], "lines": work["lines"]}))
"""


def unpack_revision(rev: str, into: Path) -> Path:
    """REV's ``engine/`` and ``tui/`` laid out as the package ``gpu_advisor`` under `into`
    (what the editable install maps them to); returns the folder to put on ``sys.path``."""
    archive = into / "src.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "archive", rev, "engine", "tui"], cwd=ROOT, stdout=out, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into / "src", filter="data")
    package = into / "path" / "gpu_advisor"
    package.mkdir(parents=True)
    for entry in (into / "src" / "engine").iterdir():
        (package / entry.name).symlink_to(entry)
    (package / "tui").symlink_to(into / "src" / "tui")
    return into / "path"


def update_times_in_process(source: str, runs: int) -> dict[str, Any]:
    """`runs` answer changes in a new process, with the package from `source` ('' = this
    checkout's install): their times in ms, and the layout passes and lines rendered."""
    script = CHILD_UPDATES % {
        "source": source,
        "kb": str(ROOT / "kb"),
        "rules": str(ROOT / "rules"),
        "runs": runs,
    }
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT
    )
    found: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return found


def compare(rev: str, rounds: int, runs: int) -> None:
    """This checkout against revision `rev`: answer change to results drawn, interleaved."""
    with tempfile.TemporaryDirectory() as tmp:
        source = str(unpack_revision(rev, Path(tmp)))
        update_times_in_process(source, 2)  # warm the rule-base cache and the OS file cache
        update_times_in_process("", 2)
        sides: dict[str, dict[str, Any]] = {
            rev: {"ms": [], "cpu": [], "layouts": 0, "lines": 0},
            "this checkout": {"ms": [], "cpu": [], "layouts": 0, "lines": 0},
        }
        for _ in range(rounds):
            for label, path in ((rev, source), ("this checkout", "")):
                found = update_times_in_process(path, runs)
                side = sides[label]
                side["ms"] += found["ms"]
                side["cpu"] += found["cpu"]
                side["layouts"] += found["layouts"]
                side["lines"] += found["lines"]
    print(
        f"Answer change -> results drawn, {rev} against this checkout, {rounds} alternating "
        f"processes x {runs} changes each (wall and CPU ms; layout passes and widget lines "
        "rendered per change):\n"
    )
    print("| code | p50 | p95 | max | CPU p50 | CPU p95 | layout passes | lines rendered |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    changes = rounds * runs
    for label, side in sides.items():
        values = side["ms"]
        print(
            f"| {label} | {pct(values, 0.5):.1f} | {pct(values, 0.95):.1f} | {max(values):.1f} "
            f"| {pct(side['cpu'], 0.5):.1f} | {pct(side['cpu'], 0.95):.1f} "
            f"| {side['layouts'] / changes:.2f} | {side['lines'] / changes:.0f} |"
        )
    before, after = sides[rev]["ms"], sides["this checkout"]["ms"]
    print(
        f"\np95 ratio: {pct(after, 0.95) / pct(before, 0.95):.2f}x; "
        f"p50 ratio: {pct(after, 0.5) / pct(before, 0.5):.2f}x"
    )


def start_times(script: str, runs: int) -> list[dict[str, float]]:
    rows = []
    for _ in range(runs):
        spawned = time.time()
        out = subprocess.run(
            [sys.executable, "-c", script, repr(spawned)],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return rows


def _woken_on_update(app: Any) -> list[asyncio.Event]:
    """Events the app sets when it notes an update's time: the loop that changes an answer
    appends one and waits on it, with no polling (see CHILD)."""
    drawn: list[asyncio.Event] = []
    note_update_time = app._note_update_time

    def noting() -> None:
        note_update_time()
        if drawn and app.last_update_seconds is not None:
            drawn[-1].set()

    app._note_update_time = noting
    return drawn


def update_times(runs: int) -> tuple[dict[str, list[float]], int]:
    from gpu_advisor.core.consult import Engine
    from gpu_advisor.core.explain import what_would_change
    from gpu_advisor.tui.app import AdvisorApp
    from gpu_advisor.tui.widgets.results import ResultsPanel

    engine = Engine.load(ROOT / "kb", ROOT / "rules")
    answers = {"workload": "inference", "model_params_b": 70, "precision": "fp4", "max_gpus": 2}
    app = AdvisorApp(engine, answers)
    found: dict[str, list[float]] = {
        "update": [],
        "consult": [],
        "redraw": [],
        "counterfactuals": [],
    }
    sizes = [8, 70, 13, 405, 30, 70]
    drawn = _woken_on_update(app)

    async def main() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await app.wait_idle()
            await pilot.pause()
            for i in range(runs):
                app.last_update_seconds = None
                drawn.append(asyncio.Event())
                app.set_answer("model_params_b", sizes[i % len(sizes)] + (i // len(sizes)) * 0.5)
                await drawn[-1].wait()
                found["update"].append(app.last_update_seconds * 1000)
                await pilot.pause(0.05)  # let the screen go idle, as between two key presses
            panel = app.screen.query_one(ResultsPanel)
            for i in range(runs):  # the parts, outside the timed updates
                consultation = engine.consult({**answers, "model_params_b": sizes[i % len(sizes)]})
                start = time.perf_counter()
                engine.consult({**answers, "model_params_b": sizes[i % len(sizes)]})
                found["consult"].append((time.perf_counter() - start) * 1000)
                start = time.perf_counter()
                panel.show(consultation)
                found["redraw"].append((time.perf_counter() - start) * 1000)
                await pilot.pause()
        excluded = engine.consult(
            {"workload": "fine-tuning", "model_params_b": 7, "deployment": "production"}
        )
        for _ in range(max(3, runs // 10)):
            start = time.perf_counter()
            what_would_change(excluded)
            found["counterfactuals"].append((time.perf_counter() - start) * 1000)

    asyncio.run(main())
    return found, len(engine.rulebase.knowledge.devices)


STEPS: tuple[tuple[str, str, str], ...] = (
    # (label, module, "Class.method"): the steps of an answer change, nested as they run
    ("the consultation (engine thread)", "gpu_advisor.core.consult", "Engine.consult"),
    ("results on the widgets (UI thread)", "gpu_advisor.tui.app", "AdvisorApp._deliver"),
    ("- the results panel", "gpu_advisor.tui.widgets.results", "ResultsPanel.show"),
    ("- the answer list", "gpu_advisor.tui.screens.consult", "ConsultScreen._refresh_answers"),
    ("the frame: layout and compositing", "textual.screen", "Screen._refresh_layout"),
    ("- layout (arrange every widget)", "textual._compositor", "Compositor.reflow"),
    ("- widgets told their new sizes", "textual.widget", "Widget._size_updated"),
    ("- compose the changed lines", "textual._compositor", "Compositor.render_update"),
    ("-- render widget lines", "textual.widget", "Widget.render_lines"),
)


def step_times(runs: int) -> dict[str, list[float]]:
    """CPU time (of the thread each step runs on) per answer change, step by step: where the
    time goes, less blurred by other jobs than wall time. Nested calls of one step count once."""
    import importlib
    import threading
    from collections.abc import Callable

    from gpu_advisor.core.consult import Engine
    from gpu_advisor.tui.app import AdvisorApp

    spent: dict[str, float] = dict.fromkeys([label for label, _, _ in STEPS], 0.0)
    depth: dict[tuple[str, int], int] = {}
    counting = [False]

    def timed(label: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def step(*args: Any, **kwargs: Any) -> Any:
            key = (label, threading.get_ident())
            if not counting[0] or depth.get(key):
                return method(*args, **kwargs)
            depth[key] = 1
            start = time.thread_time()
            try:
                return method(*args, **kwargs)
            finally:
                spent[label] += time.thread_time() - start
                depth[key] = 0

        return step

    for label, module, name in STEPS:
        owner_name, method_name = name.split(".")
        owner = getattr(importlib.import_module(module), owner_name)
        setattr(owner, method_name, timed(label, getattr(owner, method_name)))
    engine = Engine.load(ROOT / "kb", ROOT / "rules")
    answers = {"workload": "inference", "model_params_b": 70, "precision": "fp4", "max_gpus": 2}
    app = AdvisorApp(engine, answers)
    drawn = _woken_on_update(app)
    found: dict[str, list[float]] = {"wall": [], "UI thread CPU": []}
    found.update({label: [] for label, _, _ in STEPS})
    sizes = [8, 70, 13, 405, 30, 70]

    async def main() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await app.wait_idle()
            await pilot.pause()
            for i in range(runs):
                app.last_update_seconds = None
                drawn.append(asyncio.Event())
                for label in spent:
                    spent[label] = 0.0
                counting[0] = True
                start = time.thread_time()
                app.set_answer("model_params_b", sizes[i % len(sizes)] + (i // len(sizes)) * 0.5)
                await drawn[-1].wait()
                found["UI thread CPU"].append((time.thread_time() - start) * 1000)
                counting[0] = False
                found["wall"].append(app.last_update_seconds * 1000)
                for label, seconds in spent.items():
                    found[label].append(seconds * 1000)
                await pilot.pause(0.05)

    asyncio.run(main())
    return found


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--starts", type=int, default=10, help="new processes per app (default 10)")
    parser.add_argument(
        "--updates", type=int, default=100, help="answer changes timed (default 100)"
    )
    parser.add_argument(
        "--compare",
        metavar="REV",
        help="also time answer changes with git revision REV's code, side by side, and stop",
    )
    parser.add_argument(
        "--rounds", type=int, default=5, help="--compare: alternating processes each (default 5)"
    )
    parser.add_argument(
        "--steps",
        action="store_true",
        help="time each step of an answer change (CPU ms per change, --updates changes) and stop",
    )
    args = parser.parse_args()
    if args.steps:
        found = step_times(args.updates)
        print(
            f"Answer change, step by step, {args.updates} changes in one app (CPU ms of the "
            "thread each step runs on, per change; '-' marks a part of the step above):\n"
        )
        print("| step | p50 | mean | p95 |")
        print("|---|---:|---:|---:|")
        for label, values in found.items():
            mean = statistics.fmean(values)
            print(f"| {label} | {pct(values, 0.5):.1f} | {mean:.1f} | {pct(values, 0.95):.1f} |")
        return 0
    if args.compare:
        compare(args.compare, args.rounds, max(1, args.updates // args.rounds))
        return 0

    advisor_script = CHILD_ADVISOR % {"kb": str(ROOT / "kb"), "rules": str(ROOT / "rules")}
    start_times(advisor_script, 1)  # warm the rule-base cache and the OS file cache
    start_times(CHILD_EMPTY, 1)
    advisor, empty = [], []
    for _ in range(args.starts):  # interleaved, so machine noise hits both alike
        advisor += start_times(advisor_script, 1)
        empty += start_times(CHILD_EMPTY, 1)

    def ms(rows: list[dict[str, float]], key: str) -> tuple[float, float]:
        values = [row[key] * 1000 for row in rows]
        return statistics.median(values), max(values)

    print(
        f"Start-up, new process each run, headless 120x40, {args.starts} runs each "
        "(median / slowest, ms):\n"
    )
    print("| app | interpreter up | first usable screen | first results on screen |")
    print("|---|---:|---:|---:|")
    e_int, e_int_max = ms(empty, "interpreter")
    e_first, e_first_max = ms(empty, "first")
    print(
        f"| empty Textual app | {e_int:.0f} / {e_int_max:.0f} | "
        f"{e_first:.0f} / {e_first_max:.0f} | "
        "— |"
    )
    a_int, a_int_max = ms(advisor, "interpreter")
    a_first, a_first_max = ms(advisor, "first")
    a_res, a_res_max = ms(advisor, "results")
    print(
        f"| gpu-advisor | {a_int:.0f} / {a_int_max:.0f} | {a_first:.0f} / {a_first_max:.0f} | "
        f"{a_res:.0f} / {a_res_max:.0f} |"
    )
    print(
        f"\nRatio of first usable screens: {a_first / e_first:.2f}x the empty app "
        f"(target: first screen <= 1000 ms).\n"
    )

    found, devices = update_times(args.updates)
    print(
        f"Answer change to updated results, one running app, {args.updates} changes "
        f"(model size, 70B fp4 inference on up to 2 GPUs, {devices} devices; ms):\n"
    )
    print("| what | p50 | p95 | max |")
    print("|---|---:|---:|---:|")
    labels = {
        "update": "answer change -> results drawn (target <= 50)",
        "consult": "of which: the consultation (durable_rules)",
        "redraw": "of which: updating the results panel's widgets (before the frame)",
        "counterfactuals": "counterfactual search, production fine-tuning with 2 devices "
        "excluded (lazy: explanation view only)",
    }
    for key, label in labels.items():
        values = found[key]
        print(f"| {label} | {pct(values, 0.5):.1f} | {pct(values, 0.95):.1f} | {max(values):.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
