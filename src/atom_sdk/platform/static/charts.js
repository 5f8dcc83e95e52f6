"use strict";
// Canvas charts (no library): line charts with several series, a step chart, a heat-map, and equations.
const COLORS = ["#2457c5", "#d92d20", "#039855", "#dc6803", "#7a5af8", "#0e9384"];

// ---------------------------------------------------------------------------- axes: nice ticks
// Ticks at 1, 2 or 5 times a power of ten (Heckbert's "nice numbers"); integer-only when the axis counts steps.
function niceStep(span, count, integer) {
  const raw = span / Math.max(1, count);
  const p = Math.pow(10, Math.floor(Math.log10(raw || 1)));
  const f = raw / p;
  let step = (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * p;
  if (integer) step = Math.max(1, Math.round(step));
  return step;
}

function niceTicks(lo, hi, count, integer) {
  if (!(hi > lo)) { hi = lo + (integer ? 1 : 1e-9 + Math.abs(lo) * 0.1 || 1); }
  const step = niceStep(hi - lo, count || 5, integer);
  const start = Math.ceil(lo / step - 1e-9) * step, ticks = [];
  for (let v = start; v <= hi + step * 1e-9 && ticks.length < 50; v += step) ticks.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return { step, ticks };
}

function fmtTick(v, step) {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(Math.max(0, Math.min(3, -Math.floor(Math.log10(step)) + Math.floor(Math.log10(a))))).replace("e+", "e");
  const decimals = Math.max(0, Math.min(6, -Math.floor(Math.log10(step) + 1e-9)));
  return v.toFixed(decimals);
}

// TensorBoard's smoothing: an exponential moving average, debiased so the first points are not pulled to 0.
function emaSmooth(points, weight) {
  if (!weight) return points;
  let last = 0, n = 0;
  return points.map(([x, y]) => {
    if (y === null || y === undefined || !isFinite(y)) return [x, y];
    n += 1; last = last * weight + (1 - weight) * y;
    return [x, last / (1 - Math.pow(weight, n))];
  });
}

function prepareCanvas(canvas, defaultHeight) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 420, h = canvas.clientHeight || defaultHeight || 200;
  canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  return { ctx, w, h };
}

// Line chart with several series. opts: xLabel, yLabel (with units), ymin/ymax (always included),
// step (stairs), labels (category names for integer y), smooth (EMA weight 0..0.999), xInteger (default true).
function drawLineChart(canvas, title, series, opts) {
  opts = opts || {};
  const { ctx, w, h } = prepareCanvas(canvas, 200);
  let xmin = Infinity, xmax = -Infinity, ymin = Infinity, ymax = -Infinity, n = 0;
  for (const s of series) for (const [x, y] of s.points) {
    if (y === null || y === undefined || !isFinite(y)) continue;
    xmin = Math.min(xmin, x); xmax = Math.max(xmax, x); ymin = Math.min(ymin, y); ymax = Math.max(ymax, y); n++;
  }
  canvas.dataset.points = String(n);
  ctx.fillStyle = "#1d2430"; ctx.font = "600 12px system-ui"; ctx.fillText(title, 8, 14);
  // legend: one entry per series, wrapping under the title
  ctx.font = "11px system-ui";
  let lx = 8, ly = 30;
  const multi = series.length > 1 || opts.smooth;
  if (multi) series.forEach((s, i) => {
    const label = s.name, tw = ctx.measureText(label).width + 22;
    if (lx + tw > w - 8) { lx = 8; ly += 14; }
    ctx.fillStyle = s.color || COLORS[i % COLORS.length]; ctx.fillRect(lx, ly - 8, 12, 3);
    ctx.fillStyle = "#344054"; ctx.fillText(label, lx + 16, ly - 3); lx += tw;
  });
  const top = multi ? ly + 6 : 24;
  if (!n) { ctx.fillStyle = "#667085"; ctx.fillText("waiting for data…", 60, h / 2); return; }
  if (opts.ymin !== undefined) ymin = Math.min(ymin, opts.ymin);
  if (opts.ymax !== undefined) ymax = Math.max(ymax, opts.ymax);
  if (ymax === ymin) { const d = Math.abs(ymax) * 0.1 || 0.5; ymax += d; ymin -= d; }
  const xInteger = opts.xInteger !== false;
  if (xmax === xmin) xmax = xmin + 1;
  const yt = opts.labels ? { step: 1, ticks: opts.labels.map((_, i) => i).filter((i) => i >= ymin && i <= ymax) }
    : niceTicks(ymin, ymax, Math.max(2, Math.floor((h - top - 40) / 28)));
  if (!opts.labels && yt.ticks.length) { ymin = Math.min(ymin, yt.ticks[0]); ymax = Math.max(ymax, yt.ticks[yt.ticks.length - 1]); }
  const yLabels = yt.ticks.map((v) => opts.labels ? opts.labels[v] || "" : fmtTick(v, yt.step));
  const labelW = Math.max(...yLabels.map((t) => ctx.measureText(t).width), 10);
  const pad = { l: labelW + (opts.yLabel ? 24 : 10), r: 12, t: top, b: opts.xLabel ? 36 : 22 };
  const pw = w - pad.l - pad.r, ph = h - pad.t - pad.b;
  const xt = niceTicks(xmin, xmax, Math.max(2, Math.floor(pw / 70)), xInteger);
  const X = (x) => pad.l + (x - xmin) / (xmax - xmin) * pw;
  const Y = (y) => pad.t + ph - (y - ymin) / (ymax - ymin) * ph;
  ctx.strokeStyle = "#eaecf0"; ctx.lineWidth = 1; ctx.beginPath();
  yt.ticks.forEach((v) => { ctx.moveTo(pad.l, Math.round(Y(v)) + .5); ctx.lineTo(w - pad.r, Math.round(Y(v)) + .5); });
  xt.ticks.filter((v) => v >= xmin && v <= xmax).forEach((v) => { ctx.moveTo(Math.round(X(v)) + .5, pad.t); ctx.lineTo(Math.round(X(v)) + .5, pad.t + ph); });
  ctx.stroke();
  ctx.strokeStyle = "#98a2b3"; ctx.strokeRect(pad.l + .5, pad.t + .5, pw, ph);
  ctx.fillStyle = "#475467"; ctx.textAlign = "right";
  yt.ticks.forEach((v, i) => ctx.fillText(yLabels[i], pad.l - 4, Y(v) + 4));
  ctx.textAlign = "center";
  const xTicks = xt.ticks.filter((v) => v >= xmin && v <= xmax);
  xTicks.forEach((v) => ctx.fillText(fmtTick(v, xt.step), X(v), pad.t + ph + 14));
  canvas.dataset.xticks = xTicks.map((v) => fmtTick(v, xt.step)).join(",");
  canvas.dataset.yticks = yLabels.join(",");
  if (opts.xLabel) ctx.fillText(opts.xLabel, pad.l + pw / 2, h - 6);
  if (opts.yLabel) { ctx.save(); ctx.translate(11, pad.t + ph / 2); ctx.rotate(-Math.PI / 2); ctx.fillText(opts.yLabel, 0, 0); ctx.restore(); }
  ctx.textAlign = "left";
  ctx.save(); ctx.beginPath(); ctx.rect(pad.l, pad.t, pw, ph); ctx.clip();
  const line = (points, color, width, alpha) => {
    ctx.strokeStyle = color; ctx.globalAlpha = alpha; ctx.lineWidth = width; ctx.beginPath();
    let started = false, prevY = null;
    for (const [x, y] of points) {
      if (y === null || y === undefined || !isFinite(y)) { started = false; continue; }
      if (!started) { ctx.moveTo(X(x), Y(y)); started = true; }
      else if (opts.step) { ctx.lineTo(X(x), Y(prevY)); ctx.lineTo(X(x), Y(y)); }
      else ctx.lineTo(X(x), Y(y));
      prevY = y;
    }
    ctx.stroke(); ctx.globalAlpha = 1;
  };
  series.forEach((s, i) => {
    const color = s.color || COLORS[i % COLORS.length];
    if (opts.smooth) { line(s.points, color, 1, 0.25); line(emaSmooth(s.points, opts.smooth), color, 1.8, 1); }
    else line(s.points, color, 1.5, 1);
  });
  ctx.restore();
}

function colormap(t) {
  // viridis, 5 anchors, linear in between
  const a = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  t = Math.max(0, Math.min(1, t)) * (a.length - 1);
  const i = Math.min(a.length - 2, Math.floor(t)), f = t - i;
  return a[i].map((c, k) => Math.round(c + f * (a[i + 1][k] - c)));
}

// Heat map of a field snapshot with axes in grid cells and a colour bar. opts.slice: index into
// snap.slices (3-D fields); the colour scale is shared by all slices so they compare.
function drawHeatmap(canvas, snap, opts) {
  opts = opts || {};
  const sliced = snap.slices && opts.slice !== undefined && opts.slice !== null;
  const rows = sliced ? snap.slices[opts.slice] : snap.data, ny = rows.length, nx = ny ? rows[0].length : 0;
  if (!nx) return;
  const cell = (sliced ? snap.slice_cell : snap.cell) || [1, 1];
  const lo0 = sliced ? snap.slices_min : snap.min, hi0 = sliced ? snap.slices_max : snap.max;
  const lo = lo0, hi = hi0 === lo0 ? lo0 + 1 : hi0;
  const image = document.createElement("canvas");
  image.width = nx; image.height = ny;
  const ictx = image.getContext("2d"), img = ictx.createImageData(nx, ny);
  for (let y = 0; y < ny; y++) for (let x = 0; x < nx; x++) {
    const [r, g, b] = colormap((rows[ny - 1 - y][x] - lo) / (hi - lo));  // row 0 is the bottom
    const o = 4 * (y * nx + x); img.data[o] = r; img.data[o + 1] = g; img.data[o + 2] = b; img.data[o + 3] = 255;
  }
  ictx.putImageData(img, 0, 0);
  const width = canvas.clientWidth || 520;
  const pad = { l: 44, r: 78, t: 8, b: 36 };
  const pw = width - pad.l - pad.r, ph = Math.max(60, Math.min(520, pw * ny / nx));
  canvas.style.height = `${ph + pad.t + pad.b}px`;
  const { ctx, w, h } = prepareCanvas(canvas, ph + pad.t + pad.b);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(image, pad.l, pad.t, pw, ph);
  ctx.strokeStyle = "#98a2b3"; ctx.strokeRect(pad.l + .5, pad.t + .5, pw, ph);
  ctx.fillStyle = "#475467"; ctx.font = "11px system-ui";
  // axes in grid cells of the full grid (the snapshot is block means of cell[0] x cell[1] cells)
  const gx = nx * cell[0], gy = ny * cell[1];
  const xt = niceTicks(0, gx, Math.max(2, Math.floor(pw / 60)), true), yt = niceTicks(0, gy, Math.max(2, Math.floor(ph / 40)), true);
  ctx.textAlign = "center";
  xt.ticks.filter((v) => v <= gx).forEach((v) => ctx.fillText(String(v), pad.l + v / gx * pw, pad.t + ph + 13));
  ctx.fillText("x (grid cells)", pad.l + pw / 2, h - 4);
  ctx.textAlign = "right";
  yt.ticks.filter((v) => v <= gy).forEach((v) => ctx.fillText(String(v), pad.l - 4, pad.t + ph - v / gy * ph + 4));
  ctx.save(); ctx.translate(10, pad.t + ph / 2); ctx.rotate(-Math.PI / 2); ctx.textAlign = "center"; ctx.fillText("y (grid cells)", 0, 0); ctx.restore();
  // colour bar
  const bx = w - pad.r + 14, bw = 12;
  for (let i = 0; i < ph; i++) { const [r, g, b] = colormap(1 - i / ph); ctx.fillStyle = `rgb(${r},${g},${b})`; ctx.fillRect(bx, pad.t + i, bw, 1.5); }
  ctx.strokeStyle = "#98a2b3"; ctx.strokeRect(bx + .5, pad.t + .5, bw, ph);
  const ct = niceTicks(lo, hi, Math.max(2, Math.floor(ph / 60)));
  ctx.fillStyle = "#475467"; ctx.textAlign = "left";
  const shown = ct.ticks.filter((v) => v >= lo && v <= hi);
  shown.forEach((v) => { const y = pad.t + ph - (v - lo) / (hi - lo) * ph; ctx.fillRect(bx + bw, y, 3, 1); ctx.fillText(fmtTick(v, ct.step), bx + bw + 5, y + 4); });
  canvas.dataset.step = String(snap.step);
  canvas.dataset.colorbar = shown.map((v) => fmtTick(v, ct.step)).join(",");
  canvas.dataset.slice = sliced ? String(snap.slice_positions[opts.slice]) : String(snap.slice_index ?? 0);
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
