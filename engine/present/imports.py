"""The package's own import graph, read from the source (for the layering test and the picture).

Every ``import`` counts, including those inside functions and under ``TYPE_CHECKING``: a cycle
hidden behind a late import is still a cycle.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "gpu_advisor"

# Layers from the bottom up; a module may import its own layer's package or any lower layer.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "formatting", "version"),
    ("lang",),
    ("knowledge",),
    ("arithmetic", "backends"),
    ("core",),
    ("audit", "hardware"),
    ("present",),
    ("tui",),
    ("cli",),
    ("__main__",),
)
LAYER_OF: dict[str, int] = {name: rank for rank, names in enumerate(LAYERS) for name in names}


@dataclass(frozen=True)
class Edge:
    """``source`` imports ``target`` (both dotted module names) at ``line`` of ``path``."""

    source: str
    target: str
    path: Path
    line: int
    names: tuple[str, ...]


def source_roots(repo: Path) -> dict[str, Path]:
    """Where each top-level part of the package lives in a checkout (pyproject's mapping)."""
    return {PACKAGE: repo / "engine", f"{PACKAGE}.tui": repo / "tui"}


def module_files(repo: Path) -> dict[str, Path]:
    """Every module of the package (``gpu_advisor.x.y``) with its file."""
    modules: dict[str, Path] = {}
    for prefix, root in source_roots(repo).items():
        for path in sorted(root.rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join([prefix, *parts])] = path
    return modules


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_edges(repo: Path) -> list[Edge]:
    """Every import of one of the package's modules by another."""
    modules = module_files(repo)
    edges: list[Edge] = []
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in modules:
                        edges.append(Edge(module, alias.name, path, node.lineno, ()))
            elif isinstance(node, ast.ImportFrom):
                target = _resolve(module, is_package, node)
                if not target.startswith(PACKAGE):
                    continue
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    if sub in modules:  # ``from package import module``
                        edges.append(Edge(module, sub, path, node.lineno, ()))
                    elif target in modules:
                        edges.append(Edge(module, target, path, node.lineno, (alias.name,)))
    return edges


def layer(module: str) -> str:
    """The layer package a module belongs to (``gpu_advisor.core.consult`` -> ``core``)."""
    parts = module.split(".")
    if len(parts) == 1:
        return "api"  # the package's own __init__: the public face, re-exports from anywhere
    return parts[1]
