"""Render a consultation as readable text, Markdown, or JSON (the scripting contract)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from gpu_advisor.formatting import markdown_literal, printable
from gpu_advisor.formatting import money as _money

if TYPE_CHECKING:
    from gpu_advisor.core.explanations import Suggestion
    from gpu_advisor.core.results import Consultation

SHOWN_RECOMMENDATIONS = 5


SCHEMA_VERSION = "2.0"
"""The version of the JSON report's shape (``schema_version``;
docs/schema/consultation.schema.json).
The minor number grows when keys are added (1.1: ``excluded[].also``), the major one when a key
is removed or changes meaning (2.0: ``cost_usd`` is the whole purchase, GPUs + hosts + network
+ batteries, itemized in ``cost_breakdown``; ``purchase`` says what is ordered): a script may
accept any 2.x."""


def to_json_data(consultation: Consultation, counterfactuals: bool = True) -> dict[str, Any]:
    from gpu_advisor.core.explain import explain_consultation
    from gpu_advisor.present.how_many import demand_json, recommendation_json

    data = {"schema_version": SCHEMA_VERSION, **consultation.to_json()}
    for rec in data["recommendations"]:
        rec.update(recommendation_json(consultation, rec["device"]))
    demand = demand_json(consultation)
    if demand is not None and "sizing" in data:
        data["sizing"]["demand"] = demand
    data["explanation"] = explain_consultation(consultation, counterfactuals).to_json()
    return data


def to_json_text(consultation: Consultation, counterfactuals: bool = True) -> str:
    return (
        json.dumps(to_json_data(consultation, counterfactuals), indent=2, ensure_ascii=False) + "\n"
    )


def _answers_line(consultation: Consultation) -> str:
    parts = []
    for key, value in consultation.answers.values.items():
        if isinstance(value, list):
            value = ",".join(value)
        elif isinstance(value, bool):
            value = "true" if value else "false"
        marker = "" if key not in consultation.answers.defaulted else "*"
        parts.append(f"{key}={value}{marker}")
    return " ".join(parts)


def _device_name(consultation: Consultation, device_id: str) -> str:
    return consultation.rulebase.knowledge.devices[device_id].name


def _verdict(consultation: Consultation) -> str:
    if not consultation.recommendations:
        return "No device fits these answers; see why each is excluded below."
    from gpu_advisor.present.how_many import purchase_phrase

    top = consultation.recommendations[0]
    return (
        f"Buy {top.count} x {top.name} ({top.device}): "
        f"{purchase_phrase(consultation, top.device)}, {_money(top.cost_usd)} in all."
    )


def to_text(consultation: Consultation, counterfactuals: bool = True, trace: bool = False) -> str:
    """A readable verdict, its reasons, the exclusions and what would change them."""
    from gpu_advisor.core.explain import how, what_would_change, why_not

    lines: list[str] = []
    add = lines.append
    changes = what_would_change(consultation) if counterfactuals else {}
    add(_verdict(consultation))
    add("")
    add(f"Answers: {_answers_line(consultation)}   (* = default)")
    for key, why in consultation.answers.ignored.items():
        add(f"  ignored {key}: {why}")
    estimate = consultation.arithmetic.estimate
    if estimate is not None:
        add(
            f"Memory need: {estimate.total_gb:,.1f} GB on one GPU (GB = 10^9 bytes); "
            + ", ".join(f"{i.item} {i.gb:,.1f}" for i in estimate.breakdown if i.gb > 0.005)
        )
    if consultation.recommendations:
        from gpu_advisor.present.how_many import how_many_lines

        how_many = how_many_lines(consultation, consultation.recommendations[0].device)
        if how_many:
            add("")
            lines.extend(how_many)
        add("")
        add("Recommended (best first):")
        for rank, rec in enumerate(consultation.recommendations[:SHOWN_RECOMMENDATIONS], start=1):
            attrs = consultation.devices[rec.device]
            mem = ""
            if attrs.get("memory_per_gpu_gb") is not None:
                # against what the fit test compares it with: the stated memory is binary GB
                from gpu_advisor.arithmetic.sizing import usable_memory_gb

                usable = usable_memory_gb(float(attrs["memory_gb"]))
                mem = (
                    f", {attrs['memory_per_gpu_gb']:g} of {usable:.1f} GB usable per GPU "
                    f"({attrs['memory_gb']:g} GB card)"
                )
            set_by = attrs.get("count_set_by")
            why = f" (count set by {set_by})" if set_by and set_by != "minimum" else ""
            add(
                f"  {rank}. {rec.count} x {rec.name}{why}  {_money(rec.cost_usd)}  score "
                f"{rec.score:.2f}{mem}"
            )
            for reason in rec.reasons[:4]:
                add(f"       - {reason.because}  [{reason.rule}; {', '.join(reason.sources)}]")
            if rec.versus_first is not None:
                add(f"       {rec.versus_first.line()}")
            for item in changes.get(rec.device, []):
                if item.kind == "puts first":
                    add(f"       first {_suggestion_text(item)}")
        rest = len(consultation.recommendations) - SHOWN_RECOMMENDATIONS
        if rest > 0:
            others = consultation.recommendations[SHOWN_RECOMMENDATIONS:]
            add(f"  ... and {rest} more that qualify ({', '.join(r.device for r in others)})")
        top = consultation.recommendations[0].device
        chain = how(consultation, top)
        if chain.facts:
            add("")
            add(f"How {top} got there (derived facts):")
            for step in chain.facts:
                add(f"  - {step.fact} = {step.value} by {step.rule}: {step.because}")
    fits = [item for items in changes.values() for item in items if item.kind == "makes it fit"]
    if fits:
        add("")
        add("What would make something fit (cheapest first):")
        for item in sorted(fits, key=lambda i: (i.cost_usd, len(i.changes))):
            add(f"  - {item.device}: {_suggestion_text(item)}")
    if consultation.excluded:
        add("")
        add("Excluded:")
        for device_id, exclusions in consultation.all_exclusions.items():
            first = exclusions[0]
            add(f"  x {device_id}: {first.because}  [{first.rule}; {', '.join(first.sources)}]")
            for other in exclusions[1:]:
                add(f"      also: {other.because}  [{other.rule}]")
            details = why_not(consultation, device_id)
            for item in details.excluded_by[:1]:
                decided = "; ".join(item.decided_by)
                add(f"      condition: {item.condition}  ->  {decided}")
            for item in changes.get(device_id, []):
                if item.kind == "brings back":
                    add(f"      would be recommended {_suggestion_text(item)}")
    shown = {r.device for r in consultation.recommendations[:SHOWN_RECOMMENDATIONS]}
    warnings = [w for w in consultation.warnings if w.device is None or w.device in shown]
    if warnings:
        add("")
        add("Warnings:")
        for w in warnings:
            where = f"{w.device}: " if w.device else ""
            add(f"  ! {where}{w.message}  [{w.rule}; {', '.join(w.sources)}]")
    if consultation.notes:
        add("")
        add("Notes on the sources:")
        for note in consultation.notes:
            add(f"  * {note.message}")
    if trace:
        add("")
        add(f"Trace ({len(consultation.trace)} firings, {consultation.evaluator} evaluator):")
        for entry in consultation.trace:
            seen = ", ".join(f"{k} = {_plain(v)}" for k, v in entry.matched.items())
            target = f" [{entry.device}]" if entry.device else ""
            add(
                f"  {entry.seq:3}. stage {entry.stage} {entry.rule}{target}: {entry.concluded}  "
                f"({seen})"
            )
    return printable("\n".join(lines) + "\n")  # no escape sequence of a data file reaches a tty


def _suggestion_text(item: Suggestion) -> str:
    """One WHAT WOULD CHANGE IT suggestion: the changes, the cost, the rank, what is given up."""
    given = "; ".join(f"{g.text} [{g.source}]" for g in item.gives_up)
    return (
        f"if {item.change}: {item.cost_phrase()}, rank {item.rank} of {item.of}; gives up: {given}"
    )


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "not set" if value is None else str(value)


def _md_escape(text: str) -> str:
    """Text from the data (names, rule texts, notes) for a Markdown line or table cell."""
    return markdown_literal(text)


def to_markdown(consultation: Consultation, counterfactuals: bool = True) -> str:
    """A report a person can read and annotate: verdict, tables, explanation and sources."""
    from gpu_advisor.core.explain import how, what_would_change
    from gpu_advisor.core.explanations import suggestion_order

    kb = consultation.rulebase.knowledge
    out: list[str] = [
        "# GPU recommendation",
        "",
        f"**Verdict.** {_md_escape(_verdict(consultation))}",
        "",
        "## Answers",
        "",
        "| question | answer |",
        "|---|---|",
    ]
    for key, value in consultation.answers.values.items():
        shown = ",".join(value) if isinstance(value, list) else value
        out.append(
            f"| {key} | {_md_escape(str(shown))}"
            f"{' (default)' if key in consultation.answers.defaulted else ''} |"
        )
    estimate = consultation.arithmetic.estimate
    if estimate is not None:
        out += [
            "",
            "## Memory",
            "",
            f"{estimate.total_gb:,.1f} GB on one GPU (GB = 10^9 bytes).",
            "",
            "| item | GB | formula |",
            "|---|---|---|",
        ]
        out += [f"| {i.item} | {i.gb:,.2f} | {_md_escape(i.formula)} |" for i in estimate.breakdown]
        out += ["", "Assumptions:", ""] + [f"- {_md_escape(a)}" for a in estimate.assumptions]
    if consultation.recommendations:
        out += [
            "",
            "## Recommended",
            "",
            "| rank | device | units | cost | score | against the first |",
            "|---|---|---|---|---|---|",
        ]
        for rank, rec in enumerate(consultation.recommendations, start=1):
            against = rec.versus_first.line() if rec.versus_first is not None else "-"
            out.append(
                f"| {rank} | {_md_escape(rec.name)} | {rec.count} | {_money(rec.cost_usd)} | "
                f"{rec.score:.2f} "
                f"| {_md_escape(against)} |"
            )
        from gpu_advisor.present.how_many import how_many_lines

        how_many = how_many_lines(consultation, consultation.recommendations[0].device)
        if how_many:
            out += ["", "## How many", ""] + [
                _md_escape(line.strip())
                if not line.startswith("  - ")
                else "- " + _md_escape(line[4:])
                for line in how_many
            ]
        for rec in consultation.recommendations[:3]:
            out += ["", f"### Why {_md_escape(rec.name)}", ""]
            out += [
                f"- {_md_escape(r.because)} (`{r.rule}`; {', '.join(r.sources)})"
                for r in rec.reasons
            ]
            for step in how(consultation, rec.device).facts:
                out.append(
                    f"- fact `{step.fact}` = {step.value} from `{step.rule}`: "
                    f"{_md_escape(step.because)}"
                )
    changes = what_would_change(consultation) if counterfactuals else {}
    if consultation.all_exclusions:
        out += [
            "",
            "## Excluded",
            "",
            "| device | rule | because | would change if |",
            "|---|---|---|---|",
        ]
        for device_id, exclusions in consultation.all_exclusions.items():
            change = (
                "; ".join(c.change for c in changes.get(device_id, []) if c.kind != "puts first")
                or "-"
            )
            out.append(
                f"| {device_id} | `{exclusions[0].rule}` | {_md_escape(exclusions[0].because)} | "
                f"{_md_escape(change)} |"
            )
    suggestions = sorted(
        (item for items in changes.values() for item in items), key=suggestion_order
    )
    if suggestions:
        out += [
            "",
            "## What would change it",
            "",
            "| device | what it does | changes | cost | rank | gives up |",
            "|---|---|---|---|---|---|",
        ]
        for item in suggestions:
            given = "; ".join(f"{g.text} (`{g.source}`)" for g in item.gives_up)
            out.append(
                f"| {item.device} | {item.kind} | {_md_escape(item.change)} | "
                f"{_md_escape(item.cost_phrase())} "
                f"| {item.rank} of {item.of} | {_md_escape(given)} |"
            )
    if consultation.warnings:
        out += ["", "## Warnings", ""]
        out += [
            f"- {'**' + _md_escape(w.device) + '**: ' if w.device else ''}"
            f"{_md_escape(w.message)} (`{w.rule}`)"
            for w in consultation.warnings
        ]
    if consultation.notes:
        out += ["", "## Notes on the sources", ""] + [
            f"- {_md_escape(n.message)}" for n in consultation.notes
        ]
    cited = sorted(
        {
            s.split("#")[0]
            for r in consultation.recommendations
            for reason in r.reasons
            for s in reason.sources
        }
        | {s.split("#")[0] for ex in consultation.excluded for s in ex.sources}
    )
    if cited:
        out += ["", "## Sources", ""]
        for source_id in cited:
            source = kb.sources.get(source_id)
            if source:
                link = (
                    f" <{source.url}>"
                    if source.url
                    else (f" ({source.document})" if source.document else "")
                )
                out.append(f"- `{source_id}`: {_md_escape(source.title)}{link}")
    out += [
        "",
        "## Trace",
        "",
        "| # | stage | rule | device | concluded |",
        "|---|---|---|---|---|",
    ]
    out += [
        f"| {t.seq} | {t.stage} | `{t.rule}` | {t.device or '-'} | {_md_escape(t.concluded)} |"
        for t in consultation.trace
    ]
    return printable("\n".join(out) + "\n")
