"""HTTP Range on the egress stream (RFC 9110 §14; ADR 0018 §11): parsing, chunk widening, 206/416, abuse.

The Range names bytes of the dataset and is served as the whole chunks that cover it; a bad, multiple,
huge or out-of-range Range is refused with 416 and zero bytes of data, and a unit the node does not
know is ignored (the whole stream, 200).
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from test_api_egress import CHUNK, DATA, SUMMARY, Valve

from chain.crypto import KeyPair
from chain.dataplane import requests, stream
from chain.dataplane.ranges import ByteRange, RangeRefused, chunk_span, parse_range
from testkit import contracts as tk

SIZE = len(DATA)  # 6 full chunks of 1 KiB and a last one of 300 bytes


@pytest.mark.parametrize(("header", "parsed"), [
    (None, None),
    ("bytes=0-99", ByteRange(0, 99)),
    ("bytes=2048-", ByteRange(2048, None)),
    ("bytes=-10", ByteRange(None, None, 10)),
    (" Bytes = 5-5 ", ByteRange(5, 5)),
    ("items=0-3", None),  # a unit the node does not understand is ignored (RFC 9110 §14.2)
])
def test_parse_range(header: str | None, parsed: ByteRange | None) -> None:
    assert parse_range(header) == parsed


@pytest.mark.parametrize(("header", "code"), [
    ("bytes=0-1,5-9", "multiple_ranges"),
    ("bytes=9-1", "bad_range"),
    ("bytes=-", "bad_range"),
    ("bytes=a-b", "bad_range"),
    ("bytes=0x10-20", "bad_range"),
    ("bytes 0-1", "bad_range"),
    ("=0-1", "bad_range"),
    ("bytes=" + "9" * 21 + "-", "bad_range"),  # more digits than any dataset needs: not parsed into an int
    ("bytes=0-1" + " " * 300, "bad_range"),
    ("bytes=\x000-1", "bad_range"),
])
def test_bad_ranges_are_refused_by_name(header: str, code: str) -> None:
    with pytest.raises(RangeRefused) as refused:
        parse_range(header)
    assert refused.value.code == code and refused.value.message


def test_ranges_widen_to_whole_chunks() -> None:
    span = chunk_span(ByteRange(1500, 2100), SIZE, CHUNK)
    assert (span.first_chunk, span.last_chunk, span.content_range) == (1, 2, f"bytes 1024-3071/{SIZE}")
    span = chunk_span(ByteRange(0, 10**19), SIZE, CHUNK)  # a huge last position is clipped to the end
    assert (span.first_chunk, span.last_chunk, span.content_range) == (0, 6, f"bytes 0-{SIZE - 1}/{SIZE}")
    span = chunk_span(ByteRange(None, None, 10), SIZE, CHUNK)
    assert (span.first_chunk, span.last_chunk, span.first_byte) == (6, 6, 6 * CHUNK)
    span = chunk_span(ByteRange(None, None, 10**19), SIZE, CHUNK)
    assert (span.first_chunk, span.last_chunk) == (0, 6)
    for unsatisfiable in (ByteRange(SIZE, None), ByteRange(10**19, None), ByteRange(None, None, 0)):
        with pytest.raises(RangeRefused) as refused:
            chunk_span(unsatisfiable, SIZE, CHUNK)
        assert refused.value.code == "range_not_satisfiable"
    with pytest.raises(RangeRefused):
        chunk_span(ByteRange(0, None), 0, CHUNK)  # an empty dataset has no bytes to range over


@pytest.fixture(scope="module")
def valve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Valve]:
    running = Valve(tmp_path_factory.mktemp("range") / "node")
    try:
        yield running
    finally:
        running.close()


def ranged_get(valve: Valve, key: KeyPair, range_header: str, first: int,
               query: str = "") -> tuple[int, bytes, dict[str, str]]:
    """One egress request with a Range header, signed for chunk ``first``: ``(status, body, headers)``."""
    nonce = bytes.fromhex(valve.client._json("GET", f"/v1/transfers/{valve.released}/challenge")["nonce"])
    node_id = valve.client.status()["node_id"]
    signed = key.sign(stream.challenge_message(valve.node.chain_id, valve.released, node_id, nonce, first))
    headers = {requests.SIGNER: key.public_hex, "Silkport-Nonce": nonce.hex(), requests.SIGNATURE: signed.hex(),
               "Range": range_header}
    url = f"{valve.client.base_url}/v1/transfers/{valve.released}/data{query}"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)


def open_frames(body: bytes, transfer_id: str, first: int) -> tuple[list[int], bytes, bool]:
    """Open a ranged response as the recipient: chunk indices, the bytes they carry, TAG_FINAL seen."""
    frames, offset = [], 0
    while offset < len(body):
        (length,) = stream.FRAME_HEADER.unpack(body[offset : offset + 4])
        frames.append(body[offset + 4 : offset + 4 + length])
        offset += 4 + length
    opener = stream.StreamOpener(tk.FOREIGN, frames[0], SUMMARY.chunk_root, transfer_id, first)
    indices, data = [], b""
    for sealed in frames[1:]:
        index, chunk = opener.open(sealed)
        indices.append(index)
        data += chunk
    return indices, data, opener.finished


def test_a_range_is_served_as_the_chunks_that_cover_it(valve: Valve) -> None:
    status, body, headers = ranged_get(valve, tk.FOREIGN, "bytes=1500-2100", 1)
    assert status == 206 and headers["Content-Range"] == f"bytes 1024-3071/{SIZE}", (status, body[:200])
    assert headers["Accept-Ranges"] == "bytes"
    indices, data, finished = open_frames(body, valve.released, 1)
    assert indices == [1, 2] and data == DATA[1024:3072] and finished  # the range's last chunk is final
    status, body, headers = ranged_get(valve, tk.FOREIGN, "bytes=-10", 6)
    assert status == 206 and headers["Content-Range"] == f"bytes 6144-{SIZE - 1}/{SIZE}"
    assert open_frames(body, valve.released, 6)[:2] == ([6], DATA[6144:])


def test_an_unknown_range_unit_is_ignored(valve: Valve) -> None:
    status, body, headers = ranged_get(valve, tk.FOREIGN, "items=2-3", 0)
    assert status == 200 and "Content-Range" not in headers
    assert open_frames(body, valve.released, 0)[1] == DATA


@pytest.mark.parametrize(("header", "code"), [
    ("bytes=0-1,2048-3000", "multiple_ranges"),
    ("bytes=" + ",".join(f"{i}-{i}" for i in range(40)), "multiple_ranges"),  # a flood of ranges in one header
    ("bytes=3000-20", "bad_range"),
    ("bytes=zz", "bad_range"),
    (f"bytes={SIZE}-", "range_not_satisfiable"),
    ("bytes=" + "9" * 20 + "-", "range_not_satisfiable"),
    ("bytes=-0", "range_not_satisfiable"),
])
def test_bad_huge_and_out_of_range_ranges_get_416_and_no_data(valve: Valve, header: str, code: str) -> None:
    status, body, headers = ranged_get(valve, tk.FOREIGN, header, 0)
    assert status == 416 and headers["Content-Type"] == "application/problem+json", (status, body[:200])
    assert f'"code": "{code}"'.encode() in body
    assert headers["Content-Range"] == f"bytes */{SIZE}"  # RFC 9110 §15.5.17
    assert DATA[:64] not in body and SUMMARY.chunk_hashes[0] not in body


def test_a_range_and_the_chunk_query_together_are_refused(valve: Valve) -> None:
    status, body, _ = ranged_get(valve, tk.FOREIGN, "bytes=0-10", 0, "?chunk=0")
    assert status == 400 and b'"code": "bad_range"' in body


def test_a_range_answer_is_signed_for_its_first_chunk(valve: Valve) -> None:
    """The challenge answer covers the first chunk the Range selects; one signed for another is refused."""
    status, body, _ = ranged_get(valve, tk.FOREIGN, "bytes=2048-", 0)
    assert status == 400 and b'"code": "bad_signature"' in body


def test_a_range_gives_nothing_to_a_non_recipient(valve: Valve) -> None:
    status, body, _ = ranged_get(valve, tk.OWNER, "bytes=0-10", 0)
    assert status == 403 and b'"code": "not_recipient"' in body and DATA[:64] not in body


def test_a_ranged_stream_cut_before_its_last_chunk_is_not_final(valve: Valve) -> None:
    status, body, _ = ranged_get(valve, tk.FOREIGN, "bytes=0-3000", 0)
    assert status == 206
    last_frame_length = len(body)
    offset = 0
    while offset < len(body):  # find where the last frame starts
        (length,) = stream.FRAME_HEADER.unpack(body[offset : offset + 4])
        last_frame_length, offset = 4 + length, offset + 4 + length
    indices, _, finished = open_frames(body[: len(body) - last_frame_length], valve.released, 0)
    assert indices == [0, 1] and not finished  # only TAG_FINAL on chunk 2 ends a complete answer


@pytest.mark.parametrize("length", [0, 1, 255, 256, 65535, 65536, 1 << 20])
@pytest.mark.parametrize("index", [0, 127, 128, 70000, 2**33])
def test_the_announced_frame_length_is_the_sealed_length(length: int, index: int) -> None:
    sealer = stream.StreamSealer(tk.FOREIGN.public_key, "t", SUMMARY.chunk_root, CHUNK, SIZE, 0)
    for proof in ([], [b"\x01" * 32] * 3, [b"\x02" * 32] * 20):
        sealed = sealer.seal(index, b"\x07" * length, proof, last=False)
        assert len(sealed) == stream.chunk_frame_length(index, length, proof)
