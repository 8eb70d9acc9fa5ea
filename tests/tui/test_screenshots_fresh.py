"""The pictures in docs/screenshots are drawn from the shipped knowledge base by
``python -m gpu_advisor.tui.screenshots docs/screenshots``; a change to the screens, the rules or
the knowledge base that redraws one must regenerate it (docs stay true to the code)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gpu_advisor.core.consult import Engine
from gpu_advisor.tui.screenshots import SHOTS, Shot, take

from ..conftest import ROOT

REGENERATE = "python -m gpu_advisor.tui.screenshots docs/screenshots"


@pytest.mark.parametrize("shot", SHOTS, ids=[shot.name for shot in SHOTS])
def test_screenshot_in_the_docs_is_fresh(tmp_path: Path, engine: Engine, shot: Shot) -> None:
    fresh = asyncio.run(take(shot, engine, tmp_path))
    committed = ROOT / "docs" / "screenshots" / fresh.name
    assert committed.exists(), f"{committed} is missing; run {REGENERATE}"
    assert committed.read_text(encoding="utf-8") == fresh.read_text(encoding="utf-8"), (
        f"docs/screenshots/{fresh.name} is stale; run {REGENERATE}"
    )
