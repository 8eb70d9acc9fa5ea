"""The inference engine: forward chaining, sessions, isolation, and agreement of evaluators."""

from __future__ import annotations

import random
import threading
from typing import Any

import pytest

from gpu_advisor.backends import durable as durable_adapter
from gpu_advisor.core.consult import Engine
from gpu_advisor.errors import EngineError


def test_same_fact_derived_by_two_rules_is_kept_once_with_both_derivations(engine: Engine) -> None:
    c = engine.consult({"deployment": "production", "longest_run_hours": 72})
    assert c.facts["needs_ecc"] is True
    assert set(c.derived_by["needs_ecc"]) == {
        "reliability.ecc-for-production",
        "reliability.ecc-for-long-runs",
    }
    fired = [t.rule for t in c.trace]
    assert "reliability.ecc-for-production" in fired and "reliability.ecc-for-long-runs" in fired


def test_forward_chaining_runs_in_strata(engine: Engine) -> None:
    c = engine.consult({"longest_run_hours": 200})
    stages = {t.rule: t.stage for t in c.trace}
    # week-long runs -> continuous_service -> needs_datacenter_rated -> consumer excluded
    assert (
        stages["reliability.week-long-runs"] < stages["reliability.continuous-needs-rated-hardware"]
    )
    assert (
        stages["reliability.continuous-needs-rated-hardware"]
        < stages["reliability.consumer-not-for-24x7"]
    )
    assert "rtx-5090" in c.all_exclusions


def test_thousands_of_consultations_in_one_process_leave_no_sessions(engine: Engine) -> None:
    compiled = engine.compiled
    answers = [
        {"workload": "inference", "model_params_b": 8},
        {"deployment": "production"},
        {"workload": "pretraining", "model_params_b": 7, "max_gpus": 8},
    ]
    for i in range(2100):  # more than durable_rules' 1,024 open sessions
        engine.consult(answers[i % len(answers)])
    assert compiled.open_sessions == 0


def test_consultations_share_no_state(engine: Engine) -> None:
    first = engine.consult({"deployment": "production"}).outcome_key()
    engine.consult({"deployment": "hobby", "workload": "inference", "model_params_b": 405})
    assert engine.consult({"deployment": "production"}).outcome_key() == first


def test_concurrent_consultations_from_threads_agree(engine: Engine) -> None:
    expected = engine.consult(
        {"workload": "inference", "model_params_b": 70, "precision": "fp8"}
    ).outcome_key()
    results: list[Any] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(30):
                results.append(
                    engine.consult(
                        {"workload": "inference", "model_params_b": 70, "precision": "fp8"}
                    ).outcome_key()
                )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 120 and all(r == expected for r in results)


def _random_answers(rng: random.Random, engine: Engine) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for q in engine.rulebase.questions.values():
        if rng.random() < 0.4:
            continue
        if q.type == "choice":
            answers[q.key] = rng.choice(q.choices)
        elif q.type == "boolean":
            answers[q.key] = rng.random() < 0.5
        elif q.type in ("integer", "number"):
            low, high = q.min or 1, q.max or 1e6
            options = [v for v in (low, 2, 7, 8, 48, 70, 1000, 150000, high) if low <= v <= high]
            value = rng.choice(options)
            answers[q.key] = int(value) if q.type == "integer" else value
    return answers


def test_durable_and_python_evaluators_agree_on_random_answers(engine: Engine) -> None:
    rng = random.Random(20261121)
    for _ in range(300):
        answers = _random_answers(rng, engine)
        durable = engine.consult(answers, evaluator="durable")
        python = engine.consult(answers, evaluator="python")
        assert durable.outcome_key() == python.outcome_key(), answers


def test_an_action_failure_surfaces_as_our_error(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(text: str, actions: Any) -> None:
        raise RuntimeError("boom")

    # reading an action the engine started fails: the action is abandoned, the session closed
    monkeypatch.setattr(durable_adapter, "_read_action", broken)
    with pytest.raises(EngineError, match="boom"):
        engine.consult({"deployment": "production"})
    monkeypatch.undo()
    assert engine.consult({"deployment": "production"}).facts["needs_ecc"] is True


def test_fact_overrides_pin_a_derived_fact(engine: Engine) -> None:
    c = engine.consult(
        {"deployment": "production"}, evaluator="python", fact_overrides={"needs_ecc": False}
    )
    assert c.facts["needs_ecc"] is False
    assert not any(
        e.rule == "reliability.ecc-missing" for ex in c.all_exclusions.values() for e in ex
    )


def test_every_excluded_device_gets_a_counterfactual_when_one_exists(engine: Engine) -> None:
    from gpu_advisor.core.explain import what_would_change

    c = engine.consult(
        {
            "workload": "fine-tuning",
            "model_params_b": 7,
            "budget_usd": 5000,
            "candidates": "rtx-5090,rtx-pro-6000-blackwell",
        }
    )
    changes = what_would_change(c)
    (back,) = changes["rtx-pro-6000-blackwell"]
    # the budget raised to the card ($8,999.99) with the 4-GPU workstation it goes into ($7,000,
    # kb/systems.yaml): $15,999.99, in whole dollars
    assert [(x.answer, x.before, x.after) for x in back.changes] == [("budget_usd", 5000, 16000)]
    assert back.kind == "brings back" and back.cost_usd == pytest.approx(8999.99 + 7000)
    assert back.gives_up and all(g.source for g in back.gives_up)
    prod = engine.consult(
        {
            "deployment": "production",
            "workload": "fine-tuning",
            "model_params_b": 7,
            "candidates": "rtx-5090,rtx-pro-6000-blackwell",
        }
    )
    # issue 13: who depends on the results is not a lever: nothing a buyer controls brings back
    # a GeForce card without ECC for production work (it was "if deployment were hobby")
    assert "rtx-5090" not in what_would_change(prod)


def test_result_types_import_nothing_from_the_engine_the_ranking_or_the_explainer() -> None:
    from pathlib import Path

    from gpu_advisor.present.imports import import_edges

    engine_modules = {
        "gpu_advisor.core.consult",
        "gpu_advisor.core.ranking",
        "gpu_advisor.core.explain",
    }
    readers = {"gpu_advisor.core.results", "gpu_advisor.core.explanations"}
    edges = import_edges(Path(__file__).resolve().parents[2])
    assert [e for e in edges if e.source in readers and e.target in engine_modules] == []
    # explain and ranking read a consultation, never the engine that made it
    assert [
        e
        for e in edges
        if e.source in engine_modules - {"gpu_advisor.core.consult"}
        and e.target == "gpu_advisor.core.consult"
    ] == []


def test_a_consultation_holds_its_rule_base_and_a_way_to_consult_again_not_the_engine(
    engine: Engine,
) -> None:
    import dataclasses

    from gpu_advisor.core.results import Consultation

    c = engine.consult({"deployment": "production"})
    assert all(f.kw_only for f in dataclasses.fields(Consultation))
    assert not any(isinstance(getattr(c, f.name), Engine) for f in dataclasses.fields(c))
    assert c.rulebase is engine.rulebase
    again = c.reconsult({"deployment": "production"}, {"needs_ecc": False})
    assert again.evaluator == "python" and again.facts["needs_ecc"] is False


def test_reasons_say_whether_their_sentence_states_their_points(engine: Engine) -> None:
    c = engine.consult({"workload": "inference", "model_params_b": 7})
    kinds = {
        (reason.rule.startswith("ranking:"), reason.kind)
        for r in c.recommendations
        for reason in r.reasons
    }
    assert kinds <= {(True, "metric"), (False, "rule")} and (True, "metric") in kinds
    preferences = {rule.id for rule in engine.rulebase.rules if rule.prefer}
    assert all(
        reason.rule in preferences
        for r in c.recommendations
        for reason in r.reasons
        if reason.kind == "rule"
    )


def test_explanations_are_typed_and_keep_their_json(engine: Engine) -> None:
    from gpu_advisor.core.explain import explain_consultation, how, why_asked, why_not

    c = engine.consult(
        {
            "deployment": "production",
            "workload": "fine-tuning",
            "model_params_b": 7,
            "candidates": "rtx-5090,rtx-pro-6000-blackwell",
        }
    )
    first = how(c, "rtx-pro-6000-blackwell")
    assert first.status == "recommended" and first.rank == 1
    assert first.to_json()["rules"] == [rule.to_json() for rule in first.rules]
    out = why_not(c, "rtx-5090")
    assert out.status == "excluded" and out.excluded_by
    assert list(out.to_json()) == ["device", "status", "excluded_by"]
    asked = why_asked(engine.rulebase, "deployment")
    assert asked.to_json()["rules"] == [
        {
            "rule": r.rule,
            "description": r.description,
            "condition": r.condition,
            "sources": list(r.sources),
        }
        for r in asked.rules
    ]
    block = explain_consultation(c).to_json()
    assert list(block) == ["how", "why_not", "what_would_change", "questions"]
    # production needs ECC and validated drivers: no lever brings the RTX 5090 back (issue 13)
    assert block["what_would_change"] == []
    budget = explain_consultation(
        engine.consult(
            {
                "workload": "fine-tuning",
                "model_params_b": 7,
                "budget_usd": 5000,
                "candidates": "rtx-5090,rtx-pro-6000-blackwell",
            }
        )
    ).to_json()
    (item,) = budget["what_would_change"]
    assert list(item) == [
        "device",
        "kind",
        "changes",
        "cost_usd",
        "cost_change_usd",
        "rank",
        "of",
        "gives_up",
    ]
    assert item["device"] == "rtx-pro-6000-blackwell"
    # one Workstation Edition ($8,999.99) in the 4-GPU workstation it needs ($7,000,
    # kb/systems.yaml): $15,999.99, so the budget must rise to $16,000
    assert item["changes"] == [{"answer": "budget_usd", "from": 5000, "to": 16000}]
