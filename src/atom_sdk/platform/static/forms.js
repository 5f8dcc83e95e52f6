"use strict";
// Forms generated from JSON Schema (pydantic's): scalars, enums, booleans, number tuples, nested objects.
// Anything more exotic (free-form mappings, lists of objects) becomes a JSON text area.

function resolveRef(schema, defs) {
  let s = schema || {};
  for (let i = 0; i < 8 && s.$ref; i++) s = defs[s.$ref.split("/").pop()] || {};
  if (s.anyOf) {
    const nonNull = s.anyOf.filter((x) => x.type !== "null");
    if (nonNull.length === 1) return Object.assign({}, resolveRef(nonNull[0], defs), { nullable: true, description: s.description, default: s.default, title: s.title });
  }
  if (s.allOf && s.allOf.length === 1) return Object.assign({}, resolveRef(s.allOf[0], defs), { description: s.description, default: s.default });
  return s;
}

function isNumberTuple(s) {
  return s.type === "array" && ((s.prefixItems && s.prefixItems.every((p) => ["integer", "number"].includes(p.type))) ||
    (s.items && ["integer", "number"].includes(s.items.type)));
}

// Build a form; returns {node, value()} where value() reads the inputs back into an object.
function schemaForm(schema, defs, values, path) {
  schema = resolveRef(schema, defs);
  values = values || {};
  path = path || "";
  const readers = {};
  const box = el("div", { class: "schema-form" });
  for (const [name, raw] of Object.entries(schema.properties || {})) {
    const s = resolveRef(raw, defs);
    const id = "f-" + (path + name).replace(/[^\w-]/g, "_");
    const current = values[name] !== undefined ? values[name] : s.default;
    const help = s.description ? el("small", {}, s.description) : null;
    if (s.type === "object" && s.properties) {
      const sub = schemaForm(s, defs, current || {}, path + name + ".");
      box.append(el("fieldset", {}, el("legend", {}, s.title || name), sub.node));
      readers[name] = sub.value;
      continue;
    }
    let input, read;
    if (s.enum) {
      input = el("select", { id, name }, s.enum.map((v) => el("option", { value: v, selected: v === current }, v)));
      read = () => input.value;
    } else if (s.type === "boolean") {
      input = el("input", { id, name, type: "checkbox", checked: !!current });
      read = () => input.checked;
    } else if (s.type === "integer" || s.type === "number") {
      input = el("input", { id, name, type: "number", step: s.type === "integer" ? "1" : "any", value: current ?? "",
        min: s.minimum ?? s.exclusiveMinimum, max: s.maximum ?? s.exclusiveMaximum, placeholder: s.nullable ? "default" : "" });
      read = () => input.value === "" ? (s.nullable ? null : undefined) : Number(input.value);
    } else if (isNumberTuple(s)) {
      input = el("input", { id, name, type: "text", value: Array.isArray(current) ? current.join(", ") : "", placeholder: "e.g. 32, 32, 1" });
      read = () => input.value.trim() === "" ? (s.nullable ? null : undefined) : input.value.split(/[\s,]+/).filter(Boolean).map(Number);
    } else if (s.type === "string" && !s.nullable || s.type === "string") {
      input = el("input", { id, name, type: "text", value: current ?? "", pattern: s.pattern, placeholder: s.nullable ? "default" : "" });
      read = () => input.value === "" ? (s.nullable ? null : undefined) : input.value;
    } else {
      input = el("textarea", { id, name, rows: "3" });
      input.value = current === undefined || current === null ? "" : JSON.stringify(current);
      read = () => {
        if (input.value.trim() === "") return undefined;
        try { return JSON.parse(input.value); } catch (e) { throw new Error(`field '${path + name}' must be JSON: ${e.message}`); }
      };
    }
    box.append(el("div", { class: "field" }, el("label", { for: id }, s.title || name), input, help));
    readers[name] = read;
  }
  return {
    node: box,
    value() {
      const out = {};
      for (const [name, read] of Object.entries(readers)) {
        const v = read();
        if (v !== undefined) out[name] = v;
      }
      return out;
    },
  };
}

function showError(target, err) {
  target.textContent = `${err.code ? err.code + ": " : ""}${err.message}`;
}

// A 422 next to the field that caused it: details[].loc (FastAPI's field path, "body" first) names the
// input; errors without a path (the world's own checks) are matched by the parameter they quote.
function clearFieldErrors(root) {
  for (const n of root.querySelectorAll(".field-error")) n.remove();
  for (const n of root.querySelectorAll("[aria-invalid]")) { n.removeAttribute("aria-invalid"); n.classList.remove("invalid"); }
}

function markField(root, input, text) {
  input.setAttribute("aria-invalid", "true"); input.classList.add("invalid");
  const folded = input.closest("details");
  if (folded) folded.open = true;
  const note = el("div", { class: "field-error err", role: "alert", "data-for": input.id }, text);
  const field = input.closest(".field");
  if (field) field.after(note); else input.after(note);
  return note;
}

function markFieldErrors(root, err, fieldFor) {
  const marked = [];
  for (const d of err.details || []) {
    const loc = (d.loc || []).slice(d.loc && d.loc[0] === "body" ? 1 : 0);
    const input = loc.length ? root.querySelector("#" + CSS.escape(fieldFor(loc))) : null;
    if (input) marked.push(markField(root, input, `${loc.join(".")}: ${d.msg}`));
  }
  if (!marked.length && err.message) {
    const inputs = [...root.querySelectorAll("input[name], select[name], input#run-grid")];
    const hit = inputs.find((i) => i.name && new RegExp(`'${i.name}'|\\b${i.name}\\s*=`).test(err.message))
      || (/\bgrid\b/.test(err.message) ? root.querySelector("#run-grid") : null);
    if (hit) marked.push(markField(root, hit, `${err.code ? err.code + ": " : ""}${err.message}`));
  }
  if (marked.length) { marked[0].scrollIntoView({ block: "center" }); const bad = root.querySelector("[aria-invalid]"); if (bad) bad.focus(); }
  return marked.length > 0;
}
