"""The rule-base cache: same result as a fresh load, invalidated by edits, robust to damage."""

from __future__ import annotations

import errno
import hashlib
import hmac
import os
import pickle
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gpu_advisor.core.consult import Engine
from gpu_advisor.errors import FileErrors
from gpu_advisor.knowledge import cache

from ..conftest import IMPORTED_TOO_EARLY, PRIVATE_HOME, ROOT


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
    ranking.write_text(
        ranking.read_text().replace("lowest-cost: {cost: 1}", "lowest-cost: {cost: 5}")
    )
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


def test_an_unwritable_cache_folder_is_not_an_error(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tree / "file-not-folder"
    blocker.write_text("")
    monkeypatch.setenv("GPU_ADVISOR_CACHE_DIR", str(blocker / "cache"))
    assert Engine.load(tree / "kb", tree / "rules").rulebase.rules


def test_the_key_covers_every_input(tree: Path) -> None:
    before = cache.fingerprint(tree / "kb", tree / "rules")
    for path in [
        tree / "kb" / "devices" / "rtx-5090.yaml",
        tree / "kb" / "claims.yaml",
        tree / "rules" / "memory.yaml",
    ]:
        assert str(path) in before
    device = tree / "kb" / "devices" / "rtx-5090.yaml"
    device.write_text(device.read_text() + "\n")
    assert cache.fingerprint(tree / "kb", tree / "rules") != before


# ---------------------------------------------------------------------------------------------
# Hardening (issue 17): a planted or damaged entry is a miss, never code run, a crash or a hang


class _Planted:
    """Unpickling this creates a marker file: proof that an entry's code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (Path.touch, (self.marker,))


def _entry(tree: Path) -> Path:
    return next((tree / "cache").glob("rulebase-*.pickle"))


@pytest.fixture()
def _bounded() -> Iterator[None]:
    """A FIFO entry must not block: a hang fails the test after 20 s instead."""

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError("the cache blocked")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(20)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_a_planted_pickle_never_runs(tree: Path) -> None:
    Engine.load(tree / "kb", tree / "rules")
    entry = _entry(tree)
    key = cache.fingerprint(tree / "kb", tree / "rules")
    marker = tree / "pwned"
    entry.write_bytes(pickle.dumps((key, _Planted(marker))))
    assert Engine.load(tree / "kb", tree / "rules").rulebase.rules
    assert not marker.exists()
    # the same payload behind the right header but with a MAC under another key
    payload = pickle.dumps((key, _Planted(marker)))
    forged = hmac.new(b"x" * 32, payload, hashlib.sha256).digest()
    entry.write_bytes(cache._MAGIC + forged + payload)
    assert Engine.load(tree / "kb", tree / "rules").rulebase.rules
    assert not marker.exists()


def test_a_tampered_byte_makes_a_miss(tree: Path) -> None:
    Engine.load(tree / "kb", tree / "rules")
    entry = _entry(tree)
    data = bytearray(entry.read_bytes())
    data[-10] ^= 0xFF
    entry.write_bytes(bytes(data))
    assert Engine.load(tree / "kb", tree / "rules").rulebase.rules
    assert entry.read_bytes() != bytes(data)


@pytest.mark.parametrize(
    "error", [MemoryError, OverflowError, RecursionError, ValueError, KeyError]
)
def test_any_failure_to_unpickle_is_a_miss(
    tree: Path, monkeypatch: pytest.MonkeyPatch, error: type[Exception]
) -> None:
    Engine.load(tree / "kb", tree / "rules")

    def broken(data: bytes) -> Any:
        raise error("damaged")

    monkeypatch.setattr(cache.pickle, "loads", broken)
    assert Engine.load(tree / "kb", tree / "rules").rulebase.rules
    assert Engine.load(tree / "kb", tree / "rules").rulebase.rules


@pytest.mark.usefixtures("_bounded")
def test_a_fifo_as_the_entry_is_a_miss_not_a_hang(tree: Path) -> None:
    Engine.load(tree / "kb", tree / "rules")
    entry = _entry(tree)
    entry.unlink()
    os.mkfifo(entry)
    assert Engine.load(tree / "kb", tree / "rules").rulebase.rules
    assert entry.is_file()  # replaced by a real entry


def test_a_symlink_as_the_entry_is_not_followed(tree: Path) -> None:
    Engine.load(tree / "kb", tree / "rules")
    entry = _entry(tree)
    victim = tree / "victim"
    victim.write_bytes(entry.read_bytes())
    entry.unlink()
    entry.symlink_to(victim)
    assert Engine.load(tree / "kb", tree / "rules").rulebase.rules
    assert not entry.is_symlink() and entry.is_file()
    assert victim.read_bytes().startswith(cache._MAGIC)  # the link's target was not written


def test_the_key_is_private_and_an_untrustworthy_key_disables_the_cache(tree: Path) -> None:
    Engine.load(tree / "kb", tree / "rules")
    key = tree / "cache" / "key"
    assert stat.S_IMODE(key.lstat().st_mode) == 0o600 and key.stat().st_size == 32
    assert stat.S_IMODE((tree / "cache").stat().st_mode) & 0o077 == 0
    key.chmod(0o644)  # others could have read it: its MACs prove nothing
    for entry in (tree / "cache").glob("rulebase-*.pickle"):
        entry.unlink()
    assert Engine.load(tree / "kb", tree / "rules").rulebase.rules
    assert list((tree / "cache").glob("rulebase-*.pickle")) == []
    key.unlink()
    key.symlink_to(tree / "elsewhere")
    assert Engine.load(tree / "kb", tree / "rules").rulebase.rules
    assert not (tree / "elsewhere").exists()
    assert list((tree / "cache").glob("rulebase-*.pickle")) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the key to another user")
def test_a_key_owned_by_someone_else_is_refused(tree: Path) -> None:
    Engine.load(tree / "kb", tree / "rules")
    os.chown(tree / "cache" / "key", 65534, 65534)
    for entry in (tree / "cache").glob("rulebase-*.pickle"):
        entry.unlink()
    assert Engine.load(tree / "kb", tree / "rules").rulebase.rules
    assert list((tree / "cache").glob("rulebase-*.pickle")) == []


def test_a_full_disk_leaves_no_temporary(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(src: Any, dst: Any) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(cache.os, "replace", full)
    for _ in range(3):
        assert Engine.load(tree / "kb", tree / "rules").rulebase.rules
    assert sorted(p.name for p in (tree / "cache").iterdir()) == ["key"]


def test_old_entries_and_stale_temporaries_are_pruned(tree: Path) -> None:
    Engine.load(tree / "kb", tree / "rules")
    folder = tree / "cache"
    old = time.time() - 10 * cache.STALE_TEMP_SECONDS
    for i in range(8):
        stale = folder / f"rulebase-{i:016x}.pickle"
        stale.write_bytes(b"old")
        os.utime(stale, (old + i, old + i))
    leftover = folder / ".rulebase-abc.tmp"
    leftover.write_bytes(b"")
    os.utime(leftover, (old, old))
    # tables an earlier version pickled apart from the rule base; a fresh one is left alone
    earlier = [folder / "levers-2e6bd444.pickle", folder / "order-0871cd34.pickle"]
    for path in earlier:
        path.write_bytes(b"old")
        os.utime(path, (old, old))
    fresh = folder / "order-aeb3f720.pickle"
    fresh.write_bytes(b"new")
    ranking = tree / "rules" / "ranking.yaml"
    ranking.write_text(ranking.read_text() + "\n")  # a new key: a store, then a prune
    Engine.load(tree / "kb", tree / "rules")
    entries = sorted(folder.glob("rulebase-*.pickle"), key=lambda p: p.stat().st_mtime_ns)
    assert len(entries) == cache.KEEP_ENTRIES
    assert entries[-1] == cache.entry_path(folder, cache.fingerprint(tree / "kb", tree / "rules"))
    assert not leftover.exists()
    assert not any(path.exists() for path in earlier)
    assert fresh.exists()


def test_the_folder_comes_from_platformdirs_unless_overridden(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import platformdirs

    monkeypatch.delenv("GPU_ADVISOR_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_dir() == Path(platformdirs.user_cache_dir("gpu-advisor", appauthor=False))
    assert cache.cache_dir() == tmp_path / "xdg" / "gpu-advisor"
    monkeypatch.setenv("GPU_ADVISOR_CACHE_DIR", str(tmp_path / "mine"))
    assert cache.cache_dir() == tmp_path / "mine"


def _recommend(env: dict[str, str]) -> None:
    """One consultation from the command line, in its own process, which uses the cache."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "gpu_advisor.cli.main",
            "recommend",
            "--set",
            "workload=inference",
            "--set",
            "model_params_b=7",
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )


def _files_under(folder: Path) -> list[Path]:
    return sorted(path.relative_to(folder) for path in folder.rglob("*"))


def test_the_session_runs_in_a_private_home() -> None:
    assert Path.home() == PRIVATE_HOME
    assert PRIVATE_HOME.parent == Path(tempfile.gettempdir())
    for variable in (
        "XDG_CACHE_HOME",
        "XDG_CONFIG_HOME",
        "XDG_DATA_HOME",
        "XDG_STATE_HOME",
        "GPU_ADVISOR_CACHE_DIR",
    ):
        assert Path(os.environ[variable]).is_relative_to(PRIVATE_HOME), variable
    assert cache.cache_dir().is_relative_to(PRIVATE_HOME)
    assert IMPORTED_TOO_EARLY == []  # nothing could read the real home before conftest replaced it


def test_a_consultation_with_the_suites_environment_writes_nothing_under_home(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    _recommend({**os.environ, "HOME": str(home)})
    assert _files_under(home) == []
    assert list(cache.cache_dir().glob("rulebase-*.pickle")), "the run did not use the cache at all"


def test_without_the_suites_environment_the_same_consultation_caches_under_home(
    tmp_path: Path,
) -> None:
    """The check above can fail: the cache's last resort is the home folder (platformdirs)."""
    home = tmp_path / "home"
    home.mkdir()
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("XDG_CACHE_HOME", "GPU_ADVISOR_CACHE_DIR")
    }
    _recommend({**env, "HOME": str(home)})
    folder = home / ".cache" / "gpu-advisor"
    entries = list(folder.glob("rulebase-*.pickle"))
    # The folder holds the entry and the key that authenticates it, nothing else.
    assert entries and _files_under(home) == [
        Path(".cache"),
        Path(".cache/gpu-advisor"),
        Path(".cache/gpu-advisor/key"),
        entries[0].relative_to(home),
    ]
