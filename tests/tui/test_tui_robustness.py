"""Long runs of random keys and typed values never crash the app (seeded, bounded).

Any exception inside the app makes ``run_test`` raise when it exits, so reaching the end of the
run with the app still up is the assertion. The run happens in a temporary folder: random keys
may well open the save or export dialog and press Enter, and the files land there.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from gpu_advisor.core.consult import Engine
from gpu_advisor.tui.app import AdvisorApp

NAVIGATION = [
    "up",
    "down",
    "left",
    "right",
    "enter",
    "tab",
    "shift+tab",
    "pageup",
    "pagedown",
    "home",
    "end",
    "escape",
    "space",
    "backspace",
    "delete",
]
VIEWS = [
    "f1",
    "f2",
    "f3",
    "f4",
    "f5",
    "f6",
    "ctrl+t",
    "ctrl+s",
    "ctrl+o",
    "ctrl+e",
    "ctrl+g",
    "ctrl+p",
]
TYPED = list("0123456789.-,$e_ ") + list("abcdefghijklmnopqrstuvwxyz")
VALUES = [
    "7",
    "70",
    "405",
    "0",
    "-1",
    "1e9",
    "nan",
    "inf",
    "2001",
    "0.05",
    "abc",
    "",
    "8",
    "150000",
    "1,000",
    "$5",
    "rtx-5090",
    "h100",
    "1" * 40,
]


def random_keys(rng: random.Random, count: int) -> list[str]:
    keys: list[str] = []
    while len(keys) < count:
        roll = rng.random()
        if roll < 0.45:
            keys.append(rng.choice(NAVIGATION))
        elif roll < 0.6:
            keys.append(rng.choice(VIEWS))
        elif roll < 0.85:
            keys.append(rng.choice(TYPED))
        else:
            keys.extend(["ctrl+a", "ctrl+k", *list(rng.choice(VALUES)), "enter"])
    return keys[:count]


@pytest.mark.parametrize("seed, size", [(1, (80, 24)), (2, (120, 40)), (3, (100, 30))])
def test_random_keys_never_crash_the_app(
    engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    seed: int,
    size: tuple[int, int],
) -> None:
    monkeypatch.chdir(tmp_path)
    rng = random.Random(seed)
    keys = random_keys(rng, 250)
    app = AdvisorApp(engine, debounce=0.01)

    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            for start in range(0, len(keys), 20):
                await pilot.press(*keys[start : start + 20])
                await pilot.pause()
            await app.wait_idle()
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert app.is_running
            # still usable: back to the questionnaire, and a consultation is on screen
            while len(app.screen_stack) > 1:
                app.pop_screen()
                await pilot.pause()
            await pilot.press("f2")
            await pilot.pause()
            assert app.current_mode == "consult" and app.consultation is not None

    asyncio.run(main())
