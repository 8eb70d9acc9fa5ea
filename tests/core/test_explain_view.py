"""Issue 13 in the terminal UI: the explanation view lists the levers and applies the one chosen."""

from __future__ import annotations

from textual.pilot import Pilot
from textual.widgets import OptionList, Static

from gpu_advisor.core.consult import Engine
from tests.tui.test_tui import app_for, run, settle, shown


def test_choosing_a_lever_applies_it_to_the_answers(engine: Engine) -> None:
    app = app_for(
        engine,
        {
            "workload": "inference",
            "model_params_b": 70,
            "precision": "bf16",
            "candidates": "h100-pcie",
            "max_gpus": 1,
        },
    )

    async def script(pilot: Pilot[None]) -> None:
        assert app.consultation is not None and app.consultation.recommendations == []
        await pilot.press("f3")
        await settle(pilot)
        screen = app.screen
        text = shown(screen.query_one("#changes", Static))
        # one H100 PCIe ($25,000) in the 2U 4-GPU server it needs ($15,000, kb/systems.yaml)
        assert "precision bf16 -> fp8" in text and "$40,000" in text and "gives up" in text
        options = screen.query_one("#change-options", OptionList)
        assert options.option_count >= 2
        options.focus()
        options.highlighted = 0
        await pilot.press("enter")
        await settle(pilot)
        consultation = app.consultation
        assert consultation is not None
        assert consultation.answers.get("precision") == "fp8"
        assert [r.device for r in consultation.recommendations] == ["h100-pcie"]

    run(app, script)
