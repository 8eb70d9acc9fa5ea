"""Golden consultations for the 2026-12 knowledge base: FP64 codes, ROCm and Apple devices,
second-hand cards, partitioned GPUs for many tenants, and unified memory.

Each expected verdict is worked out by hand in the test from the knowledge-base figures (quoted
as literals and checked against the KB first, so a changed figure fails loudly instead of
silently moving the verdict). Ranking: each metric is a ratio to the best remaining device
(cost: cheapest / this; others: this / best), times the priority's weight (rules/ranking.yaml).
"""

from __future__ import annotations

from typing import Any

import pytest

from gpu_advisor.core.consult import Engine
from gpu_advisor.core.results import Consultation

MONTH = 202612  # the consultation's month: an input, never the clock, in tests


def consult(engine: Engine, **answers: Any) -> Consultation:
    durable = engine.consult(answers, evaluator="durable")
    python = engine.consult(answers, evaluator="python")
    assert python.outcome_key() == durable.outcome_key(), "evaluators disagree"
    return durable


def recommended(c: Consultation) -> list[str]:
    return [r.device for r in c.recommendations]


def excluded_by(c: Consultation, device: str) -> set[str]:
    return {e.rule for e in c.all_exclusions.get(device, [])}


def because(c: Consultation, device: str, rule: str) -> str:
    return next(e.because for e in c.all_exclusions[device] if e.rule == rule)


def warned(c: Consultation, rule: str, device: str) -> bool:
    return any(w.rule == rule and w.device == device for w in c.warnings)


def kb_value(engine: Engine, device: str, name: str) -> Any:
    return engine.rulebase.knowledge.devices[device].value(name)


# --- FP64: production CFD -------------------------------------------------------------------


def test_fp64_production_cfd_gets_an_h100_and_the_rtx_cards_are_out_with_their_fp64(
    engine: Engine,
) -> None:
    fp64 = {
        "h100-sxm": 34,
        "h100-pcie": 26,
        "h100-nvl": 30,
        "h200": 34,
        "b200": 37,
        "rtx-pro-6000-blackwell": 1.95,
        "rtx-6000-ada": 1.42,
        "rtx-a6000": 0.605,
        "l40s": 1.43,
    }
    for device, value in fp64.items():
        assert kb_value(engine, device, "fp64_tflops") == value
    # A production CFD cluster stands in a datacenter (HGX servers draw 10-14 kW a box).
    c = consult(
        engine,
        workload="scientific",
        scientific_profile="fp64",
        deployment="production",
        site="datacenter",
    )
    assert c.facts["fp64_bound"] is True and c.facts["min_fp64_tflops"] == 5
    # Out: every card under 5 TFLOPS FP64, with its number in the reason; GeForce cards already
    # by production drivers; A100s (second-hand only) without buy_used; AMD without CUDA.
    for device in ("rtx-pro-6000-blackwell", "rtx-6000-ada", "rtx-a6000", "l40s"):
        assert "precision.fp64-rate-too-low" in excluded_by(c, device)
        assert f"{fp64[device]:g}"[:3] in because(c, device, "precision.fp64-rate-too-low")
    assert because(c, "rtx-pro-6000-blackwell", "precision.fp64-rate-too-low").startswith(
        "rtx-pro-6000-blackwell does 1.95 TFLOPS of FP64"
    )
    for device in ("mac-studio-m3-ultra", "dgx-spark"):
        assert "precision.fp64-rate-too-low" in excluded_by(c, device)
    assert "purchase.used-only-with-consent" in excluded_by(c, "a100-80gb-sxm")
    assert "software.needs-cuda" in excluded_by(c, "mi300x")
    # In: the five NVIDIA HBM parts, one purchase unit each (nothing to size): a PCIe card in a
    # $15,000 2U server, an SXM board of 8 in a $45,000 HGX server (kb/systems.yaml).
    # lowest-cost orders by cost alone (issue 13): score = cheapest / own cost.
    #   price   30000 25000 28000 35000 45000   (sxm, pcie, nvl, h200, b200)
    #   bought 285000 40000 43000 325000 405000
    #   memory     80    80    94   141   180
    #   fp32       67    51    60    67    75
    #   fp64       34    26    30    34    37
    price = {"h100-sxm": 30000, "h100-pcie": 25000, "h100-nvl": 28000, "h200": 35000, "b200": 45000}
    memory = {"h100-sxm": 80, "h100-pcie": 80, "h100-nvl": 94, "h200": 141, "b200": 180}
    fp32 = {"h100-sxm": 67, "h100-pcie": 51, "h100-nvl": 60, "h200": 67, "b200": 75}
    for device in price:
        assert c.devices[device]["price_usd"] == price[device]
        assert c.devices[device]["memory_gb"] == memory[device]
        assert c.devices[device]["fp32_tflops"] == fp32[device]
    bought = {"h100-sxm": 8, "h100-pcie": 1, "h100-nvl": 1, "h200": 8, "b200": 8}
    host = {"h100-sxm": 45000, "h100-pcie": 15000, "h100-nvl": 15000, "h200": 45000, "b200": 45000}
    cost = {d: bought[d] * price[d] + host[d] for d in price}
    assert cost == {
        "h100-sxm": 285000,
        "h100-pcie": 40000,
        "h100-nvl": 43000,
        "h200": 325000,
        "b200": 405000,
    }
    score = {d: 40000 / cost[d] for d in price}
    # the H100 PCIe ($25,000, 26 TFLOPS FP64) where the RTX A5000 gave 0.4
    assert recommended(c) == sorted(score, key=lambda d: -score[d])
    assert recommended(c) == ["h100-pcie", "h100-nvl", "h100-sxm", "h200", "b200"]
    for rec in c.recommendations:
        assert rec.score == pytest.approx(score[rec.device])


# --- ROCm: inference without CUDA ------------------------------------------------------------


def test_rocm_friendly_405b_batch_inference_runs_on_an_amd_board(engine: Engine) -> None:
    answers = dict(
        workload="inference",
        model_params_b=405,
        precision="fp8",
        serving="batch",
        max_gpus=8,
        deployment="production",
        context_tokens=8192,
        site="datacenter",
    )
    assert kb_value(engine, "mi325x", "memory_gb") == 256
    assert kb_value(engine, "mi325x", "price_usd") == 20000
    assert kb_value(engine, "mi300x", "price_usd") == 15000
    c = consult(engine, needs_cuda=False, **answers)
    # 405B in FP8: 405 GB of weights, held by a serving engine at 0.9 of each card's binary GB:
    # MI325X 256 x 1.0737 x 0.9 = 247.4 GB, so two hold it; MI300X 185.6 GB each: two (371 GB)
    # do not, four do. Both come 8 to an OAM board in a $45,000 server (kb/systems.yaml): the
    # MI300X board costs 8 x $15,000 + $45,000 = $165,000, the MI325X 8 x $20,000 + $45,000 =
    # $205,000. Bought whole, the MI300X is the cheaper: 165,000 / 205,000 = 0.805.
    assert 2 * 256 * 1.073741824 * 0.9 > 405 > 2 * 192 * 1.073741824 * 0.9
    assert recommended(c)[:2] == ["mi300x", "mi325x"]
    top = c.recommendations[0]
    assert (top.count, top.cost_usd) == (8, 165000)
    assert (c.devices["mi300x"]["gpus_needed"], c.devices["mi325x"]["gpus_needed"]) == (4, 2)
    assert c.recommendation("mi325x").count == 8
    assert c.recommendation("mi325x").score == pytest.approx(165000 / 205000, abs=1e-3)
    assert c.devices["mi325x"]["dense_tflops"] == 2614.9
    assert warned(c, "software.rocm-check-libraries", "mi325x")
    # The same job with CUDA code: AMD is out, with the reason.
    cuda = consult(engine, needs_cuda=True, **answers)
    assert "software.needs-cuda" in excluded_by(cuda, "mi325x")
    assert "rocm, not CUDA" in because(cuda, "mi325x", "software.needs-cuda")
    # Four 96 GB PRO 6000 over PCIe (the largest PCIe group, kb/demand.yaml) hold 4 x 92.8 =
    # 371 GB < 405: out. Four H200 (141 GB, NVLink) or B200 hold it, eight H100 SXM too; each is
    # one board of 8 in its server: H100 SXM 8 x $30,000 + $45,000 = $285,000, H200 $325,000,
    # B200 $405,000.
    assert 4 * 96 * 1.073741824 * 0.9 < 405 < 4 * 141 * 1.073741824 * 0.9
    assert [(r.device, r.count, r.cost_usd) for r in cuda.recommendations][:3] == [
        ("h100-sxm", 8, 285000),
        ("h200", 8, 325000),
        ("b200", 8, 405000),
    ]


# --- second-hand: a hobby budget ---------------------------------------------------------------


def test_a_used_rtx_3090_for_a_hobby_budget(engine: Engine) -> None:
    assert kb_value(engine, "rtx-3090", "price_usd") == 750
    assert kb_value(engine, "rtx-3090", "market") == "used"
    assert kb_value(engine, "rtx-4090", "price_usd") == 1550
    answers = dict(
        workload="inference",
        model_params_b=13,
        precision="fp4",
        deployment="hobby",
        budget_usd=3500,
        consultation_month=MONTH,
    )
    c = consult(engine, buy_used=True, **answers)
    # The budget buys the machine: a desktop tower is $2,500 (kb/systems.yaml). Under $3,500 only
    # the used RTX 3090 remains ($750 + $2,500 = $3,250): the used 4090 comes to $4,050, the DGX
    # Spark to $3,999, every new card in its box to more. A 13B model in FP4 needs 9.2 GB of its
    # 24 GB.
    assert recommended(c) == ["rtx-3090"]
    assert c.devices["rtx-3090"]["memory_per_gpu_gb"] == 9.18
    assert "budget.over-budget" in excluded_by(c, "rtx-4090")
    for rule in ("purchase.used-caution", "purchase.end-of-life", "workload.fp4-without-hardware"):
        assert warned(c, rule, "rtx-3090")
    assert not warned(c, "purchase.stale-price", "rtx-3090")  # seen 2026-05, seven months ago
    # Without second-hand hardware nothing fits the budget, and the 3090 says why it is out.
    new_only = consult(engine, buy_used=False, **answers)
    assert recommended(new_only) == []
    assert "purchase.used-only-with-consent" in excluded_by(new_only, "rtx-3090")
    assert "second-hand" in because(new_only, "rtx-3090", "purchase.used-only-with-consent")


# --- partitioned GPUs for many tenants -----------------------------------------------------------


def test_a_multi_tenant_small_model_service_prefers_the_mig_card(engine: Engine) -> None:
    assert kb_value(engine, "rtx-pro-6000-blackwell-server", "partitions") == 4
    assert kb_value(engine, "rtx-pro-6000-blackwell-server", "partition_memory_gb") == 24
    assert kb_value(engine, "l40s", "partitioning") == "none"
    c = consult(
        engine,
        workload="inference",
        model_params_b=3,
        concurrent_users=200,
        deployment="production",
        context_tokens=2048,
        candidates="l40s,rtx-pro-6000-blackwell-server",
    )
    assert c.facts["multi_tenant"] is True
    # A 3B model in BF16 with its KV cache needs 7.78 GB: it fits one 24 GB MIG slice.
    assert c.devices["rtx-pro-6000-blackwell-server"]["memory_per_gpu_gb"] == 7.78
    pro = c.recommendations[0]
    assert pro.device == "rtx-pro-6000-blackwell-server"
    assert pro.contributions["rule:tenancy.model-fits-a-partition"] == 1
    l40s = next(r for r in c.recommendations if r.device == "l40s")
    assert "rule:tenancy.model-fits-a-partition" not in l40s.contributions
    # 200 users at 2,048 tokens: one 96 GB card holds them all, the 48 GB L40S needs two
    # (its KV cache binds); either goes into one $15,000 2U server (kb/systems.yaml), so one PRO
    # ($9,000 + $15,000) beats two L40S ($17,000 + $15,000) on cost:
    assert (pro.count, l40s.count) == (1, 2)
    assert c.devices["l40s"]["count_set_by"] == "kv_cache"
    assert (pro.cost_usd, l40s.cost_usd) == (24000, 32000)
    assert l40s.score == pytest.approx(24000 / 32000, abs=1e-3)


# --- unified memory: a very large model, slowly ------------------------------------------------


def test_a_mac_studio_runs_a_405b_model_slowly_in_its_usable_memory(engine: Engine) -> None:
    mac = "mac-studio-m3-ultra"
    assert kb_value(engine, mac, "memory_gb") == 512
    assert kb_value(engine, mac, "usable_memory_gb") == 384
    assert kb_value(engine, mac, "bandwidth_gbs") == 819
    # A single user content with 2 tokens/s (the Mac reads 819 GB/s x 0.6 over ~207 GB a token:
    # 2.4 tokens/s, under the 10 of chat, which would exclude it).
    c = consult(
        engine,
        workload="inference",
        model_params_b=405,
        precision="fp4",
        needs_cuda=False,
        buy_used=True,
        budget_usd=12000,
        consultation_month=MONTH,
        tokens_per_s_per_user=2,
    )
    # The GPU may use 384 of the 512 GB: that is the capacity rules see and the sizing uses.
    assert c.devices[mac]["memory_gb"] == 384
    # 405B in FP4 needs ~219 GB; under $12,000 only the Mac ($9,499) holds it: DGX Spark (109 GB
    # usable) and the 96 GB cards do not.
    assert recommended(c) == [mac]
    assert c.devices[mac]["memory_per_gpu_gb"] == pytest.approx(218.8, abs=0.1)
    assert "memory.vram-ceiling" in excluded_by(c, "dgx-spark")
    # Slow: 819 GB/s over ~205 GB of FP4 weights is about 4 tokens/s per stream.
    weights = c.facts["weights_gb"]
    assert c.devices[mac]["decode_tokens_s"] == pytest.approx(819 / weights, abs=0.05)
    assert c.devices[mac]["decode_tokens_s"] < 5
    # Its list price is from 2025-03, more than a year before this consultation; it is only sold
    # second-hand now and the configuration is end-of-life.
    for rule in (
        "purchase.stale-price",
        "purchase.used-caution",
        "purchase.end-of-life",
        "software.metal-check-libraries",
    ):
        assert warned(c, rule, mac)


def test_dgx_spark_sizes_against_its_usable_memory_not_the_whole_pool(engine: Engine) -> None:
    assert kb_value(engine, "dgx-spark", "memory_gb") == 128
    assert kb_value(engine, "dgx-spark", "usable_memory_gb") == 109
    # In FP4 (its native format) an 8B model is served at chat speed, so the Spark is bought and
    # its warnings stand (warnings are given only for what is recommended).
    c = consult(
        engine, workload="inference", model_params_b=8, precision="fp4", candidates="dgx-spark"
    )
    assert c.recommendations and c.devices["dgx-spark"]["memory_gb"] == 109
    assert warned(c, "software.arm-host", "dgx-spark")
    assert warned(c, "software.recent-cuda", "dgx-spark")
