"""Shapes of the rule files (pydantic; imported only when loading files or writing schemas)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from gpu_advisor.knowledge.schema import StrictModel

_ID = r"^[a-z0-9][a-z0-9.-]*$"
_NAME = r"^[a-z][a-z0-9_]*$"


# ---------------------------------------------------------------------------------------------
# File schemas (shape only; conditions and names are checked after)


class QuestionModel(StrictModel):
    key: str = Field(pattern=_NAME)
    prompt: str
    type: Literal["choice", "number", "integer", "boolean", "devices", "model"]
    choices: list[str] = Field(default=[])
    choice_help: dict[str, str] = Field(default={})
    min: float | None = None
    max: float | None = None
    unit: str | None = None
    default: Any = None
    help: str
    group: str = "workload"
    ask_when: Any = None


class QuestionsFile(StrictModel):
    questions: list[QuestionModel]


class FactModel(StrictModel):
    type: Literal["bool", "number", "string"]
    kind: Literal["requirement", "intermediate", "computed"]
    description: str
    default: Any = None
    choices: list[str] = Field(default=[])
    unit: str | None = None
    combine: Literal["or", "max", "min", "agree"] | None = None


class FactsFile(StrictModel):
    facts: dict[str, FactModel]


class ClaimModel(StrictModel):
    """What a preference rests on, so the engine can check it against the numbers."""

    metric: str
    best: Literal["highest", "lowest"]


class PreferModel(StrictModel):
    points: float = Field(gt=-100, lt=100)
    claim: ClaimModel | None = None


class ThenModel(StrictModel):
    derive: dict[str, Any] | None = None
    require: str | list[str] | None = None
    exclude: bool | None = None
    prefer: PreferModel | None = None
    warn: str | None = None


class ExpectModel(StrictModel):
    fires: bool | None = None
    fires_for: list[str] = Field(default=[])
    not_for: list[str] = Field(default=[])
    facts: dict[str, Any] = Field(default={})
    top: str | None = None
    excluded: list[str] = Field(default=[])
    recommended: list[str] = Field(default=[])


class ExampleModel(StrictModel):
    name: str | None = None
    answers: dict[str, Any] = Field(default={})
    expect: ExpectModel


class RuleModel(StrictModel):
    id: str = Field(pattern=_ID)
    description: str
    when: Any = None
    then: ThenModel
    because: str
    sources: list[str] = Field(min_length=1)
    examples: list[ExampleModel] = Field(default=[])
    severity: Literal["info", "caution", "serious"] = "caution"


class RulesFile(StrictModel):
    topic: str = Field(pattern=_NAME.replace("_", "_-"))
    title: str
    rules: list[RuleModel]


class RulesFileHeader(StrictModel):
    """The file's own keys; each rule is validated on its own so one bad rule hides no other."""

    topic: str = Field(pattern=_NAME.replace("_", "_-"))
    title: str
    rules: list[Any]


class MetricModel(StrictModel):
    better: Literal["higher", "lower"]
    description: str
    attribute: str


class RankingFile(StrictModel):
    metrics: dict[str, MetricModel]
    priorities: dict[str, dict[str, float]]
    setting_ease: dict[str, float] = Field(default={})
    emphasis: dict[str, dict[str, float]] = Field(default={})
    sources: list[str] = Field(default=[])
    order: dict[str, Any] = Field(
        default={}
    )  # validated by knowledge.table_schema (the ranking's own table)
