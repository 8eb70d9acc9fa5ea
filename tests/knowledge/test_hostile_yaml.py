"""Hostile data files (issue 17): a billion laughs, a device that never ends, numbers no rule
should hold. Each is one clear error at its place, quickly, never a traceback or a hang."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gpu_advisor.core.consult import Engine
from gpu_advisor.errors import FileErrors, UsageError
from gpu_advisor.knowledge.answers import load_answers_file
from gpu_advisor.knowledge.yamlio import load_yaml

from ..conftest import ROOT


def billion_laughs() -> str:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    lines.append("workload: *a9")
    return "\n".join(lines) + "\n"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gpu_advisor", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    shutil.copytree(ROOT / "kb", tmp_path / "kb")
    return tmp_path


def load_errors(tree: Path) -> list[str]:
    with pytest.raises(FileErrors) as info:
        Engine.load(tree / "kb", tree / "rules")
    return [str(e) for e in info.value.errors]


def test_a_billion_laughs_answers_file_is_one_quick_error(tmp_path: Path) -> None:
    path = tmp_path / "answers.yaml"
    path.write_text(billion_laughs(), encoding="utf-8")
    start = time.monotonic()
    with pytest.raises(UsageError) as info:
        load_answers_file(str(path))
    assert time.monotonic() - start < 2
    assert re.search(rf"{re.escape(str(path))}:\d+:\d+: .*more than", str(info.value))


def test_a_billion_laughs_rule_file_is_one_error_at_its_place(tree: Path) -> None:
    (tree / "rules" / "extra.yaml").write_text(billion_laughs(), encoding="utf-8")
    start = time.monotonic()
    errors = load_errors(tree)
    assert time.monotonic() - start < 2
    assert len(errors) == 1 and re.match(r".*extra\.yaml:\d+:\d+: .*more than", errors[0])


def test_the_command_line_refuses_dev_zero_quickly_without_a_traceback() -> None:
    start = time.monotonic()
    result = cli("recommend", "--answers", "/dev/zero")
    assert time.monotonic() - start < 30  # a Python start-up; reading /dev/zero never ends
    assert result.returncode == 2, result.stderr
    assert "/dev/zero" in result.stderr and "Traceback" not in result.stderr


def test_the_command_line_refuses_a_billion_laughs_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "answers.yaml"
    path.write_text(billion_laughs(), encoding="utf-8")
    result = cli("recommend", "--answers", str(path))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "more than" in result.stderr


@pytest.mark.parametrize(
    ("value", "message"),
    [(".nan", "not a finite number"), (".inf", "not a finite number"), ("9" * 500, "digits")],
)
def test_a_rule_file_with_a_bad_number_is_refused_at_its_place(
    tree: Path, value: str, message: str
) -> None:
    path = tree / "rules" / "ranking.yaml"
    text = path.read_text(encoding="utf-8")
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "weight: 0.5" in row)
    path.write_text(text.replace("weight: 0.5", f"weight: {value}", 1), encoding="utf-8")
    errors = load_errors(tree)
    assert any(re.match(rf".*ranking\.yaml:{line}:\d+: .*{message}", error) for error in errors), (
        errors
    )


def test_nan_ranking_weights_are_refused(tree: Path) -> None:
    path = tree / "rules" / "ranking.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("weight: 3", "weight: .NaN", 1), encoding="utf-8")
    assert any("ranking.yaml:" in e and "finite" in e for e in load_errors(tree))


def test_every_bad_number_of_a_file_is_reported_with_its_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("a: .nan\nb: 1\nb: 2\nc: -.inf\n", encoding="utf-8")
    with pytest.raises(FileErrors) as info:
        load_yaml(path)
    shown = [str(e) for e in info.value.errors]
    assert [s.split(": ")[0] for s in shown] == [f"{path}:1:4", f"{path}:3:1", f"{path}:4:4"]


def test_a_fifo_and_a_huge_file_are_refused_by_the_loader(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    with pytest.raises(FileErrors, match="FIFO"):
        load_yaml(fifo)
    huge = tmp_path / "huge.yaml"
    with huge.open("wb") as out:
        out.truncate(64 * 1024 * 1024)
    with pytest.raises(FileErrors, match="limit"):
        load_yaml(huge)
    with pytest.raises(FileErrors, match="no such file"):
        load_yaml(tmp_path / "missing.yaml")
