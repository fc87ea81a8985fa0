"""``silkport transfer audit ID``: a transfer's whole flow for customs (issue 14 part 5; ADR 0022).

Built from the node's REST API (``GET /v1/transfers/{id}`` with its numbered steps, ``GET /v1/blocks/{h}``
for the transaction ids): every evaluation with its rule ids and policy version, the evidence on the
transfer, the customs release, every delivery (serving node, recipient key, chunk root, bytes) and the
acknowledgement — each step with its block height and transaction id — plus whether the
acknowledged chunk root is a delivered one. The audit reads one node; for a proof that needs no node,
``silkport prove asset`` carries the same events in the asset's provenance bundle.
"""

from __future__ import annotations

from typing import Any

from chain.client import Client


def _tx_id(client: Client, ref: dict[str, Any] | None, blocks: dict[int, list[str]]) -> str | None:
    if not ref:
        return None
    height = int(ref["height"])
    if height not in blocks:
        blocks[height] = list(client.block(height).get("tx_ids", []))
    tx_ids = blocks[height]
    index = int(ref["tx_index"])
    return tx_ids[index] if 0 <= index < len(tx_ids) else None


def audit(client: Client, transfer_id: str) -> dict[str, Any]:
    """The audit document of ``transfer_id`` (ApiError ``unknown_transfer`` from the node if unknown)."""
    record = client.transfer(transfer_id)
    blocks: dict[int, list[str]] = {}
    steps = []
    for step in record.get("history", []):
        ref = step.get("ref") or {}
        steps.append({**step, "height": ref.get("height"), "tx_id": _tx_id(client, ref, blocks)})
    evaluations = [{"step": s["n"], "action": s["action"], "height": s["height"], "tx_id": s["tx_id"],
                    **{k: s["decision"][k] for k in ("decision", "requires", "rules", "path", "policy_version",
                                                     "date")}}
                   for s in steps if s.get("decision")]
    release = next(({"by": record.get("released_by"), "height": s["height"], "tx_id": s["tx_id"],
                     "note": s.get("note", "")}
                    for s in steps if s["state"] == "RELEASED" and s["action"] in ("requested", "reviewed")), None)
    deliveries = [{"node": s["node"], "recipient_key": s["recipient_key"], "chunk_root": s["chunk_root"],
                   "bytes": s["bytes"], "height": s["height"], "tx_id": s["tx_id"]}
                  for s in steps if s["action"] == "delivered"]
    ack = next(({"by": s["by"], "content_hash": s.get("note"), "chunk_root": s.get("chunk_root"),
                 "height": s["height"], "tx_id": s["tx_id"],
                 "matches_delivery": any(d["chunk_root"] == s.get("chunk_root") for d in deliveries)}
                for s in steps if s["action"] == "acknowledged"), None)
    return {
        "transfer": {k: record.get(k) for k in ("id", "state", "asset_id", "exporter", "recipient", "destination",
                                                "purpose", "lawful_basis", "subjects", "sensitive_subjects")},
        "decision": record.get("decision"),
        "evaluations": evaluations,
        "evidence": {"decisions": record.get("decisions") or {}, "declarations": record.get("attestations") or {},
                     "gdpr": record.get("gdpr"), "pledgee_consent": record.get("pledgee_consent")},
        "release": release,
        "deliveries": deliveries,
        "acknowledgement": ack,
        "steps": [{k: s.get(k) for k in ("n", "action", "state", "by", "height", "tx_id")} for s in steps],
    }


def _short(text: Any, n: int = 16) -> str:
    return "-" if not text else f"{str(text)[:n]}…"


def render(document: dict[str, Any]) -> list[str]:
    """The audit for people: one block per part of the flow."""
    t = document["transfer"]
    lines = [f"transfer {t['id']}  {t['state']}",
             f"  asset {t['asset_id']}  {t['exporter']} -> {t['recipient']} ({t['destination']}), "
             f"purpose {t['purpose']}, basis {t['lawful_basis']}", "decisions (rule engine, policy on chain):"]
    for e in document["evaluations"]:
        needs = f" requires {', '.join(e['requires'])}" if e["requires"] else ""
        lines.append(f"  {e['action']:<10} {e['decision']:<7}{needs}  rules {', '.join(e['rules'])}  path {e['path']}"
                     f"  policy v{e['policy_version']}  {e['date']}  height {e['height']} tx {_short(e['tx_id'])}")
    evidence = document["evidence"]
    lines.append("evidence:")
    lines.append(f"  regulator decisions {evidence['decisions'] or 'none'}")
    lines.append(f"  declarations {evidence['declarations'] or 'none'}; gdpr tool {evidence['gdpr'] or 'none'}; "
                 f"pledgee consent {_short(evidence['pledgee_consent'])}")
    release = document["release"]
    lines.append("customs release: " + ("not released" if release is None else
                                        f"by {'rule engine (automatic)' if release['by'] == 'automatic' else 'customs ' + _short(release['by'])}"
                                        f"  height {release['height']} tx {_short(release['tx_id'])}"
                                        + (f"  note {release['note']!r}" if release["note"] else "")))
    lines.append(f"deliveries: {len(document['deliveries']) or 'none'}")
    for d in document["deliveries"]:
        lines.append(f"  node {_short(d['node'])} -> key {_short(d['recipient_key'])}  {d['bytes']} bytes  "
                     f"chunk root {_short(d['chunk_root'])}  height {d['height']} tx {_short(d['tx_id'])}")
    ack = document["acknowledgement"]
    if ack is None:
        lines.append("acknowledgement: none")
    else:
        lines.append(f"acknowledgement: by {_short(ack['by'])}  sha256 {_short(ack['content_hash'])}  chunk root "
                     f"{_short(ack['chunk_root'])} ({'matches the delivery' if ack['matches_delivery'] else 'NO MATCH'})"
                     f"  height {ack['height']} tx {_short(ack['tx_id'])}")
    return lines
