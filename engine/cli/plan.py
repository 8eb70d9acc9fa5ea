"""`gpu-advisor plan`: what a budget buys, and the batteries and CapEx to run it off-grid.

Only argparse (and the small error-wording module) is imported at module level: the CLI registers
every subcommand at start-up, so the arithmetic, the YAML loaders, pydantic and rich are imported
when `plan` actually runs. Reading the inputs and drawing the tables live in the present layer
(present.plan_request, present.plan_tables), shared with the TUI's plan view.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gpu_advisor.present.errors import fields_named

if TYPE_CHECKING:
    from gpu_advisor.present.plan_request import PlanRequest

_DESCRIPTION = """\
How many units of each device a budget buys, their aggregate and per-unit figures, and the
batteries and CapEx needed to run them off-grid under facility scenarios. Without --device it
plans the four pathways of the procurement paper (seed-003) with the paper's own figures, so
`--budget 150000` reproduces its tables 3, 4, 6 and 7; --device plans knowledge-base devices
with their preferred figures instead, bought whole at the --site: purchase units (a card, an
8-GPU board, an appliance) with the hosts that hold them and, for several boxes, the network
between them, with the boxes' system power as the load (host factor 1).

Scenario overrides (--pue, --host-factor, --efficiency, --dod) never edit the paper's named
scenarios: they add one scenario, 'custom', built from the chosen --scenario (from
'engineering' when all are shown) with the given values replaced. --host-factor applies to the
paper's pathways only: a device bought whole is planned on its boxes' own power."""


def register(subparsers: Any) -> None:
    """Add the `plan` subcommand to an argparse subparsers object."""
    parser = subparsers.add_parser(
        "plan",
        help="units, energy, batteries and CapEx for a budget",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--budget",
        metavar="USD",
        required=False,
        help="procurement budget in US dollars (required), e.g. 150000",
    )
    parser.add_argument(
        "--device",
        metavar="ID",
        action="append",
        default=None,
        help="plan this knowledge-base device (or paper pathway id) instead of "
        "the paper's four pathways; repeatable",
    )
    parser.add_argument(
        "--site",
        metavar="SITE",
        default="server-room",
        help="where knowledge-base devices are bought whole for: office, server-room or "
        "datacenter (default: server-room); it decides the hosts that take them",
    )
    parser.add_argument(
        "--scenario",
        metavar="NAME",
        default="all",
        help="facility scenario: optimistic, engineering, legacy-room or all (default: all)",
    )
    parser.add_argument(
        "--hours",
        metavar="H",
        help="length of the off-grid run in hours (default: 8, kb/energy.yaml)",
    )
    parser.add_argument(
        "--price",
        metavar="ID=USD",
        action="append",
        default=None,
        help="override one device's unit price (device or pathway id); repeatable",
    )
    parser.add_argument(
        "--powerwall-usd", metavar="N", help="installed price of one battery unit (default: 8200)"
    )
    parser.add_argument(
        "--powerwall-kwh",
        metavar="N",
        help="nominal energy of one battery unit in kWh (default: 13.5)",
    )
    parser.add_argument(
        "--powerwall-kw",
        metavar="N",
        help="continuous power of one battery unit in kW (default: 11.5)",
    )
    parser.add_argument(
        "--pue", metavar="X", help="power usage effectiveness, >= 1 (adds a 'custom' scenario)"
    )
    parser.add_argument(
        "--host-factor",
        metavar="X",
        help="multiplier for CPU/RAM/storage/network power, >= 1, for the paper's pathways; "
        "devices bought whole (their boxes' system power) and appliances keep 1 (adds a "
        "'custom' scenario)",
    )
    parser.add_argument(
        "--efficiency",
        metavar="X",
        help="battery discharge-path efficiency in (0, 1] (adds a 'custom' scenario)",
    )
    parser.add_argument(
        "--dod", metavar="X", help="planned depth of discharge in (0, 1] (adds a 'custom' scenario)"
    )
    parser.add_argument(
        "--format",
        default="text",
        metavar="FORMAT",
        help="output format: text, json or markdown (default: text)",
    )
    parser.add_argument(
        "--kb",
        metavar="DIR",
        help="knowledge-base folder; energy.yaml and pathways.yaml missing from it "
        "come from the shipped knowledge base",
    )
    parser.set_defaults(func=run)


FLAGS: dict[str, str] = {
    "budget": "--budget",
    "device": "--device",
    "site": "--site",
    "scenario": "--scenario",
    "hours": "--hours",
    "price": "--price",
    "powerwall_usd": "--powerwall-usd",
    "powerwall_kwh": "--powerwall-kwh",
    "powerwall_kw": "--powerwall-kw",
    "pue": "--pue",
    "host_factor": "--host-factor",
    "efficiency": "--efficiency",
    "dod": "--dod",
    "format": "--format",
    "kb": "--kb",
}
"""Each field of a plan (see present.plan_request) -> its flag, for the error messages."""


def read_request(args: argparse.Namespace) -> PlanRequest:
    """The command line as a plan request; bad input raises UsageError naming the flag."""
    from gpu_advisor.errors import UsageError, did_you_mean, one_of
    from gpu_advisor.present.plan_request import PlanInputs
    from gpu_advisor.present.plan_request import read_request as read_inputs
    from gpu_advisor.present.plan_tables import FORMATS

    if args.format not in FORMATS:
        raise UsageError(
            f"unknown format {args.format!r}"
            f"{did_you_mean(args.format, FORMATS)}; {one_of(FORMATS)}",
            field="format",
        )
    if args.budget is None:
        raise UsageError(
            "required (the procurement budget in USD, e.g. --budget 150000)", field="budget"
        )
    inputs = PlanInputs(
        budget=args.budget,
        devices=tuple(args.device or ()),
        scenario=args.scenario,
        hours=args.hours,
        prices=tuple(args.price or ()),
        powerwall_usd=args.powerwall_usd,
        powerwall_kwh=args.powerwall_kwh,
        powerwall_kw=args.powerwall_kw,
        pue=args.pue,
        host_factor=args.host_factor,
        efficiency=args.efficiency,
        dod=args.dod,
        kb=args.kb,
        site=args.site,
    )
    return read_inputs(inputs, FLAGS)


@fields_named(FLAGS)
def run(args: argparse.Namespace) -> int:
    """Compute the plan and print it in the chosen format."""
    from gpu_advisor.present.plan_tables import WRITERS

    request = read_request(args)
    plans = request.plans()
    WRITERS[args.format](request, plans)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m gpu_advisor.cli.plan ...`` runs ``gpu-advisor plan ...``."""
    from gpu_advisor.cli.main import main as cli_main

    return cli_main(["plan", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
