"""Every rule's own examples run through the engine (durable_rules) and must hold."""

from __future__ import annotations

from typing import Any

import pytest

from gpu_advisor.audit.lint import check_example
from gpu_advisor.core.consult import Engine
from gpu_advisor.knowledge.rulebase import Example, Rule

from .conftest import ROOT

_ENGINE = Engine.load(ROOT / "kb", ROOT / "rules")
CASES = [pytest.param(rule, example, id=f"{rule.id}:{example.name}")
         for rule in _ENGINE.rulebase.rules for example in rule.examples]


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
