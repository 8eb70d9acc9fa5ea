"""Broken rule and knowledge files: every problem reported at once, each at its place."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from gpu_advisor.core.consult import Engine
from gpu_advisor.errors import FileErrors

from ..conftest import ROOT

GOOD_RULE = """\
topic: extra
title: Extra rules made for a test
rules:
  - id: extra.ok
    description: fine
    when: answer.deployment == production
    then:
      require: needs_ecc
    because: fine
    sources: [seed-000]
"""


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    shutil.copytree(ROOT / "kb", tmp_path / "kb")
    return tmp_path


def load_errors(tree: Path) -> list[str]:
    with pytest.raises(FileErrors) as info:
        Engine.load(tree / "kb", tree / "rules")
    return [str(e) for e in info.value.errors]


def write_rule(tree: Path, text: str) -> Path:
    path = tree / "rules" / "extra.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_fixture_tree_loads_before_it_is_broken(tree: Path) -> None:
    write_rule(tree, GOOD_RULE)
    assert Engine.load(tree / "kb", tree / "rules").rulebase.rule("extra.ok")


def test_all_problems_of_a_file_are_reported_with_positions(tree: Path) -> None:
    path = write_rule(
        tree,
        """\
topic: extra
title: Broken on purpose
rules:
  - id: extra.one
    description: unknown answer, bad value, unknown source
    when:
      all:
        - answer.deploymnt == production
        - answer.workload == inferense
    then:
      exclude: true
    because: see {device.memory_gbb}
    sources: [seed-009]
  - id: extra.two
    description: syntax error in a leaf
    when: answer.max_gpus >> 2
    then:
      warn: hello
    because: x
    sources: [seed-000]
""",
    )
    errors = load_errors(tree)
    where = str(path)
    expected = [
        (f"{where}:8:11", "unknown answer 'deploymnt' (did you mean 'deployment'?)"),
        (
            f"{where}:9:11",
            "'inferense' is not a value of answer.workload (did you mean 'inference'?)",
        ),
        (f"{where}:12:14", "unknown device 'memory_gbb' (did you mean 'memory_gb'?)"),
        (f"{where}:13:15", "unknown source 'seed-009'"),
        (f"{where}:16:28", "in condition 'answer.max_gpus >> 2': expected a value, found '>'"),
    ]
    for prefix, message in expected:
        assert any(e.startswith(prefix) and message in e for e in errors), (prefix, message, errors)


def test_duplicate_keys_and_duplicate_ids(tree: Path) -> None:
    path = write_rule(tree, GOOD_RULE + GOOD_RULE.split("rules:\n", 1)[1])
    assert any(str(path) in e and "duplicate rule id 'extra.ok'" in e for e in load_errors(tree))
    write_rule(
        tree, GOOD_RULE.replace("    because: fine\n", "    because: fine\n    because: twice\n")
    )
    assert any(
        re.search(r"extra\.yaml:10:5: duplicate key 'because' \(first defined at line 9\)", e)
        for e in load_errors(tree)
    )


def test_a_rule_id_used_by_two_files_is_reported_at_the_second(tree: Path) -> None:
    first = write_rule(tree, GOOD_RULE)
    second = tree / "rules" / "more.yaml"  # sorts after extra.yaml, so it is read second
    second.write_text(
        GOOD_RULE.replace("topic: extra", "topic: more").replace("extra.ok", "more.first")
        + GOOD_RULE.split("rules:\n", 1)[1],
        encoding="utf-8",
    )
    assert load_errors(tree) == [
        f"{second}:11:5: duplicate rule id 'extra.ok' (first at {first}:4:5)"
    ]


def test_schema_errors_name_the_key_and_suggest(tree: Path) -> None:
    write_rule(tree, GOOD_RULE.replace("    sources: [seed-000]\n", "    sorces: [seed-000]\n"))
    errors = load_errors(tree)
    assert any(
        "unknown key 'sorces' (did you mean 'sources'?)" in e and ":10:5:" in e for e in errors
    ), errors
    assert any("missing required key 'sources'" in e for e in errors), errors


def test_type_mismatches_and_mixed_joins_are_rejected(tree: Path) -> None:
    write_rule(
        tree,
        """\
topic: extra
title: Types
rules:
  - id: extra.types
    description: compares a bool with a number, and mixes a device test with an answer in any
    when:
      - device.ecc > 3
      - any:
          - device.memory_gb < 48
          - answer.deployment == production
    then:
      exclude: true
    because: x
    sources: [seed-000]
""",
    )
    errors = load_errors(tree)
    assert any("device.ecc is a bool; 3 is not" in e and ":7:9:" in e for e in errors), errors
    assert any("mixes device facts with answers" in e and ":10:13:" in e for e in errors), errors


def test_rules_that_depend_on_each_other_in_a_cycle(tree: Path) -> None:
    facts = tree / "rules" / "facts.yaml"
    facts.write_text(
        facts.read_text() + "  loop_a: {type: bool, kind: intermediate, description: a}\n"
        "  loop_b: {type: bool, kind: intermediate, description: b}\n"
    )
    write_rule(
        tree,
        """\
topic: extra
title: Cycle
rules:
  - id: extra.a
    description: a from b
    when: fact.loop_b
    then: {derive: {loop_a: true}}
    because: x
    sources: [seed-000]
  - id: extra.b
    description: b from a
    when: fact.loop_a
    then: {derive: {loop_b: true}}
    because: x
    sources: [seed-000]
""",
    )
    assert any("cycle" in e and "extra.a" in e and "extra.b" in e for e in load_errors(tree))


def test_knowledge_base_errors(tree: Path) -> None:
    device = tree / "kb" / "devices" / "rtx-5090.yaml"
    text = device.read_text()
    text = text.replace(
        "memory_gb: {value: 32, source: seed-000#specs}",
        "memory_gb: {value: 0, source: seed-00#specs}",
    )
    text = text.replace("driver_class: {value: geforce,", "driver_class: {value: gefroce,")
    device.write_text(text)
    errors = load_errors(tree)
    assert any(
        "rtx-5090.yaml" in e and "memory_gb: 0 is outside the plausible range" in e for e in errors
    ), errors
    assert any("unknown source 'seed-00'" in e for e in errors), errors
    assert any(
        "'gefroce' is not geforce, professional, datacenter, macos (did you mean 'geforce'?)" in e
        for e in errors
    )
    assert all(re.match(r"^.+:\d+:\d+: ", e) for e in errors), errors


def test_disagreeing_values_must_say_why_one_is_preferred(tree: Path) -> None:
    device = tree / "kb" / "devices" / "rtx-5090.yaml"
    text = device.read_text()
    old = "memory_gb: {value: 32, source: seed-000#specs}"
    assert old in text
    device.write_text(
        text.replace(
            old,
            "memory_gb: {value: 32, source: seed-000#specs, "
            "alternatives: [{value: 30, source: seed-001}]}",
        )
    )
    errors = load_errors(tree)
    assert any(
        "rtx-5090.yaml" in e and "sources disagree; say why the preferred value wins" in e
        for e in errors
    ), errors


def test_yaml_syntax_error_has_a_position(tree: Path) -> None:
    write_rule(tree, "topic: extra\ntitle: [unclosed\n")
    assert any(re.search(r"extra\.yaml:\d+:\d+: YAML syntax error", e) for e in load_errors(tree))


def test_a_schema_error_in_one_rule_hides_no_problem_in_another(tree: Path) -> None:
    path = write_rule(
        tree,
        GOOD_RULE.replace("    sources: [seed-000]\n", "    sources: [seed-000]\n    colour: red\n")
        + GOOD_RULE.split("rules:\n", 1)[1].replace("answer.deployment", "answer.deploymnt"),
    )
    errors = load_errors(tree)
    assert any(str(path) in e and "unknown key 'colour'" in e for e in errors), errors
    assert any(str(path) in e and "unknown answer 'deploymnt'" in e for e in errors), errors
    assert any(str(path) in e and "duplicate rule id 'extra.ok'" in e for e in errors), errors
