"""Text from data files is shown as text (issue 17): no terminal escape, control character or
bidi override reaches a terminal, and no Markdown link or image of the data reaches HTML."""

from __future__ import annotations

import re
import shutil

import pytest

from gpu_advisor.core.consult import Consultation, Engine
from gpu_advisor.formatting import markdown_literal, printable
from gpu_advisor.present.formats import render_report

from ..conftest import ROOT

HOSTILE = "\\e]0;pwned\\a\\e[2J\\u202eEvil\\u2066 ![x](http://evil.example/x.png) [y](http://e/)"
"""As written in a double-quoted YAML string: an OSC title, a screen clear, bidi overrides,
a Markdown image and a link."""

EXTRA_RULE = f"""\
topic: extra
title: Extra rules made for a test
rules:
  - id: extra.hostile
    description: texts with escapes in them
    when: device.memory_gb > 1
    then:
      warn: "{HOSTILE} warned"
    because: "{HOSTILE} because"
    sources: [seed-000]
"""

UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@pytest.fixture(scope="module")
def consultation(tmp_path_factory: pytest.TempPathFactory) -> Consultation:
    tree = tmp_path_factory.mktemp("hostile")
    shutil.copytree(ROOT / "rules", tree / "rules")
    shutil.copytree(ROOT / "kb", tree / "kb")
    device = tree / "kb" / "devices" / "h100-sxm.yaml"
    text = device.read_text(encoding="utf-8")
    device.write_text(text.replace("name: NVIDIA H100 SXM", f'name: "{HOSTILE}"', 1), "utf-8")
    (tree / "rules" / "extra.yaml").write_text(EXTRA_RULE, encoding="utf-8")
    engine = Engine.load(tree / "kb", tree / "rules")
    assert "\x1b" in engine.rulebase.knowledge.devices["h100-sxm"].name
    # An HGX H100 server draws 10.2 kW, more than a server room's rack: it stands in a datacenter.
    result = engine.consult(
        {
            "workload": "inference",
            "model_params_b": 8,
            "site": "datacenter",
            "candidates": "h100-sxm",
        }
    )
    assert result.recommendations and result.recommendations[0].device == "h100-sxm"
    return result


def test_printable_keeps_newlines_and_tabs_and_drops_the_rest() -> None:
    raw = "a\x1b]8;;http://e/\x1b\\b\x1b[31mc\x1b[0m\u202ed\u2069\x9b2Je\r\x00\n\tf"
    assert printable(raw) == "abcde\n\tf"
    assert printable("plain — text, ünïcode") == "plain — text, ünïcode"


def test_markdown_literal_escapes_links_images_and_cells() -> None:
    assert markdown_literal("![x](http://e/) a|b <http://x>") == (
        "!\\[x\\](http://e/) a\\|b \\<http://x\\>"
    )


def test_text_output_has_no_control_characters(consultation: Consultation) -> None:
    text = render_report(consultation, "text", trace=True)
    assert "Evil" in text and "pwned" not in text
    assert not UNSAFE.search(text.replace("\n", "").replace("\t", ""))
    assert "warned" in text


def test_markdown_output_escapes_links_and_controls(consultation: Consultation) -> None:
    markdown = render_report(consultation, "markdown")
    assert not UNSAFE.search(markdown.replace("\n", "").replace("\t", ""))
    assert not re.search(r"(?<!\\)\]\(", markdown)  # no unescaped link or image
    assert "!\\[x\\](http://evil.example/x.png)" in markdown


def test_html_export_has_no_image_or_link_from_the_data(consultation: Consultation) -> None:
    page = render_report(consultation, "html")
    assert "<img" not in page
    assert 'href="http://e/' not in page and 'evil.example/x.png"' not in page
    assert "![x](http://evil.example/x.png)" in page  # shown as the text it is
    assert not UNSAFE.search(page.replace("\n", "").replace("\t", ""))


@pytest.mark.parametrize("fmt", ["dot", "mermaid", "json", "graphml"])
def test_graph_labels_carry_no_escape_or_bidi_override(
    consultation: Consultation, fmt: str
) -> None:
    """The rule's because/warn and the device's name reach the graph's labels and tooltips as
    text: the OSC title is gone whole (no ``]0;pwned`` left over) and so are the overrides."""
    from gpu_advisor.present.graph import build_graph, render

    engine = Engine(consultation.rulebase)
    data = render(build_graph(engine, consultation), fmt).decode("utf-8")
    assert "pwned" not in data and (fmt == "mermaid" or "Evil" in data)  # mermaid: no tooltips
    assert not UNSAFE.search(data.replace("\n", "").replace("\t", "").replace("\r", ""))
