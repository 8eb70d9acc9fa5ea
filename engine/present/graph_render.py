"""The decision-tree graph written out: Graphviz DOT, Mermaid, GraphML and JSON as text, SVG and
PNG drawn from the DOT by Graphviz (through the ``graphviz`` package, which runs its ``dot``
program; the package is imported only when a picture is drawn).

Every writer is deterministic: the same graph gives the same bytes (for one Graphviz version,
for the pictures).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from gpu_advisor.errors import AdvisorError, UsageError, did_you_mean, one_of
from gpu_advisor.present.graph_build import Graph

FORMATS = ("dot", "svg", "png", "graphml", "mermaid", "json")
RENDERED = ("svg", "png")
SUFFIXES = {
    ".dot": "dot",
    ".gv": "dot",
    ".svg": "svg",
    ".png": "png",
    ".graphml": "graphml",
    ".mmd": "mermaid",
    ".mermaid": "mermaid",
    ".json": "json",
}
GRAPHVIZ_PACKAGE = "graphviz"
_CLUSTER_ORDER = {"questions": 0, "facts": 2, "conclusions": 3, "devices": 4}


# ---------------------------------------------------------------------------------------------
# DOT


_NODE_STYLE: dict[str, dict[str, str]] = {
    "question": {
        "shape": "box",
        "style": "rounded,filled",
        "fillcolor": "#dbe9f6",
        "color": "#4a7ab5",
    },
    "rule:derive": {"shape": "box", "style": "filled", "fillcolor": "#fff2b3", "color": "#a68a00"},
    "rule:exclude": {"shape": "box", "style": "filled", "fillcolor": "#f8cdc8", "color": "#b03a2e"},
    "rule:prefer": {"shape": "box", "style": "filled", "fillcolor": "#d5efcf", "color": "#2e7d32"},
    "rule:warn": {"shape": "box", "style": "filled", "fillcolor": "#fde3c0", "color": "#c76a00"},
    "fact": {"shape": "ellipse", "style": "filled", "fillcolor": "#e8e0f5", "color": "#6a4c9c"},
    "fact:requirement": {
        "shape": "ellipse",
        "style": "filled",
        "fillcolor": "#e8e0f5",
        "color": "#6a4c9c",
        "peripheries": "2",
    },
    "fact:computed": {
        "shape": "ellipse",
        "style": "filled,dashed",
        "fillcolor": "#f1edf7",
        "color": "#6a4c9c",
    },
    "calc": {"shape": "hexagon", "style": "filled", "fillcolor": "#eeeeee", "color": "#555555"},
    "conclusion:exclude": {
        "shape": "octagon",
        "style": "filled",
        "fillcolor": "#e8a09a",
        "color": "#b03a2e",
    },
    "conclusion:prefer": {
        "shape": "octagon",
        "style": "filled",
        "fillcolor": "#a8d8a0",
        "color": "#2e7d32",
    },
    "conclusion:warn": {
        "shape": "octagon",
        "style": "filled",
        "fillcolor": "#f5c27a",
        "color": "#c76a00",
    },
    "device": {"shape": "box3d", "style": "filled", "fillcolor": "#eeeeee", "color": "#555555"},
    "device:recommended": {
        "shape": "box3d",
        "style": "filled",
        "fillcolor": "#a8d8a0",
        "color": "#2e7d32",
    },
    "device:excluded": {
        "shape": "box3d",
        "style": "filled",
        "fillcolor": "#e8a09a",
        "color": "#b03a2e",
    },
}
_EDGE_STYLE: dict[str, dict[str, str]] = {
    "needs": {"color": "#777777", "fontcolor": "#444444"},
    "derives": {"color": "#a68a00", "fontcolor": "#7a6500", "penwidth": "1.6"},
    "gates": {"color": "#4a7ab5", "fontcolor": "#2f5687", "style": "dashed"},
    "excludes": {"color": "#b03a2e", "fontcolor": "#b03a2e"},
    "prefers": {"color": "#2e7d32", "fontcolor": "#2e7d32"},
    "warns": {"color": "#c76a00", "fontcolor": "#9a5200"},
}
_ON = {"penwidth": "2.6", "color": "#c2185b", "fontcolor": "#8e0f42"}
_OFF_NODE = {"fillcolor": "#f6f6f6", "color": "#d3d3d3", "fontcolor": "#a9a9a9"}
_OFF_EDGE = {"color": "#dddddd", "fontcolor": "#c3c3c3", "penwidth": "1"}
_FONT = "Helvetica,Arial,sans-serif"


def _style_key(data: Mapping[str, Any]) -> str:
    kind = data["kind"]
    if kind == "rule":
        return f"rule:{data.get('effect', 'derive')}"
    if kind == "fact" and data.get("fact_kind") in ("requirement", "computed"):
        return f"fact:{data['fact_kind']}"
    if kind == "conclusion":
        return f"conclusion:{data.get('conclusion', 'warn')}"
    if kind == "device":
        status = str(data.get("status", ""))
        if status.startswith("recommended"):
            return "device:recommended"
        if status.startswith("excluded"):
            return "device:excluded"
    return str(kind)


def dot_quote(text: str) -> str:
    """A DOT double-quoted string. Backslashes and quotes are escaped; ``&`` becomes ``&amp;``
    because Graphviz decodes HTML entities in labels (a literal ``&lt;`` would otherwise print
    as ``<``); newlines become DOT's centred line break."""
    escaped = [
        line.replace("\\", "\\\\").replace('"', '\\"').replace("&", "&amp;")
        for line in str(text).split("\n")
    ]
    return '"' + "\\n".join(escaped) + '"'


def _dot_attrs(attrs: Mapping[str, Any]) -> str:
    return ", ".join(f"{key}={dot_quote(str(value))}" for key, value in attrs.items())


def _cluster_sort_key(cluster: str) -> tuple[int, str]:
    return (_CLUSTER_ORDER.get(cluster, 1), cluster)


def _clusters(graph: Graph) -> list[tuple[str, str, list[str]]]:
    """(cluster id, title, nodes) in a fixed order: questions, topics, facts, conclusions,
    devices."""
    found: dict[str, tuple[str, list[str]]] = {}
    for node, data in graph.nodes(data=True):
        found.setdefault(data["cluster"], (data["cluster_label"], []))[1].append(node)
    return [
        (cluster, found[cluster][0], sorted(found[cluster][1]))
        for cluster in sorted(found, key=_cluster_sort_key)
    ]


def _dot_clusters(graph: Graph) -> list[tuple[str, str, list[str]]]:
    """The clusters drawn in DOT: a topic is cut into one box per stratum (its rules on answers,
    on facts derived from them, on devices), so that each box stands in one column and derived
    facts sit between the columns; facts and the arithmetic are not boxed."""
    drawn = []
    for cluster, title, nodes in _clusters(graph):
        if cluster == "facts":
            continue
        if not cluster.startswith("topic:"):
            drawn.append((cluster, title, nodes))
            continue
        by_stratum: dict[int, list[str]] = {}
        for node in nodes:
            by_stratum.setdefault(int(graph.nodes[node].get("stratum", 0)), []).append(node)
        drawn.extend(
            (f"{cluster}:{stratum}", title, by_stratum[stratum]) for stratum in sorted(by_stratum)
        )
    return drawn


def _columns(graph: Graph) -> list[list[str]]:
    """Nodes that share a column: the questions, the rules of each stratum, the conclusions."""
    columns: dict[str, list[str]] = {}
    for node, data in graph.nodes(data=True):
        if data["kind"] == "question":
            columns.setdefault("0", []).append(node)
        elif data["kind"] == "rule":
            columns.setdefault(f"1:{int(data.get('stratum', 0)):04d}", []).append(node)
        elif data["kind"] in ("conclusion", "device"):
            columns.setdefault("9", []).append(node)
    return [sorted(columns[key]) for key in sorted(columns)]


def to_dot(graph: Graph) -> str:
    """Graphviz DOT text: clusters per topic, styled nodes and edges, the path highlighted."""
    consultation = bool(graph.graph.get("consultation"))
    out = [f"digraph {dot_quote(str(graph.graph.get('name', 'gpu-advisor')))} {{"]
    out.append(
        "  graph ["
        + _dot_attrs(
            {
                "charset": "UTF-8",
                "rankdir": "LR",
                "fontname": _FONT,
                "fontsize": "16",
                "labelloc": "t",
                "label": graph.graph.get("title", ""),
                "nodesep": "0.12",
                "ranksep": "0.9",
                "newrank": "true",
                "bgcolor": "white",
                "pad": "0.3",
            }
        )
        + "];"
    )
    out.append(
        "  node ["
        + _dot_attrs({"fontname": _FONT, "fontsize": "11", "margin": "0.12,0.05", "height": "0.3"})
        + "];"
    )
    out.append(
        "  edge [" + _dot_attrs({"fontname": _FONT, "fontsize": "9", "arrowsize": "0.6"}) + "];"
    )
    boxed = set()
    for cluster, title, nodes in _dot_clusters(graph):
        out.append(f"  subgraph {dot_quote('cluster_' + cluster)} {{")
        out.append(
            "    graph ["
            + _dot_attrs(
                {
                    "label": title,
                    "style": "rounded,filled",
                    "fillcolor": "#fafafa",
                    "color": "#bbbbbb",
                    "fontsize": "13",
                }
            )
            + "];"
        )
        out.extend(f"    {_dot_node(graph, node, consultation)}" for node in nodes)
        out.append("  }")
        boxed.update(nodes)
    out.extend(
        f"  {_dot_node(graph, node, consultation)}" for node in graph.nodes if node not in boxed
    )
    for column in _columns(graph):
        out.append("  { rank=same; " + " ".join(f"{dot_quote(node)};" for node in column) + " }")
    for source, target, key, data in graph.edges(keys=True, data=True):
        attrs = dict(_EDGE_STYLE.get(key, {}))
        if data.get("label") == "in reason":  # read only to word the explanation: drawn light
            attrs.update({"style": "dotted", "constraint": "false", "color": "#aaaaaa"})
        if key == "gates":
            attrs["constraint"] = "false"
        if data.get("label"):
            attrs["label"] = data["label"]
        if consultation:
            attrs.update(_ON if data.get("on_path") else _OFF_EDGE)
        out.append(f"  {dot_quote(source)} -> {dot_quote(target)} [{_dot_attrs(attrs)}];")
    out.append("}")
    return "\n".join(out) + "\n"


def _dot_node(graph: Graph, node: str, consultation: bool) -> str:
    data = graph.nodes[node]
    attrs = dict(_NODE_STYLE.get(_style_key(data), _NODE_STYLE["question"]))
    attrs["label"] = data["label"]
    if data.get("detail"):
        attrs["tooltip"] = data["detail"]
    if consultation:
        attrs.update({"penwidth": "2.6", "color": "#c2185b"} if data.get("on_path") else _OFF_NODE)
    if data.get("focus"):
        attrs.update({"penwidth": "3.5", "peripheries": "2"})
    return f"{dot_quote(node)} [{_dot_attrs(attrs)}];"


# ---------------------------------------------------------------------------------------------
# Mermaid


_MERMAID_ESCAPES = {
    "#": "#35;",
    '"': "#quot;",
    "<": "#lt;",
    ">": "#gt;",
    "&": "#amp;",
    "|": "#124;",
    "`": "#96;",
}
_MERMAID_RESERVED = {
    "end",
    "graph",
    "subgraph",
    "flowchart",
    "class",
    "classdef",
    "style",
    "linkstyle",
    "click",
    "direction",
    "default",
}


def mermaid_text(text: str) -> str:
    """Text for inside a quoted Mermaid label: characters the grammar or the HTML renderer would
    read are written as Mermaid entity codes (``#quot;``, ``#lt;``...), newlines as ``<br>``."""
    return "<br>".join(
        "".join(_MERMAID_ESCAPES.get(ch, ch) for ch in line) for line in str(text).split("\n")
    )


def _mermaid_ids(names: Iterable[str], prefix: str = "") -> dict[str, str]:
    ids: dict[str, str] = {}
    used: set[str] = set()
    for name in sorted(names):
        base = prefix + re.sub(r"[^A-Za-z0-9_]", "_", name)
        if not base[:1].isalpha():
            base = "n_" + base
        if base.lower() in _MERMAID_RESERVED:
            base += "_"
        candidate, n = base, 2
        while candidate in used:
            candidate, n = f"{base}_{n}", n + 1
        used.add(candidate)
        ids[name] = candidate
    return ids


_MERMAID_CLASSES = {
    key: f"fill:{s['fillcolor']},stroke:{s['color']},color:#111111"
    for key, s in _NODE_STYLE.items()
}
_MERMAID_ARROWS = {"derives": "==>", "gates": "-.->"}


def to_mermaid(graph: Graph) -> str:
    """A Mermaid flowchart (for Markdown pages): subgraphs per cluster, classes per node kind,
    link styles per edge kind; with a consultation, the path highlighted and the rest dimmed."""
    consultation = bool(graph.graph.get("consultation"))
    ids = _mermaid_ids(graph.nodes)
    cluster_ids = _mermaid_ids([c for c, _, _ in _clusters(graph)], "c_")
    out = ["flowchart LR"]
    for cluster, title, nodes in _clusters(graph):
        out.append(f'  subgraph {cluster_ids[cluster]}["{mermaid_text(title)}"]')
        for node in nodes:
            out.append(f'    {ids[node]}["{mermaid_text(graph.nodes[node]["label"])}"]')
        out.append("  end")
    link_styles: dict[str, list[int]] = {}
    for index, (source, target, key, data) in enumerate(graph.edges(keys=True, data=True)):
        arrow = _MERMAID_ARROWS.get(key, "-->")
        label = f'|"{mermaid_text(data["label"])}"|' if data.get("label") else ""
        out.append(f"  {ids[source]} {arrow}{label} {ids[target]}")
        style = ("on" if data.get("on_path") else "off") if consultation else key
        link_styles.setdefault(style, []).append(index)
    classes: dict[str, list[str]] = {}
    for node, data in graph.nodes(data=True):
        key = _style_key(data)
        if consultation and not data.get("on_path"):
            key = "dim"
        classes.setdefault(key, []).append(ids[node])
        if consultation and data.get("on_path"):
            classes.setdefault("onpath", []).append(ids[node])
        if data.get("focus"):
            classes.setdefault("focus", []).append(ids[node])
    definitions = dict(_MERMAID_CLASSES)
    definitions.update(
        {
            "dim": "fill:#f6f6f6,stroke:#d3d3d3,color:#a9a9a9",
            "onpath": "stroke:#c2185b,stroke-width:3px",
            "focus": "stroke-width:4px",
        }
    )
    class_ids = _mermaid_ids(classes, "k_")
    for key in sorted(classes):
        out.append(f"  classDef {class_ids[key]} {definitions[key]}")
        out.append(f"  class {','.join(sorted(classes[key]))} {class_ids[key]}")
    edge_styles = {
        kind: f"stroke:{s['color']},color:{s['fontcolor']}" for kind, s in _EDGE_STYLE.items()
    }
    edge_styles.update(
        {
            "on": "stroke:#c2185b,stroke-width:3px,color:#8e0f42",
            "off": "stroke:#dddddd,color:#c3c3c3",
        }
    )
    for style in sorted(link_styles):
        out.append(
            f"  linkStyle {','.join(str(i) for i in link_styles[style])} {edge_styles[style]}"
        )
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------
# GraphML, JSON, rendering


def to_graphml(graph: Graph) -> str:
    """GraphML with typed attributes (string, boolean, int); edge ids are the edge kinds."""
    import io

    import networkx as nx

    buffer = io.BytesIO()
    nx.write_graphml(graph, buffer, encoding="utf-8", prettyprint=True)
    return buffer.getvalue().decode("utf-8")


def to_json(graph: Graph) -> str:
    """networkx node-link JSON (``nodes``, ``edges``, ``graph``); ``node_link_graph`` reads it
    back."""
    import networkx as nx

    data = nx.node_link_data(graph, edges="edges")
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def find_dot() -> str | None:
    """The path of Graphviz's ``dot`` program, or None (the graphviz package needs it too)."""
    return shutil.which("dot")


def require_dot(fmt: str) -> str:
    """The ``dot`` program, or a UsageError naming the package to install."""
    dot = find_dot()
    if dot is None:
        raise UsageError(
            f"{fmt.upper()} output is drawn by Graphviz's 'dot' program, which is not on PATH: "
            "install "
            f"the package '{GRAPHVIZ_PACKAGE}' (Debian/Ubuntu: apt-get install {GRAPHVIZ_PACKAGE}; "
            f"macOS: brew install {GRAPHVIZ_PACKAGE}), or choose --format dot, graphml, mermaid or "
            "json, "
            "which need nothing else"
        )
    return dot


def render_dot(dot_text: str, fmt: str) -> bytes:
    """DOT text drawn by Graphviz's ``dot`` as ``fmt`` (svg, png), through the graphviz package."""
    require_dot(fmt)
    import graphviz

    try:
        return graphviz.pipe("dot", fmt, dot_text.encode("utf-8"), quiet=True)
    except graphviz.ExecutableNotFound:
        require_dot(fmt)  # gone since the check above: the message says what to install
        raise
    except graphviz.CalledProcessError as exc:
        message = (exc.stderr or b"").decode("utf-8", "replace").strip()
        raise AdvisorError(f"Graphviz 'dot' failed (exit {exc.returncode}): {message}") from None
    except OSError as exc:
        raise AdvisorError(f"Graphviz 'dot' failed: {exc}") from None


def render(graph: Graph, fmt: str) -> bytes:
    """The graph in one of FORMATS, as bytes (UTF-8 for the text formats)."""
    if fmt not in FORMATS:
        raise UsageError(
            f"unknown graph format {fmt!r}{did_you_mean(fmt, FORMATS)}; {one_of(FORMATS)}"
        )
    if fmt in RENDERED:
        return render_dot(to_dot(graph), fmt)
    writer = {"dot": to_dot, "mermaid": to_mermaid, "graphml": to_graphml, "json": to_json}[fmt]
    return writer(graph).encode("utf-8")


def format_for(path: Path | str | None) -> str | None:
    """The format a file name implies (``tree.svg`` -> svg), or None."""
    if path is None:
        return None
    return SUFFIXES.get(Path(path).suffix.lower())
