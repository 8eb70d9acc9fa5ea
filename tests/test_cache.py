"""The rule-base cache: same result as a fresh load, invalidated by edits, robust to damage."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gpu_advisor.knowledge import cache
from gpu_advisor.core.consult import Engine
from gpu_advisor.errors import FileErrors

from .conftest import ROOT


@pytest.fixture()
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    shutil.copytree(ROOT / "kb", tmp_path / "kb")
    monkeypatch.setenv("GPU_ADVISOR_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


def test_cached_and_fresh_loads_give_the_same_consultation(tree: Path) -> None:
    answers = {"workload": "inference", "model_params_b": 70, "max_gpus": 2}
    fresh = Engine.load(tree / "kb", tree / "rules", cached=False).consult(answers)
    first = Engine.load(tree / "kb", tree / "rules")  # writes the cache
    assert len(list((tree / "cache").glob("rulebase-*.pickle"))) == 1
    second = Engine.load(tree / "kb", tree / "rules")  # reads it
    assert first.consult(answers).outcome_key() == fresh.outcome_key()
    assert second.consult(answers).outcome_key() == fresh.outcome_key()
    assert [n.message for n in second.consult(answers).notes] == [n.message for n in fresh.notes]


def test_an_edit_invalidates_the_cache(tree: Path) -> None:
    Engine.load(tree / "kb", tree / "rules")
    ranking = tree / "rules" / "ranking.yaml"
    ranking.write_text(ranking.read_text().replace("lowest-cost: {cost: 1}", "lowest-cost: {cost: 5}"))
    engine = Engine.load(tree / "kb", tree / "rules")
    assert engine.rulebase.priorities["lowest-cost"]["cost"] == 5
    assert len(list((tree / "cache").glob("rulebase-*.pickle"))) == 2


def test_a_broken_file_is_reported_even_after_a_cached_load(tree: Path) -> None:
    Engine.load(tree / "kb", tree / "rules")
    (tree / "rules" / "ranking.yaml").write_text("metrics: [\n")
    with pytest.raises(FileErrors):
        Engine.load(tree / "kb", tree / "rules")


def test_a_damaged_cache_entry_is_ignored_and_replaced(tree: Path) -> None:
    Engine.load(tree / "kb", tree / "rules")
    entry = next((tree / "cache").glob("rulebase-*.pickle"))
    entry.write_bytes(b"not a pickle")
    engine = Engine.load(tree / "kb", tree / "rules")
    assert engine.rulebase.rules
    assert entry.read_bytes() != b"not a pickle"


def test_an_unwritable_cache_folder_is_not_an_error(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tree / "file-not-folder"
    blocker.write_text("")
    monkeypatch.setenv("GPU_ADVISOR_CACHE_DIR", str(blocker / "cache"))
    assert Engine.load(tree / "kb", tree / "rules").rulebase.rules


def test_the_key_covers_every_input(tree: Path) -> None:
    before = cache.fingerprint(tree / "kb", tree / "rules")
    for path in [tree / "kb" / "devices" / "rtx-5090.yaml", tree / "kb" / "claims.yaml",
                 tree / "rules" / "memory.yaml"]:
        assert str(path) in before
    device = tree / "kb" / "devices" / "rtx-5090.yaml"
    device.write_text(device.read_text() + "\n")
    assert cache.fingerprint(tree / "kb", tree / "rules") != before
