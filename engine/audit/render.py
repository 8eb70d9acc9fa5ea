"""The audit report as terse terminal text, as Markdown or HTML an expert can read and annotate,
and as JSON for tools.

Every finding shows where it stands (``path:line:col``) and, when it is about behaviour, the
``gpu-advisor recommend`` command that reproduces it. The Markdown and HTML reports give each
finding a "reviewed" box and room for notes, so the expert can work through the list and hand it
back.
"""

from __future__ import annotations

import html
import json
import shlex
from collections import Counter
from typing import Any

from gpu_advisor.audit.findings import (
    CATEGORIES,
    KIND_TITLE_PLURALS,
    KIND_TITLES,
    SEVERITIES,
    AuditReport,
    Finding,
)
from gpu_advisor.formatting import plural

CATEGORY_TITLES = {
    "lint": "Lint: the files themselves",
    "examples": "Rule examples",
    "logic": "Logic over the whole answer space",
    "agreement": "Engine agreement",
    "knowledge": "Knowledge: sources, claims and the numbers",
}
MARK = {"error": "ERROR", "warning": "warning", "info": "info"}


def command_for(answers: dict[str, Any]) -> str:
    """The command line that reproduces a counterexample."""
    parts = ["gpu-advisor", "recommend"]
    for key, value in answers.items():
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        parts += ["--set", f"{key}={value}"]
    return " ".join(shlex.quote(p) for p in parts)


def answers_text(answers: dict[str, Any]) -> str:
    if not answers:
        return "(the defaults)"
    return " ".join(f"{k}={_plain_value(v)}" for k, v in answers.items())


def _plain_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def coverage_line(report: AuditReport) -> str:
    s = report.space
    if not s.combinations:
        return "logic checks not run"
    return (
        f"{s.combinations:,} answer combinations covered ({s.situations:,} sizing situations x "
        f"{s.context_evaluations:,} context combinations in {s.context_classes:,} classes); "
        f"{s.durable_checked:,} replayed in durable_rules and Python, {s.engine_checked:,} as full "
        "consultations"
    )


def summary_line(report: AuditReport) -> str:
    return ", ".join(
        f"{report.count(s)} {s}{'s' if report.count(s) != 1 and s != 'info' else ''}"
        for s in SEVERITIES
    )


# ---------------------------------------------------------------------------------------------
# Text


def to_text(report: AuditReport, verbose: bool = False) -> str:
    lines = [f"gpu-advisor audit: rules {report.rules_dir}, knowledge base {report.kb_dir}"]
    if not report.loaded:
        lines.append("the files cannot be loaded; fix these first (other checks did not run):")
        lines += [f"  {f.where}: {f.message}" for f in report.sorted_findings()]
        return "\n".join(lines) + "\n"
    lines.append(
        f"{report.rule_count} rules, {report.device_count} devices; {coverage_line(report)}"
    )
    lines.append(summary_line(report))
    for severity in ("error", "warning"):
        shown = [f for f in report.sorted_findings() if f.severity == severity]
        if not shown:
            continue
        lines.append("")
        lines.append(f"{severity}s:" if severity != "info" else "info:")
        for finding in shown:
            lines += _text_finding(finding)
    infos = [f for f in report.findings if f.severity == "info"]
    if infos:
        lines.append("")
        if verbose:
            lines.append("info:")
            for finding in sorted(infos, key=Finding.sort_key):
                lines += _text_finding(finding)
        else:
            kinds = Counter(KIND_TITLES.get(f.kind, f.kind) for f in infos)
            lines.append(
                "info: "
                + ", ".join(plural(n, k, KIND_TITLE_PLURALS.get(k)) for k, n in kinds.most_common())
                + " (--format markdown or html for all of them)"
            )
    if report.story is not None:
        lines.append("")
        lines += story_text(report.story)
    if not report.count("error") and not report.count("warning"):
        lines.append("")
        lines.append("clean: no errors, no warnings")
    return "\n".join(lines) + "\n"


def _text_finding(finding: Finding) -> list[str]:
    where = f"{finding.where}: " if finding.where else ""
    out = [f"  {where}[{finding.kind}] {finding.message}"]
    if finding.counterexample is not None:
        out.append(f"      answers: {answers_text(finding.counterexample)}")
    return out


def story_text(story: dict[str, Any]) -> list[str]:
    lines = [
        f"rule {story['id']} ({story['location']})",
        f"  {story['description']}",
        f"  when {story['condition']}",
        f"  then {story['concludes']}",
        f"  because {story['because']}",
    ]
    if story.get("warn"):
        lines.append(f"  warns {story['warn']}")
    if story.get("claim"):
        lines.append(f"  rests on: the {story['claim']['best']} {story['claim']['metric']}")
    lines.append(
        "  sources: " + "; ".join(f"{s['citation']} ({s['title']})" for s in story["sources"])
    )
    for example in story["examples"]:
        state = "holds" if example["holds"] else "FAILS: " + "; ".join(example["problems"])
        lines.append(f"  example {example['name']}: {answers_text(example['answers'])} -> {state}")
    fires = story["fires"]
    if fires["combinations"]:
        devices = f" for {', '.join(fires['devices'])}" if fires["devices"] else ""
        lines.append(
            f"  fires in {fires['combinations']:,} combinations{devices}; e.g. "
            f"{answers_text(fires['example'] or {})}"
        )
    else:
        lines.append("  never fires in the audited space")
    decided = story["decides"]
    lines.append(
        f"  decides the outcome in {decided['decided']} of {decided['checked']} combinations "
        "checked "
        "(consulted with and without it):"
    )
    for case in decided["cases"][:8]:
        lines.append(f"    {answers_text(case['answers'])}: {'; '.join(case['change'])}")
    if story["findings"]:
        lines.append("  findings:")
        lines += [f"    [{f['kind']}] {f['message']}" for f in story["findings"]]
    return lines


# ---------------------------------------------------------------------------------------------
# Markdown


def to_markdown(report: AuditReport) -> str:
    out = [
        "# Rule audit",
        "",
        f"- Rules: `{report.rules_dir}`",
        f"- Knowledge base: `{report.kb_dir}`",
    ]
    if not report.loaded:
        out += [
            "",
            "**The files cannot be loaded.** Fix these first; the other checks did not run.",
            "",
        ]
        out += [f"- `{f.where}`: {f.message}" for f in report.sorted_findings()]
        return "\n".join(out) + "\n"
    out += [
        f"- {report.rule_count} rules, {report.device_count} devices",
        f"- Coverage: {coverage_line(report)}",
        f"- Result: **{summary_line(report)}** (exit status {report.exit_code})",
        "",
        "Each finding says where it stands and, when it is about behaviour, the command that shows "
        "it. "
        "Tick a finding once reviewed and write what you decided under it.",
        "",
    ]
    out += ["| | " + " | ".join(SEVERITIES) + " |", "|---|" + "---|" * len(SEVERITIES)]
    for category in CATEGORIES:
        counts = [
            sum(1 for f in report.findings if f.category == category and f.severity == s)
            for s in SEVERITIES
        ]
        out.append(f"| {CATEGORY_TITLES[category]} | " + " | ".join(str(c) for c in counts) + " |")
    if report.story is not None:
        out += ["", *story_markdown(report.story)]
    for category in CATEGORIES:
        found = [f for f in report.sorted_findings() if f.category == category]
        if not found:
            continue
        out += ["", f"## {CATEGORY_TITLES[category]}", ""]
        for n, finding in enumerate(found, start=1):
            out += _md_finding(finding, f"{category[0].upper()}{n}")
    out += ["", "## How the space was covered", ""]
    out += _md_coverage(report)
    return "\n".join(out) + "\n"


def _md_finding(finding: Finding, label: str) -> list[str]:
    title = KIND_TITLES.get(finding.kind, finding.kind)
    head = f"### {label}. {MARK[finding.severity]}: {title}"
    if finding.rules:
        head += f" ({', '.join(finding.rules[:3])}{', ...' if len(finding.rules) > 3 else ''})"
    lines = [head, "", finding.message, ""]
    if finding.where:
        lines.append(f"- Where: `{finding.where}`")
    if finding.devices:
        lines.append(f"- Devices: {', '.join(finding.devices)}")
    if finding.counterexample is not None:
        lines.append(f"- Shown by: `{command_for(finding.counterexample)}`")
    parts = finding.details.get("parts") if finding.details else None
    if parts:
        for part in parts:
            holds = (
                answers_text(part["holds_for"]) if part["holds_for"] is not None else "never holds"
            )
            lines.append(f"  - part `{part['part']}`: {holds}")
    lines += ["- [ ] Reviewed", "", "  Notes: ", ""]
    return lines


def _md_coverage(report: AuditReport) -> list[str]:
    s = report.space
    lines = [
        coverage_line(report) + ".",
        "",
        "| component (questions) | rules | situations | context classes | combinations |",
        "|---|---|---|---|---|",
    ]
    for comp in s.components:
        names = ", ".join(comp["questions"]) or "(no questions)"
        lines.append(
            f"| {names} | {len(comp['rules'])} | {comp['situations']:,} | "
            f"{comp['context_classes']:,} | "
            f"{comp['combinations']:,} |"
        )
    lines += ["", "Values each question takes:", ""]
    for key, values in s.domains.items():
        lines.append(f"- `{key}`: {', '.join(str(v) for v in values)}")
    if s.notes:
        lines += [""] + [f"- {note}" for note in s.notes]
    if report.timings:
        lines += ["", "Time: " + ", ".join(f"{k} {v:.1f} s" for k, v in report.timings.items())]
    return lines


def story_markdown(story: dict[str, Any]) -> list[str]:
    lines = [
        f"## Rule `{story['id']}`",
        "",
        story["description"],
        "",
        f"- Where: `{story['location']}` (topic {story['topic']}, {story['scope']} rule, stratum "
        f"{story['stratum']})",
        f"- When: `{story['condition']}`",
        f"- Then: {story['concludes']}",
        f"- Because: {story['because']}",
    ]
    if story.get("warn"):
        lines.append(f"- Warns: {story['warn']}")
    if story.get("claim"):
        lines.append(f"- Rests on: the {story['claim']['best']} `{story['claim']['metric']}`")
    lines.append(
        "- Sources: " + "; ".join(f"`{s['citation']}` ({s['title']})" for s in story["sources"])
    )
    lines += ["", "Examples:", ""]
    for example in story["examples"] or [
        {"name": "(none)", "answers": {}, "holds": True, "problems": []}
    ]:
        state = "holds" if example["holds"] else "**fails**: " + "; ".join(example["problems"])
        lines.append(f"- {example['name']}: `{answers_text(example['answers'])}` — {state}")
    fires = story["fires"]
    lines += [
        "",
        f"Fires in {fires['combinations']:,} audited combinations"
        + (f" for {', '.join(fires['devices'])}" if fires["devices"] else "")
        + ".",
    ]
    decided = story["decides"]
    lines += [
        "",
        f"Decides the outcome in {decided['decided']} of the {decided['checked']} combinations "
        "checked "
        "(each consulted with and without the rule):",
        "",
    ]
    for case in decided["cases"][:20]:
        lines.append(f"- `{command_for(case['answers'])}`: {'; '.join(case['change'])}")
    if story["findings"]:
        lines += ["", "Findings about it:", ""] + [
            f"- {f['severity']}: {f['message']}" for f in story["findings"]
        ]
    return lines


# ---------------------------------------------------------------------------------------------
# HTML

_CSS = """
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
h1,h2{border-bottom:1px solid #ddd}.error{border-left:4px solid #c0392b}\
.warning{border-left:4px solid #d68910}
.info{border-left:4px solid #2e86c1}.finding{padding:.3rem .8rem;margin:.8rem 0;background:#fafafa}
code{background:#f0f0f0;padding:0 .2rem}table{border-collapse:collapse}\
td,th{border:1px solid #ccc;padding:.2rem .5rem}
textarea{width:100%;min-height:2.5rem}.sev{font-weight:bold;text-transform:uppercase;font-size:.8rem}
"""


def to_html(report: AuditReport) -> str:
    e = html.escape
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>Rule audit</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>Rule audit</h1>",
        f"<p>Rules <code>{e(report.rules_dir)}</code>, knowledge base "
        f"<code>{e(report.kb_dir)}</code>.</p>",
    ]
    if not report.loaded:
        out.append(
            "<p><strong>The files cannot be loaded.</strong> Fix these first; the other checks did "
            "not run.</p><ul>"
        )
        out += [
            f"<li><code>{e(f.where)}</code>: {e(f.message)}</li>" for f in report.sorted_findings()
        ]
        out.append("</ul></body></html>")
        return "\n".join(out) + "\n"
    out.append(
        f"<p>{report.rule_count} rules, {report.device_count} devices. "
        f"{e(coverage_line(report))}.</p>"
    )
    out.append(
        f"<p><strong>{e(summary_line(report))}</strong> "
        f"(exit status {report.exit_code}). Tick each "
        "finding "
        "once reviewed and note what you decided; your browser keeps the page as you edit it only "
        "until "
        "you save it.</p>"
    )
    out.append("<table><tr><th></th>" + "".join(f"<th>{s}</th>" for s in SEVERITIES) + "</tr>")
    for category in CATEGORIES:
        counts = [
            sum(1 for f in report.findings if f.category == category and f.severity == s)
            for s in SEVERITIES
        ]
        out.append(
            f"<tr><td>{e(CATEGORY_TITLES[category])}</td>"
            + "".join(f"<td>{c}</td>" for c in counts)
            + "</tr>"
        )
    out.append("</table>")
    if report.story is not None:
        out += _html_story(report.story)
    for category in CATEGORIES:
        found = [f for f in report.sorted_findings() if f.category == category]
        if not found:
            continue
        out.append(f"<h2>{e(CATEGORY_TITLES[category])}</h2>")
        for n, finding in enumerate(found, start=1):
            out += _html_finding(finding, f"{category[0].upper()}{n}")
    out.append("<h2>How the space was covered</h2>")
    out.append(f"<p>{e(coverage_line(report))}.</p>")
    out.append(
        "<table><tr><th>component (questions)</th><th>rules</th><th>situations</th><th>context "
        "classes</th>"
        "<th>combinations</th></tr>"
    )
    for comp in report.space.components:
        out.append(
            f"<tr><td>{e(', '.join(comp['questions']) or '(no questions)')}</td>"
            f"<td>{len(comp['rules'])}</td>"
            f"<td>{comp['situations']:,}</td><td>{comp['context_classes']:,}</td>"
            f"<td>{comp['combinations']:,}</td></tr>"
        )
    out.append("</table><ul>")
    for key, values in report.space.domains.items():
        out.append(f"<li><code>{e(key)}</code>: {e(', '.join(str(v) for v in values))}</li>")
    out.append("</ul>")
    out.append("</body></html>")
    return "\n".join(line for line in out if line) + "\n"


def _html_finding(finding: Finding, label: str) -> list[str]:
    e = html.escape
    title = KIND_TITLES.get(finding.kind, finding.kind)
    out = [
        f'<div class="finding {finding.severity}" id="{label}">',
        f'<p><span class="sev">{e(finding.severity)}</span> <strong>{label}. {e(title)}</strong>'
        + (f" — {e(', '.join(finding.rules))}" if finding.rules else "")
        + "</p>",
        f"<p>{e(finding.message)}</p>",
    ]
    if finding.where:
        out.append(f"<p>Where: <code>{e(finding.where)}</code></p>")
    if finding.counterexample is not None:
        out.append(f"<p>Shown by: <code>{e(command_for(finding.counterexample))}</code></p>")
    out.append(
        f'<label><input type="checkbox"> reviewed</label><textarea aria-label="notes on {label}" '
        'placeholder="notes"></textarea></div>'
    )
    return out


def _html_story(story: dict[str, Any]) -> list[str]:
    return [
        "<h2>Rule " + html.escape(story["id"]) + "</h2>",
        "<pre>" + html.escape("\n".join(story_text(story))) + "</pre>",
    ]


# ---------------------------------------------------------------------------------------------


def to_json(report: AuditReport) -> str:
    return json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n"


def render(report: AuditReport, fmt: str) -> str:
    if fmt == "json":
        return to_json(report)
    if fmt == "markdown":
        return to_markdown(report)
    if fmt == "html":
        return to_html(report)
    return to_text(report)
