"""Lint: everything wrong with the files that does not need the answer space.

The loaders already check schemas, names (with did-you-mean), duplicate ids, types, sources,
plausible ranges and dependency cycles, and report every problem at once; the audit turns each
of those into a finding with its ``path:line:col``. When the knowledge base does not load, the
rule files are still checked against whatever part of it did, so one run shows every problem.
On top of the loaders, lint reports rules without rationale, sources or examples, examples that
expect nothing or set answers the engine ignores, preferences worth zero points, numbers without
bounds, and knowledge-base figures that contradict each other (a dense figure above its sparse
one, a narrower format slower than a wider one, an FP4 flag without an FP4 figure).
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Any

from gpu_advisor.audit.findings import Finding
from gpu_advisor.errors import FileError, FileErrors, Location, UsageError
from gpu_advisor.knowledge.rulebase import Example, Rule, RuleBase

TENSOR_ORDER = ("tf32", "bf16", "fp8", "fp4")
"""Tensor formats from wide to narrow: a narrower one is at least as fast on the same card."""


def load_error_findings(errors: list[FileError]) -> list[Finding]:
    return [Finding("lint", "load-error", "error", e.message, e.location) for e in errors]


def load(kb_dir: Path | None, rules_dir: Path | None) -> tuple[RuleBase | None, list[Finding]]:
    """Load the knowledge base and rules; every load problem becomes a finding."""
    from gpu_advisor.knowledge.kb import shipped_kb_dir
    from gpu_advisor.knowledge.kb_schema import load_knowledge, load_what_loads
    from gpu_advisor.knowledge.rulebase import load_rulebase

    findings: list[Finding] = []
    try:
        knowledge = load_knowledge(kb_dir)
    except FileErrors as exc:
        findings += load_error_findings(exc.errors)
        # check the rules against what of the knowledge base still loads
        knowledge, _ = load_what_loads(Path(kb_dir) if kb_dir is not None else shipped_kb_dir())
    try:
        rulebase = load_rulebase(rules_dir, knowledge)
    except FileErrors as exc:
        known = {(str(f.location), f.message) for f in findings}
        findings += [
            f for f in load_error_findings(exc.errors) if (str(f.location), f.message) not in known
        ]
        return None, findings
    return (rulebase if not findings else None), findings


# ---------------------------------------------------------------------------------------------
# Rules


def lint_rules(rb: RuleBase) -> list[Finding]:
    out: list[Finding] = []
    for rule in rb.rules:
        if not rule.because.strip():
            out.append(
                Finding(
                    "lint",
                    "no-rationale",
                    "error",
                    f"{rule.id} gives no rationale (because:): an expert cannot check why it "
                    "concludes "
                    "what it does",
                    rule.location,
                    (rule.id,),
                )
            )
        if not rule.sources:
            out.append(
                Finding(
                    "lint",
                    "no-sources",
                    "error",
                    f"{rule.id} cites no source",
                    rule.location,
                    (rule.id,),
                )
            )
        if not rule.examples:
            out.append(
                Finding(
                    "lint",
                    "no-examples",
                    "warning",
                    f"{rule.id} has no examples: nothing shows (or tests) when it fires",
                    rule.location,
                    (rule.id,),
                )
            )
        if rule.prefer is not None and rule.prefer.points == 0:
            out.append(
                Finding(
                    "lint",
                    "zero-points",
                    "warning",
                    f"{rule.id} prefers with 0 points: it never changes a score",
                    rule.location,
                    (rule.id,),
                )
            )
        for example in rule.examples:
            out.extend(_lint_example(rb, rule, example))
    for q in rb.questions.values():
        if q.type in ("number", "integer") and (q.min is None or q.max is None):
            out.append(
                Finding(
                    "lint",
                    "unbounded-question",
                    "warning",
                    f"question {q.key} has no {'min' if q.min is None else 'max'}: give the range "
                    "of "
                    "plausible answers (the audit tests numbers at their bounds)",
                    q.location,
                )
            )
    return out


def _expects_something(example: Example) -> bool:
    e = example.expect
    return bool(
        e.fires is not None
        or e.fires_for
        or e.not_for
        or e.facts
        or e.top
        or e.excluded
        or e.recommended
    )


def _lint_example(rb: RuleBase, rule: Rule, example: Example) -> list[Finding]:
    from gpu_advisor.core.answers import normalize_answers

    out = []
    if not _expects_something(example):
        out.append(
            Finding(
                "lint",
                "empty-example",
                "warning",
                f"{rule.id} / {example.name}: the example expects nothing, so it can never fail",
                example.location,
                (rule.id,),
                counterexample=dict(example.answers),
            )
        )
    try:
        answers = normalize_answers(rb.questions, dict(example.answers), rb.knowledge)
    except UsageError:
        return out  # the loader reports invalid example answers
    for key, why in answers.ignored.items():
        out.append(
            Finding(
                "lint",
                "ignored-answer",
                "warning",
                f"{rule.id} / {example.name}: the example sets {key}, which is {why}; the engine "
                "ignores it, so the example does not test what it seems to",
                example.location,
                (rule.id,),
                counterexample=dict(example.answers),
                details={"answer": key},
            )
        )
    return out


# ---------------------------------------------------------------------------------------------
# Knowledge base figures


def lint_knowledge(rb: RuleBase) -> list[Finding]:
    from gpu_advisor.knowledge.yamlio import load_yaml

    out: list[Finding] = []
    for device in rb.knowledge.devices.values():
        try:
            doc = load_yaml(device.path)
        except FileErrors:
            continue

        def where(*key: str | int, doc: Any = doc) -> Location:
            return doc.location(tuple(key))

        figures = device.figures
        for key, fig in figures.items():
            precision, _, kind = key.rpartition("_")
            sparse = figures.get(f"{precision}_sparse")
            if (
                kind == "dense"
                and sparse is not None
                and isinstance(fig.value, (int, float))
                and isinstance(sparse.value, (int, float))
                and fig.value > sparse.value
            ):
                out.append(
                    Finding(
                        "lint",
                        "implausible-value",
                        "error",
                        f"{device.id}: throughput {key} = {fig.value:g} TFLOPS is above the sparse "
                        "figure "
                        f"{precision}_sparse = {sparse.value:g}; sparsity at most doubles a peak",
                        where("throughput", key, "value"),
                        devices=(device.id,),
                    )
                )
        dense = [(p, device.throughput(p, sparse=False)) for p in TENSOR_ORDER]
        present = [(p, t) for p, t in dense if t is not None]
        for (wide, tw), (narrow, tn) in pairwise(present):
            assert tw is not None and tn is not None
            if tn.tflops < tw.tflops:
                key = next((k for k in figures if k.startswith(narrow + "_")), narrow)
                out.append(
                    Finding(
                        "lint",
                        "implausible-value",
                        "warning",
                        f"{device.id}: dense {narrow} ({tn.tflops:g} TFLOPS) is slower than dense "
                        f"{wide} "
                        f"({tw.tflops:g}); a narrower format is at least as fast on the same "
                        "tensor cores",
                        where("throughput", key, "value"),
                        devices=(device.id,),
                    )
                )
        has_fp4 = any(k.startswith("fp4_") for k in figures)
        flag = device.value("fp4")
        if flag is True and not has_fp4:
            out.append(
                Finding(
                    "lint",
                    "implausible-value",
                    "warning",
                    f"{device.id}: fp4 is true but the throughput has no fp4 figure",
                    where("fp4", "value"),
                    devices=(device.id,),
                )
            )
        elif flag is False and has_fp4:
            out.append(
                Finding(
                    "lint",
                    "implausible-value",
                    "warning",
                    f"{device.id}: fp4 is false but the throughput lists an fp4 figure",
                    where("fp4", "value"),
                    devices=(device.id,),
                )
            )
    return out


# ---------------------------------------------------------------------------------------------
# Examples


def check_example(
    engine: Any, rule: Rule, example: Example, evaluator: str = "durable"
) -> list[str]:
    """The ways a rule's example fails (empty when it holds), run through the engine."""
    consultation = engine.consult(dict(example.answers), evaluator=evaluator)
    expect = example.expect
    fired_for = {device for rule_id, device in consultation.fired if rule_id == rule.id}
    problems: list[str] = []
    if expect.fires is not None and bool(fired_for) != expect.fires:
        shown = ", ".join(sorted(d or "the context" for d in fired_for)) or "nothing"
        problems.append(
            f"expected it {'to fire' if expect.fires else 'not to fire'}; it fired for {shown}"
        )
    for device in expect.fires_for:
        if device not in fired_for:
            problems.append(f"expected it to fire for {device}")
    for device in expect.not_for:
        if device in fired_for:
            problems.append(f"expected it not to fire for {device}")
    for name, value in expect.facts.items():
        if consultation.facts.get(name) != value:
            problems.append(
                f"expected fact {name} = {value!r}, got {consultation.facts.get(name)!r}"
            )
    ranked = [r.device for r in consultation.recommendations]
    if expect.top is not None and (not ranked or ranked[0] != expect.top):
        problems.append(
            f"expected {expect.top} on top, got {', '.join(ranked[:3]) or 'no recommendation'}"
        )
    for device in expect.excluded:
        if device not in consultation.all_exclusions:
            problems.append(f"expected {device} excluded")
    for device in expect.recommended:
        if device not in ranked:
            problems.append(f"expected {device} recommended")
    return problems


def example_findings(engine: Any, progress: Any = None) -> list[Finding]:
    """Every rule's examples, through durable_rules and through the Python evaluator."""
    from gpu_advisor.errors import AdvisorError

    out: list[Finding] = []
    cases = [(rule, example) for rule in engine.rulebase.rules for example in rule.examples]
    for done, (rule, example) in enumerate(cases, start=1):
        results: dict[str, list[str]] = {}
        for evaluator in ("durable", "python"):
            try:
                results[evaluator] = check_example(engine, rule, example, evaluator)
            except AdvisorError as exc:
                results[evaluator] = [f"the consultation failed: {exc}"]
        problems = results["durable"]
        if problems:
            out.append(
                Finding(
                    "examples",
                    "example-failed",
                    "error",
                    f"{rule.id} / {example.name}: " + "; ".join(problems),
                    example.location,
                    (rule.id,),
                    counterexample=dict(example.answers),
                    details={"problems": problems},
                )
            )
        if results["python"] != problems:
            out.append(
                Finding(
                    "agreement",
                    "engine-disagreement",
                    "error",
                    f"{rule.id} / {example.name}: durable_rules and the Python evaluator disagree "
                    "on "
                    f"this example (durable: {'; '.join(problems) or 'holds'}; python: "
                    f"{'; '.join(results['python']) or 'holds'})",
                    example.location,
                    (rule.id,),
                    counterexample=dict(example.answers),
                )
            )
        if progress is not None:
            progress("examples", done, len(cases))
    return out
