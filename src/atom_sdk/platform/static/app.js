"use strict";
// Router and screens: worlds & templates, launch forms, jobs, ledger, assistant, geometries, runtime.
const view = document.getElementById("view");
const cache = {};
async function cached(key, path) { if (!cache[key]) cache[key] = await Api.get(path); return cache[key]; }

function goJob(job) { location.hash = job.kind === "run" ? `#/runs/${job.id}` : `#/jobs/${job.id}`; }

async function launchTemplate(t) {
  try { const job = await Api.post(t.endpoint, t.body); toast(`queued ${job.id}`); goJob(job); }
  catch (e) { toast(`${e.code || "error"}: ${e.message}`, true); }
}

async function homeView() {
  const here = location.hash;
  const [worlds, catalog] = await Promise.all([cached("worlds", "/api/v1/worlds"), Api.get("/api/v1/studio/catalog")]);
  if (location.hash !== here) return;  // the user moved on while this loaded: do not draw over the new screen
  view.replaceChildren(
    el("h1", {}, "Templates"),
    el("div", { class: "grid", id: "templates" }, catalog.templates.map((t) => el("div", { class: "card template", "data-template": t.id },
      el("h3", {}, t.title), el("p", {}, t.description),
      el("div", { class: "row" },
        el("button", { class: "launch-template", onclick: () => launchTemplate(t) }, "Launch"),
        el("button", { class: "secondary", onclick: () => { sessionStorage.setItem("atom.prefill", JSON.stringify(t)); location.hash = "#/launch"; } }, "Edit first"),
        t.estimated_seconds ? el("span", { class: "muted" }, `~${t.estimated_seconds} s`) : null)))),
    el("h1", {}, "Worlds"),
    el("div", { class: "grid" }, worlds.worlds.map((w) => el("div", { class: "card" },
      el("h3", {}, w.id), el("p", {}, w.description),
      el("div", { class: "legend" }, "observables: " + (w.observables.join(", ") || "–")),
      el("details", {}, el("summary", {}, "parameters"), el("table", {},
        Object.entries(w.parameters_schema.properties || {}).map(([k, p]) => el("tr", {}, el("td", {}, k), el("td", {}, fmt(p.default)), el("td", { class: "muted" }, p.description || ""))))),
      el("div", { class: "row" }, el("button", { class: "secondary", onclick: async () => {
        try { goJob(await Api.post(`/api/v1/worlds/${w.id}/validate`, {})); } catch (e) { toast(e.message, true); } } }, `Validate (${w.validation_cases.length} cases)`))))));
}

async function launchView() {
  const here = location.hash;
  const [worlds, openapi, design] = await Promise.all([cached("worlds", "/api/v1/worlds"), cached("openapi", "/openapi.json"),
    cached("design", "/api/v1/inverse-design/spec-template")]);
  if (location.hash !== here) return;
  const defs = openapi.components.schemas;
  const prefill = JSON.parse(sessionStorage.getItem("atom.prefill") || "null");
  sessionStorage.removeItem("atom.prefill");
  const panel = el("div"), err = el("p", { class: "err", id: "launch-error" });
  const tabs = el("div", { class: "tabs" });
  const modes = { run: "Closed-loop run", inverse_design: "Inverse design", challenge: "Supersonic challenge" };
  function show(kind) {
    for (const b of tabs.children) b.classList.toggle("active", b.dataset.kind === kind);
    err.textContent = "";
    if (kind === "run") runForm(); else if (kind === "inverse_design") designForm(); else challengeForm();
  }
  for (const [k, label] of Object.entries(modes)) tabs.append(el("button", { "data-kind": k, onclick: () => show(k) }, label));

  function submitRow(id, build, endpoint) {
    return el("div", { class: "row" }, el("button", { id, onclick: async () => {
      err.textContent = "";
      clearFieldErrors(panel);
      try { const job = await Api.post(endpoint(), build()); toast(`queued ${job.id}`); goJob(job); }
      catch (e) { if (!markFieldErrors(panel, e, fieldFor)) showError(err, e); else err.textContent = ""; }
    } }, "Launch"));
  }
  // which input a 422's field path (details[].loc, after "body") points at, in the form shown now
  function fieldFor(loc) {
    const [head, ...rest] = loc;
    if (head === "config") {
      if (rest[0] === "world") {
        if (rest[1] === "params" && rest[2]) return "f-param_" + rest[2];
        return { grid: "run-grid", name: "run-world", measurement_noise: "run-measurement-noise" }[rest[1]] || "run-world";
      }
      return document.getElementById("f-run_" + rest[0]) ? "f-run_" + rest[0] : "run-advanced";
    }
    if (head === "geometry_id") return "run-geometry";
    if (head === "spec") return "f-spec_" + rest.filter((p) => !/^\d+$/.test(p)).join("_");
    return "f-challenge_" + loc.filter((p) => !/^\d+$/.test(p)).join("_");
  }
  function runForm() {
    const body = prefill && prefill.kind === "run" ? prefill.body : { config: {} };
    const cfg = body.config || {};
    const worldSel = el("select", { id: "run-world" }, worlds.worlds.map((w) => el("option", { value: w.id, selected: (cfg.world || {}).name === w.id }, w.id)));
    const top = schemaForm({ properties: { name: defs.RunConfig.properties.name, steps: defs.RunConfig.properties.steps,
      seed: defs.RunConfig.properties.seed, variant: defs.RunConfig.properties.variant } }, defs,
      { name: cfg.name || "ui_run", steps: cfg.steps ?? 32, seed: cfg.seed ?? 0, variant: cfg.variant || "v2_hybrid" }, "run.");
    const gridInput = el("input", { id: "run-grid", type: "text", value: ((cfg.world || {}).grid || [8, 8, 1]).join(", ") });
    const noiseInput = el("input", { id: "run-measurement-noise", type: "number", step: "any", min: "0", max: "1",
      value: String((cfg.world || {}).measurement_noise ?? 0) });
    const paramsBox = el("div");
    let params = null;
    const renderParams = () => {
      const w = worlds.worlds.find((x) => x.id === worldSel.value);
      params = schemaForm(w.parameters_schema, w.parameters_schema.$defs || {}, (cfg.world || {}).name === w.id ? (cfg.world || {}).params || {} : {}, "param.");
      paramsBox.replaceChildren(el("fieldset", {}, el("legend", {}, "world parameters"), params.node));
    };
    worldSel.addEventListener("change", renderParams); renderParams();
    const advanced = el("textarea", { id: "run-advanced", rows: "6" });
    advanced.value = JSON.stringify({ agent: cfg.agent || { rollout_length: 16, num_minibatches: 2, hidden_sizes: [16, 16], latent_dim: 8, fourier_modes: 2 },
      scientist: cfg.scientist || { fit_every: 8, min_samples: 16, ensemble_size: 8 } }, null, 2);
    const geo = el("input", { id: "run-geometry", type: "text", placeholder: "optional, lbm2d:cylinder only", value: body.geometry_id || "" });
    panel.replaceChildren(el("div", { class: "card", id: "launch-run-form" },
      el("div", { class: "field" }, el("label", { for: "run-world" }, "world"), worldSel),
      el("div", { class: "field" }, el("label", { for: "run-grid" }, "grid nx, ny, nz"), gridInput),
      el("div", { class: "field" }, el("label", { for: "run-measurement-noise" }, "measurement noise (relative, what the scientist sees)"), noiseInput),
      top.node, paramsBox,
      el("div", { class: "field" }, el("label", { for: "run-geometry" }, "geometry id"), geo),
      el("details", {}, el("summary", {}, "agent, scientist and safety settings (JSON, RunConfig keys)"), advanced),
      submitRow("launch-submit", () => {
        let extra; try { extra = JSON.parse(advanced.value || "{}"); } catch (e) { throw new Error("advanced settings must be JSON: " + e.message); }
        const config = Object.assign({}, extra, top.value(), { world: { name: worldSel.value, grid: gridInput.value.split(/[\s,]+/).filter(Boolean).map(Number),
          measurement_noise: Number(noiseInput.value), params: params.value() } });
        return geo.value ? { config, geometry_id: geo.value } : { config };
      }, () => "/api/v1/runs")));
  }
  function designForm() {
    const problemSel = el("select", { id: "design-problem" }, design.problems.map((p) => el("option", { value: p.problem }, p.problem)));
    const box = el("div"); let form = null;
    const render = () => {
      const p = design.problems.find((x) => x.problem === problemSel.value);
      const values = prefill && prefill.kind === "inverse_design" && prefill.body.spec.problem === p.problem ? prefill.body.spec
        : { name: `design_${p.problem}`, problem: p.problem, backend: p.backend, iterations: p.iterations, population: p.population,
            rollout_steps: p.rollout_steps, target: p.target, grid: p.grid, world_params: p.world_params, evaluator: p.has_surrogate ? "surrogate" : "rollout" };
      form = schemaForm(design.spec_schema, design.spec_schema.$defs || {}, values, "spec.");
      box.replaceChildren(el("p", { class: "muted" }, p.description, " — objective: ", p.objective), form.node);
    };
    if (prefill && prefill.kind === "inverse_design") problemSel.value = prefill.body.spec.problem;
    problemSel.addEventListener("change", render); render();
    panel.replaceChildren(el("div", { class: "card", id: "launch-design-form" },
      el("div", { class: "field" }, el("label", { for: "design-problem" }, "problem"), problemSel), box,
      submitRow("design-submit", () => { const spec = form.value(); delete spec.output_root; spec.problem = problemSel.value; return { spec }; },
        () => "/api/v1/inverse-design/jobs")));
  }
  function challengeForm() {
    const values = prefill && prefill.kind === "challenge" ? prefill.body : { steps: 120, grid: [48, 32, 1] };
    const form = schemaForm(defs.ChallengeRequest, defs, values, "challenge.");
    panel.replaceChildren(el("div", { class: "card", id: "launch-challenge-form" }, form.node,
      submitRow("challenge-submit", () => form.value(), () => "/api/v1/challenges/supersonic/jobs")));
  }
  view.replaceChildren(el("h1", {}, "Launch"), tabs, panel, err);
  show(prefill ? prefill.kind === "validation" ? "run" : prefill.kind : "run");
}

async function jobsView() {
  const here = location.hash;
  const data = await Api.get("/api/v1/jobs?limit=200&fields=summary");
  if (location.hash !== here) return;
  view.replaceChildren(el("h1", {}, "Jobs"), el("div", { class: "table-wrap" }, el("table", { id: "jobs" },
    el("tr", {}, ["job", "kind", "name", "world", "variant", "seed", "state", "progress", "created"].map((h) => el("th", {}, h))),
    data.items.map((j) => { const cfg = (j.params || {}).config || {}; return el("tr", {}, el("td", {}, el("a", { href: j.kind === "run" ? `#/runs/${j.id}` : `#/jobs/${j.id}` }, j.id)),
      el("td", {}, j.kind), el("td", {}, j.name), el("td", {}, (cfg.world || {}).name || "–"), el("td", {}, cfg.variant || "–"),
      el("td", { class: "num" }, j.kind === "run" ? cfg.seed ?? 0 : "–"), el("td", {}, stateBadge(j.state)),
      el("td", {}, `${j.progress.step}/${j.progress.total}`), el("td", {}, j.created_at.slice(0, 19).replace("T", " "))); }))));
}

async function ledgerView() {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const runSel = el("input", { id: "ledger-run", placeholder: "run id (all)", value: params.get("run_id") || "" });
  const kindSel = el("select", { id: "ledger-kind" }, ["", "candidate", "accepted", "rejected"].map((k) => el("option", { value: k, selected: k === (params.get("kind") || "") }, k || "all kinds")));
  const grouped = el("input", { id: "ledger-grouped", type: "checkbox", checked: params.get("flat") !== "1" });
  const table = el("div", { class: "table-wrap" });
  const kindBadge = (k) => el("span", { class: "state " + (k === "accepted" ? "succeeded" : k === "rejected" ? "failed" : "queued") }, k);
  async function load() {
    const q = new URLSearchParams();
    if (runSel.value) q.set("run_id", runSel.value); if (kindSel.value) q.set("kind", kindSel.value);
    try {
      if (grouped.checked) {
        q.set("sort", "count");
        const data = await Api.get(`/api/v1/ledger/laws?${q}`);
        table.replaceChildren(el("p", { class: "muted", id: "ledger-summary" }, `${data.records} records in ${data.total} laws · ` + Object.entries(data.counts_by_kind).map(([k, n]) => `${n} ${k}`).join(", ")),
          el("table", { id: "ledger-groups" }, el("tr", {}, ["law (latest fit)", "records", "by kind", "why not kept", "runs", "steps", "last"].map((h) => el("th", {}, h))),
            data.items.map((g) => el("tr", { class: "law-group" },
              el("td", {}, g.equations.map((e) => el("div", {}, renderEquation(e.equation))), el("div", { class: "legend" }, g.structure)),
              el("td", { class: "num" }, g.count),
              el("td", {}, Object.entries(g.counts_by_kind).map(([k, n]) => el("div", {}, kindBadge(k), ` × ${n}`))),
              el("td", {}, Object.entries(g.counts_by_reason).sort((a, b) => b[1] - a[1]).slice(0, 4).map(([r, n]) => el("div", { class: "legend" }, `${n} × ${r}`))),
              el("td", {}, g.runs.slice(0, 5).map((id) => el("div", {}, el("a", { href: id.startsWith("dir:") ? `#/compare?run=${encodeURIComponent(id)}` : `#/runs/${id}` }, id.replace(/^dir:/, "")))),
                g.runs.length > 5 ? el("div", { class: "legend" }, `+${g.runs.length - 5} more`) : null),
              el("td", { class: "num" }, g.first_step === g.last_step ? g.last_step ?? "" : `${g.first_step ?? "?"}–${g.last_step ?? "?"}`),
              el("td", {}, kindBadge(g.last_kind))))));
        return;
      }
      const data = await Api.get(`/api/v1/ledger?${q}`);
      table.replaceChildren(el("p", { class: "muted" }, `${data.total} records · ` + Object.entries(data.counts_by_kind).map(([k, n]) => `${n} ${k}`).join(", ")),
        el("table", { id: "ledger" }, el("tr", {}, ["run", "seq", "step", "kind", "equations", "reasons"].map((h) => el("th", {}, h))),
          data.items.map((r) => el("tr", {}, el("td", {}, el("a", { href: `#/runs/${r.job_id}` }, r.job_id)), el("td", {}, r.seq), el("td", {}, r.step ?? ""),
            el("td", {}, kindBadge(r.kind)), el("td", {}, r.equations.map((e) => el("div", {}, renderEquation(e.equation)))),
            el("td", {}, r.reasons.join(", "))))));
    } catch (e) { table.replaceChildren(el("p", { class: "err" }, e.message)); }
  }
  grouped.addEventListener("change", load); kindSel.addEventListener("change", load);
  view.replaceChildren(el("h1", {}, "Hypothesis ledger"), el("div", { class: "row toolbar" }, runSel, kindSel,
    el("label", {}, grouped, " group by law"), el("button", { onclick: load }, "Filter")), table);
  load();
}

async function assistantView() {
  const q = el("textarea", { id: "assistant-question", rows: "2", placeholder: "e.g. Which laws did the last run discover? Any safety events?" });
  const run = el("input", { id: "assistant-run", placeholder: "run id (default: latest)" });
  const out = el("div", { id: "assistant-answer", class: "answer" });
  async function ask() {
    try {
      const body = { question: q.value || "what can you answer?" };
      if (run.value) body.run_id = run.value;
      const a = await Api.post("/api/v1/assistant/query", body);
      out.replaceChildren(el("p", { class: "muted" }, `intent: ${a.intent}`), el("ol", {}, a.statements.map((s) => el("li", {}, s.text,
        el("div", { class: "cite" }, "sources: ", s.citations.map((c) => c.job_id && c.artifact && !c.artifact.includes(" ")
          ? el("a", { href: `/api/v1/jobs/${c.job_id}/artifacts/${c.artifact}`, target: "_blank", rel: "noopener" }, `${c.job_id}/${c.artifact}${c.pointer ? "#" + c.pointer : ""}`)
          : el("span", {}, `${c.job_id || ""} ${c.artifact || ""} ${c.pointer || ""}`)).flatMap((x) => [x, " "]))))));
    } catch (e) { out.replaceChildren(el("p", { class: "err" }, e.message)); }
  }
  view.replaceChildren(el("h1", {}, "Assistant"), el("p", { class: "muted" }, "Answers come from the stored runs only; every statement cites its source."),
    q, el("div", { class: "row" }, run, el("button", { id: "assistant-ask", onclick: ask }, "Ask")), out);
}

async function geometriesView() {
  const list = el("div", { class: "grid" }), err = el("p", { class: "err" });
  const name = el("input", { placeholder: "name", value: "body" }), poly = el("textarea", { rows: "3", placeholder: "[[20,12],[30,12],[30,22],[20,22]]" });
  const grid = el("input", { value: "96,34" }), file = el("input", { type: "file", accept: "image/png" });
  const mesh = el("input", { type: "file", accept: ".stl,model/stl" });
  async function load() {
    const data = await Api.get("/api/v1/geometries");
    list.replaceChildren(...data.items.map((g) => el("div", { class: "card" }, el("h3", {}, `${g.name} `, el("span", { class: "muted" }, g.id)),
      ...(g.source === "stl"
        ? [el("p", {}, `STL for lbm3d:body: ${g.triangles} triangles, length/diameter ${fmt(g.length_over_diameter, 3)}, diameter ${fmt(g.diameter_fraction, 2)} of the duct `, el("a", { href: g.mesh_url }, "body.stl"))]
        : [el("img", { class: "mask", src: g.mask_url, alt: `mask of ${g.name}` }),
          el("p", {}, `${g.grid.join("×")} cells, ${g.solid_cells} solid, blockage ${fmt(g.blockage, 3)}, equivalent radius ${fmt(g.equivalent_radius, 3)}`)]))));
  }
  async function upload() {
    const form = new FormData(); form.append("name", name.value);
    if (mesh.files.length) form.append("mesh", mesh.files[0]);
    else if (file.files.length) form.append("file", file.files[0]); else { form.append("polygon", poly.value); form.append("grid", grid.value); }
    try { await Api.upload("/api/v1/geometries/upload", form); err.textContent = ""; load(); } catch (e) { showError(err, e); }
  }
  view.replaceChildren(el("h1", {}, "Geometries"), el("div", { class: "card" }, el("p", { class: "muted" }, "A body for the cylinder channel: a polygon in cell coordinates, or a PNG mask (dark pixels solid). Runs on lbm2d:cylinder simulate this shape itself (a polygon with exact wall distances, or the mask)."),
    el("div", { class: "field" }, el("label", {}, "name"), name), el("div", { class: "field" }, el("label", {}, "polygon (JSON)"), poly),
    el("div", { class: "field" }, el("label", {}, "grid nx,ny"), grid), el("div", { class: "field" }, el("label", {}, "or PNG mask"), file),
    el("div", { class: "field" }, el("label", {}, "or STL mesh (3D, lbm3d:body)"), mesh),
    el("button", { onclick: upload }, "Upload"), err), list);
  load();
}

async function runtimeView() {
  const box = el("div");
  async function load() {
    const r = await Api.get("/api/v1/runtime/telemetry");
    box.replaceChildren(el("div", { class: "grid" },
      el("div", { class: "card" }, el("h3", {}, "Queue"), el("p", {}, `${r.queue_depth} queued of ${r.max_queue}`)),
      el("div", { class: "card" }, el("h3", {}, "Workers"), el("p", {}, `${r.workers_alive} alive of ${r.workers_expected} (pids ${r.worker_pids.join(", ") || "–"})`)),
      el("div", { class: "card" }, el("h3", {}, "Jobs"), el("p", {}, Object.entries(r.jobs_by_state).map(([s, n]) => `${s} ${n}`).join(" · ")))),
      el("h2", {}, "Recent safety events"), r.recent_safety_events.length ? el("table", {}, r.recent_safety_events.map((e) => el("tr", {},
        el("td", {}, el("a", { href: `#/runs/${e.job_id}` }, e.job_id)), el("td", {}, e.step), el("td", {}, e.reason || ""), el("td", {}, e.action || ""))))
        : el("p", { class: "muted" }, "none"));
  }
  view.replaceChildren(el("h1", {}, "Runtime"), box);
  await load();
  activeTimer = setInterval(() => load().catch(() => {}), 3000);
}

async function route() {
  stopLive();
  if (compareView.cleanup) { compareView.cleanup(); compareView.cleanup = null; }
  const hash = location.hash || "#/";
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", hash.startsWith(a.getAttribute("href")) && a.getAttribute("href") !== "#/" || hash === a.getAttribute("href"));
  const parts = hash.slice(2).split("?")[0].split("/");
  try {
    if (parts[0] === "runs" && parts[1]) runView(view, parts[1]);
    else if (parts[0] === "runs") await runsIndexView();
    else if (parts[0] === "compare") await compareView();
    else if (parts[0] === "jobs" && parts[1]) jobView(view, parts[1]);
    else if (parts[0] === "launch") await launchView();
    else if (parts[0] === "jobs") await jobsView();
    else if (parts[0] === "ledger") await ledgerView();
    else if (parts[0] === "assistant") await assistantView();
    else if (parts[0] === "geometries") await geometriesView();
    else if (parts[0] === "runtime") await runtimeView();
    else await homeView();
  } catch (e) { view.replaceChildren(el("p", { class: "err" }, `${e.code || "error"}: ${e.message}`)); }
}

document.getElementById("api-key").value = Api.key();
document.getElementById("key-form").addEventListener("submit", (ev) => {
  ev.preventDefault(); Api.setKey(document.getElementById("api-key").value.trim()); toast("API key saved in this browser");
});
window.addEventListener("hashchange", route);
route();
import("/static/views_saliency.js").then((m) => m.install()).catch(() => {});  // saliency view of a run (#run-saliency)
