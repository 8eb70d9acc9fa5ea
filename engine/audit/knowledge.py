"""Knowledge checks: where the sources disagree, and what the sizing model says of the seeds'
claims.

Every fact with ``alternatives`` is listed with the preferred value, its source, the values it
won over and why (``preferred_because``), so an expert can review each choice. Each quantitative
claim of kb/claims.yaml is re-checked by the sizing model (gpu_advisor.arithmetic.claims): a claim
that does
not hold is a warning, the others are information. Preferences that rest on a claim about the
numbers (``prefer.claim``) are checked against every device over the whole answer space by the
logic enumeration (audit_logic, "contradicted-claim"). The systems catalog (kb/systems.yaml) must
load with every source registered.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gpu_advisor.audit.findings import Finding
from gpu_advisor.errors import AdvisorError, FileErrors, Location
from gpu_advisor.knowledge.rulebase import RuleBase


def disagreement_findings(rb: RuleBase) -> list[Finding]:
    from gpu_advisor.knowledge.yamlio import load_yaml

    out = []
    for device in rb.knowledge.devices.values():
        try:
            doc = load_yaml(device.path)
        except FileErrors:
            doc = None
        for name, fact in device.sourced_facts().items():
            if not fact.alternatives:
                continue
            key: tuple[str | int, ...] = (
                tuple(name.split(".", 1)) if name.startswith("throughput.") else (name,)
            )
            where = doc.key_location(key) if doc is not None else Location(device.path)
            others = "; ".join(f"{_value(a.value)} ({a.source})" for a in fact.alternatives)
            because = (fact.preferred_because or "no reason given").strip()
            out.append(
                Finding(
                    "knowledge",
                    "source-disagreement",
                    "info",
                    f"{device.id} {name}: {_value(fact.value)} ({fact.source}) preferred over "
                    f"{others}. "
                    f"Why: {because}",
                    where,
                    devices=(device.id,),
                    details={
                        "fact": name,
                        "preferred": fact.value,
                        "source": fact.source,
                        "alternatives": [
                            {"value": a.value, "source": a.source, "note": a.note}
                            for a in fact.alternatives
                        ],
                        "preferred_because": fact.preferred_because,
                    },
                )
            )
    return out


def claim_findings(rb: RuleBase) -> list[Finding]:
    """The sizing model's verdict on each seed claim (kb/claims.yaml)."""
    from gpu_advisor.arithmetic.claims import check_claim, load_claims
    from gpu_advisor.knowledge.yamlio import load_yaml

    path = Path(rb.knowledge.directory) / "claims.yaml"
    claims: list[Any] = list(getattr(rb, "claims", ()) or ())
    if not claims and path.is_file():
        try:
            claims = load_claims(path)
        except FileErrors as exc:
            return [
                Finding("lint", "load-error", "error", e.message, e.location) for e in exc.errors
            ]
    if not claims:
        return []
    positions: dict[str, Location] = {}
    try:
        doc = load_yaml(path)
        for i, entry in enumerate(doc.data.get("claims", []) if isinstance(doc.data, dict) else []):
            if isinstance(entry, dict) and "id" in entry:
                positions[str(entry["id"])] = doc.location(("claims", i))
    except FileErrors:
        pass
    out = []
    for claim in claims:
        try:
            verdict = check_claim(claim)
        except AdvisorError as exc:
            out.append(
                Finding(
                    "knowledge",
                    "claim-verdict",
                    "error",
                    f"claim {claim.id} ({claim.source}) cannot be checked: {exc}",
                    positions.get(claim.id, Location(str(path))),
                )
            )
            continue
        severity = "warning" if verdict.verdict == "does-not-hold" else "info"
        out.append(
            Finding(
                "knowledge",
                "claim-verdict",
                severity,
                f"{claim.source}: \u201c{claim.claim}\u201d \u2014 {verdict.verdict}: "
                f"{verdict.explanation}",
                positions.get(claim.id, Location(str(path))),
                details={
                    "claim": claim.id,
                    "verdict": verdict.verdict,
                    "computed_gb": round(verdict.computed_gb, 1),
                },
            )
        )
    return out


def systems_findings(rb: RuleBase) -> list[Finding]:
    """The systems catalog (kb/systems.yaml: hosts, networks, site limits) must load, its every
    source registered; each problem is an error at its place (none when it loads)."""
    from gpu_advisor.knowledge.systems import load_systems

    try:
        load_systems(Path(rb.knowledge.directory))
    except FileErrors as exc:
        return [Finding("lint", "load-error", "error", e.message, e.location) for e in exc.errors]
    return []


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return f"{int(value):,}"
    if isinstance(value, (int, float)):
        return f"{value:,}"
    return str(value)
