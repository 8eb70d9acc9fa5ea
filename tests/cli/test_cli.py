"""The command line as a user runs it: real processes, exit codes, one-line errors, contracts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import ROOT


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gpu_advisor.cli.main", *args],
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        timeout=120,
        env={**os.environ, "COLUMNS": "120"},
    )


def assert_usage_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (
            ["recommend", "--set", "workload=inferense"],
            ["workload", "did you mean 'inference'", "one of:"],
        ),
        (
            ["recommend", "--set", "wokload=inference"],
            ["unknown answer 'wokload'", "did you mean 'workload'"],
        ),
        (["recommend", "--set", "model_params_b=big"], ["model_params_b", "not a number"]),
        (
            ["recommend", "--set", "model_params_b=0"],
            ["model_params_b", "out of range", "0.1..2,000"],
        ),
        (["recommend", "--set", "budget_usd=-1"], ["budget_usd", "out of range"]),
        (["recommend", "--set", "max_gpus=2.5"], ["max_gpus", "not a whole number"]),
        (["recommend", "--set", "sparsity_ready=maybe"], ["sparsity_ready", "true or false"]),
        (
            ["recommend", "--set", "candidates=rtx-5090,h100"],
            ["unknown device 'h100'", "h100-pcie"],
        ),
        (["recommend", "--set", "workload"], ["expected KEY=VALUE"]),
        (["recommend", "--answers", "missing.yaml"], ["missing.yaml", "no such file"]),
        (["recommend", "--format", "pdf"], ["invalid choice: 'pdf'"]),
        (["recomend"], ["unknown command 'recomend'", "did you mean 'recommend'"]),
        (["why", "budget"], ["unknown question 'budget'", "budget_usd"]),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], fragments: list[str]) -> None:
    assert_usage_error(run(*args), *fragments)


def test_malformed_answers_files(tmp_path: Path) -> None:
    bad_yaml = tmp_path / "a.yaml"
    bad_yaml.write_text("workload: [inference\n")
    assert_usage_error(run("recommend", "--answers", str(bad_yaml)), "a.yaml:", "YAML syntax error")
    dup = tmp_path / "d.yaml"
    dup.write_text("workload: inference\nworkload: scientific\n")
    assert_usage_error(
        run("recommend", "--answers", str(dup)), "d.yaml:2:1", "duplicate key 'workload'"
    )
    bad_json = tmp_path / "a.json"
    bad_json.write_text('{"workload": }')
    assert_usage_error(run("recommend", "--answers", str(bad_json)), "a.json:1:", "invalid JSON")
    listing = tmp_path / "l.yaml"
    listing.write_text("- workload\n")
    assert_usage_error(run("recommend", "--answers", str(listing)), "expected a mapping")


def test_broken_rule_files_print_every_problem_with_location(tmp_path: Path) -> None:
    import shutil

    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    (rules / "bad.yaml").write_text(
        "topic: bad\ntitle: t\nrules:\n  - id: bad.one\n    description: d\n"
        "    when: answer.workloud == inference\n    then: {warn: w}\n"
        "    because: b\n    sources: [nowhere]\n"
    )
    result = run("recommend", "--rules", str(rules))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert any(
        line.endswith("unknown answer 'workloud' (did you mean 'workload'?)") and ":6:11:" in line
        for line in lines
    ), lines
    assert any("unknown source 'nowhere'" in line and ":9:" in line for line in lines), lines


def test_answers_file_and_set_flags_combine_with_set_winning(tmp_path: Path) -> None:
    answers = tmp_path / "answers.yaml"
    answers.write_text("workload: inference\nmodel_params_b: 70\nprecision: fp8\n")
    result = run(
        "recommend",
        "--answers",
        str(answers),
        "--set",
        "precision=fp4",
        "--format",
        "json",
        "--no-counterfactuals",
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["answers"]["precision"] == "fp4"
    assert data["answers"]["model_params_b"] == 70


def test_json_contract() -> None:
    result = run(
        "recommend",
        "--set",
        "workload=fine-tuning",
        "--set",
        "model_params_b=7",
        "--set",
        "deployment=production",
        "--format",
        "json",
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    for key in ("answers", "facts", "recommendations", "excluded", "warnings", "trace"):
        assert key in data
    rec = data["recommendations"][0]
    assert {"device", "count", "cost_usd", "score", "reasons"} <= set(rec)
    assert {"rule", "because", "sources"} <= set(rec["reasons"][0])
    assert all({"device", "rule", "because"} <= set(e) for e in data["excluded"])
    assert any(e["device"] == "rtx-5090" for e in data["excluded"])
    assert data["answers"]["workload"] == "fine-tuning" and data["answers"]["method"] == "lora"
    assert data["facts"]["needs_ecc"] is True
    assert all({"rule", "stage"} <= set(t) for t in data["trace"])
    changes = {c["device"]: c["changes"] for c in data["explanation"]["what_would_change"]}
    # issue 13: only changes a buyer controls are suggested; production work needs ECC and
    # validated drivers, so nothing brings the RTX 5090 back (it was "if deployment were hobby")
    assert "rtx-5090" not in changes
    budget = run(
        "recommend",
        "--set",
        "workload=fine-tuning",
        "--set",
        "model_params_b=7",
        "--set",
        "budget_usd=5000",
        "--set",
        "candidates=rtx-5090,rtx-pro-6000-blackwell",
        "--format",
        "json",
    )
    items = json.loads(budget.stdout)["explanation"]["what_would_change"]
    assert items and {"device", "changes", "cost_usd", "rank", "gives_up"} <= set(items[0])
    # card $8,999.99 + its workstation $7,000 = $15,999.99
    assert items[0]["changes"] == [{"answer": "budget_usd", "from": 5000, "to": 16000}]


def test_nothing_fits_is_exit_3_with_explanations() -> None:
    """Issue 16: a documented status for "no device meets the answers" (was 0)."""
    result = run(
        "recommend",
        "--set",
        "workload=fine-tuning",
        "--set",
        "model_params_b=405",
        "--set",
        "method=full",
        "--set",
        "candidates=rtx-5090,rtx-a5000",
    )
    assert result.returncode == 3, result.stderr
    assert "No device fits these answers" in result.stdout
    assert "x rtx-5090:" in result.stdout and "memory.vram-ceiling" in result.stdout


def test_markdown_report_has_the_sections() -> None:
    result = run(
        "recommend",
        "--set",
        "workload=inference",
        "--set",
        "model_params_b=70",
        "--format",
        "markdown",
        "--no-counterfactuals",
    )
    assert result.returncode == 0
    for heading in (
        "# GPU recommendation",
        "## Answers",
        "## Memory",
        "## Recommended",
        "## Sources",
        "## Trace",
    ):
        assert heading in result.stdout


def test_works_from_any_directory(tmp_path: Path) -> None:
    result = run("recommend", "--set", "workload=inference", "--no-counterfactuals", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Buy ")


def test_questions_and_why() -> None:
    listing = run("questions")
    assert listing.returncode == 0 and "method: How will you fine-tune?" in listing.stdout
    assert "asked when answer.workload == fine-tuning" in listing.stdout
    why = run("why", "deployment")
    assert why.returncode == 0
    assert "reliability.ecc-for-production" in why.stdout


def test_evaluators_print_the_same_verdict() -> None:
    args = [
        "recommend",
        "--set",
        "workload=pretraining",
        "--set",
        "model_params_b=7",
        "--set",
        "max_gpus=8",
        "--format",
        "json",
        "--no-counterfactuals",
    ]
    durable = json.loads(run(*args).stdout)
    python = json.loads(run(*args, "--evaluator", "python").stdout)
    assert durable["recommendations"] == python["recommendations"]
    assert durable["excluded"] == python["excluded"]


def test_recommend_does_not_import_the_heavy_libraries() -> None:
    """The CLI starts fast: `recommend` needs no networkx, Textual, pydantic, graphviz or YAML
    (once the rule base is cached: the first load after a change reads the files and validates
    them with pydantic), with its counterfactuals and lever search or without."""
    assert run("recommend", "--set", "workload=inference", "--no-counterfactuals").returncode == 0
    code = (
        "import contextlib, io, sys; from gpu_advisor.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['recommend', '--set', 'workload=inference', '--no-counterfactuals'])\n"
        "    main(['recommend', '--set', 'workload=inference', '--set', 'model_params_b=70',\n"
        "          '--set', 'max_gpus=2', '--format', 'json'])\n"
        "print(sorted(m for m in ('networkx', 'textual', 'pydantic', 'graphviz', 'yaml') if m in "
        "sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.stdout.strip() == "[]", done.stderr


def test_every_report_format_of_the_registry_is_a_recommend_format() -> None:
    from gpu_advisor.present.formats import REPORT_FORMATS

    for name in REPORT_FORMATS:
        result = run(
            "recommend", "--set", "workload=inference", "--no-counterfactuals", "--format", name
        )
        assert result.returncode == 0 and result.stdout, (name, result.stderr)
    assert run("recommend", "--set", "workload=inference", "--format", "html").stdout.startswith(
        "<!DOCTYPE html>"
    )


def test_a_field_is_worded_with_its_flag_once() -> None:
    from gpu_advisor.errors import UsageError
    from gpu_advisor.present.errors import fields_named, worded

    flags = {"pue": "--pue"}
    assert worded(UsageError("PUE must be at least 1, got 0.9", field="pue"), flags) == (
        "--pue: PUE must be at least 1, got 0.9"
    )
    # older domain code put the flag in the message: it is not doubled
    assert worded(UsageError("--pue: PUE must be at least 1, got 0.9", field="pue"), flags) == (
        "--pue: PUE must be at least 1, got 0.9"
    )
    assert worded(UsageError("no field here"), flags) == "no field here"
    assert worded(UsageError("PUE must be at least 1", field="pue"), {"pue": "PUE"}) == (
        "PUE: PUE must be at least 1"
    )
    with pytest.raises(UsageError, match="^--pue: too low$"), fields_named(flags):
        raise UsageError("too low", field="pue")


def test_plan_errors_name_the_flag_as_before() -> None:
    result = run("plan", "--budget", "1e5", "--pue", "0.9")
    assert_usage_error(result, "gpu-advisor: error: --pue: PUE must be at least 1, got 0.9")
    assert_usage_error(run("plan", "--budget", "1e5", "--price", "x"), "--price: expected ID=USD")


def test_plan_site_is_checked_with_a_suggestion() -> None:
    assert_usage_error(
        run("plan", "--budget", "1e6", "--device", "b200", "--site", "data-center"),
        "gpu-advisor: error: --site: unknown site 'data-center' (did you mean 'datacenter'?)",
        "one of: datacenter, office, server-room",
    )
