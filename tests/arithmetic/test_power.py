"""PSU and circuit sizing for one box, and the seeds' box warnings as facts."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gpu_advisor.arithmetic.power import (
    CIRCUIT_120V_W,
    box_facts,
    box_facts_for_device,
    psu_plan,
    recommended_psu_size,
)
from gpu_advisor.errors import UsageError


def has_warning(warnings: list[str], text: str) -> bool:
    return any(text in warning for warning in warnings)


def test_one_5090_workstation_needs_a_1200_w_psu() -> None:
    """seed-000: a single RTX 5090 workstation wants a 1,200 W+ supply."""
    plan = psu_plan(575, 1)
    assert plan.sustained_w == 925  # 575 + 350 platform
    assert plan.peak_w == pytest.approx(575 * 1.4 + 350)
    assert plan.recommended_psu_w == 1200
    assert (plan.circuits_120v, plan.circuits_230v) == (1, 1)
    assert not has_warning(plan.warnings, "circuit")
    assert box_facts(575, 1)["psu_1200w_class"] is True


def test_two_5090_workstation() -> None:
    plan = psu_plan(575, 2)
    assert plan.gpu_w == 1150 and plan.platform_w == 350
    assert plan.sustained_w == 1500
    assert plan.peak_w == pytest.approx(1150 * 1.4 + 350)  # 1,960 W > 1,500 / 0.8
    assert plan.recommended_psu_w == 2000
    assert plan.wall_w == pytest.approx(1500 / 0.9)
    assert (plan.circuits_120v, plan.circuits_230v) == (2, 1)
    assert has_warning(plan.warnings, "15 A/120 V")
    assert not has_warning(plan.warnings, "16 A/230 V circuit carries")
    assert has_warning(plan.warnings, "daisy-chained")
    assert not has_warning(plan.warnings, "liquid")
    assert not has_warning(plan.warnings, "blower")
    assert plan.assumptions and any("x 1.4" in a for a in plan.assumptions)
    facts = box_facts(575, 2)
    assert facts["exceeds_single_120v_circuit"] is True
    assert facts["exceeds_single_230v_circuit"] is False
    assert facts["needs_dedicated_power_connectors"] is True
    assert facts["multi_gpu_blower_spacing"] is False


def test_four_pro_6000_max_q_workstation() -> None:
    plan = psu_plan(300, 4, cooling="blower")
    assert plan.sustained_w == 1550
    assert plan.peak_w == pytest.approx(1200 * 1.4 + 350)
    assert plan.recommended_psu_w == 2200
    assert plan.circuits_120v == 2 and plan.circuits_230v == 1
    assert has_warning(plan.warnings, "empty slot between cards")
    assert not has_warning(plan.warnings, "liquid")  # 300 W cards are not the 600 W class
    facts = box_facts(300, 4, cooling="blower")
    assert facts["multi_gpu_blower_spacing"] is True
    assert facts["liquid_cooling_advised"] is False
    assert facts["psu_w_needed"] == 2200


def test_eight_h100_sxm_server() -> None:
    plan = psu_plan(700, 8, setting="server", form_factor="module", cooling="passive")
    assert plan.platform_w == 800 and plan.transient_factor == 1.2
    assert plan.sustained_w == 6400
    assert plan.recommended_psu_w == 8000  # 6,400 / 0.8, split over several supplies
    assert plan.multiple_psus
    assert plan.wall_w == pytest.approx(6400 / 0.92)
    assert (plan.circuits_120v, plan.circuits_230v) == (5, 2)
    assert has_warning(plan.warnings, "16 A/230 V")
    assert has_warning(plan.warnings, "redundant server supplies")
    assert has_warning(plan.warnings, "liquid cooling")
    assert not has_warning(plan.warnings, "daisy-chained")  # SXM modules have no GPU cables
    facts = box_facts(700, 8, setting="server", form_factor="module", cooling="passive")
    assert facts["needs_multiple_psus"] and facts["liquid_cooling_advised"]
    assert facts["exceeds_single_230v_circuit"] is True
    assert facts["needs_dedicated_power_connectors"] is False


def test_four_600_w_cards_push_toward_liquid_cooling() -> None:
    assert has_warning(psu_plan(600, 4).warnings, "liquid cooling")
    assert box_facts(600, 4)["liquid_cooling_advised"] is True
    assert box_facts(600, 3)["liquid_cooling_advised"] is False


def test_small_card_needs_no_cable_or_circuit_advice() -> None:
    plan = psu_plan(70, 1)
    assert plan.recommended_psu_w == 550
    assert plan.warnings == []


def test_overrides_are_used_and_stated() -> None:
    plan = psu_plan(450, 2, platform_w=500, transient_factor=1.5)
    assert plan.peak_w == pytest.approx(900 * 1.5 + 500)
    assert any("platform given: 500 W" in a for a in plan.assumptions)
    # The knowledge base's 'desktop' setting sizes as a workstation.
    assert psu_plan(450, 2, setting="desktop").platform_w == 350


def test_box_facts_are_plain_values() -> None:
    facts = box_facts(575, 2)
    assert all(isinstance(value, (bool, int, float)) for value in facts.values())
    for key in (
        "psu_w_needed",
        "exceeds_single_120v_circuit",
        "multi_gpu_blower_spacing",
        "needs_dedicated_power_connectors",
        "liquid_cooling_advised",
        "circuits_120v",
    ):
        assert key in facts


@pytest.mark.parametrize(
    "kwargs,name",
    [
        ({"gpu_power_w": 0, "gpus": 1}, "gpu_power_w"),
        ({"gpu_power_w": -300, "gpus": 1}, "gpu_power_w"),
        ({"gpu_power_w": 300, "gpus": 0}, "gpus"),
        ({"gpu_power_w": 300, "gpus": 1.5}, "gpus"),
        ({"gpu_power_w": 300, "gpus": 1, "platform_w": -1}, "platform_w"),
        ({"gpu_power_w": 300, "gpus": 1, "transient_factor": 0.9}, "transient_factor"),
        ({"gpu_power_w": 300, "gpus": 1, "setting": "serverr"}, "setting"),
    ],
)
def test_bad_input(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(UsageError) as caught:
        psu_plan(**kwargs)
    assert str(caught.value).startswith(name)
    if name == "setting":
        assert "did you mean 'server'" in str(caught.value)


class FakeDevice:
    def __init__(self, device_id: str, facts: dict[str, Any]) -> None:
        self.id, self.facts = device_id, facts

    def value(self, name: str) -> Any:
        return self.facts.get(name)


def test_box_facts_for_kb_devices() -> None:
    max_q = FakeDevice(
        "rtx-pro-6000-blackwell-max-q",
        {"power_w": 300, "setting": "workstation", "cooling": "blower", "slots": 2},
    )
    assert box_facts_for_device(max_q, 4)["multi_gpu_blower_spacing"] is True
    h100 = FakeDevice(
        "h100-sxm", {"power_w": 700, "setting": "server", "cooling": "passive", "slots": None}
    )
    facts = box_facts_for_device(h100, 8)
    assert facts["needs_dedicated_power_connectors"] is False and facts["needs_multiple_psus"]
    spark = FakeDevice("dgx-spark", {"power_w": 240, "setting": "appliance"})
    with pytest.raises(UsageError, match="own power supply"):
        box_facts_for_device(spark, 1)


def test_real_kb_devices() -> None:
    from gpu_advisor.knowledge.kb_schema import load_knowledge

    kb = load_knowledge(None)
    assert box_facts_for_device(kb.devices["rtx-5090"], 1)["psu_w_needed"] == 1200
    assert box_facts_for_device(kb.devices["h100-sxm"], 8)["liquid_cooling_advised"] is True


@given(st.floats(10, 1500), st.integers(1, 15))
def test_more_gpus_never_need_a_smaller_psu(gpu_w: float, gpus: int) -> None:
    smaller = psu_plan(gpu_w, gpus)
    larger = psu_plan(gpu_w, gpus + 1)
    assert larger.recommended_psu_w >= smaller.recommended_psu_w
    assert larger.circuits_120v >= smaller.circuits_120v
    assert smaller.recommended_psu_w >= smaller.sustained_w / 0.8 - 1e-6
    assert smaller.recommended_psu_w >= smaller.peak_w - 1e-6
    assert (smaller.circuits_120v > 1) == (smaller.wall_w > CIRCUIT_120V_W + 1e-6)


def test_psu_ladder() -> None:
    assert recommended_psu_size(1156) == (1200, False)
    assert recommended_psu_size(1200) == (1200, False)
    assert recommended_psu_size(2201) == (2500, True)
