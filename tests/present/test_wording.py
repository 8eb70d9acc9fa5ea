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
