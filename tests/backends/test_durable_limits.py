"""durable_rules' limits, measured, and the adapter staying inside them (issue 17).

Some of these limits make durable_rules never return (and ignore Ctrl+C), so every probe runs
in a subprocess with a timeout: a regression fails the test instead of hanging the suite.
The raw probes import durable_rules alone (not the adapter, which fixes its number spelling).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from gpu_advisor.backends import durable as adapter


def _run(script: str, timeout: float) -> subprocess.CompletedProcess[str] | None:
    """Run a Python script; None if it did not finish in time."""
    try:
        return subprocess.run(
            [sys.executable, "-c", textwrap.dedent(script)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return None


RAW = """
    import json, sys
    import durable.engine as de

    class Host(de.Host):
        def _run(self):
            return None

        def get_action(self, name):
            return lambda closure: fired.append(name)

    ANCHOR = {"all": [{"m": {"kind": "session"}}], "run": "anchor"}

    attempts = iter(range(1000))

    def attempt(rules, facts):
        global fired
        fired = []
        host = Host()
        name = f"t{next(attempts)}"  # one name per ruleset: durable keeps them process-wide
        try:
            # durable_rules takes the "run" keys out of the rules it is given:
            # a fresh anchor each time
            host.set_rulesets({name: {**rules, "anchor": json.loads(json.dumps(ANCHOR))}})
            host.assert_fact(name, {"sid": "1", "kind": "session"})
            for fact in facts:
                try:
                    host.assert_fact(name, {"sid": "1", **fact})
                except de.MessageNotHandledException:
                    pass
            return len(fired) - 1
        except Exception as exc:
            return str(exc)[-16:]

    def ctx_rule(body, stage=0):
        return {"all": [{"m": {"$and": [{"kind": "ctx"}, {"stage": stage}] + body}}], "run": "r"}
"""


def test_just_under_each_limit_durable_rules_works_and_just_over_it_fails_fast() -> None:
    """The measured numbers behind the adapter's constants (durable_rules 2.0.28)."""
    or_terms = adapter.DURABLE_MAX_OR_TERMS
    per_node = adapter.DURABLE_MAX_RULES_PER_NODE
    half = adapter.DURABLE_MAX_BRANCHES_PER_NODE // 2
    fired = adapter.DURABLE_MAX_RULES_FIRED_PER_FACT
    fields = adapter.DURABLE_MAX_FACT_FIELDS
    per_ruleset = adapter.DURABLE_MAX_RULES_PER_RULESET
    script = (
        RAW
        + f"""
    results = {{}}
    results["or"] = attempt({{"r": ctx_rule([{{"$or": [{{"x": i}} for i in range({or_terms})]}}])}},
                            [{{"kind": "ctx", "stage": 0, "x": {or_terms} - 1}}])
    results["node"] = attempt(
        {{f"r{{i}}": ctx_rule([{{"$gt": {{"x": i}}}}]) for i in range({per_node})}},
        [{{"kind": "ctx", "stage": 0, "x": -1}}])
    results["branches"] = attempt(
        {{f"r{{j}}": ctx_rule([{{"$or": [{{"x": 1000 * j + i}} for i in range({half})]}}])
          for j in range(2)}},
        [{{"kind": "ctx", "stage": 0, "x": 1000 + {half} - 1}}])
    results["fired"] = attempt(
        {{f"r{{i}}": ctx_rule([{{"$gt": {{"x": i}}}}]) for i in range({fired})}},
        [{{"kind": "ctx", "stage": 0, "x": 10**6}}])
    results["fired+1"] = attempt(
        {{f"r{{i}}": ctx_rule([{{"$gt": {{"x": i}}}}]) for i in range({fired} + 1)}},
        [{{"kind": "ctx", "stage": 0, "x": 10**6}}])
    wide = {{f"p{{i}}": i for i in range({fields} - 3)}}  # with sid, kind and stage
    results["fields"] = attempt({{"r": ctx_rule([])}}, [{{"kind": "ctx", "stage": 0, **wide}}])
    results["fields+1"] = attempt(
        {{"r": ctx_rule([])}}, [{{"kind": "ctx", "stage": 0, "q": 0, **wide}}])
    spread = lambda n: {{
        f"r{{i}}": ctx_rule([{{"$gt": {{"x": i % 100}}}}], i // 100) for i in range(n)}}
    results["rules"] = attempt(spread({per_ruleset} - 1), [])
    results["rules+1"] = attempt(spread({per_ruleset}), [])
    results["1e+16"] = attempt({{"r": ctx_rule([{{"$gt": {{"x": 1e16}}}}])}}, [])
    results["1e-05"] = attempt({{"r": ctx_rule([{{"$gt": {{"x": 1e-5}}}}])}}, [])
    results["cross-field"] = attempt(
        {{"r": {{"all": [{{"c": {{"$and": [{{"kind": "ctx"}}]}}}},
                         {{"d": {{"$and": [{{"kind": "device"}},
                                          {{"$gt": {{"a": {{"c": "b"}}}}}}]}}}}],
                "run": "r"}}}},
        [{{"kind": "ctx"}}, {{"kind": "device", "a": 2, "b": 1}}])
    print(json.dumps(results))
    """
    )
    done = _run(script, 60)
    assert done is not None, "durable_rules did not return just under a limit"
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert results["or"] == 1  # 511 alternatives: fires
    assert results["node"] == 0  # 511 rules of one stage: returns
    assert results["branches"] == 1  # two rules of 255 alternatives each: fires
    assert results["fired"] == fired  # 64 rules fired by one fact
    assert results["fired+1"].endswith("303")
    assert results["fields"] == 1  # 253 fields (sid and kind included)
    assert results["fields+1"].endswith("302")
    assert results["rules"] == 0  # 4,096 rules with the anchor
    assert results["rules+1"].endswith("106")
    assert results["1e+16"].endswith("204") and results["1e-05"].endswith("204")
    assert results["cross-field"].endswith("311")


@pytest.mark.parametrize(
    "probe",
    [
        (
            'attempt({"r": ctx_rule([{"$or": [{"x": i} for i in range('
            f"{adapter.DURABLE_MAX_OR_TERMS + 1})]}}])}}, "
            '[{"kind": "ctx", "stage": 0, "x": 0}])'
        ),
        (
            'attempt({f"r{i}": ctx_rule([{"$gt": {"x": i}}]) for i in range('
            f"{adapter.DURABLE_MAX_RULES_PER_NODE + 1})}}, "
            '[{"kind": "ctx", "stage": 0, "x": -1}])'
        ),
        (
            'attempt({f"r{j}": ctx_rule([{"$or": [{"x": 1000 * j + i} for i in range('
            f"{adapter.DURABLE_MAX_BRANCHES_PER_NODE // 2 + 1})]}}]) for j in range(2)}}, "
            '[{"kind": "ctx", "stage": 0, "x": -1}])'
        ),
    ],
    ids=["or-512", "rules-per-node-512", "two-rules-of-256-alternatives"],
)
def test_one_past_the_hanging_limits_durable_rules_never_returns(probe: str) -> None:
    assert _run(RAW + "\n    print(" + probe + ")\n", 6) is None


ADAPTER = """
    import json
    from gpu_advisor.backends import durable as adapter
    from gpu_advisor.errors import AdvisorError, Location
    from gpu_advisor.lang.conditions import All, AnyOf, Leaf, Ref, evaluate

    HERE = Location("rules/test.yaml", 3, 5)
    x = Ref("answer", "x")

    def leaf(left, op, right):
        return Leaf(left, op, right, HERE, "")

    def fired(rules, answers, devices=(), facts=None):
        compiled = adapter.CompiledRules(rules)
        with compiled.session() as session:
            found = session.run_stage(0, answers, facts or {}, devices)
        return sorted((f.rule_id, f.device_id) for f in found), len(compiled.rulesets)

    def refused(rules):
        try:
            adapter.CompiledRules(rules)
        except AdvisorError as exc:
            return str(exc)
        return "accepted"

    out = {}
    wide = AnyOf(tuple(leaf(x, "==", i) for i in range(2000)), HERE)
    out["any"] = [fired([("wide", wide, 0, False)], {"x": v})[0] for v in (1999, 5, 700, -1)]
    listed = leaf(x, "in", tuple(range(1500)))
    out["in"] = [fired([("listed", listed, 0, False)], {"x": v})[0] for v in (1499, 0, 1500)]
    both = All((wide, leaf(Ref("answer", "y"), "in", tuple(range(600)))), HERE)
    out["product"] = fired([("both", both, 0, False)], {"x": 1000, "y": 599})[0]
    many = [(f"r{i}", leaf(x, ">", i), 0, False) for i in range(600)]
    firings, rulesets = fired(many, {"x": 10**6})
    out["many"] = [len(firings), rulesets]
    devices = [{"id": f"d{j}", "mem": 100 + j} for j in range(3)]
    dev_rules = [(f"d{i}", leaf(Ref("device", "mem"), ">", i), 0, True) for i in range(200)]
    firings, rulesets = fired(dev_rules, {}, devices)
    out["device-rules"] = [len(firings), rulesets]
    answers = {f"a{i}": i for i in range(400)}
    out["wide-fact"] = fired(
        [("one", leaf(Ref("answer", "a399"), "==", 399), 0, False)], answers)[0]
    big, small = 1e16, 1e-5
    out["numbers"] = [fired([("big", leaf(x, ">", big), 0, False)], {"x": 2e16})[0],
                      fired([("small", leaf(x, "<", 1e-4), 0, False)], {"x": small})[0],
                      fired([("huge", leaf(x, ">", 10**20), 0, False)], {"x": 10**21})[0],
                      fired([("eq", leaf(x, "==", 10**16), 0, False)], {"x": 1e16})[0]]
    pair = leaf(Ref("device", "a"), ">", Ref("device", "b"))
    out["device-pair"] = fired([("pair", pair, 0, True)], {}, [
        {"id": "yes", "a": 3, "b": 1}, {"id": "no", "a": 1, "b": 3}, {"id": "unset", "a": 1}])[0]
    ctx_pair = leaf(x, ">", Ref("fact", "f"))
    out["context-pair"] = [fired([("cp", ctx_pair, 0, False)], {"x": 3}, facts={"f": v})[0]
                           for v in (1, 5)]
    reads = All(tuple(leaf(Ref("answer", f"a{i}"), "==", 1)
                      for i in range(adapter.MAX_FIELDS_PER_RULE + 1)), HERE)
    out["too-many-fields"] = refused([("reads", reads, 0, False)])
    huge = AnyOf(tuple(leaf(x, "==", i)
                       for i in range(adapter.MAX_ALTERNATIVES_PER_RULE + 1)), HERE)
    out["too-many-parts"] = refused([("huge", huge, 0, False)])
    print(json.dumps(out))
"""


def test_the_adapter_compiles_around_the_limits_and_refuses_the_rest() -> None:
    done = _run(ADAPTER, 120)
    assert done is not None, "the adapter entered a durable_rules call that never returned"
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["any"] == [[["wide", None]], [["wide", None]], [["wide", None]], []]
    assert out["in"] == [[["listed", None]], [["listed", None]], []]
    assert out["product"] == [["both", None]]
    assert out["many"] == [600, 10]  # 64 rules of one stage per ruleset
    assert out["device-rules"] == [100 + 101 + 102, 4]  # mem > i for i < 200
    assert out["wide-fact"] == [["one", None]]
    assert out["numbers"] == [[["big", None]], [["small", None]], [["huge", None]], [["eq", None]]]
    assert out["device-pair"] == [["pair", "yes"]]
    assert out["context-pair"] == [[["cp", None]], []]
    assert "rule reads reads 251 different answers" in out["too-many-fields"]
    assert "split it into several rules" in out["too-many-parts"]


def test_numbers_are_spelled_for_durable_rules() -> None:
    text = json.dumps({"a": 1e16, "b": 1e-05, "c": 2.5e16, "d": "1e+16", "e": 10**20, "f": 7})
    assert adapter.durable_json_text(text) == (
        '{"a": 1.0e+16, "b": 1.0e-05, "c": 2.5e+16, "d": "1e+16", "e": 1.0e+20, "f": 7}'
    )
    with pytest.raises(ValueError, match="non-finite"):
        adapter.durable_json_text(json.dumps([float("nan")]))
