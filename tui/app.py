"""The gpu-advisor terminal UI: a questionnaire that walks the decision tree and explains its
verdict.

One app, four views (Textual modes, so each keeps its place when you switch away): the
questionnaire with live results, the explanation of any device, the knowledge base, and the
budget and energy plan. The engine runs in a thread worker so the screen never freezes; one lock
and one exclusive worker group make sure two consultations never run inside durable_rules at
once, and a generation counter drops results that a newer answer has already superseded.

Start it with :func:`run_app` (``gpu-advisor`` without arguments).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.reactive import var
from textual.screen import Screen
from textual.timer import Timer
from textual.worker import get_current_worker

from gpu_advisor.errors import AdvisorError, UsageError

from .commands import AdvisorCommands
from .heap import freeze_long_lived_heap, heap_frozen
from .screens.consult import ConsultScreen
from .screens.dialogs import ExportDialog, PathDialog, WhyDialog
from .screens.explain import ExplainScreen
from .screens.knowledge import KnowledgeScreen
from .screens.plan import PlanScreen
from .session import Session

if TYPE_CHECKING:
    from gpu_advisor.core.consult import Engine
    from gpu_advisor.core.explanations import Changes
    from gpu_advisor.core.results import Consultation

DEBOUNCE_SECONDS = 0.15
"""Typing in a number field waits this long for the next key before consulting."""

GRAPH_FORMATS: dict[str, str] = {"DOT": ".dot", "SVG": ".svg", "Mermaid": ".mmd"}
LIGHT_THEME = "textual-light"
DARK_THEME = "textual-dark"


class AdvisorApp(App[None]):
    """Answers in, a verdict out, and every step of the reasoning one key away."""

    TITLE = "gpu-advisor"
    SUB_TITLE = "which GPU to buy, how many, and why"
    CSS_PATH = "app.tcss"
    MODES: ClassVar[dict[str, str | Callable[[], Screen[Any]]]] = {
        "consult": ConsultScreen,
        "explain": ExplainScreen,
        "knowledge": KnowledgeScreen,
        "plan": PlanScreen,
    }
    DEFAULT_MODE = "consult"
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-narrow"), (110, "-wide")]
    VERTICAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-short"), (20, "-tall")]
    COMMANDS = App.COMMANDS | {AdvisorCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "f2",
            "show('consult')",
            "Questions",
            id="app.questions",
            tooltip="The questionnaire and the live results",
        ),
        Binding(
            "f3",
            "explain",
            "Explain",
            id="app.explain",
            tooltip="How a device was recommended, why not another, and what would change it",
        ),
        Binding(
            "f4",
            "show('knowledge')",
            "Facts",
            id="app.knowledge",
            tooltip="The knowledge base: every device fact with its source and disagreements",
        ),
        Binding(
            "f5",
            "show('plan')",
            "Plan",
            id="app.plan",
            tooltip="Budget and off-grid energy tables for these answers, knobs editable",
        ),
        Binding(
            "ctrl+s",
            "save",
            "Save",
            id="app.save",
            priority=True,
            tooltip="Save the answers to a YAML file (atomic: a failed save loses nothing)",
        ),
        Binding(
            "ctrl+o",
            "load",
            "Load",
            id="app.load",
            priority=True,
            tooltip="Load answers from a YAML or JSON file",
        ),
        Binding(
            "ctrl+e",
            "export",
            "Export",
            id="app.export",
            priority=True,
            tooltip="Export the consultation as a Markdown, HTML or JSON report",
        ),
        Binding(
            "ctrl+g",
            "graph",
            "Graph",
            id="app.graph",
            priority=True,
            tooltip="Export the reasoning graph as DOT, SVG or Mermaid",
        ),
        Binding(
            "ctrl+t",
            "toggle_theme",
            "Light/dark",
            id="app.theme",
            priority=True,
            show=False,
            tooltip="Switch between the light and the dark theme",
        ),
        Binding(
            "ctrl+q",
            "quit",
            "Quit",
            id="app.quit",
            priority=True,
            tooltip="Leave gpu-advisor (answers not saved are lost)",
        ),
    ]

    consultation: var[Consultation | None] = var(None, always_update=True)
    """The latest consultation; every view redraws from it."""

    answers_version: var[int] = var(0)
    """Bumped whenever the answers change (typed, picked, loaded), so views refresh their lists."""

    busy: var[bool] = var(False)
    """True from an answer change until the consultation it starts has been shown."""

    changes: var[tuple[Consultation, Changes] | None] = var(None)
    """The counterfactual search of one consultation (computed lazily by the explanation view)."""

    explain_device: var[str | None] = var(None)
    """The device the explanation view should show next."""

    def __init__(
        self,
        engine: Engine,
        answers: Mapping[str, Any] | None = None,
        *,
        debounce: float = DEBOUNCE_SECONDS,
        kb_dir: str | None = None,
    ) -> None:
        super().__init__()
        self.engine = engine
        self.knowledge = engine.rulebase.knowledge
        self.session = Session(engine, answers)
        self.debounce = debounce
        self.kb_dir = kb_dir
        self._engine_lock = threading.Lock()
        self._generation = 0
        self._debounce_timer: Timer | None = None
        self.answers_file = "answers.yaml"
        """The file the answers were last saved to or loaded from: what Ctrl+S and Ctrl+O offer."""
        self.update_started: float | None = None
        self.last_update_seconds: float | None = None
        """Seconds from the last answer change to its results on screen (read by the benchmark)."""

    # -- start ----------------------------------------------------------------------------

    def on_mount(self) -> None:
        self.request_consult()

    # -- answers and consultations --------------------------------------------------------

    def set_answer(self, key: str, raw: Any, *, debounce: bool = False) -> bool:
        """Give one answer; consult again when it changes what is in force. UsageError if wrong."""
        changed = self.session.set(key, raw)
        if changed:
            self.request_consult(debounce=debounce)  # first, so views know results are coming
            self.answers_version += 1
        return changed

    def replace_answers(self, answers: Mapping[str, Any]) -> None:
        """All answers at once (a loaded file); UsageError leaves the current answers alone."""
        self.session.replace(answers)
        self.request_consult()
        self.answers_version += 1

    def request_consult(self, *, debounce: bool = False) -> None:
        """Consult with the current answers, now or after a short pause in typing."""
        self._generation += 1
        self.busy = True
        if self.update_started is None:
            self.update_started = time.perf_counter()
        if self._debounce_timer is not None:
            self._debounce_timer.stop()
            self._debounce_timer = None
        if debounce and self.debounce > 0:
            self._debounce_timer = self.set_timer(self.debounce, self._start_consult)
        else:
            self._start_consult()

    def _start_consult(self) -> None:
        self._debounce_timer = None
        self._consult_worker(self._generation, self.session.engine_answers())

    @work(thread=True, exclusive=True, group="consult", exit_on_error=False)
    def _consult_worker(self, generation: int, answers: dict[str, Any]) -> None:
        """Run one consultation off the event loop; stale ones are dropped, never shown."""
        worker = get_current_worker()
        with self._engine_lock:  # never two consultations inside durable_rules at once
            if worker.is_cancelled or generation != self._generation:
                return
            try:
                consultation = self.engine.consult(answers)
            except AdvisorError as exc:
                self._from_thread(self._consult_failed, generation, str(exc))
                return
        if not worker.is_cancelled:
            self._from_thread(self._deliver, generation, consultation)

    def _from_thread(self, callback: Callable[..., Any], *args: Any) -> None:
        try:
            self.call_from_thread(callback, *args)
        except RuntimeError:  # the app closed while the engine was working
            pass

    def _deliver(self, generation: int, consultation: Consultation) -> None:
        if generation != self._generation:
            return
        self.consultation = consultation
        self.busy = False
        if self.update_started is not None:
            self.call_after_refresh(self._note_update_time)
        if not heap_frozen():  # the first results are drawn: what lives now lives long
            self.call_after_refresh(freeze_long_lived_heap)

    def _note_update_time(self) -> None:
        if self.update_started is not None:
            self.last_update_seconds = time.perf_counter() - self.update_started
            self.update_started = None

    def _consult_failed(self, generation: int, message: str) -> None:
        if generation == self._generation:
            self.busy = False
            self.update_started = None
            self.notify(message, title="The engine could not consult", severity="error")

    def is_idle(self) -> bool:
        """No consultation waiting or running (tests and the benchmark wait for this)."""
        return (
            self._debounce_timer is None
            and not self.busy
            and not any(w.is_running for w in self.workers if w.group == "consult")
        )

    async def wait_idle(self, timeout: float = 10.0) -> None:
        """Wait until the latest consultation is on screen."""
        import asyncio

        deadline = time.monotonic() + timeout
        while not self.is_idle() and time.monotonic() < deadline:
            await asyncio.sleep(0.005)

    # -- counterfactuals (lazy: only when the explanation view asks) ----------------------

    def request_changes(self) -> None:
        """Start the what-would-change search for the current consultation, once."""
        consultation = self.consultation
        if consultation is None or (self.changes is not None and self.changes[0] is consultation):
            return
        self._changes_worker(consultation)

    @work(thread=True, exclusive=True, group="changes", exit_on_error=False)
    def _changes_worker(self, consultation: Consultation) -> None:
        from gpu_advisor.core.explain import what_would_change

        worker = get_current_worker()
        try:
            found = what_would_change(consultation)  # python evaluator: no durable_rules session
        except AdvisorError as exc:
            self._from_thread(self.notify, str(exc), severity="error")
            return
        if not worker.is_cancelled:
            self._from_thread(self._set_changes, consultation, found)

    def _set_changes(self, consultation: Consultation, found: Changes) -> None:
        if consultation is self.consultation:
            self.changes = (consultation, found)

    # -- views ----------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Hide the key of the view already shown, so the footer fits 80 columns."""
        if action == "show" and parameters and parameters[0] == self.current_mode:
            return False
        return not (action == "explain" and self.current_mode == "explain")

    def action_show(self, mode: str) -> None:
        """Switch to one of the views."""
        if mode in self.MODES and mode != self.current_mode:
            self.switch_mode(mode)

    def action_explain(self, device: str | None = None) -> None:
        """Open the explanation view on a device (the one highlighted in the results, else the
        top)."""
        if device is None and self.current_mode == "consult":
            device = getattr(self.screen, "highlighted_device", lambda: None)()
        if device is not None:
            self.explain_device = device
        if self.current_mode != "explain":
            self.switch_mode("explain")

    def action_facts(self, device: str) -> None:
        """Open the knowledge view on a device."""
        self.switch_mode("knowledge")
        self.call_after_refresh(
            lambda: getattr(self.screen, "select_device", lambda _d: None)(device)
        )

    def action_goto_question(self, key: str) -> None:
        """Open the questionnaire at one question."""
        if self.current_mode != "consult":
            self.switch_mode("consult")
        self.call_after_refresh(lambda: getattr(self.screen, "goto", lambda _k: None)(key))

    def action_why(self, key: str | None = None) -> None:
        """Why are you asking this? The rules (and questions) that need the answer."""
        if key is None:
            key = getattr(self.screen, "current_key", None)
        if key is None:
            self.notify("Pick a question first: the why key explains the question shown.")
            return
        self.push_screen(WhyDialog(self.engine.rulebase, key))

    def action_toggle_theme(self) -> None:
        """Light or dark, by theme name."""
        self.theme = LIGHT_THEME if self.theme != LIGHT_THEME else DARK_THEME

    # -- files ----------------------------------------------------------------------------

    def action_save(self) -> None:
        """Ask for a file name and save the answers to it."""

        def save(path: Path | None) -> None:
            if path is None:
                return
            try:
                saved = self.session.save(path)
            except UsageError as exc:
                self.notify(str(exc), title="Answers not saved", severity="error")
                return
            self.answers_file = str(path)
            self.notify(f"Answers saved to {saved}", title="Saved")

        self.push_screen(PathDialog("Save answers", self.answers_file, action="Save"), save)

    def action_load(self) -> None:
        """Ask for a file and replace the answers with its answers."""

        def load(path: Path | None) -> None:
            if path is None:
                return
            try:
                self.session.load(path)
            except UsageError as exc:
                self.notify(str(exc), title="Answers not loaded", severity="error")
                return
            self.answers_file = str(path)
            self.request_consult()
            self.answers_version += 1
            self.notify(f"Answers loaded from {path}", title="Loaded")

        self.push_screen(
            PathDialog("Load answers", self.answers_file, action="Load", must_exist=True), load
        )

    def action_export(self) -> None:
        """Ask for a format and a file, then write the report (with its explanation and sources)."""
        if self.consultation is None:
            self.notify("Nothing to export yet: the first consultation is still running.")
            return
        consultation = self.consultation

        def export(choice: tuple[str, Path] | None) -> None:
            if choice is not None:
                self._export_worker(consultation, *choice)

        from gpu_advisor.present.formats import REPORT_FORMATS

        choices = {fmt.label: fmt.suffix for fmt in REPORT_FORMATS.values() if fmt.exported}
        self.push_screen(ExportDialog("Export the report", choices, "gpu-advisor-report"), export)

    @work(thread=True, exclusive=True, group="export", exit_on_error=False)
    def _export_worker(self, consultation: Consultation, label: str, path: Path) -> None:
        """Render (the counterfactual search makes this slower than a consultation) and write."""
        from gpu_advisor.knowledge.safe_files import write_text_safely
        from gpu_advisor.present.formats import REPORT_FORMATS

        fmt = next(f for f in REPORT_FORMATS.values() if f.label == label)
        try:
            text = fmt.render(consultation, True, False)
            write_text_safely(path, text)
        except (OSError, AdvisorError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            self._from_thread(
                self.notify, f"{path}: {reason}", title="Report not exported", severity="error"
            )
            return
        self._from_thread(self.notify, f"{label} report written to {path}", title="Exported")

    def action_graph(self) -> None:
        """Export the reasoning graph of the consultation (when the graph module is installed)."""
        try:
            from gpu_advisor.present.graph import export_graph  # noqa: F401 - only probing
        except ImportError:
            self.notify("graph export not available", severity="warning")
            return
        consultation = self.consultation

        def export(choice: tuple[str, Path] | None) -> None:
            if choice is not None:
                self._graph_worker(consultation, *choice)

        self.push_screen(
            ExportDialog("Export the reasoning graph", GRAPH_FORMATS, "gpu-advisor-graph"), export
        )

    @work(thread=True, exclusive=True, group="export", exit_on_error=False)
    def _graph_worker(self, consultation: Consultation | None, fmt: str, path: Path) -> None:
        from gpu_advisor.present.graph import export_graph

        focus = self.explain_device
        try:
            written = export_graph(consultation, self.engine, fmt.lower(), path, focus=focus)
        except (OSError, AdvisorError, ValueError) as exc:
            self._from_thread(
                self.notify, f"{path}: {exc}", title="Graph not exported", severity="error"
            )
            return
        self._from_thread(self.notify, f"{fmt} graph written to {written}", title="Exported")

    def action_reset(self) -> None:
        """Forget every answer and start the questionnaire again."""
        self.session.clear()
        self.request_consult()
        self.answers_version += 1
        self.action_goto_question(next(iter(self.session.questions)))

    # -- command palette ------------------------------------------------------------------

    def action_command_palette(self) -> None:
        """Open the command palette, unless one is open already, even under a dialog.

        Textual looks only at the top screen: Ctrl+P, Ctrl+S (a dialog over the palette),
        Ctrl+P pushed a second palette with the same id and the app died with DuplicateIds,
        losing the answers not saved (issue 17). A palette under the dialog returns when the
        dialog closes; until then Ctrl+P only rings the bell."""
        from textual.command import CommandPalette

        if any(isinstance(screen, CommandPalette) for screen in self.screen_stack):
            if not CommandPalette.is_open(self):
                self.bell()
            return
        super().action_command_palette()

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand(
            "Questionnaire",
            "Show the questions and the live results (F2)",
            lambda: self.action_show("consult"),
        )
        yield SystemCommand(
            "Next question",
            "Commit this answer and go on (PgDn)",
            lambda: self._screen_action("next"),
        )
        yield SystemCommand(
            "Previous question", "Go back one question (PgUp)", lambda: self._screen_action("back")
        )
        yield SystemCommand(
            "Why are you asking this?", "The rules that need this answer (F1)", self.action_why
        )
        yield SystemCommand(
            "Explain", "How a device was recommended, or why not (F3)", self.action_explain
        )
        yield SystemCommand(
            "Knowledge base",
            "Device facts with sources and disagreements (F4)",
            lambda: self.action_show("knowledge"),
        )
        yield SystemCommand(
            "Plan",
            "Budget and energy tables, knobs editable (F5)",
            lambda: self.action_show("plan"),
        )
        yield SystemCommand(
            "Save answers", "Write the answers to a YAML file (Ctrl+S)", self.action_save
        )
        yield SystemCommand(
            "Load answers", "Read answers from a YAML or JSON file (Ctrl+O)", self.action_load
        )
        yield SystemCommand(
            "Export report", "Markdown, HTML or JSON, with sources (Ctrl+E)", self.action_export
        )
        yield SystemCommand(
            "Export graph", "The reasoning as DOT, SVG or Mermaid (Ctrl+G)", self.action_graph
        )
        yield SystemCommand(
            "Light or dark theme",
            "Toggle textual-light / textual-dark (Ctrl+T)",
            self.action_toggle_theme,
        )
        yield SystemCommand("Start again", "Forget every answer", self.action_reset)

    def _screen_action(self, name: str) -> None:
        if self.current_mode != "consult":
            self.switch_mode("consult")
        self.call_after_refresh(lambda: self.screen.run_action(name))


def run_app(
    kb_dir: str | None = None,
    rules_dir: str | None = None,
    answers: Mapping[str, Any] | None = None,
) -> int:
    """Load the knowledge base and rules, then run the terminal UI; 2 when they do not load."""
    from gpu_advisor.core.consult import Engine
    from gpu_advisor.present.errors import report_error

    try:
        engine = Engine.load(kb_dir, rules_dir)
    except AdvisorError as exc:
        return report_error(exc)
    app = AdvisorApp(engine, answers, kb_dir=kb_dir)
    app.run()
    return app.return_code or 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(run_app())
