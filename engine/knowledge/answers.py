"""Answers: read from files and ``--set`` flags, checked against the questionnaire, defaults filled.

The questionnaire decides what is asked: a question whose ``ask_when`` is false given the earlier
answers is not asked, and an answer given to it anyway is ignored (and reported as ignored), so
the engine never reasons from an answer that does not apply. Answers are checked against the
questions of the rule files, which is why this lives with the knowledge (the rule loader checks
the answers of every rule example with it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpu_advisor.errors import FileErrors, UsageError, did_you_mean, one_of
from gpu_advisor.knowledge.kb import Knowledge
from gpu_advisor.knowledge.rules import Question
from gpu_advisor.lang.conditions import MISSING, evaluate, lookup_from


class AnswerErrors(UsageError):
    """Every mistake in a set of answers, found in one pass (a file with three mistakes reports
    all three, not one per run); ``problems`` holds one message each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


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
        value = (
            str(raw).strip()
            if isinstance(raw, (str, int, float)) and not isinstance(raw, bool)
            else raw
        )
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
        number = _number(key, raw, question.unit)
        if question.type == "integer":
            if number != int(number):
                raise UsageError(f"{key}: {raw!r} is not a whole number")
            number = int(number)
        low, high = question.min, question.max
        if (low is not None and number < low) or (high is not None and number > high):
            unit = f" {question.unit}" if question.unit else ""
            raise UsageError(
                f"{key}: {_fmt(number)} is out of range; accepted {_fmt(low)}..{_fmt(high)}{unit}"
            )
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
                raise UsageError(
                    f"{key}: unknown device {name!r}{hint}; {one_of(knowledge.devices)}"
                )
            if name not in devices:
                devices.append(name)
        return devices
    if question.type == "model":
        return _model_answer(key, raw, knowledge)
    raise UsageError(f"{key}: unsupported question type {question.type}")


def _model_answer(key: str, raw: Any, knowledge: Knowledge) -> str:
    """A catalog model's name, or the path of a model's own files (config.json, a model folder
    or a .gguf), read here so that a wrong file is reported with the other answers."""
    from gpu_advisor.errors import FileError
    from gpu_advisor.knowledge.catalogs import kb_file, load_model_catalog
    from gpu_advisor.knowledge.model_files import is_file_reference, read_model_cached
    from gpu_advisor.knowledge.models import resolve_model

    text = str(raw).strip()
    catalog = load_model_catalog(kb_file("models.yaml", knowledge.directory))
    labels = {name for arch in catalog.values() for name in (arch.name, *arch.aliases)}
    if is_file_reference(text, labels):
        try:
            read_model_cached(text)
        except FileError as exc:
            raise UsageError(f"{key}: {exc}") from None
        return text
    try:
        return resolve_model(text, catalog).name
    except UsageError as exc:
        raise UsageError(
            f"{key}: {exc.message}; or give a model's config.json, its folder or a .gguf file"
        ) from None


def _fmt(value: float | None) -> str:
    if value is None:
        return "any"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:g}"


# Suffixes a number may carry: 20k dollars, 1.5M users. Decimal (k = 1,000, not 1,024) for
# every question, token counts included: 32k tokens is 32,000 (type 32768 for 2**15).
_SCALE = {"k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9}
# Where the question's unit is already billions (model_params_b, "B params"), a suffix names
# the magnitude in that unit: 13B (or 13b) is 13, 350M is 0.35, 1.8T is 1,800.
_BILLIONS_SCALE = {"b": 1.0, "g": 1.0, "m": 1e-3, "k": 1e-6, "t": 1e3}


def _scale(unit: str | None) -> dict[str, float]:
    return _BILLIONS_SCALE if (unit or "").split(" ")[0] == "B" else _SCALE


def _number_hint(unit: str | None) -> str:
    if _scale(unit) is _BILLIONS_SCALE:
        return "a number of billions, e.g. 13, 13B or 350M"
    return "a number, e.g. 20000, 20_000, 20k or 1.5M"


def _number(key: str, raw: Any, unit: str | None = None) -> float:
    if isinstance(raw, bool):
        raise UsageError(f"{key}: {raw!r} is not a number; expected {_number_hint(unit)}")
    if isinstance(raw, (int, float)):
        number = float(raw)
    else:
        text = str(raw).strip().replace("_", "").replace(",", "")
        text = text.removeprefix("$").strip()
        factor = 1.0
        scale = _scale(unit)
        if text[-1:].lower() in scale and len(text) > 1:
            factor = scale[text[-1].lower()]
            text = text[:-1].strip()
        try:
            number = float(text) * factor
        except ValueError:
            raise UsageError(
                f"{key}: {raw!r} is not a number; expected {_number_hint(unit)}"
            ) from None
        number = float(f"{number:.12g}")  # 0.35, not 0.35000000000000003
    if not math.isfinite(number):
        raise UsageError(f"{key}: {raw!r} is not a finite number")
    return int(number) if number == int(number) and abs(number) < 2**53 else number


@dataclass(frozen=True)
class Visit:
    """One question met on the walk through the questionnaire: is it asked, with what value."""

    question: Question
    asked: bool
    value: Any  # the value in force when asked (None: no answer and no default)

    @property
    def key(self) -> str:
        return self.question.key


def walk_questionnaire(
    questions: Mapping[str, Question], value_of: Callable[[Question], Any]
) -> Iterator[Visit]:
    """The questionnaire walk: every question in order, asked or not given the answers so far.

    A question is asked when its ``ask_when`` holds for the values of the questions before it;
    ``value_of`` gives the value in force of an asked question (None when it has none), and is
    called only for asked questions, in order. This is the one place that decides what is asked:
    the engine's answer check and the questionnaire screens both walk through it.
    """
    values: dict[str, Any] = {}
    lookup = lookup_from(answers=values)
    for key, question in questions.items():
        if not evaluate(question.ask_when, lookup):
            yield Visit(question, False, None)
            continue
        value = value_of(question)
        if value is not None:
            values[key] = value
        yield Visit(question, True, value)


def normalize_answers(
    questions: Mapping[str, Question],
    raw: Mapping[str, Any],
    knowledge: Knowledge,
    strict_unasked: bool = False,
) -> Answers:
    """Validate raw answers, fill defaults, and drop (and report) answers to unasked questions.

    Every mistake is collected before anything is raised (one :class:`AnswerErrors` holds them
    all); a wrong answer is walked on with its question's default, so the questions after it
    are checked as they would be asked."""
    problems = [
        f"unknown answer {key!r}{did_you_mean(key, questions)}; {one_of(questions)}"
        for key in raw
        if key not in questions
    ]
    result = Answers({})

    def value_of(question: Question) -> Any:
        if raw.get(question.key) is not None:
            try:
                return coerce(question, raw[question.key], knowledge)
            except UsageError as exc:
                problems.append(str(exc))
                return question.default
        if question.default is not None:
            result.defaulted.add(question.key)
        return question.default

    for visit in walk_questionnaire(questions, value_of):
        if visit.asked:
            if visit.value is not None:
                result.values[visit.key] = visit.value
        elif raw.get(visit.key) is not None:
            result.ignored[visit.key] = "not asked given the other answers"
            if strict_unasked:
                problems.append(f"{visit.key}: not asked given the other answers")
    if not problems:
        _model_sets_the_parameter_count(result, raw, knowledge)
    if len(problems) == 1:
        raise UsageError(problems[0])
    if problems:
        raise AnswerErrors(problems)
    return result


def _model_sets_the_parameter_count(
    answers: Answers, raw: Mapping[str, Any], knowledge: Knowledge
) -> None:
    """A named model's own parameter count replaces ``model_params_b`` (which rules read), and a
    different count the user gave is reported as overridden: the model's architecture wins."""
    name = answers.values.get("model")
    if name is None or "model_params_b" not in answers.values:
        return
    from gpu_advisor.knowledge.catalogs import kb_file, load_model_catalog

    catalog = load_model_catalog(kb_file("models.yaml", knowledge.directory))
    if name in catalog:
        params = round(catalog[name].params_b, 2)
        owner = f"the model {name}"
    else:  # the model's own files (checked when the answer was read)
        from gpu_advisor.knowledge.model_files import read_model_cached

        spec = read_model_cached(name)
        params = round(spec.params / 1e9, 2)
        how = "counted from its weights" if spec.params_counted else "computed from its config"
        owner = f"the model file {name} ({spec.params:,} parameters, {how})"
    if raw.get("model_params_b") is not None and answers.values["model_params_b"] != params:
        answers.ignored["model_params_b"] = (
            f"{owner} has {params:g}B parameters, which replace the count given"
        )
    answers.values["model_params_b"] = params
    answers.defaulted.discard("model_params_b")


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
    """Answers from a YAML or JSON file (``-``: standard input, YAML or JSON alike, since JSON
    is YAML): a mapping of answer keys to values."""
    # the file readers bring YAML: imported only when a file is read (not on the start-up path)
    from gpu_advisor.knowledge.safe_files import (
        MAX_DATA_FILE_BYTES,
        load_json_bounded,
        read_text_limited,
    )
    from gpu_advisor.knowledge.yamlio import parse_yaml

    shown = "<stdin>" if path == "-" else path
    try:
        text = read_text_limited(path, MAX_DATA_FILE_BYTES)
    except FileErrors as exc:
        raise UsageError(str(exc)) from None
    if Path(path).suffix.lower() == ".json":
        try:
            data = load_json_bounded(text, shown)
        except FileErrors as exc:
            raise UsageError(str(exc)) from None
    else:
        try:
            data = parse_yaml(text, shown).data
        except FileErrors as exc:
            raise UsageError(str(exc)) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(
            f"{path}: expected a mapping of answers (key: value), found {type(data).__name__}"
        )
    if "answers" in data and isinstance(data["answers"], dict):
        data = data["answers"]  # a saved consultation or a JSON report
    return dict(data)
