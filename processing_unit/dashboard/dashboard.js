// The spacegrid dashboard: polls /dashboard/data once a second and draws it (plain canvas).
"use strict";

const POLL_MS = 1000;
const HISTORY = 300; // points kept per series: the last 5 minutes at one a second
const SERIES = [
  ["requests", "requests/s", "#2f6fde"],
  ["errors", "errors/s (5xx) and 503/s", "#b3261e"],
  ["pump", "pump events/s", "#2e8540"],
  ["writer", "writer rows/s", "#8a5cc2"],
  ["pumpLag", "pump lag (s)", "#d9822b"],
  ["writerLag", "writer lag (s)", "#a0522d"],
];
const hist = Object.fromEntries(SERIES.map(([k]) => [k, []]));
hist.unavailable = [];
let token = sessionStorage.getItem("spacegrid-token") || "";

const $ = (id) => document.getElementById(id);
const fmt = (v, digits = 1) => (v === undefined || v === null ? "-" : Number(v).toFixed(digits));
const sum = (xs) => xs.reduce((a, b) => a + (Number(b) || 0), 0);
const max = (xs) => xs.reduce((a, b) => Math.max(a, Number(b) || 0), 0);

function setValue(id, value, digits = 1, suffix = "") {
  const el = $(id);
  el.dataset.value = String(value);
  el.textContent = fmt(value, digits) + suffix;
}

function showSignIn(message) {
  $("board").hidden = true;
  $("signin").hidden = false;
  $("signin-error").textContent = message || "";
  $("status").textContent = "not signed in";
}

function useToken(t) {
  token = t;
  sessionStorage.setItem("spacegrid-token", t);
  $("signin").hidden = true;
  poll();
}

$("signin").addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = e.target;
  const r = await fetch("/sessions", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ email: f.email.value, password: f.password.value }),
  });
  const body = await r.json();
  if (r.status !== 201) return showSignIn(body.detail || "sign-in failed");
  useToken(body.token);
});
$("use-token").addEventListener("click", () => useToken($("signin").operator.value.trim()));

function aggregate(data) {
  const units = data.processes.filter((p) => p.kind === "unit").map((p) => p.figures || {});
  const pumps = data.processes.filter((p) => p.kind === "pump").map((p) => p.figures || {});
  const writers = data.processes.filter((p) => p.kind === "writer").map((p) => p.figures || {});
  const unshipped = {};
  const oldest = {};
  for (const p of pumps) {
    for (const [kind, n] of Object.entries(p.unshipped || {})) unshipped[kind] = (unshipped[kind] || 0) + n;
    for (const [kind, s] of Object.entries(p.oldest_unshipped_s || {})) oldest[kind] = Math.max(oldest[kind] || 0, s);
  }
  const routes = {};
  for (const u of units) {
    for (const [name, r] of Object.entries(u.routes || {})) {
      const acc = (routes[name] = routes[name] || { rps: 0, p99_ms: 0 });
      acc.rps += r.rps;
      acc.p99_ms = Math.max(acc.p99_ms, r.p99_ms);
    }
  }
  return {
    requests: sum(units.map((u) => u.requests_per_s)),
    errors: sum(units.map((u) => u.errors_per_s)),
    unavailable: sum(units.map((u) => u.unavailable_per_s)),
    sockets: sum(units.map((u) => u.ws_connections)),
    pump: sum(pumps.map((p) => p.events_per_s)),
    pumpLag: max(pumps.map((p) => p.lag_s)),
    writer: sum(writers.map((w) => w.rows_per_s)),
    writerLag: max(writers.map((w) => w.lag_s)),
    deadLetters: sum(pumps.map((p) => p.dead_letters_total)) + sum(writers.map((w) => w.dead_letters_total)),
    unshipped, oldest, routes,
  };
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const c of cells) {
    const td = document.createElement("td");
    if (c && c.cls) { td.className = c.cls; td.textContent = c.text; } else td.textContent = c;
    tr.appendChild(td);
  }
  return tr;
}

function fill(tableId, rows) {
  const body = $(tableId).querySelector("tbody");
  body.replaceChildren(...rows.map(row));
}

function figuresText(f) {
  const skip = new Set(["routes", "unshipped", "oldest_unshipped_s"]);
  return Object.entries(f || {}).filter(([k]) => !skip.has(k)).map(([k, v]) => `${k}=${typeof v === "number" ? +v.toFixed(2) : v}`).join(" ");
}

function render(data) {
  const a = aggregate(data);
  for (const k of ["requests", "errors", "unavailable", "pump", "writer", "pumpLag", "writerLag"]) {
    hist[k].push(a[k]);
    if (hist[k].length > HISTORY) hist[k].shift();
  }
  setValue("requests-rate", a.requests);
  setValue("errors-rate", a.errors, 2);
  setValue("unavailable-rate", a.unavailable, 2);
  setValue("pump-rate", a.pump);
  setValue("pump-lag", a.pumpLag, 2, " s");
  setValue("writer-rate", a.writer);
  setValue("writer-lag", a.writerLag, 2, " s");
  setValue("unshipped", sum(Object.values(a.unshipped)), 0);
  setValue("dead-letters", a.deadLetters, 0);
  setValue("sockets", a.sockets, 0);
  $("unshipped-maps").textContent = Object.keys(a.unshipped).sort()
    .map((k) => `${k} ${a.unshipped[k]} (oldest ${fmt(a.oldest[k], 1)} s)`).join(", ") || "no pump registered";
  const routes = Object.entries(a.routes).sort((x, y) => y[1].rps - x[1].rps);
  $("worst-p99").textContent = routes.length ? `${fmt(max(routes.map(([, r]) => r.p99_ms)), 0)} ms` : "-";
  fill("routes", routes.map(([name, r]) => [name, fmt(r.rps), fmt(r.p99_ms, 0)]));
  fill("members", data.members.map((m) => [m.address, String(m.owned), (m.backups_estimated ? "≈" : "") + m.backups]));
  const now = data.at;
  fill("processes", data.processes.map((p) => [p.kind, p.address, String(p.pid), `${fmt(now - p.started_at, 0)} s`,
    { cls: "figures", text: figuresText(p.figures) }]));
  drawCharts();
  $("updated").textContent = `updated ${new Date(now * 1000).toLocaleTimeString()}` +
    (data.problems.length ? ` — ${data.problems.join("; ")}` : "");
}

function ensureCharts() {
  const box = $("charts");
  if (box.children.length) return;
  for (const [key, title] of SERIES) {
    const div = document.createElement("div");
    div.className = "chart";
    div.innerHTML = `<h3>${title} <span class="muted">(last 5 min)</span></h3><canvas id="chart-${key}" width="400" height="110"></canvas>`;
    box.appendChild(div);
  }
}

function drawCharts() {
  ensureCharts();
  for (const [key, , color] of SERIES) {
    const canvas = $(`chart-${key}`);
    const ctx = canvas.getContext("2d");
    const w = canvas.width, h = canvas.height, pad = 18;
    ctx.clearRect(0, 0, w, h);
    const lines = key === "errors" ? [[hist.errors, color], [hist.unavailable, "#e0a800"]] : [[hist[key], color]];
    const top = Math.max(1, ...lines.flatMap(([xs]) => xs)) * 1.1;
    ctx.strokeStyle = "#e6e8ee";
    ctx.fillStyle = "#8a93a6";
    ctx.font = "10px system-ui";
    ctx.beginPath(); ctx.moveTo(pad, h - pad); ctx.lineTo(w, h - pad); ctx.stroke();
    ctx.fillText(fmt(top, 1), 0, 10);
    ctx.fillText("0", 0, h - pad);
    for (const [xs, c] of lines) {
      ctx.strokeStyle = c;
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      xs.forEach((v, i) => {
        const x = pad + ((w - pad) * (HISTORY - xs.length + i)) / (HISTORY - 1);
        const y = h - pad - ((h - pad - 4) * v) / top;
        if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
      });
      ctx.stroke();
    }
  }
}

async function poll() {
  if (!token) return showSignIn();
  let r;
  try {
    r = await fetch("/dashboard/data", { headers: { Authorization: `Bearer ${token}` } });
  } catch (e) {
    $("status").textContent = `unreachable: ${e}`;
    return setTimeout(poll, POLL_MS);
  }
  if (r.status === 401 || r.status === 403) {
    sessionStorage.removeItem("spacegrid-token");
    token = "";
    return showSignIn((await r.json()).detail);
  }
  if (r.ok) {
    $("board").hidden = false;
    $("status").textContent = "live";
    render(await r.json());
  } else {
    $("status").textContent = `HTTP ${r.status}`;
  }
  setTimeout(poll, POLL_MS);
}

const fromFragment = new URLSearchParams(location.hash.slice(1)).get("token");
if (fromFragment) { window.history.replaceState(null, "", location.pathname); useToken(fromFragment); }
else poll();
