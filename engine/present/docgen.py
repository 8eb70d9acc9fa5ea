"""Generate the docs that derive from the rule base: the rules reference, the JSON Schemas of the
rule and knowledge files (for editors), and the decision-tree pictures.

One command regenerates everything: ``python -m gpu_advisor.present.docgen`` (from the repository root);
``tests/test_docs_fresh.py`` fails when a committed file differs from what this produces.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gpu_advisor.lang.conditions import show
from gpu_advisor.core.consult import Engine
from gpu_advisor.knowledge.rulebase import Rule, RuleBase
from gpu_advisor.knowledge.vocabulary import DEVICE_ATTRIBUTES

REGENERATE = ".venv/bin/python -m gpu_advisor.present.docgen"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ").strip()


def _num(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"


def _then(rule: Rule) -> str:
    parts = []
    for name, value in rule.derive.items():
        parts.append(f"`{name}` = {json.dumps(value)}")
    if rule.exclude:
        parts.append("exclude device")
    if rule.prefer:
        claim = rule.prefer.claim
        rest = f" if best on `{claim.metric}` ({claim.best})" if claim else ""
        parts.append(f"score {rule.prefer.points:+g}{rest}")
    if rule.warn:
        parts.append(f"warn ({rule.severity})")
    return "; ".join(parts)


def rules_reference(rb: RuleBase) -> str:
    """Markdown reference of questions, facts, device attributes, ranking and every rule."""
    out = ["# Rules reference", "",
           f"Generated from `rules/` by `{REGENERATE}`; do not edit by hand.", "",
           f"{len(rb.rules)} rules in {len(rb.topics)} topics, {len(rb.questions)} questions, "
           f"{len(rb.facts)} declared facts, evaluated in {rb.strata} strata.", "",
           "## Questions", "", "| key | type | choices / range | default | asked when |", "|---|---|---|---|---|"]
    for q in rb.questions.values():
        if q.choices:
            domain = ", ".join(q.choices)
        elif q.type in ("number", "integer"):
            domain = f"{_num(q.min or 0)} .. {_num(q.max or 0)}{' ' + q.unit if q.unit else ''}"
        else:
            domain = q.type
        default = "" if q.default is None else json.dumps(q.default)
        out.append(f"| `{q.key}` | {q.type} | {_cell(domain)} | {_cell(default)} | {_cell(show(q.ask_when))} |")
    out += ["", "## Facts", "", "| fact | type | kind | derived by | description |", "|---|---|---|---|---|"]
    for fact in rb.facts.values():
        by = ", ".join(f"`{r.id}`" for r in rb.derivers(fact.name)) or ("sizing arithmetic" if fact.kind == "computed" else "-")
        out.append(f"| `{fact.name}` | {fact.type} | {fact.kind} | {by} | {_cell(fact.description)} |")
    out += ["", "## Device attributes", "", "Rules read devices through these names (`device.<name>`).", "",
            "| attribute | type | origin | meaning |", "|---|---|---|---|"]
    for attr in DEVICE_ATTRIBUTES.values():
        unit = f" ({attr.unit})" if attr.unit else ""
        choices = f" One of: {', '.join(attr.choices)}." if attr.choices else ""
        out.append(f"| `{attr.name}` | {attr.type} | {attr.origin} | {_cell(attr.description + unit + '.' + choices)} |")
    out += ["", "## Ranking", "", "| priority | weights |", "|---|---|"]
    for priority, weights in rb.priorities.items():
        out.append(f"| `{priority}` | {', '.join(f'{m} {w:g}' for m, w in weights.items())} |")
    out += ["", "Emphasis added when a fact is true:", ""]
    out += [f"- `{fact}`: {', '.join(f'{m} +{w:g}' for m, w in weights.items())}" for fact, weights in rb.emphasis.items()]
    out += ["", "| metric | device attribute | better |", "|---|---|---|"]
    out += [f"| `{m.name}` | `{m.attribute}` | {m.better} |" for m in rb.metrics.values()]
    for topic, title in sorted(rb.topics.items()):
        out += ["", f"## {title} (`{topic}`)", ""]
        for rule in (r for r in rb.rules if r.topic == topic):
            out += [f"### `{rule.id}`", "", rule.description, "",
                    f"- **when** ({rule.scope}, stratum {rule.stratum}): `{_cell(show(rule.when))}`",
                    f"- **then**: {_then(rule)}",
                    f"- **because**: {_cell(rule.because)}",
                    f"- **sources**: {', '.join(f'`{s}`' for s in rule.sources)}",
                    f"- **examples**: {len(rule.examples)}", ""]
    return "\n".join(out).rstrip() + "\n"


def schemas() -> dict[str, dict[str, Any]]:
    """JSON Schemas of the hand-edited files, for editors (yaml-language-server)."""
    from gpu_advisor.knowledge.kb_schema import DeviceModel, SourceModel as Source
    from gpu_advisor.knowledge.rule_schema import FactsFile, QuestionsFile, RankingFile, RulesFile

    sources = {"title": "SourcesFile", "type": "object", "additionalProperties": False,
               "required": ["sources"],
               "properties": {"sources": {"type": "array", "items": Source.model_json_schema()}}}
    return {
        "rules-file.schema.json": RulesFile.model_json_schema(),
        "questions.schema.json": QuestionsFile.model_json_schema(),
        "facts.schema.json": FactsFile.model_json_schema(),
        "ranking.schema.json": RankingFile.model_json_schema(),
        "device.schema.json": DeviceModel.model_json_schema(),
        "sources.schema.json": sources,
    }


Generator = Callable[[Path, Engine], list[Path]]


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def write_reference(docs: Path, engine: Engine) -> list[Path]:
    return [_write(docs / "rules-reference.md", rules_reference(engine.rulebase))]


def write_schemas(docs: Path, engine: Engine) -> list[Path]:
    return [_write(docs / "schema" / name, json.dumps(schema, indent=2, sort_keys=True) + "\n")
            for name, schema in schemas().items()]


def write_pictures(docs: Path, engine: Engine) -> list[Path]:
    try:
        from gpu_advisor.present.graph import write_docs_pictures
    except ImportError:  # graph export not built yet
        return []
    return list(write_docs_pictures(docs / "graphs", engine))


GENERATORS: list[Generator] = [write_reference, write_schemas, write_pictures]


def generate(docs: Path, engine: Engine) -> list[Path]:
    """Write every generated doc under ``docs`` and return the files written."""
    written: list[Path] = []
    for generator in GENERATORS:
        written.extend(generator(docs, engine))
    return written


def main(argv: list[str] | None = None) -> int:
    root = Path(argv[0]) if argv else Path.cwd()
    engine = Engine.load(root / "kb", root / "rules")
    for path in generate(root / "docs", engine):
        print(path.relative_to(root))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
