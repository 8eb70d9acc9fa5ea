"""A cache of the validated rule base, so the command line does not re-parse and re-validate
every YAML file (and import pydantic) on each run.

The key describes every knowledge-base and rule file and every module of the package by path,
size and modification time (as Python does for its bytecode cache), plus the package and
Python versions: any edit makes a new entry. The full key is stored in the entry and compared on
load, so the short checksum in the file name only has to spread entries, not prove identity. The cache lives in the user's
own cache folder (``$GPU_ADVISOR_CACHE_DIR``, else ``$XDG_CACHE_HOME/gpu-advisor``, else
``~/.cache/gpu-advisor``) and is written only by this module; set ``GPU_ADVISOR_NO_CACHE=1`` to
bypass it. A cache that cannot be read or written is simply not used.
"""

from __future__ import annotations

import os
import pickle
import sys
import zlib
from pathlib import Path

from gpu_advisor.knowledge.kb import shipped_kb_dir
from gpu_advisor.knowledge.rulebase import RuleBase, load_rulebase, shipped_rules_dir
from gpu_advisor.version import __version__

FORMAT = 2  # bump when the pickled classes change shape


def cache_dir() -> Path:
    explicit = os.environ.get("GPU_ADVISOR_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gpu-advisor"


def _inputs(kb_dir: Path, rules_dir: Path) -> list[Path]:
    files = [p for p in kb_dir.rglob("*.y*ml") if p.is_file()]
    files += [p for p in rules_dir.glob("*.y*ml") if p.is_file()]
    return sorted(files)


def fingerprint(kb_dir: Path, rules_dir: Path) -> str:
    """Everything the rule base is built from, as one string."""
    parts = [f"{FORMAT}|{__version__}|{sys.version}|{kb_dir.resolve()}|{rules_dir.resolve()}"]
    for path in _inputs(kb_dir, rules_dir) + sorted(Path(__file__).resolve().parent.parent.rglob("*.py")):
        stat = path.stat()
        parts.append(f"{path}:{stat.st_size}:{stat.st_mtime_ns}")
    return "\n".join(parts)


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
    entry = cache_dir() / f"rulebase-{zlib.crc32(key.encode()):08x}.pickle"
    try:
        with entry.open("rb") as handle:
            stored_key, cached = pickle.load(handle)
        if stored_key == key and isinstance(cached, RuleBase):
            return cached
    except (OSError, pickle.PickleError, EOFError, AttributeError, ImportError, TypeError, ValueError,
            IndexError):
        pass
    rulebase = load_fresh(kb, rules)  # raises FileErrors: nothing is cached
    _store(entry, key, rulebase)
    return rulebase


def load_fresh(kb_dir: Path, rules_dir: Path) -> RuleBase:
    """The rule base read and validated from the files (pydantic is imported only here)."""
    from gpu_advisor.knowledge.kb_schema import load_knowledge

    return load_rulebase(rules_dir, load_knowledge(kb_dir))


def _store(entry: Path, key: str, rulebase: RuleBase) -> None:
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        tmp = entry.with_suffix(f".{os.getpid()}.tmp")
        with tmp.open("wb") as handle:
            pickle.dump((key, rulebase), handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, entry)
    except OSError:
        return
