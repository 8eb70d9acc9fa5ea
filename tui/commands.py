"""Command palette entries beyond the app's actions: jump to any question, explain any device.

The app's own actions (views, save, load, export, theme...) come from ``get_system_commands``;
this provider adds one entry per question and two per device, so everything the questionnaire
and the knowledge base hold is reachable by typing a few letters of its name.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from .advisor import Advisor


class AdvisorCommands(Provider):
    """'Question: ...', 'Explain ...' and 'Facts of ...' entries."""

    def _entries(self) -> list[tuple[str, str, object]]:
        app: Advisor = self.app  # type: ignore[assignment]
        entries: list[tuple[str, str, object]] = []
        asked = set(app.session.asked_keys())
        for key, question in app.session.questions.items():
            if key in asked:
                entries.append(
                    (f"Question: {key}", question.prompt, partial(app.action_goto_question, key))
                )
        for device_id, device in app.knowledge.devices.items():
            entries.append(
                (
                    f"Explain {device.short_name}",
                    f"How {device_id} fares in this consultation",
                    partial(app.action_explain, device_id),
                )
            )
            entries.append(
                (
                    f"Facts of {device.short_name}",
                    f"The knowledge base's facts about {device_id}, with sources",
                    partial(app.action_facts, device_id),
                )
            )
        return entries

    async def discover(self) -> Hits:
        for title, help_text, callback in self._entries():
            if title.startswith("Question: "):
                yield DiscoveryHit(title, callback, help=help_text)  # type: ignore[arg-type]

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self._entries():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)  # type: ignore[arg-type]
