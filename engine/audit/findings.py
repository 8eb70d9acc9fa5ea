"""What the audit reports: findings with a severity, a place, and answers that show them.

A finding is meant for a hardware expert who edits YAML, not for a programmer: it names the
rule (or fact, question, device) it is about, says where that stands (``path:line:col``), and,
whenever the finding is about behaviour, carries a *counterexample*: concrete answers that, fed
to ``gpu-advisor recommend``, reproduce what the finding describes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from gpu_advisor.errors import Location

SEVERITIES = ("error", "warning", "info")
"""error: the rule base is wrong (CI fails); warning: probably not what the author meant; info:
worth knowing (source disagreements, claim verdicts, situations with no recommendation)."""

CATEGORIES = ("lint", "examples", "logic", "agreement", "knowledge")

KIND_TITLES: dict[str, str] = {
    "load-error": "file cannot be loaded",
    "no-rationale": "rule without rationale",
    "no-sources": "rule without sources",
    "no-examples": "rule without examples",
    "empty-example": "example that expects nothing",
    "ignored-answer": "example answer the engine ignores",
    "zero-points": "preference worth zero points",
    "implausible-value": "implausible knowledge-base value",
    "unbounded-question": "number question without bounds",
    "example-failed": "rule example fails",
    "fact-conflict": "rules derive different values for one fact",
    "overridden": "derivation overridden by another rule",
    "cancelling-preferences": "preferences that always cancel",
    "subsumed": "rule that never changes an outcome",
    "equivalent": "rules that always fire together",
    "preference-on-excluded": "preference only on excluded devices",
    "unreachable": "rule that can never fire",
    "not-reached": "rule not reached in the audited space",
    "dead-fact": "fact derived but never used",
    "underived-fact": "fact used but never derived",
    "unused-fact": "fact declared but never used",
    "dead-question": "question whose answer nothing uses",
    "engine-error": "answers the engine cannot process",
    "unexplained": "conclusion with a hole in its explanation",
    "no-recommendation": "set of answers with no device recommended",
    "engine-disagreement": "durable_rules and Python disagree",
    "audit-self-check": "the audit's model of the engine is off",
    "source-disagreement": "fact the sources disagree on",
    "claim-verdict": "seed claim checked by the sizing model",
    "contradicted-claim": "preference contradicted by the knowledge base",
}

KIND_TITLE_PLURALS: dict[str, str] = {
    "rule that can never fire": "rules that can never fire",
    "rule not reached in the audited space": "rules not reached in the audited space",
    "fact derived but never used": "facts derived but never used",
    "fact used but never derived": "facts used but never derived",
    "fact declared but never used": "facts declared but never used",
    "question whose answer nothing uses": "questions whose answer nothing uses",
    "conclusion with a hole in its explanation": "conclusions with a hole in their explanation",
    "fact the sources disagree on": "facts the sources disagree on",
    "seed claim checked by the sizing model": "seed claims checked by the sizing model",
    "preference contradicted by the knowledge base": "preferences contradicted by the knowledge "
    "base",
    "set of answers with no device recommended": "sets of answers with no device recommended",
}
"""Plural titles where adding an 's' to the whole title would read wrong (counted summaries)."""


@dataclass
class Finding:
    """One thing the audit found. ``counterexample`` holds answers (non-default ones only)."""

    category: str
    kind: str
    severity: str
    message: str
    location: Location | None = None
    rules: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()
    counterexample: dict[str, Any] | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def where(self) -> str:
        """``path:line:col``, the path relative to the working folder when it lies inside it."""
        if self.location is None:
            return ""
        path = self.location.path
        try:
            relative = os.path.relpath(path)
            if not relative.startswith(".."):
                path = relative
        except ValueError:
            pass
        return str(Location(path, self.location.line, self.location.column))

    def sort_key(self) -> tuple[Any, ...]:
        place = (
            (self.location.path, self.location.line, self.location.column)
            if self.location
            else ("", 0, 0)
        )
        return (
            SEVERITIES.index(self.severity),
            CATEGORIES.index(self.category),
            place,
            self.message,
        )

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "category": self.category,
            "kind": self.kind,
            "severity": self.severity,
            "message": self.message,
        }
        if self.location is not None:
            data["location"] = {
                "path": self.location.path,
                "line": self.location.line,
                "column": self.location.column,
                "text": str(self.location),
            }
        if self.rules:
            data["rules"] = list(self.rules)
        if self.devices:
            data["devices"] = list(self.devices)
        if self.counterexample is not None:
            data["counterexample"] = _plain(self.counterexample)
        if self.details:
            data["details"] = _plain(self.details)
        return data


def _plain(value: Any) -> Any:
    """JSON-friendly copy (tuples to lists, sets sorted, unknown objects as text)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(_plain(v) for v in value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


@dataclass
class SpaceStats:
    """How much of the answer space the logic checks covered, and how."""

    combinations: int = 0
    situations: int = 0
    context_classes: int = 0
    context_evaluations: int = 0
    signatures: int = 0
    python_evaluations: int = 0
    durable_checked: int = 0
    engine_checked: int = 0
    components: list[dict[str, Any]] = field(default_factory=list)
    domains: dict[str, list[Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return _plain(self.__dict__)


@dataclass
class AuditReport:
    """Everything one audit found, plus what it covered and how long each part took."""

    kb_dir: str
    rules_dir: str
    findings: list[Finding] = field(default_factory=list)
    space: SpaceStats = field(default_factory=SpaceStats)
    timings: dict[str, float] = field(default_factory=dict)
    loaded: bool = True
    rule_count: int = 0
    device_count: int = 0
    story: dict[str, Any] | None = None

    def add(self, finding: Finding) -> None:
        self.findings.append(finding)

    def count(self, severity: str) -> int:
        return sum(1 for f in self.findings if f.severity == severity)

    @property
    def exit_code(self) -> int:
        """0 clean, 1 error findings, 2 the files could not be loaded."""
        if not self.loaded:
            return 2
        return 1 if self.count("error") else 0

    def sorted_findings(self) -> list[Finding]:
        return sorted(self.findings, key=Finding.sort_key)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "kb": self.kb_dir,
            "rules": self.rules_dir,
            "loaded": self.loaded,
            "rules_checked": self.rule_count,
            "devices": self.device_count,
            "summary": {s: self.count(s) for s in SEVERITIES},
            "exit_status": self.exit_code,
            "space": self.space.to_json(),
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
            "findings": [f.to_json() for f in self.sorted_findings()],
        }
        if self.story is not None:
            data["rule"] = _plain(self.story)
        return data
