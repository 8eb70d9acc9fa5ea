"""Shared fixtures, and a private home for the whole test session.

The first lines below run when pytest imports this file, before any test module and therefore
before any ``gpu_advisor`` module is imported: they point ``HOME``, the XDG folders and the
rule-base cache at a fresh temporary folder, so no test (nor any command a test starts, which
inherits the environment) reads or writes the user's own files, whatever the user's shell has set.
The time zone is fixed too, so that no result can depend on where the tests run.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pytest

IMPORTED_TOO_EARLY = sorted(name for name in sys.modules if name.split(".")[0] == "gpu_advisor")
"""Package modules some plugin imported before the home was replaced (a test checks there are
none)."""

PRIVATE_HOME = Path(tempfile.mkdtemp(prefix="gpu-advisor-test-home-"))
"""The home every test, and every process a test starts, sees instead of the user's (one per
pytest process: each xdist worker makes and removes its own)."""

os.environ["HOME"] = str(PRIVATE_HOME)
for _variable, _folder in (
    ("XDG_CACHE_HOME", ".cache"),
    ("XDG_CONFIG_HOME", ".config"),
    ("XDG_DATA_HOME", ".local/share"),
    ("XDG_STATE_HOME", ".local/state"),
):
    os.environ[_variable] = str(PRIVATE_HOME / _folder)
os.environ["GPU_ADVISOR_CACHE_DIR"] = str(PRIVATE_HOME / "rulebase-cache")
os.environ.pop("GPU_ADVISOR_NO_CACHE", None)  # the cache tests need the cache switched on
os.environ["TZ"] = "UTC"
time.tzset()

from gpu_advisor.core.consult import Engine  # noqa: E402 - only once the environment is private

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
MINI_KB = FIXTURES / "mini_kb"
"""A small knowledge base (four devices, trimmed sources) that the TUI snapshots are drawn from."""
MINI_RULES = FIXTURES / "mini_rules"
"""A handful of rules with the full questionnaire, facts and ranking, for the TUI snapshots."""


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the private home when the session ends."""
    shutil.rmtree(PRIVATE_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def engine() -> Engine:
    """The shipped knowledge base and rules, loaded once per test session."""
    return Engine.load(ROOT / "kb", ROOT / "rules")


@pytest.fixture(scope="session")
def mini_engine() -> Engine:
    """The fixture knowledge base and rules, which change only when a test wants them to."""
    return Engine.load(MINI_KB, MINI_RULES)
