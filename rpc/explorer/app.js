// Quarry node explorer: one WebSocket to the node (/explorer/ws) carries
// JSON-RPC calls and the blocks, reorgs and mempool notifications. Nothing
// polls: sections are re-read when a notification says they changed.
"use strict";

const WINDOW = 20;        // blocks shown at once
const MEMPOOL_ROWS = 50;  // transactions listed
const EVENTS = 30;        // event lines kept

const state = {
  ws: null,
  nextId: 1,
  pending: new Map(),     // id -> {resolve, reject}
  tipHeight: null,
  top: null,              // highest height shown; null follows the tip
  refreshTimer: null,
  backoff: 500,
};

// Exposed for tests and measurements: when each block's row was drawn
// (Date.now()), and drawn(hash), a promise of that time.
const drawnWaiters = new Map();
// Both stay bounded on a page left open for days.
const RENDERED_KEEP = 1000;
window.quarryExplorer = {
  rendered: new Map(),
  ready: false,
  drawn(hash) {
    if (this.rendered.has(hash)) return Promise.resolve(this.rendered.get(hash));
    if (drawnWaiters.size >= RENDERED_KEEP) drawnWaiters.clear();
    return new Promise((resolve) => drawnWaiters.set(hash, resolve));
  },
};

const $ = (id) => document.getElementById(id);

function short(h) { return h ? h.slice(0, 16) + "…" : "–"; }
function utc(t) { return new Date(t * 1000).toISOString().replace("T", " ").slice(0, 19); }
function si(x) {
  if (x === undefined || x === null || isNaN(x)) return "–";
  const units = ["", "k", "M", "G", "T", "P", "E"];
  let i = 0;
  while (Math.abs(x) >= 1000 && i < units.length - 1) { x /= 1000; i++; }
  return (i === 0 ? String(Math.round(x * 100) / 100) : x.toFixed(x < 10 ? 2 : 1)) + units[i];
}
function cell(tr, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

function call(method, ...params) {
  return new Promise((resolve, reject) => {
    if (!state.ws || state.ws.readyState !== WebSocket.OPEN) {
      reject(new Error("not connected"));
      return;
    }
    const id = state.nextId++;
    state.pending.set(id, { resolve, reject });
    state.ws.send(JSON.stringify({ jsonrpc: "2.0", id, method, params }));
  });
}

function connect() {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(proto + "//" + location.host + "/explorer/ws");
  state.ws = ws;
  ws.onopen = async () => {
    state.backoff = 500;
    setConn(true);
    try {
      for (const topic of ["blocks", "reorgs", "mempool"]) await call("subscribe", topic);
      await loadAll();
      window.quarryExplorer.ready = true;
    } catch (e) {
      logEvent("load failed: " + e.message);
    }
  };
  ws.onmessage = (ev) => {
    let msg;
    try { msg = JSON.parse(ev.data); } catch { return; }
    if (msg.id !== undefined && msg.id !== null && state.pending.has(msg.id)) {
      const p = state.pending.get(msg.id);
      state.pending.delete(msg.id);
      if (msg.error) p.reject(new Error(msg.error.message || "error " + msg.error.code));
      else p.resolve(msg.result);
      return;
    }
    if (msg.method) onNotification(msg.method, msg.params || {});
  };
  ws.onclose = () => {
    setConn(false);
    window.quarryExplorer.ready = false;
    for (const p of state.pending.values()) p.reject(new Error("connection closed"));
    state.pending.clear();
    setTimeout(connect, state.backoff);
    state.backoff = Math.min(state.backoff * 2, 10000);
  };
}

function setConn(on) {
  const el = $("conn");
  el.textContent = on ? "live" : "disconnected";
  el.className = "conn " + (on ? "conn-on" : "conn-off");
}

async function loadAll() {
  await loadSummary();
  await Promise.all([loadBlocks(), loadTips(), loadMempool(), loadPeers()]);
}

async function loadSummary() {
  const [info, mining, mp, conns] = await Promise.all([
    call("getblockchaininfo"), call("getmininginfo"), call("getmempoolinfo"), call("getconnectioncount"),
  ]);
  state.tipHeight = info.blocks;
  $("network").textContent = info.chain;
  $("height").textContent = info.blocks;
  $("tip").textContent = info.bestblockhash;
  $("chainwork").textContent = si(parseInt(info.chainwork, 16));
  $("difficulty").textContent = Number(info.difficulty).toPrecision(4);
  $("mempool-count").textContent = mp.size;
  $("peer-count").textContent = conns;
  $("miner").textContent = mining.generate ? si(mining.hashespersec) + "H/s" : "off";
}

async function loadBlocks() {
  const top = state.top === null ? state.tipHeight : Math.min(state.top, state.tipHeight);
  const heights = [];
  for (let h = top; h >= 0 && h > top - WINDOW; h--) heights.push(h);
  const blocks = await Promise.all(heights.map(async (h) => call("getblock", await call("getblockhash", h), 1)));
  const body = $("blocks").tBodies[0];
  body.replaceChildren(...blocks.map((b) => blockRow(b.hash, b.height, b.time, b.nTx, b.size, false)));
  $("window").textContent = state.top === null
    ? "following the tip"
    : `heights ${Math.max(0, top - WINDOW + 1)}–${top}, not following the tip`;
  $("newer").disabled = state.top === null;
  $("older").disabled = top - WINDOW < 0;
}

function blockRow(hash, height, time, ntx, size, fresh) {
  const tr = document.createElement("tr");
  tr.dataset.hash = hash;
  tr.dataset.height = height;
  if (fresh) tr.className = "fresh";
  cell(tr, height);
  cell(tr, short(hash), "mono").title = hash;
  cell(tr, utc(time));
  cell(tr, ntx);
  cell(tr, size);
  const now = Date.now();
  const rendered = window.quarryExplorer.rendered;
  rendered.set(hash, now);
  if (rendered.size > RENDERED_KEEP) rendered.delete(rendered.keys().next().value);
  const w = drawnWaiters.get(hash);
  if (w) { drawnWaiters.delete(hash); w(now); }
  return tr;
}

async function loadTips() {
  const tips = await call("getchaintips");
  const body = $("tips").tBodies[0];
  body.replaceChildren(...tips.map((t) => {
    const tr = document.createElement("tr");
    tr.className = "status-" + t.status;
    tr.dataset.hash = t.hash;
    tr.dataset.status = t.status;
    cell(tr, t.height);
    cell(tr, short(t.hash), "mono").title = t.hash;
    cell(tr, t.branchlen);
    cell(tr, t.status);
    return tr;
  }));
}

async function loadMempool() {
  const ids = await call("getrawmempool");
  const body = $("mempool").tBodies[0];
  body.replaceChildren(...ids.slice(0, MEMPOOL_ROWS).map(txRow));
  $("mempool-more").textContent = ids.length === 0 ? "empty" : ids.length > MEMPOOL_ROWS ? `and ${ids.length - MEMPOOL_ROWS} more` : "";
}

function txRow(id) {
  const tr = document.createElement("tr");
  tr.dataset.txid = id;
  cell(tr, id, "mono");
  return tr;
}

async function loadPeers() {
  const peers = await call("getpeerinfo");
  const body = $("peers").tBodies[0];
  body.replaceChildren(...peers.map((p) => {
    const tr = document.createElement("tr");
    tr.dataset.peer = p.peerid;
    cell(tr, "…" + p.peerid.slice(-8), "mono").title = p.peerid;
    cell(tr, p.addr, "mono");
    cell(tr, p.inbound ? "in" : "out");
    cell(tr, p.pingtime ? (p.pingtime * 1000).toFixed(1) + " ms" : "–");
    cell(tr, p.misbehavior_score);
    return tr;
  }));
  $("peer-count").textContent = peers.length;
}

// refreshSoon re-reads the summary, tips, peers and miner once after a
// burst of notifications (a sync delivers hundreds of blocks at once).
function refreshSoon() {
  if (state.refreshTimer) return;
  state.refreshTimer = setTimeout(async () => {
    state.refreshTimer = null;
    try {
      await loadSummary();
      await Promise.all([loadTips(), loadPeers()]);
    } catch (e) { /* the connection dropped; reconnect reloads */ }
  }, 150);
}

function onNotification(method, p) {
  switch (method) {
    case "block_connected": {
      state.tipHeight = p.height;
      $("height").textContent = p.height;
      $("tip").textContent = p.hash;
      if (state.top === null) {
        const body = $("blocks").tBodies[0];
        body.insertBefore(blockRow(p.hash, p.height, p.time, p.nTx, p.size, true), body.firstChild);
        while (body.rows.length > WINDOW) body.deleteRow(body.rows.length - 1);
      }
      logEvent(`block ${p.height} ${short(p.hash)} connected`);
      refreshSoon();
      break;
    }
    case "block_disconnected": {
      const row = $("blocks").querySelector(`tr[data-hash="${p.hash}"]`);
      if (row) row.remove();
      logEvent(`block ${p.height} ${short(p.hash)} disconnected`);
      refreshSoon();
      break;
    }
    case "reorg":
      logEvent(`reorg: ${p.depth} block(s) replaced at fork height ${p.forkheight}, new tip ${short(p.newtip)}`, "reorg");
      refreshSoon();
      break;
    case "mempool_added": {
      const body = $("mempool").tBodies[0];
      if (body.rows.length < MEMPOOL_ROWS) body.appendChild(txRow(p.txid));
      $("mempool-count").textContent = Number($("mempool-count").textContent || 0) + 1;
      break;
    }
    case "mempool_removed": {
      const row = $("mempool").querySelector(`tr[data-txid="${p.txid}"]`);
      if (row) row.remove();
      const n = Number($("mempool-count").textContent || 0);
      $("mempool-count").textContent = Math.max(0, n - 1);
      break;
    }
  }
}

function logEvent(text, kind) {
  const li = document.createElement("li");
  li.textContent = new Date().toISOString().slice(11, 19) + "  " + text;
  if (kind) li.dataset.kind = kind;
  const ol = $("events");
  ol.insertBefore(li, ol.firstChild);
  while (ol.children.length > EVENTS) ol.lastChild.remove();
}

$("older").addEventListener("click", () => {
  const top = state.top === null ? state.tipHeight : state.top;
  state.top = Math.max(WINDOW - 1, top - WINDOW);
  loadBlocks().catch(() => {});
});
$("newer").addEventListener("click", () => {
  if (state.top === null) return;
  const top = state.top + WINDOW;
  state.top = top >= state.tipHeight ? null : top;
  loadBlocks().catch(() => {});
});

connect();
