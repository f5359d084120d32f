// Quarry lab page: the server pushes a snapshot (block tree view, nodes,
// partition, reorgs, report) over /ws whenever something changed; this
// script only draws it. Controls POST to /api/<action>.
"use strict";

const COL = 22;      // px per height
const ROW = 34;      // px per lane
const BOX = 14;      // block box size
const TOP = 34;      // room above lane 0 for tip labels
const LEFT = 16;

const state = { top: 0, snap: null, ws: null, backoff: 500 };
// Exposed for tests and measurements: the last snapshot, and drawn(hash),
// a promise of the time (Date.now()) the block's box was first drawn.
const drawnWaiters = new Map();
window.quarryLab = {
  snapshots: 0,
  last: null,
  drawn(hash) {
    if (document.querySelector(`rect.block[data-hash="${hash}"]`)) return Promise.resolve(Date.now());
    if (drawnWaiters.size >= 1000) drawnWaiters.clear();
    return new Promise((resolve) => drawnWaiters.set(hash, resolve));
  },
};

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";

function short(h) { return h ? h.slice(0, 8) : "–"; }
// The 8 hex digits after the leading zeros, as the CLI shows tips.
function tipLabel(h) {
  if (!h) return "–";
  const i = h.search(/[^0]/);
  return h.slice(Math.max(0, i), Math.max(0, i) + 8);
}
function si(x) {
  if (!x) return "–";
  const units = ["", "k", "M", "G", "T"];
  let i = 0;
  while (x >= 1000 && i < units.length - 1) { x /= 1000; i++; }
  return x.toFixed(x < 10 && i > 0 ? 2 : 0) + " " + units[i] + "H/s";
}
function el(name, attrs, text) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function connect() {
  const ws = new WebSocket((location.protocol === "https:" ? "wss:" : "ws:") + "//" + location.host + "/ws");
  state.ws = ws;
  ws.onopen = () => {
    state.backoff = 500;
    $("conn").textContent = "live";
    $("conn").className = "conn conn-on";
    if (state.top) ws.send(JSON.stringify({ top: state.top }));
  };
  ws.onmessage = (ev) => {
    const snap = JSON.parse(ev.data);
    state.snap = snap;
    window.quarryLab.snapshots++;
    window.quarryLab.last = snap;
    draw(snap);
    if (drawnWaiters.size > 0) {
      const now = Date.now();
      for (const b of snap.view.blocks || []) {
        const w = drawnWaiters.get(b.hash);
        if (w) { drawnWaiters.delete(b.hash); w(now); }
      }
    }
  };
  ws.onclose = () => {
    $("conn").textContent = "disconnected";
    $("conn").className = "conn conn-off";
    setTimeout(connect, state.backoff);
    state.backoff = Math.min(state.backoff * 2, 10000);
  };
}

// drawLinks lists the topology's links with their conditions; cut
// links are marked.
function drawLinks(lab) {
  const links = lab.links || [];
  $("links-line").hidden = links.length === 0;
  $("topology").textContent = lab.topology || "mesh";
  $("links").replaceChildren(...links.map((k) => {
    const span = document.createElement("span");
    span.className = k.down ? "link link-down" : "link";
    span.textContent = `${k.name} ${k.conditions}`;
    return span;
  }));
  drawGraph(links, lab.nodes || 0);
}

// drawGraph draws the topology: nodes on a circle, one line per link
// (dashed red when cut, orange when shaped), its conditions as a tooltip.
function drawGraph(links, n) {
  const svg = $("graph");
  const ns = "http://www.w3.org/2000/svg";
  const size = n > 16 ? 320 : 220, r = size / 2 - 22, c = size / 2;
  svg.setAttribute("width", size);
  svg.setAttribute("height", links.length ? size : 0);
  const pos = (i) => [c + r * Math.sin((2 * Math.PI * i) / n), c - r * Math.cos((2 * Math.PI * i) / n)];
  const out = [];
  for (const k of links) {
    const [a, b] = k.name.split("-").map(Number);
    const [x1, y1] = pos(a), [x2, y2] = pos(b);
    const line = document.createElementNS(ns, "line");
    Object.entries({ x1, y1, x2, y2 }).forEach(([key, v]) => line.setAttribute(key, v));
    line.setAttribute("class", "graph-link" + (k.down ? " down" : k.conditions !== "instant" ? " shaped" : ""));
    line.dataset.link = k.name;
    const title = document.createElementNS(ns, "title");
    title.textContent = `${k.name}: ${k.conditions}`;
    line.appendChild(title);
    out.push(line);
  }
  for (let i = 0; i < n && links.length; i++) {
    const [x, y] = pos(i);
    const dot = document.createElementNS(ns, "circle");
    dot.setAttribute("cx", x);
    dot.setAttribute("cy", y);
    dot.setAttribute("r", 9);
    dot.setAttribute("class", "graph-node");
    const label = document.createElementNS(ns, "text");
    label.setAttribute("x", x);
    label.setAttribute("y", y + 4);
    label.setAttribute("class", "graph-label");
    label.textContent = i;
    out.push(dot, label);
  }
  svg.replaceChildren(...out);
}

function draw(s) {
  $("network").textContent = s.lab.network;
  const running = s.nodes.filter((n) => n.running).length;
  $("summary").textContent = `${s.nodes.length} nodes (${running} running) in ${s.lab.dir}` +
    (s.lab.groups ? ` · partitioned ${s.lab.groups.map((g) => "{" + g.join(",") + "}").join(" | ")}` : "");
  drawLinks(s.lab);
  drawTree(s.view, s.lab);
  drawNodes(s.nodes);
  drawReorgs(s.reorgs || []);
  const ds = s.lab.doublespend;
  $("doublespend").replaceChildren(...(ds && ds.length ? ds : ["none sent"]).map((t) => {
    const li = document.createElement("li");
    li.textContent = t;
    return li;
  }));
  $("report").textContent = s.lab.report || "no heal yet";
}

function drawTree(v, lab) {
  const svg = $("tree");
  const width = LEFT * 2 + Math.max(1, v.high - v.low + 1) * COL + 220; // room for the last tip labels
  const height = TOP + Math.max(1, v.lanes) * ROW + 18;
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  const x = (h) => LEFT + (h - v.low) * COL;
  const y = (lane) => TOP + lane * ROW;
  const pos = new Map();
  for (const b of v.blocks || []) pos.set(b.hash, b);

  const edges = [], boxes = [], labels = [];
  for (const b of v.blocks || []) {
    const p = pos.get(b.parent);
    if (p) {
      edges.push(el("line", {
        class: "edge" + (b.active ? "" : " lost"),
        x1: x(p.height) + BOX, y1: y(p.lane) + BOX / 2, x2: x(b.height), y2: y(b.lane) + BOX / 2,
      }));
    }
    const r = el("rect", {
      class: "block" + (b.active ? "" : " lost") + (b.tips ? " tip" : ""),
      x: x(b.height), y: y(b.lane), width: BOX, height: BOX, rx: 2,
      "data-hash": b.hash, "data-height": b.height, "data-lane": b.lane, "data-active": b.active,
    });
    r.appendChild(el("title", {}, `height ${b.height}\n${b.hash}` + (b.tips ? `\ntip of ${b.tips.join(", ")}` : "")));
    boxes.push(r);
    if (b.tips) {
      labels.push(el("text", {
        class: "tips", x: x(b.height) + BOX + 3, y: y(b.lane) - 4,
        "data-tips": b.tips.join(" "), "data-hash": b.hash, "data-lane": b.lane,
      }, b.tips.join(" ")));
    }
    if (b.height % 10 === 0 && b.lane === 0) {
      labels.push(el("text", { class: "height", x: x(b.height), y: TOP + v.lanes * ROW + 10 }, b.height));
    }
  }
  // While the nodes are split, the fork is where their branches meet;
  // after a heal, the fork point of the last partition.
  const forkHash = v.fork || lab.fork;
  const f = forkHash && pos.get(forkHash);
  if (f) {
    labels.push(el("circle", { class: "fork", cx: x(f.height) + BOX / 2, cy: y(f.lane) + BOX / 2, r: BOX }));
    labels.push(el("text", { class: "fork", id: "fork-mark", x: x(f.height) - 8, y: y(f.lane) + BOX + 16, "data-hash": forkHash }, "fork"));
  }
  svg.replaceChildren(...edges, ...boxes, ...labels);
  $("branches").textContent = v.branches;
  $("range").textContent = `${v.low}–${v.high}`;
  $("follow").textContent = state.top ? "paged back (newer returns to the tip)" : "following the tip";
  if (!state.top) {
    const sc = $("tree-scroll");
    sc.scrollLeft = sc.scrollWidth;
  }
}

function drawNodes(nodes) {
  $("nodes").tBodies[0].replaceChildren(...nodes.map((n) => {
    const tr = document.createElement("tr");
    tr.dataset.node = n.name;
    tr.className = "net-" + (n.net || "").replace(/\(.*/, "");
    const cells = [n.role ? `${n.name} [${n.role}]` : n.name, n.running ? n.height : "–", tipLabel(n.tip), n.peers, n.net, si(n.hashrate), n.mempool];
    cells.forEach((c, i) => {
      const td = document.createElement("td");
      td.textContent = c;
      if (i === 2) td.className = "mono";
      tr.appendChild(td);
    });
    if (n.err) tr.title = n.err;
    return tr;
  }));
}

function drawReorgs(rs) {
  $("reorgs").replaceChildren(...rs.slice().reverse().map((r) => {
    const li = document.createElement("li");
    li.textContent = `${new Date(r.at).toISOString().slice(11, 19)} ${r.node}: depth ${r.depth} at fork height ${r.forkheight}, new tip ${tipLabel(r.newtip)}`;
    return li;
  }));
}

async function act(action, body) {
  $("action-result").textContent = action + "…";
  try {
    const resp = await fetch("/api/" + action, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body || {}),
    });
    const res = await resp.json();
    $("action-result").textContent = res.error ? "error: " + res.error : res.message;
    $("action-result").dataset.done = action;
  } catch (e) {
    $("action-result").textContent = "error: " + e.message;
  }
}

$("partition-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const groups = $("groups").value.trim().split(/\s+/).map((g) => g.split(",").map(Number));
  act("partition", { groups });
});
$("heal").addEventListener("click", () => act("heal"));
$("isolate").addEventListener("click", () => act("isolate", { node: Number($("iso-node").value) }));
$("reconnect").addEventListener("click", () => act("reconnect", { node: Number($("iso-node").value) }));
$("ds-form").addEventListener("submit", (e) => {
  e.preventDefault();
  act("doublespend", { a: Number($("ds-a").value), b: Number($("ds-b").value) });
});
function page(top) {
  state.top = top;
  if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify({ top }));
}
$("older").addEventListener("click", () => {
  const v = state.snap && state.snap.view;
  if (!v) return;
  page(Math.max(state.snap.window, v.low - 1));
});
$("newer").addEventListener("click", () => {
  const v = state.snap && state.snap.view;
  if (!v || !state.top) return;
  const next = v.high + state.snap.window;
  const tipTop = Math.max(...state.snap.nodes.map((n) => n.height || 0));
  page(next >= tipTop ? 0 : next);
});

connect();
