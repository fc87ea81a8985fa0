// The receipt check, entirely in the browser (ADR 0025): the node is not asked anything.
// An anchor receipt (silkport-proof/1, ADR 0008) is checked against a trust anchor
// {chain_id, validators: [public_key hex], genesis_hash?}: SHA-256 of the file is the anchored hash;
// its batch inclusion (RFC 6962) under the root of the certified `anchored` event; the transaction's
// signatures; its tx_root inclusion; its block's inclusion in the certified history_root; the certified
// header's hash, validators_hash and CommitCertificate (a quorum of Ed25519 COMMIT signatures of the
// genesis validators, PBFT quorum ceil((n+f+1)/2)); the genesis block at leaf 0 when its hash is pinned.
// WebCrypto gives SHA-256 and Ed25519 (Secure Curves in WebCrypto); msgpack.js rebuilds the signed bytes.
"use strict";
const SilkVerify = (() => {
  const enc = new TextEncoder();
  const DOMAIN_TX = enc.encode("silkport/tx/v1");
  const DOMAIN_COMMIT = enc.encode("silkport/commit/v1");

  class Fail extends Error {}
  const fail = message => { throw new Fail(message); };

  function hexToBytes(text, what, size) {
    if (typeof text !== "string" || !/^([0-9a-f]{2})*$/.test(text)) fail(`${what} is not lowercase hex`);
    const bytes = new Uint8Array(text.length / 2);
    for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(text.substr(2 * i, 2), 16);
    if (size !== undefined && bytes.length !== size) fail(`${what} is not ${size} bytes`);
    return bytes;
  }
  const toHex = bytes => Array.from(bytes, b => b.toString(16).padStart(2, "0")).join("");
  const concat = (...parts) => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  };
  const equal = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
  const sha256 = async bytes => new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  const leafHash = data => sha256(concat(Uint8Array.of(0), data));
  const nodeHash = (left, right) => sha256(concat(Uint8Array.of(1), left, right));

  // RFC 9162 §2.1.3.2: the root an inclusion path yields.
  async function inclusion(what, leaf, index, size, path, root) {
    if (index >= size) fail(`${what}: index ${index} is outside a tree of ${size}`);
    let fn = index, sn = size - 1, r = leaf;
    for (const p of path) {
      if (sn === 0) fail(`${what}: the path is too long`);
      if ((fn & 1) === 1 || fn === sn) {
        r = await nodeHash(p, r);
        if ((fn & 1) === 0) while ((fn & 1) === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
      } else r = await nodeHash(r, p);
      fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
    }
    if (sn !== 0) fail(`${what}: the path is too short`);
    if (!equal(r, root)) fail(`${what}: the path does not lead to the root`);
  }

  // The smallest tree size whose path for `index` has `length` hashes (chain.proofs._path_size, ADR 0008 §5).
  function pathSize(index, length) {
    let ones = 0;
    for (let i = index; i > 0; i = Math.floor(i / 2)) ones += i & 1;
    if (length < ones) fail(`an audit path of ${length} hashes is too short for index ${index}`);
    let wanted = length - ones, size = index + 1, level = 0;
    while (wanted > 0) {
      if (level > 52) fail(`an audit path of ${length} hashes is too long for index ${index}`);
      const shifted = Math.floor(index / 2 ** level);
      if ((shifted & 1) === 0) { size = (shifted + 1) * 2 ** level + 1; wanted -= 1; }
      level += 1;
    }
    return size;
  }

  const HEADER_FIELDS = ["chain_id", "height", "view", "timestamp_ms", "prev_hash", "tx_root", "state_root",
    "history_root", "validators_hash", "policy_version", "proposer"];
  const HEADER_BYTES = new Set(["prev_hash", "tx_root", "state_root", "history_root", "validators_hash"]);

  async function checkHeader(header, what) {
    if (!header || typeof header !== "object") fail(`${what} is missing`);
    const wire = HEADER_FIELDS.map(name => {
      const value = header[name];
      if (HEADER_BYTES.has(name)) return hexToBytes(value, `${what}.${name}`, 32);
      if (name === "chain_id" ? typeof value !== "string" : !Number.isSafeInteger(value)) fail(`${what}.${name} is malformed`);
      return value;
    });
    const hash = await sha256(SilkMsgpack.encode(wire));
    if (toHex(hash) !== header.hash) fail(`${what} at height ${header.height}: hash does not match its fields`);
    return hash;
  }

  async function ed25519(publicKey, message, signature) {
    const key = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
    return crypto.subtle.verify({ name: "Ed25519" }, key, signature, message);
  }

  const quorum = n => { const f = Math.floor((n - 1) / 3); return Math.floor((n + f + 2) / 2); };
  const pairs = list => Object.fromEntries(list.map(([k, v]) => [k, v]));

  // A trust anchor from a genesis.json ({chain_id, validators[{public_key}]}) or a pinned one.
  function trustFrom(document) {
    if (!document || typeof document.chain_id !== "string" || !Array.isArray(document.validators) || !document.validators.length)
      fail("the trust anchor needs chain_id and validators (a genesis.json or a pinned set)");
    const keys = document.validators.map((v, i) => hexToBytes(typeof v === "string" ? v : v.public_key, `validators[${i}]`, 32));
    return { chain_id: document.chain_id, keys, genesis_hash: document.genesis_hash || null };
  }

  async function verifyReceipt(fileBytes, doc, trustDocument) {
    const trust = trustFrom(trustDocument);
    const steps = [];
    const ok = text => steps.push(text);
    if (!doc || doc.format !== "silkport-proof/1") fail("format must be silkport-proof/1");
    if (doc.kind !== "anchor") fail("only anchor receipts are checked here (use silkport verify for asset bundles)");
    if (doc.chain_id !== trust.chain_id) fail(`chain_id ${doc.chain_id} is not the trusted chain ${trust.chain_id}`);
    if (!Array.isArray(doc.validator_changes) || doc.validator_changes.length)
      fail("the validator set changed since genesis: this browser check covers the genesis set only (use silkport verify)");
    const anchor = doc.anchor || fail("anchor section missing");
    const digest = hexToBytes(anchor.hash, "anchor.hash", 32);
    const fileHash = await sha256(fileBytes);
    if (!equal(fileHash, digest)) fail(`the file's SHA-256 ${toHex(fileHash).slice(0, 16)}… is not the anchored hash ${anchor.hash.slice(0, 16)}…`);
    ok("file SHA-256 equals the anchored hash");

    const vhash = await sha256(SilkMsgpack.encode(trust.keys));
    const certified = doc.certified || fail("certified section missing");
    const head = certified.header;
    const headHash = await checkHeader(head, "certified.header");
    if (head.chain_id !== trust.chain_id) fail("certified header: wrong chain_id");
    if (head.validators_hash !== toHex(vhash)) fail("certified header: validators_hash is not the trusted validator set's");
    const cert = certified.certificate || fail("certified.certificate missing");
    if (cert.height !== head.height || cert.block_hash !== head.hash) fail("certificate is for another block");
    const message = concat(DOMAIN_COMMIT, SilkMsgpack.encode(trust.chain_id),
      SilkMsgpack.encode([cert.height, cert.view, headHash]));
    const seen = new Set();
    for (const [index, signature] of cert.signatures) {
      if (!Number.isInteger(index) || index < 0 || index >= trust.keys.length) fail(`certificate: validator index ${index} out of range`);
      if (seen.has(index)) fail(`certificate: validator ${index} counted twice`);
      if (!(await ed25519(trust.keys[index], message, hexToBytes(signature, "certificate signature", 64))))
        fail(`certificate at height ${head.height}: signature of validator ${index} is invalid`);
      seen.add(index);
    }
    const need = quorum(trust.keys.length);
    if (seen.size < need) fail(`certificate: ${seen.size} signatures, quorum is ${need}`);
    ok(`block ${head.height} certified by ${seen.size} of ${trust.keys.length} genesis validators (Ed25519, quorum ${need})`);
    if (trust.genesis_hash) {
      await inclusion("genesis block in the certified history", await leafHash(hexToBytes(trust.genesis_hash, "genesis hash", 32)),
        0, head.height, certified.genesis_proof.map((h, i) => hexToBytes(h, `genesis_proof[${i}]`, 32)), hexToBytes(head.history_root, "history_root", 32));
      ok("the pinned genesis block is leaf 0 of the certified history");
    } else ok("genesis block hash not given: its inclusion in the history was not checked (chain id and validator keys were)");

    if (!Array.isArray(doc.txs) || doc.txs.length !== 1) fail("an anchor receipt holds exactly one transaction");
    const tx = doc.txs[0];
    if (tx.height !== anchor.height || tx.tx_index !== anchor.tx_index) fail("the transaction is not the anchor's");
    const block = (doc.blocks || []).find(b => b.header && b.header.height === tx.height) || fail(`block ${tx.height} missing`);
    if ((doc.blocks || []).length !== 1) fail("blocks: only the anchor's block may be present");
    const blockHash = await checkHeader(block.header, `block ${tx.height}`);
    if (block.header.validators_hash !== toHex(vhash)) fail(`block ${tx.height}: validators_hash is not the trusted set's`);
    if (block.history_proof === null) {
      if (!equal(blockHash, headHash)) fail("a block without history_proof must be the certified block");
    } else {
      await inclusion(`block ${tx.height} in the certified history`, await leafHash(blockHash), tx.height, head.height,
        block.history_proof.map((h, i) => hexToBytes(h, `history_proof[${i}]`, 32)), hexToBytes(head.history_root, "history_root", 32));
    }
    ok(`block ${tx.height} is in the certified history`);
    const leaf = hexToBytes(tx.leaf, "tx leaf");
    const txPath = tx.proof.map((h, i) => hexToBytes(h, `tx proof[${i}]`, 32));
    await inclusion(`transaction ${tx.tx_index} in tx_root of block ${tx.height}`, await leafHash(leaf), tx.tx_index,
      pathSize(tx.tx_index, txPath.length), txPath, hexToBytes(block.header.tx_root, "tx_root", 32));
    ok(`transaction ${tx.tx_index} and its receipt are in block ${tx.height}'s tx_root`);

    const [signedTx, receipt] = SilkMsgpack.decode(leaf);
    const [body, signatures] = signedTx;
    const [chainId, contract, method, args, signers] = body;
    if (chainId !== trust.chain_id || contract !== "anchoring" || method !== "anchor" || receipt[0] !== 0)
      fail("the transaction is not a successful anchoring.anchor on this chain");
    const txMessage = concat(DOMAIN_TX, SilkMsgpack.encode(trust.chain_id), SilkMsgpack.encode(body));
    if (signatures.length !== signers.length) fail("transaction: one signature per signer expected");
    for (let i = 0; i < signers.length; i++)
      if (!(await ed25519(signers[i], txMessage, signatures[i]))) fail(`transaction: signature ${i} is invalid`);
    ok(`registrar signature ${toHex(signers[0]).slice(0, 12)}… verifies`);
    const batch = pairs(args).hashes;
    if (!Array.isArray(batch) || anchor.position >= batch.length) fail("position is outside the batch");
    if (!equal(batch[anchor.position], digest)) fail(`the hash at position ${anchor.position} is not the anchored hash`);
    const events = receipt[2].filter(e => e[0] === "anchoring" && e[1] === "anchored");
    if (events.length !== 1) fail("the receipt has no single anchored event");
    const data = pairs(events[0][4]);
    if (data.size !== batch.length || data.tx_index !== tx.tx_index) fail("the anchored event does not describe this batch");
    if ((data.repeated || []).includes(anchor.position) || (data.known || []).includes(anchor.position))
      fail("this position is not the first anchoring of the hash");
    await inclusion(`batch inclusion of position ${anchor.position}`, await leafHash(digest), anchor.position, batch.length,
      anchor.batch_proof.map((h, i) => hexToBytes(h, `batch_proof[${i}]`, 32)), data.root);
    ok(`position ${anchor.position} of a batch of ${batch.length} under the certified root`);
    return { ok: true, steps, height: tx.height, label: data.label || "", timestamp_ms: block.header.timestamp_ms };
  }

  async function check(fileBytes, doc, trustDocument) {
    try {
      return await verifyReceipt(fileBytes, doc, trustDocument);
    } catch (error) {
      return { ok: false, error: error instanceof Fail ? error.message : `malformed receipt (${error.message})` };
    }
  }

  return { check, trustFrom, toHex, hexToBytes, sha256, Fail };
})();
