"""Small formatters shared by the screens: money, figures, fact labels.

Numbers are shown the way the command line shows them (thousands separators, no float noise), so
that what a person reads on screen matches the report they export.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any


def money(value: float | Decimal | None) -> str:
    """$8,999.99 or $45,000 (cents only when there are some)."""
    if value is None:
        return "—"
    amount = float(value)
    return f"${amount:,.0f}" if amount.is_integer() else f"${amount:,.2f}"


def number(value: Any, digits: int = 2) -> str:
    """A figure with separators and at most `digits` decimals, trailing zeros dropped."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float, Decimal)):
        as_float = float(value)
        if as_float.is_integer():
            return f"{int(as_float):,}"
        text = f"{as_float:,.{digits}f}".rstrip("0").rstrip(".")
        return text
    return str(value)


def fact_label(name: str) -> str:
    """'throughput.fp4_sparse' -> 'FP4 sparse throughput'; 'memory_gb' -> 'memory (GB)'."""
    if name.startswith("throughput."):
        precision, _, kind = name.split(".", 1)[1].partition("_")
        return f"{precision.upper()} {kind} throughput"
    units = {"_gb": " (GB)", "_gbs": " (GB/s)", "_w": " (W)", "_usd": " (USD)", "_bits": " (bits)"}
    for suffix, unit in units.items():
        if name.endswith(suffix):
            return name[: -len(suffix)].replace("_", " ") + unit
    return name.replace("_", " ")


def truncate(text: str, width: int) -> str:
    """`text` cut to `width` cells with an ellipsis."""
    if width <= 0:
        return ""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"
