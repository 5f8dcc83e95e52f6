"use strict";
// Canvas charts (no library): line charts with several series, a step chart, a heat-map, and equations.
const COLORS = ["#2457c5", "#d92d20", "#039855", "#dc6803", "#7a5af8", "#0e9384"];

function drawLineChart(canvas, title, series, opts) {
  opts = opts || {};
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 420, h = canvas.clientHeight || 180;
  canvas.width = w * dpr; canvas.height = h * dpr;
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  const pad = { l: 52, r: 10, t: 22, b: 22 };
  let xmin = Infinity, xmax = -Infinity, ymin = Infinity, ymax = -Infinity, n = 0;
  for (const s of series) for (const [x, y] of s.points) {
    if (y === null || y === undefined || !isFinite(y)) continue;
    xmin = Math.min(xmin, x); xmax = Math.max(xmax, x); ymin = Math.min(ymin, y); ymax = Math.max(ymax, y); n++;
  }
  canvas.dataset.points = String(n);
  ctx.fillStyle = "#1d2430"; ctx.font = "12px system-ui"; ctx.fillText(title, pad.l, 14);
  if (!n) { ctx.fillStyle = "#667085"; ctx.fillText("waiting for data…", pad.l, h / 2); return; }
  if (opts.ymin !== undefined) ymin = Math.min(ymin, opts.ymin);
  if (opts.ymax !== undefined) ymax = Math.max(ymax, opts.ymax);
  if (ymax === ymin) { ymax += 0.5; ymin -= 0.5; }
  if (xmax === xmin) xmax = xmin + 1;
  const X = (x) => pad.l + (x - xmin) / (xmax - xmin) * (w - pad.l - pad.r);
  const Y = (y) => h - pad.b - (y - ymin) / (ymax - ymin) * (h - pad.t - pad.b);
  ctx.strokeStyle = "#d9dee7"; ctx.lineWidth = 1; ctx.beginPath();
  for (let i = 0; i <= 4; i++) { const y = pad.t + i * (h - pad.t - pad.b) / 4; ctx.moveTo(pad.l, y); ctx.lineTo(w - pad.r, y); }
  ctx.stroke();
  ctx.fillStyle = "#667085"; ctx.font = "11px system-ui";
  for (let i = 0; i <= 4; i++) {
    const v = ymax - i * (ymax - ymin) / 4;
    const label = opts.labels ? (opts.labels[Math.round(v)] || "") : fmt(v, 3);
    if (!opts.labels || Math.abs(v - Math.round(v)) < 1e-9) ctx.fillText(label, 4, pad.t + i * (h - pad.t - pad.b) / 4 + 4);
  }
  ctx.fillText(fmt(xmin, 4), pad.l, h - 6); ctx.fillText(fmt(xmax, 4), w - pad.r - 40, h - 6);
  series.forEach((s, i) => {
    ctx.strokeStyle = s.color || COLORS[i % COLORS.length]; ctx.lineWidth = 1.5; ctx.beginPath();
    let started = false, prevY = null;
    for (const [x, y] of s.points) {
      if (y === null || y === undefined || !isFinite(y)) { started = false; continue; }
      if (!started) { ctx.moveTo(X(x), Y(y)); started = true; }
      else if (opts.step) { ctx.lineTo(X(x), Y(prevY)); ctx.lineTo(X(x), Y(y)); }
      else ctx.lineTo(X(x), Y(y));
      prevY = y;
    }
    ctx.stroke();
    ctx.fillStyle = s.color || COLORS[i % COLORS.length];
    ctx.fillText(s.name, w - pad.r - 8 - 90 * (series.length - i), 14);
  });
}

function colormap(t) {
  // viridis, 5 anchors, linear in between
  const a = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  t = Math.max(0, Math.min(1, t)) * (a.length - 1);
  const i = Math.min(a.length - 2, Math.floor(t)), f = t - i;
  return a[i].map((c, k) => Math.round(c + f * (a[i + 1][k] - c)));
}

function drawHeatmap(canvas, snap) {
  const rows = snap.data, ny = rows.length, nx = ny ? rows[0].length : 0;
  if (!nx) return;
  canvas.width = nx; canvas.height = ny;
  const ctx = canvas.getContext("2d"), img = ctx.createImageData(nx, ny);
  const lo = snap.min, hi = snap.max === snap.min ? snap.min + 1 : snap.max;
  for (let y = 0; y < ny; y++) for (let x = 0; x < nx; x++) {
    const [r, g, b] = colormap((rows[ny - 1 - y][x] - lo) / (hi - lo));  // row 0 is the bottom
    const o = 4 * (y * nx + x); img.data[o] = r; img.data[o + 1] = g; img.data[o + 2] = b; img.data[o + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
  canvas.dataset.step = String(snap.step);
}

// "damplitude/dt = 1.6881 u0 - 0.2 amplitude^2" -> d(amplitude)/dt as a fraction, exponents as superscripts.
function renderEquation(text) {
  const node = el("span", { class: "law" });
  const m = /^d([A-Za-z_][\w]*)\/dt\s*=\s*(.*)$/.exec(String(text || "").trim());
  let rhs = text;
  if (m) {
    node.append(el("span", { class: "frac" }, el("span", {}, "d", el("i", {}, m[1])), el("span", {}, "dt")), " = ");
    rhs = m[2];
  }
  const tokens = String(rhs).split(/(\s+|\^-?\d+(?:\.\d+)?|\*)/);
  for (const tok of tokens) {
    if (!tok) continue;
    if (tok.startsWith("^")) node.append(el("sup", {}, tok.slice(1)));
    else if (tok === "*") node.append(" · ");
    else if (/^[A-Za-z_][\w]*$/.test(tok)) {
      const sub = /^([A-Za-z]+)(\d+)$/.exec(tok);
      node.append(sub ? el("i", {}, sub[1], el("sub", {}, sub[2])) : el("i", {}, tok));
    } else node.append(tok.replace(/-/g, "−"));
  }
  return node;
}
