"""A cache of the validated rule base, so the command line does not re-parse and re-validate
every YAML file (and import pydantic) on each run.

The key describes every knowledge-base and rule file and every module of the package by path,
size and modification time (as Python does for its bytecode cache), plus the package and
Python versions: any edit makes a new entry. The full key is stored in the entry and compared on
load, so the checksum in the file name only has to spread entries, not prove identity.

An entry is a pickle, and unpickling runs code, so nothing is unpickled before it is proven to
be ours: each entry carries an HMAC-SHA256 of its bytes under a random per-user key kept in the
cache folder (0600, created exclusively, refused unless it is a regular file owned by the user
and unreadable to others). Entries are opened without following links and without blocking (a
FIFO planted as an entry is a miss, not a hang), size-checked, and any failure at all to read,
verify or unpickle them is a miss. Entries are written through exclusive, unpredictably named
temporaries, and only the newest few are kept.

The cache lives in ``$GPU_ADVISOR_CACHE_DIR`` if set, else in the platform's user cache folder
(``platformdirs.user_cache_dir("gpu-advisor")``: ``$XDG_CACHE_HOME/gpu-advisor`` or
``~/.cache/gpu-advisor`` on Linux). Set ``GPU_ADVISOR_NO_CACHE=1`` to bypass it. A cache that
cannot be read or written is simply not used.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import pickle
import secrets
import stat
import sys
import time
from pathlib import Path

from gpu_advisor.knowledge.kb import shipped_kb_dir
from gpu_advisor.knowledge.rulebase import RuleBase, load_rulebase, shipped_rules_dir
from gpu_advisor.knowledge.user_cache import cache_dir
from gpu_advisor.version import __version__

FORMAT = 3  # bump when the pickled classes or the entry layout change shape
#: Entries kept in the cache folder (newest first); older ones are deleted after each store.
KEEP_ENTRIES = 4
#: Largest entry read (the shipped rule base pickles to about 150 KB).
MAX_ENTRY_BYTES = 64 * 1024 * 1024
#: A temporary older than this was left by a killed process and is deleted when pruning.
STALE_TEMP_SECONDS = 3600

_MAGIC = b"gpu-advisor rulebase cache\n"
_KEY_FILE = "key"
_KEY_BYTES = 32
_ENTRY_GLOB = "rulebase-*.pickle"
_TEMP_GLOB = ".rulebase-*.tmp"
_OLD_FORMAT_GLOB = "*.pickle"
_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | os.O_NONBLOCK
    | os.O_NOCTTY
    | getattr(os, "O_CLOEXEC", 0)
)


def _files(folder: str, suffixes: tuple[str, ...], recurse: bool) -> list[tuple[str, int, int]]:
    """(path, size, mtime) of the regular files below ``folder`` with these suffixes, sorted.
    ``os.scandir`` rather than ``Path.rglob``: every start-up walks about 200 files here."""
    found: list[tuple[str, int, int]] = []
    pending = [folder]
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=True):
                    if recurse:
                        pending.append(entry.path)
                elif entry.name.endswith(suffixes) and entry.is_file(follow_symlinks=True):
                    info = entry.stat(follow_symlinks=True)
                    found.append((entry.path, info.st_size, info.st_mtime_ns))
    return sorted(found)


def fingerprint(kb_dir: Path, rules_dir: Path) -> str:
    """Everything the rule base is built from, as one string."""
    parts = [f"{FORMAT}|{__version__}|{sys.version}|{kb_dir.resolve()}|{rules_dir.resolve()}"]
    files = _files(str(kb_dir), (".yaml", ".yml"), recurse=True)
    files += _files(str(rules_dir), (".yaml", ".yml"), recurse=False)
    files.sort()
    files += _files(str(Path(__file__).resolve().parent.parent), (".py",), recurse=True)
    parts.extend(f"{path}:{size}:{mtime}" for path, size, mtime in files)
    return "\n".join(parts)


def entry_path(folder: Path, key: str) -> Path:
    """The file an entry with this key is stored in."""
    return folder / f"rulebase-{hashlib.sha256(key.encode()).hexdigest()[:16]}.pickle"


def load_rulebase_cached(kb_dir: Path | str | None, rules_dir: Path | str | None) -> RuleBase:
    """The validated rule base, from the cache when the files have not changed."""
    kb = Path(kb_dir) if kb_dir is not None else shipped_kb_dir()
    rules = Path(rules_dir) if rules_dir is not None else shipped_rules_dir()
    if os.environ.get("GPU_ADVISOR_NO_CACHE") or not kb.is_dir() or not rules.is_dir():
        return load_fresh(kb, rules)
    try:
        key = fingerprint(kb, rules)
    except OSError:
        return load_fresh(kb, rules)
    folder = cache_dir()
    secret = _read_secret(folder)
    if secret is not None:
        cached = _load_entry(entry_path(folder, key), key, secret)
        if cached is not None:
            return cached
    rulebase = load_fresh(kb, rules)  # raises FileErrors: nothing is cached
    store(folder, key, rulebase)
    return rulebase


# ---------------------------------------------------------------------------------------------
# Reading


def _open_own_regular_file(path: Path, max_bytes: int, private: bool = False) -> bytes | None:
    """The bytes of a regular file owned by us (and, if ``private``, closed to group and
    others), opened without following a link or blocking on a FIFO; None for anything else
    (missing, a link, a device, too big, unreadable)."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if (
            not stat.S_ISREG(info.st_mode)
            or info.st_uid != os.geteuid()
            or info.st_size > max_bytes
            or (private and info.st_mode & 0o077)
        ):
            return None
        chunks: list[bytes] = []
        total = 0
        while chunk := os.read(fd, min(1 << 20, max_bytes + 1 - total)):
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:
                return None
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def _read_secret(folder: Path) -> bytes | None:
    """The per-user key, created on first use; None when no trustworthy key can be had."""
    path = folder / _KEY_FILE
    for _ in range(2):
        secret = _open_own_regular_file(path, _KEY_BYTES, private=True)
        if secret is not None:
            return secret if len(secret) == _KEY_BYTES else None
        if os.path.lexists(path) or not _create_secret(folder, path):
            return None
    return None


def _create_secret(folder: Path, path: Path) -> bool:
    """Write a fresh key through a private temporary and link it into place: the link fails if
    another process won the race (its key is used), and nobody ever reads half a key."""
    import tempfile  # only when writing: it imports shutil, random and more

    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".key-", suffix=".tmp")
    except OSError:
        return False
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(secrets.token_bytes(_KEY_BYTES))
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
        return True
    except OSError:
        return False
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _load_entry(path: Path, key: str, secret: bytes) -> RuleBase | None:
    """The entry's rule base if it is ours, intact and for this key; None on anything else."""
    data = _open_own_regular_file(path, MAX_ENTRY_BYTES)
    if data is None or not data.startswith(_MAGIC):
        return None
    start = len(_MAGIC) + hashlib.sha256().digest_size
    mac, payload = data[len(_MAGIC) : start], data[start:]
    if not hmac.compare_digest(mac, hmac.new(secret, payload, hashlib.sha256).digest()):
        return None
    try:
        stored_key, cached = pickle.loads(payload)  # authenticated above
    except Exception:  # noqa: BLE001 - any failure (MemoryError, RecursionError too) is a miss
        return None
    if stored_key != key or not isinstance(cached, RuleBase):
        return None
    return cached


# ---------------------------------------------------------------------------------------------
# Writing


def load_fresh(kb_dir: Path, rules_dir: Path) -> RuleBase:
    """The rule base read and validated from the files (pydantic is imported only here)."""
    from gpu_advisor.knowledge.kb_schema import load_knowledge

    return load_rulebase(rules_dir, load_knowledge(kb_dir))


def store(folder: Path, key: str, rulebase: RuleBase) -> None:
    """Write an entry (exclusive temporary, then rename) and prune old ones; never raises for a
    cache that cannot be written."""
    import tempfile  # only when writing: it imports shutil, random and more

    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        secret = _read_secret(folder)
        if secret is None:
            return
        payload = pickle.dumps((key, rulebase), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # noqa: BLE001 - an unpicklable rule base must not fail the run
        return
    mac = hmac.new(secret, payload, hashlib.sha256).digest()
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".rulebase-", suffix=".tmp")
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(_MAGIC + mac + payload)
        os.replace(tmp, entry_path(folder, key))
    except OSError:  # a full disk, a vanished folder: no entry this time, and no temporary
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        return
    except BaseException:  # Ctrl+C and the like: clean up, then let it through
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    prune(folder)


def prune(folder: Path, keep: int = KEEP_ENTRIES) -> None:
    """Delete all but the newest ``keep`` entries, temporaries left by killed processes, and
    pickles an earlier version of the cache left (after an hour, like the temporaries)."""
    try:
        entries = []
        for path in folder.glob(_ENTRY_GLOB):
            with contextlib.suppress(OSError):
                entries.append((path.lstat().st_mtime_ns, path))
        entries.sort(reverse=True)
        doomed = [path for _, path in entries[keep:]]
        current = {path.name for _, path in entries}
        cutoff = time.time() - STALE_TEMP_SECONDS
        # temporaries of killed processes, and the pickles of earlier versions of this cache
        # (separate ``levers-*`` and ``order-*`` tables, now inside the rule base's entry)
        leftovers = [*folder.glob(_TEMP_GLOB), *folder.glob(_OLD_FORMAT_GLOB)]
        for path in leftovers:
            with contextlib.suppress(OSError):
                if path.name not in current and path.lstat().st_mtime < cutoff:
                    doomed.append(path)
        for path in doomed:
            with contextlib.suppress(OSError):
                path.unlink()
    except OSError:
        return
