"""The answer space the audit covers: which values each question takes, and how it factorizes.

Why one module of this length: the domains, their boundary values and the factorization into
components are one computation over the same rule analysis.

Values come from the questionnaire and the rules, never from a hand-written list:
- choice and boolean questions take every value; a question that is not asked (its ``ask_when``
  is false given the earlier answers) takes none ("not set"); an optional question without a
  default also takes "not set"; the ``devices`` question (candidates) stays unset, so every
  device of the knowledge base is considered;
- a number takes the boundaries the conditions create: for every literal ``v`` it is compared
  with, the values on both sides (``>=``/``<``: v-e and v; ``>``/``<=``: v and v+e; ``==``/``!=``:
  all three), the same for knowledge-base values it is compared with (``device.nvlink_max_gpus <
  answer.max_gpus``), plus its min, max and default; a number the sizing arithmetic reads also takes
  the values where a computed yes/no device fact (``fits``) flips for some device, the other
  answers at their defaults;
- a number the arithmetic does not read can only matter through the conditions, so its values
  are collapsed to one per class of equal truth values of every condition that reads it: exact,
  since two values of one class make every rule behave the same.

Questions are grouped into independent *components*: two questions are in one component when a
rule, a derived fact or an ``ask_when`` connects them, and every question the arithmetic reads is
in one component with the rules that read computed device facts. Rules in different components
read disjoint answers, so the whole space is the product of the components' spaces and each can
be enumerated on its own: this is what lets the audit cover the product exactly.

Within the arithmetic component, the numbers the conditions compare ("primary") are enumerated as
a full product with every choice; numbers only the arithmetic reads ("secondary": context length,
batch, battery hours) are swept one at a time over that product; a number compared only with
computed device facts (the budget, against ``device.cost_usd``) takes, per situation, the values
at and just below each device's computed figure, with every choice of the questions it unlocks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from gpu_advisor.arithmetic.context import ARITHMETIC_ANSWERS as _DECLARED
from gpu_advisor.backends.python import SplitCondition, split_condition
from gpu_advisor.knowledge.rulebase import Question, Rule, RuleBase
from gpu_advisor.knowledge.vocabulary import DEVICE_ATTRIBUTES
from gpu_advisor.lang.conditions import (
    FLIPPED,
    MISSING,
    SCOPES,
    Leaf,
    Ref,
    eval_leaf,
    evaluate,
    leaves,
    lookup_from,
    refs,
    template_refs,
)

ARITHMETIC_ANSWERS: tuple[str, ...] = (*_DECLARED, "candidates")
"""Answers the sizing, cost and energy arithmetic reads (engine/arithmetic.py)."""
RANKING_ANSWERS: tuple[str, ...] = ("priority",)
"""Answers the ranking reads directly (engine/ranking.py weighs metrics by the priority)."""
ARITH = "<arithmetic>"


def computed_attribute(name: str) -> bool:
    attr = DEVICE_ATTRIBUTES.get(name)
    return attr is not None and attr.origin == "computed"


# ---------------------------------------------------------------------------------------------
# Per-rule analysis


@dataclass
class RuleFacts:
    """What the audit needs to know about one rule, worked out once."""

    rule: Rule
    split: SplitCondition | None  # device rules only
    template_refs: tuple[Ref, ...]
    when_refs: frozenset[Ref]

    @property
    def device(self) -> bool:
        return self.rule.scope == "device"


def analyze_rules(rb: RuleBase) -> dict[str, RuleFacts]:
    result: dict[str, RuleFacts] = {}
    for rule in rb.rules:
        texts = [rule.because] + ([rule.warn] if rule.warn else [])
        tref = tuple(dict.fromkeys(r for text in texts for r in template_refs(text, SCOPES)))
        split = split_condition(rule.when) if rule.scope == "device" else None
        result[rule.id] = RuleFacts(rule, split, tref, frozenset(refs(rule.when)))
    return result


# ---------------------------------------------------------------------------------------------
# Components


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb_ = self.find(a), self.find(b)
        if ra != rb_:
            self.parent[rb_] = ra


@dataclass
class Component:
    """Questions and rules that depend on each other and on nothing outside."""

    index: int
    questions: list[str]
    rules: list[Rule]
    arithmetic: bool
    situation_questions: list[str] = field(default_factory=list)  # enumerated with the arithmetic
    class_questions: list[str] = field(default_factory=list)  # enumerated per context class

    def describe(self) -> str:
        names = ", ".join(self.questions) or "no questions"
        return f"{names} ({len(self.rules)} rules)"


def _node(ref: Ref, rb: RuleBase) -> str | None:
    if ref.scope == "answer":
        return "q:" + ref.name
    if ref.scope == "fact":
        fact = rb.facts.get(ref.name)
        if fact is not None and fact.kind == "computed":
            return ARITH
        return "f:" + ref.name
    return ARITH if computed_attribute(ref.name) else None


def build_components(rb: RuleBase, analysis: Mapping[str, RuleFacts]) -> list[Component]:
    uf = _UnionFind()
    questions = [q for q in rb.questions.values() if q.type not in ("devices", "model")]
    arith_questions = [q.key for q in questions if q.key in ARITHMETIC_ANSWERS]
    uf.find(ARITH)
    for key in arith_questions:
        uf.union(ARITH, "q:" + key)
    for q in questions:
        uf.find("q:" + q.key)
        for ref in refs(q.ask_when):
            if ref.scope == "answer" and ref.name in rb.questions:
                uf.union("q:" + q.key, "q:" + ref.name)
    for rule in rb.rules:
        node = "r:" + rule.id
        uf.find(node)
        for ref in analysis[rule.id].when_refs:
            target = _node(ref, rb)
            if target is not None:
                uf.union(node, target)
        for ref in analysis[rule.id].template_refs:  # an explanation's computed figures do not
            target = _node(ref, rb)  # tie a rule to the arithmetic (see probes)
            if target is not None and target != ARITH:
                uf.union(node, target)
        for name in rule.derive:
            uf.union(node, "f:" + name)
    groups: dict[str, tuple[list[str], list[Rule]]] = {}
    for q in questions:
        groups.setdefault(uf.find("q:" + q.key), ([], []))[0].append(q.key)
    for rule in rb.rules:
        groups.setdefault(uf.find("r:" + rule.id), ([], []))[1].append(rule)
    arith_root = uf.find(ARITH)
    groups.setdefault(arith_root, ([], []))
    components = []
    ordered = sorted(groups.items(), key=lambda kv: (kv[0] != arith_root, _first(kv[1], rb)))
    for index, (root, (qs, rules)) in enumerate(ordered):
        comp = Component(index, qs, rules, root == arith_root)
        if comp.arithmetic:
            comp.situation_questions = _situation_questions(rb, qs, rules, analysis)
        comp.class_questions = [k for k in qs if k not in comp.situation_questions]
        components.append(comp)
    return components


def _first(group: tuple[list[str], list[Rule]], rb: RuleBase) -> int:
    order = list(rb.questions)
    qs, rules = group
    if qs:
        return min(order.index(q) for q in qs)
    return len(order) + (rb.rules.index(rules[0]) if rules else 0)


def _situation_questions(
    rb: RuleBase, qs: list[str], rules: list[Rule], analysis: Mapping[str, RuleFacts]
) -> list[str]:
    """Arithmetic answers, answers compared inside device parts, and the answers that decide
    whether those are asked (closed under ask_when)."""
    chosen = {k for k in qs if k in ARITHMETIC_ANSWERS}
    for rule in rules:
        facts = analysis[rule.id]
        if facts.split is not None:
            chosen.update(r.name for r in facts.split.device_refs if r.scope == "answer")
    changed = True
    while changed:
        changed = False
        for key in list(chosen):
            for ref in refs(rb.questions[key].ask_when):
                if ref.scope == "answer" and ref.name not in chosen and ref.name in qs:
                    chosen.add(ref.name)
                    changed = True
    return [k for k in qs if k in chosen]


# ---------------------------------------------------------------------------------------------
# Values


def epsilon(value: float, integer: bool) -> float:
    """A step small enough to land next to a boundary, readable in a report (7 -> 6.99)."""
    if integer:
        return 1
    if value == 0:
        return 0.01
    return 10.0 ** (math.floor(math.log10(abs(value))) - 2)


def _sides(value: float, op: str, integer: bool, answer_on_left: bool) -> list[float]:
    """Values on each side of a boundary, for an answer compared with ``value`` by ``op``."""
    if not answer_on_left:
        op = FLIPPED.get(op, op)
    e = epsilon(value, integer)
    if op in (">=", "<"):
        return [value - e, value]
    if op in (">", "<="):
        return [value, value + e]
    return [value - e, value, value + e]


@dataclass
class Domain:
    """The values one question takes in the audit."""

    key: str
    values: list[Any]
    role: str  # choice | boolean | primary | secondary | budget | class | fixed
    default: Any = MISSING
    note: str = ""
    boundaries: list[Any] = field(default_factory=list)  # primary numbers: without flip points


def _numeric(value: float, integer: bool) -> Any:
    if integer:
        return round(value)
    rounded = round(value, 6)
    return int(rounded) if float(rounded).is_integer() else rounded


def question_leaves(rb: RuleBase, key: str) -> list[Leaf]:
    """Every leaf of every rule condition and ask_when that reads the answer ``key``."""
    ref = Ref("answer", key)
    found: list[Leaf] = []
    for rule in rb.rules:
        found.extend(leaf for leaf in leaves(rule.when) if ref in set(leaf.refs()))
    for q in rb.questions.values():
        found.extend(leaf for leaf in leaves(q.ask_when) if ref in set(leaf.refs()))
    return found


def boundary_values(
    rb: RuleBase, q: Question, device_values: Mapping[str, list[float]]
) -> list[Any]:
    """A number's boundary values: both sides of every literal or knowledge-base value it is
    compared with, and its min, max and default, inside its range."""
    integer = q.type == "integer"
    ref = Ref("answer", q.key)
    raw: list[float] = []
    for leaf in question_leaves(rb, q.key):
        if leaf.op in ("set", "not set"):
            continue
        on_left = leaf.left == ref
        other = leaf.right if on_left else leaf.left
        values: list[float] = []
        if isinstance(other, Ref):
            if other.scope == "device" and not computed_attribute(other.name):
                values = device_values.get(other.name, [])
        elif isinstance(other, tuple):
            values = [v for v in other if isinstance(v, (int, float)) and not isinstance(v, bool)]
        elif isinstance(other, (int, float)) and not isinstance(other, bool):
            values = [float(other)]
        op = leaf.op if leaf.op not in ("in", "not in") else "=="
        for value in values:
            raw.extend(_sides(float(value), op, integer, on_left))
    for extra in (q.min, q.max, q.default):
        if isinstance(extra, (int, float)) and not isinstance(extra, bool):
            raw.append(float(extra))
    return _clip_sorted(raw, q)


def _clip_sorted(raw: list[float], q: Question) -> list[Any]:
    integer = q.type == "integer"
    out: dict[Any, None] = {}
    for value in sorted(raw):
        if q.min is not None and value < q.min:
            continue
        if q.max is not None and value > q.max:
            continue
        out[_numeric(value, integer)] = None
    return list(out)


def compared_with_computed(rb: RuleBase, key: str) -> list[Leaf]:
    """Leaves comparing the answer with a computed device fact (the budget with the cost)."""
    ref = Ref("answer", key)
    found: list[Leaf] = []
    for leaf in question_leaves(rb, key):
        other = leaf.right if leaf.left == ref else leaf.left
        if isinstance(other, Ref) and other.scope == "device" and computed_attribute(other.name):
            found.append(leaf)
    return found


def literal_compared(rb: RuleBase, key: str) -> bool:
    """Whether any condition compares the answer with a literal or a knowledge-base value."""
    ref = Ref("answer", key)
    for leaf in question_leaves(rb, key):
        if leaf.op in ("set", "not set"):
            continue
        other = leaf.right if leaf.left == ref else leaf.left
        if not (
            isinstance(other, Ref) and other.scope == "device" and computed_attribute(other.name)
        ):
            return True
    return False


def class_representatives(rb: RuleBase, q: Question, candidates: list[Any]) -> list[Any]:
    """One value per class of equal truth values of every leaf reading the answer (the default
    when it is in the class, else a boundary value the rules name, else the smallest)."""
    ref = Ref("answer", q.key)
    found = question_leaves(rb, q.key)
    if any(not _unary(leaf, ref) for leaf in found):
        return candidates  # compared with another answer or a fact: keep every boundary
    literals = {
        float(leaf.right)
        for leaf in found
        if isinstance(leaf.right, (int, float)) and not isinstance(leaf.right, bool)
    }
    classes: dict[tuple[bool, ...], list[Any]] = {}
    for value in candidates:
        key = tuple(eval_leaf(leaf, only_lookup(ref, value)) for leaf in found)
        classes.setdefault(key, []).append(value)
    reps = []
    for members in classes.values():
        if q.default in members:
            reps.append(q.default)
        else:
            named = [m for m in members if m is not MISSING and float(m) in literals]
            reps.append(named[0] if named else members[0])
    return sorted(reps, key=lambda v: (v is MISSING, 0 if v is MISSING else v))


def only_lookup(ref: Ref, value: Any) -> Callable[[Ref], Any]:
    """A lookup that knows one reference's value (for evaluating leaves about one answer)."""

    def lookup(other: Ref) -> Any:
        return value if other == ref else MISSING

    return lookup


def _unary(leaf: Leaf, ref: Ref) -> bool:
    return leaf.left == ref and not isinstance(leaf.right, Ref)


def static_device_values(
    rb: RuleBase, base_attrs: Mapping[str, Mapping[str, Any]]
) -> dict[str, list[float]]:
    values: dict[str, list[float]] = {}
    for attrs in base_attrs.values():
        for name, value in attrs.items():
            if (
                isinstance(value, (int, float))
                and not isinstance(value, bool)
                and not computed_attribute(name)
            ):
                values.setdefault(name, []).append(float(value))
    return {k: sorted(set(v)) for k, v in values.items()}


def build_domains(
    rb: RuleBase,
    components: list[Component],
    base_attrs: Mapping[str, Mapping[str, Any]],
    flips: Mapping[str, list[float]],
) -> dict[str, Domain]:
    """Each question's values (see the module docstring)."""
    device_values = static_device_values(rb, base_attrs)
    situation = {k for c in components if c.arithmetic for k in c.situation_questions}
    domains: dict[str, Domain] = {}
    for q in rb.questions.values():
        optional = [MISSING] if q.default is None else []
        if q.type == "devices":
            domains[q.key] = Domain(
                q.key, [MISSING], "fixed", MISSING, "left unset: every device is a candidate"
            )
        elif q.type == "model":
            domains[q.key] = Domain(
                q.key,
                [MISSING],
                "fixed",
                MISSING,
                "left unset: the parameter count stands for the model",
            )
        elif q.type == "choice":
            domains[q.key] = Domain(q.key, list(q.choices) + optional, "choice", _default(q))
        elif q.type == "boolean":
            domains[q.key] = Domain(q.key, [False, True] + optional, "boolean", _default(q))
        else:
            candidates = boundary_values(rb, q, device_values)
            if q.key in situation:
                extra = flips.get(q.key, [])
                values = _clip_sorted([float(v) for v in candidates] + list(extra), q)
                if literal_compared(rb, q.key):
                    role = "primary"
                elif compared_with_computed(rb, q.key):
                    role = "budget"
                else:
                    role = "secondary"
                domains[q.key] = Domain(
                    q.key,
                    values + optional,
                    role,
                    _default(q),
                    boundaries=list(candidates) + optional,
                )
            else:
                reps = class_representatives(rb, q, candidates + optional)
                domains[q.key] = Domain(
                    q.key,
                    reps,
                    "class",
                    _default(q),
                    f"one value per class of {len(candidates + optional)} boundary values",
                )
    return {k: _default_first(d) for k, d in domains.items()}


def _default(q: Question) -> Any:
    return MISSING if q.default is None else q.default


def _default_first(domain: Domain) -> Domain:
    """Put the default first: the enumeration then meets default-heavy combinations first, and
    the first combination showing a finding (its counterexample) has few answers to type."""
    if domain.default in domain.values:
        domain.values = [domain.default] + [
            v for v in domain.values if not _same(v, domain.default)
        ]
    if domain.default in domain.boundaries:
        domain.boundaries = [domain.default] + [
            v for v in domain.boundaries if not _same(v, domain.default)
        ]
    return domain


def _same(a: Any, b: Any) -> bool:
    return a is b or (a is not MISSING and b is not MISSING and type(a) is type(b) and a == b)


# ---------------------------------------------------------------------------------------------
# Enumeration


def asked(q: Question, values: Mapping[str, Any]) -> bool:
    return evaluate(q.ask_when, lookup_from(answers=values))


def assignments(
    rb: RuleBase,
    keys: list[str],
    domains: Mapping[str, Domain],
    fixed: Mapping[str, Any] | None = None,
    choose: Mapping[str, list[Any]] | None = None,
) -> Iterator[dict[str, Any]]:
    """Every assignment of ``keys`` (questionnaire order) honouring ask_when: a question that is
    not asked is not set. ``fixed`` answers are given; ``choose`` overrides a key's values."""
    base = dict(fixed or {})
    order = [k for k in rb.questions if k in set(keys)]

    def walk(i: int, current: dict[str, Any]) -> Iterator[dict[str, Any]]:
        if i == len(order):
            yield dict(current)
            return
        key = order[i]
        q = rb.questions[key]
        if not asked(q, current):
            current[key] = MISSING
            yield from walk(i + 1, current)
            del current[key]
            return
        values = choose[key] if choose is not None and key in choose else domains[key].values
        for value in values:
            current[key] = value
            yield from walk(i + 1, current)
        del current[key]

    yield from walk(0, base)


def raw_answers(
    values: Mapping[str, Any], rb: RuleBase, keep_defaults: bool = False
) -> dict[str, Any]:
    """Answers as a user would type them: set values only, defaults left out (the engine fills
    them in), in questionnaire order."""
    out: dict[str, Any] = {}
    for key, q in rb.questions.items():
        value = values.get(key, MISSING)
        if value is MISSING or value is None:
            continue
        if (
            not keep_defaults
            and q.default is not None
            and value == q.default
            and type(value) is type(q.default)
        ):
            continue
        out[key] = value
    return out


def situation_plan(
    rb: RuleBase, comp: Component, domains: Mapping[str, Domain]
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Situations of the arithmetic component, yielded as (how, answers):

    - ``product``: every choice and every boundary value of the numbers the rules compare, the
      other numbers at their defaults;
    - ``flip:KEY``: each value where a computed yes/no device fact flips (KEY's flip points),
      over every choice with the other compared numbers at their min, default and max;
    - ``sweep:KEY``: each other value of a number only the arithmetic reads, over the same.
    """
    keys = comp.situation_questions
    fixed = {k: [domains[k].default] for k in keys if domains[k].role in ("secondary", "budget")}
    product = dict(fixed)
    extremes = dict(fixed)
    for key in keys:
        dom = domains[key]
        if dom.role == "primary":
            product[key] = dom.boundaries or dom.values
            extremes[key] = _extremes(rb.questions[key], dom)
    for values in assignments(rb, keys, domains, choose=product):
        yield "product", values
    for key in keys:
        dom = domains[key]
        if dom.role == "primary":
            others = [v for v in dom.values if not any(_same(v, b) for b in dom.boundaries)]
            how = f"flip:{key}"
        elif dom.role == "secondary":
            others = [v for v in dom.values if not _same(v, dom.default)]
            how = f"sweep:{key}"
        else:
            continue
        for value in others:
            choose = dict(extremes)
            choose[key] = [value]
            for values in assignments(rb, keys, domains, choose=choose):
                if values.get(key, MISSING) is MISSING:
                    continue  # the question is not asked here: these answers are in the product
                yield how, values


def _extremes(q: Question, dom: Domain) -> list[Any]:
    """A number's min, default and max (those of them it has), as the other values of a sweep."""
    wanted = [v for v in (q.default, q.min, q.max) if v is not None]
    out: list[Any] = []
    for value in dom.boundaries or dom.values:
        if (
            value is not MISSING
            and any(float(value) == float(w) for w in wanted)
            and value not in out
        ):
            out.append(value)
    if MISSING in dom.values:
        out.append(MISSING)
    return out or list(dom.values[:1])


def budget_variants(
    rb: RuleBase,
    comp: Component,
    domains: Mapping[str, Domain],
    base: Mapping[str, Any],
    key: str,
    values: list[Any],
) -> Iterator[dict[str, Any]]:
    """``base`` with the budget-like answer ``key`` at each of ``values``; the questions that only
    become asked then (the purchase mode) take every value."""
    keys = comp.situation_questions
    fixed_keys = [k for k in keys if base.get(k, MISSING) is not MISSING and k != key]
    choose: dict[str, list[Any]] = {k: [base[k]] for k in fixed_keys}
    choose[key] = values
    for k in keys:
        if k not in choose and domains[k].role in ("secondary", "budget"):
            choose[k] = [domains[k].default]
    yield from assignments(rb, keys, domains, choose=choose)
