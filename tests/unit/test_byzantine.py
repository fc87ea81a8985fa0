"""The Byzantine test modes (chain.byzantine, ADR 0016) on the outgoing-action wrapper, message by message."""

from __future__ import annotations

import pytest

from chain import codec
from chain.byzantine import ByzantineFilter, make_filter
from chain.consensus.events import Broadcast, Send
from chain.consensus.messages import (
    COMMIT,
    PREPARE,
    PREPREPARE,
    STATUS,
    BlockHandle,
    Message,
    Vote,
    decode_message,
    encode_block,
    make_message,
)
from chain.crypto import KeyPair, Signer, is_valid_signature
from chain.errors import ConfigError
from chain.types import ZERO_HASH, Block, Header, make_tx

CHAIN = "byz-test"
KEYS = [KeyPair.generate() for _ in range(4)]


def block(height: int = 1) -> Block:
    txs = tuple(make_tx(CHAIN, "noop", "ping", {"note": str(i)}, [KeyPair.generate()], 1) for i in range(2))
    header = Header(CHAIN, height, 0, 1000, ZERO_HASH, ZERO_HASH, ZERO_HASH, ZERO_HASH, ZERO_HASH, 0, 0)
    return Block(header, txs)


def wrapper(mode: str, me: int = 0) -> ByzantineFilter:
    made = make_filter(mode, test_mode=True, chain_id=CHAIN, my_index=me, validators=4, signer=Signer(KEYS[me]))
    assert made is not None
    return made


def signed_by(message: Message, index: int) -> bool:
    return is_valid_signature(KEYS[index].public_key, message.signing_bytes(CHAIN), message.signature)


def vote_message(kind: str, me: int, height: int = 1, block_hash: bytes = b"\x11" * 32) -> bytes:
    return make_message(Signer(KEYS[me]), CHAIN, me, kind, Vote(height, 0, block_hash))


def test_refused_without_the_test_flag() -> None:
    with pytest.raises(ConfigError, match="test_mode"):
        make_filter("silent", test_mode=False, chain_id=CHAIN, my_index=0, validators=4, signer=Signer(KEYS[0]))
    with pytest.raises(ConfigError, match="--byzantine must be one of"):
        make_filter("sneaky", test_mode=True, chain_id=CHAIN, my_index=0, validators=4, signer=Signer(KEYS[0]))
    assert make_filter(None, test_mode=False, chain_id=CHAIN, my_index=0, validators=4, signer=None) is None


def test_silent_sends_nothing() -> None:
    silent = wrapper("silent")
    assert silent.rewrite(Broadcast(vote_message(PREPARE, 0))) == []
    assert silent.rewrite(Send(2, vote_message(COMMIT, 0))) == []


def test_equivocating_primary_sends_two_valid_blocks() -> None:
    original = block()
    data = make_message(Signer(KEYS[0]), CHAIN, 0, PREPREPARE, Vote(1, 0, original.block_hash), encode_block(original))
    out = wrapper("equivocate").rewrite(Broadcast(data))
    assert all(isinstance(a, Send) for a in out)
    assert sorted(a.to_index for a in out if isinstance(a, Send)) == [1, 2, 3]
    messages = [decode_message(a.message_bytes) for a in out]
    hashes = {m.body.block_hash for m in messages}
    assert len(hashes) == 2 and original.block_hash in hashes
    for message in messages:
        assert signed_by(message, 0)
        twin = BlockHandle.from_bytes(message.payload).decoded()
        assert twin.block_hash == message.body.block_hash  # each payload matches its signed hash
        assert twin.txs == original.txs and twin.header.state_root == original.header.state_root


@pytest.mark.parametrize("kind", [PREPARE, COMMIT])
def test_equivocating_backup_votes_for_two_hashes(kind: str) -> None:
    out = wrapper("equivocate", me=2).rewrite(Broadcast(vote_message(kind, 2)))
    messages = [decode_message(a.message_bytes) for a in out]
    assert {(m.kind, m.body.height, m.body.view) for m in messages} == {(kind, 1, 0)}
    assert len({m.body.block_hash for m in messages}) == 2
    assert all(signed_by(m, 2) for m in messages)


def test_forged_messages_never_verify() -> None:
    out = wrapper("forge", me=1).rewrite(Broadcast(vote_message(COMMIT, 1)))
    messages = [decode_message(a.message_bytes) for a in out]
    assert len(messages) == 3
    bad_signature, impostor, status = messages
    assert bad_signature.sender == 1 and not signed_by(bad_signature, 1)
    assert impostor.sender != 1 and not signed_by(impostor, impostor.sender)
    assert status.kind == STATUS and status.body.head_header.height == 3
    certificate = status.body.head_certificate
    assert certificate.block_hash == status.body.head_header.block_hash
    commit_bytes = codec.signing_bytes(codec.DOMAIN_COMMIT, CHAIN, (3, 0, certificate.block_hash))
    assert not any(is_valid_signature(KEYS[i].public_key, commit_bytes, sig) for i, sig in certificate.signatures)


def test_stale_replays_older_messages() -> None:
    stale = wrapper("stale")
    first, second = vote_message(PREPARE, 0, 1), vote_message(COMMIT, 0, 1)
    assert stale.rewrite(Broadcast(first)) == [Broadcast(first)]  # nothing to replay yet
    out = stale.rewrite(Send(3, second))
    assert out[0] == Send(3, second)
    assert [a.message_bytes for a in out[1:]] == [first, first]
    assert all(isinstance(a, Send) and a.to_index == 3 for a in out)


def test_undecodable_bytes_pass_through() -> None:
    assert wrapper("forge").rewrite(Broadcast(b"\xc1junk")) == [Broadcast(b"\xc1junk")]


def test_deliver_sends_on_the_consensus_channel() -> None:
    sent: list[tuple[str, int, int, bytes]] = []

    class Net:
        def broadcast(self, channel: int, payload: bytes) -> None:
            sent.append(("broadcast", -1, channel, payload))

        def send(self, to_index: int, channel: int, payload: bytes) -> None:
            sent.append(("send", to_index, channel, payload))

    data = vote_message(PREPARE, 1)
    wrapper("stale", me=1).deliver(Broadcast(data), Net(), 7)
    assert sent == [("broadcast", -1, 7, data)]
