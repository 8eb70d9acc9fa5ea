"""Issue 13: the buyer's priority decides the order; other qualities only break near-ties.

The expected orders are worked out by hand in each test from the knowledge base's prices and
figures (kb/devices) and the order table (rules/ranking.yaml ``order:``).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpu_advisor.core.consult import Engine
from gpu_advisor.core.results import Consultation
from gpu_advisor.knowledge.tables import load_order, table_problems


def consult(engine: Engine, **answers: Any) -> Consultation:
    durable = engine.consult(answers)
    assert engine.consult(answers, evaluator="python").outcome_key() == durable.outcome_key()
    return durable


def order(c: Consultation) -> list[str]:
    return [r.device for r in c.recommendations]


def test_lowest_cost_puts_two_pro_6000s_first_and_a_b200_board_is_over_the_cap(
    engine: Engine,
) -> None:
    c = consult(engine, workload="inference", model_params_b=70, max_gpus=2, site="datacenter")
    # 70B bf16 needs 151 GB: two of anything up to 96 GB. What is bought, whole (kb/systems.yaml:
    # a 2U 4-GPU PCIe server is $15,000 and carries 1,600 W of GPUs):
    #   2 x PRO 6000 Max-Q   2 x  9,000 + 15,000 = 33,000
    #   2 x H100 PCIe        2 x 25,000 + 15,000 = 65,000
    #   2 x H100 NVL         2 x 28,000 + 15,000 = 71,000
    # Out: the B200, H100 SXM and H200 come 8 to a board, over the cap of 2; the Workstation
    # Edition's flow-through cooler is for towers, not a datacenter's servers; the Server
    # Edition over PCIe reads 2 x 1,597 x 0.4 = 1,278 GB/s, so one user gets 1,278 / 142.4 GB =
    # 9.0 tokens/s < 10, and four exceed the cap; the DGX Spark's 128 GB holds no copy.
    assert order(c) == ["rtx-pro-6000-blackwell-max-q", "h100-pcie", "h100-nvl"]
    assert [r.cost_usd for r in c.recommendations] == pytest.approx([33_000, 65_000, 71_000])
    assert "memory.vram-ceiling" in {e.rule for e in c.all_exclusions["dgx-spark"]}
    for board in ("b200", "h100-sxm", "h200"):
        assert "throughput.demand-not-met" in {e.rule for e in c.all_exclusions[board]}
    assert "site.no-box-at-site" in {e.rule for e in c.all_exclusions["rtx-pro-6000-blackwell"]}
    assert "throughput.demand-not-met" in {
        e.rule for e in c.all_exclusions["rtx-pro-6000-blackwell-server"]
    }
    h100 = c.recommendation("h100-pcie")
    assert h100 is not None and h100.versus_first is not None
    line = h100.versus_first.line()
    # $65,000 - $33,000 = $32,000; single-stream decode 2 x 2,000 / 140 GB = 28.6 vs
    # 2 x 1,792 / 140 = 25.6 tokens/s
    assert "$32,000 dearer" in line and "decode 28.60 vs 25.60 tokens/s" in line


def test_every_device_after_the_first_says_what_it_gains_and_loses(engine: Engine) -> None:
    c = consult(engine, workload="fine-tuning", model_params_b=7, deployment="production")
    assert c.recommendations[0].versus_first is None
    for rec in c.recommendations[1:]:
        assert (
            rec.versus_first is not None and rec.versus_first.against == c.recommendations[0].device
        )
        assert rec.versus_first.gains or rec.versus_first.loses
        assert any(ch.isdigit() for ch in rec.versus_first.line())
        assert rec.to_json()["versus_first"]["against"] == c.recommendations[0].device


def test_bandwidth_counts_once_hbm_bonuses_add_nothing_of_their_own(engine: Engine) -> None:
    c = consult(
        engine,
        workload="inference",
        model_params_b=8,
        serving="interactive",
        priority="performance",
        candidates="h100-pcie,rtx-pro-6000-blackwell",
    )
    h100 = c.recommendation("h100-pcie")
    assert h100 is not None
    # workload.latency-prefers-hbm fired (the H100 has HBM) but bandwidth is measured by the
    # decode metric: the rule is listed with 0 points and adds no score part
    assert ("workload.latency-prefers-hbm", 0.0) in [(r.rule, r.points) for r in h100.reasons]
    assert not any(name.startswith("rule:workload.") for name in h100.contributions)
    # performance weighs throughput and decode (bandwidth is the same quality as decode)
    assert set(name for name in h100.contributions if ":" not in name) == {"throughput", "decode"}
    # and under the default lowest-cost the $8,999.99 PRO 6000 is first, the $25,000 H100 second
    cheap = consult(
        engine,
        workload="inference",
        model_params_b=8,
        serving="interactive",
        candidates="h100-pcie,rtx-pro-6000-blackwell",
    )
    assert order(cheap) == ["rtx-pro-6000-blackwell", "h100-pcie"]


def test_a_tie_between_editions_is_broken_by_their_qualities_not_by_a_cent(engine: Engine) -> None:
    # At a desk (site=office) both the Workstation Edition and the Max-Q go into the same
    # 4-GPU workstation ($7,000): one card and one node each, a tie under fewest-nodes. The
    # purchases differ by a cent ($15,999.99 vs $16,000). The tie-breaks, each a ratio to the
    # better of the two times its weight (rules/ranking.yaml), differ only in:
    #   throughput x3: WS 505 TFLOPS bf16 -> 3      Max-Q 439/505 x 3 = 2.608
    #   power    x0.5: the whole tower at full load, 450 W of platform each (kb/systems.yaml):
    #                  WS 750/1,050 x 0.5 = 0.357   Max-Q 300 + 450 = 750 W -> 0.5
    #   cost       x2: WS 2                         Max-Q 2 x 15,999.99/16,000 = 1.9999988
    # (memory 96 GB, bandwidth 1,792 GB/s and the workstation setting are equal): the
    # Workstation Edition leads by 0.392 - 0.143 + 0.0000012 = 0.249, and the cent is 1.2e-6 of it.
    c = consult(
        engine,
        workload="fine-tuning",
        model_params_b=7,
        priority="fewest-nodes",
        site="office",
        candidates="rtx-pro-6000-blackwell-max-q,rtx-pro-6000-blackwell",
    )
    ws, maxq = c.recommendations
    assert (ws.device, maxq.device) == ("rtx-pro-6000-blackwell", "rtx-pro-6000-blackwell-max-q")
    assert ws.score == maxq.score
    assert (ws.cost_usd, maxq.cost_usd) == pytest.approx((15_999.99, 16_000))
    cost_gap = ws.contributions["tie:cost"] - maxq.contributions["tie:cost"]
    assert cost_gap == pytest.approx(2 * (1 - 15_999.99 / 16_000))
    power_gap = 0.5 - 0.5 * 750 / 1050
    assert ws.tie_break - maxq.tie_break == pytest.approx(3 - 3 * 439 / 505 - power_gap + cost_gap)
    assert ws.tie_break - maxq.tie_break > 100_000 * cost_gap


def test_the_order_table_names_only_what_the_rule_base_knows(engine: Engine) -> None:
    assert table_problems(engine.rulebase) == []
    table = load_order(engine.rulebase.directory)
    assert table.within("lowest-cost") == 0
    assert all(t.reason for t in table.tie_breaks) and all(n.reason for n in table.near_tie)


_CHOICES = {
    "workload": ["pretraining", "fine-tuning", "inference", "scientific"],
    "model_params_b": [1, 7, 8, 13, 30, 70, 405],
    "precision": ["fp32", "bf16", "fp8", "fp4"],
    "method": ["full", "lora", "qlora"],
    "context_tokens": [2048, 8192, 32768],
    "concurrent_users": [1, 50, 2000],
    "deployment": ["hobby", "research", "production"],
    "longest_run_hours": [4, 72, 400],
    "max_gpus": [1, 2, 4, 8],
    "budget_usd": [3000, 20000, 150000],
    "purchase": ["minimum", "fill-budget"],
    "site": ["office", "server-room", "datacenter"],
    "serving": ["interactive", "batch"],
    "scientific_profile": ["memory-bound", "fp32-throughput"],
}


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.fixed_dictionaries({}, optional={k: st.sampled_from(v) for k, v in _CHOICES.items()}))
def test_under_lowest_cost_the_first_costs_no_more_than_any_other(
    engine: Engine, answers: dict[str, Any]
) -> None:
    c = engine.consult({**answers, "priority": "lowest-cost"}, evaluator="python")
    if c.recommendations:
        first = c.recommendations[0]
        assert all(first.cost_usd <= other.cost_usd for other in c.recommendations[1:]), [
            (r.device, r.cost_usd) for r in c.recommendations
        ]
