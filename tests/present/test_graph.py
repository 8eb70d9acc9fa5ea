"""The decision-tree graph: structure, the consultation's path, focus, every output format,
hostile labels, the `graph` command, and the freshness of the pictures in docs/graphs."""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import networkx as nx
import pytest

from gpu_advisor.cli import graph as graph_command
from gpu_advisor.cli import main as cli
from gpu_advisor.core.consult import Consultation, Engine
from gpu_advisor.errors import UsageError
from gpu_advisor.lang.conditions import refs
from gpu_advisor.present import graph
from tests.core.test_engine import _random_answers

from ..conftest import ROOT

HOSTILE_RULES = ROOT / "tests" / "fixtures" / "hostile_rules"
HOSTILE_FLAVOUR = '"quoted" {braces} <angle> & amp \\ back'
HOSTILE_TITLE = 'Hostile "labels" {braces} <angle> & ampersands \\ backslashes, ümlauts, 日本語'
HAS_DOT = graph.find_dot() is not None
needs_dot = pytest.mark.skipif(
    not HAS_DOT, reason="Graphviz 'dot' is not installed (apt-get install graphviz)"
)

CONSULTATIONS = [
    {"workload": "inference", "model_params_b": 70, "precision": "fp4", "deployment": "production"},
    {"workload": "pretraining", "model_params_b": 7, "max_gpus": 8, "parallelism": "tensor"},
    {
        "workload": "fine-tuning",
        "model_params_b": 70,
        "method": "full",
        "max_gpus": 4,
        "budget_usd": 60000,
    },
    {
        "workload": "scientific",
        "scientific_profile": "fp32-throughput",
        "priority": "aggregate-fp32",
        "budget_usd": 150000,
        "purchase": "fill-budget",
        "candidates": "rtx-a6000,rtx-a5000",
    },
    {"site": "office", "off_grid": True, "longest_run_hours": 200},
]


@pytest.fixture(scope="module")
def whole(engine: Engine) -> Any:
    return graph.build_graph(engine)


@pytest.fixture(scope="module")
def hostile_engine() -> Engine:
    return Engine.load(ROOT / "kb", HOSTILE_RULES)


@pytest.fixture(scope="module")
def hostile_consultation(hostile_engine: Engine) -> Consultation:
    return hostile_engine.consult({"flavour": HOSTILE_FLAVOUR, "strict": True})


def edges_of(g: Any, kind: str | None = None) -> set[tuple[str, str]]:
    return {(u, v) for u, v, k in g.edges(keys=True) if kind is None or k == kind}


# ---------------------------------------------------------------------------------------------
# Structure


def test_every_question_rule_and_fact_is_a_node(engine: Engine, whole: Any) -> None:
    rb = engine.rulebase
    for key in rb.questions:
        assert whole.nodes[f"q:{key}"]["kind"] == "question"
    for rule in rb.rules:
        data = whole.nodes[f"rule:{rule.id}"]
        assert (data["kind"], data["topic"], data["cluster"]) == (
            "rule",
            rule.topic,
            f"topic:{rule.topic}",
        )
    for name in rb.facts:
        assert whole.nodes[f"fact:{name}"]["kind"] == "fact"
    assert not [n for n, d in whole.nodes(data=True) if d["kind"] == "device"]


def test_every_dependency_is_an_edge_and_every_edge_a_dependency(
    engine: Engine, whole: Any
) -> None:
    rb = engine.rulebase
    expected: set[tuple[str, str, str]] = set()
    for rule in rb.rules:
        node = f"rule:{rule.id}"
        for ref in rule.reads():
            if ref.scope == "answer":
                expected.add((f"q:{ref.name}", node, "needs"))  # rule reads answer
            elif ref.scope == "fact":
                expected.add((f"fact:{ref.name}", node, "needs"))  # rule reads fact
        for name in rule.derive:
            expected.add((node, f"fact:{name}", "derives"))  # rule derives fact
    for q in rb.questions.values():
        for ref in refs(q.ask_when):
            expected.add((f"q:{ref.name}", f"q:{q.key}", "gates"))  # question gated by answer
    between = {
        (u, v, k)
        for u, v, k in whole.edges(keys=True)
        if whole.nodes[u]["kind"] in ("question", "fact", "rule")
        and whole.nodes[v]["kind"] in ("question", "fact", "rule")
    }
    assert expected == between


def test_conclusions_point_at_one_node_per_kind_without_a_consultation(
    engine: Engine, whole: Any
) -> None:
    for rule in engine.rulebase.rules:
        node = f"rule:{rule.id}"
        assert ((node, "conclusion:exclude") in edges_of(whole, "excludes")) == rule.exclude
        assert ((node, "conclusion:prefer") in edges_of(whole, "prefers")) == bool(rule.prefer)
        assert ((node, "conclusion:warn") in edges_of(whole, "warns")) == bool(rule.warn)
    assert "prefers +2" in {
        d["label"] for _, _, d in whole.in_edges("conclusion:prefer", data=True)
    }


def test_the_arithmetic_feeds_computed_facts_and_the_rules_on_computed_device_facts(
    whole: Any,
) -> None:
    assert ("q:model_params_b", graph.CALC) in edges_of(whole, "needs")
    assert (graph.CALC, "fact:memory_need_gb") in edges_of(whole, "derives")
    label = whole.edges[graph.CALC, "rule:memory.vram-ceiling", "needs"]["label"]
    assert "fits is false" in label


def test_edge_labels_show_the_branch_a_rule_tests(whole: Any) -> None:
    assert (
        whole.edges["q:deployment", "rule:reliability.ecc-for-production", "needs"]["label"]
        == "== production"
    )
    assert (
        whole.edges["q:longest_run_hours", "rule:reliability.ecc-for-long-runs", "needs"]["label"]
        == ">= 48"
    )
    assert (
        whole.edges["q:workload", "q:scientific_profile", "gates"]["label"]
        == "asked if == scientific"
    )
    # seen from the right-hand side, a comparison is flipped (the rule reads
    # device.hardware_cost_usd > answer.budget_usd)
    assert (
        whole.edges["q:budget_usd", "rule:budget.over-budget", "needs"]["label"]
        == "< device.hardware_cost_usd"
    )
    assert (
        whole.edges["fact:needs_ecc", "rule:reliability.ecc-missing", "needs"]["label"] == "is true"
    )


def test_the_output_is_deterministic_across_processes() -> None:
    script = (
        "from gpu_advisor.core.consult import Engine; from gpu_advisor.present import graph; e = "
        "Engine.load(); "
        "c = e.consult({'workload': 'inference', 'deployment': 'production'}); "
        "print(graph.to_dot(graph.build_graph(e)) + graph.to_json(graph.build_graph(e, c)))"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
            cwd=ROOT,
            timeout=120,
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1


# ---------------------------------------------------------------------------------------------
# A consultation's path


def path_of(g: Any) -> dict[str, set[Any]]:
    on = {n for n, d in g.nodes(data=True) if d["on_path"]}
    return {
        "rules": {n[5:] for n in on if n.startswith("rule:")},
        "devices": {n[4:] for n in on if n.startswith("dev:")},
        "questions": {n[2:] for n in on if n.startswith("q:")},
        "touched": {
            (u[5:], v[4:])
            for u, v, d in g.edges(data=True)
            if d["on_path"] and v.startswith("dev:")
        },
    }


def trace_of(consultation: Consultation) -> dict[str, set[Any]]:
    return {
        "rules": {t.rule for t in consultation.trace},
        "devices": {t.device for t in consultation.trace if t.device},
        "questions": set(consultation.answers.values),
        "touched": {(t.rule, t.device) for t in consultation.trace if t.device},
    }


def test_the_highlighted_path_equals_the_engines_trace(engine: Engine) -> None:
    rng = random.Random(5)
    cases = CONSULTATIONS + [_random_answers(rng, engine) for _ in range(25)]
    for answers in cases:
        consultation = engine.consult(answers)
        g = graph.build_graph(engine, consultation)
        assert path_of(g) == trace_of(consultation), answers
        assert {n[4:] for n in g if n.startswith("dev:")} == set(consultation.devices)
        for u, v, d in g.edges(data=True):  # a highlighted edge joins highlighted nodes
            assert not d["on_path"] or (g.nodes[u]["on_path"] and g.nodes[v]["on_path"]), (u, v)
        for name in consultation.derived_by:
            assert g.nodes[f"fact:{name}"]["on_path"]


def test_device_edges_say_what_each_firing_concluded(engine: Engine) -> None:
    consultation = engine.consult(CONSULTATIONS[0])
    g = graph.build_graph(engine, consultation)
    excluded = consultation.all_exclusions
    for device, exclusions in excluded.items():
        for ex in exclusions:
            assert g.edges[f"rule:{ex.rule}", f"dev:{device}", "excludes"]["on_path"]
        assert g.nodes[f"dev:{device}"]["status"].startswith("excluded")
    top = consultation.recommendations[0]
    assert g.nodes[f"dev:{top.device}"]["status"].startswith("recommended #1")
    assert g.nodes["q:workload"]["label"] == "workload\n= inference"
    assert g.nodes["q:scientific_profile"]["on_path"] is False


def test_devices_a_rule_may_touch_cover_every_firing(engine: Engine) -> None:
    rng = random.Random(11)
    may = {
        rule.id: set(graph.devices_rule_may_touch(engine, rule)) for rule in engine.rulebase.rules
    }
    assert may["reliability.ecc-missing"] == {
        d for d, dev in engine.rulebase.knowledge.devices.items() if dev.value("ecc") is False
    }
    assert may["verdicts.paper-fp32-a5000"] == {"rtx-a5000"}
    for answers in CONSULTATIONS + [_random_answers(rng, engine) for _ in range(25)]:
        for rule_id, device in engine.consult(answers).fired:
            if device is not None:
                assert device in may[rule_id], (rule_id, device, answers)


# ---------------------------------------------------------------------------------------------
# Focus and topics


def test_focus_on_a_rule_keeps_what_leads_to_it_and_follows_from_it(
    engine: Engine, whole: Any
) -> None:
    g = graph.focus_graph(whole, engine, "reliability.consumer-not-for-24x7")
    nodes = set(g)
    assert {
        "rule:reliability.consumer-not-for-24x7",
        "fact:needs_datacenter_rated",
        "rule:reliability.continuous-needs-rated-hardware",
        "fact:continuous_service",
        "rule:reliability.week-long-runs",
        "q:longest_run_hours",
        "conclusion:exclude",
    } <= nodes
    assert "rule:memory.vram-ceiling" not in nodes and "q:precision" not in nodes
    assert g.nodes["rule:reliability.consumer-not-for-24x7"]["focus"] is True
    assert (
        graph.focus_graph(whole, engine, "rule:reliability.consumer-not-for-24x7").nodes == g.nodes
    )


def test_focus_on_a_device_without_answers_joins_the_rules_that_may_touch_it(
    engine: Engine, whole: Any
) -> None:
    g = graph.focus_graph(whole, engine, "rtx-5090")
    rules = {u for u, v in edges_of(g) if v == "dev:rtx-5090"}
    assert {
        "rule:reliability.ecc-missing",
        "rule:drivers.geforce-excluded",
        "rule:memory.vram-ceiling",
    } <= rules
    assert "rule:verdicts.paper-fp32-a5000" not in g
    assert (
        g.edges["rule:reliability.ecc-missing", "dev:rtx-5090", "excludes"]["label"]
        == "may exclude"
    )
    assert "conclusion:exclude" not in g


def test_focus_on_a_device_of_a_consultation_keeps_its_path(engine: Engine) -> None:
    consultation = engine.consult(CONSULTATIONS[0])
    g = graph.focus_graph(graph.build_graph(engine, consultation), engine, "rtx-5090")
    fired = {f"rule:{t.rule}" for t in consultation.trace if t.device == "rtx-5090"}
    assert {u for u, v in edges_of(g) if v == "dev:rtx-5090"} == fired
    assert "dev:h100-pcie" not in g


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("rtx-509", "'rtx-5090'"),
        ("memory.vram-cieling", "memory.vram-ceiling"),
        ("nonsense-name-xyz", ""),
    ],
)
def test_an_unknown_focus_is_a_usage_error_with_a_suggestion(
    engine: Engine, whole: Any, name: str, hint: str
) -> None:
    with pytest.raises(UsageError, match="unknown rule or device") as info:
        graph.focus_graph(whole, engine, name)
    assert hint in str(info.value)
    if hint:
        assert "did you mean" in str(info.value)


def test_a_device_outside_the_candidates_cannot_be_focused(engine: Engine) -> None:
    consultation = engine.consult({"candidates": "rtx-a6000,rtx-a5000"})
    with pytest.raises(UsageError, match="not among this consultation's candidates"):
        graph.focus_graph(graph.build_graph(engine, consultation), engine, "rtx-5090")


def test_a_topic_graph_holds_its_rules_and_their_neighbours(engine: Engine, whole: Any) -> None:
    g = graph.topic_graph(whole, "memory")
    rules = {n for n, d in g.nodes(data=True) if d["kind"] == "rule"}
    assert rules == {f"rule:{r.id}" for r in engine.rulebase.rules if r.topic == "memory"}
    assert {"q:growth_expected", graph.CALC, "conclusion:exclude"} <= set(g)
    with pytest.raises(UsageError):
        graph.topic_graph(whole, "no-such-topic")


# ---------------------------------------------------------------------------------------------
# Formats


_ID = r"[A-Za-z][A-Za-z0-9_]*"
_TEXT = r'"(?:[^"<>&]|<br>)*"'  # a quoted label: no raw quote, angle bracket or ampersand but <br>
_STYLE = r"[a-z-]+:[^,\s;]+(?:,[a-z-]+:[^,\s;]+)*"
MERMAID_LINES = {
    "subgraph": re.compile(rf"^\s*subgraph ({_ID})\[{_TEXT}\]$"),
    "end": re.compile(r"^\s*end$"),
    "node": re.compile(rf"^\s*({_ID})\[{_TEXT}\]$"),
    "edge": re.compile(rf"^\s*({_ID}) (?:-->|==>|-\.->)(?:\|{_TEXT}\|)? ({_ID})$"),
    "classDef": re.compile(rf"^\s*classDef ({_ID}) {_STYLE}$"),
    "class": re.compile(rf"^\s*class ({_ID}(?:,{_ID})*) ({_ID})$"),
    "linkStyle": re.compile(rf"^\s*linkStyle (\d+(?:,\d+)*) {_STYLE}$"),
}


def validate_mermaid(text: str) -> dict[str, int]:
    """A line validator for the Mermaid flowchart subset we write; returns counts per line kind."""
    lines = text.rstrip("\n").split("\n")
    assert re.fullmatch(r"flowchart (LR|RL|TB|TD|BT)", lines[0]), lines[0]
    counts = dict.fromkeys(MERMAID_LINES, 0)
    nodes: set[str] = set()
    classes: set[str] = set()
    depth = 0
    edges: list[tuple[str, str]] = []
    for line in lines[1:]:
        kind = next((k for k, pattern in MERMAID_LINES.items() if pattern.match(line)), None)
        assert kind is not None, f"not a valid Mermaid line: {line!r}"
        match = MERMAID_LINES[kind].match(line)
        assert match is not None
        counts[kind] += 1
        if kind == "subgraph":
            depth += 1
        elif kind == "end":
            depth -= 1
            assert depth >= 0, "end without subgraph"
        elif kind == "node":
            assert match.group(1) not in nodes, f"node {match.group(1)} defined twice"
            nodes.add(match.group(1))
        elif kind == "edge":
            edges.append((match.group(1), match.group(2)))
        elif kind == "classDef":
            classes.add(match.group(1))
        elif kind == "class":
            assert set(match.group(1).split(",")) <= nodes and match.group(2) in classes, line
        elif kind == "linkStyle":
            assert all(int(i) < len(edges) for i in match.group(1).split(",")), line
        if kind in ("node", "edge", "subgraph"):
            for label in re.findall(r'"((?:[^"])*)"', line):
                assert not re.search(r"#(?!\w+;)", label), f"a bare # in {label!r}"
    assert depth == 0, "unclosed subgraph"
    for source, target in edges:
        assert source in nodes and target in nodes, (source, target)
    return counts


def mermaid_unescape(text: str) -> str:
    names = {"quot": '"', "lt": "<", "gt": ">", "amp": "&"}
    text = text.replace("<br>", "\n")
    return re.sub(r"#(\w+);", lambda m: names.get(m.group(1)) or chr(int(m.group(1))), text)


def same_graph(a: Any, b: Any) -> None:
    assert a.is_directed() and a.is_multigraph()
    assert {k: v for k, v in a.graph.items() if not k.endswith("_default")} == b.graph
    assert (a.number_of_nodes(), a.number_of_edges()) == (b.number_of_nodes(), b.number_of_edges())
    assert dict(a.nodes(data=True)) == dict(b.nodes(data=True))
    assert sorted(a.edges(keys=True, data=True)) == sorted(b.edges(keys=True, data=True))


def sample_graphs(engine: Engine, whole: Any) -> dict[str, Any]:
    consultation = engine.consult(CONSULTATIONS[0])
    return {
        "whole": whole,
        "consultation": graph.build_graph(engine, consultation),
        "focus": graph.focus_graph(whole, engine, "rtx-5090"),
        "topic": graph.topic_graph(whole, "workload"),
    }


def test_graphml_and_json_round_trip_through_networkx(engine: Engine, whole: Any) -> None:
    for g in sample_graphs(engine, whole).values():
        graphml = graph.render(g, "graphml")
        same_graph(
            nx.read_graphml(io.BytesIO(graphml), force_multigraph=True, edge_key_type=str), g
        )
        same_graph(nx.node_link_graph(json.loads(graph.render(g, "json")), edges="edges"), g)


def test_mermaid_is_well_formed(engine: Engine, whole: Any) -> None:
    for name, g in sample_graphs(engine, whole).items():
        counts = validate_mermaid(graph.to_mermaid(g))
        assert counts["node"] == g.number_of_nodes(), name
        assert counts["edge"] == g.number_of_edges(), name


def test_the_mermaid_validator_rejects_broken_lines() -> None:
    for bad in [
        'flowchart LR\n  a["x"] -->|"bad| b\n',
        'flowchart LR\n  a["say "hi""]\n',
        'flowchart LR\n  subgraph s["t"]\n  a["x"]\n',
        'flowchart LR\n  a["<b>"]\n',
        'flowchart LR\n  a["x"]\n  a --> b\n',
        'flowchart LR\n  a["#1"]\n',
    ]:
        with pytest.raises(AssertionError):
            validate_mermaid(bad)


def test_dot_has_a_cluster_per_topic(engine: Engine, whole: Any) -> None:
    text = graph.to_dot(whole)
    assert text.startswith('digraph "gpu-advisor" {') and text.rstrip().endswith("}")
    for topic in engine.rulebase.topics:
        assert f'subgraph "cluster_topic:{topic}:' in text
    assert '"q:deployment" -> "rule:reliability.ecc-for-production"' in text


@needs_dot
def test_dot_renders_without_warnings_svg_parses_and_png_has_its_signature(
    engine: Engine, whole: Any
) -> None:
    for name, g in sample_graphs(engine, whole).items():
        done = subprocess.run(
            [graph.find_dot() or "dot", "-Tsvg"],
            input=graph.to_dot(g).encode(),
            capture_output=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0 and done.stderr == b"", (name, done.stderr)
        root = ET.fromstring(graph.render(g, "svg"))
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        assert graph.render(g, "png").startswith(b"\x89PNG\r\n\x1a\n")


def test_every_format_is_written_by_export_graph(engine: Engine, tmp_path: Path) -> None:
    consultation = engine.consult(CONSULTATIONS[1])
    for fmt in graph.FORMATS:
        if fmt in graph.RENDERED and not HAS_DOT:
            continue
        path = graph.export_graph(consultation, engine, fmt, tmp_path / f"path.{fmt}", focus="b200")
        assert path == tmp_path / f"path.{fmt}" and path.stat().st_size > 0
    graph.export_graph(None, engine, "json", tmp_path / "whole.json")
    data = json.loads((tmp_path / "whole.json").read_text(encoding="utf-8"))
    assert data["directed"] and data["multigraph"] and "on_path" not in data["nodes"][0]


# ---------------------------------------------------------------------------------------------
# Hostile labels


def hostile_graphs(engine: Engine, consultation: Consultation) -> dict[str, Any]:
    whole = graph.build_graph(engine)
    return {
        "whole": whole,
        "consultation": graph.build_graph(engine, consultation),
        "focus": graph.focus_graph(whole, engine, "hostile.exclude-without-ecc"),
        "topic": graph.topic_graph(whole, "hostile"),
    }


def test_hostile_labels_survive_in_the_graph_cleaned_of_control_characters(
    hostile_engine: Engine, hostile_consultation: Consultation
) -> None:
    g = graph.build_graph(hostile_engine, hostile_consultation)
    assert g.nodes["rule:hostile.quoted-flavour"]["cluster_label"] == HOSTILE_TITLE
    assert g.nodes["q:flavour"]["label"] == f"flavour\n= {HOSTILE_FLAVOUR}"
    detail = g.nodes["rule:hostile.exclude-without-ecc"]["detail"]
    assert 'Excludes <devices> without ECC & "quotes" \\ backslash; line break and a bell' in detail
    assert (
        "\a" not in detail and "\n" in detail
    )  # control characters gone; our own line breaks kept
    assert path_of(g) == trace_of(hostile_consultation)


def test_hostile_labels_render_in_every_text_format(
    hostile_engine: Engine, hostile_consultation: Consultation
) -> None:
    for g in hostile_graphs(hostile_engine, hostile_consultation).values():
        validate_mermaid(graph.to_mermaid(g))
        same_graph(
            nx.read_graphml(
                io.BytesIO(graph.render(g, "graphml")), force_multigraph=True, edge_key_type=str
            ),
            g,
        )
        same_graph(nx.node_link_graph(json.loads(graph.render(g, "json")), edges="edges"), g)
        check_dot_structure(graph.to_dot(g))
    mermaid = graph.to_mermaid(graph.build_graph(hostile_engine, hostile_consultation))
    labels = {mermaid_unescape(label) for label in re.findall(r'\["([^"]*)"\]', mermaid)}
    assert HOSTILE_TITLE in labels and f"flavour\n= {HOSTILE_FLAVOUR}" in labels


def check_dot_structure(dot: str) -> None:
    """With every quoted string blanked out, what is left is DOT's own syntax, one statement per
    line (a quote, brace or bracket a label let through would break the pattern)."""
    bare = re.sub(r'"(?:[^"\\\n]|\\.)*"', '""', dot)
    attrs = r'\[\w+=""(?:, \w+="")*\];'
    statement = re.compile(
        rf'^\s*(?:digraph "" \{{|subgraph "" \{{|\}}|\{{ rank=same;(?: "";)+ \}}|'
        rf'(?:graph|node|edge) {attrs}|"" {attrs}|"" -> "" {attrs})$'
    )
    for line in bare.splitlines():
        assert statement.match(line), line
    assert bare.count("{") == bare.count("}")


def test_escaping_round_trips_for_each_writer() -> None:
    hostile = 'a "q" {b} <c> & d \\ e #35; &lt; | `t` ümlaut 日本語'
    assert mermaid_unescape(graph.mermaid_text(hostile + "\nsecond")) == hostile + "\nsecond"
    assert graph.dot_quote(hostile + "\nx") == (
        '"a \\"q\\" {b} <c> &amp; d \\\\ e #35; &amp;lt; | `t` ümlaut 日本語\\nx"'
    )
    assert graph.clean("a\tb\x07c\x00 \n d\u0085") == "a bc d"


@needs_dot
def test_hostile_labels_come_out_of_graphviz_verbatim(
    hostile_engine: Engine, hostile_consultation: Consultation
) -> None:
    for name, g in hostile_graphs(hostile_engine, hostile_consultation).items():
        svg = ET.fromstring(graph.render(g, "svg"))
        texts = {el.text for el in svg.iter("{http://www.w3.org/2000/svg}text")}
        assert HOSTILE_TITLE in texts, name
        assert graph.render(g, "png").startswith(b"\x89PNG")
    svg = ET.fromstring(
        graph.render(graph.build_graph(hostile_engine, hostile_consultation), "svg")
    )
    texts = {el.text for el in svg.iter("{http://www.w3.org/2000/svg}text")}
    assert f"= {HOSTILE_FLAVOUR}" in texts
    assert (
        '== "\\"quoted\\" {braces} <angle> & amp \\\\ back"' in texts
    )  # the branch, in rule language


# ---------------------------------------------------------------------------------------------
# The command


@pytest.fixture
def run_cli(monkeypatch: pytest.MonkeyPatch, capsysbinary: pytest.CaptureFixture[bytes]) -> Any:
    """cli.main with the `graph` subcommand registered (whether or not cli.py registers it yet)."""
    original = cli.build_parser

    def with_graph(*args: Any, **kwargs: Any) -> argparse.ArgumentParser:
        parser = original(*args, **kwargs)
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        if "graph" not in sub.choices:
            graph_command.register(sub)
        return parser

    monkeypatch.setattr(cli, "build_parser", with_graph)

    def run(*args: str) -> tuple[int, str, str]:
        code = cli.main(["graph", *args])
        out, err = capsysbinary.readouterr()
        return code, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")

    return run


def test_graph_command_writes_each_text_format_to_stdout(run_cli: Any) -> None:
    code, out, _ = run_cli("--format", "mermaid")
    assert code == 0 and out.startswith("flowchart LR")
    code, out, _ = run_cli(
        "--set",
        "workload=inference",
        "--set",
        "deployment=production",
        "--format",
        "json",
        "--kb",
        str(ROOT / "kb"),
        "--rules",
        str(ROOT / "rules"),
    )
    data = json.loads(out)
    fired = {n["id"] for n in data["nodes"] if n["on_path"] and n["kind"] == "rule"}
    assert "rule:reliability.ecc-for-production" in fired
    code, out, _ = run_cli("--focus", "memory.vram-ceiling")
    assert (
        code == 0
        and out.startswith('digraph "gpu-advisor"')
        and "rule:budget.over-budget" not in out
    )


def test_graph_command_takes_the_format_from_the_output_name(run_cli: Any, tmp_path: Path) -> None:
    code, _, err = run_cli("-o", str(tmp_path / "tree.graphml"))
    assert code == 0 and "tree.graphml" in err
    assert (tmp_path / "tree.graphml").read_text(encoding="utf-8").startswith("<?xml")
    answers = tmp_path / "answers.yaml"
    answers.write_text("workload: inference\nmodel_params_b: 8\n", encoding="utf-8")
    code, _, _ = run_cli("--answers", str(answers), "-o", str(tmp_path / "path.mmd"))
    assert code == 0 and "linkStyle" in (tmp_path / "path.mmd").read_text(encoding="utf-8")


def test_graph_command_reports_an_unknown_focus_in_one_line(run_cli: Any) -> None:
    code, out, err = run_cli("--focus", "rtx-509")
    assert code == 2 and out == ""
    assert err.strip().count("\n") == 0 and "did you mean 'rtx-5090'" in err


def test_without_graphviz_svg_and_png_name_the_package_to_install(
    run_cli: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, engine: Engine
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert graph.find_dot() is None
    for fmt in ("svg", "png"):
        code, out, err = run_cli("--format", fmt, "-o", str(tmp_path / f"x.{fmt}"))
        assert code == 2 and out == "" and "Traceback" not in err
        assert "graphviz" in err and "apt-get install graphviz" in err and "--format dot" in err
        assert not (tmp_path / f"x.{fmt}").exists()
    with pytest.raises(UsageError, match="graphviz"):
        graph.export_graph(None, engine, "svg", tmp_path / "x.svg")
    code, out, _ = run_cli("--format", "dot")  # the text formats still work
    assert code == 0 and out.startswith("digraph")


def test_the_command_module_imports_only_argparse() -> None:
    script = (
        "import sys; import gpu_advisor.cli.graph; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('networkx', 'yaml', 'pydantic', 'durable', 'graphviz') or m == "
        "'gpu_advisor.present.graph'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"
    assert graph_command.FORMATS == graph.FORMATS


# ---------------------------------------------------------------------------------------------
# docs/graphs


DOCS = ROOT / "docs" / "graphs"


def test_the_pictures_in_docs_are_fresh(engine: Engine) -> None:
    sources = graph.docs_sources(engine)
    expected = set(sources) | {name[:-4] + ".svg" for name in sources if name.endswith(".dot")}
    committed = {p.name for p in DOCS.iterdir()} if DOCS.is_dir() else set()
    assert committed == expected, f"docs/graphs differs from the rule base; run {graph.REGENERATE}"
    for name, text in sources.items():
        assert (DOCS / name).read_text(encoding="utf-8") == text, (
            f"docs/graphs/{name} is stale; run {graph.REGENERATE}"
        )
    assert {"decision-tree.svg"} | {f"topic-{t}.svg" for t in engine.rulebase.topics} <= expected


def test_the_svgs_in_docs_are_drawn_from_their_dot_sources(engine: Engine) -> None:
    """An SVG is Graphviz's layout, which differs with the machine's fonts: it counts as fresh
    when it records the sha256 of the current DOT it was drawn from (the DOT itself is compared
    byte for byte above)."""
    sources = graph.docs_sources(engine)
    for svg_name, dot_name in graph.svg_names(sources).items():
        svg = (DOCS / svg_name).read_text(encoding="utf-8")
        assert graph.recorded_digest(svg) == graph.dot_digest(sources[dot_name]), (
            f"docs/graphs/{svg_name} was not drawn from the current {dot_name}; run "
            f"{graph.REGENERATE}"
        )
        ET.fromstring(svg.encode("utf-8"))


@needs_dot
def test_writing_the_docs_redraws_only_the_svgs_whose_dot_changed(
    engine: Engine, tmp_path: Path
) -> None:
    written = graph.write_docs_pictures(tmp_path, engine)
    assert sorted(p.name for p in written) == sorted(p.name for p in tmp_path.iterdir())
    svg = tmp_path / "topic-budget.svg"
    svg.write_text(
        svg.read_text(encoding="utf-8").replace("</svg>", "<!-- kept --></svg>"), encoding="utf-8"
    )
    graph.write_docs_pictures(tmp_path, engine)
    assert "<!-- kept -->" in svg.read_text(encoding="utf-8")  # same DOT: not redrawn
    svg.write_text(
        f"<!-- drawn from another DOT; dot sha256 {'0' * 64} -->\n<svg/>\n", encoding="utf-8"
    )
    graph.write_docs_pictures(tmp_path, engine)
    fresh = svg.read_text(encoding="utf-8")
    assert "<!-- kept -->" not in fresh and graph.recorded_digest(fresh) == graph.dot_digest(
        (tmp_path / "topic-budget.dot").read_text(encoding="utf-8")
    )


def test_docs_graph_page_links_every_picture(engine: Engine) -> None:
    page = (ROOT / "docs" / "graph.md").read_text(encoding="utf-8")
    assert "graphs/decision-tree.svg" in page
    for topic in engine.rulebase.topics:
        assert f"graphs/topic-{topic}.md" in page and f"graphs/topic-{topic}.svg" in page, topic
    assert "## Performance" in page
