"""Every file the command line writes goes through the safe writer: /dev/null stays a device,
a link's target is written (the link kept), a file keeps its mode, a graph is never half written."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

DEPLOY = (
    "deploy",
    "--device",
    "h100-sxm",
    "--gpus",
    "8",
    "--set",
    "workload=fine-tuning",
    "--set",
    "model_params_b=7",
)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gpu_advisor", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def test_deploy_to_dev_null_keeps_it_a_device() -> None:
    result = run(*DEPLOY, "-o", "/dev/null")
    assert result.returncode == 0, result.stderr
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_deploy_writes_through_a_link_and_keeps_the_mode(tmp_path: Path) -> None:
    target = tmp_path / "ds.json"
    target.write_text("old", encoding="utf-8")
    os.chmod(target, 0o644)
    link = tmp_path / "link.json"
    link.symlink_to(target)
    result = run(*DEPLOY, "-o", str(link))
    assert result.returncode == 0, result.stderr
    assert link.is_symlink() and target.read_text(encoding="utf-8") != "old"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o644


def test_graph_export_is_written_safely(tmp_path: Path, monkeypatch) -> None:
    from gpu_advisor.core.consult import Engine
    from gpu_advisor.knowledge import safe_files
    from gpu_advisor.present import graph

    calls: list[str] = []
    original = safe_files.write_bytes_safely
    monkeypatch.setattr(
        safe_files,
        "write_bytes_safely",
        lambda path, data: (calls.append(str(path)), original(path, data)),
    )
    out = tmp_path / "tree.dot"
    out.write_text("old", encoding="utf-8")
    os.chmod(out, 0o600)
    graph.export_graph(None, Engine.load(), "dot", out)
    assert calls == [str(out)]
    assert out.read_text(encoding="utf-8").startswith("digraph")
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600


def test_nothing_writes_with_the_old_writer() -> None:
    for folder in ("engine/cli", "tui", "engine/present"):
        for path in (ROOT / folder).rglob("*.py"):
            assert "write_atomically" not in path.read_text(encoding="utf-8"), path
