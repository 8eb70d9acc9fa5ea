"""The main view: the questionnaire on one side, the live verdict on the other.

The walk follows the decision tree: after each answer the questions that matter are worked out
again from ``ask_when``, so only those are visited (a scientific workload never sees the model
questions). PgDn commits the field and moves on, PgUp goes back, F1 says why a question is asked,
and the list of answers jumps to any question.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.reactive import reactive
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Header, Label, OptionList
from textual.widgets.option_list import Option

from gpu_advisor.errors import UsageError

from ..session import describe_value
from ..widgets.question import QuestionPanel, without_key
from ..widgets.redraw import set_options
from ..widgets.results import ResultsPanel, verdict_text

if TYPE_CHECKING:
    from gpu_advisor.core.consult import Consultation

    from ..advisor import Advisor


STALE_AFTER = 0.2
"""Seconds a consultation may take before the verdict is shown as out of date."""


class ConsultScreen(Screen[None]):
    """Questionnaire and results, side by side (stacked on narrow terminals)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "f1",
            "why",
            "Why?",
            id="consult.why",
            tooltip="Why are you asking this? The rules that need this answer",
        ),
        Binding(
            "pageup",
            "back",
            "Back",
            id="consult.back",
            priority=True,
            show=False,
            tooltip="Go back to the previous question that matters",
        ),
        Binding(
            "pagedown",
            "next",
            "Next",
            id="consult.next",
            priority=True,
            tooltip="Keep the answer in the field and go to the next question that matters",
        ),
    ]

    current_key: reactive[str | None] = reactive(None, init=False, always_update=True)
    """The question shown; None once every question that matters has been visited."""

    def __init__(self) -> None:
        super().__init__()
        self._stale_timer: Timer | None = None
        self._answers_stale = False

    @property
    def advisor(self) -> Advisor:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Header(icon="⚙")
        with Horizontal(id="consult-body"):
            with Vertical(id="questionnaire"):
                yield QuestionPanel(self.advisor.knowledge, id="question")
                yield Label(
                    "Your answers (Enter jumps to one)", classes="section", id="answer-list-title"
                )
                yield OptionList(id="answer-list")
            yield ResultsPanel(id="results")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.watch(self.app, "consultation", self._show_consultation)
        self.watch(self.app, "answers_version", self._answers_changed, init=False)
        self.watch(self.app, "busy", self._busy_changed)
        self.current_key = self._keys()[0]

    # -- the walk -------------------------------------------------------------------------

    def _keys(self) -> list[str]:
        return self.advisor.session.asked_keys()

    def watch_current_key(self, key: str | None) -> None:
        steps = self.advisor.session.steps()
        panel = self.query_one(QuestionPanel)
        consultation = self.advisor.consultation
        verdict = verdict_text(consultation) if consultation is not None else ""
        if key is None:
            panel.show(None, len(steps), len(steps), verdict)
        else:
            index = next(i for i, step in enumerate(steps) if step.key == key)
            panel.show(steps[index], index, len(steps))
        self._fill_path(steps)
        panel.call_after_refresh(panel.focus_field)

    def goto(self, key: str) -> None:
        """Show one question (ignored when it does not matter given the answers)."""
        if key in self._keys():
            self.current_key = key
        else:
            self.notify(f"{key} is not asked given the answers so far.")

    def action_next(self) -> None:
        """Commit what the field holds, then go to the next question that matters."""
        key = self.current_key
        if key is None:
            self.query_one("#recommended", OptionList).focus()
            return
        panel = self.query_one(QuestionPanel)
        try:
            raw = panel.pending()
            self.advisor.set_answer(key, raw)
        except UsageError as exc:
            panel.show_error(without_key(str(exc), key))
            self.app.bell()
            return
        keys = self._keys()
        index = keys.index(key)
        self.current_key = keys[index + 1] if index + 1 < len(keys) else None

    def action_back(self) -> None:
        """Go to the previous question that matters."""
        keys = self._keys()
        if self.current_key is None:
            self.current_key = keys[-1]
            return
        index = keys.index(self.current_key)
        if index > 0:
            self.current_key = keys[index - 1]
        else:
            self.app.bell()

    def action_why(self) -> None:
        self.advisor.action_why(self.current_key)

    def highlighted_device(self) -> str | None:
        """The device under the cursor in the results, if a results list has the keyboard."""
        return self.query_one(ResultsPanel).highlighted_device()

    # -- answers --------------------------------------------------------------------------

    @on(QuestionPanel.Answered)
    def _answered(self, event: QuestionPanel.Answered) -> None:
        try:
            self.advisor.set_answer(event.key, event.raw)
        except UsageError as exc:
            self.query_one(QuestionPanel).show_error(without_key(str(exc), event.key))
            return
        if event.advance and event.key == self.current_key:
            self.action_next()

    @on(QuestionPanel.Typed)
    def _typed(self, event: QuestionPanel.Typed) -> None:
        try:
            self.advisor.set_answer(event.key, event.raw, debounce=True)
        except UsageError as exc:
            self.query_one(QuestionPanel).show_error(without_key(str(exc), event.key))

    def _answers_changed(self, _version: int) -> None:
        if self.advisor.busy and self.current_key in self._keys():
            self._answers_stale = True  # redrawn with the results: one frame, not two
            return
        self._refresh_answers()

    def _refresh_answers(self) -> None:
        """The answer list and the shown question's 'answer:' line, from the session."""
        self._answers_stale = False
        steps = self.advisor.session.steps()
        keys = [step.key for step in steps]
        if self.current_key is not None and self.current_key not in keys:
            self.current_key = keys[0]
            return
        self._fill_path(steps)
        current = next((step for step in steps if step.key == self.current_key), None)
        if current is not None:
            self.query_one(QuestionPanel).update_meta(current)

    def _fill_path(self, steps: list[Any]) -> None:
        """The answer list: rebuilt when the questions asked change, else only the rows that
        changed are redrawn (one answer's value, the marker of the question shown)."""
        path = self.query_one("#answer-list", OptionList)
        prompts = []
        for step in steps:
            mark = "▶ " if step.key == self.current_key else "  "
            value = describe_value(step.question, step.value)
            style = "bold" if step.given else "$foreground-muted"
            prompts.append(
                Content.assemble(
                    mark,
                    (step.key, "bold" if step.key == self.current_key else ""),
                    "  ",
                    (value, style),
                )
            )
        set_options(path, [Option(prompt, id=step.key) for prompt, step in zip(prompts, steps)])

    @on(OptionList.OptionSelected, "#answer-list")
    def _jump(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self.goto(event.option.id)

    # -- results --------------------------------------------------------------------------

    def _show_consultation(self, consultation: Consultation | None) -> None:
        if consultation is None:
            return
        if self._answers_stale:
            self._refresh_answers()
        self.query_one(ResultsPanel).show(consultation)
        if self.current_key is None:
            panel = self.query_one(QuestionPanel)
            steps = self.advisor.session.steps()
            panel.show(None, len(steps), len(steps), verdict_text(consultation))

    def _busy_changed(self, busy: bool) -> None:
        panel = self.query_one(ResultsPanel)
        if self._stale_timer is not None:
            self._stale_timer.stop()
            self._stale_timer = None
        if busy:
            self._stale_timer = self.set_timer(STALE_AFTER, lambda: setattr(panel, "busy", True))
        else:
            panel.busy = False
            if self._answers_stale:  # the consultation failed: still show the answers
                self._refresh_answers()

    @on(ResultsPanel.DeviceChosen)
    def _device_chosen(self, event: ResultsPanel.DeviceChosen) -> None:
        self.advisor.action_explain(event.device)
