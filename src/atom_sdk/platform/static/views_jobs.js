"use strict";
// Live views of one job: a run (charts, heat-map, laws, safety events, artifacts) or any other job.
const SAFETY_MODES = ["nominal", "guarded", "fallback", "halted"];
let activeStream = null, activeTimer = null;

function stopLive() {
  if (activeStream) { activeStream.close(); activeStream = null; }
  if (activeTimer) { clearInterval(activeTimer); activeTimer = null; }
}

function artifactList(job, container) {
  const base = `/api/v1/jobs/${job.id}/artifacts`;
  Api.get(base).then((data) => {
    container.replaceChildren(data.items.length ? el("table", { id: "artifacts" },
      el("tr", {}, el("th", {}, "artifact"), el("th", {}, "size"), el("th", {}, "")),
      data.items.map((a) => el("tr", {},
        el("td", {}, el("a", { class: "artifact-link", href: `${base}/${a.path}`, target: "_blank", rel: "noopener" }, a.path)),
        el("td", {}, `${(a.size / 1024).toFixed(1)} kB`),
        el("td", {}, el("a", { class: "artifact-download", href: `${base}/${a.path}?download=true`, download: a.path.split("/").pop() }, "download")))))
      : el("p", { class: "muted" }, "no artifacts yet"));
  }).catch((e) => container.replaceChildren(el("p", { class: "err" }, e.message)));
}

function jobHeader(job, onAction) {
  const bar = el("div", { class: "progress" }, el("div", { id: "progress-bar" }));
  bar.firstChild.style.width = `${Math.round(100 * job.progress.fraction)}%`;
  const actions = el("div", { class: "row" });
  const act = (label, path, body, cls) => el("button", { class: cls || "secondary", onclick: async () => {
    try { await Api.post(path, body); toast(`${label}: sent`); onAction(); } catch (e) { toast(e.message, true); }
  } }, label);
  if (["queued", "running", "paused", "interrupted"].includes(job.state)) actions.append(act("Cancel", `/api/v1/jobs/${job.id}/cancel`, {}, "danger"));
  if (["interrupted", "failed", "cancelled"].includes(job.state)) {
    const resume = act("Resume", `/api/v1/jobs/${job.id}/resume`, {});
    resume.id = "job-resume"; resume.title = "queue it again; a run continues from its last checkpoint";
    actions.append(resume);
  }
  if (job.kind === "challenge" && job.state === "running") actions.append(act("Pause", job.links.control, { action: "pause" }));
  if (job.kind === "challenge" && job.state === "paused") actions.append(act("Resume", job.links.control, { action: "resume" }));
  return el("div", { class: "card" },
    el("h1", {}, `${job.kind.replace("_", " ")} ${job.name} `, el("span", { class: "muted" }, job.id), " ", el("span", { id: "run-state" }, stateBadge(job.state))),
    el("div", { id: "run-progress" }, `step ${job.progress.step} / ${job.progress.total}`), bar,
    job.error ? el("p", { class: "err" }, `${job.error.code}: ${job.error.message}`) : null,
    actions);
}

// Hook for the saliency (interpretability) view of a run, filled in by another module: set
// RunHooks.saliency = (container, job) => {...}; it is called with the #run-saliency element
// whenever the run's state changes. Nothing is drawn while it is null.
const RunHooks = { saliency: null };

const DIAGNOSTIC_PRIORITY = ["drag", "lift", "energy", "shock_angle", "pressure_ratio", "amplitude"];
const diagRank = (name) => DIAGNOSTIC_PRIORITY.includes(name) ? DIAGNOSTIC_PRIORITY.indexOf(name) : 99;
const TERMINAL = ["succeeded", "failed", "cancelled"];

function runView(root, id) {
  const t = { reward: [], trust: [], diag: {}, mode: [], safety: [] };
  const charts = {
    reward: el("canvas", { class: "chart", id: "chart-reward" }), trust: el("canvas", { class: "chart", id: "chart-trust" }),
    diag: el("canvas", { class: "chart", id: "chart-diag" }), mode: el("canvas", { class: "chart", id: "chart-mode" }),
  };
  let units = {}, snap = null, slice = null;
  const head = el("div"), heat = el("canvas", { class: "heat hidden", id: "heatmap" }), heatInfo = el("p", { class: "legend", id: "heat-info" });
  const sliceBox = el("div", { class: "row slice hidden", id: "heat-slice-box" });
  const laws = el("div", { id: "laws" }), safety = el("div", { id: "safety-events", class: "table-wrap" }), arts = el("div", { class: "table-wrap" });
  const saliency = el("section", { id: "run-saliency", "data-hook": "saliency" });
  root.replaceChildren(head,
    el("div", { class: "row toolbar" }, smoothingControl(() => redraw()),
      el("a", { href: `#/compare?run=${encodeURIComponent(id)}`, id: "run-compare-link" }, "open in compare")),
    el("div", { class: "charts" }, charts.reward, charts.trust, charts.diag, charts.mode),
    el("div", { class: "row" },
      el("div", { class: "col" }, el("h2", {}, "Field"), sliceBox, heat, heatInfo),
      el("div", { class: "col" }, el("h2", {}, "Discovered laws"), laws, el("h2", {}, "Safety events"), safety)),
    saliency,
    el("h2", {}, "Artifacts"), arts);
  Api.get(`/api/v1/workspace/runs/curves?run=${encodeURIComponent(id)}&max_points=10`).then((c) => { units = c.runs[0].units; redraw(); }).catch(() => {});

  function redraw() {
    const smooth = smoothingValue();
    drawLineChart(charts.reward, "reward per step", [{ name: "reward", points: t.reward }],
      { xLabel: "step", yLabel: units.reward || "reward per step", smooth });
    drawLineChart(charts.trust, "theory trust", [{ name: "trust", points: t.trust }], { ymin: 0, ymax: 1, xLabel: "step", yLabel: "trust (0-1)" });
    const names = Object.keys(t.diag).sort((a, b) => diagRank(a) - diagRank(b) || a.localeCompare(b)).slice(0, 3);
    // one quantity: its unit on the axis; several: each series' unit in the legend
    const unitOf = (n) => units["diagnostics." + n] || n;
    drawLineChart(charts.diag, "diagnostics", names.map((n) => ({ name: names.length > 1 ? unitOf(n) : n, points: t.diag[n] })),
      { xLabel: "step", yLabel: names.length === 1 ? unitOf(names[0]) : "value (units in the legend)", smooth });
    drawLineChart(charts.mode, "safety mode", [{ name: "mode", points: t.mode }], { step: true, ymin: 0, ymax: 3, labels: SAFETY_MODES, xLabel: "step" });
    safety.replaceChildren(t.safety.length ? el("table", {}, el("tr", {}, el("th", {}, "step"), el("th", {}, "monitor"), el("th", {}, "reason"), el("th", {}, "action")),
      t.safety.slice(-30).map((e) => el("tr", { class: "safety-event" }, el("td", {}, e.step), el("td", {}, e.monitor || ""), el("td", {}, e.reason || ""), el("td", {}, e.action || e.intervention || ""))))
      : el("p", { class: "muted" }, "no safety events"));
  }
  function ingest(line) {
    if (line.kind === "step" && t.reward.length && line.step <= t.reward[t.reward.length - 1][0]) {
      // a resumed run rewrites its telemetry from its checkpoint: drop what it replaces
      const keep = (arr) => { while (arr.length && arr[arr.length - 1][0] >= line.step) arr.pop(); };
      [t.reward, t.trust, t.mode, ...Object.values(t.diag)].forEach(keep);
      t.safety = t.safety.filter((e) => e.step < line.step);
    }
    if (line.kind === "step") {
      t.reward.push([line.step, line.reward]);
      t.trust.push([line.step, line.trust]);
      t.mode.push([line.step, SAFETY_MODES.indexOf(line.safety_mode || "nominal")]);
      for (const [k, v] of Object.entries(line.diagnostics || {})) (t.diag[k] = t.diag[k] || []).push([line.step, v]);
    } else if (line.kind === "safety") t.safety.push(line);
  }
  function renderLaws(list) {
    laws.replaceChildren(list.length ? el("ul", {}, list.map((law) => el("li", { class: "law-item" }, renderEquation(law.equation),
      el("div", { class: "legend" }, `R² ${fmt(law.r2, 3)} · terms ${(law.terms || []).join(", ")}`)))) : el("p", { class: "muted" }, "no accepted law yet"));
  }
  function drawField() {
    if (!snap) return;
    const positions = snap.slice_positions || [];
    if (positions.length > 1 && !sliceBox.firstChild) {
      const input = el("input", { id: "heat-slice", type: "range", min: "0", max: String(positions.length - 1), step: "1",
        value: String(Math.max(0, positions.indexOf(snap.slice_index))), "aria-label": "z slice" });
      const out = el("output", { id: "heat-slice-value" });
      input.addEventListener("input", () => { slice = Number(input.value); drawField(); });
      sliceBox.replaceChildren(el("label", { for: "heat-slice" }, "z slice "), input, out);
      sliceBox.classList.remove("hidden");
      slice = Number(input.value);
    }
    const useSlice = positions.length > 1 && snap.slices ? Math.min(slice ?? 0, positions.length - 1) : null;
    heat.classList.remove("hidden");
    drawHeatmap(heat, snap, { slice: useSlice });
    const z = useSlice !== null ? positions[useSlice] : snap.slice_index;
    const out = document.getElementById("heat-slice-value");
    if (out) out.textContent = `z = ${z} of ${(snap.grid || [0, 0, 1])[2]}`;
    heatInfo.textContent = `${snap.name} at step ${snap.step}` + (snap.grid ? ` · grid ${snap.grid.join("×")}` : "")
      + (snap.grid && snap.grid[2] > 1 ? ` · slice z = ${z}` : "") + ` · colour: ${snap.name}, ${fmt(snap.min, 3)} … ${fmt(snap.max, 3)}`;
  }
  let last = null, pending = false;
  async function refresh() {
    if (pending) return; pending = true;
    try {
      const job = await Api.get(`/api/v1/runs/${id}`);
      if (last && TERMINAL.includes(last.state) && !TERMINAL.includes(job.state)) {  // resumed: follow it again
        pending = false; stopLive(); runView(root, id); return;
      }
      if (!last || last.state !== job.state || last.progress.step !== job.progress.step) {
        head.replaceChildren(jobHeader(job, refresh));
        renderLaws(job.laws || []);
      }
      try {
        snap = await Api.get(`/api/v1/runs/${id}/field`);
        drawField();
      } catch (e) { heatInfo.textContent = "no field snapshot yet"; }
      if (!last || last.state !== job.state) {
        artifactList(job, arts);
        if (RunHooks.saliency) { try { RunHooks.saliency(saliency, job); } catch (e) { saliency.replaceChildren(el("p", { class: "err" }, e.message)); } }
      }
      last = job;
      if (["succeeded", "failed", "cancelled"].includes(job.state) && activeTimer) { clearInterval(activeTimer); activeTimer = null; }
    } catch (e) { head.replaceChildren(el("p", { class: "err" }, e.message)); }
    finally { pending = false; }
  }
  redraw(); refresh();
  activeStream = new EventSource(`/api/v1/runs/${id}/telemetry/stream`);
  let queued = false;
  activeStream.addEventListener("telemetry", (ev) => {
    ingest(JSON.parse(ev.data));
    if (!queued) { queued = true; requestAnimationFrame(() => { queued = false; redraw(); }); }
  });
  activeStream.addEventListener("state", () => refresh());
  activeStream.addEventListener("end", () => { activeStream.close(); refresh(); });
  activeTimer = setInterval(refresh, 1500);
}

function jobView(root, id) {
  const head = el("div"), chart = el("canvas", { class: "chart", id: "chart-job" }), extra = el("div"), arts = el("div");
  root.replaceChildren(head, chart, extra, el("h2", {}, "Artifacts"), arts);
  let cursor = 0; const lines = []; let last = null;
  async function refresh() {
    try {
      const job = await Api.get(`/api/v1/jobs/${id}`);
      if (job.kind === "run") { location.hash = `#/runs/${id}`; return; }
      const page = await Api.get(`/api/v1/jobs/${id}/telemetry?after=${cursor}`);
      cursor = page.next_cursor; lines.push(...page.items);
      head.replaceChildren(jobHeader(job, refresh));
      if (job.kind === "challenge") {
        drawLineChart(chart, "shock angle (deg)", [
          { name: "target", points: lines.map((l) => [l.step, l.target]) },
          { name: "measured", points: lines.map((l) => [l.step, l.measured]) },
          { name: "wedge", points: lines.map((l) => [l.step, l.wedge_angle]) }], { xLabel: "step", yLabel: "angle (deg)" });
        const tl = await Api.get(`/api/v1/challenges/supersonic/jobs/${id}/timeline`);
        extra.replaceChildren(el("h2", {}, "Timeline"), el("table", { id: "timeline" }, el("tr", {}, el("th", {}, "step"), el("th", {}, "event"), el("th", {}, "detail")),
          tl.events.map((e) => el("tr", {}, el("td", {}, e.step), el("td", {}, e.kind), el("td", {}, JSON.stringify(Object.fromEntries(Object.entries(e).filter(([k]) => !["kind", "step", "line"].includes(k)))))))));
      } else if (job.kind === "inverse_design") {
        drawLineChart(chart, "best objective so far", [{ name: "best", points: lines.map((l) => [l.step, l.best]) }],
          { xLabel: "iteration", yLabel: "best objective" });
        extra.replaceChildren(job.result && job.result.best ? el("div", { class: "card" }, el("h3", {}, "Best design"),
          el("pre", {}, JSON.stringify(job.result.best.design, null, 2)), el("p", {}, `objective ${fmt(job.result.best.objective)}`),
          job.result.known_optimum ? el("p", { class: "muted" }, `analytical optimum: ${JSON.stringify(job.result.known_optimum.design)}`) : null) : "");
      } else {
        drawLineChart(chart, "validation: relative error vs tolerance", [
          { name: "rel. error", points: lines.map((l, i) => [i, l.rel_error]) }, { name: "tolerance", points: lines.map((l, i) => [i, l.tolerance]) }],
          { xLabel: "validation case (index)", yLabel: "relative error" });
        extra.replaceChildren(el("div", { class: "table-wrap" }, el("table", {}, el("tr", {}, ["case", "quantity", "measured", "reference", "result"].map((h) => el("th", {}, h))),
          lines.map((l) => el("tr", {}, el("td", {}, l.case), el("td", {}, l.quantity), el("td", {}, fmt(l.measured)), el("td", {}, fmt(l.reference)), el("td", {}, l.passed ? "pass" : "FAIL"))))));
      }
      if (!last || last.state !== job.state) artifactList(job, arts);
      last = job;
      if (["succeeded", "failed", "cancelled"].includes(job.state) && activeTimer) { clearInterval(activeTimer); activeTimer = null; }
    } catch (e) { head.replaceChildren(el("p", { class: "err" }, e.message)); }
  }
  refresh();
  activeTimer = setInterval(refresh, 1500);
}
