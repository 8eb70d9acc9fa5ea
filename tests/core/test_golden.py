"""Each decision the seed documents make, as a golden consultation.

The answers describe the seed's situation; the assertion is the seed's verdict where the numbers
support it, and the engine's honest departure (with its note) where they do not.
"""

from __future__ import annotations

from typing import Any

import pytest

from gpu_advisor.core.consult import Engine
from gpu_advisor.core.results import Consultation

PAIR_000 = "rtx-5090,rtx-pro-6000-blackwell"
PAIR_001 = "h100-pcie,rtx-pro-6000-blackwell"
PAIR_002 = "rtx-5090,h100-sxm"
PAPER = "rtx-pro-6000-blackwell,dgx-spark,rtx-a6000,rtx-a5000"


def consult(engine: Engine, **answers: Any) -> Consultation:
    for evaluator in ("durable", "python"):
        result = engine.consult(answers, evaluator=evaluator)
        if evaluator == "durable":
            durable = result
        else:
            assert result.outcome_key() == durable.outcome_key(), "evaluators disagree"
    return durable


def top(c: Consultation) -> str:
    assert c.recommendations, f"nothing recommended; excluded: {c.all_exclusions}"
    return c.recommendations[0].device


def excluded_by(c: Consultation, device: str) -> set[str]:
    return {e.rule for e in c.all_exclusions.get(device, [])}


def contradictions(c: Consultation) -> set[str]:
    return {n.rule for n in c.notes if n.kind == "contradiction" and n.rule}


# --- seed-000: RTX 5090 vs RTX PRO 6000, use-case table and its ECC / driver / NVLink reasoning


def test_000_hobbyist_under_7b_gets_the_5090(engine: Engine) -> None:
    c = consult(
        engine,
        workload="fine-tuning",
        model_params_b=7,
        method="lora",
        deployment="hobby",
        candidates=PAIR_000,
    )
    assert top(c) == "rtx-5090"


def test_000_production_fine_tuning_gets_the_pro_6000(engine: Engine) -> None:
    c = consult(
        engine,
        workload="fine-tuning",
        model_params_b=13,
        method="lora",
        deployment="production",
        candidates=PAIR_000,
    )
    assert top(c) == "rtx-pro-6000-blackwell"
    assert {"reliability.ecc-missing", "drivers.geforce-excluded"} <= excluded_by(c, "rtx-5090")


def test_000_multi_gpu_tensor_parallelism_gets_the_pro_6000_pool(engine: Engine) -> None:
    c = consult(
        engine,
        workload="inference",
        model_params_b=70,
        max_gpus=2,
        parallelism="tensor",
        candidates=PAIR_000,
    )
    assert top(c) == "rtx-pro-6000-blackwell"
    assert c.recommendations[0].count == 2
    assert "memory.vram-ceiling" in excluded_by(c, "rtx-5090")


def test_000_24x7_training_server_gets_the_pro_6000(engine: Engine) -> None:
    c = consult(
        engine, workload="fine-tuning", model_params_b=7, longest_run_hours=720, candidates=PAIR_000
    )
    assert top(c) == "rtx-pro-6000-blackwell"
    assert "reliability.consumer-not-for-24x7" in excluded_by(c, "rtx-5090")


def test_000_llm_serving_gets_the_pro_6000(engine: Engine) -> None:
    c = consult(
        engine,
        workload="inference",
        model_params_b=30,
        precision="fp16",
        deployment="production",
        concurrent_users=50,
        candidates=PAIR_000,
    )
    assert top(c) == "rtx-pro-6000-blackwell"


def test_000_budget_workstation_gets_the_5090(engine: Engine) -> None:
    # The budget pays for the whole machine: the RTX 5090 ($1,999) in a desktop tower ($2,500,
    # kb/systems.yaml) is $4,499; the PRO 6000 ($8,999.99) in the 4-GPU workstation its 600 W
    # need ($7,000) is $15,999.99.
    c = consult(
        engine,
        workload="fine-tuning",
        model_params_b=7,
        method="qlora",
        budget_usd=5000,
        candidates=PAIR_000,
    )
    assert top(c) == "rtx-5090"
    assert excluded_by(c, "rtx-pro-6000-blackwell") == {"budget.over-budget"}


# --- seed-001: RTX PRO 6000 vs H100 PCIe


def test_001_megatron_on_8_gpus_needs_nvlink(engine: Engine) -> None:
    # An 8-GPU Megatron-class run, sized from the demand (max_gpus is a cap, not the job size):
    # 6 x 7e9 x 100e9 tokens = 4.2e21 FLOPs in the default 30 days. H100 PCIe: 756.5 TFLOPS dense
    # bf16 x 0.30 (PCIe server MFU) = 2.27e14 FLOP/s -> ceil(4.2e21 / (2.27e14 x 2.592e6)) =
    # ceil(7.14) = 8 GPUs; the PRO 6000 at 505 x 0.25 needs ceil(12.8) = 13. The fewest is 8: the
    # job is Megatron-scale, so NVLink is required.
    c = consult(
        engine,
        workload="pretraining",
        model_params_b=7,
        train_tokens_b=100,
        parallelism="tensor",
        candidates=PAIR_001,
    )
    assert top(c) == "h100-pcie"
    assert c.recommendations[0].count == 8
    assert "interconnect.no-nvlink" in excluded_by(c, "rtx-pro-6000-blackwell")
    # the bridge joins pairs only: the engine says so instead of claiming a full NVLink fabric
    assert any(
        w.rule == "interconnect.partial-nvlink" and w.device == "h100-pcie" for w in c.warnings
    )


def test_001_70b_in_fp4_runs_on_one_pro_6000(engine: Engine) -> None:
    c = consult(
        engine, workload="inference", model_params_b=70, precision="fp4", candidates=PAIR_001
    )
    assert top(c) == "rtx-pro-6000-blackwell"
    assert c.recommendations[0].count == 1
    assert any(n.kind == "seed-claim" and "seed-001" in n.message for n in c.notes)


def test_001_hbm_bandwidth_wins_interactive_latency(engine: Engine) -> None:
    c = consult(
        engine,
        workload="inference",
        model_params_b=8,
        serving="interactive",
        priority="performance",
        candidates=PAIR_001,
    )
    assert top(c) == "h100-pcie"


def test_001_offline_batch_inference_gets_the_pro_6000(engine: Engine) -> None:
    c = consult(
        engine,
        workload="inference",
        model_params_b=8,
        serving="batch",
        batch_size=16,
        context_tokens=8192,
        candidates=PAIR_001,
    )
    assert top(c) == "rtx-pro-6000-blackwell"
    assert "verdicts.seed001-offline-batch-pro6000" not in contradictions(c)


def test_001_70b_full_fine_tune_does_not_fit_eight_80gb_or_96gb_cards(engine: Engine) -> None:
    c = consult(
        engine,
        workload="fine-tuning",
        model_params_b=70,
        method="full",
        max_gpus=8,
        parallelism="tensor",
        candidates=PAIR_001,
    )
    assert c.recommendations == []
    assert "memory.vram-ceiling" in excluded_by(c, "h100-pcie")
    assert "memory.vram-ceiling" in excluded_by(c, "rtx-pro-6000-blackwell")


# --- seed-002: RTX 5090 vs H100


def test_002_training_from_scratch_gets_the_h100(engine: Engine) -> None:
    # H100 SXM come 8 to an HGX board, in a 10.2 kW server that a datacenter hosts (a server
    # room's rack gives 8 kW). 7B on Chinchilla's 140B tokens: 6 x 7e9 x 140e9 = 5.88e21 FLOPs;
    # 989.4e12 x 0.4 = 3.96e14 FLOP/s per GPU -> ceil(5.88e21 / (3.96e14 x 2.592e6)) = 6 GPUs,
    # one board of 8: $240,000 + the $45,000 server.
    c = consult(
        engine,
        workload="pretraining",
        model_params_b=7,
        max_gpus=8,
        parallelism="tensor",
        site="datacenter",
        candidates=PAIR_002,
    )
    assert top(c) == "h100-sxm"
    assert (c.recommendations[0].count, c.recommendations[0].cost_usd) == (8, 285_000)
    assert "workload.consumer-not-for-pretraining" in excluded_by(c, "rtx-5090")


def test_002_thousands_of_users_get_the_h100(engine: Engine) -> None:
    c = consult(
        engine,
        workload="inference",
        model_params_b=8,
        concurrent_users=5000,
        deployment="production",
        site="datacenter",
        candidates=PAIR_002,
    )
    assert top(c) == "h100-sxm"
    assert "reliability.consumer-not-for-24x7" in excluded_by(c, "rtx-5090")


# --- seed-003: the procurement paper's workload table and conditional recommendations


def test_003_multi_gpu_llm_training_gets_the_pro_6000(engine: Engine) -> None:
    # The paper's 4-GPU workstation of PRO 6000s: three 96 GB cards hold a 13B full fine-tune,
    # tensor parallelism over PCIe takes a group of 4. A tower carries 1,600 W of GPUs
    # (kb/systems.yaml): two 600 W Workstation Editions, or four 300 W Max-Q. The Workstation
    # Edition then needs two towers, and ZeRO-3 across them exchanges 3 x 2 x 505e12 x 0.25 /
    # (6 x 4,096 x 2) = 15.4 GB/s per GPU where 100 GbE gives 12.5 / 2 = 6.25: out. The Max-Q is
    # the part for that workstation: 4 x $9,000 + $7,000 = $43,000.
    c = consult(
        engine,
        workload="fine-tuning",
        method="full",
        model_params_b=13,
        max_gpus=4,
        parallelism="tensor",
        candidates=PAPER + ",rtx-pro-6000-blackwell-max-q",
    )
    assert top(c) == "rtx-pro-6000-blackwell-max-q"
    assert (c.recommendations[0].count, c.recommendations[0].cost_usd) == (4, 43_000)
    assert c.devices["rtx-pro-6000-blackwell-max-q"]["hosts"] == 1
    assert "verdicts.paper-multi-gpu-llm-training" not in contradictions(c)
    assert "interconnect.network-too-slow-for-training" in excluded_by(c, "rtx-pro-6000-blackwell")
    assert "interconnect.no-training-across-appliances" in excluded_by(c, "dgx-spark")


def test_003_and_001_disagree_on_8_gpu_pretraining_and_the_nvlink_rule_decides(
    engine: Engine,
) -> None:
    # seed-003 names the PRO 6000 for multi-GPU LLM training; seed-001 requires NVLink for
    # 8-GPU Megatron-class runs. The PRO 6000 has no NVLink, so it is out, with the reason.
    # The same 4.2e21-FLOP run (see above) needs 13 PRO 6000 (505 TFLOPS x 0.25), 42 A6000
    # (154.85 x 0.25 = 3.87e13 FLOP/s -> 41.9) or 59 A5000 (111.1 x 0.25 -> 58.3) in 30 days; DGX
    # Spark has no dense bf16 figure to train on. Even the fewest (13) is Megatron-scale.
    c = consult(
        engine,
        workload="pretraining",
        model_params_b=7,
        train_tokens_b=100,
        parallelism="tensor",
        candidates=PAPER,
    )
    assert "interconnect.no-nvlink" in excluded_by(c, "rtx-pro-6000-blackwell")
    # Both bridged-pair cards run it across boxes: tensor parallelism within each NVLink pair
    # (59 A5000 -> 60, whole pairs), data or ZeRO parallelism between 4-card towers:
    # - A6000: 3 cards hold the state, one tower does, so towers exchange gradients once per
    #   4M-token step: 2 x 2 x 154.85e12 x 0.25 / (6 x (4e6 / 42) x 4) = 0.07 GB/s per GPU;
    #   25 GbE gives 3.125 / 4 = 0.78. 42 x $4,650 + 11 towers x ($7,000 + $700) = $280,000.
    # - A5000: its 24 GB hold the state only on 8 cards, two towers, so the parameters cross
    #   the network every micro-batch: 3 x 2 x 111.1e12 x 0.25 / (6 x 4,096 x 4) = 1.7 GB/s per
    #   GPU, which takes 100 GbE (3.125). 60 x $2,500 + 15 x ($7,000 + $2,500) = $292,500.
    # (Eight-GPU servers, $25,000 each, would cost more for both.)
    assert [(r.device, r.count, r.cost_usd) for r in c.recommendations] == [
        ("rtx-a6000", 42, 280_000),
        ("rtx-a5000", 60, 292_500),
    ]
    assert (c.devices["rtx-a6000"]["network"], c.devices["rtx-a5000"]["network"]) == (
        "ethernet-25g",
        "ethernet-100g",
    )
    assert any(
        w.rule == "interconnect.partial-nvlink" and w.device == "rtx-a6000" for w in c.warnings
    )


def test_003_many_request_inference_gets_a_spark_or_pro_6000(engine: Engine) -> None:
    c = consult(
        engine,
        workload="inference",
        model_params_b=70,
        precision="fp8",
        concurrent_users=100,
        candidates=PAPER,
    )
    assert top(c) in {"dgx-spark", "rtx-pro-6000-blackwell"}


def test_003_memory_bound_science_follows_the_numbers_not_the_a6000_verdict(engine: Engine) -> None:
    c = consult(engine, workload="scientific", scientific_profile="memory-bound", candidates=PAPER)
    assert top(c) != "rtx-a6000"
    assert "verdicts.paper-memory-bound-science-a6000" in contradictions(c)


def test_003_fp32_simulations_follow_the_papers_own_table_3(engine: Engine) -> None:
    # Table 3 prices the GPUs alone: 16 PRO 6000 (1,920 TFLOPS FP32; 2,000 at the Workstation
    # Edition's 125), 60 A5000 (1,668); the paper's conclusion picks the A5000 anyway. Bought
    # whole (kb/systems.yaml), $150,000 takes boxes and a 25 GbE port per box ($700):
    # - PRO 6000 WS: two 600 W cards per $7,000 tower: 11 cards = 99,000 + 6 x 7,700 = 145,200
    #   (12 would be 154,200): 11 x 125 = 1,375 TFLOPS;
    # - A5000: four per tower: 32 = 80,000 + 8 x 7,700 = 141,600 (33: 151,800): 32 x 27.8 = 890.
    # The PRO 6000 leads by more than before, and the verdict's contradiction stands.
    c = consult(
        engine,
        workload="scientific",
        scientific_profile="fp32-throughput",
        budget_usd=150000,
        purchase="fill-budget",
        priority="aggregate-fp32",
        candidates=PAPER,
    )
    assert top(c) == "rtx-pro-6000-blackwell"
    assert {"verdicts.paper-fp32-a5000", "verdicts.paper-aggregate-fp32-a5000"} <= contradictions(c)
    counts = {r.device: r.count for r in c.recommendations}
    assert counts["rtx-pro-6000-blackwell"] == 11 and counts["rtx-a5000"] == 32


def test_003_fewest_nodes_gets_the_pro_6000(engine: Engine) -> None:
    c = consult(
        engine,
        workload="inference",
        model_params_b=70,
        precision="fp4",
        priority="fewest-nodes",
        budget_usd=150000,
        purchase="fill-budget",
        candidates=PAPER,
    )
    assert top(c) == "rtx-pro-6000-blackwell"


def test_003_fastest_deployment_gets_the_dgx_spark(engine: Engine) -> None:
    # In its native FP4 (the paper's framing) an 8B model leaves the Spark's 273 GB/s fast enough
    # for chat: 273 x 0.6 / ~4.6 GB read per token = ~35 tokens/s. In bf16 (16 GB) it would be
    # 9.9 tokens/s, under the 10 tokens/s default, and the appliance would be out.
    c = consult(
        engine,
        workload="inference",
        model_params_b=8,
        precision="fp4",
        priority="fastest-deployment",
        candidates=PAPER,
    )
    assert top(c) == "dgx-spark"


def test_003_conservative_per_device_memory_is_not_the_a6000(engine: Engine) -> None:
    c = consult(engine, workload="scientific", priority="conservative", candidates=PAPER)
    assert top(c) == "rtx-pro-6000-blackwell"
    assert "verdicts.paper-conservative-a6000" in contradictions(c)


@pytest.mark.parametrize("candidates", ["rtx-a6000,rtx-a5000"])
def test_003_a6000_verdict_holds_when_it_really_has_the_most_memory(
    engine: Engine, candidates: str
) -> None:
    c = consult(
        engine, workload="scientific", scientific_profile="memory-bound", candidates=candidates
    )
    # Re-derived for issue 13 (the priority decides): the priority is the default lowest-cost and
    # both purchases are one card: RTX A5000 $2,500 < RTX A6000 $4,650, so the A5000 is first.
    # The verdict still holds (the A6000 has the most memory, 48 GB vs 24 GB): no contradiction,
    # and its reason is listed for the A6000, which ranks second.
    assert [r.device for r in c.recommendations] == ["rtx-a5000", "rtx-a6000"]
    assert not contradictions(c)
    assert "verdicts.paper-memory-bound-science-a6000" in {
        r.rule for r in c.recommendations[1].reasons
    }


def test_sparsity_caveat_is_stated_and_comparisons_stay_dense(engine: Engine) -> None:
    c = consult(engine, workload="inference", model_params_b=8, precision="fp4", candidates=PAPER)
    assert any(w.rule == "throughput.dense-comparison" for w in c.warnings)
    attrs = c.devices["rtx-pro-6000-blackwell"]
    assert attrs["dense_tflops"] == pytest.approx(2000.0)  # 4,000 sparse / 2


def test_off_grid_batteries_enter_the_cost(engine: Engine) -> None:
    c = consult(
        engine,
        workload="scientific",
        off_grid=True,
        budget_usd=150000,
        purchase="fill-budget",
        candidates="rtx-pro-6000-blackwell",
    )
    attrs = c.devices["rtx-pro-6000-blackwell"]
    # The budget buys the hardware (11 cards in 6 towers with 25 GbE: $145,199.89, see above);
    # the batteries come on top, as in the paper's CapEx. Engineering scenario with the boxes'
    # system power (host factor 1: the towers' 450 W platforms are counted): 11 x 600 + 6 x 450
    # = 9.3 kW x PUE 1.2 = 11.16 kW; 8 h -> 89.28 kWh / (0.9 x 0.9) = 110.2 kWh; ceil(110.2 /
    # 13.5) = 9 Powerwalls (9 x 11.5 kW carry the load).
    assert attrs["count"] == 11
    assert attrs["facility_kw"] == pytest.approx(11.16)
    assert attrs["battery_kwh"] == pytest.approx(110.2, abs=0.1)
    assert attrs["batteries"] == 9
    assert attrs["hardware_cost_usd"] == pytest.approx(11 * 8999.99 + 6 * 7000 + 6 * 700)
    assert attrs["cost_usd"] == pytest.approx(11 * 8999.99 + 6 * 7000 + 6 * 700 + 9 * 8200)
