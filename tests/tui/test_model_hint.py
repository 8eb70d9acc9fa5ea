"""The hint under the answer ``model`` names every kind of value it takes (issue 15)."""

from __future__ import annotations

from gpu_advisor.core.consult import Engine
from gpu_advisor.tui.widgets.question import range_text


def test_the_model_hint_names_catalog_models_and_model_files(engine: Engine) -> None:
    hint = range_text(engine.rulebase.questions["model"])
    assert hint == (
        "a catalog model, or a config.json, model folder or .gguf; empty: the parameter count"
    )
