"""Per-exporter year-to-date counters (RULES.md P2; CBDF Art 7–8).

``N_ns`` / ``N_s`` are the persons whose non-sensitive / sensitive personal information the
exporter has sent abroad since 1 January of the current year (Asia/Shanghai), **this request
included**. A counter from an earlier year counts as 0; one dated later than ``now`` is kept as it
is (it cannot lower a count [D]). Counters are cumulative, so splitting a transfer never escapes a
threshold.
"""

from __future__ import annotations

import datetime

from chain.crossborder.model import AssetFacts, Decision, ExporterFacts, Outcome, Path, TransferRequest, Ytd
from chain.crossborder.policy import PI_EXEMPTION_RULES, Policy


def carries_pi(asset: AssetFacts, request: TransferRequest) -> bool:
    """The request carries personal information: any PI flag of the asset (EU personal data included)
    or any person counted in the request — a partial fact counts as PI (ADR 0014 findings A4, A15)."""
    return (
        asset.contains_pi or asset.sensitive_pi or asset.minors_pi or asset.eu_personal_data
        or request.subjects > 0 or request.sensitive_subjects > 0
    )


def sensitive_in_request(asset: AssetFacts, request: TransferRequest) -> int:
    """Persons whose sensitive PI this request sends: at least one if the asset holds sensitive PI (P2;
    ADR 0014 finding A5 — otherwise ``N_s = 0`` would meet R13c with sensitive PI on board)."""
    return max(request.sensitive_subjects, 1 if asset.sensitive_pi else 0)


def carried_over(ytd: Ytd, now: datetime.date) -> Ytd:
    """The counters as they stand on ``now``: reset to 0 when they are from an earlier year."""
    if ytd.year >= now.year:
        return ytd
    return Ytd(now.year, 0, 0)


def counts_including(ytd: Ytd, request: TransferRequest, now: datetime.date) -> tuple[int, int]:
    """``(N_ns, N_s)`` with this request included (P2)."""
    if ytd.year >= now.year:
        return ytd.subjects + request.subjects, ytd.sensitive_subjects + request.sensitive_subjects
    return request.subjects, request.sensitive_subjects


def counts_towards_thresholds(
    asset: AssetFacts, exporter: ExporterFacts, request: TransferRequest, decision: Decision, policy: Policy
) -> bool:
    """Whether an allowed transfer adds to the exporter's counters.

    Only outbound personal information from mainland China counts; data collected abroad and
    returned (R06) is not domestic PI; transfers exempted by R07–R09 count unless the policy's
    ``count_exempt_transfers`` is false.
    """
    if decision.decision != Outcome.ALLOW or decision.path in (Path.DOMESTIC, Path.FOREIGN):
        return False  # judged not outbound from the mainland (P1), as the engine saw it
    if "R06" in decision.rules:
        return False
    if not carries_pi(asset, request):
        return False
    if policy.count_exempt_transfers:
        return True
    return not any(rule in PI_EXEMPTION_RULES for rule in decision.rules)


def ytd_after(
    asset: AssetFacts,
    exporter: ExporterFacts,
    request: TransferRequest,
    decision: Decision,
    policy: Policy,
    now: datetime.date,
) -> Ytd:
    """The exporter's counters once this transfer (decided by ``decision``) has been carried out."""
    base = carried_over(exporter.ytd, now)
    if not counts_towards_thresholds(asset, exporter, request, decision, policy):
        return base
    return Ytd(
        base.year, base.subjects + request.subjects, base.sensitive_subjects + sensitive_in_request(asset, request)
    )
