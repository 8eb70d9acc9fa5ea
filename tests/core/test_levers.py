"""Issue 13: WHAT WOULD CHANGE IT offers only changes a buyer controls, with their cost, rank
and what is given up; and every suggestion, applied, gives what it promised."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpu_advisor.core.consult import Engine
from gpu_advisor.core.explain import explain_consultation, what_would_change
from gpu_advisor.core.explanations import Suggestion
from gpu_advisor.core.levers import levers_for
from gpu_advisor.core.results import Consultation
from gpu_advisor.errors import FileErrors
from gpu_advisor.knowledge.tables import load_levers

from ..conftest import ROOT
from .test_ranking import _CHOICES


def lever_answers(engine: Engine) -> set[str]:
    return {lever.answer for lever in load_levers(engine.rulebase.directory).levers}


def suggestions(c: Consultation) -> list[Suggestion]:
    return [s for items in what_would_change(c).values() for s in items]


def check_promise(engine: Engine, c: Consultation, suggestion: Suggestion) -> None:
    """Apply the suggestion to the answers and consult: the device stands where it was promised."""
    applied = engine.consult(suggestion.answers(c.answers.values))
    ranked = [r.device for r in applied.recommendations]
    assert suggestion.device in ranked, (suggestion, applied.all_exclusions.get(suggestion.device))
    assert ranked.index(suggestion.device) + 1 == suggestion.rank and len(ranked) == suggestion.of
    rec = applied.recommendation(suggestion.device)
    assert rec is not None and rec.cost_usd == pytest.approx(suggestion.cost_usd)
    if suggestion.kind == "puts first":
        assert suggestion.rank == 1


def test_70b_bf16_on_an_h100_pcie_is_offered_fp8_and_two_gpus_with_their_costs(
    engine: Engine,
) -> None:
    # One card at most (max_gpus 1; without a cap the demand buys two): 141 GB of bf16 weights
    # do not fit 80 GB.
    c = engine.consult(
        {
            "workload": "inference",
            "model_params_b": 70,
            "precision": "bf16",
            "candidates": "h100-pcie",
            "max_gpus": 1,
        }
    )
    assert c.recommendations == []
    found = suggestions(c)
    ways = [s for s in found if s.kind == "makes it fit"]
    # cheapest first: FP8 weights keep one $25,000 card in a $15,000 2U 4-GPU server
    # (kb/systems.yaml): $40,000; two cards in the same server: $65,000. FP4 (the same card at
    # the same price, more quality given up) and 4 GPUs (the same two cards) add nothing.
    assert [(s.change, s.cost_usd) for s in ways] == [
        ("precision bf16 -> fp8", 40000.0),
        ("max_gpus 1 -> 2", 65000.0),
    ]
    assert "quality" in ways[0].gives_up[0].text and ways[0].gives_up[0].source.startswith(
        "seed-001"
    )
    # never the workload or the model the buyer has
    assert all(change.answer in lever_answers(engine) for s in found for change in s.changes)
    for s in found:
        check_promise(engine, c, s)
    block = explain_consultation(c).to_json()["what_would_change"]
    assert block[0]["changes"] == [{"answer": "precision", "from": "bf16", "to": "fp8"}]
    assert block[0]["cost_usd"] == 40000.0 and block[0]["rank"] == 1
    assert block[0]["gives_up"][0]["source"] == "seed-001#fp4"


def test_a_pretraining_cluster_over_budget_is_told_what_budget_fits_not_to_use_one_gpu(
    engine: Engine,
) -> None:
    c = engine.consult(
        {"workload": "pretraining", "model_params_b": 70, "max_gpus": 8, "budget_usd": 250000}
    )
    assert c.recommendations == []
    # The run is sized from its FLOPs now: 6 x 70e9 x 1.4e12 (Chinchilla) = 5.88e23 FLOPs, which in
    # 30 days need ceil(5.88e23 / (2,250e12 x 0.40 x 2.592e6)) = 253 B200, far past the cap of 8
    # and the $250,000; the state alone (1,136 GB) needs 7 B200, one board ($405,000 with its
    # server). No one or two levers
    # reach that, and the search must not invent a cap of one GPU.
    assert math.ceil(5.88e23 / (2250e12 * 0.40 * 30 * 86400)) == 253
    assert "b200" in c.all_exclusions
    ways = [s for s in suggestions(c) if s.kind == "makes it fit"]
    assert not any(
        change.answer == "max_gpus" and change.after == 1 for s in ways for change in s.changes
    )
    for s in ways:
        check_promise(engine, c, s)


def test_excluded_devices_come_back_and_a_lower_ranked_one_can_be_put_first(engine: Engine) -> None:
    c = engine.consult(
        {"workload": "inference", "model_params_b": 70, "max_gpus": 2, "site": "datacenter"}
    )
    found = what_would_change(c)
    # the RTX A6000 (48 GB) holds 70B in FP8 on two cards: 2 x $4,650 in a $15,000 2U 4-GPU server
    (a6000,) = found["rtx-a6000"]
    assert (a6000.kind, a6000.change, a6000.cost_usd) == (
        "brings back",
        "precision bf16 -> fp8",
        2 * 4650 + 15000,
    )
    # against the first: two RTX PRO 6000 Max-Q (2 x $9,000 + the same server) hold 70B in bf16
    assert [(r.device, r.count) for r in c.recommendations][0] == (
        "rtx-pro-6000-blackwell-max-q",
        2,
    )
    assert a6000.cost_change_usd == pytest.approx(24_300 - 33_000)
    # the B200 comes 8 to a board: a cap of 8 brings it back, one board in its HGX server,
    # 8 x $45,000 + $45,000
    (b200,) = found["b200"]
    assert (b200.kind, b200.change, b200.cost_usd) == (
        "brings back",
        "max_gpus 2 -> 8",
        8 * 45000 + 45000,
    )
    for items in found.values():
        for s in items:
            check_promise(engine, c, s)


def test_every_lever_moves_a_question_to_one_of_its_choices(engine: Engine) -> None:
    """The levers the issue asks for are all searched: each names a question of the
    questionnaire, and each value it moves a choice to is one of the choices."""
    rb = engine.rulebase
    assert {
        "max_gpus",
        "precision",
        "kv_precision",
        "context_tokens",
        "method",
        "budget_usd",
        "deadline_days",
        "tokens_per_s_per_user",
        "candidates",
        "site_power_kw",
        "site",
    } == lever_answers(engine)
    for lever in load_levers(rb.directory).levers:
        question = rb.questions[lever.answer]
        for step in lever.steps:
            if step.kind == "to":
                assert step.value in question.choices, (lever.id, step.value)
        assert set(lever.only_after) <= set(question.choices), lever.id


@pytest.mark.parametrize(
    ("before", "after", "wrong", "message"),
    [
        # a misspelt answer would never be tried: the lever would silently do nothing
        (
            "answer: budget_usd",
            "answer: budget_us",
            "budget_us",
            "lever budget: 'budget_us' is not a question of questions.yaml "
            "(did you mean 'budget_usd'?)",
        ),
        # kv_precision offers bf16, fp16 and fp8 (rules/questions.yaml): no fp4 cache
        (
            "only_after: [bf16, fp16, fp8]",
            "only_after: [bf16, fp16, fp8, fp4]",
            "fp4",
            "lever kv-cache-precision: 'fp4' is not a choice of kv_precision",
        ),
        (
            "- to: qlora",
            "- to: qlorra",
            "qlorra",
            "'qlorra' is not a choice of method (did you mean",
        ),
        ("source: qlora-2023", "source: qlora-2032", "qlora-2032", "unknown source 'qlora-2032'"),
    ],
)
def test_a_lever_that_names_what_the_rules_do_not_know_is_refused_at_its_place(
    tmp_path: Path, before: str, after: str, wrong: str, message: str
) -> None:
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    path = tmp_path / "rules" / "levers.yaml"
    text = path.read_text(encoding="utf-8")
    assert text.count(before) == 1
    text = text.replace(before, after)
    path.write_text(text, encoding="utf-8")
    # the place of the wrong value: the line of the change, the column where the value starts
    line = next(i for i, row in enumerate(text.splitlines(), 1) if after in row)
    column = text.splitlines()[line - 1].rindex(wrong) + 1
    with pytest.raises(FileErrors) as info:
        Engine.load(ROOT / "kb", tmp_path / "rules", cached=False)
    errors = [str(e) for e in info.value.errors]
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"{path}:{line}:{column}: "), errors
    assert message in errors[0], errors


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.fixed_dictionaries({}, optional={k: st.sampled_from(v) for k, v in _CHOICES.items()}))
def test_every_suggestion_applied_gives_what_it_promised(
    engine: Engine, answers: dict[str, Any]
) -> None:
    c = engine.consult(answers, evaluator="python")
    allowed = lever_answers(engine)
    for s in suggestions(c):
        assert s.changes and all(change.answer in allowed for change in s.changes)
        # two changes of one answer would be one change: the second value wins
        assert len({change.answer for change in s.changes}) == len(s.changes), s.changes
        assert all(g.source and g.text for g in s.gives_up)
        check_promise(engine, c, s)


def test_another_edition_of_the_compared_card_is_offered_with_its_own_purchase(
    engine: Engine,
) -> None:
    """The edition lever names its own devices: screening the other levers' changes on a few
    devices must never replace the editions it adds."""
    c = engine.consult(
        {
            "workload": "inference",
            "model_params_b": 70,
            "candidates": "rtx-pro-6000-blackwell-server",
            "site": "office",
            "max_gpus": 2,
        }
    )
    # the server edition is passive: no box at an office takes it (kb/systems.yaml)
    assert c.recommendations == []
    assert "site.no-box-at-site" in {
        e.rule for e in c.all_exclusions["rtx-pro-6000-blackwell-server"]
    }
    way, pair = [s for s in suggestions(c) if s.kind == "makes it fit"]
    # 70B in bf16 (141 GB) on two 96 GB cards; the workstation edition (the paper's $8,999.99)
    # beats the Max-Q ($9,000) by two cents: 2 x $8,999.99 + a $7,000 4-GPU tower = $24,999.98
    assert way.device == "rtx-pro-6000-blackwell"
    assert way.cost_usd == pytest.approx(2 * 8999.99 + 7000)
    assert [(ch.answer, sorted(ch.after)) for ch in way.changes] == [
        (
            "candidates",
            [
                "rtx-pro-6000-blackwell",
                "rtx-pro-6000-blackwell-max-q",
                "rtx-pro-6000-blackwell-server",
            ],
        )
    ]
    check_promise(engine, c, way)
    # The server edition itself needs two changes, a pair whose moves each cleared the rule the
    # other left (the 4-GPU cap clears the demand, the server room the box): two cards over PCIe
    # read 70 GB each per token at 1,597 GB/s x 0.4 (decode_mbu_pcie, kb/demand.yaml), 9.1
    # tokens/s, under the 10 a user is given; four read 35 GB each, 18.3 tokens/s. Four 600 W
    # cards go in the 4U 8-GPU server ($25,000; kb/systems.yaml): 4 x $9,000 + $25,000.
    assert 70 / (1597 * 0.4) > 1 / 10 > 35 / (1597 * 0.4)
    assert pair.device == "rtx-pro-6000-blackwell-server"
    assert (pair.change, pair.cost_usd, pair.rank, pair.of) == (
        "max_gpus 2 -> 4 and site office -> server-room",
        4 * 9000 + 25000,
        1,
        1,
    )
    check_promise(engine, c, pair)


def test_an_hgx_board_over_a_server_rooms_rack_power_is_offered_the_move_to_a_datacenter(
    engine: Engine,
) -> None:
    """The site is a lever: an exclusion that says "answer site=datacenter" has a suggestion
    that does it, with its cost and what the move gives up."""
    c = engine.consult({"workload": "inference", "model_params_b": 405, "site": "server-room"})
    # 405B in bf16: 405e9 x 2 bytes = 810 GB of weights alone. One 8-GPU board holds it in H200
    # (8 x 141 = 1,128 GB) or B200 (8 x 180 = 1,440 GB), not in H100 SXM (8 x 80 = 640 GB).
    assert 8 * 141 > 810 and 8 * 180 > 810 and 8 * 80 < 810
    # Both boards are out at a server room: one box draws 10.2 kW (H200, the DGX H200's maximum)
    # or 14.3 kW (B200), more than its 8 kW a rack; a datacenter rack takes 30 kW (kb/systems.yaml).
    for device in ("h200", "b200"):
        assert {e.rule for e in c.all_exclusions[device]} == {"site.box-power-over-site"}
    found = what_would_change(c)
    # in a datacenter: 8 x $35,000 + a $45,000 HGX server = $325,000 for the H200, cheaper than
    # 8 x $45,000 + $45,000 = $405,000 for the B200; the two boards are the only devices that
    # hold 405B in bf16 and run CUDA, so the H200 ranks 1 of 2 and the B200 2 of 2
    move = [
        s
        for s in found["h200"]
        if s.changes and s.changes[0].answer == "site" and len(s.changes) == 1
    ]
    assert [(s.kind, s.change, s.cost_usd, s.rank, s.of) for s in move] == [
        ("makes it fit", "site server-room -> datacenter", 8 * 35000 + 45000, 1, 2)
    ]
    assert "not in the cost shown" in move[0].gives_up[0].text
    assert move[0].gives_up[0].source == "flashgenius-dc-power-cooling"
    (b200,) = found["b200"]
    assert (b200.kind, b200.change, b200.cost_usd, b200.rank, b200.of) == (
        "brings back",
        "site server-room -> datacenter",
        8 * 45000 + 45000,
        2,
        2,
    )
    # a site is only ever moved up (office -> server room -> datacenter), never back to a desk
    assert not any(
        ch.answer == "site" and ch.after == "office"
        for items in found.values()
        for s in items
        for ch in s.changes
    )
    for items in found.values():
        for s in items:
            check_promise(engine, c, s)


def test_the_levers_tried_for_a_workload_are_those_levers_yaml_lists_for_it(
    engine: Engine,
) -> None:
    """What "no change you control" covers (the TUI lists them): levers.yaml's workloads."""
    inference = levers_for(engine.consult({"workload": "inference", "model_params_b": 8}))
    tuning = levers_for(engine.consult({"workload": "fine-tuning", "model_params_b": 8}))
    # weight and KV-cache precision and the per-user speed are inference's; the method and the
    # deadline a training run's
    assert {"weight-precision", "kv-cache-precision", "speed-per-user"} <= set(inference)
    assert not {"fine-tuning-method", "deadline"} & set(inference)
    assert {"fine-tuning-method", "deadline"} <= set(tuning)
    assert not {"weight-precision", "speed-per-user"} & set(tuning)
    # levers for every workload, in the file's order
    everywhere = ["gpu-count", "gpu-cap-lower", "budget", "edition", "site-power", "site"]
    assert [lever for lever in inference if lever in everywhere] == everywhere
