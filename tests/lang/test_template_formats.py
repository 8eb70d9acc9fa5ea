"""Placeholder format specs (issue 17): only the few the rules need; anything with a fill, an
alignment or a width (``{device.x:>2000000000}`` builds a 2 GB string) is refused at load."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from gpu_advisor.core.consult import Engine
from gpu_advisor.errors import FileErrors
from gpu_advisor.lang.conditions import MISSING, Ref, format_spec_ok, placeholders, render

from ..conftest import ROOT


def shipped_specs() -> set[str]:
    found: set[str] = set()
    for path in [*ROOT.glob("rules/*.yaml"), *ROOT.glob("rules/hardware/*.yaml")]:
        for placeholder in placeholders(path.read_text(encoding="utf-8")):
            if placeholder.dotted and placeholder.scope in ("answer", "fact", "device"):
                found.add(placeholder.spec)
    return found


def test_every_spec_the_shipped_rules_use_is_accepted() -> None:
    specs = shipped_specs()
    assert {",.0f", ".0%", ","} <= specs
    assert all(format_spec_ok(spec) for spec in specs), specs


@pytest.mark.parametrize("spec", ["", ",", ",.0f", ".1f", ".2f", ",.2f", ".0%", ".1%", "g", "d"])
def test_the_needed_specs_are_accepted(spec: str) -> None:
    assert format_spec_ok(spec)


@pytest.mark.parametrize(
    "spec", [">2000000000", "<10", "^9", "x>5", "010", "20", ",.99f", ".1000f", "s", "!r", "#x"]
)
def test_fill_width_and_long_precisions_are_refused(spec: str) -> None:
    assert not format_spec_ok(spec)


def test_render_never_applies_a_refused_spec() -> None:
    def lookup(ref: Ref) -> object:
        return 1234.5 if ref.name == "x" else MISSING

    assert render("{device.x:>2000000000}", lookup) == "1,234.5"
    assert render("{device.x:,.0f}", lookup) == "1,234"


def test_a_rule_with_a_wide_spec_is_refused_at_load_with_its_place(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    shutil.copytree(ROOT / "kb", tmp_path / "kb")
    (tmp_path / "rules" / "extra.yaml").write_text(
        """\
topic: extra
title: Extra rules made for a test
rules:
  - id: extra.wide
    description: a placeholder padded to two gigabytes
    when: device.memory_gb > 1
    then:
      warn: "{device.id:^999999999}"
    because: "{device.memory_gb:>2000000000} GB"
    sources: [seed-000]
""",
        encoding="utf-8",
    )
    with pytest.raises(FileErrors) as info:
        Engine.load(tmp_path / "kb", tmp_path / "rules")
    errors = [str(e) for e in info.value.errors]
    for line, spec in ((8, "^999999999"), (9, ">2000000000")):
        assert any(
            re.match(rf".*extra\.yaml:{line}:\d+: placeholder .*'\{spec}' is not accepted", e)
            for e in errors
        ), errors
