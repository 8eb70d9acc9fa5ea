"""Fast evaluation of parsed conditions for the audit, with exactly the engine's semantics.

The audit evaluates every rule on millions of answer combinations, so walking the condition
tree with a ``lookup`` callback per leaf (as ``conditions.evaluate`` does) is too slow. Here each
condition is compiled once into nested closures over two plain dicts: the context (answers and
facts, keyed ``answer.x`` / ``fact.y``) and a device's attributes. Semantics follow
``conditions.eval_leaf``: a value that is not set (absent, ``None`` or ``MISSING``) makes every
comparison false, ``is set``/``is not set`` test presence, and comparing values of different types
is false rather than an error. The audit cross-checks these closures against the engine's own
evaluator on sampled combinations (see audit_agreement).

A device rule's condition is split as the durable_rules adapter splits it: the top-level parts
of its negation normal form that read device facts (the *device part*) and the rest (the
*context part*), so the audit can compute each half once and combine them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gpu_advisor.lang.conditions import (
    COMPARE,
    MISSING,
    All,
    AnyOf,
    Condition,
    Leaf,
    Not,
    Ref,
    refs,
    to_nnf,
    value_or_missing,
)

Context = dict[str, Any]
Attrs = dict[str, Any]
Predicate = Callable[[Context, Attrs], bool]


def ref_key(ref: Ref) -> str:
    """The key of an answer or fact in a context dict."""
    return f"{ref.scope}.{ref.name}"


def _getter(ref: Ref) -> Callable[[Context, Attrs], Any]:
    if ref.scope == "device":
        name = ref.name

        def device_value(ctx: Context, dev: Attrs) -> Any:
            return value_or_missing(dev.get(name))

        return device_value
    key = ref_key(ref)

    def context_value(ctx: Context, dev: Attrs) -> Any:
        return value_or_missing(ctx.get(key))

    return context_value


def compile_leaf(leaf: Leaf) -> Predicate:
    """One closure per leaf that reads its value straight from the dict of its scope: the audit
    and the lever search evaluate leaves millions of times, and a call per step (a getter, a
    missing-value check, a guarded comparison) was most of their cost."""
    op = leaf.op
    on_device = leaf.left.scope == "device"
    key = leaf.left.name if on_device else ref_key(leaf.left)
    if op in ("set", "not set"):
        is_set = op == "set"

        def presence(ctx: Context, dev: Attrs) -> bool:
            value = (dev if on_device else ctx).get(key)
            return (value is not None and value is not MISSING) is is_set

        return presence
    if op in ("in", "not in"):
        options = leaf.right
        assert isinstance(options, tuple)
        inside = op == "in"

        def member(ctx: Context, dev: Attrs) -> bool:
            value = (dev if on_device else ctx).get(key)
            if value is None or value is MISSING:
                return False
            try:
                return (value in options) is inside
            except TypeError:
                return False

        return member
    compare = COMPARE[op]
    if isinstance(leaf.right, Ref):
        other = _getter(leaf.right)

        def versus_ref(ctx: Context, dev: Attrs) -> bool:
            value = (dev if on_device else ctx).get(key)
            if value is None or value is MISSING:
                return False
            right = other(ctx, dev)
            if right is MISSING:
                return False
            try:
                return bool(compare(value, right))
            except TypeError:
                return False

        return versus_ref
    literal = leaf.right

    def versus_literal(ctx: Context, dev: Attrs) -> bool:
        value = (dev if on_device else ctx).get(key)
        if value is None or value is MISSING:
            return False
        try:
            return bool(compare(value, literal))
        except TypeError:
            return False

    return versus_literal


def compile_condition(cond: Condition) -> Predicate:
    """A closure computing ``conditions.evaluate(cond, lookup)`` from two dicts."""
    if isinstance(cond, Leaf):
        return compile_leaf(cond)
    if isinstance(cond, Not):
        inner = compile_condition(cond.item)
        return lambda ctx, dev: not inner(ctx, dev)
    parts = tuple(compile_condition(item) for item in cond.items)
    if isinstance(cond, All):
        if not parts:
            return lambda ctx, dev: True
        if len(parts) == 1:
            return parts[0]
        if len(parts) == 2:
            first, second = parts
            return lambda ctx, dev: first(ctx, dev) and second(ctx, dev)

        def every(ctx: Context, dev: Attrs) -> bool:
            for part in parts:
                if not part(ctx, dev):
                    return False
            return True

        return every
    assert isinstance(cond, AnyOf)
    if not parts:
        return lambda ctx, dev: False
    if len(parts) == 1:
        return parts[0]

    def some(ctx: Context, dev: Attrs) -> bool:
        for part in parts:
            if part(ctx, dev):
                return True
        return False

    return some


@dataclass(frozen=True)
class SplitCondition:
    """A rule's condition cut into the part about the context and the part about a device."""

    context: Condition
    device: Condition
    context_refs: frozenset[Ref]
    device_refs: frozenset[Ref]


def split_condition(cond: Condition) -> SplitCondition:
    """Top-level parts of the NNF that read a device fact form the device part (as in the
    durable_rules adapter); everything else is the context part."""
    nnf = to_nnf(cond)
    parts = list(nnf.items) if isinstance(nnf, All) else [nnf]
    context_parts: list[Condition] = []
    device_parts: list[Condition] = []
    for part in parts:
        if any(r.scope == "device" for r in refs(part)):
            device_parts.append(part)
        else:
            context_parts.append(part)
    location = getattr(cond, "location", None)
    ctx = All(tuple(context_parts), location)  # type: ignore[arg-type]
    dev = All(tuple(device_parts), location)  # type: ignore[arg-type]
    return SplitCondition(ctx, dev, frozenset(refs(ctx)), frozenset(refs(dev)))


def context_of(answers: dict[str, Any], facts: dict[str, Any]) -> Context:
    """The context dict of a set of answers and facts (values not set are left out)."""
    ctx: Context = {}
    for key, value in answers.items():
        if value is not MISSING and value is not None:
            ctx["answer." + key] = value
    for key, value in facts.items():
        if value is not MISSING and value is not None:
            ctx["fact." + key] = value
    return ctx


@dataclass(frozen=True)
class StagedRule:
    """A rule compiled for the engine's Python evaluator: its context part and, for a device
    rule, its device part (None for a context rule) and the context keys the device part reads
    (what its result on a given set of devices depends on, besides their attributes)."""

    rule_id: str
    context: Predicate
    device: Predicate | None
    device_reads: tuple[str, ...] = ()


def compile_stages(
    rules: Iterable[tuple[str, Condition, int, bool]],
) -> dict[int, list[StagedRule]]:
    """(rule id, condition, stage, device-scoped) compiled and grouped by stage, in rule order."""
    stages: dict[int, list[StagedRule]] = {}
    for rule_id, cond, stage, device_scoped in rules:
        if device_scoped:
            split = split_condition(cond)
            reads = sorted(ref_key(r) for r in split.device_refs if r.scope != "device")
            staged = StagedRule(
                rule_id,
                compile_condition(split.context),
                compile_condition(split.device),
                tuple(reads),
            )
        else:
            staged = StagedRule(rule_id, compile_condition(cond), None)
        stages.setdefault(stage, []).append(staged)
    return stages


DeviceMemo = dict[tuple[Any, ...], tuple[str, ...]]
"""The devices a rule's device part held for, by (rule, set of devices, context values read)."""

DEVICE_MEMO_LIMIT = 50_000


def run_compiled_stage(
    rules: list[StagedRule],
    answers: Mapping[str, Any],
    facts: Mapping[str, Any],
    devices: Mapping[str, Attrs],
    memo: DeviceMemo | None = None,
    devices_key: Any = None,
) -> list[tuple[str, str | None]]:
    """(rule id, device id or None) of every rule of one stage that fires, in rule order and,
    within a device rule, in device order. A device rule's context part is tested once.

    With a ``memo`` and a ``devices_key`` that names these exact device attributes (the same
    key must always mean the same attributes), a device part is evaluated over the devices only
    once per combination of the context values it reads: re-consultations that change one
    answer (the lever search) skip the device loop of every rule that does not read it."""
    ctx = context_of(dict(answers), dict(facts))
    nothing: Attrs = {}
    fired: list[tuple[str, str | None]] = []
    for rule in rules:
        if not rule.context(ctx, nothing):
            continue
        if rule.device is None:
            fired.append((rule.rule_id, None))
            continue
        key = None
        if memo is not None and devices_key is not None:
            key = (rule.rule_id, devices_key, *(_hashable(ctx.get(k)) for k in rule.device_reads))
            held = memo.get(key)
            if held is not None:
                fired.extend((rule.rule_id, d) for d in held)
                continue
        device_holds = rule.device
        held = tuple(d for d, attrs in devices.items() if device_holds(ctx, attrs))
        if key is not None and memo is not None:
            if len(memo) >= DEVICE_MEMO_LIMIT:
                memo.clear()
            memo[key] = held
        fired.extend((rule.rule_id, d) for d in held)
    return fired


def _hashable(value: Any) -> Any:
    """A context value as part of a memo key (answers such as ``candidates`` are lists)."""
    if isinstance(value, list):
        return ("list", tuple(_hashable(v) for v in value))
    if isinstance(value, dict):
        return ("dict", tuple(sorted((k, _hashable(v)) for k, v in value.items())))
    return (type(value).__name__, value)
