"""Pictures of each main screen at fixed sizes (pytest-textual-snapshot).

A snapshot fails when the screen changes; look at the report (``snapshot_report.html``) and, when
the change is intended, accept it with ``pytest tests/test_tui_snapshots.py --snapshot-update``.
Every picture waits for the consultation (and the counterfactual search) to finish, stops the
input cursor blinking and waits until two frames in a row agree (``screenshots.steady``), so the
same code always draws the same picture. The pictures are drawn from the small knowledge base and
rule set in ``tests/fixtures/mini_kb`` and ``tests/fixtures/mini_rules`` (four devices, a handful
of rules, the full questionnaire), not from the shipped ``kb/`` and ``rules/``: a new price or a
reworded rule there does not redraw them, only a change to the screens (or to the fixture) does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from textual.pilot import Pilot
from textual.widgets import OptionList

from gpu_advisor.core.consult import Engine
from gpu_advisor.tui.app import AdvisorApp
from gpu_advisor.tui.screenshots import steady

from ..conftest import MINI_KB

INFERENCE_70B_FP4 = {
    "workload": "inference",
    "model_params_b": 70,
    "precision": "fp4",
    "candidates": "h100-pcie,rtx-pro-6000-blackwell,rtx-5090",
}
FINE_TUNING_PRODUCTION = {
    "workload": "fine-tuning",
    "model_params_b": 7,
    "deployment": "production",
    "candidates": "rtx-5090,rtx-pro-6000-blackwell",
}

Snap = Callable[..., bool]


def advisor(engine: Engine, answers: dict[str, Any]) -> AdvisorApp:
    """The app on the fixture rule base, reading the plan's energy and pathways from the fixture
    too."""
    return AdvisorApp(engine, answers, kb_dir=str(MINI_KB))


def prepare(
    *steps: Callable[[Pilot[None]], Awaitable[None]],
) -> Callable[[Pilot[None]], Awaitable[None]]:
    async def run_before(pilot: Pilot[None]) -> None:
        await steady(pilot)
        for step in steps:
            await step(pilot)
            await steady(pilot)

    return run_before


def keys(*names: str) -> Callable[[Pilot[None]], Awaitable[None]]:
    async def press(pilot: Pilot[None]) -> None:
        await pilot.press(*names)

    return press


def call(action: Callable[[AdvisorApp], Any]) -> Callable[[Pilot[None]], Awaitable[None]]:
    async def run(pilot: Pilot[None]) -> None:
        action(pilot.app)  # type: ignore[arg-type]

    return run


def test_questionnaire_at_80x24(snap_compare: Snap, mini_engine: Engine) -> None:
    app = advisor(mini_engine, INFERENCE_70B_FP4)
    assert snap_compare(app, terminal_size=(80, 24), run_before=prepare())


def test_questionnaire_at_40x12(snap_compare: Snap, mini_engine: Engine) -> None:
    """The smallest size a person may run it at: the question and the verdict both show."""
    app = advisor(mini_engine, INFERENCE_70B_FP4)
    assert snap_compare(app, terminal_size=(40, 12), run_before=prepare())


def test_questionnaire_at_120x40(snap_compare: Snap, mini_engine: Engine) -> None:
    app = advisor(mini_engine, INFERENCE_70B_FP4)
    assert snap_compare(
        app, terminal_size=(120, 40), run_before=prepare(call(lambda a: a.screen.goto("precision")))
    )


def test_questionnaire_in_the_light_theme(snap_compare: Snap, mini_engine: Engine) -> None:
    app = advisor(mini_engine, FINE_TUNING_PRODUCTION)
    assert snap_compare(app, terminal_size=(120, 40), run_before=prepare(keys("ctrl+t")))


def test_questionnaire_done(snap_compare: Snap, mini_engine: Engine) -> None:
    app = advisor(mini_engine, FINE_TUNING_PRODUCTION)

    async def to_the_end(pilot: Pilot[None]) -> None:
        pilot.app.screen.current_key = None  # type: ignore[attr-defined]

    assert snap_compare(app, terminal_size=(120, 40), run_before=prepare(to_the_end))


def test_invalid_number_marked_beside_the_field(snap_compare: Snap, mini_engine: Engine) -> None:
    app = advisor(mini_engine, INFERENCE_70B_FP4)
    assert snap_compare(
        app,
        terminal_size=(80, 24),
        run_before=prepare(
            call(lambda a: a.screen.goto("model_params_b")),
            keys("end", "backspace", "backspace", "x"),
        ),
    )


def test_why_are_you_asking_this(snap_compare: Snap, mini_engine: Engine) -> None:
    app = advisor(mini_engine, INFERENCE_70B_FP4)
    assert snap_compare(
        app,
        terminal_size=(80, 24),
        run_before=prepare(call(lambda a: a.screen.goto("max_gpus")), keys("f1")),
    )


def test_explanation_of_an_excluded_device(snap_compare: Snap, mini_engine: Engine) -> None:
    app = advisor(mini_engine, FINE_TUNING_PRODUCTION)

    async def pick_excluded(pilot: Pilot[None]) -> None:
        pilot.app.screen.query_one("#explain-devices", OptionList).highlighted = 1

    assert snap_compare(app, terminal_size=(120, 40), run_before=prepare(keys("f3"), pick_excluded))


def test_explanation_of_the_recommendation(snap_compare: Snap, mini_engine: Engine) -> None:
    app = advisor(mini_engine, INFERENCE_70B_FP4)
    assert snap_compare(app, terminal_size=(120, 40), run_before=prepare(keys("f3")))


def test_knowledge_view_with_a_disagreement(snap_compare: Snap, mini_engine: Engine) -> None:
    app = advisor(mini_engine, INFERENCE_70B_FP4)

    async def bandwidth(pilot: Pilot[None]) -> None:
        screen = pilot.app.screen
        screen.select_device("rtx-pro-6000-blackwell")  # type: ignore[attr-defined]
        await pilot.pause()
        table = screen.query_one("#kb-facts")
        table.focus()
        table.move_cursor(row=table.get_row_index("bandwidth_gbs"))  # type: ignore[attr-defined]

    assert snap_compare(app, terminal_size=(120, 40), run_before=prepare(keys("f4"), bandwidth))


def test_plan_view(snap_compare: Snap, mini_engine: Engine) -> None:
    app = advisor(mini_engine, INFERENCE_70B_FP4)
    assert snap_compare(app, terminal_size=(120, 40), run_before=prepare(keys("f5")))


def test_plan_view_at_80x24(snap_compare: Snap, mini_engine: Engine) -> None:
    app = advisor(mini_engine, INFERENCE_70B_FP4)
    assert snap_compare(app, terminal_size=(80, 24), run_before=prepare(keys("f5")))


def test_export_dialog(snap_compare: Snap, mini_engine: Engine) -> None:
    app = advisor(mini_engine, INFERENCE_70B_FP4)
    assert snap_compare(app, terminal_size=(80, 24), run_before=prepare(keys("ctrl+e", "down")))


def test_knowledge_view_at_80x24(snap_compare: Snap, mini_engine: Engine) -> None:
    app = advisor(mini_engine, INFERENCE_70B_FP4)
    assert snap_compare(app, terminal_size=(80, 24), run_before=prepare(keys("f4")))


def test_explanation_at_80x24(snap_compare: Snap, mini_engine: Engine) -> None:
    app = advisor(mini_engine, INFERENCE_70B_FP4)
    assert snap_compare(app, terminal_size=(80, 24), run_before=prepare(keys("f3")))
