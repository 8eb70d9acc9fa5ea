"""How much answer space the logic audit walks before it refuses (issue 17).

The logic audit computes the arithmetic for every combination of the values the rules compare
the numbers with (``situation_plan``). Each literal a rule compares a number with adds a
boundary, and boundaries multiply: a rule with an ``any:`` of 600 ``model_params_b == N`` makes
the shipped audit's 17,368 situations about 200,000 (a quarter of an hour instead of a minute
and a half), and a few such rules make it run for days. Past :data:`MAX_SITUATIONS` the audit
stops before enumerating, at the rule that adds the most values, with what to do instead.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from gpu_advisor.audit.space import Component, Domain
from gpu_advisor.errors import FileError, FileErrors, Location
from gpu_advisor.knowledge.rulebase import RuleBase
from gpu_advisor.lang.conditions import Leaf, Ref, leaves

MAX_SITUATIONS = 100_000
"""Situations the logic audit enumerates at most: about 6 times the shipped rules' 17,368
(about 80 s on one core), so about 8 minutes at worst."""

Item = TypeVar("Item")


def bounded_plan(
    plan: Iterable[Item], rb: RuleBase, comp: Component, domains: Mapping[str, Domain]
) -> list[Item]:
    """The situations of ``plan``, or FileErrors at the rule that adds the most values to the
    widest number when there are more than :data:`MAX_SITUATIONS` (counted lazily: a plan of
    billions is refused after reading MAX_SITUATIONS + 1 of them)."""
    situations = list(itertools.islice(plan, MAX_SITUATIONS + 1))
    if len(situations) <= MAX_SITUATIONS:
        return situations
    key = max(comp.situation_questions, key=lambda k: len(_values(domains[k])))
    rule, count = _widest_rule(rb, key)
    message = (
        f"the logic audit would compute more than {MAX_SITUATIONS:,} combinations of answers: "
        f"the rules compare {key} with {len(_values(domains[key])):,} different values, "
        f"{count:,} of them here; compare it with a few thresholds (<, >=) instead of many "
        "single values"
    )
    where = rule.location if rule is not None else Location(str(rb.directory or "rules"))
    raise FileErrors([FileError(where, message)])


def _values(domain: Domain) -> list[Any]:
    return domain.boundaries or domain.values


def _literals(leaf: Leaf) -> int:
    return len(leaf.right) if isinstance(leaf.right, tuple) else 1


def _widest_rule(rb: RuleBase, key: str) -> tuple[Any, int]:
    """The rule whose conditions compare ``key`` with the most literal values."""
    ref = Ref("answer", key)
    best: tuple[Any, int] = (None, 0)
    for rule in rb.rules:
        count = sum(_literals(leaf) for leaf in leaves(rule.when) if ref in set(leaf.refs()))
        if count > best[1]:
            best = (rule, count)
    return best
