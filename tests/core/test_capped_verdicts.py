"""A serving count does not depend on the cap on GPUs (the cap only says whether the demand is
met), so the lever search's verdicts under one cap reuse a device's facts worked out under
another (``consult._Shared``). Whatever caps an engine has seen, a consultation gives what a
fresh engine gives."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from gpu_advisor.core.consult import Engine
from gpu_advisor.errors import AdvisorError
from tests.conftest import ROOT
from tests.fuzz.budget import fuzz_settings

RULEBASE = Engine.load(ROOT / "kb", ROOT / "rules").rulebase
CAPS = st.sampled_from([1, 2, 3, 4, 8, 16, 64])

SERVING = st.fixed_dictionaries(
    {"workload": st.just("inference"), "model_params_b": st.sampled_from([8, 32, 70, 180, 405])},
    optional={
        "precision": st.sampled_from(["bf16", "fp8", "fp4"]),
        "concurrent_users": st.sampled_from([1, 8, 64, 500]),
        "context_tokens": st.sampled_from([2048, 8192, 131072]),
        "site": st.sampled_from(["office", "server-room", "datacenter"]),
        "serving": st.sampled_from(["interactive", "batch"]),
        "budget_usd": st.sampled_from([5000, 60000, 1_000_000]),
        "purchase": st.sampled_from(["minimum", "fill-budget"]),
    },
)


def _verdict(c: Any) -> tuple[Any, ...]:
    ranked = [(r.device, r.count, r.cost_usd, r.score, r.tie_break) for r in c.recommendations]
    return ranked, sorted(c.all_exclusions)


def _whole(c: Any) -> tuple[Any, ...]:
    """A consultation with words, as a report shows it: devices' facts, counts and purchases."""
    counts = {d: (n.gpus, n.shortfall, tuple(n.steps)) for d, n in c.arithmetic.counts.items()}
    return _verdict(c), c.devices, counts, c.arithmetic.purchases, sorted(c.fired)


@fuzz_settings(30)
@given(answers=SERVING, seen=st.lists(CAPS, min_size=1, max_size=3), cap=CAPS)
def test_verdicts_under_caps_seen_before_are_a_fresh_engines(
    answers: dict[str, Any], seen: list[int], cap: int
) -> None:
    used = Engine(RULEBASE)
    try:
        for other in seen:  # as the lever search tries caps, then the one asked for
            used.consult({**answers, "max_gpus": other}, evaluator="python", words=False)
        verdict = used.consult({**answers, "max_gpus": cap}, evaluator="python", words=False)
    except AdvisorError:
        return
    fresh = Engine(RULEBASE)
    assert _verdict(verdict) == _verdict(
        fresh.consult({**answers, "max_gpus": cap}, evaluator="python", words=False)
    )
    # and a consultation with words of a situation the verdicts worked out (the TUI applying a
    # suggestion) is the one a fresh engine gives, counts and purchases included
    assert _whole(used.consult({**answers, "max_gpus": cap})) == _whole(
        Engine(RULEBASE).consult({**answers, "max_gpus": cap})
    )


def test_a_cap_below_the_count_fails_the_demand_with_the_caps_words() -> None:
    # 70B in bf16 for 64 users: no single card serves them, so under a cap of 1 every device that
    # fits needs more GPUs than the cap allows; the verdict under a cap of 8 seen first must not
    # leak into the verdict under 1.
    engine = Engine(RULEBASE)
    answers = {"workload": "inference", "model_params_b": 70, "concurrent_users": 64}
    roomy = engine.consult({**answers, "max_gpus": 8}, evaluator="python", words=False)
    tight = engine.consult({**answers, "max_gpus": 1}, evaluator="python", words=False)
    assert roomy.recommendations and not tight.recommendations
    h100 = tight.devices["h100-sxm"]
    assert h100["meets_demand"] is False
    assert "more than the cap of 1 (max_gpus)" in h100["demand_shortfall"]


PRICING = st.fixed_dictionaries(
    {},
    optional={
        "max_gpus": CAPS,
        "budget_usd": st.sampled_from([3000, 20000, 60000, 250000, 2_000_000]),
        "purchase": st.sampled_from(["minimum", "fill-budget"]),
        "site_power_kw": st.sampled_from([1.5, 10, 500]),
        "off_grid": st.booleans(),
    },
)

WORKLOADS = st.fixed_dictionaries(
    {
        "workload": st.sampled_from(["inference", "fine-tuning", "pretraining"]),
        "model_params_b": st.sampled_from([7, 13, 70]),
    },
    optional={
        "method": st.sampled_from(["full", "lora", "qlora"]),
        "site": st.sampled_from(["office", "server-room", "datacenter"]),
        "parallelism": st.sampled_from(["data", "tensor"]),
        "concurrent_users": st.sampled_from([1, 64]),
    },
)


@fuzz_settings(30)
@given(answers=WORKLOADS, seen=st.lists(PRICING, min_size=1, max_size=3), asked=PRICING)
def test_verdicts_after_other_budgets_and_site_limits_are_a_fresh_engines(
    answers: dict[str, Any], seen: list[dict[str, Any]], asked: dict[str, Any]
) -> None:
    """A device's count does not read what prices it (the budget, how it is spent, the site's
    power and batteries): verdicts share it across those, for every workload."""
    used = Engine(RULEBASE)
    try:
        for other in seen:
            used.consult({**answers, **other}, evaluator="python", words=False)
        verdict = used.consult({**answers, **asked}, evaluator="python", words=False)
    except AdvisorError:
        return
    fresh = Engine(RULEBASE).consult({**answers, **asked}, evaluator="python", words=False)
    assert _verdict(verdict) == _verdict(fresh)
    assert _whole(used.consult({**answers, **asked})) == _whole(
        Engine(RULEBASE).consult({**answers, **asked})
    )


def test_a_verdict_worked_out_again_after_the_memo_dropped_it_is_a_fresh_engines(
    monkeypatch: Any,
) -> None:
    """The Python evaluator remembers which devices a rule holds for by the devices' memo key.
    A verdict without words rules some devices out on their first part and runs the rules on
    the rest; after the engine forgets the situation's devices (past MEMO_LIMIT) and a
    consultation with words has priced every device, the same key comes back with more devices
    priced: the rules must run on those too. A DGX Spark fine-tuning at a datacenter has no
    dense figure at the training precision: the demand is not met and it is out, whatever the
    engine saw before (found by the lever search's promise test once the site became a lever)."""
    from gpu_advisor.core import consult as consult_module

    answers = {"workload": "fine-tuning", "site": "datacenter"}
    fresh = Engine(RULEBASE).consult(answers, evaluator="python", words=False)
    assert "throughput.demand-not-met" in {e.rule for e in fresh.all_exclusions["dgx-spark"]}

    used = Engine(RULEBASE)
    # one situation stays remembered; its sets of devices are dropped two at a time
    monkeypatch.setattr(consult_module, "MEMO_LIMIT", 2)
    first = used.consult(answers, evaluator="python", words=False)  # DGX Spark out early
    assert _verdict(first) == _verdict(fresh)
    used.consult(answers)  # with words: every device priced in the situation
    for few in (["l4"], ["l40s"]):  # the same situation over other candidates: first dropped
        used.consult({**answers, "candidates": few}, evaluator="python", words=False)
    again = used.consult(answers, evaluator="python", words=False)
    assert _verdict(again) == _verdict(fresh)
    assert "dgx-spark" in again.all_exclusions
