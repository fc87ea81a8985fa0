"""The governance contract: authority quorum, organisations, members, roles, validators, policy, decisions."""

from __future__ import annotations

import json
from typing import Any

from chain import codec, statekeys
from chain.contracts import queries
from chain.genesis import canonical_json, default_policy
from testkit.contracts import AUTHORITIES, BUYER, OUTSIDER, TestChain, key, port_chain

ORG = {"id": "hk-co", "name": "HK Trading", "jurisdiction": "HK", "type": "COMPANY"}


def test_register_organisation_needs_an_authority_quorum() -> None:
    chain = port_chain()
    assert chain.governance("register_organisation", ORG, [AUTHORITIES[0]]).error_code == "no_quorum"
    assert chain.governance("register_organisation", ORG, [OUTSIDER, AUTHORITIES[0]]).error_code == "no_quorum"
    receipt = chain.governance("register_organisation", ORG, [AUTHORITIES[2], AUTHORITIES[0]])
    assert receipt.ok and receipt.events[0].name == "organisation_registered"
    org = queries.organisation(chain.get, "hk-co")
    assert org is not None and (org["jurisdiction"], org["zone"], org["ciio"], org["seq"]) == ("HK", None, False, 6)
    assert chain.governance("register_organisation", ORG).error_code == "duplicate_organisation"


def test_organisation_fields_are_validated() -> None:
    chain = port_chain()
    assert chain.governance("register_organisation", {**ORG, "jurisdiction": "XX"}).error_code == "bad_country"
    assert chain.governance("register_organisation", {**ORG, "type": "PIRATE"}).error_code == "bad_enum"
    assert chain.governance("register_organisation", {**ORG, "zone": "bj ftz"}).error_code == "bad_format"
    assert chain.governance("register_organisation", {**ORG, "name": "n" * 200}).error_code == "oversize"


def test_update_organisation() -> None:
    chain = port_chain()
    assert chain.governance("update_organisation", ORG).error_code == "unknown_organisation"
    update = {"id": "buyer-co", "name": "Buyer Co", "jurisdiction": "CN", "type": "COMPANY", "ciio": True,
              "restricted": True}
    assert chain.governance("update_organisation", update).ok
    facts = queries.exporter_facts(chain.get, "buyer-co")
    assert facts == {"id": "buyer-co", "jurisdiction": "CN", "is_ciio": True, "ftz_zone": None}
    assert queries.organisation(chain.get, "buyer-co")["seq"] == 2  # type: ignore[index]


def test_members_and_roles() -> None:
    chain = port_chain()
    newbie = key("newbie")
    args: dict[str, Any] = {"public_key": newbie.public_key, "organisation": "nope"}
    assert chain.governance("add_member", args).error_code == "unknown_organisation"
    assert chain.governance("add_member", {**args, "organisation": "bank"}).ok
    assert queries.member_of(chain.get, newbie.public_key) == "bank"
    assert chain.governance("remove_member", {"public_key": newbie.public_key}).ok
    assert chain.governance("remove_member", {"public_key": newbie.public_key}).error_code == "unknown_member"
    role = {"public_key": BUYER.public_key, "role": "customs"}
    assert chain.governance("grant_role", {**role, "role": "king"}).error_code == "bad_enum"
    assert chain.governance("grant_role", role).ok
    assert chain.governance("grant_role", role).error_code == "role_already_granted"
    assert queries.roles(chain.get, BUYER.public_key) == ["customs"]
    assert chain.governance("revoke_role", role).ok
    assert chain.governance("revoke_role", role).error_code == "role_not_granted"
    assert chain.get(statekeys.roles_key(BUYER.public_key)) is None


def _pending(chain: TestChain) -> list[bytes]:
    value = queries.validators(chain.get, pending=True)
    assert value is not None
    return [bytes.fromhex(v["public_key"]) for v in value]


def test_validator_changes_write_the_whole_pending_set() -> None:
    chain = TestChain()
    current = [bytes.fromhex(v["public_key"]) for v in queries.validators(chain.get) or []]
    new = key("validator-new")
    add = {"public_key": new.public_key, "name": "v-new", "organisation": "partner", "jurisdiction": "SG"}
    assert chain.governance("add_validator", add).ok
    assert _pending(chain) == [*current, new.public_key]
    assert queries.validators(chain.get, pending=True)[-1]["jurisdiction"] == "SG"  # type: ignore[index]
    assert chain.governance("add_validator", add).error_code == "duplicate_validator"
    rotated = key("validator-rotated")
    rotate = {"old_key": current[1], "new_key": rotated.public_key}
    assert chain.governance("rotate_validator_key", rotate).ok
    assert _pending(chain) == [current[0], rotated.public_key, *current[2:], new.public_key]
    assert chain.governance("rotate_validator_key", rotate).error_code == "unknown_validator"
    clash = {"old_key": current[0], "new_key": new.public_key}
    assert chain.governance("rotate_validator_key", clash).error_code == "duplicate_validator"
    assert chain.governance("remove_validator", {"public_key": current[0]}).ok
    assert current[0] not in _pending(chain)
    assert [bytes.fromhex(v["public_key"]) for v in queries.validators(chain.get) or []] == current  # unchanged


def test_the_last_validator_cannot_be_removed() -> None:
    from testkit.contracts import genesis_document

    chain = TestChain(genesis_document(validators=1))
    only = chain.genesis.validator_keys[0]
    assert chain.governance("remove_validator", {"public_key": only}).error_code == "validator_set_empty"
    assert chain.governance("remove_validator", {"public_key": bytes(32)}).error_code == "unknown_validator"


def test_policy_updates_are_versioned_and_validated() -> None:
    chain = TestChain()
    document = {**default_policy(), "version": 2}
    assert chain.governance("update_policy", {"document": json.dumps({**document, "version": 3})}).error_code \
        == "policy_version"
    assert chain.governance("update_policy", {"document": "{not json"}).error_code == "bad_policy"
    assert chain.governance("update_policy", {"document": "[2]"}).error_code == "bad_policy"
    broken = {**document, "thresholds": {"sc_or_cert_subjects": 5}}
    assert chain.governance("update_policy", {"document": json.dumps(broken)}).error_code == "bad_policy"
    receipt = chain.governance("update_policy", {"document": json.dumps(document, indent=2)})
    assert receipt.ok and receipt.events[0].data_dict()["version"] == 2
    assert chain.value(statekeys.POLICY_CURRENT) == 2
    assert chain.value(statekeys.policy_key(2)) == canonical_json(document)
    assert queries.policy(chain.get) == {"version": 2, "document": canonical_json(document)}
    assert queries.policy(chain.get, 1)["document"] == canonical_json(default_policy())  # type: ignore[index]


ASSESSMENT: dict[str, Any] = {
    "id": "CAC-2025-001", "kind": "assessment", "holder": "owner-co", "status": "PASSED",
    "issued": "2025-01-10", "expires": "2028-01-09",
    "scope": {"recipients": ["foreign-co"], "purposes": ["intl_trade"], "max_subjects": 50_000},
}


def test_regulator_decisions_are_registered_by_id() -> None:
    chain = port_chain()
    assert chain.governance("register_decision", ASSESSMENT, [OUTSIDER]).error_code == "no_quorum"
    assert chain.governance("register_decision", ASSESSMENT).ok
    decision = queries.decision(chain.get, "CAC-2025-001")
    assert decision is not None and decision["scope"]["max_subjects"] == 50_000
    assert decision["scope"]["recipients"] == ["foreign-co"] and decision["expires"] == "2028-01-09"
    assert chain.governance("register_decision", ASSESSMENT).error_code == "duplicate_decision"
    assert queries.decisions(chain.get)["total"] == 1


def test_decision_refusals() -> None:
    chain = port_chain()
    cases: list[tuple[dict[str, Any], str]] = [
        ({**ASSESSMENT, "holder": "ghost"}, "unknown_organisation"),
        ({**ASSESSMENT, "expires": "2024-01-01"}, "bad_date_range"),
        ({**ASSESSMENT, "expires": "2025-13-01"}, "bad_date"),
        ({**ASSESSMENT, "expires": None}, "missing_argument"),
        ({**ASSESSMENT, "kind": "blessing"}, "bad_enum"),
        ({**ASSESSMENT, "scope": {"purposes": ["fun"]}}, "bad_enum"),
        ({"id": "SC-1", "kind": "standard_contract", "holder": "owner-co", "status": "FILED"}, "missing_argument"),
    ]
    for args, code in cases:
        assert chain.governance("register_decision", args).error_code == code, args
    contract = {"id": "SC-1", "kind": "standard_contract", "holder": "owner-co", "status": "FILED",
                "effective": "2025-02-01", "filing_id": "BJ-SC-77", "ends": "2027-02-01"}
    assert chain.governance("register_decision", contract).ok


def test_decision_status_changes() -> None:
    chain = port_chain()
    assert chain.governance("set_decision_status", {"id": "x", "status": "REVOKED"}).error_code == "unknown_decision"
    chain.governance("register_decision", ASSESSMENT)
    update = {"id": ASSESSMENT["id"], "status": "PASSED", "extension_filed": "2027-10-01", "expires": "2031-01-09"}
    assert chain.governance("set_decision_status", update).ok
    decision = queries.decision(chain.get, ASSESSMENT["id"])
    assert decision is not None and (decision["expires"], decision["extension_filed"]) == ("2031-01-09", "2027-10-01")
    bad = {"id": ASSESSMENT["id"], "status": "PASSED", "expires": "2020-01-01"}
    assert chain.governance("set_decision_status", bad).error_code == "bad_date_range"
    assert chain.governance("set_decision_status", {"id": ASSESSMENT["id"], "status": "REVOKED"}).ok
    assert codec.dict_from_pairs(chain.value(statekeys.decision_key(ASSESSMENT["id"])))["status"] == "REVOKED"
