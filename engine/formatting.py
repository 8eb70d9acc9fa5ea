"""How numbers, money and units read, everywhere: the command line, the reports and the TUI.

One home, so that a figure on screen matches the same figure in an exported report or a
``plan`` table. Standard library only: every layer may import it (it sits beside ``errors``).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

MISSING_FIGURE = "—"
"""What a table shows where a figure is unknown."""

_ESCAPE_SEQUENCE = re.compile(
    r"\x1b\][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"  # OSC (titles, hyperlinks, clipboard)
    r"|\x1b[P^_X][^\x1b\x9c]*(?:\x1b\\|\x9c)?"  # DCS, PM, APC, SOS strings
    r"|(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"  # CSI: colours, cursor moves, clearing the screen
    r"|\x1b[ -/]*[0-~]?"  # any other escape
    r"|[\x90\x9d\x9e\x9f][^\x07\x1b\x9c]*(?:\x07|\x9c)?"  # 8-bit DCS, OSC, PM, APC
)
_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """Text from a data file made safe to print: terminal escape sequences (colours, OSC
    titles and hyperlinks) removed whole, other C0/C1 control characters and the bidi overrides
    and isolates (U+202A-202E, U+2066-2069) dropped; newlines and tabs stay."""
    if not _UNPRINTABLE.search(text):
        return text
    return _UNPRINTABLE.sub("", _ESCAPE_SEQUENCE.sub("", text))


_MARKDOWN_SYNTAX = re.compile(r"([\\\[\]<>|`])")


def markdown_literal(text: str) -> str:
    """Data text for one line of Markdown, read as text only: :func:`printable`, on one line,
    with backslashes, brackets, angle brackets, bars and backticks escaped, so a device name
    such as ``![x](http://...)`` is never an image, a link or a table cell's end."""
    return _MARKDOWN_SYNTAX.sub(r"\\\1", printable(text).replace("\n", " ").replace("\t", " "))


def money(value: float | Decimal | None) -> str:
    """$8,999.99 or $45,000 (cents only when there are some); a dash when unknown."""
    if value is None:
        return MISSING_FIGURE
    amount = float(value)
    return f"${amount:,.0f}" if amount.is_integer() else f"${amount:,.2f}"


def usd_cents(value: Decimal) -> str:
    """Dollars with cents, always: $143,999.84 (the paper's budget tables)."""
    return f"${value:,.2f}"


def usd_whole(value: Decimal) -> str:
    """Dollars without cents when there are none, as the paper prints CapEx (exact Decimal)."""
    return f"${value:,.0f}" if value == value.to_integral_value() else f"${value:,.2f}"


def number(value: Any, digits: int = 2) -> str:
    """A figure with separators and at most `digits` decimals, trailing zeros dropped; booleans
    read yes/no, None a dash, anything else as its text."""
    if value is None:
        return MISSING_FIGURE
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float, Decimal)):
        as_float = float(value)
        if as_float.is_integer():
            return f"{int(as_float):,}"
        return f"{as_float:,.{digits}f}".rstrip("0").rstrip(".")
    return str(value)


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """'1 answer', '12 answers', '1,000 combinations'; ``plural_form`` for irregular words
    ('1 body', '2 bodies') or phrases whose head noun is not last ('seed claims checked ...')."""
    word = singular if count == 1 else (plural_form or f"{singular}s")
    return f"{count:,} {word}"


def trimmed(value: float, decimals: int, keep: int = 0) -> str:
    """Thousands separators, at most `decimals` decimals, trailing zeros dropped down to `keep`."""
    text = f"{value:,.{decimals}f}"
    if "." not in text:
        return text
    whole, frac = text.split(".")
    frac = frac.rstrip("0").ljust(keep, "0")
    return f"{whole}.{frac}" if frac else whole


def significant(value: float, digits: int = 3) -> str:
    """`digits` significant digits in plain decimals, never an exponent: 444, 66.6, 0.0123,
    1,230 (thousands separated). For ratios whose unit is chosen so they read plainly."""
    if value == 0:
        return "0"
    rounded = Decimal(f"{value:.{digits - 1}e}")
    decimals = max(0, digits - 1 - rounded.adjusted())
    return f"{rounded:,.{decimals}f}"


def plain_number(value: float) -> str:
    """12,000 for whole numbers, else plain decimals without an exponent (0.5, 0.000001):
    ranges in help texts, the questionnaire and the docs."""
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{Decimal(repr(float(value))):,f}"


MONTH_ANSWERS = frozenset({"consultation_month"})
"""Integer answers that are months written YYYYMM: shown as their digits (202612), never as an
amount (202,612)."""


def answer_number(key: str, value: float) -> str:
    """A number of answer `key` as written in ranges and values: a month as YYYYMM, anything
    else by :func:`plain_number`."""
    if key in MONTH_ANSWERS:
        return str(int(value))
    return plain_number(value)


_UNIT_SUFFIXES = {
    "_gb": " (GB)",
    "_gbs": " (GB/s)",
    "_w": " (W)",
    "_usd": " (USD)",
    "_bits": " (bits)",
}


def fact_label(name: str) -> str:
    """A device fact's name as a column heading, its unit spelled out:
    'throughput.fp4_sparse' -> 'FP4 sparse throughput'; 'memory_gb' -> 'memory (GB)'."""
    if name.startswith("throughput."):
        precision, _, kind = name.split(".", 1)[1].partition("_")
        return f"{precision.upper()} {kind} throughput"
    for suffix, unit in _UNIT_SUFFIXES.items():
        if name.endswith(suffix):
            return name[: -len(suffix)].replace("_", " ") + unit
    return name.replace("_", " ")
