"""Regenerate the screenshots in docs/screenshots: ``python -m gpu_advisor.tui.screenshots [DIR]``.

Each picture is the app driven headless through a seed scenario, as a person would drive it,
and exported as SVG (what ``App.save_screenshot`` writes). They are listed in docs/tui.md.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input, OptionList

from .app import AdvisorApp

FINE_TUNING = {
    "workload": "fine-tuning",
    "model_params_b": 7,
    "deployment": "production",
    "candidates": "rtx-5090,rtx-pro-6000-blackwell",
}
INFERENCE = {
    "workload": "inference",
    "model_params_b": 70,
    "precision": "fp4",
    "candidates": "h100-pcie,rtx-pro-6000-blackwell,rtx-5090",
}
PRETRAINING = {
    "workload": "pretraining",
    "model_params_b": 7,
    "max_gpus": 8,
    "parallelism": "tensor",
}

Step = Callable[[Pilot[Any]], Awaitable[None]]


@dataclass(frozen=True)
class Shot:
    """One picture: its file name, what it shows, the answers, the size and the steps to it."""

    name: str
    caption: str
    answers: dict[str, Any]
    size: tuple[int, int]
    steps: tuple[Step, ...] = ()


def keys(*names: str) -> Step:
    async def press(pilot: Pilot[Any]) -> None:
        await pilot.press(*names)

    return press


def goto(key: str) -> Step:
    async def go(pilot: Pilot[Any]) -> None:
        pilot.app.screen.goto(key)

    return go


def done() -> Step:
    async def finish(pilot: Pilot[Any]) -> None:
        pilot.app.screen.current_key = None

    return finish


def highlight(selector: str, index: int) -> Step:
    async def move(pilot: Pilot[Any]) -> None:
        pilot.app.screen.query_one(selector, OptionList).highlighted = index

    return move


def fact(device: str, row: str) -> Step:
    async def show(pilot: Pilot[Any]) -> None:
        screen = pilot.app.screen
        screen.select_device(device)
        await pilot.pause()
        table = screen.query_one("#kb-facts")
        table.focus()
        table.move_cursor(row=table.get_row_index(row))

    return show


SHOTS: tuple[Shot, ...] = (
    Shot(
        "questionnaire-80x24",
        "The questionnaire at 80x24: one question, its help, the live verdict "
        "below (70B inference in FP4).",
        INFERENCE,
        (80, 24),
    ),
    Shot(
        "questionnaire-120x40",
        "The questionnaire at 120x40: the question, the answers so far, and "
        "the results with memory and cost pictures.",
        INFERENCE,
        (120, 40),
        (goto("precision"),),
    ),
    Shot(
        "verdict-fine-tuning",
        "Every question answered for production fine-tuning of a 7B model: "
        "RTX PRO 6000 recommended, RTX 5090 excluded with its reason.",
        FINE_TUNING,
        (120, 40),
        (done(),),
    ),
    Shot(
        "verdict-pretraining",
        "Pretraining a 7B model on 8 GPUs with tensor parallelism: NVLink "
        "SXM parts on top, PCIe and consumer cards excluded.",
        PRETRAINING,
        (120, 40),
        (done(),),
    ),
    Shot(
        "invalid-input",
        "A wrong value is marked beside the field with the engine's message; "
        "Enter and PgDn refuse to move on.",
        INFERENCE,
        (80, 24),
        (goto("model_params_b"), keys("end", "backspace", "backspace", "x")),
    ),
    Shot(
        "why-asked",
        "F1: why are you asking this? The rules that read the answer and the questions it unlocks.",
        INFERENCE,
        (100, 30),
        (goto("max_gpus"), keys("f1")),
    ),
    Shot(
        "explain-recommended",
        "F3: how the RTX PRO 6000 was recommended: its score part by part, "
        "the rules and facts behind it, with sources.",
        INFERENCE,
        (120, 40),
        (keys("f3"),),
    ),
    Shot(
        "explain-excluded",
        "Why not the RTX 5090 for production work, and the single answer "
        "changes that would bring it back.",
        FINE_TUNING,
        (120, 40),
        (keys("f3"), highlight("#explain-devices", 1)),
    ),
    Shot(
        "knowledge",
        "F4: the knowledge base, every fact with its source; the bandwidth row "
        "shows two sources that disagree and why one is preferred.",
        INFERENCE,
        (120, 40),
        (keys("f4"), fact("rtx-pro-6000-blackwell", "bandwidth_gbs")),
    ),
    Shot(
        "plan",
        "F5: what $150,000 buys of the recommended devices, per-unit figures, off-grid "
        "energy and batteries, and per-dollar bars.",
        INFERENCE,
        (120, 40),
        (keys("f5"),),
    ),
    Shot(
        "export",
        "Ctrl+E: export the consultation as Markdown, HTML or JSON.",
        INFERENCE,
        (80, 24),
        (keys("ctrl+e", "down"),),
    ),
    Shot(
        "light-theme",
        "The same questionnaire in the light theme (Ctrl+T).",
        FINE_TUNING,
        (120, 40),
        (keys("ctrl+t"),),
    ),
)


async def steady(pilot: Pilot[Any]) -> None:
    """Wait for the engine's workers, stop the cursor blinking, and until the picture settles."""
    app: AdvisorApp = pilot.app
    for _ in range(3):
        await pilot.pause()
        await app.wait_idle()
        await app.workers.wait_for_complete()
    for field in app.screen.query(Input):
        field.cursor_blink = False
    previous = ""
    for _ in range(50):
        await pilot.pause(0.02)
        picture = app.export_screenshot()
        if picture == previous:
            return
        previous = picture


async def take(shot: Shot, engine: Any, folder: Path) -> Path:
    app = AdvisorApp(engine, shot.answers)
    async with app.run_test(size=shot.size) as pilot:
        await steady(pilot)
        for step in shot.steps:
            await step(pilot)
            await steady(pilot)
        target = folder / f"{shot.name}.svg"
        target.write_text(app.export_screenshot(), encoding="utf-8")
    return target


def main(argv: list[str] | None = None) -> int:
    from gpu_advisor.core.consult import Engine

    args = sys.argv[1:] if argv is None else argv
    folder = Path(args[0] if args else "docs/screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    engine = Engine.load()
    for shot in SHOTS:
        path = asyncio.run(take(shot, engine, folder))
        print(f"{path}: {shot.caption}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
