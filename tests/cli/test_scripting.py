"""The command line as scripts use it: version, python -m, completion, exit statuses, JSON
errors, every answer mistake at once, answers on standard input, numbers with suffixes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

SCHEMAS = ROOT / "docs" / "schema"


def run(
    *args: str,
    stdin: str | None = None,
    module: str = "gpu_advisor.cli.main",
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        timeout=120,
        input=stdin,
        env={**os.environ, "COLUMNS": "120"},
    )


def test_version_and_python_m() -> None:
    from gpu_advisor.version import __version__

    result = run("--version", module="gpu_advisor")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"gpu-advisor {__version__}"


def test_recommend_exits_3_when_nothing_fits_and_0_when_something_does() -> None:
    nothing = run("recommend", "--set", "budget_usd=100", "--no-counterfactuals")
    assert nothing.returncode == 3, nothing.stderr
    assert "No device fits" in nothing.stdout
    something = run("recommend", "--set", "workload=inference", "--no-counterfactuals")
    assert something.returncode == 0, something.stderr
    assert "exit status" in run("recommend", "--help").stdout


def test_json_errors_are_json_on_stderr() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((SCHEMAS / "error.schema.json").read_text(encoding="utf-8"))
    for args in (
        ["recommend", "--format", "json", "--set", "workload=nope"],
        ["recommend", "--format=json", "--bogus-flag"],
        ["recommend", "--format", "json", "--answers", "missing.yaml"],
    ):
        result = run(*args)
        assert result.returncode == 2, result.stderr
        error = json.loads(result.stderr)
        jsonschema.validate(error, schema)
        assert error["status"] == 2


def test_every_answer_mistake_is_reported_at_once(tmp_path: Path) -> None:
    answers = tmp_path / "answers.yaml"
    answers.write_text(
        "wokload: inference\nmodel_params_b: big\nbudget_usd: cheap\n", encoding="utf-8"
    )
    result = run("recommend", "--answers", str(answers))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 3, lines
    assert "wokload" in lines[0] and "model_params_b" in lines[1] and "budget_usd" in lines[2]
    as_json = json.loads(run("recommend", "--format", "json", "--answers", str(answers)).stderr)
    assert len(as_json["errors"]) == 3


def test_answers_from_standard_input() -> None:
    result = run(
        "recommend",
        "--answers",
        "-",
        "--format",
        "json",
        "--no-counterfactuals",
        stdin="workload: inference\nmodel_params_b: 13\n",
    )
    assert result.returncode in (0, 3), result.stderr
    assert json.loads(result.stdout)["answers"]["model_params_b"] == 13


@pytest.mark.parametrize(
    ("key", "text", "value"),
    [
        ("model_params_b", "13B", 13),
        ("model_params_b", "70b", 70),
        ("model_params_b", "350M", 0.35),
        ("budget_usd", "20k", 20000),
        ("budget_usd", "$1.5M", 1_500_000),
        ("context_tokens", "32k", 32000),
        ("concurrent_users", "2K", 2000),
    ],
)
def test_numbers_with_suffixes(engine, key: str, text: str, value: float) -> None:
    from gpu_advisor.core.answers import coerce

    question = engine.rulebase.questions[key]
    assert coerce(question, text, engine.rulebase.knowledge) == value


def test_a_number_that_is_not_one_shows_the_accepted_form(engine) -> None:
    from gpu_advisor.core.answers import coerce
    from gpu_advisor.errors import UsageError

    with pytest.raises(UsageError, match="13B"):
        coerce(engine.rulebase.questions["model_params_b"], "13 billion", engine.rulebase.knowledge)
    with pytest.raises(UsageError, match="20k"):
        coerce(engine.rulebase.questions["budget_usd"], "lots", engine.rulebase.knowledge)


def test_no_terminal_is_a_clear_error_not_a_hang() -> None:
    result = run(stdin="")
    assert result.returncode == 2
    assert "needs a terminal" in result.stderr
    assert "\x1b" not in result.stdout + result.stderr


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts(shell: str) -> None:
    result = run("completion", shell)
    assert result.returncode == 0, result.stderr
    script = result.stdout
    for word in ("recommend", "format", "model_params_b", "rtx-5090"):
        assert word in script, word


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash not installed")
def test_bash_completion_completes_commands_keys_and_devices(tmp_path: Path) -> None:
    script = tmp_path / "completion.bash"
    script.write_text(run("completion", "bash").stdout, encoding="utf-8")
    probe = tmp_path / "probe.sh"
    probe.write_text(
        f'source "{script}"\n'
        't() { COMP_LINE="$1"; COMP_POINT=${#1}; COMPREPLY=(); _gpu_advisor; echo '
        '"${COMPREPLY[*]}"; }\n'
        't "gpu-advisor reco"\n'
        't "gpu-advisor recommend --set model_p"\n'
        't "gpu-advisor recommend --set workload=inf"\n'
        't "gpu-advisor recommend --set candidates=rtx-50"\n',
        encoding="utf-8",
    )
    lines = subprocess.run(
        ["bash", str(probe)],
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout.splitlines()
    assert lines[0] == "recommend"
    assert lines[1] == "model_params_b="
    assert lines[2].endswith("inference")
    assert "rtx-5090" in lines[3]
