"""Strict pydantic models of the ranking's ``order:`` table and of ``rules/levers.yaml``.

Imported only when a table is validated (``knowledge.tables`` builds its plain records from
them when the rule base loads), so a cold command-line run with a warm cache never imports
pydantic.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from gpu_advisor.knowledge.schema import StrictModel as _Strict


class TieBreakModel(_Strict):
    metric: str
    weight: float = Field(gt=0)
    reason: str = Field(min_length=10)
    priorities: list[str] = []


class NearTieModel(_Strict):
    within: float = Field(ge=0, lt=0.5)
    reason: str = Field(min_length=10)
    priorities: list[str] = []


class MeasuredRuleModel(_Strict):
    quality: str
    reason: str = Field(min_length=10)


class OrderModel(_Strict):
    near_tie: list[NearTieModel] = []
    tie_breaks: list[TieBreakModel] = []
    qualities: dict[str, str] = {}
    measured_rules: dict[str, MeasuredRuleModel] = {}


class GivesUpModel(_Strict):
    text: str = Field(min_length=5)
    source: str


class StepModel(_Strict):
    """Exactly one of ``to``, ``times``, ``device`` or ``other_editions``."""

    to: Any = None
    times: float | None = Field(default=None, gt=0)
    device: str | None = None
    other_editions: bool | None = None
    gives_up: GivesUpModel

    @model_validator(mode="after")
    def _one_kind(self) -> StepModel:
        given = [
            k for k in ("to", "times", "device", "other_editions") if getattr(self, k) is not None
        ]
        if len(given) != 1:
            raise ValueError(
                "a step needs exactly one of to, times, device, other_editions (got "
                f"{given or 'none'})"
            )
        return self


class LeverModel(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    answer: str
    workloads: list[str] = []
    only_after: list[Any] = []
    steps: list[StepModel] = Field(min_length=1)


class SearchModel(_Strict):
    max_pairs: int = Field(default=12, ge=0, le=200)
    max_suggestions: int = Field(default=5, ge=1, le=50)


class LeversFile(_Strict):
    sources: list[str] = []
    search: SearchModel = SearchModel()
    levers: list[LeverModel]


__all__ = ["LeversFile", "OrderModel"]
