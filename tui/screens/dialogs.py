"""Dialogs: why a question is asked, which file to save or load, what to export where.

Each is a ``ModalScreen[T]`` that returns its answer with ``dismiss``; Escape always cancels.
File names are checked as they are typed (a folder, a missing file, a missing parent folder) and
the problem is shown beside the field, so a dialog never closes on a name that cannot work.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.validation import ValidationResult, Validator
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

if TYPE_CHECKING:
    from gpu_advisor.knowledge.rulebase import RuleBase


class WhyDialog(ModalScreen[None]):
    """WHY are you asking this? The rules whose conditions read the answer, and what it gates."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape,enter,f1", "close", "Close", id="why.close", tooltip="Back to the question"
        ),
    ]

    def __init__(self, rulebase: RuleBase, key: str) -> None:
        super().__init__()
        self.rulebase = rulebase
        self.key = key

    def compose(self) -> ComposeResult:
        from gpu_advisor.core.explain import why_asked

        info = why_asked(self.rulebase, self.key)
        knowledge = self.rulebase.knowledge
        lines: list[Content] = []
        if info.used_by_arithmetic:
            lines.append(
                Content.assemble(
                    ("• ", "$accent"), "The memory, budget and energy arithmetic uses it."
                )
            )
        for gate in info.decides_whether_to_ask:
            prompt = self.rulebase.questions[gate].prompt
            lines.append(
                Content.assemble(
                    ("• ", "$accent"),
                    "It decides whether ",
                    (gate, "bold"),
                    f" is asked ({prompt}).",
                )
            )
        for rule in info.rules:
            sources = "; ".join(knowledge.cite(s) for s in rule.sources)
            lines.append(
                Content.assemble(("• ", "$accent"), (rule.rule, "bold"), ": ", rule.description)
            )
            lines.append(Content.assemble(("    when ", "$foreground-muted"), rule.condition))
            if sources:
                lines.append(
                    Content.assemble(("    sources: ", "$foreground-muted"), (sources, "italic"))
                )
        if self.rulebase.questions[self.key].type == "devices":
            lines.insert(
                0,
                Content.assemble(
                    ("• ", "$accent"),
                    "The engine itself reads it: only the ticked devices are "
                    "considered, every other one is left out of the verdict as 'not considered' "
                    "(none ticked compares them all).",
                ),
            )
        if not lines:
            lines.append(Content("No rule uses this answer yet: it is kept for the report."))
        with Vertical(id="why-box", classes="dialog"):
            yield Label(
                Content.assemble(("Why ask ", "bold"), (self.key, "bold $accent"), ("?", "bold")),
                classes="dialog-title",
            )
            yield Static(Content(info.prompt), classes="dialog-subtitle")
            with VerticalScroll(id="why-rules"):
                yield Static(Content("\n").join(lines))
            yield Label(Content.styled("Esc or Enter closes", "$foreground-muted"))

    def on_mount(self) -> None:
        self.query_one("#why-rules").focus()

    def action_close(self) -> None:
        self.dismiss(None)


class PathValidator(Validator):
    """A file name that can be written (its folder exists) or read (the file exists)."""

    def __init__(self, must_exist: bool) -> None:
        super().__init__()
        self.must_exist = must_exist

    def validate(self, value: str) -> ValidationResult:
        text = value.strip()
        if not text:
            return self.failure("give a file name")
        path = Path(text).expanduser()
        if path.is_dir():
            return self.failure(f"{text} is a folder; give a file name")
        if self.must_exist and not path.is_file():
            return self.failure(f"{text}: no such file")
        if not self.must_exist and not path.parent.expanduser().is_dir():
            return self.failure(f"{path.parent}: no such folder")
        return self.success()


T = TypeVar("T")


class _FileNameDialog(ModalScreen[T]):
    """What the file dialogs share: a ``#path`` field validated as you type, its error label,
    and Cancel."""

    @on(Input.Changed, "#path")
    def _typed(self, event: Input.Changed) -> None:
        result = event.validation_result
        problem = "" if result is None or result.is_valid else result.failure_descriptions[0]
        self.query_one("#path-error", Label).update(problem)

    def checked_path(self) -> Path | None:
        """The path in the field, or None (with the problem shown and a bell) when it is wrong."""
        field = self.query_one("#path", Input)
        result = field.validate(field.value)
        if result is not None and not result.is_valid:
            self.query_one("#path-error", Label).update(result.failure_descriptions[0])
            self.app.bell()
            return None
        return Path(field.value.strip()).expanduser()

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class PathDialog(_FileNameDialog[Path | None]):
    """Ask for one file name; returns the path, or None when cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape", "cancel", "Cancel", id="path.cancel", tooltip="Close without doing anything"
        ),
    ]

    def __init__(
        self, title: str, suggestion: str, *, action: str, must_exist: bool = False
    ) -> None:
        super().__init__()
        self.title_text = title
        self.suggestion = suggestion
        self.action_label = action
        self.must_exist = must_exist

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(Content.styled(self.title_text, "bold"), classes="dialog-title")
            yield Label("File (YAML; .json files load too):", classes="field-label")
            yield Input(
                self.suggestion,
                id="path",
                validators=[PathValidator(self.must_exist)],
                validate_on=["changed", "submitted"],
                compact=True,
            )
            yield Label("", id="path-error", classes="field-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.action_label, id="ok", variant="primary", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#path", Input).focus()

    @on(Input.Submitted, "#path")
    @on(Button.Pressed, "#ok")
    def _submit(self, event: Any) -> None:
        event.stop()
        path = self.checked_path()
        if path is not None:
            self.dismiss(path)


class ExportDialog(_FileNameDialog[tuple[str, Path] | None]):
    """Pick a format and a file; the file's extension follows the format until it is edited."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape", "cancel", "Cancel", id="export.cancel", tooltip="Close without exporting"
        ),
    ]

    def __init__(self, title: str, formats: dict[str, str], stem: str) -> None:
        super().__init__()
        self.title_text = title
        self.formats = formats
        self.stem = stem
        self.chosen = next(iter(formats))

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(Content.styled(self.title_text, "bold"), classes="dialog-title")
            yield Label("Format:", classes="field-label")
            yield OptionList(
                *[Option(f"{name} ({ext})", id=name) for name, ext in self.formats.items()],
                id="formats",
                compact=True,
            )
            yield Label("File:", classes="field-label")
            yield Input(
                self.stem + self.formats[self.chosen],
                id="path",
                validators=[PathValidator(must_exist=False)],
                validate_on=["changed", "submitted"],
                compact=True,
            )
            yield Label("", id="path-error", classes="field-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Export", id="ok", variant="primary", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#formats", OptionList).highlighted = 0
        self.query_one("#formats", OptionList).focus()

    @on(OptionList.OptionHighlighted, "#formats")
    def _format(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        name = event.option.id or self.chosen
        field = self.query_one("#path", Input)
        old_ext = self.formats[self.chosen]
        if field.value.endswith(old_ext):
            field.value = field.value[: -len(old_ext)] + self.formats[name]
        self.chosen = name

    @on(OptionList.OptionSelected, "#formats")
    def _format_picked(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.query_one("#path", Input).focus()

    @on(Input.Submitted, "#path")
    @on(Button.Pressed, "#ok")
    def _submit(self, event: Any) -> None:
        event.stop()
        path = self.checked_path()
        if path is not None:
            self.dismiss((self.chosen, path))
