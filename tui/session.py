"""The questionnaire's state, without any Textual: answers given, questions that matter, files.

The TUI keeps every answer the person gave, even to a question that stops mattering (switching
the workload from fine-tuning to inference and back brings the fine-tuning method back), but
only the answers to questions that are asked go to the engine, so a consultation never reasons
from an answer that does not apply. Keeping this apart from the widgets lets it be tested (and
timed) without a terminal.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gpu_advisor.core.answers import coerce, load_answers_file, walk_questionnaire
from gpu_advisor.errors import UsageError, did_you_mean
from gpu_advisor.formatting import MONTH_ANSWERS, number
from gpu_advisor.lang.conditions import MISSING

if TYPE_CHECKING:
    from gpu_advisor.core.consult import Engine
    from gpu_advisor.knowledge.rulebase import Question

SAVE_HEADER = "# gpu-advisor answers (load with: gpu-advisor recommend --answers FILE)\n"


@dataclass(frozen=True)
class Step:
    """One question on the walk through the questionnaire, with the value it has now."""

    question: Question
    value: Any
    given: bool

    @property
    def key(self) -> str:
        return self.question.key


class Session:
    """Answers given so far and the questionnaire path they lead to."""

    def __init__(self, engine: Engine, answers: Mapping[str, Any] | None = None) -> None:
        self.engine = engine
        self.questions: dict[str, Question] = dict(engine.rulebase.questions)
        self.given: dict[str, Any] = {}
        if answers:
            self.replace(answers)

    # -- the walk -------------------------------------------------------------------------

    def steps(self) -> list[Step]:
        """The questions that are asked given the answers so far, in questionnaire order."""

        def value_of(question: Question) -> Any:
            return self.given.get(question.key, question.default)

        return [
            Step(visit.question, visit.value, visit.key in self.given)
            for visit in walk_questionnaire(self.questions, value_of)
            if visit.asked
        ]

    def asked_keys(self) -> list[str]:
        return [step.key for step in self.steps()]

    def value(self, key: str) -> Any:
        """The answer in force for a question: the one given, else its default (None if none)."""
        if key in self.given:
            return self.given[key]
        return self.questions[key].default

    def engine_answers(self) -> dict[str, Any]:
        """What the engine is given: the answers to the questions that are asked, and no others."""
        return {step.key: step.value for step in self.steps() if step.given}

    # -- changing answers -----------------------------------------------------------------

    def check(self, key: str, raw: Any) -> Any:
        """The answer converted to the question's type; UsageError (one line) when it is wrong."""
        return coerce(self.questions[key], raw, self.engine.rulebase.knowledge)

    def set(self, key: str, raw: Any) -> bool:
        """Give an answer (None or empty text clears it); True when the answer in force changed."""
        if key not in self.questions:
            raise UsageError(f"unknown question {key!r}")
        before = self.given.get(key, MISSING)
        if raw is None or (isinstance(raw, str) and not raw.strip()) or raw == []:
            self.given.pop(key, None)
        else:
            self.given[key] = self.check(key, raw)
        return self.given.get(key, MISSING) != before

    def clear(self) -> None:
        self.given.clear()

    def replace(self, answers: Mapping[str, Any]) -> None:
        """Every answer at once (a loaded file): all are checked before any is kept."""
        checked: dict[str, Any] = {}
        problems: list[str] = []
        for key, raw in answers.items():
            if key not in self.questions:
                problems.append(f"unknown answer {key!r}{did_you_mean(key, self.questions)}")
                continue
            if raw is None:
                continue
            try:
                checked[key] = self.check(key, raw)
            except UsageError as exc:
                problems.append(str(exc))
        if problems:
            raise UsageError("; ".join(problems))
        self.given = {key: checked[key] for key in self.questions if key in checked}

    # -- files ----------------------------------------------------------------------------

    def to_yaml(self) -> str:
        """The answers given to questions that are asked, as a YAML file the CLI reads too.

        An answer equal to its question's default is left out, whether it was picked, typed or
        accepted with Enter: the file says what differs from the defaults (docs/tui.md)."""
        import yaml

        data = {
            key: value
            for key, value in self.engine_answers().items()
            if value != self.questions[key].default
        }  # one rule: defaults are never saved
        return SAVE_HEADER + yaml.safe_dump(
            data, sort_keys=False, allow_unicode=True, default_flow_style=None
        )

    def save(self, path: str | Path) -> Path:
        """Write the answers atomically: a failed save leaves any existing file as it was."""
        from gpu_advisor.knowledge.safe_files import write_text_safely

        target = Path(path).expanduser()
        if target.is_dir():
            raise UsageError(f"{target}: is a folder; give a file name")
        try:
            write_text_safely(target, self.to_yaml())
        except OSError as exc:
            raise UsageError(f"{target}: cannot save ({exc.strerror or exc})") from None
        return target

    def load(self, path: str | Path) -> Path:
        """Replace the answers with a file's; on any problem the current answers stay."""
        target = Path(path).expanduser()
        if target.is_dir():
            raise UsageError(f"{target}: is a folder; give a file name")
        self.replace(load_answers_file(str(target)))
        return target


def describe_value(question: Question, value: Any) -> str:
    """An answer as a person reads it: yes/no, thousands separators, units, 'all' for devices."""
    if value is None:
        return "all" if question.type == "devices" else "not set"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if question.key in MONTH_ANSWERS:
        return str(value)  # a month as YYYYMM (202612), not an amount (202,612)
    if isinstance(value, (int, float)):
        text = number(value, 3)  # 1,000,000,000 and 0.35, never 1e+09
        if question.key == "budget_usd":
            return f"${text}"
        return f"{text} {question.unit}" if question.unit and question.unit != "USD" else text
    return str(value)


def text_value(question: Question, value: Any) -> str:
    """An answer as it is typed into a field (no separators, no units)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ",".join(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def iter_choice_help(question: Question) -> Iterator[tuple[str, str]]:
    """Each choice with its one-line help ('' when the questionnaire gives none)."""
    for choice in question.choices:
        yield choice, question.choice_help.get(choice, "")
