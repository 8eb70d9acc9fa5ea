"""The layers of the package as a picture, drawn from its own import graph.

One box per layer package, lower layers at the bottom, one arrow per package that imports
another (however many modules do). An import that goes up or sideways, which the layering test
forbids, is drawn red, so the picture shows a broken rule as plainly as the test does. The DOT
is written to docs/architecture.dot by docgen and drawn to docs/architecture.svg.
"""

from __future__ import annotations

from pathlib import Path

from gpu_advisor.present.graph_render import dot_quote
from gpu_advisor.present.imports import LAYER_OF, LAYERS, import_edges, layer

ROLES: dict[str, str] = {
    "errors": "one error root",
    "formatting": "numbers, money, units",
    "lang": "condition language",
    "knowledge": "knowledge base and rules, loaded and checked",
    "arithmetic": "sizing, power, plan, claims",
    "backends": "durable_rules and Python evaluation",
    "core": "answers, consultation, ranking, explanation",
    "audit": "lint, logic, agreement, knowledge audit",
    "hardware": "probe the GPUs, deploy settings",
    "present": "reports, plan tables, graphs, docs",
    "tui": "terminal UI (Textual)",
    "cli": "argparse: one module per command",
    "__main__": "python -m gpu_advisor",
}
"""What each layer package is for, as the picture labels it."""


def package_edges(repo: Path) -> set[tuple[str, str]]:
    """(importing package, imported package) for every import across layer packages."""
    edges = set()
    for edge in import_edges(repo):
        source, target = layer(edge.source), layer(edge.target)
        if source != target and "api" not in (source, target):
            edges.add((source, target))
    return edges


def _upward(source: str, target: str) -> bool:
    return LAYER_OF.get(target, len(LAYERS)) >= LAYER_OF.get(source, 0)


def architecture_dot(repo: Path) -> str:
    """DOT text of the layers: a row per layer (bottom up), the imports between packages."""
    font = "Helvetica,Arial,sans-serif"
    title = "gpu-advisor: layers and the imports between them (arrows point at what is imported)"
    out = [
        'digraph "gpu-advisor layers" {',
        (
            f'  graph [rankdir="BT", fontname={dot_quote(font)}, fontsize="16", labelloc="t", '
            f'label={dot_quote(title)}, nodesep="0.3", ranksep="0.55", bgcolor="white", '
            'pad="0.3"];'
        ),
        (
            f'  node [shape="box", style="rounded,filled", fillcolor="#dbe9f6", color="#4a7ab5", '
            f'fontname={dot_quote(font)}, fontsize="11"];'
        ),
        f'  edge [color="#777777", arrowsize="0.6", fontname={dot_quote(font)}];',
    ]
    for rank, names in enumerate(LAYERS):
        members = " ".join(f"{dot_quote(name)};" for name in names)
        out.append(f"  {{ rank=same; {members} }}")
        for name in names:
            label = f"{name}\n{ROLES.get(name, '')}\nlayer {rank}"
            out.append(f"  {dot_quote(name)} [label={dot_quote(label)}];")
    for rank in range(len(LAYERS) - 1):  # keep the rows in order even where nothing imports
        out.append(
            f'  {dot_quote(LAYERS[rank + 1][0])} -> {dot_quote(LAYERS[rank][0])} [style="invis"];'
        )
    for source, target in sorted(package_edges(repo)):
        style = (
            ' [color="#b03a2e", penwidth="2", constraint="false"]'
            if _upward(source, target)
            else ""
        )
        out.append(f"  {dot_quote(source)} -> {dot_quote(target)}{style};")
    out.append("}")
    return "\n".join(out) + "\n"
