"""Rule files and knowledge-base files with pieces cut out and hostile pieces put in: each
either loads, and then consults with durable_rules and Python agreeing, or is refused with
every problem at a place in one of its files; never a traceback, a hang or code run
(issue 17)."""

from __future__ import annotations

import random
import shutil
import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from gpu_advisor.core.consult import Engine
from gpu_advisor.errors import AdvisorError, FileErrors
from tests.conftest import MINI_KB, MINI_RULES
from tests.fuzz.budget import fuzz_settings

RULE_FILES = sorted(p.name for p in MINI_RULES.glob("*.yaml"))
KB_FILES = sorted(str(p.relative_to(MINI_KB)) for p in MINI_KB.rglob("*.yaml") if p.is_file())

SNIPPETS = [
    "&a [*a]",
    "*a",
    "!!python/object/apply:os.system ['touch /tmp/gpu-advisor-pwned']",
    "!!python/name:os.system",
    "{{{{",
    "[" * 80,
    "]",
    "9" * 500,
    ".inf",
    ".nan",
    "-.inf",
    "1e16",
    "1e-5",
    "\x1b]0;title\x07",
    "\u202e",
    "'",
    '"',
    ": ",
    "- ",
    "\n  - ",
    "\n",
    "    ",
    "{device.memory_gb:>2000000000}",
    "{answer.budget_usd!r}",
    "{__import__}",
    "device.memory_gb > device.price_usd",
    "answer.model_params_b in [1, 2, 3]",
    " and ",
    " or not ",
    "fact.",
    "any:",
    "all:",
    "null",
    "~",
    "true",
    "<<: *a",
]

_MUTATIONS = st.lists(
    st.tuples(
        st.integers(0, 2**31), st.integers(0, 40), st.sampled_from(SNIPPETS), st.integers(1, 3)
    ),
    min_size=1,
    max_size=3,
)


def _mutate(text: str, mutations: list[tuple[int, int, str, int]]) -> str:
    for at, drop, insert, times in mutations:
        where = at % (len(text) + 1)
        text = text[:where] + insert * times + text[where + drop :]
    return text


def _check(kb: Path, rules: Path, folder: Path) -> None:
    try:
        engine = Engine.load(kb, rules, cached=False)
    except FileErrors as exc:
        assert exc.errors
        for error in exc.errors:
            assert error.location.path.startswith(str(folder)), error
            assert "\n" not in error.message.strip(), error
        return
    answers = {"workload": "inference", "model_params_b": 13, "deployment": "production"}
    try:
        durable = engine.consult(answers)
    except AdvisorError:
        return
    assert durable.fired == engine.consult(answers, evaluator="python").fired


@fuzz_settings(150)
@given(name=st.sampled_from(RULE_FILES), mutations=_MUTATIONS)
def test_mutated_rule_files_load_or_are_refused_at_a_place(
    name: str, mutations: list[tuple[int, int, str, int]]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rules = folder / "rules"
        shutil.copytree(MINI_RULES, rules)
        target = rules / name
        target.write_text(_mutate(target.read_text(encoding="utf-8"), mutations), encoding="utf-8")
        _check(MINI_KB, rules, folder)
    assert not Path("/tmp/gpu-advisor-pwned").exists()


@fuzz_settings(150)
@given(name=st.sampled_from(KB_FILES), mutations=_MUTATIONS)
def test_mutated_knowledge_files_load_or_are_refused_at_a_place(
    name: str, mutations: list[tuple[int, int, str, int]]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        kb = folder / "kb"
        shutil.copytree(MINI_KB, kb)
        target = kb / name
        target.write_text(_mutate(target.read_text(encoding="utf-8"), mutations), encoding="utf-8")
        _check(kb, MINI_RULES, folder)
    assert not Path("/tmp/gpu-advisor-pwned").exists()


@fuzz_settings(30)
@given(seed=st.integers(0, 2**32 - 1), width=st.integers(1, 1200))
def test_generated_wide_rules_load_and_agree_or_are_refused(seed: int, width: int) -> None:
    """A rule with an ``any:`` or ``in`` list of up to 1,200 alternatives (past the 511 one
    durable node takes), or a stage of many one-line rules: the adapter splits and packs them,
    and both evaluators fire the same rules."""
    chooser = random.Random(seed)
    values = chooser.sample(range(1, 2001), width)  # model_params_b takes 0.1..2,000
    shape = chooser.choice(["any", "in", "rules"])
    if shape == "any":
        when = "      any:\n" + "".join(f"        - answer.model_params_b == {v}\n" for v in values)
        body = f"  - id: zz.wide\n    description: d\n    when:\n{when}"
        body += "    then:\n      warn: w\n    because: b\n    sources: [seed-000#vram]\n"
    elif shape == "in":
        body = (
            "  - id: zz.wide\n    description: d\n"
            f"    when: answer.model_params_b in [{', '.join(map(str, values))}]\n"
            "    then:\n      warn: w\n    because: b\n    sources: [seed-000#vram]\n"
        )
    else:
        body = "".join(
            f"  - id: zz.r{i}\n    description: d\n    when: answer.model_params_b > {v}\n"
            f"    then:\n      warn: r{i}\n    because: b\n    sources: [seed-000#vram]\n"
            for i, v in enumerate(values[:600])
        )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rules = folder / "rules"
        shutil.copytree(MINI_RULES, rules)
        (rules / "zz.yaml").write_text("topic: zz\ntitle: zz\nrules:\n" + body, encoding="utf-8")
        engine = Engine.load(MINI_KB, rules, cached=False)
        outside = next((v for v in range(1, 2001) if v not in values), None)
        for params in (values[0], values[-1], outside):
            if params is None:
                continue
            answers = {"workload": "inference", "model_params_b": params}
            durable = engine.consult(answers)
            assert durable.fired == engine.consult(answers, evaluator="python").fired
            if shape != "rules":
                assert (("zz.wide", None) in durable.fired) == (params in values)
