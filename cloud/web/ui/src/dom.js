// Builds DOM nodes without innerHTML, so no API value is ever parsed as
// markup (and the CSP needs no inline anything).

// h("tag.class#id", {attr: v, onclick: fn}, ...children)
export function h(spec, attrs, ...children) {
  const [, tag, rest] = spec.match(/^([a-z0-9]+)(.*)$/);
  const el = document.createElement(tag);
  for (const part of rest.match(/[.#][^.#]+/g) || []) {
    if (part[0] === ".") el.classList.add(part.slice(1));
    else el.id = part.slice(1);
  }
  if (attrs && (typeof attrs !== "object" || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// field: a labelled input; every form field in the dashboard is built here.
export function field(label, attrs = {}) {
  const id = attrs.id || "f-" + label.toLowerCase().replace(/[^a-z0-9]+/g, "-");
  const input = attrs.options
    ? h("select", { ...attrs, id, options: undefined, value: undefined }, attrs.options.map(([v, t]) => h("option", { value: v, selected: v === attrs.value }, t)))
    : h("input", { type: "text", ...attrs, id });
  return h("label", { for: id }, label, input);
}

export const val = (form, id) => form.querySelector("#" + id).value.trim();

export function fmtTime(t) {
  if (!t) return "never";
  const d = new Date(t);
  if (isNaN(d) || d.getUTCFullYear() < 2000) return "never";
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

export function ago(t) {
  if (!t) return "never";
  const s = Math.round((Date.now() - new Date(t)) / 1000);
  if (s < 90) return s + " s ago";
  if (s < 5400) return Math.round(s / 60) + " min ago";
  if (s < 172800) return Math.round(s / 3600) + " h ago";
  return Math.round(s / 86400) + " days ago";
}

export const badge = (text, cls) => h("span.badge." + (cls || text), text);

// errorBox: the place near a form or button where an API error is said.
export const errorBox = () => h("p.error", { role: "alert" });

// confirmDialog asks before a destructive or consequential action; it is a
// modal <dialog>, so focus stays in it and Escape cancels.
export function confirmDialog(question, confirmLabel, danger) {
  return new Promise((resolve) => {
    const yes = h("button" + (danger ? ".danger" : ""), { type: "button" }, confirmLabel);
    const no = h("button.secondary", { type: "button" }, "Cancel");
    const dlg = h("dialog", { "aria-labelledby": "dlg-q" }, h("p#dlg-q", question), h("div.actions", yes, no));
    const done = (v) => { dlg.close(); dlg.remove(); resolve(v); };
    yes.addEventListener("click", () => done(true));
    no.addEventListener("click", () => done(false));
    dlg.addEventListener("cancel", (e) => { e.preventDefault(); done(false); });
    document.body.append(dlg);
    dlg.showModal();
    no.focus();
  });
}
