"""Per-exporter year-to-date counters (RULES.md P2; CBDF Art 7–8).

``N_ns`` / ``N_s`` are the persons whose non-sensitive / sensitive personal information the
exporter has sent abroad since 1 January of the current year (Asia/Shanghai), **this request
included**. A counter from an earlier year counts as 0; one dated later than ``now`` is kept as it
is (it cannot lower a count [D]). Counters are cumulative, so splitting a transfer never escapes a
threshold.
"""

from __future__ import annotations

import datetime

from chain.crossborder.model import AssetFacts, Decision, ExporterFacts, Outcome, TransferRequest, Ytd
from chain.crossborder.policy import PI_EXEMPTION_RULES, Policy


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
    if decision.decision != Outcome.ALLOW or exporter.jurisdiction != policy.mainland:
        return False
    if request.destination == policy.mainland or "R06" in decision.rules:
        return False
    if not (asset.contains_pi or asset.sensitive_pi or asset.minors_pi):
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
        base.year, base.subjects + request.subjects, base.sensitive_subjects + request.sensitive_subjects
    )
