"""Answers: read from files and ``--set`` flags, checked against the questionnaire, defaults filled.

The questionnaire decides what is asked: a question whose ``ask_when`` is false given the earlier
answers is not asked, and an answer given to it anyway is ignored (and reported as ignored), so
the engine never reasons from an answer that does not apply.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gpu_advisor.errors import FileErrors, UsageError, did_you_mean, one_of
from gpu_advisor.knowledge.kb import Knowledge
from gpu_advisor.lang.conditions import MISSING, Ref, evaluate

if TYPE_CHECKING:
    from gpu_advisor.knowledge.rulebase import Question


@dataclass
class Answers:
    """Normalized answers of the questions that are asked, in questionnaire order."""

    values: dict[str, Any]
    defaulted: set[str] = field(default_factory=set)
    ignored: dict[str, str] = field(default_factory=dict)

    def get(self, key: str) -> Any:
        return self.values.get(key, MISSING)

    def to_json(self) -> dict[str, Any]:
        return dict(self.values)


_TRUE = {"true", "yes", "y", "1", "on"}
_FALSE = {"false", "no", "n", "0", "off"}


def coerce(question: Question, raw: Any, knowledge: Knowledge) -> Any:
    """Check one answer and convert it to the question's type; UsageError says what is accepted."""
    key = question.key
    if question.type == "choice":
        value = str(raw).strip() if isinstance(raw, (str, int, float)) and not isinstance(raw, bool) else raw
        if value not in question.choices:
            hint = did_you_mean(str(value), question.choices)
            raise UsageError(f"{key}: {raw!r} is not accepted{hint}; {one_of(question.choices)}")
        return value
    if question.type == "boolean":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise UsageError(f"{key}: {raw!r} is not accepted; expected true or false")
    if question.type in ("number", "integer"):
        number = _number(key, raw)
        if question.type == "integer":
            if number != int(number):
                raise UsageError(f"{key}: {raw!r} is not a whole number")
            number = int(number)
        low, high = question.min, question.max
        if (low is not None and number < low) or (high is not None and number > high):
            unit = f" {question.unit}" if question.unit else ""
            raise UsageError(f"{key}: {_fmt(number)} is out of range; accepted {_fmt(low)}..{_fmt(high)}{unit}")
        return number
    if question.type == "devices":
        items = raw.split(",") if isinstance(raw, str) else raw
        if not isinstance(items, list) or not items:
            raise UsageError(f"{key}: expected device ids separated by commas")
        devices: list[str] = []
        for item in items:
            name = str(item).strip()
            if name not in knowledge.devices:
                hint = did_you_mean(name, knowledge.devices)
                raise UsageError(f"{key}: unknown device {name!r}{hint}; {one_of(knowledge.devices)}")
            if name not in devices:
                devices.append(name)
        return devices
    raise UsageError(f"{key}: unsupported question type {question.type}")


def _fmt(value: float | None) -> str:
    if value is None:
        return "any"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:g}"


def _number(key: str, raw: Any) -> float:
    if isinstance(raw, bool):
        raise UsageError(f"{key}: {raw!r} is not a number")
    if isinstance(raw, (int, float)):
        number = float(raw)
    else:
        text = str(raw).strip().replace("_", "").replace(",", "")
        text = text.removeprefix("$")
        try:
            number = float(text)
        except ValueError:
            raise UsageError(f"{key}: {raw!r} is not a number") from None
    if not math.isfinite(number):
        raise UsageError(f"{key}: {raw!r} is not a finite number")
    return int(number) if number == int(number) and abs(number) < 2**53 else number


def normalize_answers(questions: Mapping[str, Question], raw: Mapping[str, Any], knowledge: Knowledge,
                      strict_unasked: bool = False) -> Answers:
    """Validate raw answers, fill defaults, and drop (and report) answers to unasked questions."""
    for key in raw:
        if key not in questions:
            raise UsageError(f"unknown answer {key!r}{did_you_mean(key, questions)}; "
                             f"{one_of(questions)}")
    result = Answers({})

    def lookup(ref: Ref) -> Any:
        return result.values.get(ref.name, MISSING) if ref.scope == "answer" else MISSING

    for key, question in questions.items():
        asked = evaluate(question.ask_when, lookup)
        if not asked:
            if key in raw and raw[key] is not None:
                result.ignored[key] = "not asked given the other answers"
                if strict_unasked:
                    raise UsageError(f"{key}: not asked given the other answers")
            continue
        if key in raw and raw[key] is not None:
            result.values[key] = coerce(question, raw[key], knowledge)
        elif question.default is not None:
            result.values[key] = question.default
            result.defaulted.add(key)
    return result


def parse_set(items: list[str]) -> dict[str, str]:
    """``--set key=value`` flags, later ones winning."""
    parsed: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set {item!r}: expected KEY=VALUE, e.g. --set workload=inference")
        parsed[key.strip()] = value.strip()
    return parsed


def load_answers_file(path: str) -> dict[str, Any]:
    """Answers from a YAML or JSON file: a mapping of answer keys to values."""
    from gpu_advisor.knowledge.yamlio import load_yaml

    file = Path(path)
    if file.suffix.lower() == ".json":
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UsageError(f"{path}: no such file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"{path}: cannot read ({exc})") from None
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    else:
        try:
            data = load_yaml(file).data
        except FileErrors as exc:
            raise UsageError(str(exc)) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a mapping of answers (key: value), found {type(data).__name__}")
    if "answers" in data and isinstance(data["answers"], dict):
        data = data["answers"]  # a saved consultation or a JSON report
    return dict(data)
