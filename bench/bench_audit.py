"""Whole-space audit time and coverage, side by side with what the raw engine would need.

Run: .venv/bin/python bench/bench_audit.py [--runs N] [--sample N] [--facts N] [--compare REV]
Prints Markdown tables; copy the numbers into docs/performance.md ("Rule audit").

``--facts N`` times the device facts of N situations of the audit's plan both ways in one run,
interleaved: shared between situations (what the audit uses) and computed afresh for each.
``--compare REV`` runs ``gpu-advisor audit --format json`` with the code of git revision REV and
with this tree, alternately, each in a new process, and says whether the findings are the same.

Three figures for the same rule base:
- the audit itself (``run_audit`` on the shipped knowledge base and rules): wall time per part
  and the answer combinations its logic checks cover;
- the raw engine: durable_rules (a bare ruleset compiled from the same rules, none of our layer)
  asserting the same context and device facts, one session per combination, timed on a sample of
  the audited combinations and extrapolated to all of them;
- a full ``Engine.consult`` per combination (what "just run every answer" would cost), sampled
  and extrapolated the same way.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gpu_advisor.audit.agreement import Replayer, samples  # noqa: E402
from gpu_advisor.audit.facts import DeviceFacts  # noqa: E402
from gpu_advisor.audit.logic import LogicAudit  # noqa: E402
from gpu_advisor.audit.run import run_audit  # noqa: E402
from gpu_advisor.backends import durable as durable_adapter  # noqa: E402
from gpu_advisor.core.consult import Engine  # noqa: E402
from gpu_advisor.knowledge.kb_schema import load_knowledge  # noqa: E402
from gpu_advisor.knowledge.rulebase import load_rulebase  # noqa: E402


def bench_audit(runs: int) -> tuple[list[float], object]:
    times = []
    report = None
    for _ in range(runs):
        start = time.perf_counter()
        report = run_audit(ROOT / "kb", ROOT / "rules")
        times.append(time.perf_counter() - start)
    return times, report


def stage_facts(replayer: Replayer, raw: dict) -> list[list[dict]]:
    """The facts each stage asserts for these answers (derived facts from the Python replay)."""
    from gpu_advisor.core.answers import normalize_answers

    rb = replayer.rb
    answers = normalize_answers(rb.questions, raw, rb.knowledge)
    values = dict(answers.values)
    computed, attrs = replayer.device_facts(values)
    facts = dict(replayer.defaults)
    facts.update(computed)
    devices = dict(zip(rb.knowledge.devices, attrs))
    out = []
    derived: dict = {}
    final = rb.strata - 1
    for stage in range(rb.strata):
        batch = [durable_adapter.context_fact("S", stage, values, facts)]
        if stage == final:
            batch += [durable_adapter.device_fact("S", a) for a in devices.values()]
        out.append(batch)
        if stage != final:
            fired = replayer._python_stage(stage, values, facts, {})
            replayer._derive(fired, facts, derived)
    return out


def bench_raw(engine: Engine, chosen: list[dict]) -> tuple[float, float]:
    """Seconds per combination: bare durable_rules on the same facts; a full consultation."""
    replayer = Replayer(engine)
    prepared = [stage_facts(replayer, raw) for raw in chosen]
    definition = {
        k: v for k, v in engine.compiled.definition.items() if k != durable_adapter.ANCHOR_RULE
    }
    host, name, _ = durable_adapter.bare_ruleset(copy.deepcopy(definition))
    start = time.perf_counter()
    for i, stages in enumerate(prepared):
        sid = f"bench{i}"
        durable_adapter.open_raw(host, name, sid)
        for batch in stages:
            for fact in batch:
                durable_adapter.assert_fact_raw(host, name, {**fact, "sid": sid})
        durable_adapter.delete_raw(host, name, sid)
    raw_each = (time.perf_counter() - start) / len(prepared)
    start = time.perf_counter()
    for raw in chosen:
        engine.consult(raw)
    consult_each = (time.perf_counter() - start) / len(chosen)
    return raw_each, consult_each


def bench_facts(count: int) -> tuple[int, float, float]:
    """(situations, seconds shared, seconds afresh): the device facts of ``count`` situations
    spread over the audit's plan, in plan order, both ways in alternating blocks."""
    from gpu_advisor.audit.limits import bounded_plan
    from gpu_advisor.audit.space import situation_plan
    from gpu_advisor.core.answers import Answers
    from gpu_advisor.lang.conditions import MISSING

    rulebase = load_rulebase(ROOT / "rules", load_knowledge(ROOT / "kb"))
    logic = LogicAudit(rulebase)
    comp = next(c for c in logic.components if c.arithmetic)
    plan = bounded_plan(
        situation_plan(rulebase, comp, logic.domains), rulebase, comp, logic.domains
    )
    start = max(0, len(plan) // 2 - count // 2)  # the middle of the plan: every kind of sweep
    chosen = [
        Answers({k: v for k, v in values.items() if v is not MISSING})
        for _, values in plan[start : start + count]
    ]
    shared, fresh = DeviceFacts(rulebase), DeviceFacts(rulebase)
    times = [0.0, 0.0]
    block = 50
    for first in range(0, len(chosen), block):
        for way, run in enumerate((shared.shared, fresh.uncached)):
            clock = time.perf_counter()
            for answers in chosen[first : first + block]:
                run(answers)
            times[way] += time.perf_counter() - clock
    return len(chosen), times[0], times[1]


def bench_compare(rev: str, runs: int) -> None:
    """The whole audit with the code of ``rev`` and with this tree, alternately, new processes."""
    folder = Path(tempfile.mkdtemp(prefix="bench-audit-"))
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, "engine"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    paths = {}
    for label, engine_dir in (("before", folder / "engine"), ("after", ROOT / "engine")):
        package = folder / label
        package.mkdir()
        (package / "gpu_advisor").symlink_to(engine_dir)
        paths[label] = package
    wall: dict[str, list[float]] = {"before": [], "after": []}
    logic: dict[str, list[float]] = {"before": [], "after": []}
    found: dict[str, list[str]] = {}
    for _ in range(runs):
        for label in ("before", "after"):
            out = folder / f"{label}.json"
            env = {**os.environ, "PYTHONPATH": str(paths[label])}
            command = [sys.executable, "-m", "gpu_advisor", "audit", "--format", "json"]
            command += ["--kb", str(ROOT / "kb"), "--rules", str(ROOT / "rules"), "-o", str(out)]
            clock = time.perf_counter()
            subprocess.run(command, env=env, check=False, capture_output=True)
            wall[label].append(time.perf_counter() - clock)
            report = json.loads(out.read_text())
            logic[label].append(report["timings_s"]["logic"])
            found[label] = sorted(json.dumps(f, sort_keys=True) for f in report["findings"])
    print(
        f"`gpu-advisor audit` of the shipped rules, {rev} against this tree, {runs} run(s) each:\n"
    )
    print("| code | whole audit, median (s) | logic, median (s) |")
    print("|---|---:|---:|")
    for label in ("before", "after"):
        name = rev if label == "before" else "this tree"
        print(
            f"| {name} | {statistics.median(wall[label]):.1f} | "
            f"{statistics.median(logic[label]):.1f} |"
        )
    same = found["before"] == found["after"]
    differing = len(set(found["before"]) ^ set(found["after"]))
    print(f"\nfindings identical: {same}" + ("" if same else f" ({differing} differ)"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="audits to time (default 3)")
    parser.add_argument(
        "--sample", type=int, default=500, help="combinations to time the raw engine on"
    )
    parser.add_argument(
        "--facts", type=int, default=0, help="time N situations' device facts both ways, only"
    )
    parser.add_argument("--compare", metavar="REV", help="whole audit: REV against this tree, only")
    args = parser.parse_args()
    if args.compare:
        bench_compare(args.compare, args.runs)
        return 0
    if args.facts:
        count, shared, fresh = bench_facts(args.facts)
        print(f"Device facts of {count:,} situations of the audit's plan (22 devices each):\n")
        print("| way | per situation (ms) | ratio |")
        print("|---|---:|---:|")
        print(f"| computed afresh (the consultation's way) | {fresh / count * 1e3:.2f} | 1.00x |")
        print(f"| shared (the audit's way) | {shared / count * 1e3:.2f} | {shared / fresh:.2f}x |")
        return 0

    times, report = bench_audit(args.runs)
    assert report is not None
    space = report.space  # type: ignore[attr-defined]
    rulebase = load_rulebase(ROOT / "rules", load_knowledge(ROOT / "kb"))
    engine = Engine(rulebase)
    logic = LogicAudit(rulebase)
    result = logic.run()
    chosen = samples(rulebase, result.runs, args.sample)
    raw_each, consult_each = bench_raw(engine, chosen)
    combos = space.combinations
    median = statistics.median(times)

    print(
        f"Audit of the shipped rules ({report.rule_count} rules, {report.device_count} devices), "  # type: ignore[attr-defined]
        f"{args.runs} run(s), median wall time:\n"
    )
    print("| part | seconds |")
    print("|---|---|")
    for part, seconds in report.timings.items():  # type: ignore[attr-defined]
        print(f"| {part} | {seconds:.2f} |")
    print(f"| **whole audit** (median of {args.runs}) | **{median:.2f}** |")
    print()
    print("| coverage | count |")
    print("|---|---|")
    print(f"| answer combinations covered by the logic checks | {combos:,} |")
    print(f"| sizing situations (device facts computed) | {space.situations:,} |")
    print(
        f"| context combinations (in {space.context_classes:,} classes) | "
        f"{space.context_evaluations:,} |"
    )
    print(f"| joint signatures (exclusion/preference patterns) | {space.signatures:,} |")
    print(f"| combinations replayed in durable_rules and Python | {space.durable_checked:,} |")
    print(f"| of which full consultations | {space.engine_checked:,} |")
    print()
    print(
        f"Side by side, per answer combination (sampled on {len(chosen)} audited combinations):\n"
    )
    print("| way to cover the space | per combination | for all covered combinations |")
    print("|---|---|---|")
    print(f"| this audit | {median / combos * 1e6:.2f} µs | {median:.1f} s |")
    print(
        f"| bare durable_rules, same facts, one session each | {raw_each * 1e3:.2f} ms | "
        f"{raw_each * combos / 3600:,.1f} h |"
    )
    print(
        f"| full Engine.consult each | {consult_each * 1e3:.2f} ms | "
        f"{consult_each * combos / 3600:,.1f} h |"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
