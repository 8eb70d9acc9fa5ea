"""The knowledge base's one declaration of device facts, and what the 2026-12 edition must hold."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gpu_advisor.core.consult import Engine
from gpu_advisor.knowledge.kb import KB_ATTRIBUTE_NAMES, KB_FACTS, PRICE_FACTS, PRICE_KINDS
from gpu_advisor.knowledge.vocabulary import DEVICE_ATTRIBUTES

NEW_DEVICES = (
    "a100-80gb-sxm",
    "a100-80gb-pcie",
    "h100-nvl",
    "l40s",
    "l4",
    "rtx-6000-ada",
    "rtx-4090",
    "rtx-3090",
    "mi300x",
    "mi325x",
    "mac-studio-m3-ultra",
)


def test_the_vocabulary_and_the_schema_come_from_the_declaration() -> None:
    from gpu_advisor.knowledge.kb_schema import DeviceModel

    kb_attrs = [name for name, a in DEVICE_ATTRIBUTES.items() if a.origin == "kb"]
    assert kb_attrs == list(KB_ATTRIBUTE_NAMES)
    for fact in KB_FACTS:
        assert fact.name in DeviceModel.model_fields
        assert DeviceModel.model_fields[fact.name].is_required() == fact.required
        if fact.rule:
            assert DEVICE_ATTRIBUTES[fact.name].choices == fact.choices
            assert DEVICE_ATTRIBUTES[fact.name].unit == fact.unit


def test_device_attributes_hand_the_rules_every_declared_attribute(engine: Engine) -> None:
    c = engine.consult({"workload": "inference", "model_params_b": 8})
    for attrs in c.devices.values():
        assert set(KB_ATTRIBUTE_NAMES) <= set(attrs)


def test_the_new_devices_are_there_with_every_fact(engine: Engine) -> None:
    devices = engine.rulebase.knowledge.devices
    assert set(NEW_DEVICES) <= set(devices)
    assert len(devices) == 22
    for device in devices.values():
        for fact in KB_FACTS:
            if fact.name in (
                "usable_memory_gb",
                "network",
                "system_power_w",
                "partition_memory_gb",
            ):
                continue  # only where they apply
            if fact.name == "memory_bus_bits" and device.id in (
                "b200",
                "h200",
                "rtx-pro-6000-blackwell-server",
            ):
                continue  # no registered source gives their bus width (before this edition too)
            assert device.fact(fact.name) is not None, f"{device.id} lacks {fact.name}"
        if device.value("unified_memory"):
            assert device.value("usable_memory_gb") < device.value("memory_gb"), device.id
        if device.value("partitions") > 1:
            assert device.value("partition_memory_gb"), device.id


def test_every_price_says_when_and_what_kind(engine: Engine) -> None:
    for device in engine.rulebase.knowledge.devices.values():
        for name in PRICE_FACTS:
            price = device.fact(name)
            assert price is not None and price.date and price.kind in PRICE_KINDS, (device.id, name)


def test_a_weight_only_precision_computes_at_the_bf16_rate(engine: Engine) -> None:
    devices = engine.rulebase.knowledge.devices
    a100 = devices["a100-80gb-sxm"].dense_throughput_for("fp8")
    assert a100 is not None and (a100.precision, a100.tflops) == ("bf16", 312)
    h100 = devices["h100-sxm"].dense_throughput_for("fp4")  # FP8 tensor cores, FP4 weight-only
    assert h100 is not None and (h100.precision, h100.tflops) == ("bf16", 989.5)
    fp8 = devices["h100-sxm"].dense_throughput_for("fp8")
    assert fp8 is not None and (fp8.precision, fp8.tflops) == ("fp8", 1979)


def test_the_memory_estimate_is_made_once_per_consultation(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gpu_advisor.arithmetic import sizing

    calls = []
    real = sizing.estimate
    monkeypatch.setattr(sizing, "estimate", lambda request: calls.append(request) or real(request))
    fresh = Engine(engine.rulebase)
    fresh.consult({"workload": "inference", "model_params_b": 13}, evaluator="python")
    # Each distinct sizing is made once per consultation: the whole workload, one user, and one
    # per tensor-parallel group size that holds the model (here 1 for every device) - not once
    # per device (22 of them).
    assert len(calls) == len(set(calls)) and len(calls) <= 3
    calls.clear()
    Engine(engine.rulebase).consult(
        {"workload": "inference", "model_params_b": 13, "candidates": "h100-sxm,rtx-a6000"},
        evaluator="python",
    )
    assert len(calls) <= 3


def test_the_runtime_knowledge_types_need_no_pydantic() -> None:
    code = (
        "import sys; import gpu_advisor.knowledge.kb, gpu_advisor.knowledge.vocabulary; "
        "print('pydantic' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
