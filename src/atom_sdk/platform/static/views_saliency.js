// Saliency view of a run (ES module): where over the field the agent looks (a heat map of
// sum_k |d out_k / d field| drawn over the field, with a colour bar) and which observation and
// theory features move its action (bars of permutation importance). Data: GET /api/v1/runs/{id}/saliency.
// install() plugs it into the run view's hook (RunHooks.saliency, the #run-saliency section).

const OUTPUTS = ["action", "value", "latent"];
// magma, 6 anchors, linear in between (perceptually ordered, distinct from the field's viridis)
const MAGMA = [[0, 0, 4], [59, 15, 112], [140, 41, 129], [222, 73, 104], [254, 159, 109], [252, 253, 191]];

function magma(t) {
  t = Math.max(0, Math.min(1, Number.isFinite(t) ? t : 0)) * (MAGMA.length - 1);
  const i = Math.min(MAGMA.length - 2, Math.floor(t)), f = t - i;
  return MAGMA[i].map((c, k) => Math.round(c + f * (MAGMA[i + 1][k] - c)));
}

function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  return node;
}

function num(v, digits = 3) {
  if (v === null || v === undefined || !Number.isFinite(v)) return "–";
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e4) ? v.toExponential(digits - 1) : String(Number(v.toPrecision(digits)));
}

function api() {
  // the page's client (api.js) when present: it sends the saved API key
  if (typeof Api !== "undefined") return Api;  // eslint-disable-line no-undef
  const call = async (method, path, body) => {
    const resp = await fetch(path, { method, headers: { accept: "application/json", "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body) });
    const data = await resp.json().catch(() => ({}));
    if (!resp.ok) { const e = new Error(data.message || resp.statusText); e.status = resp.status; throw e; }
    return data;
  };
  return { get: (p) => call("GET", p), post: (p, b) => call("POST", p, b || {}) };
}

function sizeCanvas(canvas, cssHeight) {
  const dpr = window.devicePixelRatio || 1, w = canvas.clientWidth || 520;
  canvas.style.height = `${cssHeight}px`;
  canvas.width = Math.round(w * dpr); canvas.height = Math.round(cssHeight * dpr);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return { ctx, w, h: cssHeight };
}

// The saliency grid as a heat map over the field (grey, underneath) with a colour bar for the saliency.
export function drawSaliencyMap(canvas, map, field, opts = {}) {
  const rows = map.data, ny = rows.length, nx = ny ? rows[0].length : 0;
  if (!nx) return;
  const alpha = opts.alpha ?? 0.75;
  const lo = map.min, hi = map.max > map.min ? map.max : map.min + 1;
  const flo = field ? field.min : 0, fhi = field && field.max > field.min ? field.max : flo + 1;
  const image = document.createElement("canvas");
  image.width = nx; image.height = ny;
  const ictx = image.getContext("2d"), img = ictx.createImageData(nx, ny);
  for (let y = 0; y < ny; y++) for (let x = 0; x < nx; x++) {
    const row = ny - 1 - y;  // row 0 is the bottom
    const [r, g, b] = magma((rows[row][x] - lo) / (hi - lo));
    const grey = field && field.data[row] ? 255 * (field.data[row][x] - flo) / (fhi - flo) : 0;
    const o = 4 * (y * nx + x);
    img.data[o] = Math.round(alpha * r + (1 - alpha) * grey);
    img.data[o + 1] = Math.round(alpha * g + (1 - alpha) * grey);
    img.data[o + 2] = Math.round(alpha * b + (1 - alpha) * grey);
    img.data[o + 3] = 255;
  }
  ictx.putImageData(img, 0, 0);
  const width = canvas.clientWidth || 520, pad = { l: 44, r: 92, t: 8, b: 36 };
  const pw = Math.max(40, width - pad.l - pad.r), ph = Math.max(60, Math.min(480, pw * ny / nx));
  const { ctx, w, h: height } = sizeCanvas(canvas, ph + pad.t + pad.b);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(image, pad.l, pad.t, pw, ph);
  ctx.strokeStyle = "#98a2b3"; ctx.strokeRect(pad.l + 0.5, pad.t + 0.5, pw, ph);
  ctx.fillStyle = "#475467"; ctx.font = "11px system-ui";
  const [gx, gy] = map.shape;  // axes in cells of the full grid (the map may be block means)
  ctx.textAlign = "center";
  for (const v of [0, Math.round(gx / 2), gx]) ctx.fillText(String(v), pad.l + v / gx * pw, pad.t + ph + 13);
  ctx.fillText("x (grid cells)", pad.l + pw / 2, height - 4);
  ctx.textAlign = "right";
  for (const v of [0, Math.round(gy / 2), gy]) ctx.fillText(String(v), pad.l - 4, pad.t + ph - v / gy * ph + 4);
  ctx.save(); ctx.translate(10, pad.t + ph / 2); ctx.rotate(-Math.PI / 2); ctx.textAlign = "center";
  ctx.fillText("y (grid cells)", 0, 0); ctx.restore();
  const bx = w - pad.r + 14, bw = 12;
  for (let i = 0; i < ph; i++) { const [r, g, b] = magma(1 - i / ph); ctx.fillStyle = `rgb(${r},${g},${b})`; ctx.fillRect(bx, pad.t + i, bw, 1.5); }
  ctx.strokeStyle = "#98a2b3"; ctx.strokeRect(bx + 0.5, pad.t + 0.5, bw, ph);
  ctx.fillStyle = "#475467"; ctx.textAlign = "left";
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => lo + f * (hi - lo));
  ticks.forEach((v) => { const y = pad.t + ph - (v - lo) / (hi - lo) * ph; ctx.fillRect(bx + bw, y, 3, 1); ctx.fillText(num(v, 2), bx + bw + 5, y + 4); });
  canvas.dataset.output = map.name;
  canvas.dataset.cells = `${nx}x${ny}`;
  canvas.dataset.colorbar = ticks.map((v) => num(v, 2)).join(",");
}

// Horizontal bars of permutation importance (whiskers: one standard deviation over the shuffles).
export function drawImportance(canvas, features) {
  const rows = [...features].sort((a, b) => a.rank - b.rank).slice(0, 24);
  const bar = 16, pad = { l: 170, r: 16, t: 8, b: 34 };
  const { ctx, w, h: height } = sizeCanvas(canvas, pad.t + pad.b + bar * Math.max(1, rows.length));
  const top = Math.max(...rows.map((f) => f.permutation_mean + f.permutation_std), 0) || 1;
  const pw = Math.max(40, w - pad.l - pad.r);
  ctx.font = "11px system-ui"; ctx.textAlign = "right";
  rows.forEach((f, i) => {
    const y = pad.t + i * bar;
    const label = (f.name.length > 26 ? f.name.slice(0, 25) + "…" : f.name) + (f.constant_in_batch ? " ◦" : "");
    ctx.fillStyle = "#475467"; ctx.fillText(label, pad.l - 6, y + bar - 4);
    ctx.fillStyle = f.group === "theory" ? "#f79009" : "#2e90fa";
    ctx.fillRect(pad.l, y + 2, pw * f.permutation_mean / top, bar - 4);
    ctx.fillStyle = "#101828";
    const x0 = pad.l + pw * Math.max(0, f.permutation_mean - f.permutation_std) / top, x1 = pad.l + pw * (f.permutation_mean + f.permutation_std) / top;
    ctx.fillRect(x0, y + bar / 2, Math.max(1, x1 - x0), 1);
  });
  ctx.strokeStyle = "#98a2b3"; ctx.beginPath(); ctx.moveTo(pad.l + 0.5, pad.t); ctx.lineTo(pad.l + 0.5, height - pad.b); ctx.stroke();
  ctx.fillStyle = "#475467"; ctx.textAlign = "center";
  ctx.fillText(`0 … ${num(top, 2)}: mean |Δ action| when the feature is shuffled (action units); ◦ constant over the batch`, pad.l + pw / 2, height - 10);
  canvas.dataset.features = String(rows.length);
}

// Render a GET /saliency body into container: output picker, map over the field, colour bar, bars.
export function renderSaliency(container, data) {
  container.replaceChildren();
  container.append(h("h2", {}, "Saliency"));
  const obs = data.observation || {};
  container.append(h("p", { class: "legend" }, `observation after ${obs.at_step ?? 0} deterministic steps from seed ${obs.seed ?? 0}; ` +
    `value ${num(obs.value)}; action ${(obs.agent_action || []).map((a) => num(a)).join(", ")}`));
  const maps = data.maps || {};
  const names = OUTPUTS.filter((k) => maps[k]);
  if (names.length) {
    const pick = h("select", { id: "saliency-output", "aria-label": "explained output" }, names.map((k) => h("option", { value: k }, k)));
    const canvas = h("canvas", { class: "heat", id: "saliency-map" });
    const info = h("p", { class: "legend", id: "saliency-info" });
    const draw = () => {
      const k = pick.value, share = (data.channel_share || {})[k] || {};
      drawSaliencyMap(canvas, maps[k], data.field);
      const top = Object.entries(share).sort((a, b) => b[1] - a[1]).slice(0, 3).map(([c, s]) => `${c} ${Math.round(100 * s)} %`);
      info.textContent = `Σ_k |∂${k}_k/∂field| per cell (summed over channels, z-mean), over the ${data.field ? data.field.name : "field"} field in grey; ` +
        `share by channel: ${top.join(", ")}`;
    };
    pick.addEventListener("change", draw);
    container.append(h("div", { class: "row" }, h("label", { for: "saliency-output" }, "output "), pick), canvas, info);
    draw();
  } else {
    container.append(h("p", { class: "muted" }, "this agent sees no fields: no saliency map, feature importances only"));
  }
  const bars = h("canvas", { class: "chart", id: "saliency-features" });
  const theory = data.theory_features || {};
  container.append(h("h3", {}, "Feature importance (blue: observation, orange: theory)"), bars,
    h("p", { class: "legend", id: "saliency-theory" }, theory.count ? `theory features carry ${num(100 * (theory.share_of_importance || 0), 3)} % of the permutation importance and ` +
      `${num(100 * (theory.share_of_gradient_x_input || 0), 3)} % of the gradient × input` +
      (theory.most_important ? `; the most important is ${theory.most_important}` : "") : "no theory features (variant without a scientist)"));
  drawImportance(bars, data.features || []);
}

// The run view's hook: fetch and draw, or offer to compute the artifacts of a finished run.
export async function saliencyHook(container, job) {
  const id = job.id;
  try {
    renderSaliency(container, await api().get(`/api/v1/runs/${encodeURIComponent(id)}/saliency`));
  } catch (e) {
    if (e.status !== 404) { container.replaceChildren(h("p", { class: "err" }, e.message)); return; }
    if (!["succeeded", "failed", "cancelled", "interrupted"].includes(job.state)) { container.replaceChildren(); return; }
    const status = h("span", { class: "muted" });
    const button = h("button", { class: "secondary", id: "saliency-compute", onclick: async () => {
      button.disabled = true; status.textContent = "computing (compiles the agent; may take a minute)…";
      try { renderSaliency(container, await api().post(`/api/v1/runs/${encodeURIComponent(id)}/saliency`, {})); }
      catch (err) { button.disabled = false; status.textContent = `${err.code || "error"}: ${err.message}`; }
    } }, "Compute saliency");
    container.replaceChildren(h("h2", {}, "Saliency"), h("div", { class: "row" }, button, status));
  }
}

// Plug into the run view (views_jobs.js RunHooks) and fill a run view already on screen.
export function install() {
  if (typeof RunHooks === "undefined") return false;  // eslint-disable-line no-undef
  RunHooks.saliency = (container, job) => { saliencyHook(container, job); };  // eslint-disable-line no-undef
  const node = document.getElementById("run-saliency"), m = /^#\/runs\/([^/?]+)/.exec(location.hash);
  if (node && m) api().get(`/api/v1/runs/${m[1]}`).then((job) => saliencyHook(node, job)).catch(() => {});
  return true;
}
