"""`plan --device` buys whole systems at a site (issue 12): purchase units with their hosts and
network, the cost by part, and energy from the boxes' system power with host factor 1.

Every expected value is worked out below from the shipped knowledge base's figures:
kb/devices (price_usd, power_w, system_power_w, purchase_unit, purchase_unit_gpus),
kb/systems.yaml (hosts: hgx-8gpu $45,000; 4-GPU workstation $7,000, 450 W platform, 1,600 W for
GPUs; desktop tower $2,500, 250 W platform, 1,200 W for GPUs; networks: 25 GbE $700 a box) and
kb/energy.yaml (engineering: PUE 1.2, efficiency and depth of discharge 0.90; optimistic: all 1;
Powerwall 13.5 kWh, 11.5 kW, $8,200; 8 h).
"""

from __future__ import annotations

import argparse
import json
import math
from decimal import Decimal
from typing import Any

import pytest

from gpu_advisor.arithmetic.plan import device_from_kb, load_energy, plan
from gpu_advisor.cli import plan as plan_command
from gpu_advisor.knowledge.kb_schema import load_knowledge

BATTERY_KWH, BATTERY_KW, BATTERY_USD = 13.5, 11.5, 8_200
LOSS = 0.9 * 0.9  # engineering: discharge efficiency x depth of discharge


def run_plan(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    parser = argparse.ArgumentParser(prog="gpu-advisor")
    plan_command.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["plan", *argv])
    assert args.func(args) == 0
    return capsys.readouterr().out


def rows(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, dict[str, Any]]:
    return {row["device"]: row for row in json.loads(run_plan(capsys, *argv, "--format", "json"))}


# ------------------------------------------------------------------------------------------------
# HGX boards: 8 GPUs a board, one HGX server a board, the vendor's system power
# ------------------------------------------------------------------------------------------------


def test_b200_budget_buys_whole_boards_with_their_servers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # One box: a board of 8 x $45,000 = $360,000 + an hgx-8gpu server $45,000 = $405,000; with
    # more than one box each adds 25 GbE at $700: $405,700 a box.
    # floor(1,000,000 / 405,700) = 2 boxes ($811,400); 3 boxes = $1,217,100 > $1,000,000.
    b200 = rows(capsys, "--device", "b200", "--budget", "1000000", "--site", "datacenter")["b200"]
    assert b200["units"] == 16  # GPUs: 2 boards x 8
    assert b200["site"] == "datacenter"
    purchase = b200["purchase"]
    assert (purchase["unit"], purchase["units"], purchase["gpus_per_unit"]) == ("board", 2, 8)
    assert (purchase["host"], purchase["hosts"], purchase["nodes"]) == ("hgx-8gpu", 2, 2)
    assert purchase["network"] == "ethernet-25g"
    assert b200["cost_breakdown"] == {"gpus": 720_000.0, "hosts": 90_000.0, "network": 1_400.0}
    assert b200["spent_usd"] == 811_400.0 and b200["leftover_usd"] == 188_600.0
    # Energy: 2 x 14,300 W (DGX B200 system power) = 28.6 kW, host factor 1.
    assert purchase["total_power_kw"] == 28.6 and purchase["node_power_kw"] == 14.3
    engineering = b200["scenarios"]["engineering"]
    assert engineering["host_factor"] == 1.0
    assert engineering["it_kw"] == 28.6
    assert engineering["facility_kw"] == pytest.approx(28.6 * 1.2)  # 34.32 kW
    assert engineering["energy_kwh"] == pytest.approx(34.32 * 8)  # 274.56 kWh
    # 274.56 / 0.81 = 338.96 kWh -> ceil(338.96 / 13.5 = 25.1) = 26 batteries; for power
    # ceil(34.32 / 11.5 = 2.98) = 3.
    assert engineering["battery_kwh"] == pytest.approx(274.56 / LOSS)
    assert (engineering["powerwalls"], engineering["powerwalls_for_power"]) == (26, 3)
    assert engineering["cost_breakdown"] == {
        "gpus": 720_000.0,
        "hosts": 90_000.0,
        "network": 1_400.0,
        "batteries": 26 * 8_200.0,  # 213,200
    }
    assert engineering["capex_spent_usd"] == 811_400 + 213_200
    assert engineering["capex_usd"] == 1_000_000 + 213_200
    # Optimistic: 28.6 kW x 8 h = 228.8 kWh, ceil(228.8 / 13.5 = 16.9) = 17.
    assert b200["scenarios"]["optimistic"]["powerwalls"] == 17
    notes = " ".join(b200["notes"])
    assert "2 x 14,300 W" in notes and "host factor 1" in notes


@pytest.mark.parametrize(
    ("budget", "gpus", "network"),
    [
        ("404999.99", 0, None),  # below one board with its server, $405,000
        ("405000", 8, "none"),  # one box exactly: no network between boxes
        # Two boxes are $810,000 without the network, $811,400 with it: one box still.
        ("811399.99", 8, "none"),
        ("811400", 16, "ethernet-25g"),
    ],
)
def test_the_network_is_paid_for_from_the_second_box(
    capsys: pytest.CaptureFixture[str], budget: str, gpus: int, network: str | None
) -> None:
    b200 = rows(capsys, "--device", "b200", "--budget", budget, "--site", "datacenter")["b200"]
    assert b200["units"] == gpus
    if gpus == 0:
        assert b200["purchase"]["units"] == 0 and b200["spent_usd"] == 0.0
        assert b200["leftover_usd"] == float(budget)
        assert b200["scenarios"]["engineering"]["it_kw"] == 0.0
        assert any(
            "below the cheapest whole purchase" in note and "$405,000.00" in note
            for note in b200["notes"]
        )
    else:
        assert b200["purchase"]["network"] == network
        assert b200["spent_usd"] == {8: 405_000.0, 16: 811_400.0}[gpus]


def test_a_price_given_for_the_plan_reaches_the_whole_purchase(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # At $35,000 a GPU a box is 8 x 35,000 + 45,000 + 700 = $325,700:
    # floor(1,000,000 / 325,700) = 3 boxes = 24 GPUs, $977,100.
    b200 = rows(
        capsys,
        "--device",
        "b200",
        "--budget",
        "1e6",
        "--site",
        "datacenter",
        "--price",
        "b200=35000",
    )["b200"]
    assert b200["units"] == 24
    assert b200["cost_breakdown"] == {"gpus": 840_000.0, "hosts": 135_000.0, "network": 2_100.0}
    assert b200["spent_usd"] == 977_100.0


# ------------------------------------------------------------------------------------------------
# PCIe cards: the boxes' power is GPUs + host platform
# ------------------------------------------------------------------------------------------------


def test_cards_go_in_the_cheapest_boxes_and_draw_gpus_plus_platform(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # RTX A6000 ($4,650, 300 W, 2-slot blower workstation card) in a server room: 4 a box in the
    # 4-GPU workstation (8 slot widths / 2; 1,600 W / 300 W = 5 > 4 bays), the 2U 4-GPU server
    # or the 4U 8-GPU server; for 22 cards the boxes cost 6 x 7,000 = 42,000 against
    # 6 x 15,000 = 90,000 and 3 x 25,000 = 75,000: six workstations.
    # 22 cards: 102,300 + 42,000 + 6 x 700 = 148,500 <= 150,000;
    # 23 cards (still 6 boxes): 106,950 + 46,200 = 153,150 > 150,000.
    a6000 = rows(capsys, "--device", "rtx-a6000", "--budget", "150000")["rtx-a6000"]
    assert a6000["site"] == "server-room"  # the default
    assert a6000["units"] == 22
    assert (a6000["purchase"]["host"], a6000["purchase"]["hosts"]) == ("workstation-4gpu", 6)
    assert a6000["cost_breakdown"] == {"gpus": 102_300.0, "hosts": 42_000.0, "network": 4_200.0}
    assert a6000["leftover_usd"] == 1_500.0
    # Power: 22 x 300 W + 6 x 450 W platform = 9,300 W; engineering 9.3 x 1.2 = 11.16 kW,
    # x 8 h = 89.28 kWh, / 0.81 = 110.2 kWh -> ceil(110.2 / 13.5 = 8.2) = 9 batteries.
    assert a6000["purchase"]["total_power_kw"] == 9.3
    engineering = a6000["scenarios"]["engineering"]
    assert engineering["host_factor"] == 1.0
    assert engineering["facility_kw"] == pytest.approx(11.16)
    assert engineering["powerwalls"] == math.ceil(89.28 / LOSS / BATTERY_KWH) == 9
    assert any("22 x 300 W GPUs + 6 x 450 W" in note for note in a6000["notes"])


def test_a_desktop_card_is_bought_in_a_tower_at_an_office_and_not_at_a_datacenter(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # RTX 5090 ($1,999, 575 W, 3 slots): a desktop tower holds 2 (6 slot widths / 3; 1,200 W /
    # 575 W = 2). 2 cards: 3,998 + 2,500 = 6,498 <= 10,000; 3 cards need 2 towers and 25 GbE:
    # 5,997 + 5,000 + 1,400 = 12,397 > 10,000.
    office = rows(capsys, "--device", "rtx-5090", "--budget", "10000", "--site", "office")
    card = office["rtx-5090"]
    assert card["units"] == 2 and card["spent_usd"] == 6_498.0
    assert card["purchase"]["host"] == "desktop-tower" and card["purchase"]["network"] == "none"
    # 2 x 575 W + 250 W = 1,400 W.
    assert card["scenarios"]["optimistic"]["it_kw"] == 1.4
    # No host of the catalog takes a desktop card at a datacenter: nothing is bought.
    datacenter = rows(capsys, "--device", "rtx-5090", "--budget", "10000", "--site", "datacenter")
    card = datacenter["rtx-5090"]
    assert card["units"] == 0 and card["purchase"] is None
    assert card["leftover_usd"] == 10_000.0
    assert card["scenarios"]["engineering"]["facility_kw"] == 0.0
    assert any("sites that take it: office, server-room" in note for note in card["notes"])


# ------------------------------------------------------------------------------------------------
# Appliances: their own box, a network from the second one
# ------------------------------------------------------------------------------------------------


def test_appliances_are_their_own_boxes(capsys: pytest.CaptureFixture[str]) -> None:
    # DGX Spark $3,999, 240 W for the whole box. 2 boxes: 2 x (3,999 + 700) = 9,398 <= 10,000;
    # 3 boxes: 14,097 > 10,000.
    spark = rows(capsys, "--device", "dgx-spark", "--budget", "10000", "--site", "office")
    spark_row = spark["dgx-spark"]
    assert spark_row["units"] == 2
    assert spark_row["purchase"]["host"] == "included" and spark_row["purchase"]["hosts"] == 0
    assert spark_row["cost_breakdown"] == {"gpus": 7_998.0, "hosts": 0.0, "network": 1_400.0}
    engineering = spark_row["scenarios"]["engineering"]
    assert engineering["it_kw"] == 0.48 and engineering["host_factor"] == 1.0
    assert engineering["facility_kw"] == pytest.approx(0.48 * 1.2)


# ------------------------------------------------------------------------------------------------
# --host-factor applies to the paper's pathways only; they do not change
# ------------------------------------------------------------------------------------------------


def test_host_factor_applies_only_to_the_paper_pathways(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ("--budget", "1e6", "--device", "b200", "--device", "paper-rtx-a6000")
    both = rows(capsys, *argv, "--scenario", "engineering", "--host-factor", "1.5")
    custom = both["b200"]["scenarios"]["custom"]
    assert custom["host_factor"] == 1.0
    assert custom["facility_kw"] == pytest.approx(28.6 * 1.2)  # 2 boxes x 14.3 kW x PUE
    assert any("--host-factor does not apply to B200" in note for note in both["b200"]["notes"])
    # The paper's A6000: floor(1,000,000 / 4,650) = 215 cards x 300 W = 64.5 kW, x 1.5 x 1.2.
    paper = both["rtx-a6000"]  # the paper's pathway, by its device id
    assert paper["units"] == 215 and "purchase" not in paper
    assert paper["scenarios"]["custom"]["host_factor"] == 1.5
    assert paper["scenarios"]["custom"]["facility_kw"] == pytest.approx(64.5 * 1.5 * 1.2)


def test_the_site_leaves_the_paper_pathways_alone(capsys: pytest.CaptureFixture[str]) -> None:
    plain = run_plan(capsys, "--budget", "150000", "--format", "markdown")
    at_a_datacenter = ("--site", "datacenter")
    assert run_plan(capsys, "--budget", "150000", *at_a_datacenter, "--format", "markdown") == plain
    assert "What is bought whole" not in plain and "Batteries cost" not in plain


def test_without_a_site_kb_devices_are_counted_per_unit() -> None:
    """The TUI's plan view plans without a site: the paper's arithmetic, floor(budget / price),
    as before: floor(1,000,000 / 45,000) = 22 B200."""
    b200 = device_from_kb(load_knowledge(None).devices["b200"])
    (row,) = plan([b200], Decimal(1_000_000), load_energy())
    assert row.units == 22 and row.purchase is None and not row.bought_whole
    assert row.scenario("engineering").host_factor == 1.25


# ------------------------------------------------------------------------------------------------
# The tables and the JSON say the same
# ------------------------------------------------------------------------------------------------


def test_markdown_shows_units_hosts_network_and_the_cost_by_part(
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = run_plan(
        capsys,
        "--device",
        "b200",
        "--budget",
        "1e6",
        "--site",
        "datacenter",
        "--format",
        "markdown",
    )
    assert "bought whole for a datacenter site" in text
    assert "| Device | GPUs | Spent |" in text
    assert (
        "| B200 | 16 | 2 boards of 8 | 2 x HGX 8-GPU server | 25 GbE x 2 | $720,000.00 | "
        "$90,000.00 | $1,400.00 | $811,400.00 |"
    ) in text
    assert "Batteries cost |" in text
    assert "| Engineering (host incl.) |" in text
    # The engineering row ends with CapEx (paper), CapEx (spent) and the batteries' cost.
    assert "| $1,213,200 | $1,024,600 | $213,200 |" in text


def test_cost_parts_add_up(capsys: pytest.CaptureFixture[str]) -> None:
    planned = rows(
        capsys,
        "--budget",
        "250000",
        "--device",
        "rtx-pro-6000-blackwell-server",
        "--device",
        "h100-pcie",
        "--device",
        "dgx-spark",
        "--site",
        "datacenter",
    )
    for row in planned.values():
        assert sum(row["cost_breakdown"].values()) == pytest.approx(row["spent_usd"])
        assert row["spent_usd"] + row["leftover_usd"] == pytest.approx(250_000)
        for scenario in row["scenarios"].values():
            parts = scenario["cost_breakdown"]
            assert sum(parts.values()) == pytest.approx(scenario["capex_spent_usd"])
            assert parts["batteries"] == scenario["powerwalls"] * BATTERY_USD
