"""Answers from anywhere (a file, ``--set``, the TUI): any mapping of any values either gives
a consultation with finite numbers, the same under durable_rules and the Python evaluator, or
one AdvisorError; answers files of any text give a mapping or one UsageError (issue 17)."""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from gpu_advisor.core.consult import Engine
from gpu_advisor.errors import AdvisorError, UsageError
from gpu_advisor.knowledge.answers import load_answers_file
from tests.conftest import ROOT
from tests.fuzz.budget import fuzz_settings

QUESTIONS = sorted(
    Engine.load(ROOT / "kb", ROOT / "rules").rulebase.questions.values(), key=lambda q: q.key
)
KEYS = [q.key for q in QUESTIONS]
CHOICES = sorted({str(c) for q in QUESTIONS for c in (q.choices or ())})

_VALUES = st.one_of(
    st.sampled_from(CHOICES),
    st.integers(-(10**30), 10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.text(max_size=12),
    st.sampled_from(["1e16", "1e-5", "9" * 400, "nan", "-inf", "0x10", "1_000", " 7 "]),
    st.lists(st.sampled_from(CHOICES), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


def _valid(question: Any) -> st.SearchStrategy[Any]:
    """Values the question accepts, edges included."""
    if question.type == "choice":
        return st.sampled_from(list(question.choices))
    if question.type == "boolean":
        return st.booleans()
    if question.type in ("number", "integer"):
        low = question.min if question.min is not None else 0
        high = question.max if question.max is not None else 10**6
        if question.type == "integer":
            return st.integers(math.ceil(low), math.floor(high))
        return st.one_of(st.sampled_from([low, high]), st.floats(low, high))
    return st.nothing()


@st.composite
def _answers(draw: st.DrawFn) -> dict[str, Any]:
    """Mostly valid answers (so the engine runs), some hostile values and unknown keys."""
    answers: dict[str, Any] = {}
    for question in QUESTIONS:
        roll = draw(st.integers(0, 59))  # of ~35 questions, about one hostile value in two sets
        if roll < 24 or question.type in ("model", "devices"):
            continue
        if roll < 59:
            answers[question.key] = draw(_valid(question))
        else:
            answers[question.key] = draw(_VALUES)
    if draw(st.integers(0, 19)) == 0:
        answers[draw(st.text(max_size=8))] = draw(_VALUES)
    return answers


@fuzz_settings(60)
@given(answers=_answers())
def test_any_answers_consult_or_fail_in_one_error(engine: Engine, answers: dict[str, Any]) -> None:
    """Both evaluators, on every answer set the engine accepts: the same firings, finite
    scores and costs."""
    try:
        durable = engine.consult(answers)
    except AdvisorError:
        event("refused")
        return
    event("consulted")
    python = engine.consult(answers, evaluator="python")
    assert durable.fired == python.fired  # the two evaluators agree on every firing
    for recommendation in durable.recommendations:
        assert math.isfinite(recommendation.score) and math.isfinite(recommendation.cost_usd)


@fuzz_settings(40)
@given(answers=_answers())
def test_a_verdict_without_words_is_the_verdict(engine: Engine, answers: dict[str, Any]) -> None:
    """The lever search's re-consultations (``words=False``) skip the rules that only warn,
    score no device an excluding rule took out, and price no device that a rule reading only
    its count rules out: the ranking, costs, scores and exclusions are those of the full
    consultation, and only firings of rules that only warn, that score an excluded device or
    that exclude a device already excluded are missing. The verdict runs first, on an engine
    new to the situation (after a full consultation it would find every device priced)."""
    fresh = Engine(engine.rulebase)
    try:
        verdict = fresh.consult(answers, evaluator="python", words=False)
    except AdvisorError:
        return
    full = fresh.consult(answers, evaluator="python")

    def ranked(c: Any) -> list[tuple[str, int, float, float, float]]:
        return [(r.device, r.count, r.cost_usd, r.score, r.tie_break) for r in c.recommendations]

    assert ranked(verdict) == ranked(full)
    assert set(verdict.all_exclusions) == set(full.all_exclusions)
    rules = {rule.id: rule for rule in engine.rulebase.rules}
    assert verdict.fired <= full.fired
    for rule_id, device in full.fired - verdict.fired:
        rule = rules[rule_id]
        only_warns = not (rule.derive or rule.exclude or rule.prefer)
        excluded = device in full.all_exclusions
        scores_an_excluded_device = rule.prefer is not None and excluded
        excludes_an_excluded_device = rule.exclude and excluded and device in verdict.all_exclusions
        assert only_warns or scores_an_excluded_device or excludes_an_excluded_device, (
            rule_id,
            device,
        )
    if any(device not in verdict.arithmetic.purchases for device in verdict.all_exclusions):
        event("a device ruled out before its purchase")


@fuzz_settings(40)
@given(
    key=st.sampled_from([q.key for q in QUESTIONS if q.type in ("int", "number")]),
    value=st.sampled_from(
        ["9" * 400, "9" * 5000, "1e400", "-1e400", ".inf", "nan", "NaN", "1e-400", "-0"]
    ),
)
def test_numbers_past_a_float_are_refused_by_name(engine: Engine, key: str, value: str) -> None:
    """``--set key=<huge>``: one UsageError naming the answer, never a traceback nor an
    infinity planned as usable memory."""
    try:
        consultation = engine.consult({key: value})
    except UsageError as exc:
        assert key in str(exc)
        return
    except AdvisorError:
        return
    assert all(math.isfinite(r.score) for r in consultation.recommendations)


SAMPLE_YAML = "workload: fine-tuning\nmodel_params_b: 70\nmethod: lora\nbudget_usd: 50000\n"
SAMPLE_JSON = '{"workload": "inference", "model_params_b": 7, "concurrent_users": [1, {"a": 2}]}'
_SNIPPETS = [
    "&a [*a]",
    "*a",
    "&x",
    "!!python/object:os.system",
    "{{{{",
    "[[[[" * 40,
    "]",
    "\x00",
    "9" * 500,
    ".inf",
    ".nan",
    "NaN",
    "Infinity",
    "1e999",
    "\ufeff",
    "\t",
    ": :",
    "- -",
    "'",
    '"',
    "\\u0000",
    "<<: *a",
    "? ",
]


@fuzz_settings(150)
@given(
    suffix=st.sampled_from([".yaml", ".json"]),
    seed=st.integers(0, 2**32 - 1),
    cuts=st.integers(1, 4),
)
def test_mutated_answers_files_load_or_fail_in_one_usage_error(
    tmp_path_factory: pytest.TempPathFactory, suffix: str, seed: int, cuts: int
) -> None:
    chooser = random.Random(seed)
    text = SAMPLE_JSON if suffix == ".json" else SAMPLE_YAML
    for _ in range(cuts):
        at = chooser.randrange(len(text) + 1)
        drop = chooser.randrange(8)
        insert = chooser.choice(_SNIPPETS) * chooser.choice([1, 1, 2, 70])
        text = text[:at] + insert + text[at + drop :]
    path = tmp_path_factory.mktemp("answers") / f"answers{suffix}"
    path.write_text(text, encoding="utf-8")
    try:
        data = load_answers_file(str(path))
    except UsageError as exc:
        message = str(exc)
        assert message.startswith(str(path)) and "\n" not in message.strip()
        return
    assert isinstance(data, dict)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"workload": ' + "[" * 50_000 + "]" * 50_000 + "}", "1:77: nested more than 64 levels"),
        ('{"model_params_b": NaN}', "1:20: NaN is not a finite number"),
        ('{\n "model_params_b": 1e999}', "2:20: 1e999 is not a finite number"),
        ('{"model_params_b": ' + "9" * 5000 + "}", "1:20: integer with 5,000 digits: too large"),
        ('{"model_params_b": ' + "9" * 400 + "}", "1:20: integer too large"),
        ('{"a": "' + "[" * 70 + '"}', ""),
    ],
)
def test_hostile_json_answers_are_refused_where_they_stand(
    tmp_path: Path, text: str, message: str
) -> None:
    """Columns counted by hand: ``{"workload": `` is 13 characters, so the brackets start at
    column 14 and the 64th (depth 65 with the brace) stands at 14 + 63 = 77.
    ``{"model_params_b": `` is 19 characters: the number starts at column 20 (line 2: one
    space and ``"model_params_b": `` make 19 characters there too: column 20)."""
    path = tmp_path / "answers.json"
    path.write_text(text, encoding="utf-8")
    if not message:  # brackets inside a string are text, not nesting
        assert load_answers_file(str(path)) == {"a": "[" * 70}
        return
    with pytest.raises(UsageError) as caught:
        load_answers_file(str(path))
    assert str(caught.value).startswith(f"{path}:{message}")
