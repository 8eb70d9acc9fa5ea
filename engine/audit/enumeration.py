"""The enumeration behind the audit's logic checks: every answer combination of the audited space,
evaluated without running a consultation per combination.

Why one module of this length: the context classes, the masks, the probes and the effects
recorded later (situations with the same effect counted together) are one enumeration loop's
state. The device facts themselves come from audit/facts.py.

For the component the arithmetic belongs to (audit_space), each *situation* (an assignment of
the answers the arithmetic reads, and of those compared with device facts) gets its device facts
computed once, and every device rule's *device part* is evaluated on them: one device mask per
rule. The component's other answers reach the rules only through the context (answers and
derived facts), so they are enumerated once per *context class*, the situations whose answers
make every context condition come out the same: each combination gives the derived facts and
the truth of every rule's *context part*, as a set of bits. A rule fires for a device exactly
when its context bit is set and the device is in its mask, so each (situation, context
combination) pair is decided without re-running anything.

What is kept: per rule and per explanation placeholder, the devices it ever fires for (or fires
for with the placeholder unset), how many combinations that is, and the first combination that
shows it; for exclusion and preference rules, the distinct *joint signatures* (the device mask of
each such rule, together) with their counts, which is what conflicts, redundancy and gaps need,
and for each signature how many of its combinations give each question each value (the gap
finding's "largest empty regions": which answers recommend nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gpu_advisor.audit.space import (
    Component,
    Domain,
    RuleFacts,
    assignments,
    computed_attribute,
    only_lookup,
)
from gpu_advisor.backends.python import Predicate, compile_condition, context_of
from gpu_advisor.core.consult import combine
from gpu_advisor.knowledge.rulebase import Rule, RuleBase
from gpu_advisor.lang.conditions import MISSING, Leaf, Ref, eval_leaf, leaves

Progress = Callable[[str, int, int | None], None]

Tally = dict[tuple[str, Any], int]
"""(question, value) -> how many combinations give the question that value."""


def tally_key(key: str, value: Any) -> tuple[str, Any]:
    """A hashable (question, value) pair: a list of devices becomes a tuple."""
    return (key, tuple(value) if isinstance(value, list) else value)


def add_tally(into: Tally, tally: Tally, times: int = 1) -> None:
    """`into` += `tally` x `times`."""
    for key, count in tally.items():
        into[key] = into.get(key, 0) + count * times


@dataclass
class Stat:
    """Where a rule (or a rule with an unset placeholder) fires: devices, count, an example."""

    mask: int = 0
    count: int = 0
    situation: dict[str, Any] | None = None
    context: dict[str, Any] | None = None

    def add(
        self, mask: int, count: int, situation: Mapping[str, Any], context: Mapping[str, Any] | None
    ) -> None:
        if not mask or not count:
            return
        self.mask |= mask
        self.count += count
        if self.situation is None:
            self.situation = dict(situation)
            self.context = dict(context or {})

    @property
    def answers(self) -> dict[str, Any] | None:
        if self.situation is None:
            return None
        return {**self.situation, **(self.context or {})}


@dataclass
class Probe:
    """A rule's firings with one placeholder of its explanation unset."""

    rule: Rule
    ref: Ref
    kind: (
        str  # device (a device fact) | context (an answer or fact) | external (computed elsewhere)
    )
    bit: int  # context bit gating it (the rule's own, or the placeholder's for context probes)
    stat: Stat = field(default_factory=Stat)


@dataclass
class SigInfo:
    count: int
    situation: dict[str, Any]
    context: dict[str, Any]
    values: Tally = field(default_factory=dict)

    @property
    def answers(self) -> dict[str, Any]:
        return {**self.situation, **self.context}


@dataclass
class KGroup:
    """Context combinations of one class that act alike on a situation (see _add_k_dependent)."""

    kkey: tuple[Any, ...]
    bits: int
    count: int
    combo: dict[str, Any]
    context: Tally


@dataclass
class Deferred:
    """Situations with one effect (see ComponentRun._add_k_dependent): the first one's answers,
    its masks, how many situations and the sum of their per-question tallies."""

    values: dict[str, Any]
    masks: list[int]
    k_masks: dict[tuple[Any, ...], tuple[int, ...]]
    unset: tuple[int, ...]
    tally: Tally
    situations: int = 1


@dataclass
class Conflict:
    kind: str  # fact-conflict | overridden
    fact: str
    rules: tuple[str, str]
    values: tuple[Any, Any]
    answers: dict[str, Any]
    count: int = 1


class ComponentRun:
    """Enumerates one component and keeps what the findings need."""

    def __init__(
        self,
        rb: RuleBase,
        comp: Component,
        analysis: Mapping[str, RuleFacts],
        domains: Mapping[str, Domain],
    ) -> None:
        self.rb = rb
        self.comp = comp
        self.domains = domains
        self.context_rules = [r for r in comp.rules if r.scope == "context"]
        self.device_rules = [r for r in comp.rules if r.scope == "device"]
        self.joint_rules = [r for r in self.device_rules if r.exclude or r.prefer is not None]
        self.when: dict[str, Predicate] = {
            r.id: compile_condition(r.when) for r in self.context_rules
        }
        situation = set(comp.situation_questions)
        self.k_dependent: set[str] = set()
        dev_preds: list[Predicate] = []
        ctx_preds: list[tuple[int, Predicate]] = []
        self.bits: dict[str, int] = {}
        for i, rule in enumerate(comp.rules):
            self.bits[rule.id] = i
        names: set[str] = set()
        ctx_keys: set[str] = set()
        for rule in self.device_rules:
            split = analysis[rule.id].split
            assert split is not None
            dev_preds.append(compile_condition(split.device))
            ctx_preds.append((self.bits[rule.id], compile_condition(split.context)))
            for ref in split.device_refs:
                if ref.scope == "device":
                    names.add(ref.name)
                else:
                    ctx_keys.add(f"{ref.scope}.{ref.name}")
                    fact = rb.facts.get(ref.name) if ref.scope == "fact" else None
                    if (ref.scope == "answer" and ref.name not in situation) or (
                        fact is not None and fact.kind != "computed"
                    ):
                        self.k_dependent.add(rule.id)
        self.dev_preds = dev_preds
        self.dev_ctx_preds = ctx_preds
        self.dev_names = sorted(names)
        self.dev_ctx_keys = sorted(ctx_keys)
        self.dev_index = {rule.id: j for j, rule in enumerate(self.device_rules)}
        self.probes: list[Probe] = []
        next_bit = len(comp.rules)
        for rule in comp.rules:
            for ref in analysis[rule.id].template_refs:
                computed = (ref.scope == "device" and computed_attribute(ref.name)) or (
                    ref.scope == "fact"
                    and rb.facts.get(ref.name) is not None
                    and rb.facts[ref.name].kind == "computed"
                )
                if computed and not comp.arithmetic:
                    self.probes.append(Probe(rule, ref, "external", self.bits[rule.id]))
                elif ref.scope == "device":
                    self.probes.append(Probe(rule, ref, "device", self.bits[rule.id]))
                else:
                    self.probes.append(Probe(rule, ref, "context", next_bit))
                    next_bit += 1
        self.by_stage: dict[int, list[Rule]] = {}
        for rule in self.context_rules:
            self.by_stage.setdefault(rule.stratum, []).append(rule)
        self.k_fact_names = sorted(
            {
                ref.name
                for rid in self.k_dependent
                for ref in analysis[rid].split.device_refs  # type: ignore[union-attr]
                if ref.scope == "fact"
            }
        )
        self.k_class_answers = sorted(
            {
                ref.name
                for rid in self.k_dependent
                for ref in analysis[rid].split.device_refs  # type: ignore[union-attr]
                if ref.scope == "answer" and ref.name not in situation
            }
        )
        self.k_rules = sorted((self.dev_index[rid], self.bits[rid]) for rid in self.k_dependent)
        self.class_keys = self._class_atoms(analysis)
        self.fact_defaults = {
            name: fact.default
            for name, fact in rb.facts.items()
            if fact.kind != "computed" and fact.default is not None
        }
        # results
        self.sc_index: dict[tuple[Any, ...], int] = {}
        self.ksets: list[dict[tuple[int, tuple[Any, ...]], list[Any]]] = []
        self.kany: list[int] = []
        self.kbit_count: list[dict[int, int]] = []
        self.kbit_combo: list[dict[int, dict[str, Any]]] = []
        self.sc_situations: list[int] = []
        self.sc_situation: list[dict[str, Any]] = []
        self.stats: dict[str, Stat] = {rule.id: Stat() for rule in comp.rules}
        self.pairs: dict[tuple[int, tuple[int, ...]], list[Any]] = {}
        self.sigs: dict[tuple[int, ...], SigInfo] = {}
        self.conflicts: dict[tuple[str, ...], Conflict] = {}
        self.context_evaluations = 0
        self.situations = 0
        self._dev_memo: dict[tuple[Any, ...], int] = {}
        self._kkeys: list[list[tuple[Any, ...]]] = []  # per class: each combination's k-key
        self._k_groups: dict[tuple[Any, ...], list[KGroup]] = {}
        self._deferred: dict[tuple[Any, ...], Deferred] = {}
        self._class_memo: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        self._device_probes: list[tuple[int, int, Probe]] = [
            (self.dev_index[p.rule.id], p.bit, p) for p in self.probes if p.rule.scope == "device"
        ]
        self._probe_names = sorted(
            {p.ref.name for _, _, p in self._device_probes if p.kind == "device"}
        )
        self._owned_bits = [1 << self.bits[rule.id] for rule in self.device_rules]
        for j, bit, _ in self._device_probes:  # a placeholder's own bit goes with its rule's mask
            self._owned_bits[j] |= 1 << bit

    # -- context classes ----------------------------------------------------------------------

    def _class_atoms(
        self, analysis: Mapping[str, RuleFacts]
    ) -> list[tuple[str, str, list[Leaf] | None]]:
        """For each situation answer or computed fact the context reads: the leaves that read it,
        or None when one compares it with something else than a literal (then its value itself
        is part of the class)."""
        rb = self.rb
        trees = [r.when for r in self.context_rules]
        trees += [analysis[r.id].split.context for r in self.device_rules]  # type: ignore[union-attr]
        trees += [rb.questions[k].ask_when for k in self.comp.class_questions]
        all_leaves = [leaf for tree in trees for leaf in leaves(tree)]
        probe_refs = {p.ref for p in self.probes if p.kind == "context"}
        keys: list[tuple[str, str, list[Leaf] | None]] = []
        names = [("answer", k) for k in self.comp.situation_questions]
        names += [("fact", f) for f, fact in rb.facts.items() if fact.kind == "computed"]
        for scope, name in names:
            ref = Ref(scope, name)
            found = [leaf for leaf in all_leaves if ref in set(leaf.refs())]
            if not found and ref not in probe_refs:
                continue
            unary = all(leaf.left == ref and not isinstance(leaf.right, Ref) for leaf in found)
            keys.append((scope, name, found if unary else None))
        return keys

    def class_key(self, values: Mapping[str, Any], computed: Mapping[str, Any]) -> tuple[Any, ...]:
        raw = tuple(
            (
                values.get(name, MISSING)
                if scope == "answer"
                else (computed.get(name) if found is None or found else computed.get(name) is None)
            )
            for scope, name, found in self.class_keys
        )
        memo = self._class_memo.get(raw)
        if memo is None:
            memo = self._class_memo[raw] = self._class_key(values, computed)
        return memo

    def _class_key(self, values: Mapping[str, Any], computed: Mapping[str, Any]) -> tuple[Any, ...]:
        key: list[Any] = []
        for scope, name, found in self.class_keys:
            value = values.get(name, MISSING) if scope == "answer" else computed.get(name, MISSING)
            if value is None:
                value = MISSING
            if found is None:
                key.append(("value", repr(value)))
                continue
            ref = Ref(scope, name)
            truth = tuple(eval_leaf(leaf, only_lookup(ref, value)) for leaf in found)
            key.append((value is MISSING, truth))
        return tuple(key)

    def kset_for(self, values: Mapping[str, Any], computed: Mapping[str, Any]) -> int:
        key = self.class_key(values, computed)
        index = self.sc_index.get(key)
        if index is None:
            index = len(self.ksets)
            self.sc_index[key] = index
            kset = self._context_combinations(values, computed)
            self.ksets.append(kset)
            any_bits = 0
            counts: dict[int, int] = {}
            combos: dict[int, dict[str, Any]] = {}
            for (bits, _), (count, combo, _) in kset.items():
                any_bits |= bits
                rest = bits
                while rest:
                    low = rest & -rest
                    bit = low.bit_length() - 1
                    counts[bit] = counts.get(bit, 0) + count
                    combos.setdefault(bit, combo)
                    rest ^= low
            self.kany.append(any_bits)
            self.kbit_count.append(counts)
            self.kbit_combo.append(combos)
            self.sc_situations.append(0)
            self.sc_situation.append(dict(values))
            self._kkeys.append(
                [
                    (tuple(combo.get(name, MISSING) for name in self.k_class_answers), kfacts)
                    for (_, kfacts), (_, combo, _) in kset.items()
                ]
            )
        return index

    def _context_combinations(
        self, values: Mapping[str, Any], computed: Mapping[str, Any]
    ) -> dict[tuple[int, tuple[Any, ...]], list[Any]]:
        rb = self.rb
        kset: dict[tuple[int, tuple[Any, ...]], list[Any]] = {}
        fixed = {k: v for k, v in values.items() if k in self.comp.situation_questions}
        class_questions = set(self.comp.class_questions)
        for combo in assignments(rb, self.comp.class_questions, self.domains, fixed=fixed):
            self.context_evaluations += 1
            facts = dict(self.fact_defaults)
            facts.update(computed)
            ctx = context_of(combo, facts)
            derived_by: dict[str, list[tuple[str, Any]]] = {}
            bits = 0
            for stage in sorted(self.by_stage):
                fired = [rule for rule in self.by_stage[stage] if self.when[rule.id](ctx, {})]
                for rule in fired:
                    bits |= 1 << self.bits[rule.id]
                    self._derive(rule, facts, derived_by, combo)
                if fired:
                    ctx = context_of(combo, facts)
            for bit, pred in self.dev_ctx_preds:
                if pred(ctx, {}):
                    bits |= 1 << bit
            for probe in self.probes:
                if (
                    probe.kind == "context"
                    and bits >> self.bits[probe.rule.id] & 1
                    and ctx.get(f"{probe.ref.scope}.{probe.ref.name}") is None
                ):
                    bits |= 1 << probe.bit
            kfacts = tuple(facts.get(name) for name in self.k_fact_names)
            slot = kset.get((bits, kfacts))
            if slot is None:
                slot = kset[(bits, kfacts)] = [
                    0,
                    {k: v for k, v in combo.items() if k in class_questions},
                    {},
                ]
            slot[0] += 1
            tally: Tally = slot[2]
            for key in self.comp.class_questions:
                pair = tally_key(key, combo.get(key, MISSING))
                tally[pair] = tally.get(pair, 0) + 1
        return kset

    def _derive(
        self,
        rule: Rule,
        facts: dict[str, Any],
        derived_by: dict[str, list[tuple[str, Any]]],
        combo: Mapping[str, Any],
    ) -> None:
        """The engine's derivation step (consult._apply_derivations), recording conflicts where
        the engine would stop or silently override."""
        for name, value in rule.derive.items():
            fact = self.rb.facts[name]
            earlier = derived_by.get(name, [])
            previous = facts.get(name) if earlier else None
            for other, other_value in earlier:
                if fact.combine == "or" and bool(other_value) != bool(value):
                    self._conflict("overridden", name, other, rule.id, other_value, value, combo)
                elif fact.combine == "agree" and other_value != value:
                    self._conflict("fact-conflict", name, other, rule.id, other_value, value, combo)
            facts[name] = combine(fact.combine, previous, value)
            derived_by.setdefault(name, []).append((rule.id, value))

    def _conflict(
        self,
        kind: str,
        fact: str,
        first: str,
        second: str,
        v1: Any,
        v2: Any,
        combo: Mapping[str, Any],
    ) -> None:
        key = (kind, fact, *sorted((first, second)))
        found = self.conflicts.get(key)
        if found is None:
            self.conflicts[key] = Conflict(kind, fact, (first, second), (v1, v2), dict(combo))
        else:
            found.count += 1

    # -- situations ---------------------------------------------------------------------------

    def device_masks(
        self, values: Mapping[str, Any], computed: Mapping[str, Any], attrs: list[dict[str, Any]]
    ) -> list[int]:
        """Per device rule (in order): the devices its device part holds for."""
        ctx = context_of(dict(values), dict(computed))
        ctx_key = tuple(ctx.get(k) for k in self.dev_ctx_keys)
        masks = [0] * len(self.device_rules)
        memo = self._dev_memo
        preds = self.dev_preds
        names = self.dev_names
        for i, dev in enumerate(attrs):
            key = (i, ctx_key, tuple(map(dev.get, names)))
            bits = memo.get(key)
            if bits is None:
                bits = 0
                for j, pred in enumerate(preds):
                    if pred(ctx, dev):
                        bits |= 1 << j
                memo[key] = bits
            while bits:
                low = bits & -bits
                masks[low.bit_length() - 1] |= 1 << i
                bits ^= low
        return masks

    def add_situation(
        self, values: dict[str, Any], computed: Mapping[str, Any], attrs: list[dict[str, Any]]
    ) -> tuple[int, list[int]]:
        """Evaluate the device parts on one situation and pair it with its context class."""
        self.situations += 1
        sc = self.kset_for(values, computed)
        self.sc_situations[sc] += 1
        masks = self.device_masks(values, computed, attrs)
        if self.k_dependent:
            self._add_k_dependent(sc, values, computed, attrs, masks)
            return sc, masks
        kany = self.kany[sc]
        counts = self.kbit_count[sc]
        combos = self.kbit_combo[sc]
        for j, rule in enumerate(self.device_rules):
            mask = masks[j]
            bit = self.bits[rule.id]
            if mask and kany >> bit & 1:
                self.stats[rule.id].add(mask, counts[bit], values, combos[bit])
        self._probe_stats(sc, values, attrs, masks, None)
        joint = tuple(masks[self.dev_index[r.id]] for r in self.joint_rules)
        slot = self.pairs.get((sc, joint))
        if slot is None:
            slot = self.pairs[(sc, joint)] = [0, values, {}]
        slot[0] += 1
        tally: Tally = slot[2]
        for key in self.comp.situation_questions:
            pair = tally_key(key, values.get(key, MISSING))
            tally[pair] = tally.get(pair, 0) + 1
        return sc, masks

    def _probe_stats(
        self,
        sc: int,
        values: dict[str, Any],
        attrs: list[dict[str, Any]],
        masks: list[int],
        only: tuple[int, dict[str, Any], int] | None,
        unset_of: dict[str, int] | None = None,
    ) -> None:
        """Placeholders of explanations: device rules whose figures are unset where they fire.
        ``unset_of`` (attribute -> devices where it is unset) is shared between calls for one
        situation."""
        kany = self.kany[sc] if only is None else only[0]
        if unset_of is None:
            unset_of = {}
        for j, bit, probe in self._device_probes:  # context rules' probes: per class, in finish()
            mask = masks[j]
            if not mask or not kany >> bit & 1:
                continue
            if probe.kind == "device":
                name = probe.ref.name
                unset = unset_of.get(name)
                if unset is None:
                    unset = 0
                    for i, dev in enumerate(attrs):
                        if dev.get(name) is None:
                            unset |= 1 << i
                    unset_of[name] = unset
                mask &= unset
            if not mask:
                continue
            if only is None:
                probe.stat.add(
                    mask, self.kbit_count[sc][probe.bit], values, self.kbit_combo[sc][probe.bit]
                )
            else:
                probe.stat.add(mask, only[2], values, only[1])

    def _add_k_dependent(
        self,
        sc: int,
        values: dict[str, Any],
        computed: Mapping[str, Any],
        attrs: list[dict[str, Any]],
        masks: list[int],
    ) -> None:
        """Device parts that read derived facts or context answers: per context combination of
        the class, or rather per group of combinations that come out the same here.

        A combination's effect depends only on its k-key (the derived facts and context answers
        those device parts read: they decide the masks of the k-dependent rules) and on which
        of its rule bits can matter (a rule whose mask is empty adds nothing). Combinations
        equal in both are one group: counts and context tallies summed, the first one's answers
        kept as the example, in the order of the first combination of each group, which gives
        the same counts and the same first examples as going through them one by one.

        Situations with the same effect (class, masks, k-masks and unset placeholders) are
        counted together and recorded once, in ``finish``: see :meth:`_flush_deferred`."""
        kkeys = self._kkeys[sc]
        k_masks: dict[tuple[Any, ...], tuple[int, ...]] = {}
        entries: list[tuple[tuple[int, tuple[Any, ...]], list[Any]]] | None = None
        for n, kkey in enumerate(kkeys):
            if kkey not in k_masks:
                if entries is None:
                    entries = list(self.ksets[sc].items())
                (_, kfacts), (_, combo, _) = entries[n]
                facts = dict(self.fact_defaults)
                facts.update(computed)
                facts.update(dict(zip(self.k_fact_names, kfacts)))
                ctx = context_of({**values, **combo}, facts)
                k_masks[kkey] = tuple(
                    sum(1 << i for i, dev in enumerate(attrs) if self.dev_preds[j](ctx, dev))
                    for j, _ in self.k_rules
                )
        unset = self._unset_masks(attrs)
        key = (sc, tuple(masks), tuple(k_masks.items()), unset)
        situation: Tally = {
            tally_key(name, values.get(name, MISSING)): 1 for name in self.comp.situation_questions
        }
        slot = self._deferred.get(key)
        if slot is None:
            self._deferred[key] = Deferred(values, masks, k_masks, unset, situation)
        else:
            slot.situations += 1
            add_tally(slot.tally, situation)

    def _unset_masks(self, attrs: list[dict[str, Any]]) -> tuple[int, ...]:
        """Per attribute an explanation of a device rule quotes: the devices where it is unset."""
        out = []
        for name in self._probe_names:
            unset = 0
            for i, dev in enumerate(attrs):
                if dev.get(name) is None:
                    unset |= 1 << i
            out.append(unset)
        return tuple(out)

    def _flush_deferred(self) -> None:
        """Record the situations of every effect, in the order each effect first occurred: its
        first situation's answers are the examples (as when recording situation by situation,
        since every situation with this effect gives the same firings), counts are times the
        situations, and each question's tally is the situations' tallies times the context
        combinations plus the context tallies times the situations."""
        for (sc, _, _, _), slot in self._deferred.items():
            masks, k_masks, values, times = slot.masks, slot.k_masks, slot.values, slot.situations
            relevant = self._relevant(masks, k_masks)
            kkeys = self._kkeys[sc]
            memo_key = (sc, relevant[0], tuple(relevant[1][k] for k in kkeys))
            groups = self._k_groups.get(memo_key)
            if groups is None:
                entries = list(self.ksets[sc].items())
                groups = self._k_groups[memo_key] = self._group(entries, kkeys, relevant[1])
            unset_of = dict(zip(self._probe_names, slot.unset))
            for group in groups:
                full = list(masks)
                for (j, _), mask in zip(self.k_rules, k_masks[group.kkey]):
                    full[j] = mask
                bits, count, combo = group.bits, group.count * times, group.combo
                for j, rule in enumerate(self.device_rules):
                    if full[j] and bits >> self.bits[rule.id] & 1:
                        self.stats[rule.id].add(full[j], count, values, combo)
                self._probe_stats(sc, values, [], full, (bits, combo, count), unset_of)
                joint = tuple(
                    full[self.dev_index[r.id]] if bits >> self.bits[r.id] & 1 else 0
                    for r in self.joint_rules
                )
                tally: Tally = {}
                add_tally(tally, group.context, times)
                add_tally(tally, slot.tally, group.count)
                self._record(joint, count, values, combo, tally)
        self._deferred.clear()

    def _relevant(
        self, masks: list[int], k_masks: Mapping[tuple[Any, ...], tuple[int, ...]]
    ) -> tuple[int, dict[tuple[Any, ...], int]]:
        """The rule and placeholder bits that can matter: those of rules whose mask is not
        empty (for the k-dependent rules, per k-key)."""
        owned = self._owned_bits
        k_index = {j for j, _ in self.k_rules}
        base = 0
        for j, mask in enumerate(masks):
            if mask and j not in k_index:
                base |= owned[j]
        relevant: dict[tuple[Any, ...], int] = {}
        for kkey, kmask in k_masks.items():
            bits = base
            for (j, _), mask in zip(self.k_rules, kmask):
                if mask:
                    bits |= owned[j]
            relevant[kkey] = bits
        return base, relevant

    @staticmethod
    def _group(
        entries: list[tuple[tuple[int, tuple[Any, ...]], list[Any]]],
        kkeys: list[tuple[Any, ...]],
        relevant: Mapping[tuple[Any, ...], int],
    ) -> list[KGroup]:
        """The class's combinations grouped by (k-key, the rule bits that can matter)."""
        found: dict[tuple[Any, ...], KGroup] = {}
        for ((bits, _), (count, combo, context)), kkey in zip(entries, kkeys):
            effective = bits & relevant[kkey]
            group = found.get((kkey, effective))
            if group is None:
                found[(kkey, effective)] = KGroup(kkey, effective, count, combo, dict(context))
            else:
                group.count += count
                add_tally(group.context, context)
        return list(found.values())

    def _record(
        self,
        sig: tuple[int, ...],
        count: int,
        values: dict[str, Any],
        combo: dict[str, Any],
        tally: Tally,
    ) -> None:
        info = self.sigs.get(sig)
        if info is None:
            self.sigs[sig] = SigInfo(count, values, combo, tally)
        else:
            info.count += count
            add_tally(info.values, tally)

    def finish(self) -> None:
        """Pair every situation with its context class's combinations; context rules' stats."""
        self._flush_deferred()
        bits_of = [self.bits[r.id] for r in self.joint_rules]
        for (sc, joint), (count, values, situations) in self.pairs.items():
            relevant = 0
            for bit, mask in zip(bits_of, joint):
                if mask:
                    relevant |= 1 << bit
            groups: dict[int, list[Any]] = {}
            for (bits, _), (kcount, combo, context) in self.ksets[sc].items():
                key = bits & relevant
                slot = groups.get(key)
                if slot is None:
                    groups[key] = [kcount, combo, dict(context)]
                else:
                    slot[0] += kcount
                    add_tally(slot[2], context)
            for bits, (kcount, combo, context) in groups.items():
                sig = tuple(mask if bits >> bit & 1 else 0 for bit, mask in zip(bits_of, joint))
                # This cell is every situation of the pair with every context combination of the
                # group: a situation value is counted once per context combination, and the
                # other way round.
                tally: Tally = {}
                add_tally(tally, situations, kcount)
                add_tally(tally, context, count)
                self._record(sig, count * kcount, values, combo, tally)
        self.pairs.clear()
        for sc in range(len(self.ksets)):
            times = self.sc_situations[sc]
            if not times:
                continue
            situation = self.sc_situation[sc]
            for rule in self.context_rules:
                bit = self.bits[rule.id]
                if self.kany[sc] >> bit & 1:
                    self.stats[rule.id].add(
                        1, times * self.kbit_count[sc][bit], situation, self.kbit_combo[sc][bit]
                    )
            for probe in self.probes:
                if (
                    probe.rule.scope == "context"
                    and probe.kind != "device"
                    and self.kany[sc] >> probe.bit & 1
                ):
                    probe.stat.add(
                        1,
                        times * self.kbit_count[sc][probe.bit],
                        situation,
                        self.kbit_combo[sc][probe.bit],
                    )
        self._dev_memo.clear()

    # -- reading results ----------------------------------------------------------------------

    def joint_index(self, rule_id: str) -> int:
        return [r.id for r in self.joint_rules].index(rule_id)

    def total(self) -> int:
        total = 0
        for sc, kset in enumerate(self.ksets):
            total += self.sc_situations[sc] * sum(slot[0] for slot in kset.values())
        return total

    def context_combinations(self) -> list[tuple[int, int, dict[str, Any], dict[str, Any]]]:
        """(bits, count, situation, context answers) for every context combination that occurs."""
        out = []
        for sc, kset in enumerate(self.ksets):
            times = self.sc_situations[sc]
            if not times:
                continue
            for (bits, _), (count, combo, _) in kset.items():
                out.append((bits, times * count, self.sc_situation[sc], combo))
        return out
