"""The rule audit: each kind of finding is caught on a small defective rule set made for it
(tests/fixtures/audit/<case>/ laid over tests/fixtures/audit/base/), at the right place, with a
counterexample that, re-run through the engine here, really shows it; the shipped knowledge base
and rules pass."""

from __future__ import annotations

import argparse
import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpu_advisor.arithmetic.context import context_arithmetic, device_attributes
from gpu_advisor.audit import agreement as audit_agreement
from gpu_advisor.audit.facts import DeviceFacts
from gpu_advisor.audit.findings import AuditReport, Finding
from gpu_advisor.audit.render import command_for, render, to_text
from gpu_advisor.audit.run import run_audit
from gpu_advisor.backends.python import compile_condition, context_of
from gpu_advisor.cli import audit as audit_command
from gpu_advisor.core.answers import normalize_answers
from gpu_advisor.core.consult import Consultation, Engine
from gpu_advisor.errors import EngineError, Location, UsageError
from gpu_advisor.knowledge.kb_schema import load_knowledge
from gpu_advisor.knowledge.rulebase import load_rulebase
from gpu_advisor.lang.conditions import MISSING, All, AnyOf, Leaf, Not, Ref, evaluate

from ..conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "audit"
KB = ROOT / "kb"


def rules_dir(tmp_path: Path, case: str | None = None) -> Path:
    """The base rule set with a case's files laid over it, in a fresh folder."""
    target = tmp_path / "rules"
    target.mkdir()
    for source in [FIXTURES / "base"] + ([FIXTURES / case] if case else []):
        for path in source.iterdir():
            shutil.copy(path, target / path.name)
    return target


def audit(tmp_path: Path, case: str | None, kb: Path = KB, **kwargs: Any) -> AuditReport:
    return run_audit(kb, rules_dir(tmp_path, case), agreement=150, consults=20, **kwargs)


def engine_for(report: AuditReport) -> Engine:
    return Engine(load_rulebase(report.rules_dir, load_knowledge(report.kb_dir)))


def findings(report: AuditReport, kind: str, rule: str | None = None) -> list[Finding]:
    """Findings of a kind, about a rule (the first rule a finding names is what it is about)."""
    return [
        f for f in report.findings if f.kind == kind and (rule is None or f.rules[:1] == (rule,))
    ]


def one(report: AuditReport, kind: str, rule: str | None = None) -> Finding:
    found = findings(report, kind, rule)
    assert len(found) == 1, (
        f"expected one {kind} finding for {rule}, got {[f.message for f in found]}"
    )
    return found[0]


def line_of(path: Path, text: str, after: str | None = None) -> int:
    """1-based line of the first line containing ``text`` (after the line containing ``after``)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if after in line) if after else 0
    return next(i for i, line in enumerate(lines) if i >= start and text in line) + 1


def rule_line(path: Path, rule_id: str) -> int:
    return line_of(path, f"id: {rule_id}")


def fired_for(consultation: Consultation, rule_id: str) -> set[str | None]:
    return {device for rid, device in consultation.fired if rid == rule_id}


# ---------------------------------------------------------------------------------------------
# The shipped knowledge base and rules


@pytest.fixture(scope="module")
def shipped() -> AuditReport:
    return run_audit(KB, ROOT / "rules", agreement=300, consults=40)


def test_shipped_rules_pass(shipped: AuditReport) -> None:
    assert shipped.loaded
    errors = [f"{f.where}: {f.message}" for f in shipped.findings if f.severity == "error"]
    assert not errors, errors
    assert shipped.exit_code == 0
    assert shipped.space.combinations >= 100_000
    assert shipped.space.durable_checked >= 150
    assert shipped.space.engine_checked == 40
    assert not findings(shipped, "engine-disagreement") and not findings(
        shipped, "audit-self-check"
    )


def test_shipped_counterexamples_reproduce(shipped: AuditReport, engine: Engine) -> None:
    """Every behavioural finding on the shipped rules replays through the engine as described."""
    for finding in shipped.findings:
        if finding.counterexample is None or finding.category not in ("logic", "knowledge"):
            continue
        consultation = engine.consult(finding.counterexample)
        if (
            finding.kind in ("subsumed", "equivalent")
            and finding.rules
            and consultation.all_exclusions
        ):
            rule = finding.rules[0]
            devices = fired_for(consultation, rule)
            assert devices, finding.message
            for device in devices:
                reasons = {e.rule for e in consultation.all_exclusions.get(str(device), [])}
                assert len(reasons) >= 2, f"{finding.message}: {device} excluded only by {reasons}"
        if finding.kind == "unexplained":
            rule = finding.rules[0]
            assert fired_for(consultation, rule) & set(finding.devices), finding.message
        if finding.kind == "contradicted-claim":
            metric = finding.details["metric"]
            preferred = [
                d
                for d in finding.details["devices"]
                if fired_for(consultation, finding.rules[0]) >= {d}
            ]
            assert preferred, finding.message
            for device in preferred:
                entry = finding.details["devices"][device]
                assert consultation.devices[device][metric] == entry["value"]
                for leader in entry["leaders"]:
                    assert (
                        consultation.devices[leader][metric]
                        == entry["leader_value"]
                        > entry["value"]
                    )


def test_shipped_contradicted_claim(shipped: AuditReport, engine: Engine) -> None:
    """The verdict the rule's own example calls contradicted by the numbers is reported, with
    them."""
    finding = one(shipped, "contradicted-claim", "verdicts.paper-conservative-a6000")
    entry = finding.details["devices"]["rtx-a6000"]
    consultation = engine.consult(finding.counterexample)
    assert consultation.devices["rtx-a6000"]["memory_gb"] == entry["value"] == 48
    assert all(
        consultation.devices[d]["memory_gb"] == entry["leader_value"] for d in entry["leaders"]
    )
    assert any(
        note.kind == "contradiction" and note.rule == "verdicts.paper-conservative-a6000"
        for note in consultation.notes
    )


def test_shipped_source_disagreements_and_claims(shipped: AuditReport, engine: Engine) -> None:
    b200 = [
        f
        for f in findings(shipped, "source-disagreement")
        if f.details["fact"] == "memory_gb" and f.devices == ("b200",)
    ]
    assert len(b200) == 1
    assert b200[0].location is not None
    assert b200[0].location.line == line_of(KB / "devices" / "b200.yaml", "memory_gb:")
    assert "180" in b200[0].message and "192" in b200[0].message and "Why:" in b200[0].message
    expected = sum(
        1
        for d in engine.rulebase.knowledge.devices.values()
        for fact in d.sourced_facts().values()
        if fact.alternatives
    )
    assert len(findings(shipped, "source-disagreement")) == expected
    verdicts = findings(shipped, "claim-verdict")
    assert verdicts and len(verdicts) == len(engine.rulebase.claims)
    assert all(f.location is not None and f.location.line > 0 for f in verdicts)


def test_shipped_space_boundaries(shipped: AuditReport) -> None:
    domains = shipped.space.domains
    for value in (6.99, 7, 69.9, 70, 0.1, 2000):
        assert value in domains["model_params_b"]
    # max_gpus is a cap only the arithmetic reads (no rule compares it): its range ends and unset.
    assert set(domains["max_gpus"]) == {1, 1000000, "not set"}
    assert sorted(domains["longest_run_hours"]) == [8, 48, 168]  # one value per class of the rules
    assert domains["candidates"] == ["not set"]
    assert set(domains["workload"]) == {"pretraining", "fine-tuning", "inference", "scientific"}


def test_shipped_report_formats(shipped: AuditReport) -> None:
    text = to_text(shipped)
    assert "0 errors" in text and "answer combinations covered" in text
    markdown = render(shipped, "markdown")
    assert markdown.startswith("# Rule audit") and "- [ ] Reviewed" in markdown
    assert "## How the space was covered" in markdown
    html = render(shipped, "html")
    assert html.startswith("<!DOCTYPE html>") and "<textarea" in html and "<script" not in html
    data = json.loads(render(shipped, "json"))
    assert data["exit_status"] == 0 and data["summary"]["error"] == 0
    assert data["space"]["combinations"] == shipped.space.combinations


# ---------------------------------------------------------------------------------------------
# Lint and loading


def test_base_fixture_is_clean(tmp_path: Path) -> None:
    report = audit(tmp_path, None)
    assert report.exit_code == 0
    assert [f.message for f in report.findings if f.severity != "info"] == []


def test_every_load_error_with_its_place(tmp_path: Path) -> None:
    report = audit(tmp_path, "broken")
    assert not report.loaded and report.exit_code == 2
    folder = Path(report.rules_dir)
    shape, names = folder / "shape.yaml", folder / "names.yaml"
    expected = [
        (shape, rule_line(shape, "shape.missing-because"), "missing required key 'because'"),
        (shape, line_of(shape, "becuase:"), "unknown key 'becuase' (did you mean 'because'?)"),
        (
            names,
            line_of(names, "answer.deploymnt"),
            "unknown answer 'deploymnt' (did you mean 'deployment'?)",
        ),
        (names, line_of(names, "seed-099"), "unknown source 'seed-099'"),
        (
            names,
            line_of(names, "rtx-a7000"),
            "'rtx-a7000' is not a value of device.id (did you mean 'rtx-a6000'?)",
        ),
        (
            names,
            line_of(names, "id: names.twice", after="Uses an id first"),
            "duplicate rule id 'names.twice'",
        ),
    ]
    got = [(f.location, f.message) for f in findings(report, "load-error")]
    for path, line, text in expected:
        assert any(
            loc is not None and Path(loc.path) == path and loc.line == line and text in message
            for loc, message in got
        ), f"{path.name}:{line}: {text} not in {got}"


def test_broken_knowledge_base_and_rules_together(tmp_path: Path) -> None:
    kb = tmp_path / "kb"
    shutil.copytree(KB, kb)
    gpu = kb / "devices" / "rtx-5090.yaml"
    gpu.write_text(gpu.read_text().replace("memory_gb: {value: 32,", "memory_gb: {value: 0,"))
    pcie = kb / "devices" / "h100-pcie.yaml"
    text = pcie.read_text()
    assert "value: 80" in text
    pcie.write_text(text.replace("value: 80", "value: 10000", 1))
    report = audit(tmp_path, "broken", kb=kb)
    assert report.exit_code == 2
    messages = [(f.location, f.message) for f in findings(report, "load-error")]
    zero = [m for loc, m in messages if loc is not None and Path(loc.path) == gpu]
    assert any("memory_gb: 0 is outside the plausible range" in m for m in zero), messages
    assert any(
        loc is not None and Path(loc.path) == gpu and loc.line == line_of(gpu, "memory_gb:")
        for loc, _ in messages
    )
    assert any(loc is not None and Path(loc.path) == pcie and "10000" in m for loc, m in messages)
    # the rules are checked too, against what of the knowledge base loaded
    assert any("unknown answer 'deploymnt'" in m for _, m in messages)


def test_broken_systems_catalog_is_an_error_at_its_place(tmp_path: Path) -> None:
    kb = tmp_path / "kb"
    shutil.copytree(KB, kb)
    systems = kb / "systems.yaml"
    text = systems.read_text(encoding="utf-8")
    old = "    hosts: [desktop-tower, workstation-4gpu,"
    assert text.count(old) == 1
    systems.write_text(text.replace(old, "    hosts: [desktop-towr, workstation-4gpu,"))
    report = audit(tmp_path, None, kb=kb)
    # the rule base loads the catalog with the demand defaults (a cached rule base carries it),
    # so a broken catalog is a broken input: exit 2, as for any file that does not load
    assert report.exit_code == 2
    found = one(report, "load-error")
    assert found.severity == "error" and found.location is not None
    assert (Path(found.location.path), found.location.line) == (
        systems,
        line_of(systems, "desktop-towr"),
    )
    assert found.message == "unknown host 'desktop-towr' (did you mean 'desktop-tower'?)"


def test_implausible_figures(tmp_path: Path) -> None:
    kb = tmp_path / "kb"
    shutil.copytree(KB, kb)
    b200 = kb / "devices" / "b200.yaml"
    b200.write_text(
        b200.read_text().replace(
            "  bf16_sparse: {value: 4500, source: nvidia-hgx}",
            "  bf16_sparse: {value: 4500, source: nvidia-hgx}\n  bf16_dense: {value: 5000, source: "
            "nvidia-hgx}",
        )
    )
    report = audit(tmp_path, None, kb=kb)
    finding = next(f for f in findings(report, "implausible-value") if f.severity == "error")
    assert report.exit_code == 1
    assert finding.location is not None and finding.location.line == line_of(b200, "bf16_dense")
    assert "sparsity at most doubles" in finding.message


def test_lint_and_examples(tmp_path: Path) -> None:
    report = audit(tmp_path, "examples")
    path = Path(report.rules_dir) / "lint.yaml"
    blank = one(report, "no-rationale", "lintme.no-rationale")
    assert blank.severity == "error" and blank.location.line == rule_line(
        path, "lintme.no-rationale"
    )
    assert one(report, "no-examples", "lintme.no-examples").severity == "warning"
    empty = one(report, "empty-example")
    assert empty.location.line == line_of(path, "name: expects nothing")
    ignored = one(report, "ignored-answer")
    assert ignored.details["answer"] == "model_params_b"
    assert (
        "model_params_b"
        in normalize_answers(
            engine_for(report).rulebase.questions,
            ignored.counterexample,
            engine_for(report).rulebase.knowledge,
        ).ignored
    )
    failed = one(report, "example-failed", "lintme.wrong-example")
    assert failed.severity == "error" and failed.location.line == line_of(
        path, "name: the 5090 is not passive"
    )
    consultation = engine_for(report).consult(failed.counterexample)
    assert "rtx-5090" not in fired_for(consultation, "lintme.wrong-example")
    assert report.exit_code == 1


# ---------------------------------------------------------------------------------------------
# Logic


def test_fact_conflict(tmp_path: Path) -> None:
    report = audit(tmp_path, "conflict")
    finding = one(report, "fact-conflict")
    assert set(finding.rules) == {"tier.basic-for-research", "tier.premium-for-long-runs"}
    assert finding.severity == "error"
    path = Path(report.rules_dir) / "conflict.yaml"
    assert finding.location is not None and finding.location.line in (
        rule_line(path, "tier.basic-for-research"),
        rule_line(path, "tier.premium-for-long-runs"),
    )
    with pytest.raises(EngineError, match="rules disagree on fact tier"):
        engine_for(report).consult(finding.counterexample)


def test_overridden_derivation(tmp_path: Path) -> None:
    report = audit(tmp_path, "overridden")
    finding = one(report, "overridden")
    assert set(finding.rules) == {"relax.research-without-ecc", "base.ecc-for-long-runs"}
    consultation = engine_for(report).consult(finding.counterexample)
    assert fired_for(consultation, "relax.research-without-ecc") == {None}
    assert fired_for(consultation, "base.ecc-for-long-runs") == {None}
    assert consultation.facts["needs_ecc"] is True  # the false derivation lost


def test_cancelling_preferences(tmp_path: Path) -> None:
    report = audit(tmp_path, "cancel")
    finding = one(report, "cancelling-preferences")
    assert set(finding.rules) == {"hbm.bonus", "hbm.malus"}
    engine = engine_for(report)
    for answers in ({}, {"workload": "scientific"}, finding.counterexample):
        consultation = engine.consult(answers)
        assert fired_for(consultation, "hbm.bonus") == fired_for(consultation, "hbm.malus") != set()


def test_subsumed_equivalent_and_idle_rules(tmp_path: Path) -> None:
    report = audit(tmp_path, "subsumed")
    engine = engine_for(report)
    subsumed = one(report, "subsumed", "extra.no-ecc-in-production")
    assert subsumed.rules == ("extra.no-ecc-in-production", "base.ecc-missing")
    consultation = engine.consult(subsumed.counterexample)
    for device in fired_for(consultation, "extra.no-ecc-in-production"):
        assert {e.rule for e in consultation.all_exclusions[str(device)]} >= {
            "extra.no-ecc-in-production",
            "base.ecc-missing",
        }
    equivalent = one(report, "equivalent")
    assert set(equivalent.rules) == {"base.passive-needs-airflow", "extra.passive-office-again"}
    consultation = engine.consult(equivalent.counterexample)
    assert (
        fired_for(consultation, "base.passive-needs-airflow")
        == fired_for(consultation, "extra.passive-office-again")
        != set()
    )
    derivation = one(report, "subsumed", "extra.ecc-for-long-production")
    consultation = engine.consult(derivation.counterexample)
    assert set(consultation.derived_by["needs_ecc"]) >= {
        "extra.ecc-for-long-production",
        "base.ecc-for-production",
    }
    idle = one(report, "preference-on-excluded", "extra.consumer-bonus-in-production")
    consultation = engine.consult(idle.counterexample)
    scored = fired_for(consultation, "extra.consumer-bonus-in-production")
    assert scored and all(device in consultation.all_exclusions for device in scored)
    # the rule story agrees: taking the subsumed rule out changes no outcome
    story = run_audit(
        KB, report.rules_dir, rule_id="extra.no-ecc-in-production", agreement=20, consults=5
    ).story
    assert (
        story is not None and story["decides"]["checked"] > 0 and story["decides"]["decided"] == 0
    )


def test_unreachable_rules(tmp_path: Path) -> None:
    report = audit(tmp_path, "unreachable")
    engine = engine_for(report)
    path = Path(report.rules_dir) / "never.yaml"
    both = one(report, "unreachable", "never.few-and-many")
    assert both.severity == "error" and both.location.line == rule_line(path, "never.few-and-many")
    parts = both.details["parts"]
    assert len(parts) == 2 and all(p["holds_for"] is not None for p in parts)
    for part in parts:  # each part holds alone, and the rule still does not fire
        consultation = engine.consult(part["holds_for"])
        assert not fired_for(consultation, "never.few-and-many")
    typo = one(report, "unreachable", "never.family-typo")
    assert typo.details["parts"][0]["holds_for"] is None
    assert not any(d.family == "rtx-pro-6000" for d in engine.rulebase.knowledge.devices.values())
    rare = one(report, "not-reached", "never.overfull")
    assert rare.severity == "warning"


def test_dead_facts_and_questions(tmp_path: Path) -> None:
    report = audit(tmp_path, "dead")
    engine = engine_for(report)
    facts_path = Path(report.rules_dir) / "facts.yaml"
    dead = one(report, "dead-fact")
    assert dead.details["fact"] == "spare_capacity"
    assert dead.location.line == line_of(facts_path, "spare_capacity:")
    assert engine.consult(dead.counterexample).facts["spare_capacity"] is True
    underived = one(report, "underived-fact")
    assert underived.details["fact"] == "ghost" and underived.rules == ("dead.ghost-warning",)
    assert one(report, "unused-fact").details["fact"] == "forgotten"
    question = one(report, "dead-question")
    assert question.details["question"] == "colour"
    first, second = (engine.consult(a) for a in question.details["same_outcome"])
    assert first.answers.values["colour"] != second.answers.values["colour"]
    assert _outcome(first) == _outcome(second)


def _outcome(c: Consultation) -> tuple[Any, ...]:
    return (
        tuple((r.device, round(r.score, 6)) for r in c.recommendations),
        sorted(c.fired, key=str),
        sorted(c.facts.items()),
    )


def test_gaps_and_unexplained(tmp_path: Path) -> None:
    report = audit(tmp_path, "gap")
    engine = engine_for(report)
    gap = one(report, "no-recommendation")
    consultation = engine.consult(gap.counterexample)
    assert not consultation.recommendations
    assert set(consultation.all_exclusions) == set(engine.rulebase.knowledge.devices)
    assert all(e.because for ex in consultation.all_exclusions.values() for e in ex)
    hole = one(report, "unexplained", "gap.desktop-in-production")
    assert hole.severity == "error" and hole.details["placeholder"] == "answer.budget_usd"
    consultation = engine.consult(hole.counterexample)
    reasons = [
        e.because
        for ex in consultation.all_exclusions.values()
        for e in ex
        if e.rule == "gap.desktop-in-production"
    ]
    assert reasons and all("not set" in r for r in reasons)


def test_engine_disagreement_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Python evaluation that differs from durable_rules on one rule is caught, with answers."""
    real = audit_agreement.evaluate
    target = (
        load_rulebase(rules_dir(tmp_path, None), load_knowledge(KB)).rule("base.ecc-missing").when
    )

    def skewed(cond: Any, lookup: Any) -> bool:
        result = real(cond, lookup)
        return (not result) if cond == target else result

    monkeypatch.setattr(audit_agreement, "evaluate", skewed)
    report = run_audit(KB, tmp_path / "rules", agreement=100, consults=5)
    found = findings(report, "engine-disagreement", "base.ecc-missing")
    assert found and found[0].severity == "error" and report.exit_code == 1
    assert found[0].counterexample is not None


# ---------------------------------------------------------------------------------------------
# The audit's own machinery


_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from([0.5, 7.0, 48.0]),
    st.sampled_from(["a", "b", "tensor"]),
)
_OPS = st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "in", "not in", "set", "not set"])


@settings(max_examples=400, deadline=None)
@given(
    left=_VALUES,
    right=_VALUES,
    other=_VALUES,
    op=_OPS,
    versus_ref=st.booleans(),
    left_on_device=st.booleans(),
)
def test_compiled_leaf_matches_engine(
    left: Any, right: Any, other: Any, op: str, versus_ref: bool, left_on_device: bool
) -> None:
    """The audit's closures give exactly conditions.evaluate's answer, missing values included,
    whichever scope the leaf reads (each scope has its own closure)."""
    if left_on_device:
        ref, ref2 = Ref("device", "x"), Ref("answer", "y")
    else:
        ref, ref2 = Ref("answer", "x"), Ref("device", "y")
    if op in ("in", "not in"):
        target: Any = tuple(v for v in (right, other) if v is not None) or ("a",)
    elif op in ("set", "not set"):
        target = None
    else:
        target = ref2 if versus_ref else (right if right is not None else 1)
    leaf = Leaf(ref, op, target, Location("test"))
    values = {ref: MISSING if left is None else left, ref2: MISSING if other is None else other}
    expected = evaluate(leaf, lambda r: values[r])
    answers = {r.name: values[r] for r in (ref, ref2) if r.scope == "answer"}
    dev = {
        r.name: None if values[r] is MISSING else values[r]
        for r in (ref, ref2)
        if r.scope == "device"
    }
    assert compile_condition(leaf)(context_of(answers, {}), dev) == expected


@settings(max_examples=300, deadline=None)
@given(
    truths=st.lists(st.booleans(), max_size=5),
    kind=st.sampled_from(["all", "any", "not all", "not any"]),
)
def test_compiled_combinations_match_engine(truths: list[bool], kind: str) -> None:
    """All/any of zero to five parts (each size has its own closure shape), negated or not."""
    parts = tuple(
        Leaf(Ref("answer", f"x{i}"), "==", True, Location("test")) for i in range(len(truths))
    )
    combined: Any = (
        All(parts, Location("test")) if "all" in kind else AnyOf(parts, Location("test"))
    )
    if kind.startswith("not"):
        combined = Not(combined, Location("test"))
    values = {Ref("answer", f"x{i}"): truth for i, truth in enumerate(truths)}
    expected = evaluate(combined, lambda r: values[r])
    answers = {f"x{i}": truth for i, truth in enumerate(truths)}
    assert compile_condition(combined)(context_of(answers, {}), {}) == expected


def test_device_facts_match_engine(engine: Engine) -> None:
    rb = engine.rulebase
    facts = DeviceFacts(rb)
    for raw in (
        {},
        {"workload": "inference", "model_params_b": 70, "max_gpus": 8, "parallelism": "tensor"},
        {
            "workload": "scientific",
            "budget_usd": 150000,
            "purchase": "fill-budget",
            "off_grid": True,
            "off_grid_hours": 12,
        },
        {"workload": "fine-tuning", "method": "full", "max_gpus": 4},
    ):
        answers = normalize_answers(rb.questions, raw, rb.knowledge)
        computed, attrs = facts.compute(answers.values)
        arithmetic = context_arithmetic(answers, rb.knowledge.directory)
        assert computed == arithmetic.facts
        for device, mine in zip(rb.knowledge.devices.values(), attrs):
            assert mine == device_attributes(device, answers, arithmetic, rb.knowledge.directory)
    assert facts.fast and facts.mismatch is None


def test_command_for_counterexample() -> None:
    assert (
        command_for({"workload": "inference", "off_grid": True})
        == "gpu-advisor recommend --set workload=inference --set off_grid=true"
    )


# ---------------------------------------------------------------------------------------------
# The command


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="gpu-advisor")
    audit_command.register(parser.add_subparsers())
    args = parser.parse_args(["audit", *argv])
    return int(args.func(args))


def _folder(tmp_path: Path, name: str, case: str | None) -> Path:
    (tmp_path / name).mkdir()
    return rules_dir(tmp_path / name, case)


def test_command_exit_status_and_outputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clean = _folder(tmp_path, "clean", None)
    assert _run(["--kb", str(KB), "--rules", str(clean), "--agreement", "20"]) == 0
    out = capsys.readouterr().out
    assert "0 errors" in out and "clean: no errors, no warnings" in out

    defective = _folder(tmp_path, "gap", "gap")
    target = tmp_path / "report.md"
    assert (
        _run(["--kb", str(KB), "--rules", str(defective), "-o", str(target), "--agreement", "20"])
        == 1
    )
    assert target.read_text().startswith("# Rule audit")
    assert (
        _run(["--kb", str(KB), "--rules", str(defective), "--format", "json", "--agreement", "20"])
        == 1
    )
    data = json.loads(capsys.readouterr().out)
    assert data["exit_status"] == 1 and any(f["kind"] == "unexplained" for f in data["findings"])
    assert (
        _run(
            [
                "--kb",
                str(KB),
                "--rules",
                str(defective),
                "--format",
                "html",
                "--agreement",
                "20",
                "--rule",
                "gap.no-office",
            ]
        )
        == 1
    )
    page = capsys.readouterr().out
    assert "Rule gap.no-office" in page and page.rstrip().endswith("</html>")

    broken = _folder(tmp_path, "broken", "broken")
    assert _run(["--kb", str(KB), "--rules", str(broken)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert lines and all(line.count(":") >= 3 for line in lines)
    assert any("names.yaml:" in line and "unknown answer 'deploymnt'" in line for line in lines)
    assert captured.out == ""


def test_command_rule_story(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = rules_dir(tmp_path, None)
    assert (
        _run(
            [
                "--kb",
                str(KB),
                "--rules",
                str(folder),
                "--rule",
                "base.ecc-missing",
                "--agreement",
                "20",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert (
        "rule base.ecc-missing" in out and "decides the outcome in" in out and "seed-000#ecc" in out
    )
    report = run_audit(KB, folder, rule_id="base.ecc-missing", agreement=20, consults=5)
    story = report.story
    assert story is not None and story["decides"]["decided"] > 0
    case = story["decides"]["cases"][0]
    engine = engine_for(report)
    with_rule = engine.consult(case["answers"])
    assert fired_for(with_rule, "base.ecc-missing")
    assert any("excluded with the rule" in change for change in case["change"])
    with pytest.raises(UsageError, match="did you mean 'base.ecc-missing'"):
        _run(["--kb", str(KB), "--rules", str(folder), "--rule", "base.ecc-mising"])


def test_progress_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stderr", io.StringIO())
    with audit_command._progress() as tick:
        assert tick is None


def test_format_from_output_name() -> None:
    assert audit_command.format_for("audit.md") == "markdown"
    assert audit_command.format_for("audit.html") == "html"
    assert audit_command.format_for("audit.json") == "json"
    assert audit_command.format_for(None) is None


def test_report_finding_json_is_plain() -> None:
    finding = Finding(
        "logic",
        "subsumed",
        "warning",
        "m",
        Location("rules/x.yaml", 3, 5),
        ("a",),
        ("d",),
        {"x": 1},
        {"s": {1, 2}},
    )
    data = finding.to_json()
    assert data["location"] == {
        "path": "rules/x.yaml",
        "line": 3,
        "column": 5,
        "text": "rules/x.yaml:3:5",
    }
    assert data["details"]["s"] == [1, 2]


def test_a_gap_lists_its_largest_empty_regions(tmp_path: Path) -> None:
    """Issue 16: "31.8% of answer combinations recommend nothing" must say where.

    Worked by hand: the fixture's ``site`` question has two choices (office, datacenter) and is
    always asked, so half of all audited combinations set it to office; ``gap.no-office``
    excludes every device there. So ``site = office`` is empty in 100% of its combinations and
    stands for 50% of all of them.
    """
    report = audit(tmp_path, "gap")
    gap = one(report, "no-recommendation")
    total = gap.details["of"]
    regions = gap.details["empty_regions"]
    first = regions[0]
    assert (first["question"], first["value"]) == ("site", "office")
    assert first["of"] * 2 == total and first["empty"] == first["of"]
    assert first["share_of_value"] == 1.0 and first["share_of_all"] == 0.5
    assert "site = office: 100% of its combinations recommend nothing (50.0% of all)" in gap.message
    # A region is listed when at least half-way from the overall share to 100% of its
    # combinations are empty, the largest (most empty combinations) first.
    overall = gap.details["combinations"] / total
    assert all(r["share_of_value"] >= (1 + overall) / 2 for r in regions)
    sizes = [r["empty"] for r in regions]
    assert sizes == sorted(sizes, reverse=True)
    assert gap.severity == "warning"  # the office half alone is over the 25% warning share
