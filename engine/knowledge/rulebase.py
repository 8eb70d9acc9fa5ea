"""Load, validate and type-check the rule files: questions, facts, ranking and rules.

Why one module of this length: one loader collects every problem of every rule file in one
pass, so its checks share the collector and the declared names.

Every problem in every file is collected and reported at once as ``path:line:col: message``:
unknown names get a did-you-mean, values are checked against the type and choices of what they
are compared with, sources against the knowledge base's registry, and the fact dependency graph
must have no cycles (rules are run in strata: a rule runs after every rule that derives a fact it
reads, so that ``not fact.x`` means "x was not derived", never "not derived yet").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from gpu_advisor.errors import FileError, FileErrors, Location, UsageError, did_you_mean
from gpu_advisor.knowledge.answers import normalize_answers
from gpu_advisor.knowledge.claims import ClaimRecord
from gpu_advisor.knowledge.engine_limits import rule_limit_problems
from gpu_advisor.knowledge.kb import Knowledge, source_id
from gpu_advisor.knowledge.rules import (
    NOT_RULE_FILES,
    RESERVED_FILES,
    Claim,
    Example,
    Expectation,
    Fact,
    Metric,
    Preference,
    Question,
    Rule,
    RuleBase,
    shipped_rules_dir,
)
from gpu_advisor.knowledge.vocabulary import DEVICE_ATTRIBUTES, Attribute
from gpu_advisor.lang.conditions import (
    FORMAT_SPEC_HELP,
    SCOPES,
    TRUE,
    All,
    Condition,
    Leaf,
    Ref,
    format_spec_ok,
    leaves,
    parse_condition,
    placeholders,
    refs,
    to_nnf,
)

if TYPE_CHECKING:
    from pydantic import BaseModel

    from gpu_advisor.knowledge.rule_schema import QuestionsFile, RankingFile, RuleModel
    from gpu_advisor.knowledge.yamlio import Document

__all__ = [
    "Claim",
    "Example",
    "Expectation",
    "Fact",
    "Metric",
    "Preference",
    "Question",
    "Rule",
    "RuleBase",
    "load_rulebase",
    "shipped_rules_dir",
]

_NAME = r"^[a-z][a-z0-9_]*$"
Shape = TypeVar("Shape", bound="BaseModel")


class _Collector:
    """Accumulates errors across files; the loader keeps going to report them all."""

    def __init__(self) -> None:
        self.errors: list[FileError] = []

    def add(self, location: Location, message: str) -> None:
        self.errors.append(FileError(location, message))


def load_rulebase(rules_dir: Path | str | None, knowledge: Knowledge) -> RuleBase:
    """Load every rule file of a folder; raise FileErrors listing every problem found."""
    from gpu_advisor.knowledge.rule_schema import (
        QuestionsFile,
        RankingFile,
        RuleModel,
        RulesFileHeader,
    )
    from gpu_advisor.knowledge.yamlio import iter_yaml_files, load_yaml

    base = Path(rules_dir) if rules_dir is not None else shipped_rules_dir()
    out = _Collector()
    if not base.is_dir():
        raise FileErrors([FileError(Location(str(base)), "rules folder not found")])
    docs: dict[str, Document] = {}
    for name in RESERVED_FILES:
        try:
            docs[name] = load_yaml(base / name)
        except FileErrors as exc:
            out.errors.extend(exc.errors)
    facts = _load_facts(docs.get("facts.yaml"), out)
    questions_raw = _shape(docs.get("questions.yaml"), QuestionsFile, out)
    ranking_raw = _shape(docs.get("ranking.yaml"), RankingFile, out)

    # questions first (without conditions) so that conditions can be checked against them
    questions: dict[str, Question] = {}
    qdoc = docs.get("questions.yaml")
    if questions_raw is not None and qdoc is not None:
        for i, q in enumerate(questions_raw.questions):
            where = qdoc.location(("questions", i))
            if q.key in questions:
                out.add(qdoc.location(("questions", i, "key")), f"duplicate question key {q.key!r}")
                continue
            questions[q.key] = Question(
                q.key,
                q.prompt,
                q.type,
                q.help,
                q.group,
                tuple(q.choices),
                dict(q.choice_help),
                q.min,
                q.max,
                q.unit,
                q.default,
                TRUE,
                where,
            )
    checker = _Checker(questions, facts, knowledge, out)
    if questions_raw is not None and qdoc is not None:
        _finish_questions(qdoc, questions_raw, questions, checker, out)

    rules: list[Rule] = []
    topics: dict[str, str] = {}
    seen_ids: dict[str, Location] = {}
    for path in iter_yaml_files(base):
        if path.name in RESERVED_FILES or path.name in NOT_RULE_FILES:
            continue
        try:
            doc = load_yaml(path)
        except FileErrors as exc:
            out.errors.extend(exc.errors)
            continue
        header = _shape(doc, RulesFileHeader, out)
        if header is None:
            continue
        if header.topic in topics:
            out.add(doc.location(("topic",)), f"topic {header.topic!r} is used by two files")
        topics[header.topic] = header.title
        for i, entry in enumerate(header.rules):
            raw_id = entry.get("id") if isinstance(entry, dict) else None
            if isinstance(raw_id, str):  # duplicates are found even in rules that fail to build
                if raw_id in seen_ids:
                    out.add(
                        doc.location(("rules", i)),
                        f"duplicate rule id {raw_id!r} (first at {seen_ids[raw_id]})",
                    )
                seen_ids.setdefault(raw_id, doc.location(("rules", i)))
            model = _shape_part(doc, RuleModel, entry, ("rules", i), out)
            if model is None:
                continue
            rule = _build_rule(doc, ("rules", i), model, header.topic, checker, out)
            if rule is not None:
                rules.append(rule)

    metrics, priorities, ease, rank_sources = _finish_ranking(
        docs.get("ranking.yaml"), ranking_raw, questions, knowledge, out
    )
    emphasis = dict(ranking_raw.emphasis) if ranking_raw is not None else {}
    rdoc = docs.get("ranking.yaml")
    for fact_name, weights in emphasis.items():
        if rdoc is None:
            break
        if fact_name not in facts or facts[fact_name].type != "bool":
            out.add(
                rdoc.key_location(("emphasis", fact_name)),
                f"emphasis: {fact_name!r} is not a bool fact{did_you_mean(fact_name, facts)}",
            )
        for metric in weights:
            if metric not in metrics:
                out.add(
                    rdoc.key_location(("emphasis", fact_name, metric)),
                    f"unknown metric {metric!r}{did_you_mean(metric, metrics)}",
                )
    rules, strata = _stratify(rules, facts, out)
    if out.errors:
        raise FileErrors(out.errors)
    claims: tuple[ClaimRecord, ...] = ()
    claims_file = knowledge.directory / "claims.yaml"
    if claims_file.is_file():
        from gpu_advisor.knowledge.catalogs import load_claim_records

        claims = tuple(load_claim_records(claims_file))
    rulebase = RuleBase(
        knowledge,
        questions,
        facts,
        rules,
        metrics,
        priorities,
        ease,
        emphasis,
        rank_sources,
        topics,
        base,
        strata,
        claims,
    )
    from gpu_advisor.knowledge.tables import load_levers, load_order, table_problems

    rulebase.order, rulebase.levers = load_order(base), load_levers(base)
    if (knowledge.directory / "demand.yaml").is_file() or (
        knowledge.directory / "devices"
    ).is_dir():
        from gpu_advisor.knowledge.catalogs import load_demand_defaults

        rulebase.demand = load_demand_defaults(knowledge.directory)
        from gpu_advisor.knowledge.systems import load_systems

        rulebase.systems = load_systems(knowledge.directory)
    problems = table_problems(rulebase)
    if problems:
        raise FileErrors(problems)
    return rulebase


def _shape(doc: Document | None, model: type[Shape], out: _Collector) -> Shape | None:
    """A whole rule file validated against its schema (pydantic is imported only when loading)."""
    from gpu_advisor.knowledge.schema import validate_document

    return None if doc is None else validate_document(doc, model, out.errors)


def _shape_part(
    doc: Document, model: type[Shape], data: Any, key: tuple[str | int, ...], out: _Collector
) -> Shape | None:
    """Validate one part of a file (one rule), reporting errors at their place in the file."""
    from gpu_advisor.knowledge.schema import validate_part

    return validate_part(doc, model, data, out.errors, key)


def _load_facts(doc: Document | None, out: _Collector) -> dict[str, Fact]:
    from gpu_advisor.knowledge.rule_schema import FactsFile

    parsed = _shape(doc, FactsFile, out)
    facts: dict[str, Fact] = {}
    if parsed is None or doc is None:
        return facts
    for name, model in parsed.facts.items():
        where = doc.location(("facts", name))
        if not re.match(_NAME, name):
            out.add(
                doc.key_location(("facts", name)), f"fact name {name!r} must be lower_snake_case"
            )
        combine = model.combine or {"bool": "or", "number": "max", "string": "agree"}[model.type]
        default = model.default
        if model.kind != "computed" and default is None and model.type == "bool":
            default = False
        if default is not None and not _type_ok(model.type, default):
            out.add(
                doc.location(("facts", name, "default")),
                f"default {default!r} is not a {model.type}",
            )
        facts[name] = Fact(
            name,
            model.type,
            model.kind,
            model.description,
            default,
            tuple(model.choices),
            model.unit,
            combine,
            where,
        )
    return facts


def _type_ok(kind: str, value: Any) -> bool:
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    return True


class _Checker:
    """Resolves references and checks literal values against what they are compared with."""

    def __init__(
        self,
        questions: dict[str, Question],
        facts: dict[str, Fact],
        knowledge: Knowledge,
        out: _Collector,
    ) -> None:
        self.questions = questions
        self.facts = facts
        self.knowledge = knowledge
        self.out = out

    def describe(self, ref: Ref) -> tuple[str, tuple[str, ...]] | None:
        """(type, choices) of a reference, or None when unknown."""
        if ref.scope == "answer" and ref.name in self.questions:
            q = self.questions[ref.name]
            return q.value_type, q.choices
        if ref.scope == "fact" and ref.name in self.facts:
            f = self.facts[ref.name]
            return f.type, f.choices
        if ref.scope == "device" and ref.name in DEVICE_ATTRIBUTES:
            a: Attribute = DEVICE_ATTRIBUTES[ref.name]
            choices = a.choices or (tuple(self.knowledge.devices) if a.name == "id" else ())
            return a.type, choices
        return None

    def known_names(self, scope: str) -> list[str]:
        if scope == "answer":
            return list(self.questions)
        if scope == "fact":
            return list(self.facts)
        return list(DEVICE_ATTRIBUTES)

    def check_ref(
        self, ref: Ref, where: Location, allow_device: bool
    ) -> tuple[str, tuple[str, ...]] | None:
        if ref.scope == "device" and not allow_device:
            self.out.add(where, f"{ref} used where no device is in scope")
            return None
        found = self.describe(ref)
        if found is None:
            hint = did_you_mean(ref.name, self.known_names(ref.scope))
            self.out.add(where, f"unknown {ref.scope} {ref.name!r}{hint}")
            return None
        if found[0] == "list":
            self.out.add(where, f"{ref} is a list of device ids; rules cannot compare it")
            return None
        return found

    def check_condition(self, cond: Condition, allow_device: bool) -> None:
        for leaf in leaves(cond):
            self.check_leaf(leaf, allow_device)

    def check_leaf(self, leaf: Leaf, allow_device: bool) -> None:
        where = leaf.location
        left = self.check_ref(leaf.left, where, allow_device)
        if isinstance(leaf.right, Ref):
            right = self.check_ref(leaf.right, where, allow_device)
            if left and right:
                if left[0] != right[0]:
                    self.out.add(
                        where,
                        f"cannot compare {leaf.left} ({left[0]}) with {leaf.right} ({right[0]})",
                    )
                if leaf.left.scope != "device" and leaf.right.scope != "device":
                    self.out.add(
                        where,
                        f"{leaf}: compare an answer or fact with a value, or a device "
                        "fact with an answer or fact",
                    )
            return
        if left is None or leaf.op in ("set", "not set"):
            return
        kind, choices = left
        values = leaf.right if isinstance(leaf.right, tuple) else (leaf.right,)
        for value in values:
            self.check_value(leaf.left, kind, choices, value, where)
        if kind in ("bool", "string") and leaf.op in ("<", "<=", ">", ">="):
            self.out.add(where, f"{leaf.left} is a {kind}: use == or != (or in), not {leaf.op}")

    def check_value(
        self, ref: Ref, kind: str, choices: tuple[str, ...], value: Any, where: Location
    ) -> None:
        if not _type_ok(kind, value):
            self.out.add(where, f"{ref} is a {kind}; {value!r} is not")
        elif kind == "string" and choices and value not in choices:
            hint = did_you_mean(str(value), choices)
            self.out.add(
                where, f"{value!r} is not a value of {ref}{hint}; accepted: {', '.join(choices)}"
            )

    def check_template(self, text: str, where: Location, allow_device: bool) -> None:
        for placeholder in placeholders(text):
            if not placeholder.dotted:
                self.out.add(
                    where,
                    f"placeholder {{{placeholder.text}}} must name answer.X, fact.X or device.X",
                )
                continue
            if placeholder.scope not in SCOPES:
                self.out.add(
                    where,
                    f"placeholder {{{placeholder.text}}}: unknown scope {placeholder.scope!r}"
                    f"{did_you_mean(placeholder.scope, SCOPES)}",
                )
                continue
            if not format_spec_ok(placeholder.spec):
                self.out.add(
                    where,
                    f"placeholder {{{placeholder.text}}}: format {placeholder.spec!r} is not "
                    f"accepted; use {FORMAT_SPEC_HELP}",
                )
                continue
            self.check_ref(placeholder.ref, where, allow_device)

    def check_sources(self, sources: list[str], doc: Document, key: tuple[str | int, ...]) -> None:
        for i, citation in enumerate(sources):
            registry_id = source_id(citation)
            if registry_id not in self.knowledge.sources:
                hint = did_you_mean(registry_id, self.knowledge.sources)
                self.out.add(doc.location(key + (i,)), f"unknown source {registry_id!r}{hint}")

    def check_answers(
        self, answers: Mapping[str, Any], doc: Document, key: tuple[str | int, ...]
    ) -> None:
        for name in answers:
            if name not in self.questions:
                self.out.add(
                    doc.key_location(key + (name,)),
                    f"unknown answer {name!r}{did_you_mean(name, self.questions)}",
                )
        known = {k: v for k, v in answers.items() if k in self.questions}
        try:
            normalize_answers(self.questions, known, self.knowledge, strict_unasked=False)
        except UsageError as exc:
            self.out.add(doc.location(key), f"example answers: {exc}")


def _finish_questions(
    doc: Document,
    raw: QuestionsFile,
    questions: dict[str, Question],
    checker: _Checker,
    out: _Collector,
) -> None:
    order = list(questions)
    for i, q in enumerate(raw.questions):
        if q.key not in questions or questions[q.key].location != doc.location(("questions", i)):
            continue
        key = ("questions", i)
        question = questions[q.key]
        if q.type == "choice" and not q.choices:
            out.add(doc.location(key), f"question {q.key!r} of type choice needs choices")
        if (
            q.type in ("number", "integer")
            and q.min is not None
            and q.max is not None
            and q.min > q.max
        ):
            out.add(doc.location(key + ("min",)), "min is greater than max")
        if q.default is not None:
            problem = _default_problem(question, q.default)
            if problem:
                out.add(doc.location(key + ("default",)), problem)
        ask_when: Condition = TRUE
        if q.ask_when is not None:
            ask_when = parse_condition(
                q.ask_when, doc.location, key + ("ask_when",), lambda k: k in doc.quoted, out.errors
            )
            checker.check_condition(ask_when, allow_device=False)
            for ref in refs(ask_when):
                if ref.scope != "answer":
                    out.add(doc.location(key + ("ask_when",)), "ask_when may only use answers")
                elif ref.name in order and order.index(ref.name) >= order.index(q.key):
                    out.add(
                        doc.location(key + ("ask_when",)),
                        f"ask_when uses {ref}, which is asked later; order questions so that "
                        "a question depends only on earlier ones",
                    )
        questions[q.key] = replace(question, ask_when=ask_when)


def _default_problem(q: Question, value: Any) -> str | None:
    if q.type == "choice":
        return None if value in q.choices else f"default {value!r} is not one of the choices"
    if q.type == "boolean":
        return None if isinstance(value, bool) else "default must be true or false"
    if q.type in ("number", "integer"):
        if not _type_ok("number", value):
            return f"default {value!r} is not a number"
        if (q.min is not None and value < q.min) or (q.max is not None and value > q.max):
            return f"default {value} is outside {q.min}..{q.max}"
    return None


def _build_rule(
    doc: Document,
    key: tuple[str | int, ...],
    model: RuleModel,
    topic: str,
    checker: _Checker,
    out: _Collector,
) -> Rule | None:
    where = doc.location(key)
    errors_before = len(out.errors)
    when: Condition = TRUE
    if model.when is not None:
        when = parse_condition(
            model.when, doc.location, key + ("when",), lambda k: k in doc.quoted, out.errors
        )
    then = model.then
    derive: dict[str, Any] = dict(then.derive or {})
    required = [then.require] if isinstance(then.require, str) else list(then.require or [])
    for name in required:
        fact = checker.facts.get(name)
        if fact is None:
            out.add(
                doc.location(key + ("then", "require")),
                f"unknown fact {name!r}{did_you_mean(name, checker.facts)}",
            )
        elif fact.kind != "requirement" or fact.type != "bool":
            out.add(
                doc.location(key + ("then", "require")),
                f"require: {name!r} must be a bool fact of kind requirement",
            )
        derive[name] = True
    for name, value in (then.derive or {}).items():
        fact = checker.facts.get(name)
        loc = doc.key_location(key + ("then", "derive", name))
        if fact is None:
            out.add(loc, f"unknown fact {name!r}{did_you_mean(name, checker.facts)}")
        elif fact.kind == "computed":
            out.add(loc, f"{name!r} is computed by the arithmetic; rules cannot derive it")
        elif not _type_ok(fact.type, value):
            out.add(loc, f"{name} is a {fact.type}; {value!r} is not")
        elif fact.choices and value not in fact.choices:
            out.add(
                loc,
                f"{value!r} is not a value of fact {name}{did_you_mean(str(value), fact.choices)}",
            )
    device_scoped = bool(then.exclude or then.prefer) or any(
        r.scope == "device" for r in refs(when)
    )
    if device_scoped and derive:
        out.add(
            doc.location(key + ("then",)),
            "a rule about devices cannot derive facts; split it in two",
        )
    if not (derive or then.exclude or then.prefer or then.warn):
        out.add(
            doc.location(key + ("then",)),
            "then: concludes nothing (derive, require, exclude, prefer or warn)",
        )
    if then.exclude is False:
        out.add(
            doc.location(key + ("then", "exclude")), "exclude: false concludes nothing; remove it"
        )
    checker.check_condition(when, allow_device=device_scoped)
    for problem in rule_limit_problems(when):  # durable_rules could not run it (issue 17)
        out.add(doc.location(key + ("when",)), f"too large for the rule engine: {problem}")
    if device_scoped:
        _check_join_shape(when, out)
    checker.check_template(model.because, doc.location(key + ("because",)), device_scoped)
    if then.warn:
        checker.check_template(then.warn, doc.location(key + ("then", "warn")), device_scoped)
    if then.prefer and then.prefer.claim and then.prefer.claim.metric not in DEVICE_ATTRIBUTES:
        out.add(
            doc.location(key + ("then", "prefer", "claim", "metric")),
            f"unknown device fact {then.prefer.claim.metric!r}"
            f"{did_you_mean(then.prefer.claim.metric, DEVICE_ATTRIBUTES)}",
        )
    checker.check_sources(model.sources, doc, key + ("sources",))
    examples = []
    for j, ex in enumerate(model.examples):
        ekey = key + ("examples", j)
        checker.check_answers(ex.answers, doc, ekey + ("answers",))
        for name in (
            list(ex.expect.fires_for)
            + list(ex.expect.not_for)
            + list(ex.expect.excluded)
            + list(ex.expect.recommended)
            + ([ex.expect.top] if ex.expect.top else [])
        ):
            if name not in checker.knowledge.devices:
                out.add(
                    doc.location(ekey + ("expect",)),
                    f"unknown device {name!r}{did_you_mean(name, checker.knowledge.devices)}",
                )
        for name in ex.expect.facts:
            if name not in checker.facts:
                out.add(
                    doc.location(ekey + ("expect", "facts")),
                    f"unknown fact {name!r}{did_you_mean(name, checker.facts)}",
                )
        e = ex.expect
        expect = Expectation(
            e.fires,
            tuple(e.fires_for),
            tuple(e.not_for),
            dict(e.facts),
            e.top,
            tuple(e.excluded),
            tuple(e.recommended),
        )
        examples.append(
            Example(ex.name or f"example {j + 1}", dict(ex.answers), expect, doc.location(ekey))
        )
    if len(out.errors) != errors_before:
        return None
    prefer = None
    if then.prefer is not None:
        claim = then.prefer.claim
        prefer = Preference(then.prefer.points, Claim(claim.metric, claim.best) if claim else None)
    return Rule(
        model.id,
        topic,
        model.description,
        when,
        derive,
        bool(then.exclude),
        prefer,
        then.warn,
        model.because,
        tuple(model.sources),
        tuple(examples),
        model.severity,
        where,
        doc.path,
        "device" if device_scoped else "context",
    )


def _check_join_shape(when: Condition, out: _Collector) -> None:
    """Device rules join one context fact with one device fact. Each top-level part of the
    condition must be about the context only or about the device; a comparison of a device fact
    with an answer or fact must stand at the top level (not under any:/not:), because the
    engine can compare against the context only when the context value exists."""
    nnf = to_nnf(when)
    items = nnf.items if isinstance(nnf, All) else (nnf,)
    for part in items:
        if isinstance(part, Leaf):
            continue
        part_leaves = list(leaves(part))
        if not any(r.scope == "device" for leaf in part_leaves for r in leaf.refs()):
            continue
        for leaf in part_leaves:
            scopes = {r.scope == "device" for r in leaf.refs()}
            if scopes == {True, False}:
                out.add(
                    leaf.location,
                    f"{leaf}: a comparison between a device fact and an answer or "
                    "fact must stand at the top level of the condition (not inside "
                    "any: or not:); write the opposite comparison instead of not:",
                )
            elif scopes == {False}:
                out.add(
                    leaf.location,
                    f"{leaf}: an any:/not: mixes device facts with answers or facts; "
                    "split it into two rules or move the answer test out of it",
                )


def _finish_ranking(
    doc: Document | None,
    raw: RankingFile | None,
    questions: dict[str, Question],
    knowledge: Knowledge,
    out: _Collector,
) -> tuple[dict[str, Metric], dict[str, dict[str, float]], dict[str, float], tuple[str, ...]]:
    if raw is None or doc is None:
        return {}, {}, {}, ()
    metrics: dict[str, Metric] = {}
    for name, m in raw.metrics.items():
        if m.attribute not in DEVICE_ATTRIBUTES and m.attribute != "deployment_ease":
            out.add(
                doc.location(("metrics", name, "attribute")),
                f"unknown device fact {m.attribute!r}"
                f"{did_you_mean(m.attribute, DEVICE_ATTRIBUTES)}",
            )
        metrics[name] = Metric(name, m.better, m.description, m.attribute)
    priority_q = questions.get("priority")
    for name, weights in raw.priorities.items():
        if priority_q is not None and name not in priority_q.choices:
            out.add(
                doc.key_location(("priorities", name)),
                f"priority {name!r} is not a choice of the priority question"
                f"{did_you_mean(name, priority_q.choices)}",
            )
        for metric in weights:
            if metric not in metrics:
                out.add(
                    doc.key_location(("priorities", name, metric)),
                    f"unknown metric {metric!r}{did_you_mean(metric, metrics)}",
                )
    if priority_q is not None:
        for choice in priority_q.choices:
            if choice not in raw.priorities:
                out.add(doc.location(("priorities",)), f"no weights for priority {choice!r}")
    for setting in raw.setting_ease:
        if setting not in DEVICE_ATTRIBUTES["setting"].choices:
            out.add(doc.key_location(("setting_ease", setting)), f"unknown setting {setting!r}")
    for i, citation in enumerate(raw.sources):
        if source_id(citation) not in knowledge.sources:
            out.add(doc.location(("sources", i)), f"unknown source {citation!r}")
    return metrics, raw.priorities, raw.setting_ease, tuple(raw.sources)


def _stratify(rules: list[Rule], facts: dict[str, Fact], out: _Collector) -> tuple[list[Rule], int]:
    """Order rules into strata by the facts they read and derive; report cycles.

    A context rule's stratum is one more than the highest stratum of the rules deriving a fact
    it reads; device rules all run last. (Plain Kahn-style relaxation: networkx would cost the
    command line a quarter of a second of import time.)
    """
    derivers: dict[str, list[Rule]] = {}
    for rule in rules:
        for name in rule.derive:
            derivers.setdefault(name, []).append(rule)

    def reads_from(rule: Rule) -> list[Rule]:
        return [
            d for ref in rule.reads() if ref.scope == "fact" for d in derivers.get(ref.name, [])
        ]

    level: dict[str, int] = {}
    visiting: list[str] = []

    def visit(rule: Rule) -> int:
        if rule.id in level:
            return level[rule.id]
        if rule.id in visiting:
            cycle = visiting[visiting.index(rule.id) :] + [rule.id]
            raise _Cycle(rule, cycle)
        visiting.append(rule.id)
        deps = [visit(d) for d in reads_from(rule)]
        visiting.pop()
        level[rule.id] = (max(deps) + 1) if deps else 0
        return level[rule.id]

    try:
        for rule in rules:
            if rule.scope == "context":
                visit(rule)
    except _Cycle as cycle:
        out.add(
            cycle.rule.location, "rules depend on each other in a cycle: " + " -> ".join(cycle.path)
        )
        return rules, 1
    final = (max(level.values()) + 1) if level else 0
    staged = [
        # replace() copies the fields only, not what a rule has cached (its reads, its conclusion)
        replace(rule, stratum=final if rule.scope == "device" else level[rule.id])
        for rule in rules
    ]
    return staged, final + 1


class _Cycle(Exception):
    def __init__(self, rule: Rule, path: list[str]) -> None:
        super().__init__(path)
        self.rule = rule
        self.path = path


# ---------------------------------------------------------------------------------------------
# The same checker over declared names (for rule files outside the rule base: rules/hardware/)


class VocabularyChecker(_Checker):
    """The rule checker, with the names of each scope declared as attributes instead of taken
    from questions, facts and device attributes: files evaluated outside the engine (the hardware
    checks) get the same condition, placeholder and source checks, with the same errors."""

    def __init__(
        self,
        vocabulary: Mapping[str, Mapping[str, Attribute]],
        knowledge: Knowledge,
        errors: list[FileError],
    ) -> None:
        out = _Collector()
        out.errors = errors  # report into the caller's list, in file order
        super().__init__({}, {}, knowledge, out)
        self.vocabulary = vocabulary

    def describe(self, ref: Ref) -> tuple[str, tuple[str, ...]] | None:
        attribute = self.vocabulary.get(ref.scope, {}).get(ref.name)
        return None if attribute is None else (attribute.type, attribute.choices)

    def known_names(self, scope: str) -> list[str]:
        return list(self.vocabulary.get(scope, {}))
