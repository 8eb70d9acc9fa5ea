"""durable_rules' limits, as numbers the loader, the audit and the adapter share (issue 17).

Measured on durable_rules 2.0.28 (``tests/backends/test_durable_limits.py`` keeps the
measurement: each limit works just under it and fails, or hangs, just over it). They live here,
in the knowledge layer, so that the rule loader can refuse a rule the engine could not run at
the rule's ``path:line:col``, before anything calls durable_rules; ``backends/durable.py``
compiles around the limits it can (splitting wide ``any:`` lists, packing rules into several
rulesets) with the same numbers and helpers.

What each limit guards against:

- a node of durable's network with 512 branches below it never returns, and ignores Ctrl+C:
  512 rules of one stage, one ``$or`` of 512 alternatives (nested ones count together), or two
  rules of one stage with 256 alternatives each;
- 65 rules fired by one fact fail with error 303, 254 fields in one fact with error 302, and
  4,097 rules in one ruleset with error 106.

Only two limits reach a rule file: the fields one rule reads (a fact carrying them would be too
wide) and the parts a rule's ``any:``/``in`` lists split into. :func:`rule_limit_problems`
words them with what to do instead.
"""

from __future__ import annotations

from gpu_advisor.lang.conditions import All, AnyOf, Condition, Leaf, Not, refs, to_nnf

#: Branches below one node of durable's network: 512 never return. Each rule below the node is
#: a branch, and each alternative of its ``$or`` (nested ones counted together) is one more:
#: for us, the rules of one stage and the alternatives of their ``any:``/``in`` lists.
DURABLE_MAX_BRANCHES_PER_NODE = 511
#: Alternatives in one rule's ``$or``s (the same limit, seen from one rule).
DURABLE_MAX_OR_TERMS = DURABLE_MAX_BRANCHES_PER_NODE
#: Rules of one stage in one ruleset (the same limit, seen from a stage of one-branch rules).
DURABLE_MAX_RULES_PER_NODE = DURABLE_MAX_BRANCHES_PER_NODE
#: Rules one fact may fire at once: 65 fail with error 303.
DURABLE_MAX_RULES_FIRED_PER_FACT = 64
#: Fields in one fact (``sid`` and ``kind`` included): 254 fail with error 302.
DURABLE_MAX_FACT_FIELDS = 253
#: Rules in one ruleset (the session anchor included): 4,097 fail with error 106.
DURABLE_MAX_RULES_PER_RULESET = 4096
#: Answers and facts one rule may read (a context fact also carries sid, kind and stage).
MAX_FIELDS_PER_RULE = DURABLE_MAX_FACT_FIELDS - 3
#: Durable rules one rule may be split into to stay under :data:`DURABLE_MAX_OR_TERMS`.
MAX_PARTS_PER_RULE = 256
#: So ``any:`` and ``in`` lists up to this many alternatives compile (a loader may refuse more).
MAX_ALTERNATIVES_PER_RULE = MAX_PARTS_PER_RULE * DURABLE_MAX_OR_TERMS


def or_terms(cond: Condition) -> int:
    """The most alternatives any ``$or`` of the compiled condition holds (nested ones counted
    together, as durable_rules counts them); compare with :data:`DURABLE_MAX_OR_TERMS`."""
    if isinstance(cond, Leaf):
        return (
            len(cond.right) if cond.op in ("in", "not in") and isinstance(cond.right, tuple) else 0
        )
    if isinstance(cond, Not):
        return or_terms(cond.item)
    inner = max((or_terms(item) for item in cond.items), default=0)
    return max(inner, _leaf_terms(cond)) if isinstance(cond, AnyOf) else inner


def _leaf_terms(cond: Condition) -> int:
    if isinstance(cond, Leaf):
        return len(cond.right) if isinstance(cond.right, tuple) else 1
    if isinstance(cond, Not):
        return _leaf_terms(cond.item)
    return sum(_leaf_terms(item) for item in cond.items)


def split_alternatives(cond: Condition) -> list[Condition]:
    """``cond`` as a disjunction of parts whose ``$or``s stay within DURABLE_MAX_OR_TERMS (one
    part, the condition itself, when it already does). More than :data:`MAX_PARTS_PER_RULE`
    parts means the rule cannot be run; the list is then cut short just past that limit."""
    nnf = to_nnf(cond)
    if or_terms(nnf) <= DURABLE_MAX_OR_TERMS:
        return [cond]
    return _split(nnf)


def _split(cond: Condition) -> list[Condition]:
    if or_terms(cond) <= DURABLE_MAX_OR_TERMS:
        return [cond]
    if isinstance(cond, Leaf):
        assert isinstance(cond.right, tuple) and cond.op == "in"  # not in compiles to $and
        values = cond.right
        return [
            Leaf(cond.left, "in", values[i : i + DURABLE_MAX_OR_TERMS], cond.location, cond.text)
            for i in range(0, len(values), DURABLE_MAX_OR_TERMS)
        ]
    if isinstance(cond, AnyOf):
        pieces = [piece for item in cond.items for piece in _split(item)]
        groups: list[list[Condition]] = [[]]
        load = 0
        for piece in pieces:
            terms = _leaf_terms(piece)
            if groups[-1] and load + terms > DURABLE_MAX_OR_TERMS:
                groups.append([])
                load = 0
            groups[-1].append(piece)
            load += terms
        return [
            group[0] if len(group) == 1 else AnyOf(tuple(group), cond.location) for group in groups
        ]
    assert isinstance(cond, All)
    combined: list[tuple[Condition, ...]] = [()]
    for item in cond.items:
        combined = [done + (piece,) for done in combined for piece in _split(item)]
        if len(combined) > MAX_PARTS_PER_RULE:
            break
    return [All(items, cond.location) for items in combined]


def fields_read(cond: Condition) -> tuple[int, int]:
    """Distinct answers and facts, and distinct device attributes, a condition reads."""
    found = set(refs(cond))
    device = sum(1 for ref in found if ref.scope == "device")
    return len(found) - device, device


def rule_limit_problems(cond: Condition) -> list[str]:
    """Why durable_rules could not run a rule with this condition, each with what to do
    instead (none for every rule that compiles)."""
    problems: list[str] = []
    context, device = fields_read(cond)
    if max(context, device) > MAX_FIELDS_PER_RULE:
        what = "answers and facts" if context >= device else "device attributes"
        problems.append(
            f"reads {max(context, device)} different {what}; the rule engine takes at most "
            f"{MAX_FIELDS_PER_RULE} in one rule: split the rule, or derive an intermediate fact "
            "from some of them in a rule of its own"
        )
    parts = len(split_alternatives(cond))
    if parts > MAX_PARTS_PER_RULE:
        problems.append(
            f"its any: and in lists multiply out to more than {MAX_PARTS_PER_RULE} engine rules "
            f"(lists over {DURABLE_MAX_OR_TERMS} alternatives are split, and the splits of "
            "lists joined by all: multiply): split it into several rules, or derive a fact for "
            "each wide list in a rule of its own"
        )
    return problems
