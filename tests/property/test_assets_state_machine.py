"""Random register/transfer/pledge/release/enforce/licence/retire sequences against a simple model.

Invariants checked after every step (py-evm style: hypothesis action lists against a memory model):

- ownership, pledge and status on chain equal the model's, and every receipt's code is the one the
  model predicts (so a refused transaction changed nothing);
- a pledged asset's owner changes only by ``enforce`` or by a transfer the pledgee co-signed;
- a retired asset accepts nothing;
- the history is an unbroken chain: following ``prev`` from ``last_event`` reaches the registration,
  through exactly as many events as the asset has accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from chain.contracts import queries
from chain.crypto import KeyPair
from testkit.contracts import BUYER, FOREIGN, LENDER, OWNER, REGISTRAR, port_chain, register_args

HOLDERS = (OWNER, BUYER, FOREIGN, LENDER)  # all members; only LENDER has the lender role
SIGNERS = (*HOLDERS, REGISTRAR)
RIGHTFUL = None  # a drawn signer of None means "the party entitled to act" (owner or pledgee)
holder_or_rightful = st.one_of(st.just(RIGHTFUL), st.just(RIGHTFUL), st.sampled_from(HOLDERS))
signer_or_rightful = st.one_of(st.just(RIGHTFUL), st.just(RIGHTFUL), st.sampled_from(SIGNERS))


@dataclass
class ModelAsset:
    owner: KeyPair
    pledgee: KeyPair | None = None
    due_ms: int = 0
    retired: bool = False
    events: int = 1


def distinct(*keys: KeyPair | None) -> list[KeyPair]:
    out: list[KeyPair] = []
    for k in keys:
        if k is not None and k not in out:
            out.append(k)
    return out


class AssetMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.chain = port_chain()
        self.ids: list[str] = []
        self.model: dict[str, ModelAsset] = {}
        self.contents = 0

    def _pick(self, index: int, *, pledged: bool = False) -> tuple[str, ModelAsset]:
        """The asset at ``index``; with ``pledged``, among the live pledged assets if there are any."""
        ids = [i for i in self.ids if self.model[i].pledgee and not self.model[i].retired] if pledged else []
        ids = ids or self.ids
        asset_id = ids[index % len(ids)]
        return asset_id, self.model[asset_id]

    def _expect(self, code: str, contract: str, method: str, args: dict[str, Any], signers: list[KeyPair],
                at_ms: int | None = None) -> bool:
        receipt = self.chain.submit(contract, method, args, signers, at_ms=at_ms)
        assert receipt.error_code == code, (contract, method, receipt.error_code, code)
        return receipt.ok

    @rule(owner=st.sampled_from(HOLDERS))
    def register(self, owner: KeyPair) -> None:
        self.contents += 1
        receipt = self.chain.submit("registry", "register", register_args(b"c%d" % self.contents, owner),
                                    [REGISTRAR, owner])
        assert receipt.ok, receipt.error_code
        asset_id = receipt.events[0].subject
        self.ids.append(asset_id)
        self.model[asset_id] = ModelAsset(owner)

    @precondition(lambda self: self.ids)
    @rule(index=st.integers(0, 63), drawn=holder_or_rightful, new_owner=st.sampled_from(HOLDERS),
          with_pledgee=st.booleans())
    def transfer(self, index: int, drawn: KeyPair | None, new_owner: KeyPair, with_pledgee: bool) -> None:
        asset_id, asset = self._pick(index)
        signer = drawn or asset.owner
        signers = distinct(signer, new_owner, asset.pledgee if with_pledgee else None)
        if asset.retired:
            code = "asset_retired"
        elif asset.owner not in signers:
            code = "not_owner"
        elif new_owner == asset.owner:
            code = "same_owner"
        elif asset.pledgee is not None and asset.pledgee not in signers:
            code = "asset_pledged"
        else:
            code = ""
        args = {"asset_id": asset_id, "new_owner": new_owner.public_key}
        if self._expect(code, "registry", "transfer", args, signers):
            assert asset.pledgee is None or asset.pledgee in signers
            asset.owner = new_owner
            asset.events += 1

    @precondition(lambda self: self.ids)
    @rule(index=st.integers(0, 63), drawn=holder_or_rightful,
          pledgee=st.sampled_from((LENDER, LENDER, LENDER, BUYER)), due_in=st.integers(1, 6_000))
    def pledge(self, index: int, drawn: KeyPair | None, pledgee: KeyPair, due_in: int) -> None:
        asset_id, asset = self._pick(index)
        signer = drawn or asset.owner
        signers = distinct(signer, pledgee)
        if asset.retired:
            code = "asset_retired"
        elif asset.owner not in signers:
            code = "not_owner"
        elif asset.pledgee is not None:
            code = "asset_pledged"
        elif pledgee == asset.owner:
            code = "self_pledge"
        elif pledgee is not LENDER:
            code = "missing_role"
        else:
            code = ""
        at_ms = self.chain.timestamp_ms + 1_000
        args = {"asset_id": asset_id, "pledgee": pledgee.public_key, "amount": 100, "currency": "CNY",
                "due_ms": at_ms + due_in}
        if self._expect(code, "collateral", "pledge", args, signers, at_ms):
            asset.pledgee, asset.due_ms = pledgee, at_ms + due_in
            asset.events += 1

    @precondition(lambda self: self.ids)
    @rule(index=st.integers(0, 63), drawn=signer_or_rightful, pledged=st.booleans())
    def release(self, index: int, drawn: KeyPair | None, pledged: bool) -> None:
        asset_id, asset = self._pick(index, pledged=pledged)
        signer = drawn or asset.pledgee or LENDER
        if asset.retired:
            code = "asset_retired"
        elif asset.pledgee is None:
            code = "not_pledged"
        elif asset.pledgee != signer:
            code = "not_pledgee"
        else:
            code = ""
        if self._expect(code, "collateral", "release", {"asset_id": asset_id}, [signer]):
            asset.pledgee = None
            asset.events += 1

    @precondition(lambda self: self.ids)
    @rule(index=st.integers(0, 63), drawn=signer_or_rightful, wait=st.integers(1, 8_000), pledged=st.booleans())
    def enforce(self, index: int, drawn: KeyPair | None, wait: int, pledged: bool) -> None:
        asset_id, asset = self._pick(index, pledged=pledged)
        signer = drawn or asset.pledgee or LENDER
        at_ms = self.chain.timestamp_ms + wait
        if asset.retired:
            code = "asset_retired"
        elif asset.pledgee is None:
            code = "not_pledged"
        elif asset.pledgee != signer:
            code = "not_pledgee"
        elif at_ms <= asset.due_ms:
            code = "not_due"
        else:
            code = ""
        if self._expect(code, "collateral", "enforce", {"asset_id": asset_id}, [signer], at_ms):
            assert asset.pledgee is not None
            asset.owner, asset.pledgee = asset.pledgee, None
            asset.events += 1

    @precondition(lambda self: self.ids)
    @rule(index=st.integers(0, 63), drawn=holder_or_rightful, licensee=st.sampled_from(("buyer-co",
          "foreign-co")), with_pledgee=st.booleans())
    def licence(self, index: int, drawn: KeyPair | None, licensee: str, with_pledgee: bool) -> None:
        asset_id, asset = self._pick(index)
        signer = drawn or asset.owner
        signers = distinct(signer, asset.pledgee if with_pledgee else None)
        abroad = licensee == "foreign-co"
        if asset.retired:
            code = "asset_retired"
        elif asset.owner not in signers:
            code = "not_owner"
        elif abroad and asset.pledgee is not None and asset.pledgee not in signers:
            code = "asset_pledged"
        else:
            code = ""
        args = {"asset_id": asset_id, "licensee": licensee, "scope": "use", "purpose": "p",
                "expires_ms": self.chain.timestamp_ms + 10**9}
        if self._expect(code, "registry", "licence", args, signers):
            asset.events += 1

    @precondition(lambda self: self.ids)
    @rule(index=st.integers(0, 63), signer=st.sampled_from(SIGNERS), really=st.integers(0, 2))
    def retire(self, index: int, signer: KeyPair, really: int) -> None:
        """Retirement ends an asset's story, so only one draw in three attempts it."""
        if really:
            return
        asset_id, asset = self._pick(index)
        if asset.retired:
            code = "asset_retired"
        elif signer not in (asset.owner, REGISTRAR):
            code = "not_owner"
        elif asset.pledgee is not None:
            code = "asset_pledged"
        else:
            code = ""
        if self._expect(code, "registry", "retire", {"asset_id": asset_id}, [signer]):
            asset.retired = True
            asset.events += 1

    @invariant()
    def chain_matches_model(self) -> None:
        for asset_id, asset in self.model.items():
            record = queries.asset(self.chain.get, asset_id)
            assert record is not None
            assert record["owner"] == asset.owner.public_hex
            assert record["status"] == ("RETIRED" if asset.retired else "ACTIVE")
            pledgee = None if record["pledge"] is None else record["pledge"]["pledgee"]
            assert pledgee == (None if asset.pledgee is None else asset.pledgee.public_hex)
            history = queries.history(self.chain.get, self.chain.events_at, asset_id)
            assert len(history) == asset.events
            assert history[-1]["name"] == "registered" and history[-1]["ref"] == record["registered"]


AssetMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=25, deadline=None)
TestAssetMachine = AssetMachine.TestCase
