"""An answer change redraws only what changed (issue 16: p95 76 ms against a 50 ms target).

Layout passes are what an update costs most: each one re-arranges and repaints the screen. These
tests count the layout passes widgets ask for, and check that what did not change is left alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.content import Content
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option

from gpu_advisor.core.consult import Engine
from gpu_advisor.tui.app import AdvisorApp
from gpu_advisor.tui.charts import Bar
from gpu_advisor.tui.widgets.bars import BarChart
from gpu_advisor.tui.widgets.redraw import set_options, set_text
from gpu_advisor.tui.widgets.results import ResultsPanel


def layout_requests(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ids of the widgets that ask for a layout pass from now on."""
    asked: list[str] = []
    refresh = Widget.refresh

    def recording(self: Widget, *regions: Any, **kwargs: Any) -> Any:
        if kwargs.get("layout"):
            asked.append(self.id or type(self).__name__)
        return refresh(self, *regions, **kwargs)

    monkeypatch.setattr(Widget, "refresh", recording)
    return asked


class Parts(App[None]):
    """One line of text, a list and a chart, 40 cells wide."""

    CSS = "Label { width: 1fr; } OptionList { height: auto; }"

    def compose(self) -> ComposeResult:
        yield Label("Memory need: 23.5 GB", id="line")
        yield Static("", id="text")
        yield OptionList(Option("a: 1 GB", id="a"), Option("b: 2 GB", id="b"), id="list")
        yield BarChart(id="chart")


def run(app: App[None], script: Callable[[Pilot[None]], Awaitable[None]]) -> None:
    async def main() -> None:
        async with app.run_test(size=(40, 20)) as pilot:
            await pilot.pause()
            await script(pilot)
            await pilot.pause()

    asyncio.run(main())


def test_text_of_the_same_height_is_redrawn_without_a_layout_pass(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = Parts()

    async def script(pilot: Pilot[None]) -> None:
        line = app.query_one("#line", Label)
        asked = layout_requests(monkeypatch)
        assert set_text(line, Content("Memory need: 40.2 GB")) is True  # same height: 1 line
        assert asked == []
        assert set_text(line, Content("Memory need: 40.2 GB")) is False  # unchanged: nothing
        text = app.query_one("#text", Static)
        set_text(text, Content("one\ntwo"))  # 0 -> 2 lines: the screen must be laid out again
        assert asked == ["text"]
        # Same characters, another colour: still a change to draw.
        assert set_text(line, Content.styled("Memory need: 40.2 GB", "bold")) is True

    run(app, script)


def test_a_list_with_the_same_ids_is_updated_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    app = Parts()

    async def script(pilot: Pilot[None]) -> None:
        options = app.query_one("#list", OptionList)
        first = options.get_option_at_index(0)
        asked = layout_requests(monkeypatch)
        set_options(options, [Option("a: 1 GB", id="a"), Option("b: 3 GB", id="b")])
        assert options.get_option_at_index(0) is first  # kept, not rebuilt
        assert str(options.get_option_at_index(1).prompt) == "b: 3 GB"
        assert asked == []  # two one-line rows stay two one-line rows
        set_options(options, [Option("c: 1 GB", id="c")])  # other devices: rebuilt
        assert [options.get_option_at_index(i).id for i in range(options.option_count)] == ["c"]

    run(app, script)


def test_a_chart_with_as_many_lines_needs_no_layout_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    app = Parts()

    async def script(pilot: Pilot[None]) -> None:
        chart = app.query_one("#chart", BarChart)
        chart.bars = (Bar("A", 1.0, "1 GB"), Bar("B", 2.0, "2 GB"))
        await pilot.pause()
        asked = layout_requests(monkeypatch)
        chart.bars = (Bar("A", 3.0, "3 GB"), Bar("B", 2.0, "2 GB"))  # 2 lines -> 2 lines
        assert "chart" not in asked
        chart.bars = (Bar("A", 3.0, "3 GB"),)  # 2 lines -> 1 line
        assert "chart" in asked

    run(app, script)


class Rows(App[None]):
    """Five one-line rows in a list of 30 x 8 cells (a fixed size, as the answer list's: a list
    that changes size forgets all its renderings anyway), which records the row chosen."""

    CSS = "OptionList { height: 8; width: 30; }"

    def __init__(self) -> None:
        super().__init__()
        self.chosen: list[str | None] = []

    def compose(self) -> ComposeResult:
        rows = (Option(f"row {i}", id=f"r{i}") for i in range(5))
        yield OptionList(*rows, id="rows", compact=True)  # compact: no border, as in the app

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.chosen.append(event.option.id)


def rows_rendered(monkeypatch: pytest.MonkeyPatch, widget: Widget) -> list[str]:
    """The text of every row `widget` renders (wraps and styles) from now on."""
    from textual.visual import Visual

    rendered: list[str] = []
    to_strips = Visual.to_strips.__func__  # type: ignore[attr-defined]

    def recording(cls: Any, owner: Widget, visual: Any, *args: Any, **kwargs: Any) -> Any:
        if owner is widget:
            rendered.append(visual.plain if isinstance(visual, Content) else str(visual))
        return to_strips(cls, owner, visual, *args, **kwargs)

    monkeypatch.setattr(Visual, "to_strips", classmethod(recording))
    return rendered


def lines_of(widget: OptionList) -> list[str]:
    """The list as drawn, one string per screen line (the rows' padding and the blank lines
    below the last row cut)."""
    lines = [strip.text.strip() for strip in widget.render_lines(widget.region.reset_offset)]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def test_a_changed_row_is_rendered_again_and_no_other(monkeypatch: pytest.MonkeyPatch) -> None:
    """Textual's replace_option_prompt_at_index forgets every row's rendering: one changed value
    in the 24-row answer list re-rendered all of them (issue 16)."""
    app = Rows()

    async def script(pilot: Pilot[None]) -> None:
        rows = app.query_one("#rows", OptionList)
        assert lines_of(rows) == ["row 0", "row 1", "row 2", "row 3", "row 4"]
        rendered = rows_rendered(monkeypatch, rows)
        asked = layout_requests(monkeypatch)
        prompts = [f"row {i}" for i in range(5)]
        prompts[2] = "row 2: changed"
        set_options(rows, [Option(p, id=f"r{i}") for i, p in enumerate(prompts)])
        await pilot.pause()
        assert lines_of(rows) == ["row 0", "row 1", "row 2: changed", "row 3", "row 4"]
        assert rendered == ["row 2: changed"]
        assert asked == []  # five one-line rows are still five one-line rows

    run(app, script)


def test_a_row_that_grows_moves_the_rows_below_it(monkeypatch: pytest.MonkeyPatch) -> None:
    app = Rows()

    async def script(pilot: Pilot[None]) -> None:
        rows = app.query_one("#rows", OptionList)
        asked = layout_requests(monkeypatch)
        prompts = ["row 0", "row 1\nsecond line", "row 2", "row 3", "row 4"]
        set_options(rows, [Option(p, id=f"r{i}") for i, p in enumerate(prompts)])
        await pilot.pause()
        assert "rows" in asked  # 5 lines -> 6 lines: the screen is laid out again
        assert lines_of(rows) == ["row 0", "row 1", "second line", "row 2", "row 3", "row 4"]
        # One row grows and another shrinks: as many lines, but rows change places.
        asked.clear()
        prompts = ["row 0", "row 1", "row 2\nsecond line", "row 3", "row 4"]
        set_options(rows, [Option(p, id=f"r{i}") for i, p in enumerate(prompts)])
        await pilot.pause()
        assert asked == []
        assert lines_of(rows) == ["row 0", "row 1", "row 2", "second line", "row 3", "row 4"]
        await pilot.click("#rows", offset=(2, 4))  # the line of row 3
        assert app.chosen == ["r3"]

    run(app, script)


def test_a_rebuilt_list_renders_only_the_rows_not_drawn_in_their_place(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Other ids mean a new list (the answer list when a question comes or goes, the excluded
    devices): rows that read the same in the same place keep their rendering."""
    app = Rows()

    async def script(pilot: Pilot[None]) -> None:
        rows = app.query_one("#rows", OptionList)
        rendered = rows_rendered(monkeypatch, rows)
        set_options(rows, [Option(f"row {i}", id=f"r{i}") for i in range(6)])  # one more row
        await pilot.pause()
        assert lines_of(rows) == [f"row {i}" for i in range(6)]
        assert rendered == ["row 5"]
        # A row in front: every row moves down one, so each is rendered for its new place
        # (a row's rendering carries its index, which a click reports).
        rendered.clear()
        options = [Option("first", id="first")] + [Option(f"row {i}", id=f"r{i}") for i in range(6)]
        set_options(rows, options)
        await pilot.pause()
        assert lines_of(rows) == ["first"] + [f"row {i}" for i in range(6)]
        assert sorted(rendered) == sorted(["first"] + [f"row {i}" for i in range(6)])
        await pilot.click("#rows", offset=(2, 3))  # the fourth line: row 2, index 3
        assert app.chosen == ["r2"]

    run(app, script)


def test_an_answer_accepted_at_its_default_is_shown_as_given(engine: Engine) -> None:
    """The answer list greys answers left at their default and shows given ones in bold; the
    row used to be compared by its characters only, so giving the default kept it grey."""
    app = AdvisorApp(engine, {})

    def value_styles(list_: OptionList, key: str) -> set[str]:
        prompt = list_.get_option(key).prompt
        assert isinstance(prompt, Content)
        start = prompt.plain.index(key) + len(key) + 2  # the value follows the key and 2 spaces
        return {str(span.style) for span in prompt.spans if span.start >= start}

    async def main() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            await app.wait_idle()
            await pilot.pause()
            answers = app.screen.query_one("#answer-list", OptionList)
            workload = engine.rulebase.questions["workload"]
            assert workload.default == "fine-tuning" and "workload" not in app.session.given
            assert value_styles(answers, "workload") == {"$foreground-muted"}
            app.set_answer("workload", "fine-tuning")
            await app.wait_idle()
            await pilot.pause()
            assert value_styles(answers, "workload") == {"bold"}

    asyncio.run(main())


def test_showing_the_same_consultation_again_changes_nothing(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = AdvisorApp(engine, {"workload": "inference", "model_params_b": 70, "precision": "fp4"})

    async def main() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            await app.wait_idle()
            await pilot.pause()
            panel = app.screen.query_one(ResultsPanel)
            ranking = panel.query_one("#recommended", OptionList)
            excluded = panel.query_one("#excluded", OptionList)
            rows = [ranking.get_option_at_index(i) for i in range(ranking.option_count)]
            out = [excluded.get_option_at_index(i) for i in range(excluded.option_count)]
            asked = layout_requests(monkeypatch)
            assert app.consultation is not None
            panel.show(app.consultation)
            assert asked == []
            assert [ranking.get_option_at_index(i) for i in range(ranking.option_count)] == rows
            assert all(excluded.get_option_at_index(i) is option for i, option in enumerate(out))

    asyncio.run(main())


def test_the_long_lived_heap_is_frozen_once_the_first_results_are_drawn(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full garbage collection over the engine's and Textual's objects fell inside an answer
    change now and then (the p95 of issue 16): the heap is frozen after the first results."""
    import gpu_advisor.tui.app as app_module

    frozen: list[str] = []
    monkeypatch.setattr(app_module, "heap_frozen", lambda: bool(frozen))
    monkeypatch.setattr(app_module, "freeze_long_lived_heap", lambda: frozen.append("frozen"))
    app = AdvisorApp(engine, {"workload": "inference", "model_params_b": 70})

    async def main() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            await app.wait_idle()
            await pilot.pause()
            assert frozen == ["frozen"]
            app.set_answer("model_params_b", 13)
            await app.wait_idle()
            await pilot.pause()
            assert frozen == ["frozen"]  # once per process, not per change

    asyncio.run(main())


def test_asking_whether_the_heap_is_frozen_does_not_count_the_frozen_objects(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``gc.get_freeze_count()`` walks every frozen object to count them (6-9 ms for the app's
    heap) and the app asks after every consultation: once frozen, it is remembered."""
    import gc

    import gpu_advisor.tui.heap as heap

    count = gc.get_freeze_count
    calls: list[int] = []

    def counting() -> int:
        calls.append(1)
        return count()

    heap.freeze_long_lived_heap()
    monkeypatch.setattr(gc, "get_freeze_count", counting)
    assert heap.heap_frozen() is True
    assert heap.heap_frozen() is True
    assert calls == []
