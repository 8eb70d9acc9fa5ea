"""WHAT WOULD CHANGE IT: a search over the changes a buyer controls (``rules/levers.yaml``).

Single changes first, then pairs (at most ``search.max_pairs``), each tried by re-consulting
through the consultation's own ``reconsult``. Three questions are answered from the same tries:
for each excluded device, the smallest set of changes that brings it back (the cheapest such
purchase among sets of that size); for each device ranked below the first, what would put it
first; and, when nothing fits, the cheapest ways to make something fit. A step that sets an
answer to what one device needs (the budget to its cost) is tried once at the most generous
value, then refined to that device's own need and tried again, so every suggestion reports the
rank and cost of a consultation of exactly its answers: applying it gives what it promised.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import combinations
from typing import TYPE_CHECKING, Any

from gpu_advisor.arithmetic.context import ARITHMETIC_ANSWERS, SCALE_FACTS
from gpu_advisor.core.explanations import AnswerChange, Changes, GivesUp, Suggestion, SuggestionKind
from gpu_advisor.core.results import lookup_in
from gpu_advisor.errors import UsageError
from gpu_advisor.knowledge.tables import Lever, Levers, Step, load_levers
from gpu_advisor.knowledge.vocabulary import DEVICE_ATTRIBUTES
from gpu_advisor.lang.conditions import (
    MISSING,
    All,
    AnyOf,
    Condition,
    Leaf,
    eval_leaf,
    leaves,
    to_nnf,
)

if TYPE_CHECKING:
    from gpu_advisor.core.results import Consultation
    from gpu_advisor.knowledge.rulebase import Question, Rule

PUT_FIRST = 4
"""Devices ranked 2..PUT_FIRST+1 are searched for what would put them first (the five a report
shows)."""


@dataclass(frozen=True)
class _Move:
    """One step of one lever, resolved against the current answers."""

    lever: Lever
    step: Step
    index: int  # position among all moves (lever order)
    step_index: int  # position among its lever's moves (0: the mildest)
    value: Any  # the value tried (for device steps: the most generous one)

    def change(self, before: Any, value: Any | None = None) -> AnswerChange:
        return AnswerChange(
            self.lever.answer,
            _plain(before),
            _plain(self.value if value is None else value),
            self.lever.id,
        )

    def gives_up(self) -> GivesUp:
        return GivesUp(self.lever.answer, self.step.gives_up.text, self.step.gives_up.source)


@dataclass
class _Try:
    moves: tuple[_Move, ...]
    values: tuple[Any, ...]
    ranked: list[tuple[str, float]]  # (device, cost) best first
    needs: dict[str, dict[str, Any]]  # device -> attributes the device steps read
    partial: bool = False  # screened on some devices only: ranks need a full try
    ranks_first: bool = True  # screened on the devices a device must beat to come first
    still: dict[str, frozenset[str]] = field(default_factory=dict)
    """Device -> the excluding rules recorded for it in this try (a verdict records one reason
    for a device ruled out on its count)."""


def search(consultation: Consultation) -> Changes:
    """The suggestions for every device that has one, in the order they are shown."""
    with _collector_paused():
        return _search(consultation)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection during the search: its dozens of re-consultations allocate
    enough to set off full collections of a large heap (a rule base of 220 devices), which took
    half the search's time; what the search leaves behind is collected afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _search(consultation: Consultation) -> Changes:
    rb = consultation.rulebase
    table = _table(consultation)
    raw = {k: v for k, v in consultation.answers.values.items()}
    moves = list(_moves(consultation, _applying(consultation, table)))
    excluded = [d for d in consultation.devices if d in consultation.all_exclusions]
    ranked_now = [r.device for r in consultation.recommendations]
    first_cost = consultation.recommendations[0].cost_usd if consultation.recommendations else None
    tries: list[_Try] = []
    cache: dict[tuple[Any, ...], _Try | None] = {}

    def attempt(
        chosen: tuple[_Move, ...], values: tuple[Any, ...], only: list[str] | None = None
    ) -> _Try | None:
        """Consult with these changes; ``only`` restricts the candidates (a screening try: whether
        a device is excluded depends on it alone, but its rank needs every device)."""
        if only is not None and set(only) >= set(consultation.devices):
            # screened on every candidate: the full try (whose answers, when the buyer named the
            # candidates, are the same, and whose cached result must not be a screening's)
            only = None
        answers = dict(raw)
        for move, value in zip(chosen, values, strict=True):
            answers[move.lever.answer] = value
        if only is not None:
            answers["candidates"] = only
        key = tuple(sorted((k, repr(v)) for k, v in answers.items()))
        if key in cache:
            return cache[key]
        try:
            other = (
                consultation.reconsult(answers, {}, words=False)
                if only is not None
                else _full_try(consultation, answers, still_out({m.lever.answer for m in chosen}))
            )
        except UsageError:
            cache[key] = None
            return None
        attrs = {m.step.value for m in chosen if m.step.kind == "device"}
        result = _Try(
            chosen,
            values,
            [(r.device, r.cost_usd) for r in other.recommendations],
            {d: {name: a.get(name) for name in attrs} for d, a in other.devices.items()},
            partial=only is not None,
            ranks_first=only is None,
            still={d: frozenset(e.rule for e in ex) for d, ex in other.all_exclusions.items()},
        )
        cache[key] = result
        return result

    def brought_back() -> set[str]:
        return {d for t in tries for d, _ in t.ranked if d in consultation.all_exclusions}

    # A device comes back only when every rule that excludes it stops firing, and a rule stops
    # only when an answer it can read changes: what each excluded device's rules can read.
    each_rule: dict[str, set[str]] = {}
    by_rules: dict[tuple[str, ...], tuple[set[str], list[set[str]]]] = {}
    reach: dict[str, set[str]] = {}  # answers some excluding rule reads
    per_rule: dict[str, list[set[str]]] = {}  # what each excluding rule reads
    for d in excluded:
        ids = tuple(sorted({e.rule for e in consultation.all_exclusions[d]}))
        if ids not in by_rules:
            for i in ids:
                if i not in each_rule:
                    each_rule[i] = relevant_answers(consultation, [rb.rule(i)])
            by_rules[ids] = (set().union(*(each_rule[i] for i in ids)), [each_rule[i] for i in ids])
        reach[d], per_rule[d] = by_rules[ids]

    def can_return(device: str, answers: set[str]) -> bool:
        return all(reads & answers for reads in per_rule[device])

    def still_out(changed: set[str]) -> set[str]:
        """Excluded devices some excluding rule of which reads none of the changed answers:
        that rule still fires, so the change cannot bring them back."""
        if "candidates" in changed:
            return set()
        return {d for d in excluded if not can_return(d, changed)}

    # a lever's mildest step is screened on the devices that can gain (the excluded ones its
    # answer can bring back) and those they must beat to come first (the first few shown); its
    # harsher steps only on the excluded devices its milder steps did not bring back; every
    # suggestion is re-tried in full
    top = ranked_now[: 1 + PUT_FIRST]
    back_by: dict[str, set[str]] = {}
    for move in moves:
        done = back_by.setdefault(move.lever.id, set())
        answer = {move.lever.answer}
        returnable = [d for d in excluded if d not in done and can_return(d, answer)]
        if move.lever.answer == "candidates":
            only: list[str] | None = None  # the move names its own devices
        elif move.step_index == 0:
            only = returnable + top  # every candidate: attempt makes it the full try
        else:
            only = returnable
        if only is not None and not only:
            continue
        result = attempt((move,), (move.value,), only=only)
        if result is not None:
            result.ranks_first = move.step_index == 0
            tries.append(result)
            done |= {d for d, _ in result.ranked if d in consultation.all_exclusions}
    # pairs only for excluded devices no single change brings back (putting a device first
    # takes one change or none: a pair would be a different purchase, not a nudge), only of
    # levers that can touch the rules that exclude such a device, and screened on those devices
    # first the pairs whose changes, tried alone, each left a device out by rules the other
    # did not (each may clear what the other cannot), then the rest, mildest first
    alone = {t.moves[0].index: t.still for t in tries if len(t.moves) == 1}
    waiting_now = set(excluded) - brought_back()

    def complementary(a: _Move, b: _Move) -> bool:
        left_a, left_b = alone.get(a.index, {}), alone.get(b.index, {})
        return any(d in left_a and d in left_b and not left_a[d] & left_b[d] for d in waiting_now)

    pairs = 0
    candidates = [
        (a, b) for a, b in combinations(moves, 2) if a.lever.answer != b.lever.answer
    ]  # two moves of one answer are one move: the second value would win
    candidates.sort(key=lambda pair: (not complementary(*pair), pair[0].index + pair[1].index))
    for a, b in candidates:
        waiting = set(excluded) - brought_back()
        if pairs >= table.max_pairs or not waiting:
            break
        both = {a.lever.answer, b.lever.answer}
        reached = [d for d in excluded if d in waiting and both <= reach[d] and can_return(d, both)]
        if not reached:
            continue
        pairs += 1
        own = "candidates" in both  # a move that names its own devices is never screened
        result = attempt((a, b), (a.value, b.value), only=None if own else reached)
        if result is not None:
            tries.append(result)

    found: Changes = {}
    for device in excluded:
        best = _best_try(tries, device, first_only=False)
        if best is not None:
            suggestion = _suggest(
                consultation, raw, best, device, attempt, first_cost, "brings back"
            )
            if suggestion is not None:
                found[device] = [suggestion]
    if not consultation.recommendations:
        found = _cheapest_fits(consultation, raw, tries, attempt, found, table.max_suggestions)
    for device in ranked_now[1 : 1 + PUT_FIRST]:
        best = _best_try(tries, device, first_only=True)
        if best is not None:
            suggestion = _suggest(
                consultation, raw, best, device, attempt, first_cost, "puts first"
            )
            if suggestion is not None and suggestion.rank == 1:
                found.setdefault(device, []).append(suggestion)
    return found


def _full_try(
    consultation: Consultation, answers: dict[str, Any], still_out: set[str]
) -> Consultation:
    """The consultation of these answers over every candidate, less the devices a rule that the
    change cannot reach still excludes: nothing of theirs is worked out, and nothing else
    changes, since a device's facts depend on the answers and the device alone and the ranking
    only on the devices that remain. Only the scale facts (``SCALE_FACTS``) are worked out over
    the candidates; when a rule that reads one could fire whatever its value, every device is
    consulted instead."""
    if still_out:
        fewer = dict(answers)
        fewer["candidates"] = [d for d in consultation.devices if d not in still_out]
        other = consultation.reconsult(fewer, {}, words=False)
        if not _scale_facts_could_decide(other):
            return other
    return consultation.reconsult(answers, {}, words=False)


def _scale_facts_could_decide(consultation: Consultation) -> bool:
    """Whether a rule that reads a scale fact could fire in this consultation for some value of
    the scale facts: its condition in negation normal form, each leaf about a scale fact taken as
    true (the condition can only be as true as that). When none could, no rule that reads them
    fired, so every derived fact, and every device's verdict, is the same whatever candidates
    the scale facts were worked out over."""
    rb = consultation.rulebase
    look = lookup_in(consultation.answers, consultation.facts, {})

    def could_hold(cond: Condition) -> bool:
        if isinstance(cond, Leaf):
            if any(ref.scope == "fact" and ref.name in SCALE_FACTS for ref in cond.refs()):
                return True
            return eval_leaf(cond, look)
        if isinstance(cond, All):
            return all(could_hold(item) for item in cond.items)
        if isinstance(cond, AnyOf):
            return any(could_hold(item) for item in cond.items)
        return True  # a negation (none is left in negation normal form): no claim

    for rule in rb.rules:
        if not any(ref.scope == "fact" and ref.name in SCALE_FACTS for ref in rule.reads()):
            continue
        if rule.scope == "device" or could_hold(to_nnf(rule.when)):
            return True
    return False


def relevant_answers(consultation: Consultation, rules: list[Rule]) -> set[str]:
    """Answers that can change whether these rules fire: read directly, through the facts they
    read (and the rules deriving those), through computed device facts, or by deciding whether
    such a question is asked."""
    rb = consultation.rulebase
    answers: set[str] = set()
    seen: set[str] = set()
    pending = list(rules)
    while pending:
        rule = pending.pop()
        if rule.id in seen:
            continue
        seen.add(rule.id)
        for ref in rule.reads():
            if ref.scope == "answer":
                answers.add(ref.name)
            elif ref.scope == "fact":
                fact = rb.facts.get(ref.name)
                if fact is not None and fact.kind == "computed":
                    answers |= set(ARITHMETIC_ANSWERS)
                pending.extend(rb.derivers(ref.name))
            elif (
                DEVICE_ATTRIBUTES.get(ref.name) and DEVICE_ATTRIBUTES[ref.name].origin == "computed"
            ):
                answers |= set(ARITHMETIC_ANSWERS)
    gates = {
        ref.name
        for key in answers
        for leaf in leaves(rb.questions[key].ask_when)
        for ref in leaf.refs()
        if key in rb.questions
    }
    return answers | gates


def _best_try(tries: list[_Try], device: str, first_only: bool) -> _Try | None:
    """The try with the fewest changes under which the device is recommended (first, when
    ``first_only``); among those, the mildest steps (each lever lists its steps mildest first),
    then the cheapest purchase of the device, then lever order."""
    fits = []
    for t in tries:
        if first_only and not t.ranks_first:
            continue
        devices = [d for d, _ in t.ranked]
        if device in devices and (not first_only or devices[0] == device):
            cost = dict(t.ranked)[device]
            fits.append((len(t.moves), sum(m.step_index for m in t.moves), cost, t))
    if not fits:
        return None
    return min(fits, key=lambda f: f[:3])[3]


def _suggest(
    consultation: Consultation,
    raw: dict[str, Any],
    best: _Try,
    device: str,
    attempt: Any,
    first_cost: float | None,
    kind: SuggestionKind,
) -> Suggestion | None:
    """The suggestion for ``device`` from a try: device steps refined to the device's own need
    and re-tried; the rank and cost reported are those of the consultation of exactly these
    answers."""
    values = list(best.values)
    refined = False
    for i, move in enumerate(best.moves):
        if move.step.kind == "device":
            need = _need(move, best.needs.get(device, {}).get(move.step.value), consultation)
            if need is not None and need != values[i]:
                values[i] = need
                refined = True
    result: _Try | None = best
    if refined or best.partial:
        retried = attempt(best.moves, tuple(values))
        if retried is not None and _placed(retried, device, kind):
            result = retried
        elif best.partial:
            values = list(best.values)
            result = attempt(best.moves, tuple(values))
        else:
            values = list(best.values)
    if result is None or result.partial or not _placed(result, device, kind):
        return None
    devices = [d for d, _ in result.ranked]
    cost = dict(result.ranked)[device]
    changes = tuple(
        move.change(raw.get(move.lever.answer), value)
        for move, value in zip(result.moves, values, strict=True)
    )
    return Suggestion(
        device=device,
        kind=kind,
        changes=changes,
        cost_usd=cost,
        cost_change_usd=None if first_cost is None else round(cost - first_cost, 2),
        rank=devices.index(device) + 1,
        of=len(devices),
        gives_up=tuple(move.gives_up() for move in result.moves),
    )


def _cheapest_fits(
    consultation: Consultation,
    raw: dict[str, Any],
    tries: list[_Try],
    attempt: Any,
    found: Changes,
    limit: int,
) -> Changes:
    """When nothing fits: the cheapest ways to make something fit (the first device of each try
    that recommends one, cheapest first, at most ``limit``), then, for each other excluded
    device, the smallest change that brings it back."""
    ways: list[Suggestion] = []
    seen: set[tuple[str, float, frozenset[str]]] = set()
    firsts = sorted(
        (t for t in tries if t.ranked),
        key=lambda t: (t.ranked[0][1], len(t.moves), sum(m.step_index for m in t.moves)),
    )
    for t in firsts:
        suggestion = _suggest(consultation, raw, t, t.ranked[0][0], attempt, None, "makes it fit")
        if suggestion is None:
            continue
        # the same purchase by a harsher step of the same levers (FP4 where FP8 does) is no new way
        key = (
            suggestion.device,
            suggestion.cost_usd,
            frozenset(c.lever for c in suggestion.changes),
        )
        if key in seen:
            continue
        seen.add(key)
        ways.append(suggestion)
    ways.sort(key=lambda s: (s.cost_usd, len(s.changes)))
    result: Changes = {}
    for suggestion in ways[:limit]:
        result.setdefault(suggestion.device, []).append(suggestion)
    for device, items in found.items():
        result.setdefault(device, items)
    return result


def _placed(result: _Try, device: str, kind: SuggestionKind) -> bool:
    devices = [d for d, _ in result.ranked]
    return device in devices and (kind != "puts first" or devices[0] == device)


def _need(move: _Move, value: Any, consultation: Consultation) -> Any:
    """The answer a device needs for a device step: its cost as a budget (whole dollars, up),
    its facility power as the site's limit (tenths of a kW, up)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    question = consultation.rulebase.questions[move.lever.answer]
    need = math.ceil(value) if move.lever.answer == "budget_usd" else math.ceil(value * 10) / 10
    return _clamp(question, need)


# ---------------------------------------------------------------------------------------------
# The moves a consultation allows


def _moves(consultation: Consultation, levers: list[Lever]) -> Iterator[_Move]:
    """Every step of these levers that applies to these answers, in lever order."""
    rb = consultation.rulebase
    index = 0
    for lever in levers:
        question = rb.questions[lever.answer]  # the loader refuses a lever with no question
        current = consultation.answers.get(lever.answer)
        position = 0
        for step in lever.steps:
            value = _value(consultation, question, lever, step, current)
            if value is None or value is MISSING or value == current:
                continue
            yield _Move(lever, step, index, position, value)
            index += 1
            position += 1


def levers_for(consultation: Consultation) -> list[str]:
    """The levers the search tries for this consultation's workload, by id, in lever order (what
    "no change you control" covers)."""
    return [lever.id for lever in _applying(consultation, _table(consultation))]


def _table(consultation: Consultation) -> Levers:
    rb = consultation.rulebase
    return rb.levers if rb.levers is not None else load_levers(rb.directory)


def _applying(consultation: Consultation, table: Levers) -> list[Lever]:
    """The levers of the table for this consultation's workload, in lever order."""
    workload = consultation.answers.get("workload")
    return [lever for lever in table.levers if not lever.workloads or workload in lever.workloads]


def _value(
    consultation: Consultation, question: Question, lever: Lever, step: Step, current: Any
) -> Any:
    if step.kind == "to":
        if current is MISSING:
            return None  # the question is not asked given the other answers
        if lever.only_after:
            if current not in lever.only_after or step.value not in lever.only_after:
                return None
            if lever.only_after.index(step.value) <= lever.only_after.index(current):
                return None
        if question.type == "choice" and step.value not in question.choices:
            return None
        return step.value
    if step.kind == "times":
        if not isinstance(current, (int, float)) or isinstance(current, bool):
            return None
        return _clamp(question, current * float(step.value))
    if step.kind == "device":
        if not isinstance(current, (int, float)) or isinstance(current, bool):
            return None  # no limit set: nothing to raise
        needs = [
            a.get(step.value)
            for d, a in consultation.devices.items()
            if d in consultation.all_exclusions
        ]
        numbers = [n for n in needs if isinstance(n, (int, float)) and not isinstance(n, bool)]
        if not numbers or max(numbers) <= current:
            return None
        need = (
            math.ceil(max(numbers))
            if lever.answer == "budget_usd"
            else math.ceil(max(numbers) * 10) / 10
        )
        return _clamp(question, need)
    if step.kind == "other_editions":
        if not isinstance(current, list):
            return None
        kb = consultation.rulebase.knowledge
        families = {kb.devices[d].family for d in current}
        extra = [
            d for d, device in kb.devices.items() if device.family in families and d not in current
        ]
        return list(current) + extra if extra else None
    return None


def _clamp(question: Question, value: float) -> Any:
    if question.min is not None and value < question.min:
        value = question.min
    if question.max is not None and value > question.max:
        value = question.max
    if question.type == "integer":
        return round(value)
    return int(value) if float(value).is_integer() else value


def _plain(value: Any) -> Any:
    if value is MISSING:
        return None
    if isinstance(value, list):
        return list(value)
    return value


__all__ = ["PUT_FIRST", "levers_for", "relevant_answers", "search"]
