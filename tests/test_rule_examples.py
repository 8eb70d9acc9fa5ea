"""Every rule's own examples run through the engine (durable_rules) and must hold."""

from __future__ import annotations

from typing import Any

import pytest

from gpu_advisor.consult import Engine
from gpu_advisor.rulebase import Example, Rule

from .conftest import ROOT

_ENGINE = Engine.load(ROOT / "kb", ROOT / "rules")
CASES = [pytest.param(rule, example, id=f"{rule.id}:{example.name}")
         for rule in _ENGINE.rulebase.rules for example in rule.examples]


def check_example(engine: Engine, rule: Rule, example: Example, evaluator: str = "durable") -> list[str]:
    """The ways an example fails (empty when it holds)."""
    consultation = engine.consult(dict(example.answers), evaluator=evaluator)
    expect = example.expect
    fired_for = {device for rule_id, device in consultation.fired if rule_id == rule.id}
    problems: list[str] = []
    if expect.fires is not None and bool(fired_for) != expect.fires:
        problems.append(f"expected the rule {'to fire' if expect.fires else 'not to fire'}; fired for {fired_for}")
    for device in expect.fires_for:
        if device not in fired_for:
            problems.append(f"expected it to fire for {device}")
    for device in expect.not_for:
        if device in fired_for:
            problems.append(f"expected it not to fire for {device}")
    for name, value in expect.facts.items():
        if consultation.facts.get(name) != value:
            problems.append(f"expected fact {name} = {value!r}, got {consultation.facts.get(name)!r}")
    ranked = [r.device for r in consultation.recommendations]
    if expect.top is not None and (not ranked or ranked[0] != expect.top):
        problems.append(f"expected {expect.top} on top, got {ranked[:3]}")
    for device in expect.excluded:
        if device not in consultation.all_exclusions:
            problems.append(f"expected {device} excluded")
    for device in expect.recommended:
        if device not in ranked:
            problems.append(f"expected {device} recommended")
    return problems


@pytest.mark.parametrize(("rule", "example"), CASES)
def test_rule_example(engine: Engine, rule: Rule, example: Example) -> None:
    problems = check_example(engine, rule, example)
    assert not problems, f"{example.location}: {rule.id} / {example.name}: " + "; ".join(problems)


def test_every_rule_has_examples_rationale_and_sources(engine: Engine) -> None:
    for rule in engine.rulebase.rules:
        assert rule.examples, f"{rule.location}: {rule.id} has no examples"
        assert rule.because.strip(), f"{rule.id} has no rationale"
        assert rule.sources, f"{rule.id} has no sources"


def test_rule_ids_are_unique(engine: Engine) -> None:
    ids: dict[str, Any] = {}
    for rule in engine.rulebase.rules:
        assert rule.id not in ids, f"duplicate id {rule.id}"
        ids[rule.id] = rule
