"""The one place that touches durable_rules: compile parsed rules to its JSON and run sessions.

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
"""

from __future__ import annotations

import copy
import itertools
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import durable.engine as durable_engine

from gpu_advisor.lang.conditions import MISSING, All, Condition, Leaf, Ref, Not, to_nnf
from gpu_advisor.errors import EngineError

_ENGINE_LOCK = threading.RLock()
_ruleset_counter = itertools.count(1)
_session_counter = itertools.count(1)
_NEVER: dict[str, Any] = {"$nex": {"kind": 1}}
ANCHOR_RULE = "__session__"
ANCHOR: dict[str, Any] = {"all": [{"m": {"kind": "session"}}], "run": ANCHOR_RULE}
_OPS = {"<": "$lt", "<=": "$lte", ">": "$gt", ">=": "$gte", "!=": "$neq"}
_FLIP = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


def context_field(ref: Ref) -> str:
    """Field name of an answer or fact inside the context fact."""
    return ("a__" if ref.scope == "answer" else "f__") + ref.name


@dataclass(frozen=True)
class Firing:
    """A rule's action ran: which rule, at which stage, on which device (if any)."""

    rule_id: str
    stage: int
    device_id: str | None


class _Host(durable_engine.Host):
    """A Host that starts no background threads and hands every action to a recorder."""

    def __init__(self, recorder: _Recorder) -> None:
        self._recorder = recorder
        super().__init__()

    def _run(self) -> None:  # the base class starts timer threads that call into C concurrently
        return None

    def get_action(self, action_name: str) -> Any:
        recorder = self._recorder
        if action_name == ANCHOR_RULE:
            return lambda closure: None

        def action(closure: Any) -> None:
            try:
                sid = str(closure.s.sid)
                device = getattr(closure, "dev", None)
                device_id = device._d.get("id") if device is not None else None
                context = getattr(closure, "ctx", None) or getattr(closure, "m", None)
                stage = int(context._d.get("stage", -1)) if context is not None else -1
                recorder.record(sid, Firing(action_name, stage, device_id))
            except Exception as exc:  # never let durable swallow it: keep it for the caller
                recorder.fail(str(closure.s.sid), exc)

        return action


class _Recorder:
    def __init__(self) -> None:
        self.firings: dict[str, list[Firing]] = {}
        self.errors: dict[str, Exception] = {}

    def record(self, sid: str, firing: Firing) -> None:
        self.firings.setdefault(sid, []).append(firing)

    def fail(self, sid: str, exc: Exception) -> None:
        self.errors.setdefault(sid, exc)


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
    if isinstance(right, Ref):
        if left.scope != "device":  # keep the device field on the left, as durable needs
            left, right, op = right, left, _FLIP[op]
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


def compile_rule(rule_id: str, cond: Condition, stage: int, device_scoped: bool) -> dict[str, Any]:
    """One durable_rules rule: a context member (and a device member for device rules)."""
    if not device_scoped:
        body = compile_member(to_nnf(cond))
        member = [{"kind": "ctx"}, {"stage": stage}] + ([body] if body is not None else [])
        return {"all": [{"m": {"$and": member}}], "run": rule_id}
    context_parts, device_parts, cited = _split_device_condition(cond)
    ctx_body = compile_member(All(tuple(context_parts), cond_location(cond)))
    ctx_member = [{"kind": "ctx"}, {"stage": stage}] + ([ctx_body] if ctx_body is not None else [])
    ctx_member += [{"$ex": {context_field(r): 1}} for r in dict.fromkeys(cited)]
    dev_body = compile_member(All(tuple(device_parts), cond_location(cond)), "ctx")
    dev_member = [{"kind": "device"}] + ([dev_body] if dev_body is not None else [])
    return {"all": [{"ctx": {"$and": ctx_member}}, {"dev": {"$and": dev_member}}], "run": rule_id}


def cond_location(cond: Condition) -> Any:
    return getattr(cond, "location", None)


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return value
    return value


def context_fact(sid: str, stage: int, answers: Mapping[str, Any], facts: Mapping[str, Any]) -> dict[str, Any]:
    """The context fact of one stage: every set answer and fact, flattened with prefixes."""
    fact: dict[str, Any] = {"sid": sid, "kind": "ctx", "stage": stage}
    for key, value in answers.items():
        if value is not MISSING and value is not None and not isinstance(value, (list, dict)):
            fact["a__" + key] = _json_value(value)
    for key, value in facts.items():
        if value is not MISSING and value is not None:
            fact["f__" + key] = _json_value(value)
    return fact


def device_fact(sid: str, attributes: Mapping[str, Any]) -> dict[str, Any]:
    fact: dict[str, Any] = {"sid": sid, "kind": "device"}
    fact.update({k: _json_value(v) for k, v in attributes.items() if v is not MISSING and v is not None})
    return fact


class DurableSession:
    """Runs one consultation's stages in its own durable_rules session."""

    def __init__(self, rules: CompiledRules) -> None:
        self._rules = rules
        self.sid = str(next(_session_counter))
        self._opened = False

    def __enter__(self) -> DurableSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _open(self) -> None:
        """Start the session with the anchor fact, so that deleting it later is safe."""
        if not self._opened:
            self._rules.host.assert_fact(self._rules.name, {"sid": self.sid, "kind": "session"})
            self._opened = True

    def close(self) -> None:
        """Delete the session's state (the engine holds at most 1,024 sessions)."""
        with _ENGINE_LOCK:
            if self._opened:
                try:
                    self._rules.host.delete_state(self._rules.name, self.sid)
                finally:
                    self._opened = False
            self._rules.recorder.firings.pop(self.sid, None)
            self._rules.recorder.errors.pop(self.sid, None)

    def run_stage(self, stage: int, answers: Mapping[str, Any], facts: Mapping[str, Any],
                  devices: Iterable[Mapping[str, Any]] = ()) -> list[Firing]:
        """Assert this stage's context (and device facts) and return the firings it caused."""
        recorder = self._rules.recorder
        batch = [context_fact(self.sid, stage, answers, facts)]
        batch += [device_fact(self.sid, attrs) for attrs in devices]
        with _ENGINE_LOCK:
            self._open()
            recorder.firings[self.sid] = []
            for fact in batch:
                try:
                    self._rules.host.assert_fact(self._rules.name, fact)
                except durable_engine.MessageNotHandledException:
                    continue  # no rule looks at this fact at this stage
                except durable_engine.MessageObservedException:
                    raise EngineError(f"internal: fact asserted twice in session {self.sid}") from None
                except Exception as exc:
                    raise EngineError(f"durable_rules failed at stage {stage}: {exc}") from exc
            state = self._rules.host.get_state(self._rules.name, self.sid)
            if isinstance(state, dict) and state.get("exception"):
                raise EngineError(f"a rule action failed: {state['exception']}")
            if self.sid in recorder.errors:
                raise EngineError(f"a rule action failed: {recorder.errors[self.sid]}")
            return list(recorder.firings.get(self.sid, []))


class CompiledRules:
    """A rule base compiled into one durable_rules ruleset on a Host of its own."""

    def __init__(self, rules: Iterable[tuple[str, Condition, int, bool]]) -> None:
        self.name = f"gpu_advisor_{next(_ruleset_counter)}"
        self.recorder = _Recorder()
        definition = {rule_id: compile_rule(rule_id, cond, stage, device)
                      for rule_id, cond, stage, device in rules}
        definition[ANCHOR_RULE] = ANCHOR
        self.definition = definition
        with _ENGINE_LOCK:
            self.host = _Host(self.recorder)
            try:
                self.host.set_rulesets({self.name: copy.deepcopy(definition)})
            except Exception as exc:
                raise EngineError(f"durable_rules rejected the compiled rules: {exc}") from exc

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
