"""The JSON report carries its schema version and matches the published JSON Schema."""

from __future__ import annotations

import json

import pytest

from tests.conftest import ROOT

jsonschema = pytest.importorskip("jsonschema")
SCHEMA = json.loads(
    (ROOT / "docs" / "schema" / "consultation.schema.json").read_text(encoding="utf-8")
)


@pytest.mark.parametrize(
    "answers",
    [
        {"workload": "inference", "model_params_b": 70, "budget_usd": 5000},
        {"workload": "fine-tuning", "model_params_b": 13},
        {"workload": "scientific"},
        {"budget_usd": 100},
    ],
)
def test_real_output_matches_the_schema(engine, answers: dict[str, object]) -> None:
    from gpu_advisor.present.formats import render_report
    from gpu_advisor.present.report import SCHEMA_VERSION

    data = json.loads(render_report(engine.consult(answers), "json", counterfactuals=False))
    jsonschema.validate(data, SCHEMA)
    assert data["schema_version"] == SCHEMA_VERSION


def test_excluded_lists_every_rule_that_excluded_a_device(engine) -> None:
    from gpu_advisor.present.formats import render_report

    consultation = engine.consult(
        {"workload": "inference", "model_params_b": 70, "budget_usd": 5000}
    )
    data = json.loads(render_report(consultation, "json", counterfactuals=False))
    for entry in data["excluded"]:
        every = consultation.all_exclusions[entry["device"]]
        assert {entry["rule"], *(a["rule"] for a in entry["also"])} == {e.rule for e in every}
    assert any(entry["also"] for entry in data["excluded"])
