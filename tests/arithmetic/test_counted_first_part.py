"""A device's facts in two parts: the count first, then the purchase. The lever search rules a
device out on the first part when it can, so what the first part calls settled must be what the
whole computation ends with, in every situation."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from gpu_advisor.arithmetic.context import (
    COUNT_ATTRIBUTES,
    completed_attributes,
    context_arithmetic,
    counted_attributes,
    device_attributes,
)
from gpu_advisor.core.answers import normalize_answers
from gpu_advisor.core.consult import Engine
from gpu_advisor.errors import AdvisorError
from tests.fuzz.budget import fuzz_settings

RULEBASE = Engine.load().rulebase
DEVICES = sorted(RULEBASE.knowledge.devices)

SITUATIONS = st.fixed_dictionaries(
    {"workload": st.sampled_from(["inference", "fine-tuning", "pretraining"])},
    optional={
        "model_params_b": st.sampled_from([1, 8, 13, 34, 70, 180, 405]),
        "precision": st.sampled_from(["fp32", "bf16", "fp8", "fp4"]),
        "method": st.sampled_from(["full", "lora", "qlora"]),
        "max_gpus": st.sampled_from([1, 2, 4, 8, 16, 64, 512]),
        "budget_usd": st.sampled_from([3000, 20000, 60000, 250000, 2_000_000]),
        "purchase": st.sampled_from(["fill-budget", "minimum"]),
        "site": st.sampled_from(["office", "server-room", "datacenter"]),
        "parallelism": st.sampled_from(["data", "tensor", "pipeline"]),
        "concurrent_users": st.sampled_from([1, 8, 64, 500]),
        "context_tokens": st.sampled_from([2048, 8192, 131072]),
        "deadline_days": st.sampled_from([1, 30, 365]),
    },
)


@fuzz_settings(40)
@given(raw=SITUATIONS, device_id=st.sampled_from(DEVICES))
def test_what_the_first_part_settles_the_whole_keeps(raw: dict[str, Any], device_id: str) -> None:
    try:
        answers = normalize_answers(RULEBASE.questions, raw, RULEBASE.knowledge)
    except AdvisorError:
        return
    device = RULEBASE.knowledge.devices[device_id]
    kb_dir = RULEBASE.knowledge.directory

    def arithmetic() -> Any:  # each computation its own (it records counts and purchases)
        return context_arithmetic(answers, kb_dir, RULEBASE.demand, RULEBASE.systems)

    shared = arithmetic()  # the second part reads what the first recorded (the count)
    first = counted_attributes(device, answers, shared)
    whole = device_attributes(device, answers, arithmetic(), kb_dir)
    settled = [k for k in first.attrs if first.settles(frozenset((k,)))]
    assert {k: first.attrs[k] for k in settled} == {k: whole[k] for k in settled}
    # completing the first part is the whole computation
    assert (
        completed_attributes(device, answers, shared, first.with_attrs(dict(first.attrs)), kb_dir)
        == whole
    )
    assert not first.settles(frozenset(("count_set_by",)))  # the purchase may set it
    # the first part is the knowledge base's attributes, whether a box takes it, and the count
    assert first.attrs.keys() == device.attributes().keys() | {"housable"} | COUNT_ATTRIBUTES


def test_a_training_run_with_a_budget_settles_only_its_memory() -> None:
    # 70B pretraining on 8 GPUs for $250,000: the run is counted again for what the budget
    # buys when its count costs more, so only the count's memory figures stand.
    answers = normalize_answers(
        RULEBASE.questions,
        {"workload": "pretraining", "model_params_b": 70, "max_gpus": 8, "budget_usd": 250000},
        RULEBASE.knowledge,
    )
    kb_dir = RULEBASE.knowledge.directory
    base = context_arithmetic(answers, kb_dir, RULEBASE.demand, RULEBASE.systems)
    first = counted_attributes(RULEBASE.knowledge.devices["h100-sxm"], answers, base)
    assert first.settles(
        frozenset({"fits", "gpus_needed", "memory_per_gpu_gb", "memory_utilization"})
    )
    for name in ("meets_demand", "train_days", "deadline_missed"):
        assert not first.settles(frozenset((name,)))
    # without the budget, the count is the count
    unbudgeted = normalize_answers(
        RULEBASE.questions,
        {"workload": "pretraining", "model_params_b": 70, "max_gpus": 8},
        RULEBASE.knowledge,
    )
    base = context_arithmetic(unbudgeted, kb_dir, RULEBASE.demand, RULEBASE.systems)
    first = counted_attributes(RULEBASE.knowledge.devices["h100-sxm"], unbudgeted, base)
    assert first.settles(frozenset({"meets_demand", "train_days", "deadline_missed"}))
