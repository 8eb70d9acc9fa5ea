"""Shared fixtures: the shipped knowledge base and rules, loaded once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpu_advisor.core.consult import Engine

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def engine() -> Engine:
    return Engine.load(ROOT / "kb", ROOT / "rules")


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests never read or write the user's rule-base cache."""
    import os

    os.environ["GPU_ADVISOR_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
