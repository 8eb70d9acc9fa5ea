"""The condition language: parsing with positions, evaluation, and agreement with durable_rules."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpu_advisor.backends import durable as durable_adapter
from gpu_advisor.errors import FileError, Location
from gpu_advisor.lang.conditions import (
    MISSING,
    All,
    AnyOf,
    ConditionSyntaxError,
    Leaf,
    Not,
    Ref,
    evaluate,
    parse_condition,
    parse_leaf,
    show,
    to_nnf,
)

HERE = Location("t.yaml", 3, 11)


def leaf(text: str) -> Leaf:
    return parse_leaf(text, HERE)


def test_parses_comparisons_membership_and_presence() -> None:
    assert leaf("answer.workload == inference").right == "inference"
    assert leaf("answer.budget_usd >= 150_000").right == 150000
    assert leaf("device.memory_gb < fact.memory_need_gb").right == Ref("fact", "memory_need_gb")
    assert leaf("answer.priority in [lowest-cost, 'fewest nodes']").right == (
        "lowest-cost",
        "fewest nodes",
    )
    assert leaf("answer.x not in [a]").op == "not in"
    assert leaf("answer.budget_usd is not set").op == "not set"
    bare = leaf("fact.needs_ecc")
    assert (bare.op, bare.right) == ("==", True)


@pytest.mark.parametrize(
    ("text", "offset", "fragment"),
    [
        ("answer.workload = inference", 16, "unexpected character"),
        ("workload == inference", 0, "starts with a reference"),
        ("answer.workload ==", 18, "missing a value"),
        ("answer.x in [a, b", 17, "unclosed list"),
        ("answer.x is maybe", 9, "is set"),
        ("answer.x == 1 2", 14, "unexpected"),
    ],
)
def test_syntax_errors_point_at_the_column(text: str, offset: int, fragment: str) -> None:
    with pytest.raises(ConditionSyntaxError) as info:
        leaf(text)
    assert info.value.offset == offset
    assert fragment in info.value.message


def test_parse_condition_reports_file_positions() -> None:
    errors: list[FileError] = []
    marks = {("when",): Location("r.yaml", 7, 11), ("when", "any", 1): Location("r.yaml", 9, 13)}

    def where(key: tuple[Any, ...]) -> Location:
        return marks.get(key, Location("r.yaml", 1, 1))

    parse_condition(
        {"any": ["answer.a == 1", "answer.b === 2"]}, where, ("when",), lambda k: False, errors
    )
    assert [str(e.location) for e in errors] == ["r.yaml:9:24"]
    assert "unexpected character" in errors[0].message


def test_quoted_scalars_shift_the_column_by_the_quote() -> None:
    errors: list[FileError] = []
    parse_condition(
        "answer.a == ", lambda k: Location("r.yaml", 2, 9), ("when",), lambda k: True, errors
    )
    assert str(errors[0].location) == "r.yaml:2:22"


def test_missing_values_make_comparisons_false_and_not_is_classical() -> None:
    cond = leaf("answer.x == 5")
    lookup = lambda ref: MISSING  # noqa: E731
    assert evaluate(cond, lookup) is False
    assert evaluate(Not(cond, HERE), lookup) is True
    assert evaluate(to_nnf(Not(cond, HERE)), lookup) is True


def test_show_round_trips_through_the_parser() -> None:
    text = 'answer.priority in [lowest-cost, "a b"]'
    assert show(leaf(show(leaf(text)))) == show(leaf(text))


# ---------------------------------------------------------------------------------------------
# Property: Python evaluation, its negation normal form and durable_rules agree

NAMES = ("p", "q", "r")
VALUES = st.one_of(st.just(MISSING), st.integers(0, 3))


@st.composite
def conditions(draw: Any, depth: int = 0) -> Any:
    if depth >= 3 or draw(st.booleans()):
        name = draw(st.sampled_from(NAMES))
        op = draw(
            st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "in", "not in", "set", "not set"])
        )
        if op in ("set", "not set"):
            right: Any = None
        elif op in ("in", "not in"):
            right = tuple(draw(st.lists(st.integers(0, 3), min_size=1, max_size=3)))
        else:
            right = draw(st.integers(0, 3))
        return Leaf(Ref("answer", name), op, right, HERE, "")
    kind = draw(st.sampled_from(["all", "any", "not"]))
    if kind == "not":
        return Not(draw(conditions(depth + 1)), HERE)
    items = tuple(draw(st.lists(conditions(depth + 1), min_size=1, max_size=3)))
    return All(items, HERE) if kind == "all" else AnyOf(items, HERE)


@settings(max_examples=300, deadline=None)
@given(cond=conditions(), values=st.fixed_dictionaries({n: VALUES for n in NAMES}))
def test_nnf_preserves_meaning(cond: Any, values: dict[str, Any]) -> None:
    lookup = lambda ref: values[ref.name]  # noqa: E731
    assert evaluate(to_nnf(cond), lookup) == evaluate(cond, lookup)


@settings(max_examples=150, deadline=None)
@given(cond=conditions(), values=st.fixed_dictionaries({n: VALUES for n in NAMES}))
def test_durable_rules_agrees_with_python(cond: Any, values: dict[str, Any]) -> None:
    definition = {"rule": durable_adapter.compile_rule("rule", cond, 0, device_scoped=False)}
    host, name, fired = durable_adapter.bare_ruleset(copy.deepcopy(definition))
    answers = {k: v for k, v in values.items() if v is not MISSING}
    fact = durable_adapter.context_fact("s1", 0, answers, {})
    durable_adapter.open_raw(host, name, "s1")
    durable_adapter.assert_fact_raw(host, name, fact)
    durable_adapter.delete_raw(host, name, "s1")
    assert bool(fired) == evaluate(cond, lambda ref: values[ref.name])
