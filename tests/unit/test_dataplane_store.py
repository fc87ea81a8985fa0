"""chain.dataplane.store: verified, encrypted-at-rest content; nothing partial or wrong is served."""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

import pytest

from chain.dataplane import chunks
from chain.dataplane.store import ContentStore, ExpectedContent
from chain.errors import NotFoundError, QuotaError, StorageError, ValidationError

SMALL = chunks.MIN_CHUNK_SIZE
ASSET = "ab" * 32
DATA = bytes((i * 7) % 256 for i in range(SMALL * 3 + 100))


def _expected(data: bytes = DATA) -> ExpectedContent:
    s = chunks.summarize([data], SMALL)
    return ExpectedContent(s.content_hash, s.chunk_root, SMALL, s.size)


def _put(
    store: ContentStore, data: bytes = DATA, asset: str = ASSET, piece: int = 333
) -> chunks.ChunkSummary:
    upload = store.begin_upload(asset, _expected(data))
    for start in range(0, len(data), piece):
        upload.write(data[start : start + piece])
    return upload.finish()


def _read_all(store: ContentStore, asset: str = ASSET) -> bytes:
    summary = store.manifest(asset)
    return b"".join(store.read_chunk(asset, i) for i in range(len(summary.chunk_hashes)))


def test_round_trip_and_key_file_is_0600(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    summary = _put(store)
    assert summary.chunk_root == _expected().chunk_root
    assert _read_all(store) == DATA
    assert (tmp_path / "content" / "data.key").stat().st_mode & 0o777 == 0o600
    assert ContentStore(tmp_path).read_chunk(ASSET, 3) == DATA[3 * SMALL :]  # same key after restart


def test_chunks_at_rest_are_ciphertext(tmp_path: Path) -> None:
    data = b"SECRET-DATASET-" * 300
    store = ContentStore(tmp_path)
    _put(store, data)
    at_rest = (tmp_path / "content" / "assets" / ASSET / "chunks").read_bytes()
    assert b"SECRET-DATASET-" not in at_rest
    assert len(at_rest) == ContentStore.stored_size(len(data), SMALL)


def test_a_byte_altered_at_rest_is_refused(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    _put(store)
    path = tmp_path / "content" / "assets" / ASSET / "chunks"
    blob = bytearray(path.read_bytes())
    blob[30] ^= 1
    path.write_bytes(bytes(blob))
    with pytest.raises(StorageError, match="chunk 0 .* fails authentication"):
        store.read_chunk(ASSET, 0)
    assert store.read_chunk(ASSET, 1) == DATA[SMALL : 2 * SMALL]


def test_swapped_records_fail_to_open(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    _put(store)
    path = tmp_path / "content" / "assets" / ASSET / "chunks"
    blob = path.read_bytes()
    record = 24 + SMALL + 16
    path.write_bytes(blob[record : 2 * record] + blob[:record] + blob[2 * record :])
    for index in (0, 1):
        with pytest.raises(StorageError, match="fails authentication"):
            store.read_chunk(ASSET, index)


def test_a_record_moved_to_another_asset_fails_to_open(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    other = "cd" * 32
    _put(store)
    _put(store, asset=other)
    root = tmp_path / "content" / "assets"
    (root / other / "chunks").write_bytes((root / ASSET / "chunks").read_bytes())
    with pytest.raises(StorageError, match="fails authentication"):
        store.read_chunk(other, 0)


def test_mismatching_upload_stores_nothing(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    upload = store.begin_upload(ASSET, _expected())
    upload.write(DATA[:-1] + b"\x00")
    with pytest.raises(ValidationError, match="content_hash, chunk_root") as err:
        upload.finish()
    assert err.value.code == "content_mismatch"
    assert not store.has(ASSET)
    assert list((tmp_path / "content" / "incoming").iterdir()) == []
    with pytest.raises(NotFoundError):
        store.read_chunk(ASSET, 0)


def test_short_and_long_uploads_are_refused(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    upload = store.begin_upload(ASSET, _expected())
    upload.write(DATA[:100])
    with pytest.raises(ValidationError, match="size"):
        upload.finish()
    upload = store.begin_upload(ASSET, _expected())
    with pytest.raises(ValidationError, match="longer than the registered size"):
        upload.write(DATA + b"x")
    with pytest.raises(ValidationError, match="already finished or aborted"):
        upload.write(b"x")
    assert not store.has(ASSET)


def test_partial_upload_is_never_served_and_is_swept_on_restart(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    upload = store.begin_upload(ASSET, _expected())
    upload.write(DATA[: 2 * SMALL])  # two chunks sealed into the incoming area
    assert not store.has(ASSET)
    with pytest.raises(NotFoundError, match="no content stored"):
        store.read_chunk(ASSET, 0)
    ContentStore(tmp_path)  # a restart (the upload's process is gone)
    assert list((tmp_path / "content" / "incoming").iterdir()) == []


def test_quota_is_checked_before_writing(tmp_path: Path) -> None:
    store = ContentStore(tmp_path, quota_bytes=ContentStore.stored_size(len(DATA), SMALL) + 10)
    _put(store)
    with pytest.raises(QuotaError, match="content quota") as err:
        store.begin_upload("cd" * 32, _expected())
    assert err.value.code == "content_quota"


def test_disk_full_before_and_during_upload(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = ContentStore(tmp_path, free_bytes=lambda _p: 1000)
    with pytest.raises(StorageError, match="no room") as err:
        store.begin_upload(ASSET, _expected())
    assert err.value.code == "disk_full"

    store = ContentStore(tmp_path)
    upload = store.begin_upload(ASSET, _expected())
    upload.write(DATA[:SMALL])

    def no_space(_data: bytes) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(upload._file, "write", no_space)
    with pytest.raises(StorageError, match="disk filled up") as err:
        upload.write(DATA[SMALL : 2 * SMALL])
    assert err.value.code == "disk_full"
    assert not store.has(ASSET)
    assert list((tmp_path / "content" / "incoming").iterdir()) == []


@pytest.mark.parametrize(
    "name", ["../" + "a" * 61, "AB" * 32, "ab" * 31, "ab" * 32 + "/x", "", None, "ab" * 31 + "/."]
)
def test_path_tricks_in_asset_ids_are_refused(tmp_path: Path, name: object) -> None:
    store = ContentStore(tmp_path)
    with pytest.raises(ValidationError, match="asset id") as err:
        store.begin_upload(name, _expected())  # type: ignore[arg-type]
    assert err.value.code == "bad_asset_id"
    with pytest.raises(ValidationError, match="asset id"):
        store.read_chunk(name, 0)  # type: ignore[arg-type]


def test_chunk_index_out_of_range(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    _put(store)
    with pytest.raises(ValidationError, match="chunk index 4"):
        store.read_chunk(ASSET, 4)


def test_second_upload_of_a_stored_asset_is_refused(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    _put(store)
    with pytest.raises(ValidationError, match="already has its content"):
        store.begin_upload(ASSET, _expected())


def test_a_loose_key_file_is_refused(tmp_path: Path) -> None:
    ContentStore(tmp_path)
    os.chmod(tmp_path / "content" / "data.key", 0o644)
    with pytest.raises(StorageError, match="must be 0600"):
        ContentStore(tmp_path)


def test_tampered_manifest_is_refused(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    _put(store)
    path = tmp_path / "content" / "assets" / ASSET / "manifest"
    blob = bytearray(path.read_bytes())
    blob[-1] ^= 1  # last chunk hash no longer matches the recorded root
    path.write_bytes(bytes(blob))
    with pytest.raises(StorageError, match="manifest"):
        store.read_chunk(ASSET, 0)
    path.write_bytes(b"\xc1garbage")
    with pytest.raises(StorageError, match="corrupt"):
        store.manifest(ASSET)


def test_empty_dataset(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    summary = _put(store, b"")
    assert summary.content_hash == hashlib.sha256(b"").digest() and store.has(ASSET)
    with pytest.raises(ValidationError, match="chunk index 0"):
        store.read_chunk(ASSET, 0)


def test_the_fetch_prefix_hash_covers_exactly_the_part_file_in_order(tmp_path: Path) -> None:
    """Hashing as chunks are appended equals hashing the file; a retry that kept fewer chunks starts over."""
    from chain.dataplane.fetch import _PrefixHash

    part = tmp_path / "x.part"
    pieces = [bytes([i]) * 4096 for i in range(6)]
    part.write_bytes(b"".join(pieces[:2]))  # a resumed prefix of two chunks
    digest = _PrefixHash(part, 4096)
    digest.at(2)
    with open(part, "ab") as f:
        for piece in pieces[2:5]:
            f.write(piece)
            digest.update(piece)
    assert digest.sha.digest() == hashlib.sha256(b"".join(pieces[:5])).digest()
    digest.at(3)  # a retry kept three chunks: the hash is rebuilt from the file
    assert digest.chunks == 3 and digest.sha.digest() == hashlib.sha256(b"".join(pieces[:3])).digest()
    with open(part, "r+b") as f:
        f.truncate(3 * 4096)
        f.seek(0, 2)
        f.write(pieces[3])
    digest.at(4)
    assert digest.sha.digest() == hashlib.sha256(b"".join(pieces[:4])).digest()
