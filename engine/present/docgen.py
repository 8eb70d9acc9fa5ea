"""Generate the docs that derive from the code and the rule base: the rules reference, the JSON
Schemas of the rule and knowledge files (for editors), the decision-tree pictures and the
picture of the layers (docs/architecture.dot and .svg, from the import graph).

One command regenerates everything: ``python -m gpu_advisor.present.docgen`` (from the repository
root); ``tests/test_docs_fresh.py`` and ``tests/test_graph.py`` fail when a committed file differs
from what this produces (for the SVGs: when they were not drawn from the current DOT).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gpu_advisor.core.consult import Engine
from gpu_advisor.formatting import answer_number
from gpu_advisor.knowledge.rulebase import Rule, RuleBase
from gpu_advisor.knowledge.vocabulary import DEVICE_ATTRIBUTES
from gpu_advisor.lang.conditions import show
from gpu_advisor.present.graph_docs import REGENERATE

SOURCE_ROOT = Path(__file__).resolve().parents[2]
"""The checkout this module runs from (engine/present/docgen.py -> the repository)."""


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ").strip()


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
    out = [
        "# Rules reference",
        "",
        f"Generated from `rules/` by `{REGENERATE}`; do not edit by hand.",
        "",
        (
            f"{len(rb.rules)} rules in {len(rb.topics)} topics, {len(rb.questions)} questions, "
            f"{len(rb.facts)} declared facts, evaluated in {rb.strata} strata."
        ),
        "",
        "## Questions",
        "",
        "| key | type | choices / range | default | asked when |",
        "|---|---|---|---|---|",
    ]
    for q in rb.questions.values():
        if q.choices:
            domain = ", ".join(q.choices)
        elif q.type in ("number", "integer"):
            domain = (
                f"{answer_number(q.key, q.min or 0)} .. {answer_number(q.key, q.max or 0)}"
                f"{' ' + q.unit if q.unit else ''}"
            )
        else:
            domain = q.type
        default = "" if q.default is None else json.dumps(q.default)
        out.append(
            f"| `{q.key}` | {q.type} | {_cell(domain)} | {_cell(default)} | "
            f"{_cell(show(q.ask_when))} |"
        )
    out += [
        "",
        "## Facts",
        "",
        "| fact | type | kind | derived by | description |",
        "|---|---|---|---|---|",
    ]
    for fact in rb.facts.values():
        by = ", ".join(f"`{r.id}`" for r in rb.derivers(fact.name)) or (
            "sizing arithmetic" if fact.kind == "computed" else "-"
        )
        out.append(
            f"| `{fact.name}` | {fact.type} | {fact.kind} | {by} | {_cell(fact.description)} |"
        )
    out += [
        "",
        "## Device attributes",
        "",
        "Rules read devices through these names (`device.<name>`).",
        "",
        "| attribute | type | origin | meaning |",
        "|---|---|---|---|",
    ]
    for attr in DEVICE_ATTRIBUTES.values():
        unit = f" ({attr.unit})" if attr.unit else ""
        choices = f" One of: {', '.join(attr.choices)}." if attr.choices else ""
        out.append(
            f"| `{attr.name}` | {attr.type} | {attr.origin} | "
            f"{_cell(attr.description + unit + '.' + choices)} |"
        )
    out += ["", "## Ranking", "", "| priority | weights |", "|---|---|"]
    for priority, weights in rb.priorities.items():
        out.append(f"| `{priority}` | {', '.join(f'{m} {w:g}' for m, w in weights.items())} |")
    out += ["", "Emphasis added when a fact is true:", ""]
    out += [
        f"- `{fact}`: {', '.join(f'{m} +{w:g}' for m, w in weights.items())}"
        for fact, weights in rb.emphasis.items()
    ]
    out += ["", "| metric | device attribute | better |", "|---|---|---|"]
    out += [f"| `{m.name}` | `{m.attribute}` | {m.better} |" for m in rb.metrics.values()]
    for topic, title in sorted(rb.topics.items()):
        out += ["", f"## {title} (`{topic}`)", ""]
        for rule in (r for r in rb.rules if r.topic == topic):
            out += [
                f"### `{rule.id}`",
                "",
                rule.description,
                "",
                f"- **when** ({rule.scope}, stratum {rule.stratum}): `{_cell(show(rule.when))}`",
                f"- **then**: {_then(rule)}",
                f"- **because**: {_cell(rule.because)}",
                f"- **sources**: {', '.join(f'`{s}`' for s in rule.sources)}",
                f"- **examples**: {len(rule.examples)}",
                "",
            ]
    return "\n".join(out).rstrip() + "\n"


def schemas() -> dict[str, dict[str, Any]]:
    """JSON Schemas of the hand-edited files, for editors (yaml-language-server)."""
    from gpu_advisor.knowledge.kb_schema import DeviceModel
    from gpu_advisor.knowledge.kb_schema import SourceModel as Source
    from gpu_advisor.knowledge.rule_schema import FactsFile, QuestionsFile, RankingFile, RulesFile

    sources = {
        "title": "SourcesFile",
        "type": "object",
        "additionalProperties": False,
        "required": ["sources"],
        "properties": {"sources": {"type": "array", "items": Source.model_json_schema()}},
    }
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
    return [
        _write(docs / "schema" / name, json.dumps(schema, indent=2, sort_keys=True) + "\n")
        for name, schema in schemas().items()
    ]


def write_pictures(docs: Path, engine: Engine) -> list[Path]:
    """docs/graphs: the decision tree and its topics as DOT, JSON, Mermaid and SVG."""
    from gpu_advisor.present.graph_docs import write_docs_pictures

    return list(write_docs_pictures(docs / "graphs", engine))


def write_architecture(docs: Path, engine: Engine) -> list[Path]:
    """docs/architecture.dot and .svg: the layers, drawn from the import graph of this source
    checkout."""
    from gpu_advisor.present.architecture import architecture_dot
    from gpu_advisor.present.graph_docs import write_svg

    dot = architecture_dot(SOURCE_ROOT)
    return [_write(docs / "architecture.dot", dot), write_svg(dot, docs / "architecture.svg")]


GENERATORS: list[Generator] = [write_reference, write_schemas, write_pictures, write_architecture]


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
