"""The rough edges a new user hit in the terminal UI (issue 16), each driven with keys."""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Input, SelectionList, Static

from gpu_advisor.core.consult import Engine
from gpu_advisor.tui.screens.dialogs import ExportDialog, PathDialog, WhyDialog
from tests.tui.test_tui import app_for, consult_screen, run, settle, shown


def _to_candidates(app) -> None:
    consult_screen(app).goto("candidates")


def test_enter_on_candidates_accepts_and_does_not_tick(engine: Engine) -> None:
    app = app_for(engine, {"workload": "inference", "model_params_b": 7})

    async def script(pilot: Pilot[None]) -> None:
        _to_candidates(app)
        await settle(pilot)
        devices = app.screen.query_one("#q-devices", SelectionList)
        devices.focus()
        await pilot.pause()
        await pilot.press("enter")
        await settle(pilot)
        assert devices.selected == []
        assert consult_screen(app).current_key is None  # moved on: the end of the questionnaire
        assert app.consultation is not None and app.consultation.recommendations

    run(app, script)


def test_ticked_and_unticked_boxes_differ_as_text(engine: Engine) -> None:
    app = app_for(engine, {"workload": "inference", "candidates": "rtx-5090"})

    async def script(pilot: Pilot[None]) -> None:
        _to_candidates(app)
        await settle(pilot)
        devices = app.screen.query_one("#q-devices", SelectionList)
        order = [devices.get_option_at_index(i).value for i in range(devices.option_count)]
        # 22 devices outgrow the list's 12 lines: bring the ticked one into view, then read the
        # lines on screen (line y shows the option at the scroll offset + y)
        devices.highlighted = order.index("rtx-5090")
        await settle(pilot)
        top = round(devices.scroll_offset.y)
        lines = shown(devices).splitlines()
        ticked = lines[order.index("rtx-5090") - top]
        unticked = lines[
            next(i for i, d in enumerate(order) if d != "rtx-5090" and top <= i < top + len(lines))
            - top
        ]
        assert "rtx-5090" in ticked or "RTX 5090" in ticked
        assert "X" in ticked[:4] and "X" not in unticked[:4]

    run(app, script)


def test_why_on_candidates_says_the_engine_reads_it(engine: Engine) -> None:
    app = app_for(engine)

    async def script(pilot: Pilot[None]) -> None:
        _to_candidates(app)
        await settle(pilot)
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, WhyDialog)
        text = " ".join(shown(w) for w in app.screen.query(Static))
        assert "engine itself reads it" in text
        assert "No rule uses this answer" not in text

    run(app, script)


def test_enter_on_the_format_list_moves_to_the_file_name(engine: Engine, tmp_path: Path) -> None:
    app = app_for(engine, {"workload": "inference"})
    target = tmp_path / "mine.json"

    async def script(pilot: Pilot[None]) -> None:
        await pilot.press("ctrl+e")
        await pilot.pause()
        assert isinstance(app.screen, ExportDialog)
        await pilot.press("down", "down", "enter")  # JSON
        await pilot.pause()
        assert isinstance(app.screen, ExportDialog), "Enter on a format must not export yet"
        field = app.screen.query_one("#path", Input)
        assert app.screen.focused is field
        field.value = str(target)
        await pilot.press("enter")
        await settle(pilot)

    run(app, script)
    assert target.exists()
    assert not list(Path.cwd().glob("gpu-advisor-report.*"))


def test_load_offers_the_file_just_saved(engine: Engine, tmp_path: Path) -> None:
    app = app_for(engine, {"workload": "inference"})
    target = tmp_path / "saved.yaml"

    async def script(pilot: Pilot[None]) -> None:
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, PathDialog)
        app.screen.query_one("#path", Input).value = str(target)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("ctrl+o")
        await pilot.pause()
        assert isinstance(app.screen, PathDialog)
        assert app.screen.query_one("#path", Input).value == str(target)

    run(app, script)


def test_the_footer_shows_quit_load_and_graph(engine: Engine) -> None:
    app = app_for(engine)

    async def script(pilot: Pilot[None]) -> None:
        keys = {binding.action for _, binding, *_ in app.active_bindings.values() if binding.show}
        assert {"quit", "load", "graph"} <= keys, keys

    run(app, script)


def test_answers_at_their_default_are_never_saved(engine: Engine) -> None:
    from gpu_advisor.tui.session import Session

    session = Session(engine)
    session.set("workload", "fine-tuning")  # a choice picked at its default
    session.set("context_tokens", str(engine.rulebase.questions["context_tokens"].default))
    session.set("model_params_b", "13")
    text = session.to_yaml()
    assert "model_params_b: 13" in text
    assert "workload" not in text and "context_tokens" not in text


def test_the_memory_chart_never_draws_an_excluded_device_as_fitting(engine: Engine) -> None:
    from gpu_advisor.tui.charts import memory_bars

    consultation = engine.consult({"workload": "inference", "deployment": "production"})
    assert "dgx-spark" in consultation.all_exclusions
    bars = {bar.label: bar for bar in memory_bars(consultation)[1]}
    spark = bars["DGX Spark"]
    assert spark.variant != "ok" and "excluded" in spark.text and "×" not in spark.text


def test_growth_is_not_asked_when_the_model_is_already_13b(engine: Engine) -> None:
    from gpu_advisor.tui.session import Session

    assert (
        "growth_expected"
        in Session(engine, {"workload": "inference", "model_params_b": 7}).asked_keys()
    )
    assert (
        "growth_expected"
        not in Session(engine, {"workload": "inference", "model_params_b": 13}).asked_keys()
    )
    help_text = engine.rulebase.questions["batch_size"].help
    assert "fine-tuning" in help_text or "training" in help_text
