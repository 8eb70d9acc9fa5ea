"""Generated docs (rules reference, JSON Schemas) must match the rule base they describe."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpu_advisor.present import docgen
from gpu_advisor.core.consult import Engine

from .conftest import ROOT


@pytest.mark.parametrize("generator", [docgen.write_reference, docgen.write_schemas],
                         ids=["rules-reference", "schemas"])
def test_generated_docs_are_fresh(tmp_path: Path, engine: Engine, generator: docgen.Generator) -> None:
    for fresh in generator(tmp_path, engine):
        committed = ROOT / "docs" / fresh.relative_to(tmp_path)
        assert committed.exists(), f"{committed} is missing; run {docgen.REGENERATE}"
        assert committed.read_text(encoding="utf-8") == fresh.read_text(encoding="utf-8"), (
            f"{committed.relative_to(ROOT)} is stale; run {docgen.REGENERATE}")


def test_reference_lists_every_rule_and_question(engine: Engine) -> None:
    text = docgen.rules_reference(engine.rulebase)
    for rule in engine.rulebase.rules:
        assert f"### `{rule.id}`" in text
    for key in engine.rulebase.questions:
        assert f"| `{key}` |" in text
