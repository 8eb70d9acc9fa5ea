"""Where the output goes: a full or closed standard output, and ``-o`` targets of every kind.

Each command writing to a full (``/dev/full``) or closed standard output prints one line and
exits 2, without a traceback (nor Python's "Exception ignored" at exit); ``deploy -o`` on a
folder, a full disk or a folder it may not write prints one line, exits 2 and leaves the target
as it was. A fuzzer draws targets of every kind for the safe writer (issue 17).
"""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gpu_advisor.cli.main import main
from gpu_advisor.errors import UsageError
from gpu_advisor.knowledge.safe_files import write_text_safely
from tests.conftest import FIXTURES, MINI_KB, MINI_RULES, ROOT
from tests.fuzz.budget import fuzz_settings

DEPLOY = ["deploy", "--device", "h100-sxm", "--set", "workload=fine-tuning"]
DEPLOY += ["--set", "model_params_b=7"]
PROBE_XML = str(FIXTURES / "probe" / "hgx-h100-8gpu.xml")
MINI = ["--rules", str(MINI_RULES), "--kb", str(MINI_KB)]

COMMANDS: list[list[str]] = [
    ["questions"],
    ["questions", "--format", "json"],
    ["why", "budget_usd"],
    ["recommend", *MINI, "--set", "workload=inference", "--set", "model_params_b=7"],
    ["size", "--workload", "inference", "--params-b", "7"],
    ["plan", "--budget", "100000"],
    ["graph", "--format", "dot", *MINI],
    ["graph", "--format", "png", *MINI],
    ["audit", *MINI, "--agreement", "5"],
    ["probe", "--from", PROBE_XML],
    DEPLOY,
    ["completion", "bash"],
    ["--help"],
    ["--version"],
]
"""Every command (and the top-level help), each writing its normal output to standard output."""


class _Full:
    """A standard output on a full disk: every write and flush fails with ENOSPC."""

    def write(self, _data: Any) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def flush(self) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def isatty(self) -> bool:
        return False

    @property
    def buffer(self) -> _Full:
        return self


@pytest.mark.parametrize(
    ("stream", "reason"),
    [(_Full(), "No space left on device"), (None, "standard output is closed")],
    ids=["full", "closed"],
)
@pytest.mark.parametrize("argv", COMMANDS, ids=lambda argv: " ".join(argv[:2]))
def test_every_command_on_a_full_or_closed_stdout_says_so_once(
    argv: list[str],
    stream: Any,
    reason: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(sys, "stdout", stream)
    try:
        status = main(argv)
    except SystemExit as exc:  # pragma: no cover - the failure must not escape as an exit
        status = f"SystemExit({exc.code})"  # type: ignore[assignment]
    err = capsys.readouterr().err
    monkeypatch.undo()
    message = f"cannot write to standard output: {reason}"
    if "json" in argv:  # with --format json every error is one JSON object
        assert (status, err) == (2, f'{{"error": "{message}", "status": 2, "kind": "usage"}}\n')
    else:
        assert (status, err) == (2, f"gpu-advisor: error: {message}\n")


def _run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gpu_advisor", *argv],
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
        **kwargs,
    )


def test_a_real_dev_full_and_a_closed_descriptor_leave_no_traceback() -> None:
    """Output smaller than the buffer fails only at the last flush: inside main, not at exit."""
    with open("/dev/full", "w") as full:
        done = _run(["questions"], stdout=full)
    assert (done.returncode, done.stderr) == (
        2,
        "gpu-advisor: error: cannot write to standard output: No space left on device\n",
    )
    closed = _run(
        ["questions", "--format", "json"],
        stdout=None,
        pass_fds=(),
        close_fds=True,
        preexec_fn=lambda: os.close(1),
    )
    assert closed.returncode == 2 and closed.stderr == (
        '{"error": "cannot write to standard output: standard output is closed", '
        '"status": 2, "kind": "usage"}\n'
    )


def test_a_reader_that_stops_early_is_not_an_error() -> None:
    """``gpu-advisor graph | head -c 10``: the rest of the output has nowhere to go, quietly."""
    process = subprocess.Popen(
        [sys.executable, "-m", "gpu_advisor", "graph", "--format", "dot"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    assert process.stdout is not None and process.stderr is not None
    with process.stdout, process.stderr:
        assert process.stdout.read(10) == b'digraph "g'
        process.stdout.close()
        err = process.stderr.read().decode()
    assert process.wait(timeout=120) == 0 and err == ""


# ---------------------------------------------------------------------------------------------
# deploy -o


def _deploy_to(target: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    status = main([*DEPLOY, "-o", str(target)])
    return status, capsys.readouterr().err


def test_deploy_to_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _deploy_to(tmp_path, capsys) == (
        2,
        f"gpu-advisor: error: {tmp_path}: is a folder; give a file name\n",
    )
    assert tmp_path.is_dir() and list(tmp_path.iterdir()) == []


def test_deploy_on_a_full_disk_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "ds.json"
    target.write_text("old", encoding="utf-8")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    assert _deploy_to(target, capsys) == (
        2,
        f"gpu-advisor: error: {target}: cannot write (No space left on device); "
        "the old file is unchanged\n",
    )
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["ds.json"]  # no temporary left


def test_deploy_to_dev_full(capsys: pytest.CaptureFixture[str]) -> None:
    assert _deploy_to(Path("/dev/full"), capsys) == (
        2,
        "gpu-advisor: error: /dev/full: cannot write (No space left on device)\n",
    )
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_deploy_without_permission_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder the user may not write: as root (CI) the kernel allows everything, so the
    refusal the kernel gives a user is given here by the temporary file's creation."""
    target = tmp_path / "ds.json"
    target.write_text("old", encoding="utf-8")
    tmp_path.chmod(0o555)
    if os.geteuid() == 0:

        def denied(**_kwargs: object) -> tuple[int, str]:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

        monkeypatch.setattr(tempfile, "mkstemp", denied)  # safe_files imports it when writing
    try:
        assert _deploy_to(target, capsys) == (
            2,
            f"gpu-advisor: error: {target}: cannot create a temporary file in {tmp_path} "
            "(Permission denied)\n",
        )
    finally:
        tmp_path.chmod(0o755)
    assert target.read_text(encoding="utf-8") == "old"


# ---------------------------------------------------------------------------------------------
# The safe writer over targets of every kind

_KINDS = ["new", "file", "link", "dangling", "loop", "folder", "no-folder", "dev-null", "fifo"]


def _make(kind: str, folder: Path, mode: int) -> Path:
    """A target of one kind in ``folder``; a regular file (behind links too) says "old"."""
    target = folder / "out"
    if kind in ("file", "link"):
        real = folder / "real"
        real.write_text("old", encoding="utf-8")
        real.chmod(mode)
        if kind == "link":
            target.symlink_to(real)
        else:
            target = real
    elif kind == "dangling":
        target.symlink_to(folder / "missing")
    elif kind == "loop":
        target.symlink_to(folder / "loop2")
        (folder / "loop2").symlink_to(target)
    elif kind == "folder":
        target.mkdir()
    elif kind == "no-folder":
        target = folder / "missing" / "out"
    elif kind == "dev-null":
        target = Path("/dev/null")
    elif kind == "fifo":
        os.mkfifo(target)
    return target


@fuzz_settings(120)
@given(
    kind=st.sampled_from(_KINDS),
    mode=st.sampled_from([0o600, 0o640, 0o644, 0o664, 0o400]),
    text=st.text(max_size=200),
)
def test_the_safe_writer_writes_or_refuses_and_never_destroys(
    kind: str, mode: int, text: str
) -> None:
    """Either the text lands where the target ends (a link stays a link, a file keeps its
    mode, a device stays a device) or one UsageError names the target and nothing changed."""
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        target = _make(kind, folder, mode)
        before = sorted(p.name for p in folder.iterdir())
        try:
            write_text_safely(target, text)
        except UsageError as exc:
            assert str(target) in str(exc)
            assert kind in ("loop", "folder", "no-folder", "fifo")  # a FIFO nobody reads
            assert sorted(p.name for p in folder.iterdir()) == before  # no temporary left
            return
        assert kind not in ("loop", "folder", "no-folder", "fifo")
        if kind == "dev-null":
            assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
            return
        if kind in ("link", "dangling"):
            assert target.is_symlink()
        assert Path(os.path.realpath(target)).read_bytes() == text.encode()
        if kind in ("file", "link"):
            assert stat.S_IMODE(os.stat(target).st_mode) == mode
        created = {"new": {"out"}, "dangling": {"missing"}}.get(kind, set())
        assert sorted(p.name for p in folder.iterdir()) == sorted(set(before) | created)
