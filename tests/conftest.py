"""Shared fixtures: the shipped knowledge base and rules, loaded once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpu_advisor.consult import Engine

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def engine() -> Engine:
    return Engine.load(ROOT / "kb", ROOT / "rules")
