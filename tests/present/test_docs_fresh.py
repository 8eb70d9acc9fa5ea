"""Generated docs (rules reference, JSON Schemas) must match the rule base they describe."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpu_advisor.core.consult import Engine
from gpu_advisor.present import docgen

from ..conftest import ROOT


@pytest.mark.parametrize(
    "generator", [docgen.write_reference, docgen.write_schemas], ids=["rules-reference", "schemas"]
)
def test_generated_docs_are_fresh(
    tmp_path: Path, engine: Engine, generator: docgen.Generator
) -> None:
    for fresh in generator(tmp_path, engine):
        committed = ROOT / "docs" / fresh.relative_to(tmp_path)
        assert committed.exists(), f"{committed} is missing; run {docgen.REGENERATE}"
        assert committed.read_text(encoding="utf-8") == fresh.read_text(encoding="utf-8"), (
            f"{committed.relative_to(ROOT)} is stale; run {docgen.REGENERATE}"
        )


def test_reference_lists_every_rule_and_question(engine: Engine) -> None:
    text = docgen.rules_reference(engine.rulebase)
    for rule in engine.rulebase.rules:
        assert f"### `{rule.id}`" in text
    for key in engine.rulebase.questions:
        assert f"| `{key}` |" in text


def test_the_architecture_picture_is_drawn_from_the_current_imports() -> None:
    from gpu_advisor.present.architecture import architecture_dot
    from gpu_advisor.present.graph_docs import dot_digest, recorded_digest

    dot = architecture_dot(ROOT)
    committed = ROOT / "docs" / "architecture.dot"
    assert committed.read_text(encoding="utf-8") == dot, (
        f"docs/architecture.dot is stale; run {docgen.REGENERATE}"
    )
    svg = (ROOT / "docs" / "architecture.svg").read_text(encoding="utf-8")
    assert recorded_digest(svg) == dot_digest(dot), (
        f"docs/architecture.svg was not drawn from docs/architecture.dot; run {docgen.REGENERATE}"
    )


def test_architecture_page_names_every_layer() -> None:
    from gpu_advisor.present.imports import LAYERS

    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert "architecture.svg" in page
    for names in LAYERS:
        for name in names:
            assert f"`{name}`" in page, name
