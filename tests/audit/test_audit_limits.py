"""The logic audit refuses an answer space it would walk for hours, at the rule that makes it
so (issue 17)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gpu_advisor.audit import limits
from gpu_advisor.audit.run import run_audit
from gpu_advisor.errors import FileErrors
from gpu_advisor.knowledge.engine_limits import DURABLE_MAX_OR_TERMS
from tests.conftest import MINI_KB, MINI_RULES


def test_a_wide_list_of_single_values_stops_the_audit_at_its_rule(tmp_path: Path) -> None:
    """The mini rules walk 12,252 situations. An any: of 600 ``model_params_b == N`` adds 600
    boundaries to model_params_b, multiplying its share of the product (about 200,000 in all,
    over MAX_SITUATIONS = 100,000). The rule starts on line 4 (after 3 header lines), at column
    5 (after ``  - ``)."""
    folder = tmp_path / "rules"
    shutil.copytree(MINI_RULES, folder)
    alternatives = "\n".join(f"        - answer.model_params_b == {i}" for i in range(600))
    (folder / "zz.yaml").write_text(
        "topic: zz\ntitle: zz\nrules:\n  - id: zz.wide\n    description: d\n    when:\n"
        f"      any:\n{alternatives}\n    then:\n      warn: w\n    because: b\n"
        "    sources: [seed-000#vram]\n",
        encoding="utf-8",
    )
    assert 600 > DURABLE_MAX_OR_TERMS  # the adapter splits it: it runs, but the audit cannot
    with pytest.raises(FileErrors) as caught:
        run_audit(MINI_KB, folder, agreement=0)
    (error,) = caught.value.errors
    assert (error.location.path, error.location.line, error.location.column) == (
        str(folder / "zz.yaml"),
        4,
        5,
    )
    assert error.message.startswith(
        f"the logic audit would compute more than {limits.MAX_SITUATIONS:,} combinations"
    )
    assert "600 of them here" in error.message and "thresholds" in error.message
