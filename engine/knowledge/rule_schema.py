"""Shapes of the rule files (pydantic; imported only when loading files or writing schemas)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

_ID = r"^[a-z0-9][a-z0-9.-]*$"
_NAME = r"^[a-z][a-z0-9_]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------------------------------------
# File schemas (shape only; conditions and names are checked after)


class QuestionModel(_Strict):
    key: str = Field(pattern=_NAME)
    prompt: str
    type: Literal["choice", "number", "integer", "boolean", "devices"]
    choices: list[str] = []
    choice_help: dict[str, str] = {}
    min: float | None = None
    max: float | None = None
    unit: str | None = None
    default: Any = None
    help: str
    group: str = "workload"
    ask_when: Any = None


class QuestionsFile(_Strict):
    questions: list[QuestionModel]


class FactModel(_Strict):
    type: Literal["bool", "number", "string"]
    kind: Literal["requirement", "intermediate", "computed"]
    description: str
    default: Any = None
    choices: list[str] = []
    unit: str | None = None
    combine: Literal["or", "max", "min", "agree"] | None = None


class FactsFile(_Strict):
    facts: dict[str, FactModel]


class ClaimModel(_Strict):
    """What a preference rests on, so the engine can check it against the numbers."""

    metric: str
    best: Literal["highest", "lowest"]


class PreferModel(_Strict):
    points: float = Field(gt=-100, lt=100)
    claim: ClaimModel | None = None


class ThenModel(_Strict):
    derive: dict[str, Any] | None = None
    require: str | list[str] | None = None
    exclude: bool | None = None
    prefer: PreferModel | None = None
    warn: str | None = None


class ExpectModel(_Strict):
    fires: bool | None = None
    fires_for: list[str] = []
    not_for: list[str] = []
    facts: dict[str, Any] = {}
    top: str | None = None
    excluded: list[str] = []
    recommended: list[str] = []


class ExampleModel(_Strict):
    name: str | None = None
    answers: dict[str, Any] = {}
    expect: ExpectModel


class RuleModel(_Strict):
    id: str = Field(pattern=_ID)
    description: str
    when: Any = None
    then: ThenModel
    because: str
    sources: list[str] = Field(min_length=1)
    examples: list[ExampleModel] = []
    severity: Literal["info", "caution", "serious"] = "caution"


class RulesFile(_Strict):
    topic: str = Field(pattern=_NAME.replace("_", "_-"))
    title: str
    rules: list[RuleModel]


class RulesFileHeader(_Strict):
    """The file's own keys; each rule is validated on its own so one bad rule hides no other."""

    topic: str = Field(pattern=_NAME.replace("_", "_-"))
    title: str
    rules: list[Any]


class MetricModel(_Strict):
    better: Literal["higher", "lower"]
    description: str
    attribute: str


class RankingFile(_Strict):
    metrics: dict[str, MetricModel]
    priorities: dict[str, dict[str, float]]
    setting_ease: dict[str, float] = {}
    emphasis: dict[str, dict[str, float]] = {}
    sources: list[str] = []
    order: dict[str, Any] = {}  # validated by core.table_schema.OrderModel (the ranking's own table)
