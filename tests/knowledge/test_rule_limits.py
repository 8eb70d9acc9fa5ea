"""Rules durable_rules could not run are refused by the loader at the rule's path:line:col,
with what to do instead; what the adapter compiles around loads (issue 17)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gpu_advisor.backends import durable
from gpu_advisor.core.consult import Engine
from gpu_advisor.errors import FileErrors
from gpu_advisor.knowledge import engine_limits
from gpu_advisor.knowledge.engine_limits import (
    DURABLE_MAX_OR_TERMS,
    MAX_FIELDS_PER_RULE,
    MAX_PARTS_PER_RULE,
)
from tests.conftest import MINI_KB, MINI_RULES

HEADER = "topic: zz\ntitle: zz\nrules:\n"


def _rule(rule_id: str, when_lines: list[str], warn: str = "w") -> str:
    body = "\n".join(when_lines)
    return (
        f"  - id: {rule_id}\n    description: d\n    when:\n{body}\n    then:\n"
        f"      warn: {warn}\n    because: b\n    sources: [seed-000#vram]\n"
    )


def _folder(tmp_path: Path, rules: str, facts: str = "") -> Path:
    folder = tmp_path / "rules"
    shutil.copytree(MINI_RULES, folder)
    (folder / "zz.yaml").write_text(HEADER + rules, encoding="utf-8")
    if facts:
        with (folder / "facts.yaml").open("a", encoding="utf-8") as handle:
            handle.write(facts)
    return folder


def _load_errors(folder: Path) -> list[str]:
    with pytest.raises(FileErrors) as caught:
        Engine.load(MINI_KB, folder, cached=False)
    return [str(error) for error in caught.value.errors]


def test_the_adapter_uses_the_limits_the_loader_checks() -> None:
    """One set of numbers: the measurement test reads them through the adapter."""
    for name in ("DURABLE_MAX_OR_TERMS", "MAX_FIELDS_PER_RULE", "MAX_PARTS_PER_RULE"):
        assert getattr(durable, name) == getattr(engine_limits, name)


def test_lists_that_multiply_past_the_parts_limit_are_refused_at_the_rule(tmp_path: Path) -> None:
    """9 any: lists of 600 alternatives each: 600 > 511 splits each list in 2, and all: of 9
    such lists needs 2**9 = 512 durable rules, over MAX_PARTS_PER_RULE = 256. The rule's
    ``when:`` is on line 3 + 3 = 6 of the file (header 3 lines, then id, description,
    ``when:``): its value (the first ``- any:``) starts at line 7, column 7."""
    assert 600 > DURABLE_MAX_OR_TERMS and 2**9 > MAX_PARTS_PER_RULE >= 2**8
    when: list[str] = []
    for k in range(9):
        when.append("      - any:")
        when += [f"          - answer.model_params_b == {k * 1000 + i}" for i in range(600)]
    folder = _folder(tmp_path, _rule("zz.parts", when))
    errors = _load_errors(folder)
    assert len(errors) == 1
    assert errors[0].startswith(f"{folder / 'zz.yaml'}:7:7: too large for the rule engine: ")
    assert "more than 256 engine rules" in errors[0] and "split it into several rules" in errors[0]


def test_a_rule_reading_too_many_facts_is_refused_at_the_rule(tmp_path: Path) -> None:
    """MAX_FIELDS_PER_RULE + 1 = 251 different facts in one rule: one field too many for a
    durable fact (253 fields, of which sid, kind and stage are ours)."""
    count = MAX_FIELDS_PER_RULE + 1
    facts = "".join(
        f"  zz_{i}:\n    type: bool\n    kind: intermediate\n    description: d\n"
        for i in range(count)
    )
    when = [f"      - fact.zz_{i}" for i in range(count)]
    folder = _folder(tmp_path, _rule("zz.wide", when), facts)
    errors = [e for e in _load_errors(folder) if "too large" in e]
    assert errors == [
        f"{folder / 'zz.yaml'}:7:7: too large for the rule engine: reads 251 different answers "
        "and facts; the rule engine takes at most 250 in one rule: split the rule, or derive an "
        "intermediate fact from some of them in a rule of its own"
    ]


def test_what_the_adapter_compiles_around_loads_and_runs(tmp_path: Path) -> None:
    """An any: of 600 alternatives (split in two durable rules), 600 rules of one stage (packed
    into two rulesets), literals durable's parser rejects (1e16, 1e-5) and a comparison of two
    device attributes: all load, and the rules fire as the Python evaluator says."""
    rules = _rule(
        "zz.wide-any",
        ["      any:"] + [f"        - answer.model_params_b == {i}" for i in range(600)],
        "wide",
    )
    rules += "".join(
        _rule(f"zz.r{i}", [f"      - answer.model_params_b > {i}"], f"r{i}") for i in range(600)
    )
    rules += _rule(
        "zz.literals",
        ["      - answer.model_params_b < 1e16", "      - answer.model_params_b > 1e-5"],
        "lit",
    )
    rules += _rule("zz.attr-attr", ["      - device.memory_gb < device.price_usd"], "aa")
    engine = Engine.load(MINI_KB, _folder(tmp_path, rules), cached=False)
    answers = {"workload": "inference", "model_params_b": 7}
    durable_run = engine.consult(answers)
    python_run = engine.consult(answers, evaluator="python")
    assert durable_run.fired == python_run.fired
    fired = {rule for rule, _ in durable_run.fired}
    # model_params_b = 7: the any: has 7; rules r0..r6 have 7 > i; 1e-5 < 7 < 1e16
    assert {"zz.wide-any", "zz.literals", "zz.attr-attr"} <= fired
    assert {f"zz.r{i}" for i in range(600)} & fired == {f"zz.r{i}" for i in range(7)}


@pytest.mark.parametrize(
    ("literal", "message"),
    [
        ("1e999", "1e999 is beyond the range of a float: write a finite number"),
        ("9" * 400, "999999999999999999 is beyond the range of a float"),  # 10**400 > 1.8e308
        ("9" * 5000, "a number of 5,000 characters: too long"),  # int() refuses past 4,300
    ],
)
def test_a_literal_past_a_float_is_refused_where_it_stands(
    tmp_path: Path, literal: str, message: str
) -> None:
    """durable_rules' parser cannot hold it and Python compares it as infinity (or refuses to
    read it). ``    when: `` is 10 characters and ``answer.model_params_b > `` 24 more, so
    the literal is at line 6, column 35."""
    folder = _folder(tmp_path, _rule("zz.big", [f"      answer.model_params_b > {literal}"]))
    text = (
        (folder / "zz.yaml")
        .read_text(encoding="utf-8")
        .replace("    when:\n      answer", "    when: answer")
    )
    (folder / "zz.yaml").write_text(text, encoding="utf-8")
    errors = _load_errors(folder)
    assert len(errors) == 1 and errors[0].startswith(f"{folder / 'zz.yaml'}:6:35: ")
    assert message in errors[0]
