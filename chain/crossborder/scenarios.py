"""Scenario files (``silkport-crossborder-scenarios/1``, SCENARIOS.md) and ``silkport rules check``.

A scenario passes when the engine's decision and ``requires`` equal its ``expect`` exactly, every
id in ``expect.rules`` is among the rules reported, and the path matches where one is given.

:func:`load_scenarios` and :func:`check_scenario` are pure. :func:`run_check`, :func:`check_file`
and :func:`default_policy_document` read files: they are the package's only I/O edge (the CLI and
genesis call them; the rule engine never does).
"""

from __future__ import annotations

import datetime
import functools
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path as FilePath
from typing import Any

from chain.crossborder import parsing as p
from chain.crossborder.model import (
    AssetFacts,
    Decision,
    EvidenceKind,
    ExporterFacts,
    Outcome,
    Path,
    TransferRequest,
)
from chain.crossborder.policy import Policy
from chain.crossborder.rules import evaluate
from chain.errors import NotFoundError, ValidationError

FORMAT = "silkport-crossborder-scenarios/1"
DEFAULT_POLICY_FILE = "policy-default.json"
RULE_IDS = frozenset(
    ["P1", "R01", "R02", "R03", "R04", "R05", "R06", "R07", "R08", "R09", "R10", "R10b", "R10c", "R11",
     "R11b", "R12", "R13a", "R13b", "R13c", "R14", "R15", "R16", "R17", "R18", "B1", "G0", "G1", "G2"]
)


@dataclass(frozen=True, slots=True)
class Expectation:
    """What a scenario must decide: decision and requires exactly, rules as a subset, path if given."""

    decision: Outcome
    requires: tuple[str, ...]
    rules: tuple[str, ...]
    path: Path | None

    @classmethod
    def from_json(cls, value: Any, where: str) -> Expectation:
        doc = p.obj(value, where)
        p.check_keys(doc, where, ("decision", "requires", "rules"), ("path",))
        requires = p.string_list(doc, "requires", where)
        for index, kind in enumerate(requires):
            p.enum_value(EvidenceKind, kind, f"{where}.requires[{index}]", "evidence_kind")
        rules = p.string_list(doc, "rules", where)
        for rule in rules:
            if rule not in RULE_IDS:
                raise ValidationError(f"{where}.rules: unknown rule {rule!r}", code="unknown_rule")
        path = None if doc.get("path") is None else p.member(Path, doc, "path", where, "path")
        return cls(p.member(Outcome, doc, "decision", where, "decision"), tuple(sorted(requires)), rules, path)


@dataclass(frozen=True, slots=True)
class Scenario:
    """One case of a scenario file, written out in full."""

    id: str
    title: str
    now: datetime.date
    asset: AssetFacts
    exporter: ExporterFacts
    request: TransferRequest
    expect: Expectation

    @classmethod
    def from_json(cls, value: Any, where: str) -> Scenario:
        doc = p.obj(value, where)
        p.check_keys(doc, where, ("id", "title", "now", "asset", "exporter", "request", "expect"))
        scenario_id = p.string(doc, "id", where)
        where = f"{where}({scenario_id})"
        return cls(
            id=scenario_id,
            title=p.string(doc, "title", where),
            now=p.date(doc, "now", where),
            asset=AssetFacts.from_json(doc["asset"], f"{where}.asset"),
            exporter=ExporterFacts.from_json(doc["exporter"], f"{where}.exporter"),
            request=TransferRequest.from_json(doc["request"], f"{where}.request"),
            expect=Expectation.from_json(doc["expect"], f"{where}.expect"),
        )


def load_scenarios(doc: Any) -> list[Scenario]:
    """Parse a scenario file's JSON document (strict; ids must be unique)."""
    top = p.obj(doc, "")
    p.check_keys(top, "", ("format", "scenarios"), ("policy", "note"))
    if top["format"] != FORMAT:
        raise ValidationError(f"format: expected {FORMAT!r}, got {top['format']!r}", code="bad_format")
    items = top["scenarios"]
    if not isinstance(items, list):
        raise ValidationError("scenarios: expected a list", code="bad_type")
    scenarios = [Scenario.from_json(item, f"scenarios[{index}]") for index, item in enumerate(items)]
    seen: set[str] = set()
    for scenario in scenarios:
        if scenario.id in seen:
            raise ValidationError(f"scenarios: duplicate id {scenario.id!r}", code="duplicate_id")
        seen.add(scenario.id)
    return scenarios


def decide(scenario: Scenario, policy: Policy) -> Decision:
    """The engine's decision for one scenario."""
    return evaluate(scenario.asset, scenario.exporter, scenario.request, policy, scenario.now)


def result_json(scenario_id: str, decision: Decision) -> dict[str, Any]:
    """``{"id", "decision", "requires", "rules", "path"}`` as ``rules check`` prints it."""
    return {"id": scenario_id, **decision.to_json()}


def mismatch(expect: Expectation, decision: Decision) -> str | None:
    """Why ``decision`` does not meet ``expect`` (every difference, ``; ``-separated), or None."""
    problems: list[str] = []
    if decision.decision != expect.decision:
        problems.append(f"decision {decision.decision}, expected {expect.decision}")
    if tuple(decision.requires) != expect.requires:
        problems.append(f"requires {list(decision.requires)}, expected {list(expect.requires)}")
    absent = [rule for rule in expect.rules if rule not in decision.rules]
    if absent:
        problems.append(f"rules {list(decision.rules)} lack {absent}")
    if expect.path is not None and decision.path != expect.path:
        problems.append(f"path {decision.path}, expected {expect.path}")
    return "; ".join(problems) or None


def check_scenario(scenario: Scenario, policy: Policy) -> tuple[dict[str, Any], bool, str | None]:
    """``(result line as a dict, ok, mismatch reason or None)`` for one scenario."""
    decision = decide(scenario, policy)
    reason = mismatch(scenario.expect, decision)
    return result_json(scenario.id, decision), reason is None, reason


# --- files (the I/O edge) -----------------------------------------------------------------------


def _read_json(path: str | FilePath) -> Any:
    try:
        text = FilePath(path).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise NotFoundError(f"{path}: no such file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"{path}: cannot be read: {exc}", code="unreadable_file") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"{path}: not JSON: {exc}", code="bad_json") from exc


@functools.cache
def _default_policy_text() -> str:
    return (resources.files("chain.crossborder") / DEFAULT_POLICY_FILE).read_text(encoding="utf-8")


def default_policy_document() -> dict[str, Any]:
    """The package's ``policy-default.json`` (genesis embeds it as policy version 1); a fresh copy."""
    doc: dict[str, Any] = json.loads(_default_policy_text())
    return doc


@functools.cache
def default_policy() -> Policy:
    """The parsed default policy."""
    return Policy.from_json(default_policy_document())


def check_file(path: str | FilePath, policy: Policy | None = None) -> list[tuple[dict[str, Any], bool, str | None]]:
    """:func:`check_scenario` for every scenario of the file at ``path`` (default policy unless given)."""
    active = default_policy() if policy is None else policy
    return [check_scenario(scenario, active) for scenario in load_scenarios(_read_json(path))]


def run_check(path: str | FilePath, policy: Policy | None = None) -> tuple[list[str], bool]:
    """``silkport rules check FILE``: one compact JSON line per scenario, and whether all passed."""
    results = check_file(path, policy)
    lines = [json.dumps(result, separators=(",", ":"), ensure_ascii=False) for result, _, _ in results]
    return lines, all(ok for _, ok, _ in results)
