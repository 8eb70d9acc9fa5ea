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


def test_no_module_reads_another_modules_private_attributes() -> None:
    """``module._helper`` through an imported module counts as reaching into it, too."""
    import ast

    modules = module_files(REPO)
    found = []
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in modules and alias.name != module:
                        aliases[alias.asname or alias.name.split(".")[0]] = alias.name
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    target = f"{node.module}.{alias.name}"
                    if target in modules and target != module:
                        aliases[alias.asname or alias.name] = target
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                found.append(
                    f"{path.relative_to(REPO)}:{node.lineno}: {aliases[node.value.id]}.{node.attr}"
                )
    assert not found, "\n".join(found)
