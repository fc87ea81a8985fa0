"""The explorer in headless Chromium over a real devnet (ADR 0025): every page renders real data, search
finds each kind of id, the live feed moves the height without polling, the receipt check passes for a real
receipt and fails for a byte-flipped file and a forged signature, and the JS msgpack encoder agrees with
Python's canonical encoding."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from chain import codec
from chain.crypto import KeyPair
from chain.types import make_tx

from .conftest import Story, api, first, shoot, until

pytestmark = [pytest.mark.blackbox, pytest.mark.browser, pytest.mark.timeout(300), pytest.mark.xdist_group("explorer-browser")]


def open_page(page: Any, story: Story, route: str) -> None:
    page.goto(f"{story.devnet.api(0)}/#/{route}")
    until(page, f"document.getElementById('main').dataset.page === {json.dumps(route.split('/')[0] or 'validators')}")


def test_validators_page_shows_the_set_with_jurisdictions_and_the_live_head(page: Any, story: Story,
                                                                               tmp_path: Path) -> None:
    open_page(page, story, "")
    rows = page.locator("tr[data-validator]")
    assert rows.count() == story.devnet.size
    validators = api(story, "/v1/validators")
    for entry in validators["validators"]:
        row = page.locator(f"tr[data-validator='{entry['index']}']").inner_text()
        assert entry["name"] in row and entry["jurisdiction"] in row and entry["organisation"] in row
    assert page.locator("text=primary").count() >= 1
    note = page.locator("#health-note")
    upto, count = int(note.get_attribute("data-upto")), int(note.get_attribute("data-count"))
    assert count == 10 and upto >= story.anchor_height
    expected = {entry["index"]: 0 for entry in validators["validators"]}
    for height in range(upto - count + 1, upto + 1):
        for signature in api(story, f"/v1/blocks/{height}")["certificate"]["signatures"]:
            expected[signature["validator_index"]] += 1
    shown = {int(row.get_attribute("data-validator")): int(row.locator("[data-signed]").get_attribute("data-signed"))
             for row in rows.all()}
    assert shown == expected and sum(shown.values()) >= 3 * count  # every certificate holds a quorum
    until(page, "document.getElementById('live-dot').className === 'dot on'")
    assert int(page.locator("#live-height").inner_text()) >= story.anchor_height
    shoot(page, "validators", tmp_path)


def test_live_feed_moves_the_height_without_polling(page: Any, story: Story) -> None:
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    open_page(page, story, "rules")  # a page that fetches nothing after it loads
    until(page, "document.getElementById('live-dot').className === 'dot on'")
    before = int(page.locator("#live-height").inner_text())
    authorities = sorted((story.devnet.directory / "authorities").glob("authority*.json"))
    from chain.crypto import load_key_file

    keys = [load_key_file(p) for p in authorities[:2]]
    tx = make_tx(story.devnet.chain_id, "governance", "grant_role",
                 {"public_key": KeyPair.generate().public_key, "role": "appraiser"}, keys, before + 10**13)
    height = story.devnet.wait_committed(0, story.devnet.submit(0, tx))
    until(page, f"Number(document.getElementById('live-height').textContent) >= {height}")
    status_reads = [url for url in requests if "/v1/status" in url]
    event_streams = [url for url in requests if url.endswith("/v1/events")]
    assert len(status_reads) <= 1 and len(event_streams) == 1, requests


def test_blocks_block_and_transaction_pages(page: Any, story: Story, tmp_path: Path) -> None:
    open_page(page, story, "blocks")
    assert page.locator("#blocklist tbody tr").count() == 20
    shoot(page, "blocks", tmp_path)
    open_page(page, story, f"block/{story.anchor_height}")
    block = api(story, f"/v1/blocks/{story.anchor_height}")
    text = page.locator("#main").inner_text()
    assert block["hash"] in text and block["state_root"] in text and story.anchor_tx in text
    page.click(f"a[href='#/tx/{story.anchor_tx}']")
    until(page, "location.hash.startsWith('#/tx/') && document.getElementById('main').dataset.page === 'tx'")
    page.wait_for_selector("text=anchoring.anchor")
    text = page.locator("#main").inner_text()
    assert "anchored" in text and "customs declarations" in text and "ok" in text
    shoot(page, "transaction", tmp_path)


def test_search_finds_each_kind(page: Any, story: Story) -> None:
    assets = api(story, "/v1/assets?order=newest&per_page=5")["items"]
    transfers = api(story, "/v1/transfers?per_page=5")["items"]
    block = api(story, f"/v1/blocks/{story.anchor_height - 1}")
    cases = [
        (str(story.anchor_height), f"#/block/{story.anchor_height}"),
        (block["hash"], f"#/block/{block['height']}"),
        (story.anchor_tx, f"#/tx/{story.anchor_tx}"),
        (assets[0]["id"], f"#/asset/{assets[0]['id']}"),
        (transfers[0]["id"], f"#/transfer/{transfers[0]['id']}"),
    ]
    open_page(page, story, "")
    for query, target in cases:
        page.fill("#q", query)
        page.press("#q", "Enter")
        until(page, f"location.hash === {json.dumps(target)}")
        until(page, f"document.getElementById('main').dataset.page === {json.dumps(target.split('/')[1])}")
    page.fill("#q", "f" * 64)
    page.press("#q", "Enter")
    page.wait_for_selector("#not-found")


def test_asset_page_timeline_lineage_valuations_pledges(page: Any, story: Story, tmp_path: Path) -> None:
    assets = api(story, "/v1/assets?order=oldest&per_page=100")["items"]
    derived = first([a for a in assets if a["parents"]])
    parent_id = derived["parents"][0]
    open_page(page, story, f"asset/{parent_id}")
    history = api(story, f"/v1/assets/{parent_id}/history")
    items = page.locator("ol.timeline li")
    assert items.count() == len(history["events"]) and items.count() >= 4
    names = {e["name"] for e in history["events"]}
    assert {"registered", "appraised", "pledged", "released", "derived"} <= names, names
    for name in names:
        assert page.locator(f"li[data-event='{name}']").count() >= 1
    svg = page.locator("svg.lineage")
    assert svg.count() == 1 and svg.locator(f"a[href='#/asset/{derived['id']}']").count() == 1  # the child
    valuations = api(story, f"/v1/valuations/{parent_id}")["history"]
    assert valuations and f"{valuations[0]['amount'] / 100:,.2f}" in page.locator("#main").inner_text()
    assert page.locator("text=collateral.pledged").count() >= 1
    shoot(page, "asset", tmp_path)
    svg.locator(f"a[href='#/asset/{derived['id']}']").click()
    until(page, f"location.hash === '#/asset/{derived['id']}'")
    page.wait_for_selector(f"svg.lineage a[href='#/asset/{parent_id}']")  # the parent, on the child's page


def test_transfer_page_decision_rules_evidence_release(page: Any, story: Story, tmp_path: Path) -> None:
    transfers = api(story, "/v1/transfers?per_page=50")["items"]
    details = [api(story, f"/v1/transfers/{t['id']}") for t in transfers if t["decision"] and t["decision"]["rules"]]
    released = first([t for t in details if any(step["action"] == "reviewed" for step in t["history"])
                      and t.get("deliveries")])  # released by customs, then delivered by the valve
    open_page(page, story, f"transfer/{released['id']}")
    text = page.locator("#main").inner_text()
    decision = released["decision"]
    assert decision["decision"] in text and str(decision["policy_version"]) in text and released["state"] in text
    assert page.locator("ol.timeline li").count() == len(released["history"])
    assert page.locator("li[data-action='reviewed']").count() == 1 and released["released_by"][:12] in text
    assert page.locator("tr[data-delivery]").count() == released["deliveries"] >= 1
    assert released["delivered_root"] in text
    rule = decision["rules"][0]
    shoot(page, "transfer", tmp_path)
    page.click(f"a[href='#/rules/{rule}']")
    page.wait_for_selector(f"tr.rule.focus#rule-{rule}")
    rules = json.loads((Path(__file__).resolve().parents[2] / "chain/api/explorer/static/rules.json").read_text())
    condition = first(rules["rules"], id=rule)["condition"]
    assert condition.replace("`", "")[:20] in page.locator(f"#rule-{rule}").inner_text().replace("`", "")
    open_page(page, story, "transfers")
    assert page.locator("#main tbody tr").count() == len(transfers)


def run_check(page: Any, story: Story, file: Path, receipt_text: str) -> tuple[bool, str]:
    open_page(page, story, "verify")
    page.set_input_files("#file-input", str(file))
    page.fill("#receipt-text", receipt_text)
    page.click("#verify-button")
    verdict = page.wait_for_selector("#verdict")
    return verdict.get_attribute("data-ok") == "true", verdict.inner_text()


def test_receipt_check_in_the_browser(page: Any, story: Story, tmp_path: Path) -> None:
    receipt = story.receipt.read_text()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    ok, text = run_check(page, story, story.file, receipt)
    assert ok, text
    assert f"anchored in block {story.anchor_height}" in text and "genesis validators" in text
    assert "pinned genesis block is leaf 0" in text
    assert not [u for u in requests if "/receipt" in u or "/v1/anchors" in u]  # nothing asked of the node
    shoot(page, "receipt-check", tmp_path)

    flipped = tmp_path / "flipped.pdf"
    data = bytearray(story.file.read_bytes())
    data[100] ^= 0x01
    flipped.write_bytes(bytes(data))
    ok, text = run_check(page, story, flipped, receipt)
    assert not ok and "SHA-256" in text, text

    document = json.loads(receipt)
    signature = document["certified"]["certificate"]["signatures"][0][1]
    forged = signature[:10] + ("0" if signature[10] != "0" else "1") + signature[11:]
    document["certified"]["certificate"]["signatures"][0][1] = forged
    ok, text = run_check(page, story, story.file, json.dumps(document))
    assert not ok and "signature of validator" in text and "invalid" in text, text

    forger = KeyPair.generate()  # a full set of valid signatures, by keys outside the genesis set
    document = json.loads(receipt)
    document["certified"]["certificate"]["signatures"] = [[i, forger.sign(b"x").hex()] for i in range(3)]
    ok, text = run_check(page, story, story.file, json.dumps(document))
    assert not ok, text

    other_genesis = {"chain_id": story.devnet.chain_id,
                     "validators": [{"public_key": KeyPair.generate().public_hex} for _ in range(4)]}
    open_page(page, story, "verify")
    page.set_input_files("#file-input", str(story.file))
    page.fill("#receipt-text", receipt)
    page.fill("#trust-text", json.dumps(other_genesis))
    page.click("#verify-button")
    verdict = page.wait_for_selector("#verdict")
    assert verdict.get_attribute("data-ok") == "false" and "validators_hash" in verdict.inner_text()

    genesis = json.loads((story.devnet.directory / "genesis.json").read_text())  # out of band: no genesis hash
    page.fill("#trust-text", json.dumps(genesis))
    page.click("#verify-button")
    page.wait_for_selector("#verdict[data-ok='true']")
    assert "genesis block hash not given" in page.locator("#verdict").inner_text()

    changed = json.loads(receipt)
    changed["validator_changes"] = [{"header": {}}]
    ok, text = run_check(page, story, story.file, json.dumps(changed))
    assert not ok and "silkport verify" in text, text


VECTORS: list[Any] = [0, 1, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**53 - 1, 2**63, 2**64 - 1,
                      -1, -32, -33, -128, -129, -32768, -32769, -(2**31), -(2**31) - 1, -(2**63),
                      "", "a", "x" * 31, "x" * 32, "x" * 255, "x" * 256, "y" * 70000, "数据资产",
                      b"", b"\x00", b"\xff" * 255, b"\x01" * 256, b"\x02" * 70000,
                      (), (1, (2, (3,))), tuple(range(15)), tuple(range(16)), tuple(range(70000)),
                      None, True, False, ("silkport-local", 7, 0, b"\x11" * 32, (("k", 1), ("z", b"")))]


def to_js(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value if abs(value) <= 2**53 - 1 else {"big": str(value)}
    if isinstance(value, bytes):
        return {"hex": value.hex()}
    return [to_js(item) for item in value]


def test_js_msgpack_matches_python_canonical_encoding(page: Any, story: Story) -> None:
    open_page(page, story, "rules")
    encoded = page.evaluate("""vectors => {
        const from = v => v === null || typeof v !== "object" ? v : Array.isArray(v) ? v.map(from)
            : "big" in v ? BigInt(v.big) : SilkVerify.hexToBytes(v.hex, "vector");
        return vectors.map(v => SilkVerify.toHex(SilkMsgpack.encode(from(v))));
    }""", [to_js(v) for v in VECTORS])
    for value, hex_text in zip(VECTORS, encoded, strict=True):
        assert hex_text == codec.encode(value).hex(), repr(value)[:80]
    decoded = page.evaluate("""hexes => hexes.map(h => {
        const out = v => typeof v === "bigint" ? {big: v.toString()} : v instanceof Uint8Array ? {hex: SilkVerify.toHex(v)}
            : Array.isArray(v) ? v.map(out) : v;
        return out(SilkMsgpack.decode(SilkVerify.hexToBytes(h, "vector")));
    })""", [codec.encode(v).hex() for v in VECTORS])
    assert decoded == [to_js(v) for v in VECTORS]
    refused = page.evaluate("""bad => bad.map(h => { try { SilkMsgpack.decode(SilkVerify.hexToBytes(h, "x")); return "accepted"; }
        catch (e) { return e.message; } })""", ["cb3ff0000000000000", "80", "c0c0", "92", "d40100"])
    assert all(re.search("not canonical|trailing|truncated", message) for message in refused), refused
