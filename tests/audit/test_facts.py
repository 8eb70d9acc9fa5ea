"""The audit's shared device facts (engine/audit/facts.py) are the consultation's own: on random
answers, and on neighbours of them that differ in the answers the sharing leaves out of a key,
the shared path gives exactly what ``context_arithmetic`` and ``device_attributes`` give."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpu_advisor.arithmetic.context import ARITHMETIC_ANSWERS
from gpu_advisor.audit.facts import ENERGY_ONLY, NOT_SIZED, DeviceFacts
from gpu_advisor.core.answers import Answers, normalize_answers
from gpu_advisor.knowledge.kb_schema import load_knowledge
from gpu_advisor.knowledge.rulebase import Question, RuleBase, load_rulebase

from ..conftest import ROOT

RB: RuleBase = load_rulebase(ROOT / "rules", load_knowledge(ROOT / "kb"))
SHARED = DeviceFacts(RB)
"""One instance for every example: what one example remembers, the next may reuse."""


def _value(q: Question) -> st.SearchStrategy[Any]:
    """Any answer the questionnaire accepts for ``q``, or None (not given)."""
    unset = st.none()
    if q.type == "choice":
        return st.one_of(unset, st.sampled_from(q.choices))
    if q.type == "boolean":
        return st.one_of(unset, st.booleans())
    if q.type in ("number", "integer"):
        low = q.min if q.min is not None else 0
        high = q.max if q.max is not None else 1e6
        named = [v for v in (q.min, q.max, q.default) if v is not None]
        if q.type == "integer":  # small counts too: a cap of 2 GPUs binds, one of 10^6 seldom
            drawn: st.SearchStrategy[Any] = st.one_of(
                st.integers(int(low), int(min(high, low + 16))), st.integers(int(low), int(high))
            )
            named = [int(v) for v in named]
        else:
            drawn = st.floats(float(low), float(high), allow_nan=False, allow_infinity=False)
        # and every power of ten in range: a budget of $10^4 binds, a random one up to 10^9 seldom
        ladder = [10.0**e for e in range(-2, 10) if low <= 10.0**e <= high]
        if q.type == "integer":
            ladder = [int(v) for v in ladder if v >= 1]
        return st.one_of(unset, st.sampled_from(named + ladder), drawn)
    return unset  # the candidates and the model file stay unset, as in the audit


QUESTIONS = {k: _value(q) for k, q in RB.questions.items()}
LEFT_OUT = sorted(set(NOT_SIZED) | set(ENERGY_ONLY))


def _answers(raw: dict[str, Any]) -> Answers:
    return normalize_answers(
        RB.questions, {k: v for k, v in raw.items() if v is not None}, RB.knowledge
    )


@st.composite
def neighbourhoods(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Raw answers and a few neighbours, each differing in one answer (mostly one the sharing
    leaves out of a key, so that neighbours meet each other's remembered steps)."""
    base = draw(st.fixed_dictionaries(QUESTIONS))
    out = [base]
    for _ in range(draw(st.integers(1, 4))):
        key = draw(st.one_of(st.sampled_from(LEFT_OUT), st.sampled_from(sorted(QUESTIONS))))
        out.append({**out[-1], key: draw(QUESTIONS[key])})
    return out


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
@given(neighbourhoods())
def test_shared_facts_equal_the_engines(situations: list[dict[str, Any]]) -> None:
    for raw in situations:
        answers = _answers(raw)
        assert SHARED.shared(answers) == SHARED.uncached(answers), answers.values


def test_every_answer_the_arithmetic_reads_is_keyed() -> None:
    """The keys leave out only the answers named as not read by a step: every other answer the
    arithmetic declares is in them (a new one joins without anyone adding it)."""
    from gpu_advisor.audit.facts import DEVICE_KEYS, SIZING_KEYS

    assert set(SIZING_KEYS) == set(ARITHMETIC_ANSWERS) - set(NOT_SIZED)
    assert set(DEVICE_KEYS) == set(ARITHMETIC_ANSWERS) - set(ENERGY_ONLY)
    assert set(ENERGY_ONLY) <= set(NOT_SIZED) <= set(ARITHMETIC_ANSWERS)


def test_site_power_after_the_same_purchase_without_it() -> None:
    """A power-limited site needs every device's facility power (``box_and_energy`` computes it
    whenever ``site_power_kw`` is set), even when the same purchase was met just before without
    a site power limit: the energy step is remembered by whether the limit is set too."""
    facts = DeviceFacts(RB)
    base = {"workload": "inference", "model_params_b": 7, "site": "office", "off_grid": False}
    facts.shared(_answers(base))
    limited = _answers({**base, "site_power_kw": 0.1})
    shared = facts.shared(limited)
    assert all(a.get("facility_kw") is not None for a in shared[1])
    assert shared == facts.uncached(limited)


def test_a_difference_switches_the_sharing_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """If the shared facts ever differ from the engine's, the audit uses the engine's from then
    on and says so in its notes."""
    facts = DeviceFacts(RB)
    real = facts.shared

    def wrong(answers: Answers) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        computed, attrs = real(answers)
        return computed, [{**attrs[0], "count": -1}, *attrs[1:]]

    monkeypatch.setattr(facts, "shared", wrong)
    values = {"workload": "scientific"}
    computed, attrs = facts.compute(values)
    assert not facts.fast
    first = next(iter(RB.knowledge.devices))
    assert facts.mismatch is not None and first in facts.mismatch
    assert (computed, attrs) == facts.uncached(Answers(dict(values)))
    assert attrs[0]["count"] != -1


@pytest.mark.parametrize("workload", ["inference", "fine-tuning"])
def test_a_budget_to_fill_is_keyed(workload: str) -> None:
    """Filling a budget buys what the budget buys: ten times the budget buys more of some device
    (a $10,000 budget cannot buy what $100,000 buys when the cheapest card costs over $1,000), so
    two budgets met one after the other must not share their facts."""
    facts = DeviceFacts(RB)
    base = {"workload": workload, "model_params_b": 7, "purchase": "fill-budget"}
    small, large = (_answers({**base, "budget_usd": b}) for b in (10_000, 100_000))
    first, second = facts.shared(small), facts.shared(large)
    assert first == facts.uncached(small) and second == facts.uncached(large)
    assert any(b["count"] > a["count"] for a, b in zip(first[1], second[1]))
