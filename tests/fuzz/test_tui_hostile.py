"""The TUI under hostile keys and files, driven with Textual's pilot (issue 17): the command
palette over a dialog, and Ctrl+O on files that used to crash the app and lose the answers.

Any exception inside the app makes ``run_test`` raise when it exits, so reaching the end with
the app running is part of every assertion.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest
from textual.command import CommandPalette
from textual.widgets import Input

from gpu_advisor.core.consult import Engine
from gpu_advisor.tui.app import AdvisorApp
from gpu_advisor.tui.screens.dialogs import PathDialog
from tests.fuzz.budget import examples

ANSWERS = {"workload": "inference", "model_params_b": 13}


def _stack(app: AdvisorApp) -> list[str]:
    return [type(screen).__name__ for screen in app.screen_stack]


def test_the_palette_over_a_dialog_does_not_crash_the_app(engine: Engine) -> None:
    """Ctrl+P, Ctrl+S, Ctrl+P pushed a second palette under the same id (DuplicateIds)."""
    app = AdvisorApp(engine, ANSWERS, debounce=0.01)

    async def main() -> None:
        async with app.run_test(size=(100, 30)) as pilot:
            for key in ("ctrl+p", "ctrl+s", "ctrl+p"):
                await pilot.press(key)
                await pilot.pause()
            assert _stack(app) == ["ConsultScreen", "CommandPalette", "PathDialog"]
            await pilot.press("escape")  # the dialog closes: the palette is back, usable
            await pilot.pause()
            assert CommandPalette.is_open(app)
            await pilot.press("escape", "ctrl+p")
            await pilot.pause()
            assert _stack(app) == ["ConsultScreen", "CommandPalette"]
            assert app.session.given == ANSWERS

    asyncio.run(main())


HOSTILE_FILES = {
    "alias.yaml": ("a: &x [*x]\n", ":1:4: nested more than 64 levels deep"),
    "digits.yaml": (
        "workload: inference\nmodel_params_b: " + "9" * 400 + "\n",
        ":2:17: integer too large (beyond the range of a float)",
    ),
    "brackets.yaml": ("workload: " + "[" * 50_000 + "]" * 50_000 + "\n", ":1:"),
    "brackets.json": (
        '{"workload": ' + "[" * 50_000 + "]" * 50_000 + "}",
        ":1:77: nested more than 64 levels",
    ),
    "laughs.yaml": (
        "a: &a [x,x,x,x,x,x,x,x,x]\n"
        + "".join(f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdef", "bcdefg")),
        "expands to more than 200,000 values",
    ),
    "markup.yaml": ('workload: "[/bold] [link=x]"\n', "is not accepted"),
    "infinite.yaml": ("workload: inference\nbudget_usd: .inf\n", "not a finite number"),
}


def test_loading_hostile_files_says_why_and_keeps_the_answers(
    engine: Engine, tmp_path: Path
) -> None:
    """One session loads each file in turn: each is refused in one notification naming its
    place, the answers stay, and the app goes on."""
    app = AdvisorApp(engine, ANSWERS, debounce=0.01)

    async def main() -> None:
        async with app.run_test(size=(100, 30)) as pilot:
            for name, (text, message) in sorted(HOSTILE_FILES.items()):
                path = tmp_path / name
                path.write_text(text, encoding="utf-8")
                app.clear_notifications()
                await pilot.press("ctrl+o")
                await pilot.pause()
                assert isinstance(app.screen, PathDialog)
                app.screen.query_one("#path", Input).value = str(path)
                await pilot.press("enter")
                await pilot.pause()
                await app.wait_idle()
                notes = [n for n in app._notifications if n.title == "Answers not loaded"]
                assert len(notes) == 1 and message in notes[0].message, (name, notes)
                if message.startswith(":"):  # a place in the file: path:line:col first
                    assert notes[0].message.startswith(f"{path}{message}"), notes
                assert app.session.given == ANSWERS, name
                assert app.is_running and _stack(app) == ["ConsultScreen"], name

    asyncio.run(main())


KEYS = ["ctrl+p", "ctrl+s", "ctrl+o", "ctrl+e", "ctrl+g", "escape", "enter", "tab", "f1"]
KEYS += ["f2", "f3", "f4", "f5", "down", "up", "a", "1"]


@pytest.mark.parametrize("seed", range(examples(2)))
def test_random_palette_and_dialog_keys_never_crash(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    """The campaign's random-key sessions crashed 4 times in 8, mostly on palettes and dialogs:
    here the keys are drawn from those that open them (files land in a temporary folder)."""
    monkeypatch.chdir(tmp_path)
    keys = [random.Random(seed).choice(KEYS) for _ in range(60)]
    app = AdvisorApp(engine, ANSWERS, debounce=0.01)

    async def main() -> None:
        async with app.run_test(size=(100, 30)) as pilot:
            for start in range(0, len(keys), 10):
                await pilot.press(*keys[start : start + 10])
                await pilot.pause()
            await app.wait_idle()
            await app.workers.wait_for_complete()
            assert app.is_running
            assert sum(isinstance(s, CommandPalette) for s in app.screen_stack) <= 1

    asyncio.run(main())
