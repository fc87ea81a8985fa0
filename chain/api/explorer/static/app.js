// Silkport explorer (ADR 0025): hash-routed pages over this node's REST API and its live feed.
"use strict";
(() => {
  const $ = id => document.getElementById(id);
  const main = $("main");
  const esc = v => String(v ?? "").replace(/[&<>"']/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  const short = h => (h ? esc(String(h).slice(0, 12)) + "…" : "—");
  const time = ms => (ms ? new Date(ms).toISOString().replace(".000Z", "Z") : "—");
  const link = (href, text) => `<a href="${esc(href)}">${text}</a>`;
  const HEX64 = /^[0-9a-f]{64}$/;
  const money = minor => (Number.isSafeInteger(minor) ? (minor / 100).toLocaleString("en-US", { minimumFractionDigits: 2 }) : esc(minor));
  let validators = null;

  async function get(path) {
    const response = await fetch(path, { headers: { Accept: "application/json" } });
    if (response.status === 404) return null;
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
    return response.json();
  }
  const kv = entries => `<dl class="kv">${entries.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${v}</dd>`).join("")}</dl>`;
  const json = value => `<code>${esc(JSON.stringify(value))}</code>`;
  const table = (heads, rows) => `<table><thead><tr>${heads.map(h => `<th>${esc(h)}</th>`).join("")}</tr></thead>` +
    `<tbody>${rows.join("") || `<tr><td colspan="${heads.length}" class="muted">none</td></tr>`}</tbody></table>`;

  // --- validators ---------------------------------------------------------------------------------
  const HEALTH_WINDOW = 10;
  async function pageValidators() {
    const set = await get("/v1/validators");
    const heights = [];
    for (let h = set.height; h > Math.max(0, set.height - HEALTH_WINDOW); h--) heights.push(h);
    const blocks = (await Promise.all(heights.map(h => get(`/v1/blocks/${h}`)))).filter(Boolean);
    const signed = new Map(set.validators.map(v => [v.index, 0]));
    for (const b of blocks) for (const s of b.certificate?.signatures || []) signed.set(s.validator_index, (signed.get(s.validator_index) || 0) + 1);
    const health = v => {
      const k = signed.get(v.index) || 0;
      const cls = !blocks.length ? "" : k * 2 >= blocks.length ? "good" : k ? "warn" : "bad";
      return `<span class="badge ${cls}" data-signed="${k}">signed ${k} of the last ${blocks.length} commits</span>`;
    };
    const rows = set.validators.map(v => `<tr data-validator="${v.index}"><td>${v.index}</td><td>${esc(v.name)}</td>` +
      `<td>${esc(v.organisation)}</td><td>${esc(v.jurisdiction)}</td><td><code>${short(v.public_key)}</code></td>` +
      `<td>${v.index === set.primary ? '<span class="badge good">primary</span>' : "backup"}</td><td>${health(v)}</td></tr>`);
    main.innerHTML = `<h1>Validators</h1><div class="cards">
      <div class="card">height<b id="v-height">${set.height}</b></div><div class="card">view<b id="v-view">${set.view}</b></div>
      <div class="card">primary<b>${esc(set.validators[set.primary]?.name)}</b></div>
      <div class="card">validators<b>${set.validators.length}</b></div></div>
      ${table(["#", "name", "organisation", "jurisdiction", "key", "role", "health"], rows)}
      <p class="muted" id="health-note" data-upto="${blocks.length ? blocks[0].height : 0}" data-count="${blocks.length}">Health: how many of the
      last ${blocks.length} blocks' commit certificates carry the validator's COMMIT signature (a certificate needs a quorum, not all).</p>
      <h2>Latest blocks</h2><div id="recent"></div>`;
    renderBlocks($("recent"), blocks);
  }

  function renderBlocks(target, blocks) {
    target.innerHTML = table(["height", "hash", "view", "proposer", "txs", "time (UTC)"], blocks.map(b =>
      `<tr><td>${link(`#/block/${b.height}`, b.height)}</td><td><code>${short(b.hash)}</code></td><td>${b.view}</td>` +
      `<td>${b.proposer}</td><td>${b.tx_ids.length}</td><td>${time(b.timestamp_ms)}</td></tr>`));
  }

  async function recentBlocks(target, top, count) {
    const heights = [];
    for (let h = top; h > Math.max(-1, top - count); h--) heights.push(h);
    renderBlocks(target, (await Promise.all(heights.map(h => get(`/v1/blocks/${h}`)))).filter(Boolean));
  }

  // --- blocks and transactions ----------------------------------------------------------------------
  async function pageBlocks(from) {
    const head = await get("/v1/blocks/latest");
    const top = from === undefined ? head.height : Math.min(Number(from), head.height);
    main.innerHTML = `<h1>Blocks</h1><div id="blocklist"></div>
      <p>${top < head.height ? link(`#/blocks/${Math.min(head.height, top + 20)}`, "← newer") + " · " : ""}${top >= 20 ? link(`#/blocks/${top - 20}`, "older →") : ""}</p>`;
    await recentBlocks($("blocklist"), top, 20);
  }

  async function pageBlock(height) {
    const b = await get(`/v1/blocks/${height}`);
    if (!b) return notFound(`block ${height}`);
    const fields = ["hash", "chain_id", "height", "view", "timestamp_ms", "prev_hash", "tx_root", "state_root",
      "history_root", "validators_hash", "policy_version", "proposer"];
    const sigs = b.certificate?.signatures || [];
    main.innerHTML = `<h1>Block ${b.height}</h1>` +
      kv(fields.map(f => [f, f === "timestamp_ms" ? `${b[f]} (${time(b[f])})` : `<code>${esc(b[f])}</code>`])) +
      `<h2>Commit certificate</h2>` + (b.certificate ? kv([["view", b.certificate.view],
        ["signed by", sigs.map(s => `validator ${s.validator_index}`).join(", ")]]) : "<p class='muted'>none (genesis)</p>") +
      `<h2>Transactions (${b.tx_ids.length})</h2>` +
      table(["#", "tx id"], b.tx_ids.map((id, i) => `<tr><td>${i}</td><td>${link(`#/tx/${id}`, `<code>${esc(id)}</code>`)}</td></tr>`)) +
      `<p>${b.height > 0 ? link(`#/block/${b.height - 1}`, "← parent") : ""}</p>`;
  }

  function argsText(args) {
    return Object.entries(args || {}).map(([k, v]) => `<b>${esc(k)}</b>=${json(v)}`).join("<br>");
  }

  async function pageTx(id) {
    const t = await get(`/v1/txs/${id}`);
    if (!t) return notFound(`transaction ${id}`);
    const body = t.tx.body;
    const r = t.receipt;
    main.innerHTML = `<h1>Transaction</h1>` + kv([
      ["id", `<code>${esc(t.tx_id)}</code>`], ["status", esc(t.status)],
      ["block", t.height === null ? "pending" : link(`#/block/${t.height}`, t.height) + ` · index ${t.index}`],
      ["call", `${esc(body.contract)}.${esc(body.method)}`], ["signers", body.signer_pubkeys.map(k => `<code>${short(k)}</code>`).join(" ")],
      ["nonce", body.nonce], ["args", argsText(body.args)],
      ["result", r ? (r.status === 0 ? '<span class="badge good">ok</span>' : `<span class="badge bad">failed: ${esc(r.error_code)}</span>`) : "—"],
    ]) + `<h2>Events</h2>` + table(["contract", "name", "subject", "data"], (r?.events || []).map(e =>
      `<tr><td>${esc(e.contract)}</td><td>${esc(e.name)}</td><td>${subjectLink(e.subject)}</td><td>${argsText(e.data)}</td></tr>`));
  }

  function subjectLink(subject) {
    return HEX64.test(subject || "") ? link(`#/asset/${subject}`, `<code>${short(subject)}</code>`) : esc(subject);
  }

  // --- assets -----------------------------------------------------------------------------------
  async function pageAssets() {
    const page = await get("/v1/assets?order=newest&per_page=50");
    main.innerHTML = `<h1>Data assets (${page.total})</h1>` + table(["asset", "owner org", "grade", "status", "parents"],
      page.items.map(a => `<tr><td>${link(`#/asset/${a.id}`, `<code>${short(a.id)}</code>`)}</td><td>${esc(a.owner_org)}</td>` +
        `<td>${esc(a.grade)}</td><td>${esc(a.status)}</td><td>${(a.parents || []).length}</td></tr>`));
  }

  function lineageSvg(id, parents, children) {
    const width = 720, rowH = 34, rows = Math.max(parents.length, children.length, 1);
    const height = rows * rowH + 20, mid = height / 2;
    const node = (x, y, text, href, cls) => `<a href="${esc(href)}"><rect x="${x}" y="${y - 12}" width="200" height="24" rx="5" fill="${cls}" stroke="#2f7dc1"></rect>` +
      `<text x="${x + 100}" y="${y + 4}" text-anchor="middle">${esc(text)}</text></a>`;
    const ys = n => Array.from({ length: n }, (_, i) => (height - n * rowH) / 2 + rowH * i + rowH / 2);
    let out = "";
    ys(parents.length).forEach((y, i) => {
      out += `<line x1="210" y1="${y}" x2="260" y2="${mid}" stroke="#8aa4bd"></line>` + node(10, y, parents[i].slice(0, 16) + "…", `#/asset/${parents[i]}`, "#eef4fb");
    });
    ys(children.length).forEach((y, i) => {
      out += `<line x1="460" y1="${mid}" x2="510" y2="${y}" stroke="#8aa4bd"></line>` + node(510, y, children[i].slice(0, 16) + "…", `#/asset/${children[i]}`, "#eef4fb");
    });
    out += node(260, mid, id.slice(0, 16) + "…", `#/asset/${id}`, "#d5e7f7");
    return `<svg class="lineage" xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" role="img" aria-label="lineage graph">${out}</svg>`;
  }

  async function pageAsset(id) {
    const [asset, history, valuations, transfers] = await Promise.all([get(`/v1/assets/${id}`), get(`/v1/assets/${id}/history`),
      get(`/v1/valuations/${id}`), get(`/v1/transfers?asset=${id}&per_page=50`)]);
    if (!asset) return notFound(`asset ${id}`);
    const skip = new Set(["height", "id", "parents", "pledge", "valuation", "registered", "last_event"]);
    const events = history?.events || [];
    const pledges = events.filter(e => e.contract === "collateral");
    const latest = valuations?.latest;
    main.innerHTML = `<h1>Data asset <code>${short(id)}</code> <span class="badge">${esc(asset.certificate)}</span></h1>` +
      `<div class="cards"><div class="card">owner<b>${esc(asset.owner_org)}</b></div><div class="card">grade<b>${esc(asset.grade)}</b></div>` +
      `<div class="card">status<b>${esc(asset.status)}</b></div><div class="card">sector · origin<b>${esc(asset.sector)} · ${esc(asset.origin)}</b></div>` +
      `<div class="card">latest valuation<b>${latest ? `${money(latest.amount)} ${esc(latest.currency)}` : "—"}</b></div>` +
      `<div class="card">pledge<b>${asset.pledge ? "pledged" : "none"}</b></div></div>` +
      `<details><summary>Full record (content hash, classification, personal information profile)</summary>` +
      kv([["id", `<code>${esc(id)}</code>`], ...Object.entries(asset).filter(([k]) => !skip.has(k)).map(([k, v]) => [k, typeof v === "object" ? json(v) : esc(v)])]) + `</details>` +
      `<h2>Lineage</h2>` + lineageSvg(id, history?.lineage.parents || [], history?.lineage.children || []) +
      `<h2>Provenance timeline (${events.length} events, complete back to registration)</h2><ol class="timeline">` +
      events.map(e => `<li data-event="${esc(e.name)}"><b>${esc(e.contract)}.${esc(e.name)}</b> · ${time(e.timestamp_ms)} · ` +
        `block ${link(`#/block/${e.ref.height}`, e.ref.height)} tx ${e.tx_id ? link(`#/tx/${e.tx_id}`, e.ref.tx_index) : e.ref.tx_index}` +
        `<br><span class="muted">${argsText(e.data)}</span></li>`).join("") + `</ol>` +
      `<h2>Valuations</h2>` + table(["amount", "currency", "method", "report", "appraiser"], (valuations?.history || []).map(v =>
        `<tr><td>${money(v.amount)}</td><td>${esc(v.currency)}</td><td>${esc(v.method)}</td><td><code>${short(v.report_hash)}</code></td><td><code>${short(v.appraiser)}</code></td></tr>`)) +
      `<h2>Pledges</h2>` + kv([["current pledge", asset.pledge ? `${money(asset.pledge.amount)} ${esc(asset.pledge.currency)} to <code>${short(asset.pledge.pledgee)}</code>, due ${time(asset.pledge.due_ms)}` : "none"]]) +
      table(["event", "block", "data"], pledges.map(e => `<tr><td>collateral.${esc(e.name)}</td><td>${e.ref.height}</td><td>${argsText(e.data)}</td></tr>`)) +
      `<h2>Cross-border transfers</h2>` + transferTable(transfers?.items || []);
  }

  // --- transfers and rules ------------------------------------------------------------------------
  const decisionBadge = d => (d ? `<span class="badge ${esc(d.decision)}">${esc(d.decision)}</span>` : "—");
  const ruleLinks = rules => (rules || []).map(r => link(`#/rules/${r}`, esc(r))).join(" ");
  function transferTable(items) {
    return table(["transfer", "asset", "exporter → recipient", "to", "state", "decision", "rules"], items.map(t =>
      `<tr><td>${link(`#/transfer/${t.id}`, `<code>${short(t.id)}</code>`)}</td><td>${link(`#/asset/${t.asset_id}`, `<code>${short(t.asset_id)}</code>`)}</td>` +
      `<td>${esc(t.exporter)} → ${esc(t.recipient)}</td><td>${esc(t.destination)}</td><td>${esc(t.state)}</td>` +
      `<td>${decisionBadge(t.decision)}</td><td>${ruleLinks(t.decision?.rules)}</td></tr>`));
  }

  async function pageTransfers() {
    const page = await get("/v1/transfers?per_page=50");
    main.innerHTML = `<h1>Cross-border transfers (${page.total})</h1>` + transferTable(page.items);
  }

  async function pageTransfer(id) {
    const t = await get(`/v1/transfers/${id}`);
    if (!t) return notFound(`transfer ${id}`);
    const d = t.decision;
    const steps = t.history || [];
    // Deliveries (the data valve, ADR 0018 and 0022): each is a numbered `delivered` step carrying what the
    // serving node committed (chunk root, bytes, recipient key); the record counts them in `deliveries`.
    const deliveries = steps.filter(s => s.action === "delivered");
    main.innerHTML = `<h1>Transfer <code>${short(id)}</code> ${decisionBadge(d)}</h1>` + kv([
      ["asset", link(`#/asset/${t.asset_id}`, `<code>${esc(t.asset_id)}</code>`)], ["exporter", esc(t.exporter)],
      ["recipient", esc(t.recipient)], ["destination", esc(t.destination)], ["purpose", esc(t.purpose)],
      ["lawful basis", esc(t.lawful_basis)], ["subjects", `${esc(t.subjects)} (sensitive ${esc(t.sensitive_subjects)})`],
      ["state", `<b>${esc(t.state)}</b>`]]) +
      `<h2>Decision</h2>` + (d ? kv([["decision", decisionBadge(d)], ["path", esc(d.path)], ["requires", esc((d.requires || []).join(", ") || "nothing")],
        ["rules cited", ruleLinks(d.rules)], ["policy version", esc(d.policy_version)], ["date", esc(d.date)]]) : "<p>none yet</p>") +
      `<h2>Evidence</h2>` + table(["kind", "regulator decision / attestation"], [
        ...Object.entries(t.decisions || {}).map(([k, v]) => `<tr><td>${esc(k)}</td><td>${json(v)}</td></tr>`),
        ...Object.entries(t.attestations || {}).map(([k, v]) => `<tr><td>${esc(k)}</td><td>${json(v)}</td></tr>`)]) +
      `<h2>Customs release</h2>` + kv([["released", t.released ? `block ${link(`#/block/${t.released.height}`, t.released.height)}` : "not released"],
        ["released by", t.released_by ? `<code>${short(t.released_by)}</code>` : "—"],
        ["acknowledged", t.acknowledged ? `block ${link(`#/block/${t.acknowledged.height}`, t.acknowledged.height)}` : "—"],
        ["deliveries", String(deliveries.length)], ["delivered root", t.delivered_root ? `<code>${esc(t.delivered_root)}</code>` : "—"]]) +
      (deliveries.length ? table(["delivery", "details"], deliveries.map((d, i) => `<tr data-delivery="${i}"><td>${i + 1}</td>` +
        `<td>${Object.entries(d).map(([k, v]) => `<b>${esc(k)}</b> ${typeof v === "object" ? json(v) : esc(v)}`).join(" · ")}</td></tr>`)) : "") +
      `<h2>Steps</h2><ol class="timeline">` + steps.map(s => `<li data-action="${esc(s.action)}"><b>${esc(s.action)}</b> → ${esc(s.state)} ` +
        `${s.decision ? decisionBadge(s.decision) + " " + ruleLinks(s.decision.rules) : ""} · block ${s.ref ? link(`#/block/${s.ref.height}`, s.ref.height) : "—"}` +
        ` · by <code>${short(s.by)}</code>${Object.entries(s).filter(([k]) => !["action", "state", "decision", "ref", "by", "n"].includes(k))
          .map(([k, v]) => ` · <b>${esc(k)}</b> ${typeof v === "object" ? json(v) : esc(v)}`).join("")}</li>`).join("") + `</ol>`;
  }

  let rulesCache = null;
  async function pageRules(focus) {
    rulesCache = rulesCache || await get("/explorer/rules.json");
    main.innerHTML = `<h1>Cross-border rules</h1><p class="muted">${esc(rulesCache.source)}</p>` +
      table(["rule", "condition", "outcome", "source"], rulesCache.rules.map(r =>
        `<tr class="rule" id="rule-${esc(r.id)}"><td><b>${esc(r.id)}</b></td><td>${esc(r.condition)}</td><td>${esc(r.outcome)}</td><td>${esc(r.source)}</td></tr>`));
    if (focus) {
      const row = $(`rule-${focus}`);
      if (row) { row.classList.add("focus"); row.scrollIntoView(); }
    }
  }

  // --- search -------------------------------------------------------------------------------------
  async function search(query) {
    const q = query.trim().toLowerCase();
    if (/^[0-9]{1,19}$/.test(q)) return (await get(`/v1/blocks/${q}`)) ? `#/block/${q}` : null;
    if (!HEX64.test(q)) return null;
    const [tx, asset, transfer] = await Promise.all([get(`/v1/txs/${q}`), get(`/v1/assets/${q}`), get(`/v1/transfers/${q}`)]);
    if (tx) return `#/tx/${q}`;
    if (asset) return `#/asset/${q}`;
    if (transfer) return `#/transfer/${q}`;
    const head = await get("/v1/blocks/latest");  // block hashes: the API looks blocks up by height, so scan back
    for (let top = head.height; top >= 0 && top > head.height - 400; top -= 20) {
      const heights = [];
      for (let h = top; h > Math.max(-1, top - 20); h--) heights.push(h);
      const found = (await Promise.all(heights.map(h => get(`/v1/blocks/${h}`)))).find(b => b && b.hash === q);
      if (found) return `#/block/${found.height}`;
    }
    return null;
  }

  async function pageSearch(query) {
    main.innerHTML = `<p>Searching ${esc(query)}…</p>`;
    const target = await search(decodeURIComponent(query));
    if (target) location.replace(target);
    else main.innerHTML = `<h1>Search</h1><p id="not-found">Nothing matches <code>${esc(decodeURIComponent(query))}</code> (heights, block hashes of the last 400 blocks, transaction, asset and transfer ids).</p>`;
  }

  // --- receipt check --------------------------------------------------------------------------------
  const TRUST_KEY = "silkport-trust";
  async function pinnedTrust() {
    const saved = localStorage.getItem(TRUST_KEY);
    if (saved) return JSON.parse(saved);
    const set = await get("/v1/validators");  // trust on first use: pinned once, never refreshed silently
    const trust = { chain_id: set.chain_id, validators: set.genesis.validators.map(v => v.public_key),
      genesis_hash: set.genesis.block_hash, pinned_ms: Date.now() };
    localStorage.setItem(TRUST_KEY, JSON.stringify(trust));
    return trust;
  }

  function dropZone(id, label, onFile) {
    const zone = $(id);
    const input = zone.querySelector("input");
    const take = async file => { zone.classList.add("filled"); zone.querySelector("span").textContent = `${file.name} (${file.size} bytes)`; onFile(new Uint8Array(await file.arrayBuffer())); };
    zone.addEventListener("dragover", e => e.preventDefault());
    zone.addEventListener("drop", e => { e.preventDefault(); if (e.dataTransfer.files[0]) take(e.dataTransfer.files[0]); });
    input.addEventListener("change", () => input.files[0] && take(input.files[0]));
    zone.querySelector("span").textContent = label;
  }

  async function pageVerify() {
    if (!window.isSecureContext || !window.crypto?.subtle) {
      main.innerHTML = `<h1>Receipt check</h1><p class="result bad" id="verdict">This browser gives WebCrypto only to secure pages:
        open the explorer over HTTPS (the node's api_tls_cert) or through http://localhost (an SSH tunnel).</p>`;
      return;
    }
    const trust = await pinnedTrust();
    main.innerHTML = `<h1>Receipt check</h1>
      <p>Checked <b>in this browser</b> (WebCrypto SHA-256 and Ed25519): the node is not asked whether the receipt is valid.</p>
      <div class="columns"><div>
      <div class="drop" id="drop-file"><span></span><br><input type="file" id="file-input"></div>
      <div class="drop" id="drop-receipt"><span></span><br><input type="file" id="receipt-input" accept=".json"></div>
      <textarea id="receipt-text" placeholder="…or paste the receipt JSON"></textarea>
      <p><button id="verify-button">Check receipt</button> <button id="unpin">Forget pinned set</button></p>
      </div><div>
      <h2>Trust anchor</h2>
      <p id="trust-info" class="muted"></p>
      <textarea id="trust-text" placeholder="optional: paste a genesis.json (chain_id and validators) to trust instead of the pinned set"></textarea>
      <div id="verify-result"></div></div></div>`;
    $("trust-info").textContent = `Pinned ${new Date(trust.pinned_ms).toISOString()}: chain ${trust.chain_id}, ${trust.validators.length} genesis validators, genesis block ${String(trust.genesis_hash).slice(0, 16)}…`;
    let fileBytes = null;
    dropZone("drop-file", "Drop the file whose hash was anchored", bytes => { fileBytes = bytes; });
    dropZone("drop-receipt", "Drop its receipt (silkport-proof/1 JSON)", bytes => { $("receipt-text").value = new TextDecoder().decode(bytes); });
    $("unpin").addEventListener("click", () => { localStorage.removeItem(TRUST_KEY); route(); });
    $("verify-button").addEventListener("click", async () => {
      const out = $("verify-result");
      let receipt, anchor = trust;
      try { receipt = JSON.parse($("receipt-text").value); } catch { out.innerHTML = `<div class="result bad">The receipt is not JSON.</div>`; return; }
      if ($("trust-text").value.trim()) {
        try { anchor = JSON.parse($("trust-text").value); } catch { out.innerHTML = `<div class="result bad">The genesis is not JSON.</div>`; return; }
      }
      if (!fileBytes) { out.innerHTML = `<div class="result bad">Drop the file first.</div>`; return; }
      const result = await SilkVerify.check(fileBytes, receipt, anchor);
      out.innerHTML = result.ok
        ? `<div class="result good" id="verdict" data-ok="true"><b>VALID</b>: anchored in block ${result.height} at ${time(result.timestamp_ms)} ${result.label ? `(“${esc(result.label)}”)` : ""}<ul>${result.steps.map(s => `<li>${esc(s)}</li>`).join("")}</ul></div>`
        : `<div class="result bad" id="verdict" data-ok="false"><b>INVALID</b>: ${esc(result.error)}</div>`;
    });
  }

  // --- router and live feed ---------------------------------------------------------------------------
  function notFound(what) { main.innerHTML = `<h1>Not found</h1><p id="not-found">No ${esc(what)} on this node.</p>`; }

  let current = "";
  async function route() {
    const parts = (location.hash.replace(/^#\/?/, "") || "validators").split("/");
    current = parts[0];
    const pages = { validators: pageValidators, blocks: () => pageBlocks(parts[1]), block: () => pageBlock(parts[1]),
      tx: () => pageTx(parts[1]), assets: pageAssets, asset: () => pageAsset(parts[1]), transfers: pageTransfers,
      transfer: () => pageTransfer(parts[1]), rules: () => pageRules(parts[1]), search: () => pageSearch(parts.slice(1).join("/")),
      verify: pageVerify };
    const page = pages[current];
    try {
      if (!page) return notFound(`page ${parts[0]}`);
      await page();
      main.dataset.page = current;
    } catch (error) {
      main.innerHTML = `<h1>Error</h1><p>${esc(error.message)}</p>`;
    }
  }

  function onHead(head) {
    $("live-height").textContent = head.height;
    $("live-view").textContent = head.view;
    $("live-primary").textContent = head.primary;
    if (current === "validators" && $("v-height") && Number($("v-height").textContent) !== head.height && !refresh)
      refresh = setTimeout(() => { refresh = null; if (current === "validators") route(); }, REFRESH_MS);
  }
  const REFRESH_MS = 1000;  // the validators page re-reads at most once a second, however fast blocks come
  let refresh = null;

  function connect() {
    const source = new EventSource("/v1/events");
    source.addEventListener("head", e => { $("live-dot").className = "dot on"; onHead(JSON.parse(e.data)); });
    source.addEventListener("error", () => { $("live-dot").className = "dot off"; });  // EventSource reconnects by itself
  }

  $("search").addEventListener("submit", e => { e.preventDefault(); location.hash = `#/search/${encodeURIComponent($("q").value)}`; });
  window.addEventListener("hashchange", route);
  get("/v1/status").then(s => { $("chain").textContent = `${s.chain_id} · node ${s.index ?? ""}`; }).catch(() => {});
  connect();
  route();
})();
