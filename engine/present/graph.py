"""The decision tree as a graph: questions, rules, derived facts and conclusions, with a
consultation's path drawn on it.

Nodes (ids are stable and readable):

* ``q:<key>`` a question, ``rule:<id>`` a rule (clustered by its topic), ``fact:<name>`` a
  derived or computed fact, ``calc:arithmetic`` the sizing and budget arithmetic (it reads the
  sizing answers and computes ``memory_need_gb``, ``weights_gb`` and the per-device figures
  such as ``device.fits``);
* without a consultation, a rule's conclusion about devices points at one node per kind:
  ``conclusion:exclude``, ``conclusion:prefer``, ``conclusion:warn`` (the whole rule base stays
  legible: eleven device nodes per rule would not);
* with a consultation, every candidate device is a node ``dev:<id>`` and each firing of a device
  rule is an edge from the rule to the device it touched.

Edges run in the direction the data flows; every edge has a ``kind``: ``needs`` (an answer, a
fact or the arithmetic read by a rule; labelled with the test, e.g. ``== production``, or
``in reason`` when the value only appears in the rule's explanation), ``derives`` (rule to fact),
``gates`` (a question decides whether a later one is asked), ``excludes``, ``prefers``, ``warns``.

With a consultation, every node and edge carries ``on_path``: the questions asked, the rules
that fired, the facts they derived, the devices they touched and the edges between them; the
rest is drawn dimmed. Output is deterministic (nodes and edges sorted, no timestamps).

Formats: DOT, GraphML, Mermaid and JSON need nothing outside Python (networkx is a dependency);
SVG and PNG are rendered by Graphviz's ``dot`` program. networkx is imported inside functions so
that the command line does not pay for it at start-up.

Regenerate the pictures in ``docs/graphs``: ``.venv/bin/python -m gpu_advisor.present.graph``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gpu_advisor.lang.conditions import FLIPPED, MISSING, NEGATED, All, AnyOf, Condition, Leaf, Not, Ref, show
from gpu_advisor.errors import AdvisorError, UsageError, did_you_mean, one_of

if TYPE_CHECKING:
    from gpu_advisor.core.consult import Consultation, Engine
    from gpu_advisor.knowledge.rulebase import Question, Rule, RuleBase

Graph = Any  # networkx.MultiDiGraph; networkx ships no type hints

FORMATS = ("dot", "svg", "png", "graphml", "mermaid", "json")
RENDERED = ("svg", "png")
SUFFIXES = {".dot": "dot", ".gv": "dot", ".svg": "svg", ".png": "png", ".graphml": "graphml",
            ".mmd": "mermaid", ".mermaid": "mermaid", ".json": "json"}
GRAPHVIZ_PACKAGE = "graphviz"
REGENERATE = ".venv/bin/python -m gpu_advisor.present.graph"
DOCS_DIR = Path(__file__).resolve().parents[2] / "docs" / "graphs"

EDGE_KINDS = ("needs", "derives", "gates", "excludes", "prefers", "warns")
CALC = "calc:arithmetic"
CONCLUSIONS = {"exclude": "device excluded", "prefer": "device score + / -", "warn": "warning"}
_CLUSTER_ORDER = {"questions": 0, "facts": 2, "conclusions": 3, "devices": 4}


# ---------------------------------------------------------------------------------------------
# Text


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean(text: Any) -> str:
    """One line of plain text: control characters dropped, whitespace runs made one space.

    Every label and attribute goes through here, so that no output format (XML above all) meets
    a character it cannot carry; escaping for each format happens when it is written.
    """
    value = _CONTROL.sub("", unicodedata.normalize("NFC", str(text)))
    return " ".join(value.split())


def _lines(*parts: Any) -> str:
    """A multi-line label: each part cleaned, joined with newlines (each writer renders them)."""
    return "\n".join(clean(p) for p in parts if clean(p))


def _value(value: Any) -> str:
    if value is MISSING or value is None:
        return "not set"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_value(v) for v in value)
    return str(value)


# ---------------------------------------------------------------------------------------------
# What each condition tests, seen from one reference


def _tests(cond: Condition, negate: bool = False) -> Iterator[tuple[Ref, str]]:
    """(reference, the test on it) for every leaf, e.g. (answer.deployment, '== production').

    A leaf under ``not`` is shown negated; a comparison whose right side is the reference is
    shown flipped (``device.cost_usd > answer.budget_usd`` reads ``< device.cost_usd`` from the
    budget's side).
    """
    if isinstance(cond, Leaf):
        op = NEGATED.get(cond.op, cond.op) if negate else cond.op
        if cond.op in ("set", "not set"):
            op = {"set": "not set", "not set": "set"}[cond.op] if negate else cond.op
            yield cond.left, f"is {op}"
            return
        if isinstance(cond.right, Ref):
            yield cond.left, f"{op} {cond.right}"
            yield cond.right, f"{FLIPPED.get(op, op)} {cond.left}"
            return
        if op in ("==", "!=") and isinstance(cond.right, bool):
            truth = cond.right if op == "==" else not cond.right
            yield cond.left, f"is {'true' if truth else 'false'}"
            return
        shown = str(cond)[len(str(cond.left)) + 1:]  # the rule language's own rendering
        if negate:
            shown = f"{op}{shown[len(cond.op):]}"
        yield cond.left, shown
    elif isinstance(cond, Not):
        yield from _tests(cond.item, not negate)
    elif isinstance(cond, (All, AnyOf)):
        for item in cond.items:
            yield from _tests(item, negate)


def _tests_by_ref(cond: Condition) -> dict[Ref, list[str]]:
    found: dict[Ref, list[str]] = {}
    for ref, test in _tests(cond):
        tests = found.setdefault(ref, [])
        if test not in tests:
            tests.append(test)
    return found


def _computed_attribute(ref: Ref) -> bool:
    from gpu_advisor.knowledge.vocabulary import DEVICE_ATTRIBUTES

    attribute = DEVICE_ATTRIBUTES.get(ref.name)
    return ref.scope == "device" and attribute is not None and attribute.origin == "computed"


# ---------------------------------------------------------------------------------------------
# Building the graph


class _Builder:
    """Collects nodes and edges in dictionaries, then builds a graph in sorted order."""

    def __init__(self) -> None:
        self.nodes: dict[str, dict[str, Any]] = {}
        self.edges: dict[tuple[str, str, str], dict[str, Any]] = {}

    def node(self, node_id: str, kind: str, label: str, cluster: str, cluster_label: str,
             detail: str = "", **extra: Any) -> None:
        self.nodes[node_id] = {"kind": kind, "label": label, "cluster": cluster,
                               "cluster_label": clean(cluster_label), "detail": detail, **extra}

    def edge(self, source: str, target: str, kind: str, label: str) -> None:
        self.edges[(source, target, kind)] = {"kind": kind, "label": clean(label)}

    def graph(self, **attrs: Any) -> Graph:
        import networkx as nx

        graph = nx.MultiDiGraph(**attrs)
        for node_id in sorted(self.nodes):
            graph.add_node(node_id, **self.nodes[node_id])
        for source, target, kind in sorted(self.edges):
            graph.add_edge(source, target, key=kind, **self.edges[(source, target, kind)])
        return graph


def _question_type(q: Question) -> str:
    if q.type in ("number", "integer") and q.unit:
        return f"{q.type}, {q.unit}"
    return q.type


def _rule_effect(rule: Rule) -> str:
    """What a rule concludes, for its label: 'derives needs_ecc', 'prefers -1; warns'."""
    parts = ["derives " + ", ".join(sorted(rule.derive))] if rule.derive else []
    return "; ".join(parts + [label for _, _, label in _effects(rule)])


def _rule_colour_kind(rule: Rule) -> str:
    if rule.exclude:
        return "exclude"
    if rule.prefer:
        return "prefer"
    if rule.derive:
        return "derive"
    return "warn"


def build_graph(engine: Engine, consultation: Consultation | None = None) -> Graph:
    """The whole decision tree as a networkx MultiDiGraph (edge key = edge kind).

    With a consultation, candidate devices become nodes, each firing of a device rule an edge to
    the device it touched, and every node and edge gets ``on_path``.
    """
    from gpu_advisor.core.explain import why_asked

    rb = engine.rulebase
    b = _Builder()
    _add_questions(b, rb)
    facts_label = "Derived facts and arithmetic"
    for fact in rb.facts.values():
        b.node(f"fact:{fact.name}", "fact", fact.name, "facts", facts_label, clean(fact.description),
               fact_type=fact.type, fact_kind=fact.kind)
    b.node(CALC, "calc", "sizing & budget\narithmetic", "facts", facts_label,
           "memory need of the workload and, per device: GPUs needed, fit, count, cost, power")
    for key in rb.questions:
        if why_asked(rb, key).used_by_arithmetic:
            b.edge(f"q:{key}", CALC, "needs", "")
    for fact in rb.facts.values():
        if fact.kind == "computed":
            b.edge(CALC, f"fact:{fact.name}", "derives", "computes")
    for rule in rb.rules:
        _add_rule(b, rb, rule)
    if consultation is None:
        for rule in rb.rules:
            _add_conclusions(b, rule)
    else:
        _add_consultation(b, rb, consultation)
    title = "gpu-advisor decision tree" + (": a consultation's path" if consultation else "")
    return b.graph(name="gpu-advisor", title=title, consultation=consultation is not None)


def _add_questions(b: _Builder, rb: RuleBase) -> None:
    for q in rb.questions.values():
        b.node(f"q:{q.key}", "question", _lines(q.key, f"({_question_type(q)})"), "questions", "Questions",
               clean(q.prompt), question_type=q.type, choices=clean(", ".join(q.choices)),
               asked_when=clean(show(q.ask_when)))
        for ref, tests in _tests_by_ref(q.ask_when).items():
            b.edge(f"q:{ref.name}", f"q:{q.key}", "gates", "asked if " + ", ".join(tests))


def _add_rule(b: _Builder, rb: RuleBase, rule: Rule) -> None:
    node = f"rule:{rule.id}"
    detail = _lines(rule.description, f"when: {show(rule.when)}", f"then: {rule.conclusion}")
    b.node(node, "rule", _lines(rule.id, _rule_effect(rule)), f"topic:{rule.topic}",
           rb.topics.get(rule.topic, rule.topic), detail, topic=rule.topic, scope=rule.scope,
           stratum=rule.stratum, effect=_rule_colour_kind(rule), path=clean(rule.path))
    tests = _tests_by_ref(rule.when)
    computed: list[str] = []
    reads_computed = False
    for ref in sorted(rule.reads(), key=str):
        shown = ", ".join(tests.get(ref, [])) or "in reason"
        if ref.scope == "answer":
            b.edge(f"q:{ref.name}", node, "needs", shown)
        elif ref.scope == "fact":
            b.edge(f"fact:{ref.name}", node, "needs", shown)
        elif _computed_attribute(ref):
            computed.extend(f"{ref.name} {t}" for t in tests.get(ref, []))
            reads_computed = True
    if reads_computed:  # the per-device figures of the arithmetic (device.fits, device.cost_usd...)
        b.edge(CALC, node, "needs", ", ".join(dict.fromkeys(computed)) or "in reason")
    for name, value in sorted(rule.derive.items()):
        b.edge(node, f"fact:{name}", "derives", "derives" if value is True else f"derives = {_value(value)}")


def _effects(rule: Rule, may: bool = False) -> list[tuple[str, str, str]]:
    """(conclusion kind, edge kind, edge label) for each conclusion a rule draws about devices;
    ``may``: labelled as what it may conclude ("may exclude")."""
    effects = []
    if rule.exclude:
        effects.append(("exclude", "excludes", "may exclude" if may else "excludes"))
    if rule.prefer:
        points = f"{rule.prefer.points:+g}"
        effects.append(("prefer", "prefers", f"may prefer {points}" if may else f"prefers {points}"))
    if rule.warn:
        effects.append(("warn", "warns", "may warn" if may else "warns"))
    return effects


def _add_conclusions(b: _Builder, rule: Rule, device_node: str | None = None) -> None:
    """Edges from a rule to the device it touched, or (without one, and for context rules such as
    a warning about the workload) to the node of each kind of conclusion."""
    for kind, edge_kind, label in _effects(rule):
        target = device_node if device_node and rule.scope == "device" else f"conclusion:{kind}"
        if target not in b.nodes:
            b.node(target, "conclusion", CONCLUSIONS[kind], "conclusions", "Conclusions",
                   f"what rules conclude: {CONCLUSIONS[kind]}", conclusion=kind)
        b.edge(f"rule:{rule.id}", target, edge_kind, label)


def _add_consultation(b: _Builder, rb: RuleBase, consultation: Consultation) -> None:
    answers = consultation.answers
    fired_rules = {entry.rule for entry in consultation.trace}
    touched = {(entry.rule, entry.device) for entry in consultation.trace if entry.device}
    touched_devices = {device for _, device in touched}
    warned = {w.device for w in consultation.warnings if w.device}
    ranks = {r.device: i for i, r in enumerate(consultation.recommendations, start=1)}
    for device_id in consultation.devices:
        device = rb.knowledge.devices[device_id]
        if device_id in ranks:
            rec = consultation.recommendations[ranks[device_id] - 1]
            status = f"recommended #{ranks[device_id]}, {rec.count} x"
        elif device_id in consultation.all_exclusions:
            status = "excluded"
        else:
            status = consultation.status(device_id)
        if device_id in warned:
            status += ", warned"
        b.node(f"dev:{device_id}", "device", _lines(device.short_name, f"{device_id}: {status}"), "devices",
               "Devices", clean(device.name), status=clean(status), rank=ranks.get(device_id, 0),
               warned=device_id in warned)
    for rule in rb.rules:
        if rule.scope == "context":
            _add_conclusions(b, rule)
    for rule_id, device_id in sorted(touched):
        _add_conclusions(b, rb.rule(rule_id), f"dev:{device_id}")

    # what the consultation saw, on the labels
    for q in rb.questions.values():
        node = b.nodes[f"q:{q.key}"]
        value = answers.get(q.key)
        asked = q.key in answers.values
        if asked:
            shown = f"= {_value(value)}" + (" (default)" if q.key in answers.defaulted else "")
        else:
            shown = "not asked (answer ignored)" if q.key in answers.ignored else "not asked"
        node.update(label=_lines(q.key, shown), value=clean(_value(value)) if asked else "", on_path=asked)
    for name in rb.facts:
        node = b.nodes[f"fact:{name}"]
        value = consultation.facts.get(name)
        derived = name in consultation.derived_by or (rb.facts[name].kind == "computed" and value is not None)
        if value is not None:
            node["label"] = _lines(name, f"= {_value(value)}")
        node.update(value=clean(_value(value)) if value is not None else "", on_path=derived)
    b.nodes[CALC]["on_path"] = consultation.arithmetic.estimate is not None
    for node_id, data in b.nodes.items():
        if data["kind"] == "rule":
            data["on_path"] = node_id[len("rule:"):] in fired_rules
        elif data["kind"] == "device":
            data["on_path"] = node_id[len("dev:"):] in touched_devices
        elif data["kind"] == "conclusion":
            data["on_path"] = False
    for (source, target, kind), data in b.edges.items():
        data["on_path"] = _edge_on_path(b, source, target, kind, consultation)
    for (source, target, _kind), data in b.edges.items():
        if data["on_path"] and b.nodes[target]["kind"] == "conclusion":
            b.nodes[target]["on_path"] = True


def _edge_on_path(b: _Builder, source: str, target: str, kind: str, consultation: Consultation) -> bool:
    src, dst = b.nodes[source], b.nodes[target]
    if kind in ("excludes", "prefers", "warns"):
        if dst["kind"] == "device":  # added only for firings
            return True
        return bool(src["on_path"])  # a context rule's warning
    if kind == "derives" and src["kind"] == "rule":
        return bool(src["on_path"]) and source[len("rule:"):] in consultation.derived_by.get(
            target[len("fact:"):], [])
    return bool(src["on_path"] and dst["on_path"])


# ---------------------------------------------------------------------------------------------
# Focus and topics


def devices_rule_may_touch(engine: Engine, rule: Rule) -> list[str]:
    """The devices a device rule can conclude about, judged on their knowledge-base facts alone.

    A top-level part of the condition that reads only knowledge-base device facts (``device.ecc
    == false``, ``device.id == rtx-a6000``) is decided per device; everything that depends on
    answers, derived facts or the arithmetic is assumed satisfiable. Every firing of the rule in
    any consultation touches one of these devices.
    """
    from gpu_advisor.core.answers import Answers
    from gpu_advisor.arithmetic.context import context_arithmetic, device_attributes
    from gpu_advisor.lang.conditions import evaluate, refs, to_nnf
    from gpu_advisor.knowledge.vocabulary import DEVICE_ATTRIBUTES

    if rule.scope != "device":
        return []
    nnf = to_nnf(rule.when)
    parts = nnf.items if isinstance(nnf, All) else (nnf,)
    static = [part for part in parts
              if all(r.scope == "device" and r.name in DEVICE_ATTRIBUTES
                     and DEVICE_ATTRIBUTES[r.name].origin == "kb" for r in refs(part))]
    knowledge = engine.rulebase.knowledge
    nothing = Answers({})
    arithmetic = context_arithmetic(nothing)
    found = []
    for device_id, device in knowledge.devices.items():
        attrs = device_attributes(device, nothing, arithmetic)

        def lookup(ref: Ref, attrs: Mapping[str, Any] = attrs) -> Any:
            value = attrs.get(ref.name)
            return MISSING if value is None else value

        if all(evaluate(part, lookup) for part in static):
            found.append(device_id)
    return found


def resolve_focus(graph: Graph, engine: Engine, name: str) -> str:
    """The node id a ``--focus`` name means: a rule id, a device id (or any node id, a fact name or
    a question key); UsageError with a did-you-mean otherwise."""
    rb = engine.rulebase
    rule_ids = [r.id for r in rb.rules]
    devices = list(rb.knowledge.devices)
    text = name.strip()
    if text in graph:
        return text
    for prefix, names in (("rule:", rule_ids), ("dev:", devices), ("fact:", rb.facts), ("q:", rb.questions)):
        if text in names or (text.startswith(prefix) and text[len(prefix):] in names):
            node = text if text.startswith(prefix) else prefix + text
            if prefix == "dev:" and node not in graph and graph.graph.get("consultation"):
                raise UsageError(f"--focus: device {node[4:]!r} is not among this consultation's candidates")
            return node
    hint = did_you_mean(text, rule_ids + devices)
    raise UsageError(f"--focus: unknown rule or device {name!r}{hint}")


def focus_graph(graph: Graph, engine: Engine, name: str) -> Graph:
    """One rule or device and everything that leads to it and follows from it.

    Without a consultation a device is joined to the device rules that may conclude about it
    (see :func:`devices_rule_may_touch`), with edges labelled ``may exclude`` and so on.
    """
    import networkx as nx

    node = resolve_focus(graph, engine, name)
    if node not in graph:  # a device, without a consultation
        graph = graph.copy()
        device = engine.rulebase.knowledge.devices[node[len("dev:"):]]
        graph.add_node(node, kind="device", label=_lines(device.short_name, device.id), cluster="devices",
                       cluster_label="Devices", detail=clean(device.name))
        for rule in engine.rulebase.rules:
            if device.id in devices_rule_may_touch(engine, rule):
                for _kind, edge_kind, label in _effects(rule, may=True):
                    graph.add_edge(f"rule:{rule.id}", node, key=edge_kind, kind=edge_kind, label=label)
    keep = nx.ancestors(graph, node) | nx.descendants(graph, node) | {node}
    sub = _ordered_subgraph(graph, keep)
    sub.nodes[node]["focus"] = True
    sub.graph["title"] = f"{graph.graph.get('title', '')}, focused on {node}"
    sub.graph["focus"] = node
    return sub


def topic_graph(graph: Graph, topic: str) -> Graph:
    """The rules of one topic with their direct inputs and outputs."""
    rules = {n for n, d in graph.nodes(data=True) if d["kind"] == "rule" and d.get("topic") == topic}
    if not rules:
        raise UsageError(f"unknown topic {topic!r}")
    keep = set(rules)
    for node in rules:
        keep.update(graph.predecessors(node))
        keep.update(graph.successors(node))
    sub = _ordered_subgraph(graph, keep)
    title = next(graph.nodes[n]["cluster_label"] for n in sorted(rules))
    sub.graph["title"] = f"gpu-advisor decision tree: {title}"
    sub.graph["topic"] = topic
    return sub


def _ordered_subgraph(graph: Graph, keep: Iterable[str]) -> Graph:
    import networkx as nx

    wanted = set(keep)
    sub = nx.MultiDiGraph(**graph.graph)
    for node in sorted(wanted):
        sub.add_node(node, **graph.nodes[node])
    for source, target, key, data in sorted(graph.edges(keys=True, data=True), key=lambda e: e[:3]):
        if source in wanted and target in wanted:
            sub.add_edge(source, target, key=key, **data)
    return sub


# ---------------------------------------------------------------------------------------------
# DOT


_NODE_STYLE: dict[str, dict[str, str]] = {
    "question": {"shape": "box", "style": "rounded,filled", "fillcolor": "#dbe9f6", "color": "#4a7ab5"},
    "rule:derive": {"shape": "box", "style": "filled", "fillcolor": "#fff2b3", "color": "#a68a00"},
    "rule:exclude": {"shape": "box", "style": "filled", "fillcolor": "#f8cdc8", "color": "#b03a2e"},
    "rule:prefer": {"shape": "box", "style": "filled", "fillcolor": "#d5efcf", "color": "#2e7d32"},
    "rule:warn": {"shape": "box", "style": "filled", "fillcolor": "#fde3c0", "color": "#c76a00"},
    "fact": {"shape": "ellipse", "style": "filled", "fillcolor": "#e8e0f5", "color": "#6a4c9c"},
    "fact:requirement": {"shape": "ellipse", "style": "filled", "fillcolor": "#e8e0f5", "color": "#6a4c9c",
                         "peripheries": "2"},
    "fact:computed": {"shape": "ellipse", "style": "filled,dashed", "fillcolor": "#f1edf7", "color": "#6a4c9c"},
    "calc": {"shape": "hexagon", "style": "filled", "fillcolor": "#eeeeee", "color": "#555555"},
    "conclusion:exclude": {"shape": "octagon", "style": "filled", "fillcolor": "#e8a09a", "color": "#b03a2e"},
    "conclusion:prefer": {"shape": "octagon", "style": "filled", "fillcolor": "#a8d8a0", "color": "#2e7d32"},
    "conclusion:warn": {"shape": "octagon", "style": "filled", "fillcolor": "#f5c27a", "color": "#c76a00"},
    "device": {"shape": "box3d", "style": "filled", "fillcolor": "#eeeeee", "color": "#555555"},
    "device:recommended": {"shape": "box3d", "style": "filled", "fillcolor": "#a8d8a0", "color": "#2e7d32"},
    "device:excluded": {"shape": "box3d", "style": "filled", "fillcolor": "#e8a09a", "color": "#b03a2e"},
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
    escaped = [line.replace("\\", "\\\\").replace('"', '\\"').replace("&", "&amp;")
               for line in str(text).split("\n")]
    return '"' + "\\n".join(escaped) + '"'


def _dot_attrs(attrs: Mapping[str, Any]) -> str:
    return ", ".join(f"{key}={dot_quote(str(value))}" for key, value in attrs.items())


def _cluster_sort_key(cluster: str) -> tuple[int, str]:
    return (_CLUSTER_ORDER.get(cluster, 1), cluster)


def _clusters(graph: Graph) -> list[tuple[str, str, list[str]]]:
    """(cluster id, title, nodes) in a fixed order: questions, topics, facts, conclusions, devices."""
    found: dict[str, tuple[str, list[str]]] = {}
    for node, data in graph.nodes(data=True):
        found.setdefault(data["cluster"], (data["cluster_label"], []))[1].append(node)
    return [(cluster, found[cluster][0], sorted(found[cluster][1]))
            for cluster in sorted(found, key=_cluster_sort_key)]


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
        drawn.extend((f"{cluster}:{stratum}", title, by_stratum[stratum]) for stratum in sorted(by_stratum))
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
    out.append("  graph [" + _dot_attrs({
        "charset": "UTF-8", "rankdir": "LR", "fontname": _FONT, "fontsize": "16", "labelloc": "t",
        "label": graph.graph.get("title", ""), "nodesep": "0.12", "ranksep": "0.9", "newrank": "true",
        "bgcolor": "white", "pad": "0.3"}) + "];")
    out.append("  node [" + _dot_attrs({"fontname": _FONT, "fontsize": "11", "margin": "0.12,0.05",
                                        "height": "0.3"}) + "];")
    out.append("  edge [" + _dot_attrs({"fontname": _FONT, "fontsize": "9", "arrowsize": "0.6"}) + "];")
    boxed = set()
    for cluster, title, nodes in _dot_clusters(graph):
        out.append(f"  subgraph {dot_quote('cluster_' + cluster)} {{")
        out.append("    graph [" + _dot_attrs({"label": title, "style": "rounded,filled", "fillcolor": "#fafafa",
                                                "color": "#bbbbbb", "fontsize": "13"}) + "];")
        out.extend(f"    {_dot_node(graph, node, consultation)}" for node in nodes)
        out.append("  }")
        boxed.update(nodes)
    out.extend(f"  {_dot_node(graph, node, consultation)}" for node in graph.nodes if node not in boxed)
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


_MERMAID_ESCAPES = {"#": "#35;", '"': "#quot;", "<": "#lt;", ">": "#gt;", "&": "#amp;", "|": "#124;",
                    "`": "#96;"}
_MERMAID_RESERVED = {"end", "graph", "subgraph", "flowchart", "class", "classdef", "style", "linkstyle",
                     "click", "direction", "default"}


def mermaid_text(text: str) -> str:
    """Text for inside a quoted Mermaid label: characters the grammar or the HTML renderer would
    read are written as Mermaid entity codes (``#quot;``, ``#lt;``...), newlines as ``<br>``."""
    return "<br>".join("".join(_MERMAID_ESCAPES.get(ch, ch) for ch in line) for line in str(text).split("\n"))


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


_MERMAID_CLASSES = {key: f"fill:{s['fillcolor']},stroke:{s['color']},color:#111111"
                    for key, s in _NODE_STYLE.items()}
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
    definitions.update({"dim": "fill:#f6f6f6,stroke:#d3d3d3,color:#a9a9a9",
                        "onpath": "stroke:#c2185b,stroke-width:3px", "focus": "stroke-width:4px"})
    class_ids = _mermaid_ids(classes, "k_")
    for key in sorted(classes):
        out.append(f"  classDef {class_ids[key]} {definitions[key]}")
        out.append(f"  class {','.join(sorted(classes[key]))} {class_ids[key]}")
    edge_styles = {kind: f"stroke:{s['color']},color:{s['fontcolor']}" for kind, s in _EDGE_STYLE.items()}
    edge_styles.update({"on": "stroke:#c2185b,stroke-width:3px,color:#8e0f42",
                        "off": "stroke:#dddddd,color:#c3c3c3"})
    for style in sorted(link_styles):
        out.append(f"  linkStyle {','.join(str(i) for i in link_styles[style])} {edge_styles[style]}")
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
    """networkx node-link JSON (``nodes``, ``edges``, ``graph``); ``node_link_graph`` reads it back."""
    import networkx as nx

    data = nx.node_link_data(graph, edges="edges")
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def find_dot() -> str | None:
    """The path of Graphviz's ``dot`` program, or None."""
    return shutil.which("dot")


def require_dot(fmt: str) -> str:
    """The ``dot`` program, or a UsageError naming the package to install."""
    dot = find_dot()
    if dot is None:
        raise UsageError(
            f"{fmt.upper()} output is drawn by Graphviz's 'dot' program, which is not on PATH: install "
            f"the package '{GRAPHVIZ_PACKAGE}' (Debian/Ubuntu: apt-get install {GRAPHVIZ_PACKAGE}; "
            f"macOS: brew install {GRAPHVIZ_PACKAGE}), or choose --format dot, graphml, mermaid or json, "
            "which need nothing else")
    return dot


def render_dot(dot_text: str, fmt: str) -> bytes:
    """Run ``dot -T<fmt>`` on DOT text."""
    dot = require_dot(fmt)
    try:
        done = subprocess.run([dot, f"-T{fmt}"], input=dot_text.encode("utf-8"), capture_output=True,
                              timeout=300, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise AdvisorError(f"Graphviz 'dot' failed: {exc}") from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip()
        raise AdvisorError(f"Graphviz 'dot' failed (exit {done.returncode}): {message}")
    return done.stdout


def render(graph: Graph, fmt: str) -> bytes:
    """The graph in one of FORMATS, as bytes (UTF-8 for the text formats)."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown graph format {fmt!r}{did_you_mean(fmt, FORMATS)}; {one_of(FORMATS)}")
    if fmt in RENDERED:
        return render_dot(to_dot(graph), fmt)
    writer = {"dot": to_dot, "mermaid": to_mermaid, "graphml": to_graphml, "json": to_json}[fmt]
    return writer(graph).encode("utf-8")


def format_for(path: Path | str | None) -> str | None:
    """The format a file name implies (``tree.svg`` -> svg), or None."""
    if path is None:
        return None
    return SUFFIXES.get(Path(path).suffix.lower())


def export_graph(consultation: Consultation | None, engine: Engine, fmt: str, path: Path | str,
                 focus: str | None = None) -> Path:
    """Write the decision tree (with the consultation's path, when given) to ``path``; the TUI's
    export calls this. ``fmt`` is one of FORMATS; ``focus`` a rule or device id."""
    if fmt in RENDERED:
        require_dot(fmt)
    graph = build_graph(engine, consultation)
    if focus:
        graph = focus_graph(graph, engine, focus)
    data = render(graph, fmt)
    target = Path(path)
    try:
        target.write_bytes(data)
    except OSError as exc:
        raise UsageError(f"{target}: cannot write ({exc.strerror or exc})") from None
    return target


# ---------------------------------------------------------------------------------------------
# The pictures in docs/graphs


_VERSION_COMMENT = re.compile(r"<!-- Generated by graphviz version [^>]*-->\n?")
SOURCE_NOTE = "Generated by gpu-advisor ({command}); do not edit."


def graphviz_version(svg: str) -> str | None:
    """The Graphviz version an SVG records, or None."""
    match = re.search(r"<!-- Generated by graphviz version ([^>]*?)\s*-->", svg)
    return match.group(1) if match else None


def strip_version(svg: str) -> str:
    return _VERSION_COMMENT.sub("", svg)


def docs_sources(engine: Engine) -> dict[str, str]:
    """The text files of docs/graphs: one DOT per picture (the whole tree, each topic) and a
    Markdown page per topic with its Mermaid version. The SVGs are drawn from the DOT files."""
    graph = build_graph(engine)
    files = {"decision-tree.dot": to_dot(graph)}
    note = SOURCE_NOTE.format(command=REGENERATE)
    for topic, title in sorted(engine.rulebase.topics.items()):
        sub = topic_graph(graph, topic)
        files[f"topic-{topic}.dot"] = to_dot(sub)
        files[f"topic-{topic}.md"] = (
            f"# Decision tree: {clean(title)}\n\n<!-- {note} -->\n\n"
            f"Rules of the `{topic}` topic with their inputs and conclusions "
            f"([SVG](topic-{topic}.svg); legend and the whole tree in [../graph.md](../graph.md)).\n\n"
            f"```mermaid\n{to_mermaid(sub)}```\n")
    return files


def write_docs_pictures(out_dir: Path, engine: Engine) -> list[Path]:
    """Write docs/graphs: ``decision-tree.svg``, ``topic-<topic>.svg``, their DOT sources and a
    Mermaid page per topic. Deterministic for one Graphviz version (its version comment is kept
    out of the SVG so that only the drawing counts). Returns the files written, sorted."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    require_dot("svg")
    written = []
    for name, text in docs_sources(engine).items():
        (out / name).write_text(text, encoding="utf-8")
        written.append(out / name)
        if name.endswith(".dot"):
            svg = render_dot(text, "svg").decode("utf-8")
            version = graphviz_version(svg) or "unknown"
            svg = strip_version(svg).replace(
                "<svg ", f"<!-- {SOURCE_NOTE.format(command=REGENERATE)} Graphviz {version} -->\n<svg ", 1)
            svg_path = out / (name[:-len(".dot")] + ".svg")
            svg_path.write_text(svg, encoding="utf-8")
            written.append(svg_path)
    return sorted(written)


def recorded_graphviz_version(svg: str) -> str | None:
    """The Graphviz version write_docs_pictures recorded in a docs SVG."""
    match = re.search(r"do not edit\. Graphviz (\S+(?: \(\d+\))?) -->", svg)
    return match.group(1) if match else None


def main(argv: list[str] | None = None) -> int:
    """``python -m gpu_advisor.present.graph [OUT_DIR]``: regenerate docs/graphs."""
    import sys

    from gpu_advisor.core.consult import Engine

    args = list(sys.argv[1:] if argv is None else argv)
    out_dir = Path(args[0]) if args else DOCS_DIR
    from gpu_advisor.cli.main import report_error

    try:
        written = write_docs_pictures(out_dir, Engine.load())
    except AdvisorError as exc:
        return report_error(exc)
    for path in written:
        sys.stdout.write(f"{path}\n")
    return 0


__all__ = [
    "FORMATS",
    "build_graph",
    "devices_rule_may_touch",
    "docs_sources",
    "export_graph",
    "find_dot",
    "focus_graph",
    "format_for",
    "render",
    "to_dot",
    "to_graphml",
    "to_json",
    "to_mermaid",
    "topic_graph",
    "write_docs_pictures",
]


if __name__ == "__main__":
    raise SystemExit(main())
