"""Every rule's own examples run through the engine (durable_rules) and must hold."""

from __future__ import annotations

import pytest

from gpu_advisor.audit.lint import check_example
from gpu_advisor.core.consult import Engine
from gpu_advisor.knowledge.cache import load_rulebase_cached

from ..conftest import ROOT


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One case per example of every shipped rule, listed when the tests are collected.

    Collection needs the rule base but not the engine: the rules are read here (through the
    cache, which conftest has already moved into the session's private home), and each case
    finds its rule and example again in the session's engine when it runs.
    """
    if "example_index" not in metafunc.fixturenames:
        return
    rulebase = load_rulebase_cached(ROOT / "kb", ROOT / "rules")
    metafunc.parametrize(
        ("rule_id", "example_index"),
        [
            pytest.param(rule.id, index, id=f"{rule.id}:{example.name}")
            for rule in rulebase.rules
            for index, example in enumerate(rule.examples)
        ],
    )


def test_rule_example(engine: Engine, rule_id: str, example_index: int) -> None:
    rule = engine.rulebase.rule(rule_id)
    example = rule.examples[example_index]
    problems = check_example(engine, rule, example)
    assert not problems, f"{example.location}: {rule.id} / {example.name}: " + "; ".join(problems)


def test_every_rule_has_examples_rationale_and_sources(engine: Engine) -> None:
    for rule in engine.rulebase.rules:
        assert rule.examples, f"{rule.location}: {rule.id} has no examples"
        assert rule.because.strip(), f"{rule.id} has no rationale"
        assert rule.sources, f"{rule.id} has no sources"
