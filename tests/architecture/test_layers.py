"""The layers stay visible: no import cycles, no upward imports, no reaching into private names."""

from __future__ import annotations

from pathlib import Path

import networkx as nx

from gpu_advisor.present.imports import LAYER_OF, LAYERS, import_edges, layer, module_files

REPO = Path(__file__).resolve().parents[2]


def _graph() -> nx.DiGraph:
    graph = nx.DiGraph()
    graph.add_nodes_from(module_files(REPO))
    for edge in import_edges(REPO):
        graph.add_edge(edge.source, edge.target)
    return graph


def test_every_package_has_a_layer() -> None:
    packages = {layer(module) for module in module_files(REPO)} - {"api"}
    assert packages <= set(LAYER_OF), f"packages without a layer: {packages - set(LAYER_OF)}"


def test_no_import_cycles_counting_imports_inside_functions() -> None:
    graph = _graph()
    # A package's __init__ importing its own modules is not a cycle of logic; drop those edges.
    for source, target in list(graph.edges):
        if (
            target.startswith(source + ".")
            and Path(module_files(REPO)[source]).name == "__init__.py"
        ):
            graph.remove_edge(source, target)
    cycles = [sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1]
    assert not cycles, f"import cycles: {cycles}"


def test_layers_import_only_downward() -> None:
    upward = []
    for edge in import_edges(REPO):
        src, dst = layer(edge.source), layer(edge.target)
        if src == "api" or src == dst:
            continue
        if dst == "api" or LAYER_OF[dst] >= LAYER_OF[src]:
            upward.append(
                f"{edge.path.relative_to(REPO)}:{edge.line}: {src} imports {dst} ({edge.target})"
            )
    assert not upward, "imports that go up or sideways:\n" + "\n".join(upward)


def test_no_module_imports_another_modules_private_names() -> None:
    private = [
        f"{edge.path.relative_to(REPO)}:{edge.line}: {name} from {edge.target}"
        for edge in import_edges(REPO)
        for name in edge.names
        if name.startswith("_") and not name.startswith("__")
    ]
    assert not private, "\n".join(private)


def test_the_tui_imports_nothing_from_the_command_line() -> None:
    offenders = [
        f"{edge.path.relative_to(REPO)}:{edge.line}: {edge.target}"
        for edge in import_edges(REPO)
        if layer(edge.source) == "tui" and layer(edge.target) == "cli"
    ]
    assert not offenders, "\n".join(offenders)


def test_the_layer_table_lists_each_package_once() -> None:
    names = [name for names in LAYERS for name in names]
    assert len(names) == len(set(names))
