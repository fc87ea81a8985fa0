"""The explorer page ``GET /``: one static HTML page that polls this node's own JSON API.

No templates and no build step: the page reads ``/v1/status`` and ``/v1/blocks/{h}`` every two
seconds and shows the chain's head, the view and primary, peers, mempool and the latest blocks.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

OPENAPI_PATHS: dict[str, Any] = {
    "/": {
        "get": {
            "summary": "Explorer page (HTML) polling /v1/status and /v1/blocks",
            "responses": {"200": {"description": "text/html", "content": {"text/html": {}}}},
        }
    }
}
OPENAPI_SCHEMAS: dict[str, Any] = {}

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Silkport explorer</title>
<style>
 body{font:14px/1.4 system-ui,sans-serif;margin:2rem;color:#1d2733;background:#f7f8fa}
 h1{font-size:1.3rem;margin:0 0 1rem} table{border-collapse:collapse;width:100%;background:#fff}
 th,td{padding:.35rem .6rem;border-bottom:1px solid #e3e6ea;text-align:left}
 th{background:#eef1f5} code{font-size:12px} .cards{display:flex;gap:1rem;margin-bottom:1rem;flex-wrap:wrap}
 .card{background:#fff;padding:.6rem 1rem;border-radius:6px;box-shadow:0 1px 2px #0001}
 .card b{display:block;font-size:1.2rem}
</style></head><body>
<h1>Silkport · <span id="chain">…</span></h1>
<div class="cards" id="cards"></div>
<table><thead><tr><th>height</th><th>hash</th><th>view</th><th>proposer</th><th>txs</th><th>time (UTC)</th></tr></thead>
<tbody id="blocks"></tbody></table>
<p>API: <a href="/openapi.json">/openapi.json</a> · metrics: <a href="/metrics">/metrics</a></p>
<script>
const esc = s => String(s).replace(/[&<>]/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;"}[c]));
async function get(path) { const r = await fetch(path); return r.ok ? r.json() : null; }
async function refresh() {
  const s = await get("/v1/status"); if (!s) return;
  document.getElementById("chain").textContent = s.chain_id + " (node " + s.index + ")";
  const cards = [["height", s.height], ["view", s.view], ["primary", s.primary],
                 ["peers", s.peers_connected], ["mempool", s.mempool_size]];
  document.getElementById("cards").innerHTML =
    cards.map(([k, v]) => `<div class="card">${k}<b>${esc(v)}</b></div>`).join("");
  const rows = [];
  for (let h = s.height; h > Math.max(0, s.height - 15); h--) {
    const b = await get("/v1/blocks/" + h); if (!b) continue;
    rows.push(`<tr><td>${b.height}</td><td><code>${esc(b.hash.slice(0, 16))}…</code></td><td>${b.view}</td>` +
      `<td>${b.proposer}</td><td>${b.tx_ids.length}</td><td>${new Date(b.timestamp_ms).toISOString()}</td></tr>`);
  }
  document.getElementById("blocks").innerHTML = rows.join("");
}
refresh(); setInterval(refresh, 2000);
</script></body></html>
"""


async def get_explorer(request: web.Request) -> web.Response:
    return web.Response(text=PAGE, content_type="text/html")


def register(app: web.Application) -> None:
    app.router.add_get("/", get_explorer)
