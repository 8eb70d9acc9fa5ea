"""The seeds' memory claims: loaded from kb/claims.yaml, judged by running the sizing arithmetic."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from gpu_advisor.arithmetic.claims import (
    Claim,
    check_claim,
    claims_touched,
    load_claims,
    shipped_claims_path,
)
from gpu_advisor.arithmetic.sizing import estimate, usable_memory_gb
from gpu_advisor.errors import FileErrors, UsageError
from gpu_advisor.knowledge.yamlio import load_yaml

CLAIMS = {claim.id: claim for claim in load_claims()}

EXPECTED = {
    # seed-000: 16 B/param AdamW puts 7B full fine-tuning near 116 GB; ~80 GB needs a saver
    "seed000-full-ft-7b-about-80gb": "holds-under-assumptions",
    "seed000-96gb-full-ft-7b": "holds-under-assumptions",
    # a bf16 70B base alone is 141 GB: only an 8-bit base or QLoRA fits 96 GB
    "seed000-96gb-lora-70b": "holds-under-assumptions",
    "seed000-96gb-inference-30b-fp16": "holds",
    "seed000-96gb-qlora-70b": "holds",
    "seed000-32gb-lora-7b-bf16": "holds",
    "seed000-192gb-pair-fits-70b": "holds",
    # true for 16-bit weights; FP8 weights would fit two 32 GB cards
    "seed000-64gb-pair-cannot-fit-30b": "holds-under-assumptions",
    "seed001-70b-fp4-one-96gb": "holds",
    "seed001-70b-fp16-needs-two-h100": "holds",
    "seed001-70b-fp8-one-h100": "holds",
    # ZeRO-3 over 8 x 80 GB still runs out; optimizer offload would rescue it
    "seed001-70b-finetune-oom-80gb": "holds-under-assumptions",
}


def test_every_claim_has_an_expected_verdict() -> None:
    assert set(CLAIMS) == set(EXPECTED)


@pytest.mark.parametrize("claim_id", sorted(EXPECTED))
def test_claim_verdicts(claim_id: str) -> None:
    verdict = check_claim(CLAIMS[claim_id])
    assert verdict.verdict == EXPECTED[claim_id], verdict.explanation
    assert verdict.explanation and verdict.assumptions
    assert verdict.computed_gb > 0


def test_claims_are_sourced_paraphrases() -> None:
    for claim in CLAIMS.values():
        assert re.fullmatch(r"seed-00[0-3](#[a-z0-9-]+)?", claim.source)
        assert 20 < len(claim.claim) < 140


def test_verdicts_are_not_stored_in_yaml() -> None:
    doc = load_yaml(shipped_claims_path())
    for entry in doc.data["claims"]:
        assert "verdict" not in entry and "verdict" not in entry["check"]


def test_computed_gb_comes_from_estimate() -> None:
    for claim in CLAIMS.values():
        est = estimate(claim.check.request)
        measured = est.total_gb if claim.check.expect == "needs" else est.per_gpu_gb
        assert check_claim(claim).computed_gb == pytest.approx(measured)


def test_seven_b_full_fine_tuning_at_80gb_needs_a_saver() -> None:
    verdict = check_claim(CLAIMS["seed000-full-ft-7b-about-80gb"])
    assert verdict.computed_gb > 108  # 16 B/param x 7B = 112 GB of model states alone
    labels = [label for label, _ in verdict.holds_with]
    assert "8-bit AdamW" in labels and any("12 B/param" in label for label in labels)
    assert all(abs(gb - 80) <= 12 for _, gb in verdict.holds_with)


def test_seventy_b_lora_on_96gb_holds_only_with_a_smaller_base() -> None:
    verdict = check_claim(CLAIMS["seed000-96gb-lora-70b"])
    assert verdict.computed_gb > 141
    labels = [label for label, _ in verdict.holds_with]
    assert any("8-bit" in label for label in labels) and any("QLoRA" in label for label in labels)
    assert all(gb <= usable_memory_gb(96) for _, gb in verdict.holds_with)


def test_fixed_fields_are_not_changed_by_savers() -> None:
    # the claim says BF16 LoRA: a 4-bit base must not be offered as a way to make it hold
    claim = CLAIMS["seed000-32gb-lora-7b-bf16"]
    bigger = replace(
        claim, check=replace(claim.check, request=replace(claim.check.request, params_b=30))
    )
    verdict = check_claim(bigger)
    assert verdict.verdict == "does-not-hold"
    assert verdict.holds_with == ()


def test_verdict_follows_the_arithmetic_not_the_file() -> None:
    claim = CLAIMS["seed001-70b-fp4-one-96gb"]
    smaller_card = replace(claim, check=replace(claim.check, device_memory_gb=24))
    assert check_claim(smaller_card).verdict == "does-not-hold"
    assert "short" in check_claim(smaller_card).explanation


def test_explanations_give_numbers() -> None:
    text = check_claim(CLAIMS["seed001-70b-fp16-needs-two-h100"]).explanation
    assert "81.6 GB is usable" in text and "the fewest 80 GB GPUs that hold it: 2" in text


# ---------------------------------------------------------------------------------------------
# claims_touched


def _ids(answers: dict[str, object]) -> set[str]:
    return {verdict.claim.id for verdict in claims_touched(answers)}


def test_claims_touched_by_a_70b_lora_consultation() -> None:
    touched = _ids(
        {"workload": "fine-tuning", "model_params_b": 70, "method": "lora", "precision": "bf16"}
    )
    assert touched == {"seed000-96gb-lora-70b"}


def test_claims_touched_match_parameters_within_15_percent() -> None:
    base = {"workload": "fine-tuning", "method": "qlora"}
    assert "seed000-96gb-qlora-70b" in _ids({**base, "model_params_b": 60})
    assert "seed000-96gb-qlora-70b" not in _ids({**base, "model_params_b": 59})
    assert "seed000-96gb-qlora-70b" in _ids({**base, "model_params_b": "80"})
    assert "seed000-96gb-qlora-70b" not in _ids({**base, "model_params_b": 81})


def test_claims_touched_by_inference() -> None:
    touched = _ids({"workload": "inference", "model_params_b": 70, "precision": "fp4"})
    assert "seed001-70b-fp4-one-96gb" in touched
    assert "seed001-70b-fp16-needs-two-h100" not in touched
    assert "seed000-192gb-pair-fits-70b" in touched  # precision not part of that claim
    assert not _ids({"workload": "scientific", "model_params_b": 70})


def test_absent_answers_do_not_narrow() -> None:
    assert _ids({}) == set(CLAIMS)
    assert _ids({"workload": "inference", "model_params_b": None}) == {
        c.id for c in CLAIMS.values() if "inference" in c.applies_to.workloads
    }


def test_claims_touched_rejects_a_non_numeric_size() -> None:
    with pytest.raises(UsageError, match="model_params_b"):
        claims_touched({"model_params_b": "seventy"})


# ---------------------------------------------------------------------------------------------
# File errors

GOOD = """\
claims:
  - id: test-claim
    source: seed-000#vram
    claim: A test claim about a 7B model on a 32 GB card.
    check:
      workload: inference
      params_b: 7
      device_memory_gb: 32
      expect: fits
    applies_to:
      workload: [inference]
      params_b: {min: 7, max: 7}
"""


def _load(tmp_path: Path, text: str) -> list[Claim]:
    path = tmp_path / "claims.yaml"
    path.write_text(text, encoding="utf-8")
    return load_claims(path)


def test_claims_from_another_file(tmp_path: Path) -> None:
    (claim,) = _load(tmp_path, GOOD)
    assert check_claim(claim).verdict == "holds"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            GOOD.replace("seed-000#vram", "vrla-blog"),
            r":3:13: source 'vrla-blog' must be a seed id",
        ),
        (
            GOOD.replace("      params_b: 7\n", ""),
            r":6:7: check: give exactly one of params_b and model",
        ),
        (
            GOOD.replace("params_b: 7\n", "params_b: 7\n      modle: x\n"),
            r"unknown key 'modle' \(did you mean 'model'\?\)",
        ),
        (GOOD.replace("expect: fits", "expect: maybe"), r":9:15: expect: use 'fits'"),
        (
            GOOD.replace("workload: inference", "workload: inferense"),
            r":6:7: check does not describe a valid sizing: workload: unknown workload",
        ),
        (
            GOOD.replace("params_b: 7\n      device", "model: llama-3-7b\n      device"),
            r"model: unknown model 'llama-3-7b'",
        ),
        (GOOD + GOOD[len("claims:\n") :], r"duplicate claim id 'test-claim'"),
        (GOOD.replace("{min: 7, max: 7}", "{min: 9, max: 7}"), r"params_b: min is above max"),
        (
            GOOD.replace("expect: fits", "expect: fits\n      fixed: [colour]"),
            r"fixed: expected a list of field names",
        ),
    ],
)
def test_claim_file_errors_point_at_the_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(FileErrors, match=message):
        _load(tmp_path, text)


def test_docs_table_matches_the_code() -> None:
    """docs/sizing.md pastes the verdicts; they must be what the code computes today."""
    docs = (Path(__file__).resolve().parents[2] / "docs" / "sizing.md").read_text(encoding="utf-8")
    rows = re.findall(
        r"^\| `([a-z0-9-]+)` \| (seed-[^|]+) \|[^|]+\| ([0-9.]+) GB[^|]*\| \*\*([a-z-]+)\*\*",
        docs,
        flags=re.MULTILINE,
    )
    assert {row[0] for row in rows} == set(CLAIMS)
    for claim_id, source, figure, verdict in rows:
        computed = check_claim(CLAIMS[claim_id])
        assert source.strip() == CLAIMS[claim_id].source
        assert verdict == computed.verdict
        assert float(figure) == pytest.approx(computed.computed_gb, abs=0.051)
