"""Writing and reading the user's files: nothing destroyed, nothing half-written, nothing hangs."""

from __future__ import annotations

import errno
import io
import os
import signal
import stat
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from gpu_advisor.errors import FileErrors, UsageError
from gpu_advisor.knowledge.safe_files import (
    check_yaml_tree,
    construct_scalar_checked,
    read_bytes_limited,
    read_text_limited,
    write_bytes_safely,
    write_text_safely,
)


@pytest.fixture(autouse=True)
def _bounded() -> Iterator[None]:
    """Every test here is about not hanging: a hang fails the test after 20 s instead."""

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError("the test hung")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(20)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# ---------------------------------------------------------------------------------------------
# Writing


def test_a_new_file_gets_0644_minus_the_umask(tmp_path: Path) -> None:
    target = tmp_path / "out.yaml"
    write_text_safely(target, "a: 1\n")
    assert target.read_text() == "a: 1\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644 & ~_umask()
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("mode", [0o644, 0o600, 0o755, 0o640])
def test_an_existing_file_keeps_its_mode(tmp_path: Path, mode: int) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    target.chmod(mode)
    write_text_safely(target, "new")
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == mode


def test_a_symlink_stays_a_link_and_its_target_is_written(tmp_path: Path) -> None:
    real = tmp_path / "real.txt"
    real.write_text("old")
    real.chmod(0o640)
    first = tmp_path / "first"
    first.symlink_to("real.txt")
    second = tmp_path / "sub" / "second"
    second.parent.mkdir()
    second.symlink_to(first)
    write_text_safely(second, "new")
    assert second.is_symlink() and first.is_symlink()
    assert real.read_text() == "new"
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    assert _leftovers(tmp_path) == [] and _leftovers(second.parent) == []


def test_a_dangling_symlink_creates_its_target(tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "made.txt")
    write_text_safely(link, "x")
    assert link.is_symlink() and (tmp_path / "made.txt").read_text() == "x"


def test_a_symlink_loop_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    with pytest.raises(UsageError, match="a"):
        write_text_safely(tmp_path / "a", "x")


def test_dev_null_stays_a_device() -> None:
    before = os.stat("/dev/null")
    write_text_safely("/dev/null", "discarded\n")
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev
    assert stat.S_IMODE(after.st_mode) == stat.S_IMODE(before.st_mode)


def test_dev_full_reports_the_full_disk_in_one_usage_error() -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    with pytest.raises(UsageError, match="/dev/full: cannot write"):
        write_text_safely("/dev/full", "x" * 100_000)
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_dev_stdout_is_written_through() -> None:
    script = (
        "from gpu_advisor.knowledge.safe_files import write_text_safely; "
        "write_text_safely('/dev/stdout', 'through stdout\\n')"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "through stdout\n"


def test_dev_stdout_redirected_to_a_file_overwrites_that_file(tmp_path: Path) -> None:
    script = (
        "from gpu_advisor.knowledge.safe_files import write_text_safely; "
        "write_text_safely('/dev/stdout', 'report\\n')"
    )
    out = tmp_path / "out.txt"
    out.write_text("previous content that is longer\n")
    with out.open("r+") as handle:
        subprocess.run([sys.executable, "-c", script], stdout=handle, timeout=30, check=True)
    assert out.read_text() == "report\n"
    assert _leftovers(tmp_path) == []


def test_a_fifo_with_a_reader_is_written_through(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []

    def reader() -> None:
        with open(fifo, "rb") as handle:
            received.append(handle.read())

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    for _ in range(200):  # wait until the reader has the FIFO open
        try:
            write_bytes_safely(fifo, b"payload" * 10_000)
            break
        except UsageError:
            threading.Event().wait(0.01)
    thread.join(10)
    assert received == [b"payload" * 10_000]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_a_fifo_nobody_reads_is_an_error_not_a_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(UsageError, match="nothing is reading"):
        write_text_safely(fifo, "x")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_a_folder_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="is a folder"):
        write_text_safely(tmp_path, "x")


def test_a_missing_folder_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        write_text_safely(tmp_path / "nope" / "out.txt", "x")


def test_a_full_disk_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(
        UsageError,
        match=r"out.txt: cannot write \(No space left on device\); "
        "the old file is unchanged",
    ):
        write_text_safely(target, "new")
    assert target.read_text() == "old"
    assert _leftovers(tmp_path) == []


def test_an_interrupted_write_leaves_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")

    def interrupt(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupt)
    with pytest.raises(KeyboardInterrupt):
        write_text_safely(target, "new")
    assert target.read_text() == "old" and _leftovers(tmp_path) == []


def test_permission_denied_is_one_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def denied(**kwargs: object) -> tuple[int, str]:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(tempfile, "mkstemp", denied)  # safe_files imports it when writing
    with pytest.raises(
        UsageError, match=r"out.txt: cannot create a temporary file in .*Permission denied"
    ):
        write_text_safely(tmp_path / "out.txt", "x")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_a_read_only_folder_is_one_usage_error(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(UsageError, match="Permission denied"):
            write_text_safely(folder / "out.txt", "x")
    finally:
        folder.chmod(0o700)


def test_the_temporary_name_is_unpredictable_and_exclusive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A planted link at the old predictable name is never followed."""
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (tmp_path / f".out.txt.{os.getpid()}.tmp").symlink_to(victim)
    (tmp_path / "out.txt.tmp").symlink_to(victim)
    write_text_safely(tmp_path / "out.txt", "x")
    assert victim.read_text() == "precious"


# ---------------------------------------------------------------------------------------------
# Reading


def test_a_regular_file_is_read_with_newlines_as_read_text_gives_them(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_bytes(b"a: 1\r\nb: 2\rc: 3\n")
    assert read_text_limited(path, 1000) == path.read_text(encoding="utf-8")


def test_a_file_over_the_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"x" * 2000)
    with pytest.raises(FileErrors, match="big.yaml: is 2,000 bytes, over the 1,000-byte limit"):
        read_text_limited(path, 1000)
    assert read_bytes_limited(path, 2000) == b"x" * 2000


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null", "/dev/urandom"])
def test_devices_are_refused(device: str) -> None:
    with pytest.raises(FileErrors, match=f"{device}: is a character device, not a regular file"):
        read_text_limited(device, 1000)


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(FileErrors, match="is a FIFO"):
        read_text_limited(fifo, 1000)


def test_a_folder_a_missing_file_and_bad_utf8(tmp_path: Path) -> None:
    with pytest.raises(FileErrors, match="is a directory, not a file"):
        read_text_limited(tmp_path, 1000)
    with pytest.raises(FileErrors, match="no such file"):
        read_text_limited(tmp_path / "missing.yaml", 1000)
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"a: \xff\n")
    with pytest.raises(FileErrors, match="bad.yaml: not UTF-8 text"):
        read_text_limited(bad, 1000)


def test_standard_input_is_capped_too() -> None:
    class Endless(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
            buffer[:] = b"\0" * len(buffer)
            return len(buffer)

    with pytest.raises(FileErrors, match="<stdin>: is over the 1,000-byte limit"):
        read_text_limited("-", 1000, stdin=io.BufferedReader(Endless()))
    assert read_text_limited("-", 1000, stdin=io.BytesIO(b"a: 1\n")) == "a: 1\n"


# ---------------------------------------------------------------------------------------------
# Bounded YAML: compose, check the tree, construct scalars checked (what yamlio's loader does)


def _load(text: str, finite: bool = True) -> object:
    loader = yaml.CSafeLoader(text) if hasattr(yaml, "CSafeLoader") else yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        check_yaml_tree(node, "doc.yaml")

        def build(current: yaml.Node) -> object:
            if isinstance(current, yaml.MappingNode):
                return {build(k): build(v) for k, v in current.value}  # type: ignore[index]
            if isinstance(current, yaml.SequenceNode):
                return [build(item) for item in current.value]
            return construct_scalar_checked(loader, current, "doc.yaml", finite=finite)

        return build(node) if node is not None else None
    finally:
        loader.dispose()


LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
)


def test_billion_laughs_is_refused_quickly_with_a_location() -> None:
    with pytest.raises(FileErrors, match=r"doc.yaml:\d+:\d+: the document expands to more than"):
        _load(LAUGHS)


def test_deep_nesting_is_refused_instead_of_overflowing_the_stack() -> None:
    with pytest.raises(FileErrors, match=r"doc.yaml:1:65: nested more than 64 levels"):
        _load("[" * 900 + "]" * 900)
    assert _load("[" * 60 + "]" * 60) is not None


def test_an_alias_to_its_own_anchor_is_refused() -> None:
    with pytest.raises(FileErrors, match="nested more than"):
        _load("a: &x [1, *x]\n")


def test_numbers_are_bounded() -> None:
    with pytest.raises(FileErrors, match=r"doc.yaml:1:4: integer with 5,000 digits: too large"):
        _load("a: " + "9" * 5000)
    with pytest.raises(FileErrors, match=r"doc.yaml:2:4: integer too large \(beyond the range"):
        _load("b: 1\na: " + "9" * 320)
    for literal in (".inf", "-.Inf", ".nan"):
        with pytest.raises(FileErrors, match=r"doc.yaml:1:4: .* is not a finite number"):
            _load(f"a: {literal}")
    assert _load("a: .inf", finite=False) == {"a": float("inf")}
    assert _load("a: 12_345\nb: 0x1F\nc: 1.5e+3\nd: -7\n") == {
        "a": 12345,
        "b": 31,
        "c": 1500.0,
        "d": -7,
    }
