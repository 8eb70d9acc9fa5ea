"""The decision tree as a graph, with a consultation's path: the one import for its users.

The work is split along its seams: :mod:`graph_build` makes the networkx graph (questions, rules,
facts, conclusions, a consultation's path, focus and topic views), :mod:`graph_render` writes it
(DOT, SVG, PNG, GraphML, Mermaid, JSON) and :mod:`graph_docs` keeps the pictures in docs/graphs
fresh. This module joins them for the command line, the TUI's export and the tests: build, then
render, to a file.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from gpu_advisor.present.graph_build import (
    CALC,
    Graph,
    build_graph,
    clean,
    devices_rule_may_touch,
    focus_graph,
    resolve_focus,
    topic_graph,
)
from gpu_advisor.present.graph_docs import (
    REGENERATE,
    docs_sources,
    dot_digest,
    graphviz_version,
    recorded_digest,
    svg_names,
    write_docs_pictures,
)
from gpu_advisor.present.graph_render import (
    FORMATS,
    RENDERED,
    dot_quote,
    find_dot,
    format_for,
    mermaid_text,
    render,
    render_dot,
    require_dot,
    to_dot,
    to_graphml,
    to_json,
    to_mermaid,
)

if TYPE_CHECKING:
    from gpu_advisor.core.consult import Consultation, Engine


def export_graph(
    consultation: Consultation | None,
    engine: Engine,
    fmt: str,
    path: Path | str,
    focus: str | None = None,
) -> Path:
    """Write the decision tree (with the consultation's path, when given) to ``path``; the TUI's
    export calls this. ``fmt`` is one of FORMATS; ``focus`` a rule or device id."""
    if fmt in RENDERED:
        require_dot(fmt)
    graph = build_graph(engine, consultation)
    if focus:
        graph = focus_graph(graph, engine, focus)
    data = render(graph, fmt)
    from gpu_advisor.knowledge.safe_files import write_bytes_safely

    target = Path(path)
    write_bytes_safely(target, data)  # never half a graph; a link's target, /dev/null kept
    return target


__all__ = [
    "CALC",
    "FORMATS",
    "REGENERATE",
    "RENDERED",
    "Graph",
    "build_graph",
    "clean",
    "devices_rule_may_touch",
    "docs_sources",
    "dot_digest",
    "dot_quote",
    "export_graph",
    "find_dot",
    "focus_graph",
    "format_for",
    "graphviz_version",
    "mermaid_text",
    "recorded_digest",
    "render",
    "render_dot",
    "require_dot",
    "resolve_focus",
    "svg_names",
    "to_dot",
    "to_graphml",
    "to_json",
    "to_mermaid",
    "topic_graph",
    "write_docs_pictures",
]
