"""The decision tree as a networkx graph: questions, rules, derived facts and conclusions, with
a consultation's path marked on it. Drawing it (DOT, Mermaid...) is :mod:`graph_render`'s job.

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
rest is drawn dimmed. Output is deterministic (nodes and edges sorted, no timestamps). networkx
is imported inside functions so that the command line does not pay for it at start-up.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from gpu_advisor.errors import UsageError, did_you_mean
from gpu_advisor.formatting import printable
from gpu_advisor.lang.conditions import (
    FLIPPED,
    MISSING,
    NEGATED,
    All,
    AnyOf,
    Condition,
    Leaf,
    Not,
    Ref,
    show,
)

if TYPE_CHECKING:
    from gpu_advisor.core.consult import Consultation, Engine
    from gpu_advisor.knowledge.rulebase import Question, Rule, RuleBase

Graph = Any  # networkx.MultiDiGraph; networkx ships no type hints

EDGE_KINDS = ("needs", "derives", "gates", "excludes", "prefers", "warns")
CALC = "calc:arithmetic"
CONCLUSIONS = {"exclude": "device excluded", "prefer": "device score + / -", "warn": "warning"}


# ---------------------------------------------------------------------------------------------
# Text


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean(text: Any) -> str:
    """One line of plain text: terminal escape sequences, control characters and bidi
    overrides dropped (:func:`~gpu_advisor.formatting.printable`), whitespace runs made one
    space.

    Every label and attribute goes through here, so that no output format (XML above all) meets
    a character it cannot carry; escaping for each format happens when it is written.
    """
    # escape sequences whole and bidi overrides too (issue 17), then any control left
    value = _CONTROL.sub("", printable(unicodedata.normalize("NFC", str(text))))
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
        shown = str(cond)[len(str(cond.left)) + 1 :]  # the rule language's own rendering
        if negate:
            shown = f"{op}{shown[len(cond.op) :]}"
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

    def node(
        self,
        node_id: str,
        kind: str,
        label: str,
        cluster: str,
        cluster_label: str,
        detail: str = "",
        **extra: Any,
    ) -> None:
        self.nodes[node_id] = {
            "kind": kind,
            "label": label,
            "cluster": cluster,
            "cluster_label": clean(cluster_label),
            "detail": detail,
            **extra,
        }

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
        b.node(
            f"fact:{fact.name}",
            "fact",
            fact.name,
            "facts",
            facts_label,
            clean(fact.description),
            fact_type=fact.type,
            fact_kind=fact.kind,
        )
    b.node(
        CALC,
        "calc",
        "sizing & budget\narithmetic",
        "facts",
        facts_label,
        "memory need of the workload and, per device: GPUs needed, fit, count, cost, power",
    )
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
        b.node(
            f"q:{q.key}",
            "question",
            _lines(q.key, f"({_question_type(q)})"),
            "questions",
            "Questions",
            clean(q.prompt),
            question_type=q.type,
            choices=clean(", ".join(q.choices)),
            asked_when=clean(show(q.ask_when)),
        )
        for ref, tests in _tests_by_ref(q.ask_when).items():
            b.edge(f"q:{ref.name}", f"q:{q.key}", "gates", "asked if " + ", ".join(tests))


def _shown_path(rb: RuleBase, path: str) -> str:
    """A rule file's path as the graph shows it: relative to the rules folder's parent
    (``rules/budget.yaml``), so an export does not depend on where the checkout lives."""
    from pathlib import Path

    folder = Path(rb.directory).resolve()
    try:
        return str(Path(folder.name) / Path(path).resolve().relative_to(folder))
    except ValueError:
        return Path(path).name


def _add_rule(b: _Builder, rb: RuleBase, rule: Rule) -> None:
    node = f"rule:{rule.id}"
    detail = _lines(rule.description, f"when: {show(rule.when)}", f"then: {rule.conclusion}")
    b.node(
        node,
        "rule",
        _lines(rule.id, _rule_effect(rule)),
        f"topic:{rule.topic}",
        rb.topics.get(rule.topic, rule.topic),
        detail,
        topic=rule.topic,
        scope=rule.scope,
        stratum=rule.stratum,
        effect=_rule_colour_kind(rule),
        path=clean(_shown_path(rb, rule.path)),
    )
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
        b.edge(
            node,
            f"fact:{name}",
            "derives",
            "derives" if value is True else f"derives = {_value(value)}",
        )


def _effects(rule: Rule, may: bool = False) -> list[tuple[str, str, str]]:
    """(conclusion kind, edge kind, edge label) for each conclusion a rule draws about devices;
    ``may``: labelled as what it may conclude ("may exclude")."""
    effects = []
    if rule.exclude:
        effects.append(("exclude", "excludes", "may exclude" if may else "excludes"))
    if rule.prefer:
        points = f"{rule.prefer.points:+g}"
        effects.append(
            ("prefer", "prefers", f"may prefer {points}" if may else f"prefers {points}")
        )
    if rule.warn:
        effects.append(("warn", "warns", "may warn" if may else "warns"))
    return effects


def _add_conclusions(b: _Builder, rule: Rule, device_node: str | None = None) -> None:
    """Edges from a rule to the device it touched, or (without one, and for context rules such as
    a warning about the workload) to the node of each kind of conclusion."""
    for kind, edge_kind, label in _effects(rule):
        target = device_node if device_node and rule.scope == "device" else f"conclusion:{kind}"
        if target not in b.nodes:
            b.node(
                target,
                "conclusion",
                CONCLUSIONS[kind],
                "conclusions",
                "Conclusions",
                f"what rules conclude: {CONCLUSIONS[kind]}",
                conclusion=kind,
            )
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
        b.node(
            f"dev:{device_id}",
            "device",
            _lines(device.short_name, f"{device_id}: {status}"),
            "devices",
            "Devices",
            clean(device.name),
            status=clean(status),
            rank=ranks.get(device_id, 0),
            warned=device_id in warned,
        )
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
        node.update(
            label=_lines(q.key, shown), value=clean(_value(value)) if asked else "", on_path=asked
        )
    for name in rb.facts:
        node = b.nodes[f"fact:{name}"]
        value = consultation.facts.get(name)
        derived = name in consultation.derived_by or (
            rb.facts[name].kind == "computed" and value is not None
        )
        if value is not None:
            node["label"] = _lines(name, f"= {_value(value)}")
        node.update(value=clean(_value(value)) if value is not None else "", on_path=derived)
    b.nodes[CALC]["on_path"] = consultation.arithmetic.estimate is not None
    for node_id, data in b.nodes.items():
        if data["kind"] == "rule":
            data["on_path"] = node_id[len("rule:") :] in fired_rules
        elif data["kind"] == "device":
            data["on_path"] = node_id[len("dev:") :] in touched_devices
        elif data["kind"] == "conclusion":
            data["on_path"] = False
    for (source, target, kind), data in b.edges.items():
        data["on_path"] = _edge_on_path(b, source, target, kind, consultation)
    for (source, target, _kind), data in b.edges.items():
        if data["on_path"] and b.nodes[target]["kind"] == "conclusion":
            b.nodes[target]["on_path"] = True


def _edge_on_path(
    b: _Builder, source: str, target: str, kind: str, consultation: Consultation
) -> bool:
    src, dst = b.nodes[source], b.nodes[target]
    if kind in ("excludes", "prefers", "warns"):
        if dst["kind"] == "device":  # added only for firings
            return True
        return bool(src["on_path"])  # a context rule's warning
    if kind == "derives" and src["kind"] == "rule":
        return bool(src["on_path"]) and source[len("rule:") :] in consultation.derived_by.get(
            target[len("fact:") :], []
        )
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
    from gpu_advisor.arithmetic.context import context_arithmetic, device_attributes
    from gpu_advisor.core.answers import Answers
    from gpu_advisor.knowledge.vocabulary import DEVICE_ATTRIBUTES
    from gpu_advisor.lang.conditions import evaluate, refs, to_nnf

    if rule.scope != "device":
        return []
    nnf = to_nnf(rule.when)
    parts = nnf.items if isinstance(nnf, All) else (nnf,)
    static = [
        part
        for part in parts
        if all(
            r.scope == "device"
            and r.name in DEVICE_ATTRIBUTES
            and DEVICE_ATTRIBUTES[r.name].origin == "kb"
            for r in refs(part)
        )
    ]
    knowledge = engine.rulebase.knowledge
    nothing = Answers({})
    arithmetic = context_arithmetic(nothing, knowledge.directory)
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
    """The node id a focus name means: a rule id, a device id (or any node id, a fact name or
    a question key); UsageError with a did-you-mean otherwise."""
    rb = engine.rulebase
    rule_ids = [r.id for r in rb.rules]
    devices = list(rb.knowledge.devices)
    text = name.strip()
    if text in graph:
        return text
    for prefix, names in (
        ("rule:", rule_ids),
        ("dev:", devices),
        ("fact:", rb.facts),
        ("q:", rb.questions),
    ):
        if text in names or (text.startswith(prefix) and text[len(prefix) :] in names):
            node = text if text.startswith(prefix) else prefix + text
            if prefix == "dev:" and node not in graph and graph.graph.get("consultation"):
                raise UsageError(
                    f"device {node[4:]!r} is not among this consultation's candidates",
                    field="focus",
                )
            return node
    hint = did_you_mean(text, rule_ids + devices)
    raise UsageError(f"unknown rule or device {name!r}{hint}", field="focus")


def focus_graph(graph: Graph, engine: Engine, name: str) -> Graph:
    """One rule or device and everything that leads to it and follows from it.

    Without a consultation a device is joined to the device rules that may conclude about it
    (see :func:`devices_rule_may_touch`), with edges labelled ``may exclude`` and so on.
    """
    import networkx as nx

    node = resolve_focus(graph, engine, name)
    if node not in graph:  # a device, without a consultation
        graph = graph.copy()
        device = engine.rulebase.knowledge.devices[node[len("dev:") :]]
        graph.add_node(
            node,
            kind="device",
            label=_lines(device.short_name, device.id),
            cluster="devices",
            cluster_label="Devices",
            detail=clean(device.name),
        )
        for rule in engine.rulebase.rules:
            if device.id in devices_rule_may_touch(engine, rule):
                for _kind, edge_kind, label in _effects(rule, may=True):
                    graph.add_edge(
                        f"rule:{rule.id}", node, key=edge_kind, kind=edge_kind, label=label
                    )
    keep = nx.ancestors(graph, node) | nx.descendants(graph, node) | {node}
    sub = _ordered_subgraph(graph, keep)
    sub.nodes[node]["focus"] = True
    sub.graph["title"] = f"{graph.graph.get('title', '')}, focused on {node}"
    sub.graph["focus"] = node
    return sub


def topic_graph(graph: Graph, topic: str) -> Graph:
    """The rules of one topic with their direct inputs and outputs."""
    rules = {
        n for n, d in graph.nodes(data=True) if d["kind"] == "rule" and d.get("topic") == topic
    }
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
