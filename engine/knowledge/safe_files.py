"""Reading and writing the user's files without hanging, crashing or destroying anything.

Writing: the file named on the command line or in the TUI may be a regular file (replaced
atomically, keeping its mode), a symbolic link (its final target is written, the link stays),
or something that is not a file at all — ``/dev/null``, ``/dev/stdout``, a FIFO, a terminal —
which is written through, never replaced: replacing ``/dev/null`` with a regular file as root
would break the machine. Every failure (permission, a folder, a full disk) is one
:class:`UsageError` naming the path, and a cut-short write leaves the old file and no temporary.

Reading: data files are read with a size cap from regular files only (a FIFO would block,
``/dev/zero`` never ends); ``-`` reads standard input, capped too.

YAML: ``yaml.safe_load`` happily expands a "billion laughs" document, recurses until Python's
stack overflows on deep nesting, and raises a bare ``ValueError`` on a 5,000-digit integer. The
checks below bound all three, each error at ``path:line:col``; yamlio's loader calls them.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import stat
import sys
from collections.abc import Callable
from typing import IO, Any

import yaml

from gpu_advisor.errors import FileError, FileErrors, Location, UsageError

#: Largest rule, knowledge-base or answers file read (the shipped ones are under 20 KB each).
MAX_DATA_FILE_BYTES = 8 * 1024 * 1024
#: Largest saved ``nvidia-smi`` output read (an 8-GPU ``-q -x`` is about 200 KB).
MAX_PROBE_FILE_BYTES = 32 * 1024 * 1024
#: Deepest nesting of mappings and lists in a YAML data file (ours nest about 6 deep).
YAML_MAX_DEPTH = 64
#: Most values a YAML document may expand to, counting every use of an alias in full.
YAML_MAX_NODES = 200_000
#: Longest integer literal accepted; any longer one is past a float's range (or Python's
#: 4,300-digit limit on decimal conversion) unless padded with zeros nobody writes.
YAML_MAX_INT_CHARS = 400

_SYMLINK_HOPS = 40  # as the kernel's own limit (ELOOP)
_CHUNK = 1024 * 1024


# ---------------------------------------------------------------------------------------------
# Writing


def write_text_safely(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> None:
    """Write text to a file, a link's target or a device; see :func:`write_bytes_safely`."""
    write_bytes_safely(path, text.encode(encoding))


def write_bytes_safely(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` so that no failure leaves a half-written file, and no target is destroyed.

    A regular (or new) file gets an exclusive, unpredictably named temporary in its own folder,
    fsync'ed and renamed over it, keeping the old file's mode (and owner, when allowed); a new
    file gets 0644 minus the umask. A symbolic link is followed to its final target. A
    character device, FIFO or terminal (``/dev/null``, ``/dev/stdout``) is written through.
    Raises :class:`UsageError` naming the path for every failure.
    """
    shown = os.fspath(path)
    try:
        final, through_proc = _resolve_links(shown)
    except OSError as exc:
        raise _write_error(shown, exc) from None
    try:
        info: os.stat_result | None = os.stat(final)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise _write_error(shown, exc) from None
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise UsageError(f"{shown}: is a folder; give a file name")
    if info is not None and stat.S_ISBLK(info.st_mode):
        raise UsageError(f"{shown}: is a block device (a disk); refusing to write over it")
    if through_proc or (info is not None and not stat.S_ISREG(info.st_mode)):
        _write_through(shown, final if not through_proc else shown, data)
        return
    folder = os.path.dirname(final) or "."
    if not os.path.isdir(folder):
        raise UsageError(f"{shown}: folder {folder} does not exist")
    _replace(shown, final, data, info)


def _resolve_links(path: str) -> tuple[str, bool]:
    """The path a chain of symbolic links ends at, and whether it passed through ``/proc``.

    ``/dev/stdout`` links to ``/proc/self/fd/1``, a "magic" link whose text (``pipe:[123]``, or
    the name of the file the shell opened) is no path we may rename over: such targets are
    written through by opening the original name.
    """
    current = os.path.abspath(path)
    through_proc = False
    for _ in range(_SYMLINK_HOPS):
        folder = os.path.realpath(os.path.dirname(current))
        through_proc = through_proc or folder == "/proc" or folder.startswith("/proc/")
        current = os.path.join(folder, os.path.basename(current))
        if not os.path.islink(current):
            return current, through_proc
        current = os.path.join(folder, os.readlink(current))
    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)


def _write_through(shown: str, target: str, data: bytes) -> None:
    """Write into a device, FIFO or terminal in place. A FIFO nobody reads is an error, not a
    hang (O_NONBLOCK on open), then the writes block as usual."""
    try:
        fd = os.open(
            target, os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
        )
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise UsageError(
                f"{shown}: nothing is reading from it (a FIFO or socket without a reader)"
            ) from None
        raise _write_error(shown, exc) from None
    try:
        info = os.fstat(fd)
        if stat.S_ISREG(info.st_mode):
            os.ftruncate(fd, 0)  # a file behind /proc/self/fd: overwrite it as the shell would
        os.set_blocking(fd, True)
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
    except OSError as exc:
        raise _write_error(shown, exc) from None
    finally:
        os.close(fd)


def _replace(shown: str, final: str, data: bytes, info: os.stat_result | None) -> None:
    import tempfile  # only when writing: it imports shutil, random and more

    folder = os.path.dirname(final) or "."
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(final)}.", suffix=".tmp")
    except OSError as exc:
        raise _write_error(shown, exc, f"cannot create a temporary file in {folder}") from None
    try:
        try:
            if info is not None:
                os.fchmod(fd, stat.S_IMODE(info.st_mode))
                _keep_owner(fd, info)
            else:
                os.fchmod(fd, 0o644 & ~_umask())
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, final)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise _write_error(shown, exc, unchanged=info is not None) from None
        raise


def _keep_owner(fd: int, info: os.stat_result) -> None:
    """Give the new file the old one's owner when we may (as root writing someone's file)."""
    if (info.st_uid, info.st_gid) == (os.geteuid(), os.getegid()):
        return
    try:
        os.fchown(fd, info.st_uid, info.st_gid)
    except OSError:
        pass


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write_error(
    shown: str, exc: OSError, what: str = "cannot write", unchanged: bool = False
) -> UsageError:
    reason = exc.strerror or str(exc)
    if exc.errno == errno.EISDIR:
        return UsageError(f"{shown}: is a folder; give a file name")
    if exc.errno == errno.ENOENT:
        return UsageError(f"{shown}: {what} (the folder does not exist)")
    suffix = "; the old file is unchanged" if unchanged else ""
    return UsageError(f"{shown}: {what} ({reason}){suffix}")


# ---------------------------------------------------------------------------------------------
# Reading


def read_bytes_limited(
    path: str | os.PathLike[str],
    limit_bytes: int,
    display: str | None = None,
    stdin: IO[bytes] | None = None,
) -> bytes:
    """The bytes of a regular file (or of standard input for ``-``), at most ``limit_bytes``.

    Refuses folders, FIFOs, devices and sockets (a FIFO would block, ``/dev/zero`` never ends)
    and files over the limit, with one :class:`FileErrors` naming the file.
    """
    name = os.fspath(path)
    shown = display or ("<stdin>" if name == "-" else name)
    if name == "-":
        stream = stdin if stdin is not None else sys.stdin.buffer
        return _read_capped(stream.read, shown, limit_bytes)
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(name, flags)
    except FileNotFoundError:
        raise _read_error(shown, "no such file") from None
    except IsADirectoryError:
        raise _read_error(shown, "is a directory, not a file") from None
    except OSError as exc:
        raise _read_error(shown, f"cannot read: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise _read_error(shown, "is a directory, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise _read_error(shown, f"is a {_kind(info.st_mode)}, not a regular file")
        if info.st_size > limit_bytes:
            raise _read_error(
                shown,
                f"is {info.st_size:,} bytes, over the {limit_bytes:,}-byte "
                "limit for this kind of file",
            )
        os.set_blocking(fd, True)
        return _read_capped(lambda size: os.read(fd, size), shown, limit_bytes)
    except OSError as exc:
        raise _read_error(shown, f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def read_text_limited(
    path: str | os.PathLike[str],
    limit_bytes: int,
    display: str | None = None,
    stdin: IO[bytes] | None = None,
) -> str:
    """UTF-8 text of a file read as :func:`read_bytes_limited` does, with newlines translated
    as ``Path.read_text`` translates them (so line and column numbers do not change)."""
    name = os.fspath(path)
    shown = display or ("<stdin>" if name == "-" else name)
    data = read_bytes_limited(path, limit_bytes, shown, stdin)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _read_error(shown, f"not UTF-8 text ({exc.reason})") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _read_capped(read: Callable[[int], bytes | None], shown: str, limit_bytes: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = read(min(_CHUNK, limit_bytes + 1 - total))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        if total > limit_bytes:
            raise _read_error(
                shown, f"is over the {limit_bytes:,}-byte limit for this kind of file"
            )


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "character device"
    if stat.S_ISBLK(mode):
        return "block device"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "special file"


def _read_error(shown: str, message: str) -> FileErrors:
    return FileErrors([FileError(Location(shown), message)])


# ---------------------------------------------------------------------------------------------
# Bounded YAML


def _at(display: str, node: yaml.Node) -> Location:
    return Location(display, node.start_mark.line + 1, node.start_mark.column + 1)


def check_yaml_tree(
    node: yaml.Node | None,
    display: str,
    max_depth: int = YAML_MAX_DEPTH,
    max_nodes: int = YAML_MAX_NODES,
) -> None:
    """Refuse a composed document that nests deeper than ``max_depth`` or expands (every alias
    counted in full, as constructing it would) to more than ``max_nodes`` values.

    Call it between composing and constructing: composing shares an anchored node between its
    aliases, so a "billion laughs" file composes in microseconds and only explodes later. The
    walk is iterative and stops at the limit, so it costs at most ``max_nodes`` steps; a
    self-referencing alias (``&a [*a]``) is caught as nesting.
    """
    if node is None:
        return
    stack: list[tuple[yaml.Node, int]] = [(node, 1)]
    seen = 0
    while stack:
        current, depth = stack.pop()
        seen += 1
        if seen > max_nodes:
            raise FileErrors(
                [
                    FileError(
                        _at(display, current),
                        f"the document expands to more than {max_nodes:,} values "
                        "(aliases repeated too often?)",
                    )
                ]
            )
        if depth > max_depth:
            raise FileErrors(
                [
                    FileError(
                        _at(display, current),
                        f"nested more than {max_depth} levels deep (or an alias "
                        "refers to its own anchor)",
                    )
                ]
            )
        if isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                stack.append((value, depth + 1))
                stack.append((key, depth + 1))
        elif isinstance(current, yaml.SequenceNode):
            stack.extend((item, depth + 1) for item in current.value)


_INT_TAG = "tag:yaml.org,2002:int"


def construct_scalar_checked(
    loader: yaml.BaseLoader, node: yaml.Node, display: str, finite: bool = True
) -> Any:
    """``loader.construct_object(node, deep=True)`` with bounded numbers: an integer literal too
    long to convert, an integer past a float's range, and (with ``finite``) ``.inf``/``.nan``
    are FileErrors at the value's ``path:line:col`` instead of a ValueError or a silent
    infinity further on."""
    if isinstance(node, yaml.ScalarNode) and node.tag == _INT_TAG:
        digits = node.value.lstrip("+-").replace("_", "")
        if len(digits) > YAML_MAX_INT_CHARS:
            raise FileErrors(
                [FileError(_at(display, node), f"integer with {len(digits):,} digits: too large")]
            )
    try:
        value = loader.construct_object(node, deep=True)
    except ValueError as exc:  # int() refusing a long literal, a bad base-60 number
        raise FileErrors([FileError(_at(display, node), f"not a usable number ({exc})")]) from None
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            float(value)
        except OverflowError:
            raise FileErrors(
                [FileError(_at(display, node), "integer too large (beyond the range of a float)")]
            ) from None
    if finite and isinstance(value, float) and not math.isfinite(value):
        raise FileErrors(
            [
                FileError(
                    _at(display, node),
                    f"{node.value!r} is not a finite number; data files hold finite numbers only",
                )
            ]
        )
    return value


# ---------------------------------------------------------------------------------------------
# Bounded JSON

_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_JSON_BRACKET = re.compile(r"[\[\]{}]")


class _BadNumber(Exception):
    def __init__(self, token: str, message: str) -> None:
        super().__init__(message)
        self.token = token
        self.message = message


def _json_int(token: str) -> int:
    if len(token.lstrip("-")) > YAML_MAX_INT_CHARS:
        raise _BadNumber(token, f"integer with {len(token.lstrip('-')):,} digits: too large")
    value = int(token)
    try:
        float(value)
    except OverflowError:
        raise _BadNumber(token, "integer too large (beyond the range of a float)") from None
    return value


def _json_float(token: str) -> float:
    value = float(token)
    if not math.isfinite(value):
        raise _BadNumber(token, f"{token} is not a finite number (beyond the range of a float)")
    return value


def _json_constant(token: str) -> Any:
    raise _BadNumber(token, f"{token} is not a finite number; data files hold finite numbers only")


def _position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def load_json_bounded(text: str, display: str, max_depth: int = YAML_MAX_DEPTH) -> Any:
    """``json.loads`` bounded as the YAML reader is: nesting deeper than ``max_depth``, an
    integer too long or past a float's range, and ``NaN``/``Infinity`` are FileErrors at their
    ``path:line:col`` (instead of a RecursionError, a ValueError or a silent infinity)."""
    depth = 0
    blanked = _JSON_STRING.sub(lambda m: " " * len(m.group(0)), text)  # brackets in strings
    for bracket in _JSON_BRACKET.finditer(blanked):
        depth += 1 if bracket.group(0) in "[{" else -1
        if depth > max_depth:
            line, column = _position(text, bracket.start())
            raise FileErrors(
                [FileError(Location(display, line, column), f"nested more than {max_depth} levels")]
            )
    try:
        return json.loads(
            text, parse_int=_json_int, parse_float=_json_float, parse_constant=_json_constant
        )
    except json.JSONDecodeError as exc:
        where = Location(display, exc.lineno, exc.colno)
        raise FileErrors([FileError(where, f"invalid JSON: {exc.msg}")]) from None
    except _BadNumber as exc:
        line, column = _position(text, max(text.find(exc.token), 0))
        raise FileErrors([FileError(Location(display, line, column), exc.message)]) from None
    except RecursionError:  # pragma: no cover - the depth check above comes first
        raise FileErrors([FileError(Location(display), "nested too deeply")]) from None
