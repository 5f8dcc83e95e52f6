"use strict";
// Small API client: JSON in and out, the API key from localStorage, errors shown as {code, message}.
const Api = (() => {
  const KEY = "atom.apiKey";
  function key() { return localStorage.getItem(KEY) || ""; }
  function setKey(value) { if (value) localStorage.setItem(KEY, value); else localStorage.removeItem(KEY); }
  function headers(extra) {
    const h = Object.assign({ accept: "application/json" }, extra || {});
    if (key()) h["x-api-key"] = key();
    return h;
  }
  async function request(method, path, body) {
    const init = { method, headers: headers(body && !(body instanceof FormData) ? { "content-type": "application/json" } : {}) };
    if (body !== undefined) init.body = body instanceof FormData ? body : JSON.stringify(body);
    const resp = await fetch(path, init);
    const text = await resp.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = { code: "bad_response", message: text }; }
    if (!resp.ok) {
      const err = new Error((data && data.message) || resp.statusText);
      err.code = data && data.code; err.status = resp.status; err.details = data && data.details;
      throw err;
    }
    return data;
  }
  return {
    key, setKey,
    get: (p) => request("GET", p),
    post: (p, b) => request("POST", p, b === undefined ? {} : b),
    upload: (p, form) => request("POST", p, form),
  };
})();

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function toast(message, isError) {
  const t = document.getElementById("toast");
  t.textContent = message;
  t.className = "toast" + (isError ? " error" : "");
  clearTimeout(toast._timer);
  toast._timer = setTimeout(() => { t.className = "toast hidden"; }, isError ? 8000 : 3000);
}

function fmt(v, digits) {
  if (v === null || v === undefined) return "–";
  if (typeof v === "number") return Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(digits || 3) : String(+v.toFixed(digits || 4));
  return String(v);
}

function stateBadge(state) { return el("span", { class: "state " + state, "data-state": state, text: state }); }
