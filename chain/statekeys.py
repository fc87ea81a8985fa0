"""Every key of the authenticated state map, in one place (the state-level twin of storage.schema).

State keys are logical: the state tree hashes them into paths. Values are canonical msgpack.
"""

from __future__ import annotations

NONCE = b"nonce/"  # + sender public key -> last committed nonce (int)
VALIDATORS = b"gov/validators"  # -> ((public_key, name, organisation), ...) in index order
PENDING_VALIDATORS = b"gov/validators/pending"  # -> set taking effect at the next checkpoint
AUTHORITIES = b"gov/authorities"  # -> (threshold, (public_key, ...))
PARAMS = b"gov/params"  # -> chain parameters record (sorted pairs)
POLICY_CURRENT = b"policy/current"  # -> current cross-border policy version (int)
POLICY_VERSION = b"policy/v/"  # + big-endian u32 version -> canonical JSON text of the policy document


QUOTA = b"quota/"  # + sender public key -> (window, state bytes charged in that window), chain.quota


def nonce_key(sender: bytes) -> bytes:
    return NONCE + sender


def quota_key(sender: bytes) -> bytes:
    return QUOTA + sender


def policy_key(version: int) -> bytes:
    return POLICY_VERSION + version.to_bytes(4, "big")

# --- governance: roles, organisations, members, regulator decisions (chain.contracts.governance) ---
ROLES = b"gov/roles/"  # + public key -> sorted tuple of role names held by that key
ORG = b"org/rec/"  # + organisation id (ascii) -> organisation record (sorted pairs)
ORG_COUNT = b"org/count"  # -> number of organisations ever registered (int)
ORG_SEQ = b"org/seq/"  # + big-endian u64 sequence (0-based) -> organisation id (str)
MEMBER = b"org/member/"  # + public key -> organisation id (str)
DECISION = b"gov/decision/rec/"  # + decision id (ascii) -> regulator decision record (sorted pairs)
DECISION_COUNT = b"gov/decision/count"  # -> number of decisions registered (int)
DECISION_SEQ = b"gov/decision/seq/"  # + big-endian u64 sequence -> decision id (str)

# --- data assets (chain.contracts.registry, valuation, collateral) --------------------------------
ASSET = b"asset/rec/"  # + asset id (64 hex chars, ascii) -> asset record (sorted pairs)
ASSET_COUNT = b"asset/count"  # -> number of assets ever registered (int)
ASSET_SEQ = b"asset/seq/"  # + big-endian u64 sequence (0-based, registration order) -> asset id (str)
ASSET_CONTENT = b"asset/content/"  # + 32-byte content SHA-256 -> asset id (str): one asset per content
CERT_COUNTER = b"asset/cert/"  # + big-endian u16 year (Asia/Shanghai) -> certificates issued that year
VALUATION = b"asset/val/"  # + asset id + "/" + big-endian u32 n (0-based) -> appraisal record
LICENCE = b"asset/lic/"  # + asset id + "/" + big-endian u32 n (0-based) -> licence record


def roles_key(public_key: bytes) -> bytes:
    return ROLES + public_key


def org_key(org_id: str) -> bytes:
    return ORG + org_id.encode()


def org_seq_key(n: int) -> bytes:
    return ORG_SEQ + n.to_bytes(8, "big")


def member_key(public_key: bytes) -> bytes:
    return MEMBER + public_key


def decision_key(decision_id: str) -> bytes:
    return DECISION + decision_id.encode()


def decision_seq_key(n: int) -> bytes:
    return DECISION_SEQ + n.to_bytes(8, "big")


def asset_key(asset_id: str) -> bytes:
    return ASSET + asset_id.encode()


def asset_seq_key(n: int) -> bytes:
    return ASSET_SEQ + n.to_bytes(8, "big")


def asset_content_key(content_hash: bytes) -> bytes:
    return ASSET_CONTENT + content_hash


def cert_counter_key(year: int) -> bytes:
    return CERT_COUNTER + year.to_bytes(2, "big")


def valuation_key(asset_id: str, n: int) -> bytes:
    return VALUATION + asset_id.encode() + b"/" + n.to_bytes(4, "big")


def licence_key(asset_id: str, n: int) -> bytes:
    return LICENCE + asset_id.encode() + b"/" + n.to_bytes(4, "big")

# --- cross-border transfers (chain.crossborder.contract) ----------------------------------------------
TRANSFER = b"xfer/rec/"  # + transfer id (64 hex chars, ascii) -> transfer record (sorted pairs)
TRANSFER_COUNT = b"xfer/count"  # -> number of transfers ever requested (int)
TRANSFER_SEQ = b"xfer/seq/"  # + big-endian u64 sequence (0-based, request order) -> transfer id (str)
TRANSFER_STEP = b"xfer/step/"  # + transfer id + "/" + big-endian u32 n -> step record (who, what, decision)
TRANSFER_BY_ASSET = b"xfer/asset/"  # + asset id + "/" + big-endian u32 n -> transfer id; + asset id -> count
TRANSFER_BY_EXPORTER = b"xfer/exporter/"  # + org id + "/" + big-endian u32 n -> transfer id; + org id -> count
TRANSFER_YTD = b"xfer/ytd/"  # + exporter org id -> (year, subjects, sensitive_subjects), Asia/Shanghai year


def transfer_key(transfer_id: str) -> bytes:
    return TRANSFER + transfer_id.encode()


def transfer_seq_key(n: int) -> bytes:
    return TRANSFER_SEQ + n.to_bytes(8, "big")


def transfer_step_key(transfer_id: str, n: int) -> bytes:
    return TRANSFER_STEP + transfer_id.encode() + b"/" + n.to_bytes(4, "big")


def transfer_by_asset_count_key(asset_id: str) -> bytes:
    return TRANSFER_BY_ASSET + asset_id.encode()


def transfer_by_asset_key(asset_id: str, n: int) -> bytes:
    return TRANSFER_BY_ASSET + asset_id.encode() + b"/" + n.to_bytes(4, "big")


def transfer_by_exporter_count_key(org_id: str) -> bytes:
    return TRANSFER_BY_EXPORTER + org_id.encode()


def transfer_by_exporter_key(org_id: str, n: int) -> bytes:
    return TRANSFER_BY_EXPORTER + org_id.encode() + b"/" + n.to_bytes(4, "big")


def transfer_ytd_key(org_id: str) -> bytes:
    return TRANSFER_YTD + org_id.encode()

# --- anchoring (chain/contracts/anchoring.py; the hash index is node-local, ADR 0009) -------------
ANCHOR_COUNT = b"anchor/count"  # -> number of distinct hashes anchored (int)
