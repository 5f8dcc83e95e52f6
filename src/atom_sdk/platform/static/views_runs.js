"use strict";
// The runs index (every run of the workspace: UI, CLI, Python API) and the compare view (overlaid curves).
const RUN_COLUMNS = [
  // [key, header, sortable, numeric]
  ["name", "run", true, false], ["source", "source", true, false], ["world", "world", true, false],
  ["variant", "variant", true, false], ["seed", "seed", true, true], ["status", "status", true, false],
  ["steps_done", "steps", true, true], ["mean_return", "return", true, true], ["final_trust", "trust", true, true],
  ["law", "current law", true, false], ["updated_at", "updated", true, false],
];
const CURVE_ORDER = ["episode_return", "reward", "trust", "safety_mode"];
const runsState = { sort: "updated_at", order: "desc", selected: new Set(), q: "", world: "", variant: "", status: "" };

function smoothingValue() { return Number(localStorage.getItem("atom.smoothing") ?? "0.6"); }

function smoothingControl(onChange) {
  const value = smoothingValue();
  const out = el("output", { id: "smoothing-value" }, value.toFixed(2));
  const input = el("input", { id: "smoothing", type: "range", min: "0", max: "0.99", step: "0.01", value: String(value),
    "aria-label": "smoothing (exponential moving average weight)" });
  input.addEventListener("input", () => {
    out.textContent = Number(input.value).toFixed(2);
    localStorage.setItem("atom.smoothing", input.value);
    onChange(Number(input.value));
  });
  return el("label", { class: "smoothing" }, "smoothing ", input, out);
}

function swatch(color) {  // a colour key (set through the CSSOM: the CSP forbids style attributes)
  const node = el("span", { class: "swatch" });
  node.style.background = color;
  return node;
}

function runLink(row) {
  return row.job_id ? `#/runs/${row.job_id}` : `#/compare?run=${encodeURIComponent(row.key)}`;
}

function sortRows(rows) {
  const { sort, order } = runsState, sign = order === "asc" ? 1 : -1;
  const present = rows.filter((r) => r[sort] !== null && r[sort] !== undefined && r[sort] !== "");
  const absent = rows.filter((r) => !present.includes(r));
  present.sort((a, b) => {
    const x = a[sort], y = b[sort];
    return sign * (typeof x === "number" ? x - y : String(x).localeCompare(String(y), undefined, { numeric: true }));
  });
  return present.concat(absent);  // rows without the value last, whatever the order
}

function filterRows(rows) {
  const words = runsState.q.toLowerCase().split(/\s+/).filter(Boolean);
  return rows.filter((r) => (!runsState.world || r.world === runsState.world) && (!runsState.variant || r.variant === runsState.variant)
    && (!runsState.status || r.status === runsState.status)
    && words.every((w) => ["key", "name", "path", "world", "variant", "law", "status", "source"].some((k) => String(r[k] ?? "").toLowerCase().includes(w))));
}

async function runsIndexView() {
  const summary = el("p", { class: "muted", id: "runs-summary" }), wrap = el("div", { class: "table-wrap" });
  const q = el("input", { id: "runs-filter", type: "search", placeholder: "filter: name, world, law, status…", value: runsState.q });
  const selects = {};
  for (const k of ["world", "variant", "status"]) selects[k] = el("select", { id: `runs-${k}`, "aria-label": k });
  const compare = el("button", { id: "runs-compare", disabled: true, onclick: () => {
    location.hash = "#/compare?" + [...runsState.selected].map((k) => "run=" + encodeURIComponent(k)).join("&");
  } }, "Compare selected");
  let rows = [];
  function fillSelect(sel, values, label) {
    const current = runsState[sel.id.slice(5)];
    sel.replaceChildren(el("option", { value: "" }, `all ${label}`), ...values.map((v) => el("option", { value: v, selected: v === current }, v)));
  }
  function render() {
    const shown = sortRows(filterRows(rows));
    compare.disabled = runsState.selected.size < 2;
    compare.textContent = `Compare selected (${runsState.selected.size})`;
    const head = el("tr", {}, el("th", {}, ""), RUN_COLUMNS.map(([key, label, sortable]) => el("th", {
      class: sortable ? "sortable" : "", "data-sort": key, "aria-sort": runsState.sort === key ? (runsState.order === "asc" ? "ascending" : "descending") : null,
      onclick: () => { runsState.order = runsState.sort === key && runsState.order === "desc" ? "asc" : "desc"; runsState.sort = key; render(); },
    }, label, runsState.sort === key ? (runsState.order === "asc" ? " ▲" : " ▼") : "")));
    const body = shown.map((r) => el("tr", { "data-key": r.key, class: "run-row" },
      el("td", {}, el("input", { type: "checkbox", class: "run-select", "aria-label": `select ${r.name}`, checked: runsState.selected.has(r.key),
        onchange: (ev) => { if (ev.target.checked) runsState.selected.add(r.key); else runsState.selected.delete(r.key); render(); } })),
      el("td", {}, el("a", { href: runLink(r) }, r.name), el("div", { class: "legend" }, r.path)),
      el("td", {}, r.source === "job" ? "platform" : "folder"), el("td", {}, r.world || "–"), el("td", {}, r.variant || "–"),
      el("td", { class: "num" }, r.seed ?? "–"),
      el("td", { title: r.problem || "" }, stateBadge(r.status), r.problem ? el("div", { class: "legend problem" }, r.problem) : null),
      el("td", { class: "num" }, r.steps_done ?? "–", r.steps ? ` / ${r.steps}` : ""),
      el("td", { class: "num" }, fmt(r.mean_return, 3)), el("td", { class: "num" }, fmt(r.final_trust, 3)),
      el("td", { class: "law-cell" }, r.laws && r.laws.length ? r.laws.map((l) => el("div", {}, renderEquation(l.equation))) : "–"),
      el("td", {}, (r.updated_at || "").slice(0, 19).replace("T", " "))));
    wrap.replaceChildren(el("table", { id: "runs" }, el("thead", {}, head), el("tbody", {}, body)));
    summary.textContent = `${shown.length} of ${rows.length} runs`;
  }
  async function load() {
    const data = await Api.get("/api/v1/workspace/runs?limit=5000");
    rows = data.items;
    const keys = new Set(rows.map((r) => r.key));
    for (const k of [...runsState.selected]) if (!keys.has(k)) runsState.selected.delete(k);
    fillSelect(selects.world, data.worlds, "worlds"); fillSelect(selects.variant, data.variants, "variants");
    fillSelect(selects.status, Object.keys(data.counts_by_status).sort(), "statuses");
    render();
    summary.append(" · " + Object.entries(data.counts_by_status).map(([k, n]) => `${n} ${k}`).join(", "));
  }
  q.addEventListener("input", () => { runsState.q = q.value; render(); });
  for (const [k, sel] of Object.entries(selects)) sel.addEventListener("change", () => { runsState[k] = sel.value; render(); });
  view.replaceChildren(el("h1", {}, "Runs"),
    el("p", { class: "muted" }, "Every run of the workspace: launched here, with ", el("code", {}, "atom run --output-root"),
      " or with ", el("code", {}, "run_experiment()"), " into a folder under the workspace. Select two or more to overlay their curves."),
    el("div", { class: "row toolbar" }, q, selects.world, selects.variant, selects.status, compare,
      el("button", { class: "secondary", onclick: () => load().catch((e) => toast(e.message, true)) }, "Refresh")),
    summary, wrap);
  const here = location.hash;
  await load();
  if (location.hash === here) activeTimer = setInterval(() => { if (!document.hidden) load().catch(() => {}); }, 5000);
}

function curveTitle(name) {
  return { episode_return: "return per episode", reward: "reward per step", trust: "theory trust", safety_mode: "safety mode" }[name]
    || name.replace(/^diagnostics\./, "");
}

async function compareView() {
  const keys = new URLSearchParams(location.hash.split("?")[1] || "").getAll("run");
  if (!keys.length) { view.replaceChildren(el("p", { class: "err" }, "no runs to compare: select them in the runs index"), el("a", { href: "#/runs" }, "Runs")); return; }
  const q = keys.map((k) => "run=" + encodeURIComponent(k)).join("&");
  const here = location.hash;
  let [curves, index] = await Promise.all([Api.get(`/api/v1/workspace/runs/curves?${q}&max_points=2000`), Api.get("/api/v1/workspace/runs?limit=5000")]);
  if (location.hash !== here) return;
  const rows = Object.fromEntries(index.items.map((r) => [r.key, r]));
  const names = new Set(), labels = {};
  for (const run of curves.runs) for (const [k, unit] of Object.entries(run.units)) { names.add(k); labels[k] = unit; }
  const ordered = [...CURVE_ORDER.filter((n) => names.has(n)), ...[...names].filter((n) => !CURVE_ORDER.includes(n)).sort()];
  const display = curves.runs.map((r, i) => curves.runs.filter((o) => o.name === r.name).length > 1 ? `${r.name} (${i + 1})` : r.name);
  const canvases = ordered.map((n) => el("canvas", { class: "chart", id: "compare-" + n.replace(/[^\w-]/g, "_"), "data-curve": n }));
  function draw(smooth) {
    ordered.forEach((n, i) => {
      const series = curves.runs.map((r, j) => ({ name: display[j], points: r.curves[n] || [] }));
      const opts = { xLabel: "step", yLabel: n === "safety_mode" ? undefined : labels[n], smooth: n === "safety_mode" ? 0 : smooth };
      if (n === "trust") Object.assign(opts, { ymin: 0, ymax: 1 });
      if (n === "safety_mode") Object.assign(opts, { step: true, ymin: 0, ymax: 3, labels: SAFETY_MODES });
      drawLineChart(canvases[i], curveTitle(n), series, opts);
    });
  }
  const metrics = [["status", "status"], ["world", "world"], ["variant", "variant"], ["seed", "seed"], ["steps_done", "steps"],
    ["mean_return", "mean return"], ["mean_reward", "mean reward per step"], ["final_trust", "final trust"], ["law", "current law"]];
  const table = el("div", { class: "table-wrap" }, el("table", { id: "compare-table" },
    el("tr", {}, el("th", {}, ""), curves.runs.map((r, j) => el("th", {}, swatch(COLORS[j % COLORS.length]), " ",
      rows[r.key] && rows[r.key].job_id ? el("a", { href: `#/runs/${rows[r.key].job_id}` }, display[j]) : display[j]))),
    metrics.map(([k, label]) => el("tr", {}, el("th", {}, label), curves.runs.map((r) => {
      const v = rows[r.key] ? rows[r.key][k] : null;
      return el("td", {}, k === "law" && v ? renderEquation(v) : typeof v === "number" ? fmt(v, 4) : (v ?? "–"));
    })))));
  view.replaceChildren(el("h1", {}, `Compare ${curves.runs.length} run${curves.runs.length > 1 ? "s" : ""}`),
    el("div", { class: "row toolbar" }, el("a", { href: "#/runs" }, "← all runs"), smoothingControl(draw)),
    el("div", { class: "charts", id: "compare-charts" }, canvases), el("h2", {}, "Summary"), table);
  draw(smoothingValue());
  if (keys.some((k) => rows[k] && ["running", "queued"].includes(rows[k].status))) {  // follow live runs
    activeTimer = setInterval(async () => {
      if (document.hidden) return;
      try { curves = await Api.get(`/api/v1/workspace/runs/curves?${q}&max_points=2000`); draw(smoothingValue()); } catch (e) { /* keep the last */ }
    }, 3000);
  }
  const redraw = () => draw(smoothingValue());
  window.addEventListener("resize", redraw);
  compareView.cleanup = () => window.removeEventListener("resize", redraw);
}
