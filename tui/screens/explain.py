"""HOW, WHY NOT and WHAT WOULD CHANGE IT, for any device of the consultation.

HOW lists the rules that fired for the device with the values they matched and their sources,
the chains of derived facts behind them, and the exclusion rules it passed. WHY NOT names the
rule and the condition that excluded it, or, for a lower-ranked device, what the leader scores
that it does not. What would change the verdict searches the changes the buyer controls
(``core.levers``); choosing a suggestion applies it to the answers. That search takes extra
consultations, so it runs in a worker when this view opens, never as part of an answer's update.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer, Header, Label, OptionList, Static
from textual.widgets.option_list import Option

from gpu_advisor.core.levers import levers_for
from gpu_advisor.formatting import money, plural

from ..charts import score_bars
from ..widgets.bars import BarChart

if TYPE_CHECKING:
    from gpu_advisor.core.explanations import Changes, FactStep, Suggestion
    from gpu_advisor.core.results import Consultation
    from gpu_advisor.knowledge.kb import Knowledge

    from ..advisor import Advisor


RULE_STYLE = "$text-secondary"
"""How rule ids, facts and conditions are set apart from prose."""


class Doc:
    """Lines of styled text: headings, bullets and labelled details (a tiny document builder)."""

    def __init__(self) -> None:
        self.lines: list[Content] = []

    def heading(self, text: str) -> None:
        if self.lines:
            self.lines.append(Content(""))
        self.lines.append(Content.styled(text, "bold $accent"))

    def para(self, *parts: str | tuple[str, str]) -> None:
        self.lines.append(Content.assemble(*parts))

    def item(self, *parts: str | tuple[str, str], level: int = 0, mark: str = "•") -> None:
        indent = "  " * level
        self.lines.append(Content.assemble(indent, (f"{mark} ", "$accent"), *parts))

    def detail(self, label: str, text: str, level: int = 1, style: str = "") -> None:
        self.lines.append(
            Content.assemble("  " * level, (f"{label}: ", "$foreground-muted"), (text, style))
        )

    def content(self) -> Content:
        return Content("\n").join(self.lines)


def _sources(knowledge: Knowledge, citations: Sequence[str]) -> str:
    return "; ".join(f"{c} — {knowledge.cite(c)}" for c in citations)


def explanation(consultation: Consultation, device_id: str) -> Content:
    """Everything the engine can say about one device: status, WHY NOT, HOW, facts, sources."""
    from gpu_advisor.core.explain import derivation_chain, how, why_not

    knowledge = consultation.rulebase.knowledge
    device = knowledge.devices[device_id]
    status = consultation.status(device_id)
    doc = Doc()
    doc.para((device.name, "bold"), (f"  ({device_id})", "$foreground-muted"))
    details = how(consultation, device_id)
    ranked = len(consultation.recommendations)
    if status == "recommended":
        from gpu_advisor.present.how_many import purchase_lines, purchase_phrase

        doc.para(
            (f"Recommended, rank {details.rank} of {ranked}", "bold $success"),
            f": {plural(details.count, 'GPU')}, {purchase_phrase(consultation, device_id)}, "
            f"{money(details.cost_usd)} in all.",
        )
        doc.heading("What to buy")
        for line in purchase_lines(consultation, device_id)[1:]:
            doc.item(line.strip().removeprefix("- "))
    elif status == "excluded":
        doc.para(("Excluded.", "bold $error"))
    else:
        doc.para(("Not considered", "bold"), " (not among the candidates).")
    if details.memory:
        doc.para(("Memory: ", "$foreground-muted"), f"{details.memory}.")
    if status == "excluded":
        doc.heading("Why not")
        for item in why_not(consultation, device_id).excluded_by:
            doc.item((item.because, "bold"))
            doc.detail("rule", item.rule, style=RULE_STYLE)
            doc.detail("condition", item.condition, style=RULE_STYLE)
            doc.detail("decided by", "; ".join(item.decided_by))
            if item.sources:
                doc.detail("sources", _sources(knowledge, item.sources), style="italic")
    elif status == "recommended" and details.rank != 1:
        gap = why_not(consultation, device_id)
        doc.heading(f"Why not first (behind {gap.behind} by {gap.score_gap:.2f} points)")
        for diff in gap.score_differences:
            doc.item((diff.part, RULE_STYLE), f": leader {diff.leader:+.2f}, this {diff.this:+.2f}")
        for missed in gap.preferences_missed:
            failed = "; ".join(missed.failed) or "its condition"
            doc.item(
                "misses ", (missed.rule, RULE_STYLE), f" ({missed.points:+g} points): {failed}"
            )
    rec = consultation.recommendation(device_id)
    if rec is not None and rec.reasons:
        doc.heading("How it was recommended")
        for reason in rec.reasons:
            # A metric's sentence states the points it adds; a preference rule's prose does not.
            points = (
                f" ({reason.points:+.2f} points)" if reason.points and reason.kind == "rule" else ""
            )
            doc.item((reason.because, "bold"), points)
            doc.detail("rule", reason.rule, style=RULE_STYLE)
            if reason.sources:
                doc.detail("sources", _sources(knowledge, reason.sources), style="italic")
    if details.rules:
        doc.heading("The rules that fired for it")
        for number, rule in enumerate(details.rules, start=1):
            doc.item((rule.because, "bold"), mark=f"{number}.")
            doc.detail("rule", f"{rule.rule} ({rule.concluded})", style=RULE_STYLE)
            if rule.matched:
                doc.detail("matched", "; ".join(rule.matched))
            if rule.sources:
                doc.detail("sources", _sources(knowledge, rule.sources), style="italic")
    chains = details.facts or [
        step for name in consultation.derived_by for step in derivation_chain(consultation, name)
    ]
    if chains:
        doc.heading("Facts derived from the answers (the chain of rules)")
        _facts(doc, knowledge, chains, 0)
    if details.exclusions_passed:
        doc.heading("Exclusion rules it passed")
        for passed in details.exclusions_passed:
            reason_text = "; ".join(passed.not_met) or "its condition is false"
            doc.item((passed.rule, RULE_STYLE), f": not met — {reason_text}")
    return doc.content()


def _facts(doc: Doc, knowledge: Knowledge, steps: Sequence[FactStep], depth: int) -> None:
    for step in steps:
        value = step.value
        shown = ("true" if value else "false") if isinstance(value, bool) else str(value)
        doc.item(
            ("fact ", "$foreground-muted"),
            (step.fact, RULE_STYLE),
            f" = {shown}, derived by ",
            (step.rule, RULE_STYLE),
            f": {step.because}",
            level=depth,
        )
        if step.matched:
            doc.detail("from", "; ".join(str(m) for m in step.matched), level=depth + 1)
        if step.sources:
            doc.detail(
                "sources", _sources(knowledge, step.sources), level=depth + 1, style="italic"
            )
        _facts(doc, knowledge, step.derived_from, depth + 1)


def suggestions_for(consultation: Consultation, device_id: str, found: Changes) -> list[Suggestion]:
    """The suggestions shown beside a device: its own, or, when nothing fits, every way to make
    something fit (cheapest first)."""
    from gpu_advisor.core.explanations import suggestion_order

    own = list(found.get(device_id, []))
    if not consultation.recommendations:
        own += [
            s
            for items in found.values()
            for s in items
            if s.kind == "makes it fit" and s not in own
        ]
    return sorted(own, key=suggestion_order)


def changes_text(consultation: Consultation, device_id: str, found: Changes | None) -> Content:
    """What would change the verdict, from the lever search (or that it is running)."""
    if found is None:
        return Content.styled(
            "Searching the changes you control (runs extra consultations)…",
            "$foreground-muted italic",
        )
    items = suggestions_for(consultation, device_id, found)
    if items:
        lines = [
            Content.assemble(
                ("• ", "$accent"),
                _kind_phrase(item, device_id),
                f"if {item.change}",
                (f"  ({item.cost_phrase()}, rank {item.rank} of {item.of})", "$foreground-muted"),
                ("\n    gives up: ", "$foreground-muted"),
                "; ".join(f"{g.text} [{g.source}]" for g in item.gives_up),
            )
            for item in items
        ]
        lines.append(
            Content.styled(
                "Choose one below to apply it to your answers.", "$foreground-muted italic"
            )
        )
        return Content("\n").join(lines)
    rec = consultation.recommendation(device_id)
    if rec is not None and consultation.recommendations[0].device == device_id:
        return Content("Ranked first under your priority.")
    if rec is not None:
        return Content("No change you control puts this device first.")
    tried = ", ".join(lever.replace("-", " ") for lever in levers_for(consultation))
    return Content(
        "No change you control brings this device back"
        + (f" (tried: {tried}; each alone and the likeliest pairs)." if tried else ".")
    )


def _kind_phrase(item: Suggestion, device_id: str) -> str:
    if item.kind == "puts first":
        return "Ranked first "
    if item.kind == "makes it fit" and item.device != device_id:
        return f"{item.device} fits "
    return "Recommended "


class ExplainScreen(Screen[None]):
    """A device list on the left, everything about the chosen device on the right."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "f6",
            "facts",
            "Its facts",
            id="explain.facts",
            tooltip="The knowledge base's facts about this device, with sources",
        ),
    ]

    device: reactive[str | None] = reactive(None, init=False, always_update=True)
    """The device explained."""

    _suggestions: list[Suggestion] = []  # noqa: RUF012 - replaced, never mutated
    """The suggestions listed under the device (what choosing one applies)."""

    @property
    def advisor(self) -> Advisor:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Header(icon="⚙")
        with Horizontal(id="explain-body"):
            yield OptionList(id="explain-devices", compact=True)
            with VerticalScroll(id="explanation"):
                yield Label("", id="explain-score-title", classes="section")
                yield BarChart(id="score-chart")
                yield Label("What would change the verdict", classes="section")
                yield Static("", id="changes")
                yield OptionList(id="change-options", compact=True)
                yield Static("", id="explain-text")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.watch(self.app, "consultation", self._consultation_changed, init=False)
        self.watch(self.app, "changes", self._changes_found, init=False)
        self._fill_devices()

    def on_screen_resume(self) -> None:
        wanted = self.advisor.explain_device
        self._fill_devices()
        if wanted is not None:
            self.advisor.explain_device = None
            self.device = wanted
        elif self.device is None:
            consultation = self.advisor.consultation
            if consultation is not None:
                first = (
                    consultation.recommendations[0].device
                    if consultation.recommendations
                    else next(iter(consultation.devices), None)
                )
                self.device = first
        else:
            self.device = self.device
        self.advisor.request_changes()
        self.query_one("#explain-devices", OptionList).focus()

    def _consultation_changed(self, _consultation: Consultation | None) -> None:
        if self.is_current:
            self.on_screen_resume()

    def _fill_devices(self) -> None:
        consultation = self.advisor.consultation
        widget = self.query_one("#explain-devices", OptionList)
        widget.clear_options()
        if consultation is None:
            return
        options = []
        ranked = [r.device for r in consultation.recommendations]
        knowledge = self.advisor.knowledge
        for rank, device_id in enumerate(ranked, start=1):
            options.append(
                Option(
                    Content.assemble(
                        (f"{rank:>2}. ", "$success"), knowledge.devices[device_id].short_name
                    ),
                    id=device_id,
                )
            )
        for device_id in consultation.devices:
            if device_id not in ranked:
                options.append(
                    Option(
                        Content.assemble(
                            (" ✗  ", "$error"), knowledge.devices[device_id].short_name
                        ),
                        id=device_id,
                    )
                )
        widget.add_options(options)

    def watch_device(self, device_id: str | None) -> None:
        consultation = self.advisor.consultation
        if device_id is None or consultation is None or device_id not in consultation.devices:
            return
        widget = self.query_one("#explain-devices", OptionList)
        try:
            index = widget.get_option_index(device_id)
        except LookupError:
            index = None
        if index is not None and widget.highlighted != index:
            with self.prevent(OptionList.OptionHighlighted):
                widget.highlighted = index
        rec = consultation.recommendation(device_id)
        chart = self.query_one("#score-chart", BarChart)
        title = self.query_one("#explain-score-title", Label)
        if rec is not None:
            title.update(f"Score {rec.score:.2f}, part by part")
            chart.bars = tuple(score_bars(rec.contributions))
        chart.display = title.display = rec is not None
        self.query_one("#explain-text", Static).update(explanation(consultation, device_id))
        self._show_changes()

    def _changes_found(self, _changes: Any) -> None:
        self._show_changes()

    def _show_changes(self) -> None:
        consultation = self.advisor.consultation
        if self.device is None or consultation is None:
            return
        changes = self.advisor.changes
        found = changes[1] if changes is not None and changes[0] is consultation else None
        self.query_one("#changes", Static).update(changes_text(consultation, self.device, found))
        self._suggestions = (
            suggestions_for(consultation, self.device, found) if found is not None else []
        )
        options = self.query_one("#change-options", OptionList)
        options.clear_options()
        options.add_options(
            [
                Option(f"Apply: {item.change}", id=f"s{i}")
                for i, item in enumerate(self._suggestions)
            ]
        )
        options.display = bool(self._suggestions)

    @on(OptionList.OptionSelected, "#change-options")
    def _apply_suggestion(self, event: OptionList.OptionSelected) -> None:
        """Choosing a suggestion applies its changes to the answers (a new consultation follows)."""
        event.stop()
        index = int(str(event.option.id)[1:])
        if index < len(self._suggestions):
            item = self._suggestions[index]
            self.advisor.replace_answers(item.answers(self.advisor.session.engine_answers()))
            self.notify(f"Applied: {item.change}", timeout=3)

    @on(OptionList.OptionHighlighted, "#explain-devices")
    def _device_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        if event.option.id and event.option.id != self.device:
            self.device = event.option.id

    @on(OptionList.OptionSelected, "#explain-devices")
    def _device_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.query_one("#explanation").focus()

    def action_facts(self) -> None:
        if self.device is not None:
            self.advisor.action_facts(self.device)
