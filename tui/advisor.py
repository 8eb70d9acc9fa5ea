"""What the screens and the command palette need from the app, as a type.

The app imports its screens; were the screens to import the app back (even only for type
hints) the two would form an import cycle. They name this protocol instead, and
:class:`~gpu_advisor.tui.app.AdvisorApp` satisfies it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from gpu_advisor.core.consult import Consultation, Engine
    from gpu_advisor.knowledge.kb import Knowledge

    from .session import Session


class Advisor(Protocol):
    """The app as its views use it: the engine, the answers, the latest consultation, and the
    actions that move between views."""

    engine: Engine
    knowledge: Knowledge
    session: Session
    kb_dir: str | None
    consultation: Consultation | None
    busy: bool
    changes: tuple[Consultation, dict[str, list[dict[str, Any]]]] | None
    explain_device: str | None

    def set_answer(self, key: str, raw: Any, *, debounce: bool = False) -> bool: ...

    def request_changes(self) -> None: ...

    def action_explain(self, device: str | None = None) -> None: ...

    def action_facts(self, device: str) -> None: ...

    def action_why(self, key: str | None = None) -> None: ...

    def action_goto_question(self, key: str) -> None: ...
