"""One question at a time: its prompt, the field that fits its type, help, range and default.

The panel only shows and reads; the screen decides where the walk goes. A field never raises on
bad input: the engine's own check (``gpu_advisor.core.answers.coerce``) runs as a Textual validator
and
its one-line message is shown beside the field, so the TUI accepts exactly what the command line
accepts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.validation import ValidationResult, Validator
from textual.widgets import Input, Label, OptionList, SelectionList, Static
from textual.widgets._toggle_button import ToggleButton
from textual.widgets.option_list import Option

from gpu_advisor.core.answers import coerce
from gpu_advisor.errors import UsageError
from gpu_advisor.formatting import answer_number

from ..session import Step, describe_value, iter_choice_help, text_value
from .redraw import set_text

if TYPE_CHECKING:
    from gpu_advisor.knowledge.kb import Knowledge
    from gpu_advisor.knowledge.rulebase import Question


def without_key(message: str, key: str) -> str:
    """'model_params_b: 'x' is not a number' -> ''x' is not a number' (the field names itself)."""
    return message.removeprefix(f"{key}: ")


class AnswerValidator(Validator):
    """The engine's check of one answer; empty text means 'the default' (or 'not set')."""

    def __init__(self, question: Question, knowledge: Knowledge) -> None:
        super().__init__()
        self.question = question
        self.knowledge = knowledge

    def validate(self, value: str) -> ValidationResult:
        if not value.strip():
            return self.success()
        try:
            coerce(self.question, value, self.knowledge)
        except UsageError as exc:
            return self.failure(without_key(str(exc), self.question.key))
        return self.success()


def range_text(question: Question) -> str:
    """'0.1 .. 2,000 B params' for numbers; the choices' count for choices."""
    unit = f" {question.unit}" if question.unit else ""
    if question.type in ("number", "integer"):
        low = "any" if question.min is None else answer_number(question.key, question.min)
        high = "any" if question.max is None else answer_number(question.key, question.max)
        kind = "whole number" if question.type == "integer" else "number"
        return f"{kind}, {low} .. {high}{unit}"
    if question.type == "boolean":
        return "yes or no"
    if question.type == "devices":
        return "Space ticks a device, Enter goes on; none ticked = compare all"
    if question.type == "model":
        return (
            "a catalog model, or a config.json, model folder or .gguf; empty: the parameter count"
        )
    return f"one of {len(question.choices)}"


class DeviceTicks(SelectionList[str]):
    """The device list of a ``devices`` question: Space ticks, Enter accepts and moves on, as
    Enter does on every other question; a ticked box shows an X and an unticked one a blank,
    so the two differ in plain text and without colour (NO_COLOR), not only by shade."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "accept", "Accept", show=False),
    ]

    @dataclass
    class Accepted(Message):
        """Enter: keep the ticks as they are and go on."""

    def action_accept(self) -> None:
        self.post_message(self.Accepted())

    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        segments = list(strip)
        if len(segments) < 2 or segments[1].text != ToggleButton.BUTTON_INNER:
            return strip
        try:
            selection = self.get_option_at_index(self.scroll_offset.y + y)
        except Exception:  # noqa: BLE001 - past the last option: nothing to mark
            return strip
        mark = ToggleButton.BUTTON_INNER if selection.value in self.selected else " "
        segments[1] = segments[1]._replace(text=mark)
        return Strip(segments, strip.cell_length)


class QuestionPanel(Vertical):
    """Shows one step of the questionnaire and reports what the person answers."""

    @dataclass
    class Answered(Message):
        """An answer was committed (Enter, a choice picked, a device ticked)."""

        key: str
        raw: Any
        advance: bool

    @dataclass
    class Typed(Message):
        """A number field holds a new valid value (not yet committed with Enter)."""

        key: str
        raw: str

    step: reactive[Step | None] = reactive(None, init=False, always_update=True)
    """The question shown; None shows the end of the questionnaire."""

    def __init__(self, knowledge: Knowledge, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.knowledge = knowledge
        self.position = (0, 0)

    def compose(self) -> ComposeResult:
        yield Label("", id="q-progress")
        yield Static("", id="q-prompt")
        yield OptionList(id="q-choices", compact=True)
        yield Input(id="q-number", compact=True, validate_on=["changed", "submitted"])
        yield DeviceTicks(
            *[
                (device.short_name, device_id, False)
                for device_id, device in self.knowledge.devices.items()
            ],
            id="q-devices",
            compact=True,
        )
        yield Label("", id="q-error")
        yield Static("", id="q-meta")
        yield Static("", id="q-help")

    # -- showing a step -------------------------------------------------------------------

    def show(self, step: Step | None, index: int, total: int, verdict: str = "") -> None:
        """Show `step` (the `index`-th of `total` asked questions), or the end when it is None."""
        self.position = (index, total)
        self._verdict = verdict
        self.step = step

    def watch_step(self, step: Step | None) -> None:
        index, total = self.position
        choices = self.query_one("#q-choices", OptionList)
        number = self.query_one("#q-number", Input)
        devices = self.query_one("#q-devices", SelectionList)
        error = self.query_one("#q-error", Label)
        error.update("")
        self.set_class(False, "-invalid")
        for widget in (choices, number, devices):
            widget.display = False
        if step is None:
            self.query_one("#q-progress", Label).update(f"Done · {total} questions answered")
            self.query_one("#q-prompt", Static).update(
                Content.styled("That is every question that matters for these answers.", "bold")
            )
            self.query_one("#q-meta", Static).update(getattr(self, "_verdict", ""))
            self.query_one("#q-help", Static).update(
                "PgUp goes back to the last question; pick any answer in the list to change it. "
                "F3 explains a device, F5 plans the budget and energy, Ctrl+E exports the report."
            )
            return
        question = step.question
        self.update_meta(step)
        self.query_one("#q-progress", Label).update(
            Content.assemble(
                (f"Question {index + 1} of {total}", "bold"),
                " · ",
                (question.group, "$foreground-muted"),
                (" · PgUp back, F1 why", "$foreground-muted"),
            )
        )
        self.query_one("#q-prompt", Static).update(Content.styled(question.prompt, "bold"))
        self.query_one("#q-help", Static).update(Content(question.help))
        if question.type in ("choice", "boolean"):
            self._show_choices(choices, question, step.value)
        elif question.type in ("number", "integer", "model"):
            self._show_number(number, question, step)
        else:
            self._show_devices(devices, step.value)

    def update_meta(self, step: Step) -> None:
        """The answer in force, the default and what is accepted (refreshed as answers change)."""
        question = step.question
        default = "none" if question.default is None else describe_value(question, question.default)
        now = describe_value(question, step.value)
        meta = Content.assemble(
            ("answer: ", "$foreground-muted"),
            (now, "bold"),
            ("  (default: ", "$foreground-muted"),
            default,
            (")", "$foreground-muted"),
            "\n",
            ("accepted: ", "$foreground-muted"),
            range_text(question),
        )
        set_text(self.query_one("#q-meta", Static), meta)

    def _show_choices(self, widget: OptionList, question: Question, value: Any) -> None:
        pairs = (
            list(iter_choice_help(question))
            if question.type == "choice"
            else [("yes", ""), ("no", "")]
        )
        current = text_value(question, value)
        widget.clear_options()
        options = []
        for choice, help_text in pairs:
            mark = "●" if choice == current else "○"
            parts: list[str | tuple[str, str]] = [f"{mark} ", (choice, "bold")]
            if help_text:
                parts += ["  ", (help_text, "italic")]
            if question.default is not None and choice == text_value(question, question.default):
                parts.append((" (default)", "$foreground-muted italic"))
            options.append(Option(Content.assemble(*parts), id=choice))
        widget.add_options(options)
        widget.display = True
        ids = [choice for choice, _ in pairs]
        widget.highlighted = ids.index(current) if current in ids else 0

    def _show_number(self, widget: Input, question: Question, step: Step) -> None:
        widget.validators = [AnswerValidator(question, self.knowledge)]
        widget.placeholder = (
            "empty = not set"
            if question.default is None
            else f"empty = default ({text_value(question, question.default)})"
        )
        with widget.prevent(Input.Changed):
            widget.value = text_value(question, step.value) if step.given else ""
            widget.cursor_position = len(widget.value)
        widget.display = True

    def _show_devices(self, widget: SelectionList[str], value: Any) -> None:
        chosen = set(value or ())
        with widget.prevent(SelectionList.SelectedChanged):
            widget.deselect_all()
            for device_id in chosen:
                widget.select(device_id)
        widget.highlighted = 0
        widget.display = True

    def focus_field(self) -> None:
        """Put the keyboard in the field of the question shown."""
        for selector in ("#q-choices", "#q-number", "#q-devices"):
            widget = self.query_one(selector)
            if widget.display:
                widget.focus()
                return

    # -- reading the field ----------------------------------------------------------------

    def pending(self) -> Any:
        """The answer the field holds now (what Next commits); UsageError when it is invalid."""
        step = self.step
        if step is None:
            return None
        question = step.question
        if question.type in ("choice", "boolean"):
            widget = self.query_one("#q-choices", OptionList)
            highlighted = widget.highlighted
            if highlighted is None:
                return step.value
            return widget.get_option_at_index(highlighted).id
        if question.type in ("number", "integer", "model"):
            text = self.query_one("#q-number", Input).value
            if text.strip():
                coerce(question, text, self.knowledge)
                return text
            return None
        selected = self.query_one("#q-devices", SelectionList).selected
        return ",".join(selected) if selected else None

    def show_error(self, message: str) -> None:
        """Mark the field as wrong with the engine's message beside it."""
        self.query_one("#q-error", Label).update(Content.styled(message, "$error"))
        self.set_class(bool(message), "-invalid")

    # -- events ---------------------------------------------------------------------------

    @on(OptionList.OptionSelected, "#q-choices")
    def _choice_picked(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if self.step is not None and event.option.id is not None:
            self.post_message(self.Answered(self.step.key, event.option.id, advance=True))

    @on(Input.Changed, "#q-number")
    def _number_typed(self, event: Input.Changed) -> None:
        event.stop()
        if self.step is None:
            return
        if self._rejected(event.validation_result):
            return
        self.show_error("")
        self.post_message(self.Typed(self.step.key, event.value))

    @on(Input.Submitted, "#q-number")
    def _number_entered(self, event: Input.Submitted) -> None:
        event.stop()
        if self.step is None:
            return
        if self._rejected(event.validation_result, bell=True):
            return
        self.post_message(self.Answered(self.step.key, event.value, advance=True))

    def _rejected(self, result: Any, bell: bool = False) -> bool:
        """Show a validator's message beside the field; True when the value is wrong."""
        if result is None or result.is_valid:
            return False
        self.show_error(result.failure_descriptions[0])
        if bell:
            self.app.bell()
        return True

    @on(DeviceTicks.Accepted)
    def _devices_accepted(self, event: DeviceTicks.Accepted) -> None:
        event.stop()
        if self.step is not None:
            selected = self.query_one("#q-devices", SelectionList).selected
            self.post_message(
                self.Answered(self.step.key, ",".join(selected) or None, advance=True)
            )

    @on(SelectionList.SelectedChanged, "#q-devices")
    def _devices_ticked(self, event: SelectionList.SelectedChanged[str]) -> None:
        event.stop()
        if self.step is not None:
            selected = event.selection_list.selected
            self.post_message(
                self.Answered(self.step.key, ",".join(selected) or None, advance=False)
            )
