"""The answer ``model``: a catalog id or a model's own files, checked when the answers are read,
and the files' parameter count replacing model_params_b (the report says so)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpu_advisor.arithmetic.context import sizing_request
from gpu_advisor.arithmetic.model_memory import FileModel
from gpu_advisor.core.consult import Engine
from gpu_advisor.errors import UsageError
from gpu_advisor.knowledge.answers import normalize_answers
from gpu_advisor.knowledge.model_files import is_file_reference

MODELS = Path(__file__).parents[1] / "fixtures" / "models"
MIXTRAL = str(MODELS / "mixtral-8x7b")


def answers(engine: Engine, **raw: object) -> object:
    return normalize_answers(engine.rulebase.questions, raw, engine.rulebase.knowledge)


def test_a_catalog_id_stays_a_catalog_model(engine: Engine) -> None:
    given = answers(engine, workload="inference", model="Llama-3.1-8B-Instruct")
    assert given.values["model"] == "llama-3.1-8b"  # type: ignore[attr-defined]


def test_a_model_folder_sets_the_parameter_count_and_says_it_replaced_the_given_one(
    engine: Engine,
) -> None:
    given = answers(engine, workload="inference", model=MIXTRAL, model_params_b=70)
    values, ignored = given.values, given.ignored  # type: ignore[attr-defined]
    assert values["model"] == MIXTRAL
    # 46,702,792,704 parameters computed from the config's shape -> 46.7 (two decimals)
    assert values["model_params_b"] == 46.7
    assert ignored["model_params_b"] == (
        f"the model file {MIXTRAL} (46,702,792,704 parameters, computed from its config) "
        "has 46.7B parameters, which replace the count given"
    )
    request = sizing_request(given)  # type: ignore[arg-type]
    assert isinstance(request.model, FileModel)
    assert request.params_b == pytest.approx(46.702792704)  # the exact count, not 46.7


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (str(MODELS / "mixtral-8x8b"), "model: .*mixtral-8x8b: no such file or folder"),
        ("llama-9b", "model: unknown model 'llama-9b'.*or give a model's config.json"),
    ],
)
def test_bad_model_answers_say_what_is_wrong(engine: Engine, value: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        answers(engine, workload="inference", model=value)


def test_a_malformed_config_is_reported_at_its_line_and_column(
    engine: Engine, tmp_path: Path
) -> None:
    broken = tmp_path / "config.json"
    broken.write_text('{\n  "num_hidden_layers": 2,\n  "hidden_size": oops\n}\n')
    with pytest.raises(UsageError, match=rf"model: {broken}:3:\d+: not valid JSON"):
        answers(engine, workload="inference", model=str(broken))


def test_file_references_are_told_from_catalog_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mistral-7b").mkdir()  # a stray folder does not hide the catalog's model
    assert not is_file_reference("mistral-7b", {"mistral-7b"})
    assert is_file_reference("./mistral-7b", {"mistral-7b"})
    assert is_file_reference("config.json") and is_file_reference("m.gguf")
    (tmp_path / "my-model").mkdir()
    assert is_file_reference("my-model", {"mistral-7b"})
    assert not is_file_reference("no-such-model", {"mistral-7b"})


def test_a_consultation_sizes_the_files_model(engine: Engine) -> None:
    consultation = engine.consult({"workload": "inference", "model": MIXTRAL})
    # bf16, every expert resident: 46,702,792,704 x 2 B = 93.41 GB of weights
    assert consultation.facts["weights_gb"] == 93.41
    sizing = consultation.to_json()["sizing"]
    assert sizing["request"]["model_files"].endswith("mixtral-8x7b/config.json")
    assert any("8 experts (num_local_experts)" in note for note in sizing["assumptions"])
