"""Numbers and grammar as a person reads them (issue 16): plurals, ranges, money, the audit's
summary and the severity of a large gap."""

from __future__ import annotations

from pathlib import Path

from gpu_advisor.formatting import plural


def test_plural() -> None:
    assert plural(1, "answer") == "1 answer"
    assert plural(12, "answer") == "12 answers"
    assert plural(1_000, "combination") == "1,000 combinations"
    assert plural(2, "seed claim checked", "seed claims checked") == "2 seed claims checked"


def test_question_ranges_and_values_read_as_numbers(engine) -> None:
    from gpu_advisor.tui.session import describe_value
    from gpu_advisor.tui.widgets.question import range_text

    questions = engine.rulebase.questions
    assert range_text(questions["context_tokens"]) == "whole number, 128 .. 1,048,576 tokens"
    assert "1,000,000,000" in range_text(questions["budget_usd"])
    assert "e+" not in describe_value(questions["budget_usd"], 1e9)
    assert describe_value(questions["budget_usd"], 1e9) == "$1,000,000,000"


def test_a_large_gap_is_a_warning_and_the_summary_counts_right(tmp_path: Path) -> None:
    from gpu_advisor.audit.logic import GAP_WARNING_SHARE
    from gpu_advisor.audit.render import to_text
    from tests.audit.test_audit import audit, one

    report = audit(tmp_path, "gap")
    gap = one(report, "no-recommendation")
    share = gap.details["combinations"] / gap.details["of"]
    assert gap.severity == ("warning" if share >= GAP_WARNING_SHARE else "info")
    text = to_text(report)
    assert " 1 answers" not in text and "1 seed claim " not in text.replace(
        "1 seed claim checked", ""
    )
    assert report.exit_code in (0, 1)  # warnings never fail the audit; only errors do


def test_plain_numbers_never_use_an_exponent() -> None:
    from gpu_advisor.formatting import answer_number, plain_number, significant

    # 2**20 = 1,048,576 (the longest context); 1e9 and 1e-6 written out in full.
    assert plain_number(2**20) == "1,048,576"
    assert plain_number(1e9) == "1,000,000,000"
    assert plain_number(1e-6) == "0.000001"
    assert plain_number(0.1) == "0.1"
    # Three significant digits: 444.44 -> 444, 66.56 -> 66.6, 0.012345 -> 0.0123, 1234.5 -> 1,230.
    assert significant(444.44) == "444"
    assert significant(66.56) == "66.6"
    assert significant(0.012345) == "0.0123"
    assert significant(1234.5) == "1,230"
    assert significant(0.97) == "0.970"
    # A month is its digits, not an amount.
    assert answer_number("consultation_month", 202612) == "202612"
    assert answer_number("budget_usd", 202612) == "202,612"


def test_questions_print_ranges_as_plain_numbers(capsys) -> None:
    from gpu_advisor.cli.main import main

    assert main(["questions"]) == 0
    out = capsys.readouterr().out
    assert "e+" not in out and "e-0" not in out
    assert "integer 128..1,048,576 tokens [default 4096]" in out  # 2**20 tokens
    assert "number 100..1,000,000,000 USD" in out
    assert "number 0.000001..1,000,000 B tokens" in out
    assert "integer 200001..210012 [default 202612]" in out  # months, YYYYMM


def test_question_ranges_in_the_questionnaire_have_no_exponent(engine) -> None:
    from gpu_advisor.tui.widgets.question import range_text

    questions = engine.rulebase.questions
    assert range_text(questions["train_tokens_b"]) == "number, 0.000001 .. 1,000,000 B tokens"
    assert range_text(questions["consultation_month"]) == "whole number, 200001 .. 210012"


def test_plan_peak_per_dollar_reads_as_tflops_per_thousand_dollars() -> None:
    from dataclasses import dataclass

    from gpu_advisor.present.plan_tables import per_unit_table

    @dataclass
    class Unit:
        ai_pflops_per_usd: float | None
        ai_pflops_per_kw: float | None
        ai_dense_pflops_per_usd: float | None
        fp32_tflops_per_kw: float | None
        gb_per_usd: float
        gbs_per_w: float

    @dataclass
    class Device:
        name: str
        price_usd: float
        ai_peak: None

    @dataclass
    class Plan:
        device: Device
        per_unit: Unit

    # 4 PFLOP/s sparse for $9,000: 4 / 9,000 = 4.444e-4 PFLOP/s per USD
    # = 4.444e-4 x 1,000 TFLOP/PFLOP x $1,000 = 444.4 -> "444"; dense half: 222.2 -> "222".
    plan = Plan(Device("Card", 9_000, None), Unit(4 / 9_000, 6.67, 2 / 9_000, 200, 0.0107, 2.66))
    table = per_unit_table([plan])  # type: ignore[list-item]
    headers = [h.replace("\n", " ") for h in table.headers]
    row = dict(zip(headers, table.rows[0]))
    assert row["AI peak per $1,000 (TFLOP/s)"] == "444"
    assert row["Dense AI peak per $1,000 (TFLOP/s)"] == "222"
    assert not any("USD" in h for h in headers)


def test_memory_per_gpu_is_read_against_the_usable_memory_not_the_stated(engine) -> None:
    """A card's stated memory is binary GB and the fit test allows 95% of it, in decimal GB: a
    need above the stated figure can fit (180 GB B200: 180 x 2^30/1e9 x 0.95 = 183.6 GB), so
    the report never sets a need against the stated figure as if it were the limit."""
    from gpu_advisor.present.report import to_text

    c = engine.consult(
        {"workload": "inference", "model_params_b": 7, "candidates": "rtx-5090,h100-pcie"}
    )
    text = to_text(c, counterfactuals=False)
    need = c.devices["rtx-5090"]["memory_per_gpu_gb"]
    # 32 x 1.073741824 x 0.95 = 32.64 GB usable on a 32 GB RTX 5090
    assert f"{need:g} of 32.6 GB usable per GPU (32 GB card)" in text
    # 80 x 1.073741824 x 0.95 = 81.60 GB usable on an 80 GB H100 PCIe
    assert f"{need:g} of 81.6 GB usable per GPU (80 GB card)" in text
    assert "GB per GPU of 32" not in text
