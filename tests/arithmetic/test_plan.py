"""The plan arithmetic against the paper's tables (seed-003), its knobs, and its error paths."""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpu_advisor.arithmetic.plan import (
    CUSTOM_SCENARIO,
    DevicePlan,
    EnergyKnobs,
    Peak,
    PlanDevice,
    choose_scenarios,
    count_needed,
    custom_scenario,
    device_from_kb,
    load_energy,
    load_pathways,
    plan,
    plan_device,
    plan_rows,
    shipped_kb_dir,
    units_within_budget,
    with_battery,
)
from gpu_advisor.cli import plan as plan_command
from gpu_advisor.errors import FileErrors, UsageError

BUDGET = 150_000

# ------------------------------------------------------------------------------------------------
# The paper's printed cells (seed-003 tables 3, 4, 6, 7), as printed. Strings keep the printed
# precision: a computed value matches when rounded to as many decimals as the paper printed.
# ------------------------------------------------------------------------------------------------

PRO, SPARK, A6000, A5000 = "rtx-pro-6000-blackwell", "dgx-spark", "rtx-a6000", "rtx-a5000"

# device: units, leftover, AI peak (PFLOP/s, precision, sparse), FP32 TFLOP/s, memory GB, BW TB/s
TABLE_3: dict[str, tuple[int, str, str, str, bool, str | None, str, str]] = {
    PRO: (16, "6000.16", "64.0", "fp4", True, "1920", "1536", "25.552"),
    SPARK: (37, "2037.00", "37.0", "fp4", True, None, "4736", "10.101"),
    A6000: (32, "1200.00", "9.9104", "fp16", True, "1238.4", "1536", "24.576"),
    A5000: (60, "0.00", "13.332", "fp16", True, "1668", "1440", "46.080"),
}

# device: AI peak per USD (PFLOP/s), AI peak per kW, FP32 per kW, GB per USD, GB/s per W
TABLE_4: dict[str, tuple[str, str, str | None, str, str]] = {
    PRO: ("4.44e-4", "6.67", "200", "0.0107", "2.66"),
    SPARK: ("2.50e-4", "4.17", None, "0.0320", "1.14"),
    A6000: ("6.66e-5", "1.03", "129", "0.0103", "2.56"),
    A5000: ("8.89e-5", "0.97", "121", "0.0096", "3.34"),
}

# device -> scenario -> IT kW, facility kW, 8 h energy kWh, battery kWh, Powerwalls
# DGX Spark legacy-room energy: the paper prints 110.85, a typo for 110.82 (see test_paper_typo).
TABLE_6: dict[str, dict[str, tuple[str, str, str, str, int]]] = {
    PRO: {
        "optimistic": ("9.60", "9.60", "76.8", "76.8", 6),
        "engineering": ("9.60", "14.40", "115.2", "142.22", 11),
        "legacy-room": ("9.60", "18.72", "149.76", "184.89", 14),
    },
    SPARK: {
        "optimistic": ("8.88", "8.88", "71.04", "71.04", 6),
        "engineering": ("8.88", "10.66", "85.25", "105.24", 8),
        "legacy-room": ("8.88", "13.85", "110.82", "136.82", 11),
    },
    A6000: {
        "optimistic": ("9.60", "9.60", "76.8", "76.8", 6),
        "engineering": ("9.60", "14.40", "115.2", "142.22", 11),
        "legacy-room": ("9.60", "18.72", "149.76", "184.89", 14),
    },
    A5000: {
        "optimistic": ("13.80", "13.80", "110.4", "110.4", 9),
        "engineering": ("13.80", "20.70", "165.6", "204.44", 16),
        "legacy-room": ("13.80", "26.91", "215.28", "265.78", 20),
    },
}

# device -> scenario -> (Powerwalls, Total CapEx USD)
TABLE_7: dict[str, dict[str, tuple[int, int]]] = {
    PRO: {"optimistic": (6, 199_200), "engineering": (11, 240_200), "legacy-room": (14, 264_800)},
    SPARK: {"optimistic": (6, 199_200), "engineering": (8, 215_600), "legacy-room": (11, 240_200)},
    A6000: {"optimistic": (6, 199_200), "engineering": (11, 240_200), "legacy-room": (14, 264_800)},
    A5000: {"optimistic": (9, 223_800), "engineering": (16, 281_200), "legacy-room": (20, 314_000)},
}


def printed_match(value: float | None, printed: str | None) -> bool:
    """True when `value` rounds to the paper's printed figure at the paper's precision."""
    if printed is None or value is None:
        return printed is None and value is None
    decimals = len(printed.split(".")[1]) if "." in printed else 0
    return round(value, decimals) == pytest.approx(float(printed), abs=1e-12)


def sci3(value: float) -> str:
    mantissa, exponent = f"{value:.2e}".split("e")
    return f"{mantissa}e{int(exponent)}"


# ------------------------------------------------------------------------------------------------
# Helpers: the paper's plan through the public functions, and through the command
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def knobs() -> EnergyKnobs:
    return load_energy()


@pytest.fixture(scope="module")
def paper_plans(knobs: EnergyKnobs) -> dict[str, DevicePlan]:
    return {row.device.id: row for row in plan(load_pathways().devices, BUDGET, knobs)}


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="gpu-advisor")
    subparsers = parser.add_subparsers(dest="command")
    plan_command.register(subparsers)
    return parser.parse_args(["plan", *argv])


def run_plan(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    args = parse(*argv)
    assert args.func(args) == 0
    return capsys.readouterr().out


def json_rows(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, dict[str, Any]]:
    rows = json.loads(run_plan(capsys, *argv, "--format", "json"))
    assert isinstance(rows, list)
    return {row["device"]: row for row in rows}


def usage_error(*argv: str) -> str:
    args = parse(*argv)
    with pytest.raises(UsageError) as caught:
        args.func(args)
    message = str(caught.value)
    assert "\n" not in message, "usage errors print on one line"
    return message


# ------------------------------------------------------------------------------------------------
# Golden tables through the public functions
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("device_id", list(TABLE_3))
def test_table_3_through_api(paper_plans: dict[str, DevicePlan], device_id: str) -> None:
    units, leftover, peak, precision, sparse, fp32, memory, bandwidth = TABLE_3[device_id]
    row = paper_plans[device_id]
    assert row.units == units
    assert row.leftover_usd == Decimal(leftover)
    assert row.units * row.device.price_usd + row.leftover_usd == BUDGET
    assert row.ai_peak is not None
    assert printed_match(row.ai_peak.pflops, peak)
    assert (row.ai_peak.precision, row.ai_peak.sparse) == (precision, sparse)
    assert printed_match(row.fp32_tflops, fp32)
    assert printed_match(row.memory_gb, memory)
    assert printed_match(row.bandwidth_tbs, bandwidth)


@pytest.mark.parametrize("device_id", list(TABLE_4))
def test_table_4_through_api(paper_plans: dict[str, DevicePlan], device_id: str) -> None:
    per_dollar, per_kw, fp32_per_kw, gb_per_dollar, gbs_per_w = TABLE_4[device_id]
    unit = paper_plans[device_id].per_unit
    assert unit.ai_pflops_per_usd is not None
    assert sci3(unit.ai_pflops_per_usd) == per_dollar
    assert printed_match(unit.ai_pflops_per_kw, per_kw)
    assert printed_match(unit.fp32_tflops_per_kw, fp32_per_kw)
    assert printed_match(unit.gb_per_usd, gb_per_dollar)
    assert printed_match(unit.gbs_per_w, gbs_per_w)


@pytest.mark.parametrize("device_id,scenario", [(d, s) for d in TABLE_6 for s in TABLE_6[d]])
def test_tables_6_and_7_through_api(
    paper_plans: dict[str, DevicePlan], device_id: str, scenario: str
) -> None:
    it_kw, facility_kw, energy, battery, powerwalls = TABLE_6[device_id][scenario]
    result = paper_plans[device_id].scenario(scenario)
    assert printed_match(result.it_kw, it_kw)
    assert printed_match(result.facility_kw, facility_kw)
    assert printed_match(result.energy_kwh, energy)
    assert printed_match(result.battery_kwh, battery)
    assert result.powerwalls == powerwalls
    assert (result.powerwalls, result.capex_usd) == TABLE_7[device_id][scenario]


def test_capex_is_whole_budget_plus_batteries_and_spent_is_reported(
    paper_plans: dict[str, DevicePlan],
) -> None:
    row = paper_plans[PRO]
    engineering = row.scenario("engineering")
    assert engineering.capex_usd == Decimal(BUDGET) + 11 * Decimal(8200)
    assert row.spent_usd == Decimal("143999.84")
    assert engineering.capex_spent_usd == Decimal("143999.84") + 11 * Decimal(8200)


def test_spark_host_is_included_so_host_factor_is_one(paper_plans: dict[str, DevicePlan]) -> None:
    spark = paper_plans[SPARK]
    assert spark.device.host_included
    assert all(result.host_factor == 1.0 for result in spark.scenarios)
    assert paper_plans[PRO].scenario("engineering").host_factor == 1.25


def test_paper_typo_spark_legacy_room_energy(paper_plans: dict[str, DevicePlan]) -> None:
    """The paper prints 110.85 kWh, but 8.88 kW x 1.56 x 8 h = 110.82 and 136.82 follows from it."""
    legacy = paper_plans[SPARK].scenario("legacy-room")
    assert round(legacy.energy_kwh, 2) == 110.82
    assert round(legacy.energy_kwh, 2) != 110.85
    assert legacy.energy_kwh == pytest.approx(8.88 * 1.56 * 8) == pytest.approx(110.8224)
    assert round(legacy.battery_kwh, 2) == 136.82  # the paper's own battery figure ...
    assert round(110.85 / (0.9 * 0.9), 2) == 136.85  # ... which the misprint would not give
    errata = load_pathways().errata
    assert [(e.pathway, e.scenario, e.field, e.printed, e.correct) for e in errata] == [
        ("paper-dgx-spark", "legacy-room", "energy_kwh", 110.85, 110.82)
    ]


# ------------------------------------------------------------------------------------------------
# Golden tables through the command's JSON output (the contract)
# ------------------------------------------------------------------------------------------------


@pytest.fixture
def paper_json(capsys: pytest.CaptureFixture[str]) -> dict[str, dict[str, Any]]:
    return json_rows(capsys, "--budget", str(BUDGET))


def test_json_contract_keys(paper_json: dict[str, dict[str, Any]]) -> None:
    assert list(paper_json) == [PRO, SPARK, A6000, A5000]
    for row in paper_json.values():
        for key in (
            "device",
            "units",
            "leftover_usd",
            "ai_peak",
            "fp32_tflops",
            "memory_gb",
            "bandwidth_tbs",
            "scenarios",
            "spent_usd",
            "per_unit",
            "notes",
            "ai_peak_dense",
        ):
            assert key in row
        assert set(row["ai_peak"]) == {"value", "unit", "precision", "sparse"}
        assert list(row["scenarios"]) == ["optimistic", "engineering", "legacy-room"]
        for scenario in row["scenarios"].values():
            for key in (
                "it_kw",
                "facility_kw",
                "energy_kwh",
                "battery_kwh",
                "powerwalls",
                "capex_usd",
                "powerwalls_for_power",
            ):
                assert key in scenario


@pytest.mark.parametrize("device_id", list(TABLE_3))
def test_table_3_through_json(paper_json: dict[str, dict[str, Any]], device_id: str) -> None:
    units, leftover, peak, precision, sparse, fp32, memory, bandwidth = TABLE_3[device_id]
    row = paper_json[device_id]
    assert row["units"] == units
    assert row["leftover_usd"] == float(leftover)
    assert printed_match(row["ai_peak"]["value"], peak)
    assert row["ai_peak"]["unit"] == "PFLOP/s"
    assert (row["ai_peak"]["precision"], row["ai_peak"]["sparse"]) == (precision, sparse)
    assert row["ai_peak_dense"]["value"] == pytest.approx(row["ai_peak"]["value"] / 2)
    assert row["ai_peak_dense"]["sparse"] is False
    assert printed_match(row["fp32_tflops"], fp32)
    assert printed_match(row["memory_gb"], memory)
    assert printed_match(row["bandwidth_tbs"], bandwidth)


@pytest.mark.parametrize("device_id", list(TABLE_4))
def test_table_4_through_json(paper_json: dict[str, dict[str, Any]], device_id: str) -> None:
    per_dollar, per_kw, fp32_per_kw, gb_per_dollar, gbs_per_w = TABLE_4[device_id]
    unit = paper_json[device_id]["per_unit"]
    assert sci3(unit["ai_peak_pflops_per_usd"]) == per_dollar
    assert printed_match(unit["ai_peak_pflops_per_kw"], per_kw)
    assert printed_match(unit["fp32_tflops_per_kw"], fp32_per_kw)
    assert printed_match(unit["gb_per_usd"], gb_per_dollar)
    assert printed_match(unit["gbs_per_w"], gbs_per_w)


@pytest.mark.parametrize("device_id,scenario", [(d, s) for d in TABLE_6 for s in TABLE_6[d]])
def test_tables_6_and_7_through_json(
    paper_json: dict[str, dict[str, Any]], device_id: str, scenario: str
) -> None:
    it_kw, facility_kw, energy, battery, powerwalls = TABLE_6[device_id][scenario]
    result = paper_json[device_id]["scenarios"][scenario]
    assert printed_match(result["it_kw"], it_kw)
    assert printed_match(result["facility_kw"], facility_kw)
    assert printed_match(result["energy_kwh"], energy)
    assert printed_match(result["battery_kwh"], battery)
    assert result["powerwalls"] == powerwalls
    assert (result["powerwalls"], result["capex_usd"]) == TABLE_7[device_id][scenario]


def test_json_notes_record_typo_and_peak_caveat(paper_json: dict[str, dict[str, Any]]) -> None:
    spark_notes = " ".join(paper_json[SPARK]["notes"])
    assert "110.85" in spark_notes and "110.82" in spark_notes
    assert "110.85" not in " ".join(paper_json[PRO]["notes"])
    for row in paper_json.values():
        assert any("not comparable" in note for note in row["notes"])
    assert any("1,792" in note for note in paper_json[PRO]["notes"])


# ------------------------------------------------------------------------------------------------
# Text and markdown output
# ------------------------------------------------------------------------------------------------


def test_text_output_prints_the_papers_cells(capsys: pytest.CaptureFixture[str]) -> None:
    out = run_plan(capsys, "--budget", "150000")
    for cell in (
        "25.552",
        "$6,000.16",
        "$2,037.00",
        "9.9104 FP16 sparse",
        "64.0 FP4 sparse",
        "32.0 FP4 dense",
        # Table 4's peak per dollar, printed as TFLOP/s per $1,000 (issue 16): the paper's
        # PFLOP/s per USD x 1,000 TFLOP/PFLOP x $1,000, three significant digits as printed:
        # 4.44e-4 -> 444, 2.50e-4 -> 250, 6.66e-5 -> 66.6, 8.89e-5 -> 88.9.
        " 444 ",
        " 250 ",
        " 66.6 ",
        " 88.9 ",
        "6.67",
        "0.0107",
        "0.0096",
        "142.22 kWh",
        "110.82 kWh",
        "136.82 kWh",
        "$240,200",
        "$314,000",
        "$143,999.84",
    ):
        assert cell in out, cell
    assert "not comparable" in out
    assert "110.85" in out  # the erratum note
    assert "e-4" not in out and "e-5" not in out and "per USD" not in out


def test_markdown_output_has_tables_and_notes(capsys: pytest.CaptureFixture[str]) -> None:
    out = run_plan(capsys, "--budget", "150000", "--format", "markdown")
    assert "| RTX PRO 6000 Blackwell | 16 | $143,999.84 | $6,000.16 | 64.0 FP4 sparse |" in out
    assert "## Notes" in out
    notes = out.split("## Notes", 1)[1]
    assert "not comparable" in notes
    assert "110.85" in notes and "110.82" in notes
    assert "1,597" not in notes or "1,792" in notes
    assert "Server Edition" in notes


def test_module_import_stays_light() -> None:
    """The CLI imports plan_command at start-up: no rich, pydantic or YAML until `plan` runs."""
    code = (
        "import sys, gpu_advisor; heavy = ('rich', 'pydantic', 'yaml'); "
        "before = {m for m in heavy if m in sys.modules}; import gpu_advisor.cli.plan; "
        "print(sorted(m for m in heavy if m in sys.modules and m not in before))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_main_prints_one_line_and_exits_2_on_bad_input() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gpu_advisor.cli.plan", "--budget", "abc"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "--budget" in result.stderr


def test_register_sets_run_and_help() -> None:
    parser = argparse.ArgumentParser()
    subparsers = parser.add_subparsers()
    plan_command.register(subparsers)
    args = parser.parse_args(["plan", "--budget", "1"])
    assert args.func is plan_command.run
    help_text = subparsers.choices["plan"].format_help()
    for flag in (
        "--budget",
        "--device",
        "--scenario",
        "--hours",
        "--price",
        "--powerwall-usd",
        "--powerwall-kwh",
        "--pue",
        "--host-factor",
        "--efficiency",
        "--dod",
        "--format",
        "--kb",
    ):
        assert flag in help_text


# ------------------------------------------------------------------------------------------------
# Knobs
# ------------------------------------------------------------------------------------------------


def test_double_hours_doubles_energy(capsys: pytest.CaptureFixture[str]) -> None:
    base = json_rows(capsys, "--budget", "150000")
    double = json_rows(capsys, "--budget", "150000", "--hours", "16")
    for device_id, row in base.items():
        for name, result in row["scenarios"].items():
            other = double[device_id]["scenarios"][name]
            assert other["energy_kwh"] == pytest.approx(2 * result["energy_kwh"])
            assert other["battery_kwh"] == pytest.approx(2 * result["battery_kwh"])
            assert other["it_kw"] == result["it_kw"]
            assert other["powerwalls"] >= result["powerwalls"]
    assert double[PRO]["scenarios"]["engineering"]["powerwalls"] == math.ceil(
        2 * 115.2 / 0.81 / 13.5
    )


def test_powerwall_kwh_changes_battery_count(capsys: pytest.CaptureFixture[str]) -> None:
    rows = json_rows(capsys, "--budget", "150000", "--powerwall-kwh", "27")
    engineering = rows[PRO]["scenarios"]["engineering"]
    assert engineering["battery_kwh"] == pytest.approx(142.2222222)
    assert engineering["powerwalls"] == 6  # ceil(142.22 / 27)
    assert engineering["capex_usd"] == BUDGET + 6 * 8200


def test_powerwall_usd_changes_capex(capsys: pytest.CaptureFixture[str]) -> None:
    rows = json_rows(capsys, "--budget", "150000", "--powerwall-usd", "10000")
    assert rows[A5000]["scenarios"]["legacy-room"]["capex_usd"] == BUDGET + 20 * 10_000


@pytest.mark.parametrize("price_id", ["rtx-a6000", "paper-rtx-a6000"])
def test_price_override_by_device_or_pathway_id(
    capsys: pytest.CaptureFixture[str], price_id: str
) -> None:
    rows = json_rows(capsys, "--budget", "150000", "--price", f"{price_id}=4000")
    assert rows[A6000]["units"] == 37
    assert rows[A6000]["leftover_usd"] == 2000.0
    assert rows[A6000]["scenarios"]["optimistic"]["it_kw"] == pytest.approx(11.1)
    assert rows[PRO]["units"] == 16  # the others keep the paper's prices


def test_pue_override_adds_custom_scenario_and_keeps_papers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows = json_rows(capsys, "--budget", "150000", "--pue", "1.4")
    scenarios = rows[PRO]["scenarios"]
    assert list(scenarios) == ["optimistic", "engineering", "legacy-room", CUSTOM_SCENARIO]
    assert scenarios["engineering"]["facility_kw"] == pytest.approx(14.4)  # the paper's, unchanged
    custom = scenarios[CUSTOM_SCENARIO]
    assert (custom["pue"], custom["host_factor"], custom["efficiency"], custom["dod"]) == (
        1.4,
        1.25,
        0.9,
        0.9,
    )
    assert custom["facility_kw"] == pytest.approx(9.6 * 1.25 * 1.4)
    assert rows[SPARK]["scenarios"][CUSTOM_SCENARIO]["facility_kw"] == pytest.approx(8.88 * 1.4)


def test_single_scenario_with_overrides_bases_custom_on_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows = json_rows(
        capsys,
        "--budget",
        "150000",
        "--scenario",
        "legacy-room",
        "--dod",
        "0.5",
        "--efficiency",
        "0.8",
    )
    scenarios = rows[A5000]["scenarios"]
    assert list(scenarios) == ["legacy-room", CUSTOM_SCENARIO]
    custom = scenarios[CUSTOM_SCENARIO]
    assert custom["pue"] == 1.56 and custom["host_factor"] == 1.25
    assert custom["battery_kwh"] == pytest.approx(215.28 / (0.8 * 0.5))
    assert custom["powerwalls"] == math.ceil(215.28 / 0.4 / 13.5)


def test_host_factor_override_spares_host_included_devices(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows = json_rows(capsys, "--budget", "150000", "--host-factor", "1.5")
    assert rows[PRO]["scenarios"][CUSTOM_SCENARIO]["facility_kw"] == pytest.approx(9.6 * 1.5 * 1.2)
    spark = rows[SPARK]["scenarios"][CUSTOM_SCENARIO]
    assert spark["host_factor"] == 1.0
    assert spark["facility_kw"] == pytest.approx(8.88 * 1.2)
    assert any("--host-factor does not apply to DGX Spark" in n for n in rows[SPARK]["notes"])


def test_scenario_selection(capsys: pytest.CaptureFixture[str]) -> None:
    rows = json_rows(capsys, "--budget", "150000", "--scenario", "engineering")
    assert all(list(row["scenarios"]) == ["engineering"] for row in rows.values())
    # The erratum concerns legacy-room only, so it is not reported here.
    assert not any("110.85" in note for note in rows[SPARK]["notes"])


def test_short_run_is_power_limited(capsys: pytest.CaptureFixture[str]) -> None:
    """Half an hour: few batteries hold the energy, but not enough of them to deliver 14.4 kW."""
    rows = json_rows(capsys, "--budget", "150000", "--hours", "0.5", "--scenario", "engineering")
    result = rows[PRO]["scenarios"]["engineering"]
    assert result["powerwalls"] == 1  # 7.2 kWh / 0.81 = 8.9 kWh
    assert result["powerwalls_for_power"] == 2  # 14.4 kW / 11.5 kW
    assert result["power_limited"] is True
    assert any("needed for power" in note for note in rows[PRO]["notes"])


def test_powerwall_kw_changes_power_count(capsys: pytest.CaptureFixture[str]) -> None:
    rows = json_rows(capsys, "--budget", "150000", "--powerwall-kw", "5")
    assert rows[A5000]["scenarios"]["legacy-room"]["powerwalls_for_power"] == 6  # 26.91 / 5


def test_budget_accepts_dollar_sign_and_separators(capsys: pytest.CaptureFixture[str]) -> None:
    rows = json_rows(capsys, "--budget", "$150,000", "--scenario", "optimistic")
    assert rows[PRO]["units"] == 16 and rows[PRO]["leftover_usd"] == 6000.16


def test_power_limited_rows_are_marked_in_text(capsys: pytest.CaptureFixture[str]) -> None:
    out = run_plan(capsys, "--budget", "150000", "--hours", "0.5", "--scenario", "engineering")
    assert "2 (!)" in out and "(!) marks scenarios" in out
    assert "(!)" not in run_plan(capsys, "--budget", "150000")


def test_budget_too_small_gives_zero_units_and_a_note(capsys: pytest.CaptureFixture[str]) -> None:
    rows = json_rows(capsys, "--budget", "3000")
    pro = rows[PRO]
    assert pro["units"] == 0 and pro["leftover_usd"] == 3000.0 and pro["spent_usd"] == 0.0
    assert pro["ai_peak"]["value"] == 0
    assert pro["scenarios"]["engineering"]["powerwalls"] == 0
    assert pro["scenarios"]["engineering"]["capex_usd"] == 3000.0
    assert any("no unit fits" in note for note in pro["notes"])
    assert rows[A5000]["units"] == 1


def test_device_may_name_a_pathway(capsys: pytest.CaptureFixture[str]) -> None:
    rows = json_rows(
        capsys, "--budget", "150000", "--device", "paper-rtx-a5000", "--device", "paper-rtx-a5000"
    )
    assert list(rows) == [A5000]
    assert rows[A5000]["units"] == 60


# ------------------------------------------------------------------------------------------------
# --device with knowledge-base devices (a fake knowledge base: the adapter's interface only)
# ------------------------------------------------------------------------------------------------


class FakeThroughput:
    def __init__(self, tflops: float, precision: str, sparse: bool, derived: bool = False) -> None:
        self.tflops, self.precision, self.sparse = tflops, precision, sparse
        self.derived, self.source = derived, "fake"


class FakeDevice:
    def __init__(
        self, device_id: str, facts: dict[str, Any], figures: dict[tuple[str, bool], float]
    ) -> None:
        self.id, self.name, self.short_name = device_id, f"NVIDIA {device_id}", device_id
        self.facts, self.figures = facts, figures

    def value(self, name: str) -> Any:
        return self.facts.get(name)

    def throughput(self, precision: str, sparse: bool) -> FakeThroughput | None:
        if (precision, sparse) in self.figures:
            return FakeThroughput(self.figures[(precision, sparse)], precision, sparse)
        return None

    def ai_peak(self) -> FakeThroughput | None:
        for precision in ("fp4", "fp8", "fp16"):
            for sparse in (True, False):
                if (precision, sparse) in self.figures:
                    return self.throughput(precision, sparse)
        return None


class FakeKnowledge:
    def __init__(self, devices: list[FakeDevice]) -> None:
        self.devices = {d.id: d for d in devices}


FAKE_5090 = FakeDevice(
    "rtx-5090",
    {
        "price_usd": 1999,
        "power_w": 575,
        "memory_gb": 32,
        "bandwidth_gbs": 1792,
        "setting": "desktop",
        "memory_type": "GDDR7",
        "unified_memory": False,
    },
    {("fp4", True): 3352.0, ("fp32", False): 104.8},
)
FAKE_SPARK = FakeDevice(
    "dgx-spark",
    {
        "price_usd": 3999,
        "power_w": 240,
        "memory_gb": 128,
        "bandwidth_gbs": 273,
        "setting": "appliance",
        "memory_type": "LPDDR5X",
        "unified_memory": True,
    },
    {("fp4", True): 1000.0},
)
FAKE_UNPRICED = FakeDevice(
    "mystery-gpu",
    {"power_w": 300, "memory_gb": 48, "bandwidth_gbs": 900, "setting": "server"},
    {("fp8", True): 1000.0},
)


@pytest.fixture
def fake_kb(monkeypatch: pytest.MonkeyPatch) -> None:
    import gpu_advisor.knowledge.kb_schema as knowledge

    monkeypatch.setattr(
        knowledge,
        "load_knowledge",
        lambda directory=None: FakeKnowledge([FAKE_5090, FAKE_SPARK, FAKE_UNPRICED]),
    )


def test_device_from_kb_uses_preferred_values() -> None:
    device = device_from_kb(FAKE_5090)
    assert (device.price_usd, device.power_w, device.memory_gb, device.bandwidth_gbs) == (
        Decimal("1999"),
        575.0,
        32.0,
        1792.0,
    )
    assert device.ai_peak == Peak(3352.0, "fp4", True, "fake")
    assert device.fp32_tflops == 104.8 and not device.host_included
    spark = device_from_kb(FAKE_SPARK)
    assert spark.host_included and spark.fp32_tflops is None
    assert spark.memory_type == "unified LPDDR5X"


def test_device_mode_plans_kb_devices(capsys: pytest.CaptureFixture[str], fake_kb: None) -> None:
    rows = json_rows(capsys, "--budget", "10000", "--device", "rtx-5090", "--device", "dgx-spark")
    assert list(rows) == ["rtx-5090", "dgx-spark"]
    assert rows["rtx-5090"]["units"] == 5 and rows["rtx-5090"]["leftover_usd"] == 5.0
    assert rows["rtx-5090"]["ai_peak"] == {
        "value": 16.76,
        "unit": "PFLOP/s",
        "precision": "fp4",
        "sparse": True,
    }
    assert rows["dgx-spark"]["scenarios"]["engineering"]["host_factor"] == 1.0
    assert rows["rtx-5090"]["pathway"] is None


def test_device_mode_price_override_supplies_missing_price(
    capsys: pytest.CaptureFixture[str], fake_kb: None
) -> None:
    message = usage_error("--budget", "10000", "--device", "mystery-gpu")
    assert "--price mystery-gpu=USD" in message
    rows = json_rows(
        capsys, "--budget", "10000", "--device", "mystery-gpu", "--price", "mystery-gpu=2500"
    )
    assert rows["mystery-gpu"]["units"] == 4


def test_unknown_device_suggests(fake_kb: None) -> None:
    message = usage_error("--budget", "10000", "--device", "rtx-509")
    assert message.startswith("--device") and "did you mean 'rtx-5090'" in message


# ------------------------------------------------------------------------------------------------
# Bad input: one clear line naming the flag
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv,flag",
    [
        ((), "--budget"),
        (("--budget", "0"), "--budget"),
        (("--budget", "-5"), "--budget"),
        (("--budget", "abc"), "--budget"),
        (("--budget", "nan"), "--budget"),
        (("--budget", "inf"), "--budget"),
        (("--budget", "1e5", "--price", "rtx-a6000=0"), "--price"),
        (("--budget", "1e5", "--price", "rtx-a6000=-3"), "--price"),
        (("--budget", "1e5", "--price", "rtx-a6000=cheap"), "--price"),
        (("--budget", "1e5", "--price", "rtx-a6000"), "--price"),
        (("--budget", "1e5", "--price", "=4000"), "--price"),
        (("--budget", "1e5", "--price", "rtx-a6000="), "--price"),
        (("--budget", "1e5", "--price", "rtx-a6000=1", "--price", "rtx-a6000=2"), "--price"),
        (("--budget", "1e5", "--efficiency", "0"), "--efficiency"),
        (("--budget", "1e5", "--efficiency", "1.2"), "--efficiency"),
        (("--budget", "1e5", "--efficiency", "x"), "--efficiency"),
        (("--budget", "1e5", "--dod", "0"), "--dod"),
        (("--budget", "1e5", "--dod", "1.01"), "--dod"),
        (("--budget", "1e5", "--dod", "-0.5"), "--dod"),
        (("--budget", "1e5", "--pue", "0.99"), "--pue"),
        (("--budget", "1e5", "--pue", "fast"), "--pue"),
        (("--budget", "1e5", "--host-factor", "0.5"), "--host-factor"),
        (("--budget", "1e5", "--hours", "0"), "--hours"),
        (("--budget", "1e5", "--hours", "-8"), "--hours"),
        (("--budget", "1e5", "--powerwall-kwh", "0"), "--powerwall-kwh"),
        (("--budget", "1e5", "--powerwall-kw", "-1"), "--powerwall-kw"),
        (("--budget", "1e5", "--powerwall-usd", "-1"), "--powerwall-usd"),
        (("--budget", "1e5", "--powerwall-usd", "lots"), "--powerwall-usd"),
        (("--budget", "1e5", "--scenario", "legacy"), "--scenario"),
        (("--budget", "1e5", "--format", "yaml"), "--format"),
        (("--budget", "1e5", "--kb", "/nonexistent/kb"), "--kb"),
        (("--budget", "1e5", "--site", "dc"), "--site"),
        (("--budget", "1e5", "--device", "b200", "--site", "garage"), "--site"),
    ],
)
def test_bad_input_names_the_flag(argv: tuple[str, ...], flag: str) -> None:
    assert usage_error(*argv).startswith(flag)


def test_unknown_price_id_and_scenario_suggest() -> None:
    assert "did you mean 'rtx-a6000'" in usage_error("--budget", "1e5", "--price", "rtx-a600=1")
    assert "did you mean 'legacy-room'" in usage_error("--budget", "1e5", "--scenario", "legacy")


def test_public_functions_reject_bad_values(knobs: EnergyKnobs) -> None:
    """They name the field that was wrong (the command line maps it to its flag)."""
    with pytest.raises(UsageError, match="budget must be greater than 0") as caught:
        units_within_budget(0, 10)
    assert caught.value.field == "budget"
    with pytest.raises(UsageError, match="unit price must be greater than 0") as caught:
        units_within_budget(10, -1)
    assert caught.value.field == "price"
    with pytest.raises(UsageError, match="PUE must be at least 1") as caught:
        custom_scenario(knobs.scenario("engineering"), pue=0.5)
    assert caught.value.field == "pue"
    with pytest.raises(UsageError, match="depth of discharge") as caught:
        custom_scenario(knobs.scenario("engineering"), dod=0)
    assert caught.value.field == "dod"
    with pytest.raises(UsageError, match="run length") as caught:
        with_battery(knobs, hours=-1)
    assert caught.value.field == "hours"


# ------------------------------------------------------------------------------------------------
# Properties
# ------------------------------------------------------------------------------------------------

cents = st.integers(min_value=1, max_value=10**11).map(lambda c: Decimal(c) / 100)


@given(budget=cents, price=cents)
def test_units_times_price_plus_leftover_is_budget(budget: Decimal, price: Decimal) -> None:
    units, leftover = units_within_budget(budget, price)
    assert units * price + leftover == budget
    assert Decimal(0) <= leftover < price
    assert units >= 0


def _device(price: str = "1000", power_w: float = 450.0) -> PlanDevice:
    return PlanDevice(
        "test-gpu", "Test GPU", Decimal(price), power_w, Peak(500.0, "fp8", True), 50.0, 48.0, 900.0
    )


@settings(max_examples=60)
@given(h1=st.floats(0.1, 200), h2=st.floats(0.1, 200), units_budget=st.integers(1, 300))
def test_batteries_monotonic_in_hours(h1: float, h2: float, units_budget: int) -> None:
    knobs = load_energy()
    low, high = sorted((h1, h2))
    a = plan_device(_device(), units_budget * 1000, with_battery(knobs, hours=low))
    b = plan_device(_device(), units_budget * 1000, with_battery(knobs, hours=high))
    for ra, rb in zip(a.scenarios, b.scenarios, strict=True):
        assert ra.battery_kwh <= rb.battery_kwh
        assert ra.powerwalls <= rb.powerwalls
        assert rb.energy_kwh == pytest.approx(ra.energy_kwh * high / low)


@settings(max_examples=60)
@given(p1=st.floats(1.0, 3.0), p2=st.floats(1.0, 3.0), units_budget=st.integers(1, 300))
def test_batteries_monotonic_in_pue(p1: float, p2: float, units_budget: int) -> None:
    knobs = load_energy()
    low, high = sorted((p1, p2))
    base = knobs.scenario("engineering")
    a = plan_device(_device(), units_budget * 1000, knobs, [custom_scenario(base, pue=low)])
    b = plan_device(_device(), units_budget * 1000, knobs, [custom_scenario(base, pue=high)])
    assert a.scenarios[0].powerwalls <= b.scenarios[0].powerwalls
    assert a.scenarios[0].capex_usd <= b.scenarios[0].capex_usd


@given(st.integers(1, 10_000), st.floats(0.5, 100.0))
def test_count_needed_is_exact_on_whole_multiples(count: int, per_unit: float) -> None:
    assert count_needed(count * per_unit, per_unit) == count


# ------------------------------------------------------------------------------------------------
# The YAML files
# ------------------------------------------------------------------------------------------------


def test_choose_scenarios_defaults(knobs: EnergyKnobs) -> None:
    assert [s.id for s in choose_scenarios(knobs)] == ["optimistic", "engineering", "legacy-room"]
    custom = choose_scenarios(knobs, "all", pue=1.3)[-1]
    assert custom.id == CUSTOM_SCENARIO and custom.host_factor == 1.25 and custom.pue == 1.3


def test_energy_file_values(knobs: EnergyKnobs) -> None:
    assert knobs.hours == 8
    assert (knobs.battery.energy_kwh, knobs.battery.continuous_kw, knobs.battery.price_usd) == (
        13.5,
        11.5,
        Decimal("8200"),
    )
    values = {s.id: (s.host_factor, s.pue, s.efficiency, s.dod) for s in knobs.scenarios}
    assert values == {
        "optimistic": (1, 1, 1, 1),
        "engineering": (1.25, 1.2, 0.9, 0.9),
        "legacy-room": (1.25, 1.56, 0.9, 0.9),
    }


def test_pathways_cite_the_paper() -> None:
    pathways = load_pathways()
    assert [d.pathway for d in pathways.devices] == [
        "paper-rtx-pro-6000",
        "paper-dgx-spark",
        "paper-rtx-a6000",
        "paper-rtx-a5000",
    ]
    pro = pathways.devices[0]
    assert pro.bandwidth_gbs == 1597 and pro.price_usd == Decimal("8999.99")
    assert any("1,792" in note for note in pro.notes)
    assert [d.host_included for d in pathways.devices] == [False, True, False, False]


def _kb_copy(tmp_path: Path, name: str, text: str) -> Path:
    (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def test_bad_energy_file_points_at_the_line(tmp_path: Path) -> None:
    text = (shipped_kb_dir() / "energy.yaml").read_text(encoding="utf-8")
    text = text.replace("pue: 1.56", "pue: 0.56")
    kb = _kb_copy(tmp_path, "energy.yaml", text)
    with pytest.raises(FileErrors) as caught:
        load_energy(kb)
    line = text.splitlines().index("    pue: 0.56") + 1
    assert f"energy.yaml:{line}:" in str(caught.value)
    assert "greater than or equal to 1" in str(caught.value)


def test_unknown_source_and_duplicate_scenario_are_reported(tmp_path: Path) -> None:
    text = (shipped_kb_dir() / "energy.yaml").read_text(encoding="utf-8")
    text = text.replace("id: legacy-room", "id: engineering").replace(
        'source: tesla-powerwall-3\n    note: "Nominal', 'source: tesla-pw3\n    note: "Nominal'
    )
    with pytest.raises(FileErrors) as caught:
        load_energy(_kb_copy(tmp_path, "energy.yaml", text))
    message = str(caught.value)
    assert "duplicate id 'engineering'" in message
    assert "unknown source 'tesla-pw3'" in message and "did you mean" in message


def test_kb_dir_without_plan_files_falls_back_to_shipped(tmp_path: Path) -> None:
    assert load_energy(tmp_path).hours == 8
    assert len(load_pathways(tmp_path).devices) == 4


def test_plan_rows_without_errata_still_carry_caveats(knobs: EnergyKnobs) -> None:
    rows = plan_rows(plan(load_pathways().devices, BUDGET, knobs))
    assert all(any("not comparable" in n for n in row["notes"]) for row in rows)
    assert not any("110.85" in n for row in rows for n in row["notes"])


# ------------------------------------------------------------------------------------------------
# The real knowledge base: every place the paper departs from a device's preferred value has a note
# ------------------------------------------------------------------------------------------------


def _real_kb() -> Any:
    from gpu_advisor.knowledge.kb_schema import load_knowledge

    return load_knowledge(None)


def test_pathway_notes_cover_every_departure_from_the_kb() -> None:
    kb = _real_kb()
    for pathway in load_pathways().devices:
        device = kb.devices[pathway.id]
        preferred = device_from_kb(device)
        noted = " ".join(pathway.notes).lower()
        differences = {
            "price": preferred.price_usd != pathway.price_usd,
            "power": preferred.power_w != pathway.power_w,
            "memory": preferred.memory_gb != pathway.memory_gb,
            "bandwidth": preferred.bandwidth_gbs != pathway.bandwidth_gbs,
            "fp32": preferred.fp32_tflops != pathway.fp32_tflops,
            "ai peak": preferred.ai_peak is None
            or pathway.ai_peak is None
            or (preferred.ai_peak.tflops, preferred.ai_peak.precision, preferred.ai_peak.sparse)
            != (pathway.ai_peak.tflops, pathway.ai_peak.precision, pathway.ai_peak.sparse),
        }
        for field_name, differs in differences.items():
            if differs:
                assert f"{field_name} (" in noted, f"{pathway.pathway}: {field_name} lacks a note"


def test_device_mode_with_the_real_kb(capsys: pytest.CaptureFixture[str]) -> None:
    _real_kb()
    rows = json_rows(
        capsys, "--budget", "150000", "--device", "rtx-pro-6000-blackwell", "--device", "dgx-spark"
    )
    pro = rows[PRO]
    # Bought whole at the default site, a server room (issue 12): the one host there for a 600 W
    # flow-through workstation card is the 4-GPU workstation ($7,000), whose 1,600 W GPU budget
    # holds 2 of them; more than one box adds 25 GbE at $700 a box. 11 cards = 6 boxes:
    # 11 x 8,999.99 + 6 x 7,000 + 6 x 700 = 98,999.89 + 42,000 + 4,200 = 145,199.89 <= 150,000;
    # 12 cards (still 6 boxes) = 107,999.88 + 46,200 = 154,199.88 > 150,000.
    assert pro["units"] == 11
    assert pro["spent_usd"] == 145_199.89
    assert pro["bandwidth_tbs"] == pytest.approx(11 * 1.792)  # the Workstation Edition's own
    assert pro["fp32_tflops"] == pytest.approx(11 * 125)
    assert rows[SPARK]["host_included"] is True
    assert any("price (seed-003#table-2, 2025-12)" in note for note in pro["notes"])
