"""The one place that touches durable_rules: compile parsed rules to its JSON and run sessions.

Why one module of this length: it is the only importer of durable_rules, by design (one
adapter to audit and replace); its compile step and its session step share the limits below.

What the adapter guards against (see docs/engine.md):
- the global ``with ruleset()`` DSL registers names process-wide; we build rulesets from data on
  a Host of our own, one per rule base, with a unique ruleset name;
- ``Host.__init__`` starts timer threads that call into the C engine in the background; our Host
  does not start them, and every engine call holds one process-wide lock (the engine is not
  thread-safe; the TUI runs consultations in worker threads);
- exceptions raised in actions are swallowed into the session state: our actions never raise
  (they only record), and the state is checked after every assertion anyway;
- at most 1,024 sessions may be open: each consultation has its own session id and its state is
  deleted in a ``finally`` block;
- a batch containing a fact no rule observes is rejected whole, so facts are asserted one by one;
- a comparison with a field the other fact lacks is an engine error (code 311), so cross-fact
  comparisons sit at the top level of a rule and the context side requires the field to exist;
- deleting the state of a session in which no fact ever matched a rule crashes the process
  (segfault), so every ruleset has an anchor rule and every session starts with its fact.

Limits of durable_rules 2.0.28, measured on this machine (tests/backends/test_durable_limits.py
keeps the measurement; the constants live in ``knowledge/engine_limits.py``, where the loader
checks rule files against them), and how the adapter stays inside them (issue 17):
- a node of its network with 512 branches below it never returns, and ignores Ctrl+C: 512
  rules of one stage, one ``$or`` of 512 alternatives (nested ones count together), or two
  rules of one stage with 256 alternatives each. A wide ``any:`` or ``in`` list is split into
  several durable rules with the same action (their duplicate firings are dropped), at most
  :data:`DURABLE_MAX_OR_TERMS` alternatives each, and rules are packed into rulesets so that no
  stage of a ruleset has more than :data:`DURABLE_MAX_BRANCHES_PER_NODE` branches;
- 65 rules fired by one fact fail with error 303, 254 fields in one fact with error 302, and
  4,096 rules in one ruleset with error 106: rules are packed into as many rulesets as needed
  (one, for the shipped rules), and a fact carries only the fields its ruleset reads when the
  whole fact would be too wide;
- its JSON parser rejects a number in exponent notation without a decimal point (``1e+16``,
  ``1e-05``: error 204) and misreads integers beyond 64 bits: numbers are written as
  ``1.0e+16``, and huge integers as floats, in every JSON text handed to it;
- a comparison of two fields of the same fact (two device attributes) refers to the fact itself
  (``$m``) instead of failing with error 311.
What cannot be compiled around (a rule that reads too many fields, or splits into too many
parts) is refused before durable_rules is called, with a :class:`DurableLimitError` that says
what to do instead; the loader and the audit can check the same constants first.

(Over 600 lines because the limits belong next to the compiler they constrain.)
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Self

import durable.engine as durable_engine
import durable_rules_engine as _engine

from gpu_advisor.errors import EngineError

# The limits live in the knowledge layer, where the loader checks rule files against them; the
# adapter re-exports them (``as`` marks a re-export) for the code and tests that read them here.
from gpu_advisor.knowledge.engine_limits import (
    DURABLE_MAX_BRANCHES_PER_NODE as DURABLE_MAX_BRANCHES_PER_NODE,
)
from gpu_advisor.knowledge.engine_limits import DURABLE_MAX_FACT_FIELDS as DURABLE_MAX_FACT_FIELDS
from gpu_advisor.knowledge.engine_limits import DURABLE_MAX_OR_TERMS as DURABLE_MAX_OR_TERMS
from gpu_advisor.knowledge.engine_limits import (
    DURABLE_MAX_RULES_FIRED_PER_FACT as DURABLE_MAX_RULES_FIRED_PER_FACT,
)
from gpu_advisor.knowledge.engine_limits import (
    DURABLE_MAX_RULES_PER_NODE as DURABLE_MAX_RULES_PER_NODE,
)
from gpu_advisor.knowledge.engine_limits import (
    DURABLE_MAX_RULES_PER_RULESET as DURABLE_MAX_RULES_PER_RULESET,
)
from gpu_advisor.knowledge.engine_limits import (
    MAX_ALTERNATIVES_PER_RULE as MAX_ALTERNATIVES_PER_RULE,
)
from gpu_advisor.knowledge.engine_limits import MAX_FIELDS_PER_RULE as MAX_FIELDS_PER_RULE
from gpu_advisor.knowledge.engine_limits import MAX_PARTS_PER_RULE as MAX_PARTS_PER_RULE
from gpu_advisor.knowledge.engine_limits import or_terms as or_terms
from gpu_advisor.knowledge.engine_limits import split_alternatives as _split_alternatives
from gpu_advisor.lang.conditions import (
    FLIPPED,
    MISSING,
    All,
    Condition,
    Leaf,
    Not,
    Ref,
    refs,
    to_nnf,
)


class DurableLimitError(EngineError):
    """A rule base durable_rules cannot run, refused before it is handed over (it would hang)."""


class _DurableJson:
    """``json`` as durable_rules' engine module uses it, writing numbers its C parser reads:
    a float in exponent notation gets a decimal point (``1.0e+16``), an integer past 64 bits
    becomes a float, and a non-finite number is an error instead of a parse failure."""

    loads = staticmethod(json.loads)
    JSONDecodeError = json.JSONDecodeError

    @staticmethod
    def dumps(obj: Any, **kwargs: Any) -> str:
        text = json.dumps(obj, **kwargs)
        # Rewriting the text costs more than the rest of a consultation: do it only when a
        # number in the object would be spelled in a way durable's parser rejects.
        return durable_json_text(text) if _has_awkward_number(obj) else text


def _has_awkward_number(obj: Any) -> bool:
    """Whether a float Python prints in exponent notation (or not finite), or an integer past
    64 bits, stands anywhere in ``obj`` (strings do not count: they stay as they are)."""
    stack = [obj]
    while stack:
        item = stack.pop()
        kind = type(item)  # exact types first: this runs on every fact of every consultation
        if kind is str or kind is bool or item is None:
            continue
        if kind is dict:
            stack.extend(item.values())
        elif kind is list or kind is tuple:
            stack.extend(item)
        elif isinstance(item, float):
            if not math.isfinite(item) or (item != 0 and not 1e-4 <= abs(item) < 1e16):
                return True
        elif isinstance(item, int):
            if not -(2**63) <= item < 2**63:
                return True
        elif isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return False


_SUSPECT = re.compile(r"\d[eE]|\d{19}|Infinity|NaN")
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|-?Infinity|NaN|-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?')


def _number_token(match: re.Match[str]) -> str:
    token = match.group(0)
    if token.startswith('"'):
        return token
    if token.endswith(("Infinity", "NaN")):
        raise ValueError(f"durable_rules cannot compare the non-finite number {token}")
    if "e" in token or "E" in token:
        mantissa, _, exponent = token.replace("E", "e").partition("e")
        return (mantissa if "." in mantissa else mantissa + ".0") + "e" + exponent
    if "." not in token and not -(2**63) <= int(token) < 2**63:
        value = float(int(token))  # OverflowError past a float's range
        if not math.isfinite(value):  # pragma: no cover - float() raised first
            raise ValueError(f"durable_rules cannot hold the integer {token}")
        return _number_token(_TOKEN.match(repr(value)))  # type: ignore[arg-type]
    return token


def durable_json_text(text: str) -> str:
    """JSON text with every number spelled the way durable_rules' parser reads it."""
    if not _SUSPECT.search(text):
        return text
    try:
        return _TOKEN.sub(_number_token, text)
    except OverflowError:
        raise ValueError("durable_rules cannot hold an integer beyond a float's range") from None


# durable.engine serializes every ruleset and fact with the module-level ``json``; this adapter
# is its only user, so its number spelling is fixed here, once.
durable_engine.json = _DurableJson  # type: ignore[assignment]

_ENGINE_LOCK = threading.RLock()
_ruleset_counter = itertools.count(1)
_session_counter = itertools.count(1)
_NOT_HANDLED, _OBSERVED = 1, 2  # assert_fact's status: no rule looks at it; asserted before
_NEVER: dict[str, Any] = {"$nex": {"kind": 1}}
ANCHOR_RULE = "__session__"
ANCHOR: dict[str, Any] = {"all": [{"m": {"kind": "session"}}], "run": ANCHOR_RULE}
_OPS = {"<": "$lt", "<=": "$lte", ">": "$gt", ">=": "$gte", "!=": "$neq"}


def context_field(ref: Ref) -> str:
    """Field name of an answer or fact inside the context fact."""
    return ("a__" if ref.scope == "answer" else "f__") + ref.name


class Firing(NamedTuple):
    """A rule's action ran: which rule, at which stage, on which device (if any). A named tuple:
    a consultation of 220 devices records about a thousand."""

    rule_id: str
    stage: int
    device_id: str | None


_DEVICE_ID = re.compile(r'"id"\s*:\s*"((?:[^"\\]|\\.)*)"')


def _read_action(text: str, actions: Mapping[str, str]) -> tuple[str, str | None]:
    """The rule and device of one action message, read without parsing the whole message.

    A message is ``{"<rule>": {"ctx": {...}, "dev": {...}}}`` holding every field of the facts
    that matched; parsing it took most of a consultation's time. The rule is its first key, and
    the device is the ``id`` of the device fact: the only key spelled ``"id"`` (context fields
    carry prefixes), and a ``"`` inside a JSON string is always escaped, so ``"id":`` cannot
    be read out of a value. Anything unusual falls back to ``json.loads``."""
    name = text[2 : text.find('"', 2)]
    at = text.find('"id":"')  # durable writes no spaces: a plain search, else the pattern's
    if at >= 0:
        start = at + 6
        device: str | None = text[start : text.find('"', start)]
    else:
        found = _DEVICE_ID.search(text)
        device = found.group(1) if found else None
    if name not in actions or (device is not None and "\\" in device):
        ((name, message),) = json.loads(text).items()
        member = message.get("dev") if isinstance(message, dict) else None
        device = member.get("id") if isinstance(member, dict) else None
    return actions[name], device


def compile_member(cond: Condition, ref_member: str | None = None) -> dict[str, Any] | None:
    """durable_rules JSON for a condition in negation normal form (None means always true)."""
    if isinstance(cond, Leaf):
        return _compile_leaf(cond, ref_member)
    if isinstance(cond, Not):  # pragma: no cover - to_nnf removed every Not
        raise EngineError("internal: condition not in negation normal form")
    parts = [compile_member(item, ref_member) for item in cond.items]
    if isinstance(cond, All):
        kept = [p for p in parts if p is not None]
        if not kept:
            return None
        return kept[0] if len(kept) == 1 else {"$and": kept}
    if not parts:
        return _NEVER
    if any(p is None for p in parts):
        return None
    return parts[0] if len(parts) == 1 else {"$or": parts}


def _field(ref: Ref) -> str:
    return ref.name if ref.scope == "device" else context_field(ref)


def _compile_leaf(leaf: Leaf, ref_member: str | None) -> dict[str, Any]:
    left, op, right = leaf.left, leaf.op, leaf.right
    if isinstance(right, Ref) and (left.scope == "device") == (right.scope == "device"):
        # two fields of one fact: durable refers to the fact itself as $m (a member name would
        # look the field up in another fact: error 311); a missing field never matches
        self_ref: Any = {"$m": _field(right)}
        compare = {_field(left): self_ref} if op == "==" else {_OPS[op]: {_field(left): self_ref}}
        return {"$and": [{"$ex": {_field(left): 1}}, {"$ex": {_field(right): 1}}, compare]}
    if isinstance(right, Ref):
        if left.scope != "device":  # keep the device field on the left, as durable needs
            left, right, op = right, left, FLIPPED[op]
        assert isinstance(right, Ref)
        target: Any = {ref_member or "ctx": _field(right)}
        return {_field(left): target} if op == "==" else {_OPS[op]: {_field(left): target}}
    name = _field(left)
    if op == "set":
        return {"$ex": {name: 1}}
    if op == "not set":
        return {"$nex": {name: 1}}
    if op in ("in", "not in"):
        assert isinstance(right, tuple)
        if op == "in":
            options = [{name: v} for v in right]
            return options[0] if len(options) == 1 else {"$or": options}
        excluded = [{"$neq": {name: v}} for v in right]
        return excluded[0] if len(excluded) == 1 else {"$and": excluded}
    if op == "==":
        return {name: right}
    return {_OPS[op]: {name: right}}


def _split_device_condition(cond: Condition) -> tuple[list[Condition], list[Condition], list[Ref]]:
    """Split a device rule's condition into context-only parts, device parts, and the context
    fields that device parts compare against (which must exist for the engine to compare)."""
    nnf = to_nnf(cond)
    parts = list(nnf.items) if isinstance(nnf, All) else [nnf]
    context_parts: list[Condition] = []
    device_parts: list[Condition] = []
    cited: list[Ref] = []
    for part in parts:
        from gpu_advisor.lang.conditions import refs

        found = list(refs(part))
        if any(r.scope == "device" for r in found):
            device_parts.append(part)
            cited.extend(r for r in found if r.scope != "device")
        else:
            context_parts.append(part)
    return context_parts, device_parts, cited


def compile_rule(
    rule_id: str, cond: Condition, stage: int, device_scoped: bool, action: str | None = None
) -> dict[str, Any]:
    """One durable_rules rule: a context member (and a device member for device rules).
    ``action`` names the action to run (the rule's id unless the rule was split)."""
    if not device_scoped:
        body = compile_member(to_nnf(cond))
        member = [{"kind": "ctx"}, {"stage": stage}] + ([body] if body is not None else [])
        return {"all": [{"m": {"$and": member}}], "run": action or rule_id}
    context_parts, device_parts, cited = _split_device_condition(cond)
    ctx_body = compile_member(All(tuple(context_parts), cond_location(cond)))
    ctx_member = [{"kind": "ctx"}, {"stage": stage}] + ([ctx_body] if ctx_body is not None else [])
    ctx_member += [{"$ex": {context_field(r): 1}} for r in dict.fromkeys(cited)]
    dev_body = compile_member(All(tuple(device_parts), cond_location(cond)), "ctx")
    dev_member = [{"kind": "device"}] + ([dev_body] if dev_body is not None else [])
    return {
        "all": [{"ctx": {"$and": ctx_member}}, {"dev": {"$and": dev_member}}],
        "run": action or rule_id,
    }


def cond_location(cond: Condition) -> Any:
    return getattr(cond, "location", None)


def context_fact(
    sid: str,
    stage: int,
    answers: Mapping[str, Any],
    facts: Mapping[str, Any],
    fields: frozenset[str] | None = None,
) -> dict[str, Any]:
    """The context fact of one stage: every set answer and fact, flattened with prefixes (only
    the ``fields`` given, when given: the ruleset's rules read no others, and a smaller fact
    is parsed and matched faster)."""
    fact: dict[str, Any] = {"sid": sid, "kind": "ctx", "stage": stage}
    for key, value in answers.items():
        if value is not MISSING and value is not None and not isinstance(value, (list, dict)):
            fact["a__" + key] = value
    for key, value in facts.items():
        if value is not MISSING and value is not None:
            fact["f__" + key] = value
    if fields is None:
        return fact
    return {k: v for k, v in fact.items() if k in fields or k in ("sid", "kind", "stage")}


def device_fact(
    sid: str, attributes: Mapping[str, Any], fields: frozenset[str] | None = None
) -> dict[str, Any]:
    """A device's fact: its set attributes (only the ``fields`` given, and its id, when given)."""
    fact: dict[str, Any] = {"sid": sid, "kind": "device"}
    for key, value in attributes.items():
        if value is not MISSING and value is not None and (fields is None or key in fields):
            fact[key] = value
    if "id" in attributes:
        fact["id"] = attributes["id"]
    return fact


# ---------------------------------------------------------------------------------------------
# Staying inside durable_rules' limits


def split_alternatives(rule_id: str, cond: Condition) -> list[Condition]:
    """``cond`` as a disjunction of parts whose ``$or``s stay within DURABLE_MAX_OR_TERMS (one
    part, the condition itself, when it already does); DurableLimitError past
    MAX_PARTS_PER_RULE parts (the loader refuses such a rule first)."""
    parts = _split_alternatives(cond)
    if len(parts) > MAX_PARTS_PER_RULE:
        raise DurableLimitError(
            f"rule {rule_id}: its any: and in lists need {len(parts)} durable_rules rules (at "
            f"most {MAX_PARTS_PER_RULE}): split it into several rules, or move the list into a "
            "derived fact"
        )
    return parts


@dataclass
class _Ruleset:
    """One durable_rules ruleset of a rule base, with what its facts must carry."""

    name: str
    definition: dict[str, Any]
    stages: set[int]
    has_device_rules: bool
    context_fields: frozenset[str]
    device_fields: frozenset[str]
    handle: int = 0
    """The C engine's handle of this ruleset, once created."""
    actions: dict[str, str] = field(default_factory=dict)
    """The rule each durable rule's action records (a rule split into parts has several)."""


@dataclass
class _Part:
    name: str
    rule_id: str
    stage: int
    device: bool
    body: dict[str, Any]
    context_fields: frozenset[str]
    device_fields: frozenset[str]

    @property
    def branches(self) -> tuple[int, int]:
        """Branches (an upper bound) this rule adds below its stage's node, and below the
        device node: its tests after the kind and stage prefix, every alternative counted."""
        members = [next(iter(member.values()))["$and"] for member in self.body["all"]]
        context = max(1, sum(_json_terms(e) for e in members[0][2:]))
        device = max(1, sum(_json_terms(e) for e in members[1][1:])) if self.device else 0
        return context, device


def _json_terms(expression: Any) -> int:
    if isinstance(expression, dict) and len(expression) == 1:
        ((key, value),) = expression.items()
        if key in ("$and", "$or") and isinstance(value, list):
            return sum(_json_terms(item) for item in value)
    return 1


def _fields(rule_id: str, cond: Condition) -> tuple[frozenset[str], frozenset[str]]:
    found = list(refs(cond))
    context = frozenset(context_field(r) for r in found if r.scope != "device")
    device = frozenset(r.name for r in found if r.scope == "device")
    if len(context) > MAX_FIELDS_PER_RULE or len(device) > MAX_FIELDS_PER_RULE:
        raise DurableLimitError(
            f"rule {rule_id} reads {max(len(context), len(device))} different answers, facts or "
            f"device attributes; durable_rules takes at most {MAX_FIELDS_PER_RULE}: split the "
            "rule, or derive an intermediate fact"
        )
    return context, device


def _pack(parts: list[_Part]) -> list[list[_Part]]:
    """Parts grouped into rulesets: per ruleset at most DURABLE_MAX_RULES_FIRED_PER_FACT rules
    of one stage (a context fact may fire all of them) and of device rules (a device fact
    may), at most DURABLE_MAX_BRANCHES_PER_NODE branches below a stage or the device node,
    facts no wider than durable takes, and fewer rules than its ruleset limit."""
    groups: list[list[_Part]] = []
    current: list[_Part] = []
    per_stage: dict[int, int] = {}
    branches: dict[int, int] = {}
    devices = device_branches = 0
    context: set[str] = set()
    device: set[str] = set()
    for part in parts:
        context_load, device_load = part.branches
        stage_load = per_stage.get(part.stage, 0) + (0 if part.device else 1)
        fits = (
            stage_load <= DURABLE_MAX_RULES_FIRED_PER_FACT
            and devices + part.device <= DURABLE_MAX_RULES_FIRED_PER_FACT
            and branches.get(part.stage, 0) + context_load <= DURABLE_MAX_BRANCHES_PER_NODE
            and device_branches + device_load <= DURABLE_MAX_BRANCHES_PER_NODE
            and len(context | part.context_fields) <= MAX_FIELDS_PER_RULE
            and len(device | part.device_fields) <= MAX_FIELDS_PER_RULE
            and len(current) + 1 < DURABLE_MAX_RULES_PER_RULESET
        )
        if current and not fits:
            groups.append(current)
            current, per_stage, branches, devices, device_branches = [], {}, {}, 0, 0
            context, device = set(), set()
        current.append(part)
        if not part.device:
            per_stage[part.stage] = per_stage.get(part.stage, 0) + 1
        branches[part.stage] = branches.get(part.stage, 0) + context_load
        devices += part.device
        device_branches += device_load
        context |= part.context_fields
        device |= part.device_fields
    if current or not groups:
        groups.append(current)
    return groups


# ---------------------------------------------------------------------------------------------
# Sessions


def _fact_text(fact: dict[str, Any]) -> str:
    """A fact as the JSON text durable_rules reads (compact; numbers spelled its way)."""
    if len(fact) > DURABLE_MAX_FACT_FIELDS:
        raise DurableLimitError(
            f"a fact with {len(fact)} fields: durable_rules takes at most "
            f"{DURABLE_MAX_FACT_FIELDS} (use --evaluator python, or fewer facts)"
        )
    return _DurableJson.dumps(fact, separators=(",", ":"))


def _device_body(attrs: Mapping[str, Any], fields: frozenset[str]) -> str:
    """A device fact's JSON without its session id, from just after the opening brace."""
    return _fact_text(device_fact("", attrs, fields))[len('{"sid":"",') :]


DEVICE_TEXT_MEMO_LIMIT = 256
"""Sets of device facts whose JSON is remembered (each is one consultation's devices)."""


class DurableSession:
    """Runs one consultation's stages in its own durable_rules session (one per ruleset).

    It drives durable_rules' C engine directly: assert a fact, then take each action the engine
    starts and complete it. durable's Python ``Host`` would build a closure per action, parse
    the session state and every matched fact from JSON, and write the state back; our actions
    only record which rule fired on which device, so none of that is needed (and no action of
    ours can raise an exception for durable to swallow)."""

    def __init__(self, rules: CompiledRules) -> None:
        self._rules = rules
        self.sid = str(next(_session_counter))
        self._opened: list[_Ruleset] = []
        self._seen: set[Firing] = set()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _open(self, ruleset: _Ruleset) -> None:
        """Start the session with the anchor fact, so that deleting it later is safe."""
        if not any(opened is ruleset for opened in self._opened):
            self._opened.append(ruleset)
            self._rules.open_sessions += 1
            self._post(ruleset, _fact_text({"sid": self.sid, "kind": "session"}), -1, [])

    def close(self) -> None:
        """Delete the session's state (the engine holds at most 1,024 sessions)."""
        with _ENGINE_LOCK:
            try:
                while self._opened:
                    ruleset = self._opened.pop()
                    self._rules.open_sessions -= 1
                    _engine.delete_state(ruleset.handle, self.sid)
            finally:
                self._opened.clear()

    def run_stage(
        self,
        stage: int,
        answers: Mapping[str, Any],
        facts: Mapping[str, Any],
        devices: Iterable[Mapping[str, Any]] = (),
        devices_key: Any = None,
    ) -> list[Firing]:
        """Assert this stage's context (and device facts) and return the firings it caused.
        ``devices_key``, when given, names these exact device attributes (the same key always
        means the same attributes): their JSON is then written once and reused."""
        device_list = list(devices)
        fired: list[Firing] = []
        with _ENGINE_LOCK:
            for ruleset in self._rules.rulesets:
                if stage not in ruleset.stages and not (device_list and ruleset.has_device_rules):
                    continue
                self._open(ruleset)
                context = context_fact(self.sid, stage, answers, facts, ruleset.context_fields)
                self._post(ruleset, _fact_text(context), stage, fired)
                prefix = '{"sid":' + json.dumps(self.sid) + ","
                for body in self._rules.device_bodies(ruleset, device_list, devices_key):
                    self._post(ruleset, prefix + body, stage, fired)
        return fired

    def _post(self, ruleset: _Ruleset, text: str, stage: int, fired: list[Firing]) -> None:
        """Assert one fact (its JSON) and run the actions it starts, recording each firing
        once."""
        handle = ruleset.handle
        try:
            status, state = _engine.assert_fact(handle, text)
            if status == _NOT_HANDLED:
                return  # no rule looks at this fact at this stage
            if status == _OBSERVED:
                raise EngineError(f"internal: fact asserted twice in session {self.sid}")
            started = _engine.start_action_for_state(handle, state)
            text = started[1] if started else None
            while text:
                try:
                    rule_id, device_id = _read_action(text, ruleset.actions)
                except Exception:
                    _engine.abandon_action(handle, state)  # as durable's own host does
                    raise
                if rule_id != ANCHOR_RULE:
                    firing = Firing(rule_id, stage, device_id)
                    if firing not in self._seen:  # a rule split into parts fires once per part
                        self._seen.add(firing)
                        fired.append(firing)
                text = _engine.complete_and_start_action(handle, state)
        except (EngineError, DurableLimitError):
            raise
        except Exception as exc:
            raise EngineError(f"durable_rules failed at stage {stage}: {exc}") from exc


class CompiledRules:
    """A rule base compiled into durable_rules rulesets (one, unless the limits need more), each
    created in the C engine under a name of its own (never the global ``ruleset`` DSL)."""

    def __init__(self, rules: Iterable[tuple[str, Condition, int, bool]]) -> None:
        base = f"gpu_advisor_{next(_ruleset_counter)}"
        parts: list[_Part] = []
        for rule_id, cond, stage, device in rules:
            context, device_fields = _fields(rule_id, cond)
            alternatives = split_alternatives(rule_id, cond)
            for index, alternative in enumerate(alternatives):
                name = rule_id if index == 0 else f"{rule_id}~{index}"
                parts.append(
                    _Part(
                        name,
                        rule_id,
                        stage,
                        device,
                        compile_rule(rule_id, alternative, stage, device),
                        context,
                        device_fields,
                    )
                )
        groups = _pack(parts)
        self.rulesets: list[_Ruleset] = []
        for index, group in enumerate(groups):
            definition = {part.name: part.body for part in group}
            definition[ANCHOR_RULE] = ANCHOR
            self.rulesets.append(
                _Ruleset(
                    base if index == 0 else f"{base}_{index}",
                    definition,
                    {part.stage for part in group if not part.device},
                    any(part.device for part in group),
                    frozenset().union(*(part.context_fields for part in group)),
                    frozenset().union(*(part.device_fields for part in group)),
                )
            )
        self.name = self.rulesets[0].name
        #: every durable rule of every ruleset (for benchmarks and tests)
        self.definition = {k: v for ruleset in self.rulesets for k, v in ruleset.definition.items()}
        #: sessions holding state in the engine now (tests check that consultations close theirs)
        self.open_sessions = 0
        self._device_texts: dict[tuple[str, Any], list[str]] = {}
        with _ENGINE_LOCK:
            for ruleset in self.rulesets:
                conditions = {
                    name: {k: v for k, v in rule.items() if k != "run"}
                    for name, rule in ruleset.definition.items()
                }
                ruleset.actions = {name: rule["run"] for name, rule in ruleset.definition.items()}
                try:
                    ruleset.handle = _engine.create_ruleset(
                        ruleset.name, _DurableJson.dumps(conditions, ensure_ascii=False)
                    )
                except Exception as exc:
                    raise EngineError(f"durable_rules rejected the compiled rules: {exc}") from exc

    def device_bodies(
        self, ruleset: _Ruleset, devices: list[Mapping[str, Any]], devices_key: Any
    ) -> list[str]:
        """The device facts' JSON (without the session id) for one ruleset, remembered by
        ``devices_key`` when one is given: writing 220 device facts took a fifth of a
        consultation, and most consultations reuse the devices of an earlier one."""
        if devices_key is None:
            return [_device_body(attrs, ruleset.device_fields) for attrs in devices]
        key = (ruleset.name, devices_key)
        bodies = self._device_texts.get(key)
        if bodies is None:
            if len(self._device_texts) >= DEVICE_TEXT_MEMO_LIMIT:
                self._device_texts.pop(next(iter(self._device_texts)))
            bodies = [_device_body(attrs, ruleset.device_fields) for attrs in devices]
            self._device_texts[key] = bodies
        return bodies

    def session(self) -> DurableSession:
        return DurableSession(self)


def bare_ruleset(definition: dict[str, Any]) -> tuple[Any, str, list[str]]:
    """A raw ruleset for benchmarks and tests: the same engine with little of ours around it
    (the session anchor is added, since deleting a session without it can crash)."""
    fired: list[str] = []

    class _BareHost(durable_engine.Host):
        def _run(self) -> None:
            return None

        def get_action(self, action_name: str) -> Any:
            if action_name == ANCHOR_RULE:
                return lambda closure: None
            return lambda closure: fired.append(action_name)

    name = f"bare_{next(_ruleset_counter)}"
    with _ENGINE_LOCK:
        host = _BareHost()
        host.set_rulesets({name: {**copy.deepcopy(definition), ANCHOR_RULE: copy.deepcopy(ANCHOR)}})
    return host, name, fired


def open_raw(host: Any, name: str, sid: str) -> None:
    """Start a bare session with its anchor fact (see the module docstring)."""
    with _ENGINE_LOCK:
        host.assert_fact(name, {"sid": sid, "kind": "session"})


def assert_fact_raw(host: Any, name: str, fact: dict[str, Any]) -> None:
    """Assert into a bare ruleset, ignoring facts nothing observes (benchmarks only)."""
    with _ENGINE_LOCK:
        try:
            host.assert_fact(name, fact)
        except durable_engine.MessageNotHandledException:
            pass


def delete_raw(host: Any, name: str, sid: str) -> None:
    with _ENGINE_LOCK:
        host.delete_state(name, sid)
