"""The condition language of rule files: parsed once into a typed tree, used three ways.

A condition is YAML: a mapping ``all:``/``any:``/``not:`` over conditions, a list (meaning all),
or a leaf string such as ``answer.workload == inference``, ``device.memory_gb < fact.need_gb``,
``answer.priority in [lowest-cost, fewest-nodes]``, ``answer.budget_usd is set`` or a bare
reference (``fact.needs_ecc``: true when the value is true). Leaves are tokenized by hand: nothing
from a rule file is ever evaluated as Python.

The same tree (1) evaluates in Python, with a record of which leaf failed (WHY NOT, audits),
(2) compiles to durable_rules JSON (see ``durable_adapter``), and (3) prints itself for graphs.
A comparison with a value that is not set (a question that was not asked) is false, and ``not``
is classical negation; the compiler keeps that meaning when it pushes negation to the leaves.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol

from gpu_advisor.errors import FileError, Location

SCOPES = ("answer", "fact", "device")
COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
"""Each comparison operator as a function (the evaluator and the compiled closures use it)."""
COMPARISONS = tuple(COMPARE)
NEGATED = {
    "==": "!=",
    "!=": "==",
    "<": ">=",
    "<=": ">",
    ">": "<=",
    ">=": "<",
    "in": "not in",
    "not in": "in",
}
FLIPPED = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}

Value = str | int | float | bool


class _Missing:
    """The value of a reference that is not set (a question not asked, an absent fact)."""

    def __repr__(self) -> str:
        return "not set"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()


@dataclass(frozen=True)
class Ref:
    """A reference to an answer, a derived fact or a device fact: ``scope.name``."""

    scope: str
    name: str

    def __str__(self) -> str:
        return f"{self.scope}.{self.name}"


@dataclass(frozen=True)
class Leaf:
    """One comparison. ``op`` is a comparison, ``in``/``not in``, ``set``/``not set``."""

    left: Ref
    op: str
    right: Ref | Value | tuple[Value, ...] | None
    location: Location = field(compare=False)
    text: str = field(compare=False, default="")

    def refs(self) -> Iterator[Ref]:
        yield self.left
        if isinstance(self.right, Ref):
            yield self.right

    def __str__(self) -> str:
        if self.op in ("set", "not set"):
            return f"{self.left} is {'not ' if self.op == 'not set' else ''}set"
        return f"{self.left} {self.op} {_show(self.right)}"


@dataclass(frozen=True)
class All:
    items: tuple[Condition, ...]
    location: Location = field(compare=False)


@dataclass(frozen=True)
class AnyOf:
    items: tuple[Condition, ...]
    location: Location = field(compare=False)


@dataclass(frozen=True)
class Not:
    item: Condition
    location: Location = field(compare=False)


Condition = Leaf | All | AnyOf | Not
TRUE = All((), Location("<builtin>"))


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and not re.fullmatch(r"[A-Za-z][A-Za-z0-9_.+-]*", value):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)


def show(cond: Condition) -> str:
    """A one-line rendering, in the rule language itself."""
    if isinstance(cond, Leaf):
        return str(cond)
    if isinstance(cond, Not):
        return f"not ({show(cond.item)})"
    if not cond.items:
        return "always"
    joiner = " and " if isinstance(cond, All) else " or "
    parts = [show(c) if isinstance(c, (Leaf, Not)) else f"({show(c)})" for c in cond.items]
    return joiner.join(parts)


# ---------------------------------------------------------------------------------------------
# Parsing


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<op>==|!=|<=|>=|<|>)
  | (?P<lbr>\[) | (?P<rbr>\]) | (?P<comma>,)
  | (?P<ref>(?:answer|fact|device)\.[A-Za-z_][A-Za-z0-9_]*)
  | (?P<num>-?\d+(?:_\d{3})*(?:\.\d+)?(?:[eE][-+]?\d+)?(?![A-Za-z0-9_-]))
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<word>[A-Za-z_][A-Za-z0-9_.+-]*)
""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    offset: int


class ConditionSyntaxError(Exception):
    """Raised inside the parser with the column offset of the problem."""

    def __init__(self, offset: int, message: str) -> None:
        super().__init__(message)
        self.offset = offset
        self.message = message


def _tokenize(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            raise ConditionSyntaxError(pos, f"unexpected character {text[pos]!r}")
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append(_Tok(kind, match.group(), pos))
        pos = match.end()
    return tokens


_MAX_NUMBER_CHARS = 400
"""Longest number literal read: longer ones are past a float's range or pad it with digits no
rule needs (and past 4,300 digits ``int()`` itself refuses them)."""


def _literal(tok: _Tok) -> Value:
    if tok.kind == "num":
        number = tok.text.replace("_", "")
        if len(number) > _MAX_NUMBER_CHARS:
            raise ConditionSyntaxError(
                tok.offset, f"a number of {len(number):,} characters: too long"
            )
        value: float | int = float(number) if any(c in number for c in ".eE") else int(number)
        try:
            finite = math.isfinite(float(value))
        except OverflowError:
            finite = False
        if not finite:
            raise ConditionSyntaxError(
                tok.offset, f"{tok.text[:20]} is beyond the range of a float: write a finite number"
            )
        return value
    if tok.kind == "str":
        body = tok.text[1:-1]
        return re.sub(r"\\(.)", r"\1", body)
    if tok.kind == "word":
        if tok.text in ("true", "false"):
            return tok.text == "true"
        return tok.text
    raise ConditionSyntaxError(tok.offset, f"expected a value, found {tok.text!r}")


def parse_leaf(text: str, location: Location) -> Leaf:
    """Parse one leaf string; raise ConditionSyntaxError with the offset of the problem."""
    tokens = _tokenize(text)
    if not tokens:
        raise ConditionSyntaxError(0, "empty condition")
    first = tokens[0]
    if first.kind != "ref":
        hint = ""
        if first.kind == "word" and "." in first.text:
            hint = " (references start with answer., fact. or device.)"
        raise ConditionSyntaxError(
            first.offset, f"a condition starts with a reference, found {first.text!r}{hint}"
        )
    scope, name = first.text.split(".", 1)
    left = Ref(scope, name)
    rest = tokens[1:]
    if not rest:
        return Leaf(left, "==", True, location, text)

    def expect_end(index: int) -> None:
        if index < len(rest):
            raise ConditionSyntaxError(
                rest[index].offset, f"unexpected {rest[index].text!r} after the condition"
            )

    head = rest[0]
    if head.kind == "op":
        if len(rest) < 2:
            raise ConditionSyntaxError(len(text), f"missing a value after {head.text!r}")
        value_tok = rest[1]
        right: Ref | Value
        if value_tok.kind == "ref":
            scope2, name2 = value_tok.text.split(".", 1)
            right = Ref(scope2, name2)
        else:
            right = _literal(value_tok)
        expect_end(2)
        return Leaf(left, head.text, right, location, text)
    if head.kind == "word" and head.text in ("in", "not"):
        index = 1
        op = "in"
        if head.text == "not":
            if len(rest) < 2 or rest[1].text != "in":
                raise ConditionSyntaxError(
                    head.offset, "expected 'not in' (negate a whole condition with not:)"
                )
            op, index = "not in", 2
        items, index = _parse_list(rest, index, len(text))
        expect_end(index)
        return Leaf(left, op, tuple(items), location, text)
    if head.kind == "word" and head.text == "is":
        words = [t.text for t in rest[1:]]
        if words == ["set"]:
            return Leaf(left, "set", None, location, text)
        if words == ["not", "set"]:
            return Leaf(left, "not set", None, location, text)
        raise ConditionSyntaxError(head.offset, "expected 'is set' or 'is not set'")
    raise ConditionSyntaxError(
        head.offset,
        f"expected a comparison (== != < <= > >=), 'in', 'not in' or 'is set', found {head.text!r}",
    )


def _parse_list(tokens: list[_Tok], index: int, end: int) -> tuple[list[Value], int]:
    if index >= len(tokens) or tokens[index].kind != "lbr":
        offset = tokens[index].offset if index < len(tokens) else end
        raise ConditionSyntaxError(offset, "expected a list in brackets, e.g. [a, b]")
    index += 1
    items: list[Value] = []
    while True:
        if index >= len(tokens):
            raise ConditionSyntaxError(end, "unclosed list: missing ']'")
        tok = tokens[index]
        if tok.kind == "rbr" and not items:
            raise ConditionSyntaxError(tok.offset, "empty list")
        items.append(_literal(tok))
        index += 1
        if index >= len(tokens):
            raise ConditionSyntaxError(end, "unclosed list: missing ']'")
        if tokens[index].kind == "rbr":
            return items, index + 1
        if tokens[index].kind != "comma":
            raise ConditionSyntaxError(tokens[index].offset, "expected ',' or ']' in the list")
        index += 1


def parse_condition(
    raw: Any,
    doc_location: Callable[[tuple[str | int, ...]], Location],
    key: tuple[str | int, ...],
    quoted: Callable[[tuple[str | int, ...]], bool],
    errors: list[FileError],
) -> Condition:
    """Parse a condition from loaded YAML; problems go to ``errors`` with exact positions."""
    where = doc_location(key)
    if isinstance(raw, str):
        try:
            return parse_leaf(raw, where)
        except ConditionSyntaxError as exc:
            shift = 1 if quoted(key) else 0
            errors.append(
                FileError(
                    Location(where.path, where.line, where.column + exc.offset + shift),
                    f"in condition {raw!r}: {exc.message}",
                )
            )
            return TRUE
    if isinstance(raw, list):
        return All(
            tuple(
                parse_condition(item, doc_location, key + (i,), quoted, errors)
                for i, item in enumerate(raw)
            ),
            where,
        )
    if isinstance(raw, dict):
        if len(raw) != 1 or next(iter(raw)) not in ("all", "any", "not"):
            keys = ", ".join(map(str, raw)) or "nothing"
            errors.append(
                FileError(
                    where,
                    f"a condition mapping has exactly one key: all, any or not (found {keys})",
                )
            )
            return TRUE
        ((kind, body),) = raw.items()
        if kind == "not":
            return Not(parse_condition(body, doc_location, key + ("not",), quoted, errors), where)
        if not isinstance(body, list) or not body:
            errors.append(
                FileError(
                    doc_location(key + (kind,)), f"{kind}: expects a non-empty list of conditions"
                )
            )
            return TRUE
        items = tuple(
            parse_condition(item, doc_location, key + (kind, i), quoted, errors)
            for i, item in enumerate(body)
        )
        return All(items, where) if kind == "all" else AnyOf(items, where)
    errors.append(
        FileError(
            where,
            f"a condition is a string, a list or a mapping (all/any/not), "
            f"not {type(raw).__name__} {raw!r}",
        )
    )
    return TRUE


# ---------------------------------------------------------------------------------------------
# Walking


def leaves(cond: Condition) -> Iterator[Leaf]:
    if isinstance(cond, Leaf):
        yield cond
    elif isinstance(cond, Not):
        yield from leaves(cond.item)
    else:
        for item in cond.items:
            yield from leaves(item)


def refs(cond: Condition) -> Iterator[Ref]:
    for leaf in leaves(cond):
        yield from leaf.refs()


# ---------------------------------------------------------------------------------------------
# Evaluation in Python


Lookup = Callable[[Ref], Any]


class Values(Protocol):
    """Where a lookup reads one scope's values: a dict, a device's attributes, the answers."""

    def get(self, key: str, /) -> Any: ...


def value_or_missing(value: Any) -> Any:
    """A value as conditions see it: None means "not set" (an answer not given, a device
    without that figure), which every comparison treats as false."""
    return MISSING if value is None else value


def lookup_from(
    answers: Values | None = None, facts: Values | None = None, device: Values | None = None
) -> Lookup:
    """The lookup of one situation: ``answer.x``, ``fact.x`` and ``device.x`` read from their
    sources; a scope without a source, an absent name and None are all MISSING."""
    sources = {"answer": answers, "fact": facts, "device": device}

    def lookup(ref: Ref) -> Any:
        source = sources.get(ref.scope)
        return MISSING if source is None else value_or_missing(source.get(ref.name))

    return lookup


def _compare(op: str, left: Any, right: Any) -> bool:
    if left is MISSING or right is MISSING:
        return False
    compare = COMPARE.get(op)
    if compare is None:
        raise ValueError(f"unknown operator {op}")
    try:
        return bool(compare(left, right))
    except TypeError:
        return False


def eval_leaf(leaf: Leaf, lookup: Lookup) -> bool:
    value = lookup(leaf.left)
    if leaf.op == "set":
        return value is not MISSING
    if leaf.op == "not set":
        return value is MISSING
    if value is MISSING:
        return False
    if leaf.op in ("in", "not in"):
        assert isinstance(leaf.right, tuple)
        inside = value in leaf.right
        return inside if leaf.op == "in" else not inside
    right = lookup(leaf.right) if isinstance(leaf.right, Ref) else leaf.right
    return _compare(leaf.op, value, right)


def evaluate(cond: Condition, lookup: Lookup) -> bool:
    if isinstance(cond, Leaf):
        return eval_leaf(cond, lookup)
    if isinstance(cond, Not):
        return not evaluate(cond.item, lookup)
    if isinstance(cond, All):
        return all(evaluate(item, lookup) for item in cond.items)
    return any(evaluate(item, lookup) for item in cond.items)


@dataclass(frozen=True)
class LeafResult:
    """A leaf with the values it saw, for explanations."""

    leaf: Leaf
    holds: bool
    values: Mapping[str, Any]

    def describe(self) -> str:
        seen = ", ".join(
            f"{name} = {_show(v) if v is not MISSING else 'not set'}"
            for name, v in self.values.items()
        )
        return f"{self.leaf} ({seen})"


def _leaf_result(leaf: Leaf, lookup: Lookup) -> LeafResult:
    values = {str(ref): lookup(ref) for ref in leaf.refs()}
    return LeafResult(leaf, eval_leaf(leaf, lookup), values)


def decisive_leaves(cond: Condition, lookup: Lookup) -> tuple[bool, list[LeafResult]]:
    """Evaluate and return the leaves that decided the outcome.

    For a false condition these are the leaves that failed (WHY NOT); for a true one, the leaves
    that made it true (HOW). Under ``not`` the roles swap, and each result says whether its leaf
    held, so the caller can print "failed: device.ecc == true (device.ecc = false)".
    """
    if isinstance(cond, Leaf):
        result = _leaf_result(cond, lookup)
        return result.holds, [result]
    if isinstance(cond, Not):
        holds, why = decisive_leaves(cond.item, lookup)
        return not holds, why
    outcomes = [decisive_leaves(item, lookup) for item in cond.items]
    if isinstance(cond, All):
        if all(h for h, _ in outcomes):
            return True, [r for _, rs in outcomes for r in rs]
        return False, [r for h, rs in outcomes if not h for r in rs]
    if any(h for h, _ in outcomes):
        return True, [r for h, rs in outcomes if h for r in rs]
    return False, [r for _, rs in outcomes for r in rs]


# ---------------------------------------------------------------------------------------------
# Negation normal form: what the durable_rules compiler consumes


def negate_leaf(leaf: Leaf) -> Condition:
    """Classical negation of a leaf, given that a comparison with a missing value is false."""
    if leaf.op == "set":
        return Leaf(leaf.left, "not set", None, leaf.location, leaf.text)
    if leaf.op == "not set":
        return Leaf(leaf.left, "set", None, leaf.location, leaf.text)
    flipped = Leaf(leaf.left, NEGATED[leaf.op], leaf.right, leaf.location, leaf.text)
    missing = tuple(Leaf(ref, "not set", None, leaf.location, leaf.text) for ref in leaf.refs())
    return AnyOf((flipped,) + missing, leaf.location)


def to_nnf(cond: Condition, negate: bool = False) -> Condition:
    """Push every ``not`` down to the leaves, keeping the meaning for values that are not set."""
    if isinstance(cond, Leaf):
        return negate_leaf(cond) if negate else cond
    if isinstance(cond, Not):
        return to_nnf(cond.item, not negate)
    items = tuple(to_nnf(item, negate) for item in cond.items)
    if isinstance(cond, All):
        return AnyOf(items, cond.location) if negate else All(items, cond.location)
    return All(items, cond.location) if negate else AnyOf(items, cond.location)


# ---------------------------------------------------------------------------------------------
# Rationale templates: "{device.id} has {device.memory_gb} GB" filled from what a rule saw

PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
"""A ``{scope.name:spec}`` placeholder of a because/warn text; the one pattern every reader uses."""


FORMAT_SPEC = re.compile(r",?(?:\.[0-9])?[dfg%]?")
"""The format specs a placeholder may carry: a thousands comma, one precision digit and a type
(``,``, ``,.0f``, ``.1f``, ``.0%``, ``g``). No fill, alignment or width: ``{device.x:>2000000000}``
would build a 2 GB string."""
FORMAT_SPEC_HELP = "a thousands comma, a precision of one digit and d, f, g or %, e.g. ,.0f or .0%"


def format_spec_ok(spec: str) -> bool:
    """Whether a placeholder's format spec is one :data:`FORMAT_SPEC` accepts."""
    return FORMAT_SPEC.fullmatch(spec) is not None


@dataclass(frozen=True)
class Placeholder:
    """One placeholder of a template: its raw text, what it names and how to format it."""

    text: str
    scope: str
    name: str
    spec: str
    dotted: bool  # False for ``{oops}``: no ``scope.name`` at all

    @property
    def ref(self) -> Ref:
        return Ref(self.scope, self.name)


@lru_cache(maxsize=1024)
def _template(template: str) -> tuple[tuple[str, Placeholder | None], ...]:
    """A template split once into (literal, placeholder) parts; the last has no placeholder."""
    parts: list[tuple[str, Placeholder | None]] = []
    last = 0
    for match in PLACEHOLDER.finditer(template):
        body, _, spec = match.group(1).partition(":")
        scope, dot, name = body.strip().partition(".")
        parts.append(
            (
                template[last : match.start()],
                Placeholder(match.group(1), scope, name, spec, bool(dot)),
            )
        )
        last = match.end()
    parts.append((template[last:], None))
    return tuple(parts)


def placeholders(template: str) -> Iterator[Placeholder]:
    """Every placeholder of a template, in order."""
    for _, placeholder in _template(template):
        if placeholder is not None:
            yield placeholder


def template_refs(template: str, scopes: tuple[str, ...] | None = None) -> Iterator[Ref]:
    """The references a template fills in (those written ``scope.name``; only ``scopes`` if
    given)."""
    for placeholder in placeholders(template):
        if placeholder.dotted and (scopes is None or placeholder.scope in scopes):
            yield placeholder.ref


def render(template: str, lookup: Lookup) -> str:
    """Fill ``{answer.x}``, ``{fact.y}``, ``{device.z:,.0f}`` placeholders (no code runs)."""
    out = []
    for literal, placeholder in _template(template):
        out.append(literal)
        if placeholder is not None:
            out.append(_show_value(lookup(placeholder.ref), placeholder.spec))
    return "".join(out)


def _show_value(value: Any, spec: str) -> str:
    if value is MISSING or value is None:
        return "not set"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if spec and format_spec_ok(spec):  # a refused spec never reaches here from a loaded file
        try:
            return format(value, spec)
        except (ValueError, TypeError):
            return str(value)
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
