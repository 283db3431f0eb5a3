// The pipeline editor (#12): a form and a YAML tab over one document. The
// form edits the spec object in place (keys it does not show are kept, so
// switching tabs loses nothing); the YAML tab shows that object as YAML
// (toYAML) and, since the dashboard bundles no YAML parser, YAML typed
// there is parsed by the server's validate endpoint, whose answer carries
// the document as JSON. Every change is checked by that endpoint (the
// agent's own code); its error names a field path, shown next to the
// field with that path, else above the form.
import { call } from "./api.js";
import { h, clear } from "./dom.js";

// specEditor returns { el, value() } where value() is the request body
// part ({spec} or {spec_yaml}) of what the user sees.
export function specEditor(id, spec) {
  let doc = spec || {};
  let mode = "form";
  const status = h("p.muted#" + id + "-status", { role: "status", "aria-live": "polite" });
  const top = h("p.error#" + id + "-error", { role: "alert" });
  const formPanel = h("div.spec-form#" + id + "-form");
  const area = h("textarea.spec#" + id, { rows: 18, wrap: "off", spellcheck: "false", "aria-describedby": id + "-status" });
  const yamlPanel = h("div.spec-yaml", h("label", { for: id }, "Pipeline (YAML or JSON)", area));
  const tab = (name, label) => h("button.tab#" + id + "-tab-" + name, { type: "button", role: "tab", "aria-controls": id + "-panel-" + name,
    onclick: () => show(name), onkeydown: (e) => {
      if (e.key === "ArrowRight" || e.key === "ArrowLeft") { e.preventDefault(); show(name === "form" ? "yaml" : "form", true); }
    } }, label);
  const tabs = { form: tab("form", "Form"), yaml: tab("yaml", "YAML") };
  const panels = {
    form: h("div.tabpanel#" + id + "-panel-form", { role: "tabpanel", "aria-labelledby": id + "-tab-form" }, formPanel),
    yaml: h("div.tabpanel#" + id + "-panel-yaml", { role: "tabpanel", "aria-labelledby": id + "-tab-yaml" }, yamlPanel),
  };

  let timer = 0;
  let seq = 0;
  // The YAML the form's document was shown as: unchanged, it needs no
  // parsing back (even when the document is not valid yet).
  let shown = "";
  let shownDoc = doc;
  // check validates what the active tab holds; from YAML, a valid answer
  // becomes the document the form shows.
  const check = async () => {
    const mine = ++seq;
    const body = value();
    try {
      const r = await call("POST", "/api/v1/pipelines/validate", body);
      // The answer for the text still shown is the document, even when
      // a newer check is on its way.
      if (mode === "yaml" && body.spec_yaml === area.value) doc = r.spec;
      if (mine !== seq) return true;
      placeError("");
      status.className = "ok";
      status.textContent = "Valid: the agent accepts this pipeline.";
      return true;
    } catch (ex) {
      if (mine !== seq) return false;
      status.className = "error";
      status.textContent = ex.message;
      placeError(ex.message);
      return false;
    }
  };
  const changed = () => { clearTimeout(timer); timer = setTimeout(check, 300); };
  area.addEventListener("input", changed);

  // placeError puts the server's message next to the field it names.
  const placeError = (msg) => {
    for (const el of formPanel.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
    for (const el of formPanel.querySelectorAll(".field-error")) el.textContent = "";
    top.textContent = "";
    if (!msg) return;
    const path = errorPath(msg);
    const input = path && formPanel.querySelector(`[data-path="${CSS.escape(path)}"]`);
    if (input && mode === "form") {
      // A path may name a field or a whole item (its fieldset).
      if (input.tagName !== "FIELDSET") input.setAttribute("aria-invalid", "true");
      // Looked up in the panel: an answer may come after the page changed.
      formPanel.querySelector("#" + CSS.escape(input.id + "-err")).textContent = msg;
    } else if (mode === "form") {
      top.textContent = msg;
    }
  };

  const render = () => clear(formPanel, specForm(id, doc, changed, render));

  async function show(name, focus) {
    if (name === mode) return;
    clearTimeout(timer);
    if (name === "yaml") {
      area.value = shown = toYAML(prune(doc)).replace(/^\n/, "") + "\n";
      shownDoc = doc;
    } else if (area.value === shown) {
      doc = shownDoc;
    } else if (!(await check())) {
      // Only a valid answer carries the YAML as JSON; JSON text is read
      // here, other YAML stays in this tab until the server accepts it.
      let j = null;
      try { j = JSON.parse(area.value); } catch (e) { /* YAML, not JSON */ }
      if (!j || typeof j !== "object" || Array.isArray(j)) {
        status.textContent += " The form opens once this document is valid.";
        return;
      }
      doc = j;
    }
    mode = name;
    for (const [n, t] of Object.entries(tabs)) {
      t.setAttribute("aria-selected", String(n === mode));
      panels[n].hidden = n !== mode;
    }
    if (mode === "form") render();
    if (focus) tabs[mode].focus();
    check();
  }

  function value() {
    return mode === "yaml" ? { spec_yaml: area.value } : { spec: prune(doc) };
  }

  render();
  for (const [n, t] of Object.entries(tabs)) {
    t.setAttribute("aria-selected", String(n === mode));
    panels[n].hidden = n !== mode;
  }
  check();
  const el = h("div.spec-editor", h("div.tabs", { role: "tablist", "aria-label": "Edit as" }, tabs.form, tabs.yaml), top, panels.form, panels.yaml, status);
  return { el, value, area, status };
}

// errorPath is the field path a validation message starts with:
// "spec.adapters[0].devices[1].tcp: ..." is adapters[0].devices[1].tcp
// (as is the older "spec.adapters[0]: modbus adapter "l1": devices[1].tcp: ...").
export function errorPath(msg) {
  const parts = msg.replace(/^spec\./, "").split(": ");
  const seg = /^[a-z_]+(\[\d+\])?(\.[a-z_]+(\[\d+\])?)*$/;
  const out = [];
  for (const p of parts.slice(0, -1)) {
    if (/^(modbus|opcua) adapter "[^"]*"$/.test(p)) continue; // the adapter's own prefix
    if (!seg.test(p)) break;
    out.push(p);
  }
  return out[0] === "spec" ? "" : out.join(".");
}

// toYAML writes a JSON value as block YAML; strings are quoted unless
// plainly a word, so they read back as the same strings.
export function toYAML(v, indent = "") {
  if (Array.isArray(v)) {
    if (v.length === 0) return "[]";
    return v.map((x) => {
      const s = toYAML(x, indent + "  ");
      return "\n" + indent + "- " + (isBlock(x) ? s.replace(/^\n\s*/, "") : s);
    }).join("");
  }
  if (v && typeof v === "object") {
    const keys = Object.keys(v);
    if (keys.length === 0) return "{}";
    return keys.map((k) => "\n" + indent + scalar(k) + ":" + (isBlock(v[k]) ? "" : " ") + toYAML(v[k], indent + "  ")).join("");
  }
  return scalar(v);
}

// prune copies a document without the empty maps the form adds (kafka.security
// before anything is set in it), so they do not show up in versions.
function prune(v) {
  if (Array.isArray(v)) return v.map(prune);
  if (!v || typeof v !== "object") return v;
  const out = {};
  for (const [k, x] of Object.entries(v)) {
    const p = prune(x);
    if (p && typeof p === "object" && !Array.isArray(p) && Object.keys(p).length === 0) continue;
    out[k] = p;
  }
  return out;
}

const isBlock = (x) => x !== null && typeof x === "object" && Object.keys(x).length > 0;

function scalar(v) {
  if (typeof v !== "string") return JSON.stringify(v);
  const plain = /^[A-Za-z][A-Za-z0-9_./-]*$/.test(v) && !/^(true|false|yes|no|on|off|y|n|null)$/i.test(v);
  return plain ? v : JSON.stringify(v);
}

// The form ------------------------------------------------------------------

const registers = ["holding_register", "input_register", "coil", "discrete_input"];
const dataTypes = ["float32", "float64", "int16", "uint16", "int32", "uint32", "int64", "uint64", "bool", "string"];

// domID is the element id of the field or item at path.
const domID = (id, path) => id + "-" + path.replace(/[^A-Za-z0-9]+/g, "-").replace(/-$/, "");

// input is one labelled control bound to obj[key]; path is the field path
// the server's errors use. Emptying a field removes its key (the default
// applies).
function input(id, label, obj, key, path, onChange, opts = {}) {
  const fid = domID(id, path);
  const cur = obj[key];
  const attrs = { id: fid, "data-path": path, "aria-describedby": fid + "-err", ...opts.attrs };
  const el = opts.options
    ? h("select", attrs, (opts.blank ? [["", opts.blank]] : []).concat(opts.options.map((o) => [o, o]))
      .map(([v, t]) => h("option", { value: v, selected: String(cur ?? "") === v }, t)))
    : h("input", { type: opts.number ? "number" : "text", value: cur ?? "", ...attrs });
  el.addEventListener(opts.options ? "change" : "input", () => {
    const v = el.value.trim();
    if (v === "") delete obj[key];
    else obj[key] = (opts.number || (opts.bytes && /^\d+$/.test(v))) ? Number(v) : v;
    onChange();
  });
  return h("div.field", h("label", { for: fid }, label, el), h("span.field-error#" + fid + "-err"));
}

// list renders obj[key] (an array) with one fieldset per item and
// add/remove buttons; item(it, path, legendId) builds an item's fields.
function list(id, title, obj, key, path, ctx, blank, item) {
  const arr = obj[key] || [];
  const noun = title.replace(/^[A-Z](?=[a-z])/, (c) => c.toLowerCase());
  const add = h("button.secondary", { type: "button", "data-add": path }, "Add " + noun);
  add.addEventListener("click", () => {
    obj[key] = arr.concat([blank()]);
    ctx.changed();
    ctx.render(`${path}[${arr.length}]`);
  });
  return h("div.form-list", arr.map((it, i) => {
    const p = `${path}[${i}]`;
    const fid = domID(id, p);
    const lid = fid + "-legend";
    const rm = h("button.secondary", { type: "button", "data-remove": p }, `Remove ${noun} ${i + 1}`);
    rm.addEventListener("click", () => {
      arr.splice(i, 1);
      if (arr.length === 0) delete obj[key];
      ctx.changed();
      ctx.render(path);
    });
    return h("fieldset", { "data-path": p, id: fid }, h("legend#" + lid, `${title} ${i + 1}`), h("span.field-error#" + fid + "-err"),
      item(it, p), h("div.actions", rm));
  }), add);
}

function specForm(id, doc, changed, rerender) {
  // ctx.render rebuilds the form and puts focus on the first control of
  // what was added (or the list's add button after a removal).
  const ctx = {
    changed,
    render: (focusPath) => {
      rerender();
      const root = document.getElementById(id + "-form");
      const set = root && root.querySelector(`fieldset[data-path="${CSS.escape(focusPath)}"] input, fieldset[data-path="${CSS.escape(focusPath)}"] select`);
      (set || (root && root.querySelector(`[data-add="${CSS.escape(focusPath)}"]`)) || root)?.focus();
    },
  };
  const f = (label, obj, key, path, opts) => input(id, label, obj, key, path, changed, opts);
  doc.kafka = doc.kafka || {};
  doc.buffer = doc.buffer || {};
  const k = doc.kafka;
  k.security = k.security || {};

  const pollGroups = (dev, p) => list(id, "Poll group", dev, "poll_groups", p + ".poll_groups", ctx, () => ({ name: "", interval: "1s" }),
    (g, gp) => h("div.row", f("Name", g, "name", gp + ".name"), f("Interval", g, "interval", gp + ".interval", { attrs: { placeholder: "1s" } })));
  const modbusDevice = (d, p) => [
    h("div.row", f("Device name", d, "name", p + ".name"), f("TCP address (host:port)", d, "tcp", p + ".tcp", { attrs: { placeholder: "127.0.0.1:502" } })),
    h("h4", "Poll groups"), pollGroups(d, p),
    h("h4", "Tags"), list(id, "Tag", d, "tags", p + ".tags", ctx, () => ({ name: "", register: "holding_register", address: 0, type: "float32" }),
      (t, tp) => h("div.row", f("Tag name", t, "name", tp + ".name"), f("Register", t, "register", tp + ".register", { options: registers }),
        f("Address", t, "address", tp + ".address", { number: true }), f("Type", t, "type", tp + ".type", { options: dataTypes }),
        f("Poll group", t, "poll_group", tp + ".poll_group"))),
  ];
  const opcuaServer = (s, p) => [
    h("div.row", f("Server name", s, "name", p + ".name"), f("Endpoint", s, "endpoint", p + ".endpoint", { attrs: { placeholder: "opc.tcp://127.0.0.1:4840" } })),
    h("h4", "Poll groups"), pollGroups(s, p),
    h("h4", "Tags (nodes)"), list(id, "Node", s, "nodes", p + ".nodes", ctx, () => ({ name: "", node_id: "" }),
      (n, np) => h("div.row", f("Tag name", n, "name", np + ".name"), f("Node id", n, "node_id", np + ".node_id", { attrs: { placeholder: "ns=2;s=Temperature" } }),
        f("Poll group", n, "poll_group", np + ".poll_group"))),
  ];
  const adapter = (a, p) => {
    const opc = a.type === "opcua";
    return [
      h("div.row", f("Protocol", a, "type", p + ".type", { options: ["modbus", "opcua"] }), f("Source name", a, "name", p + ".name")),
      opc ? list(id, "OPC UA server", a, "servers", p + ".servers", ctx, () => ({ name: "", endpoint: "" }), opcuaServer)
        : list(id, "Modbus TCP device", a, "devices", p + ".devices", ctx, () => ({ name: "", tcp: "" }), modbusDevice),
    ];
  };
  const form = h("div",
    h("h3", "Sources"),
    list(id, "Source", doc, "adapters", "adapters", ctx, () => ({ type: "modbus", name: "" }), adapter),
    h("h3", "Kafka output"),
    h("div.row", f("Brokers (host:port, comma-separated)", k, "brokers", "kafka.brokers"),
      f("Telemetry topic", k, "telemetry_topic", "kafka.telemetry_topic"), f("Events topic", k, "events_topic", "kafka.events_topic")),
    h("div.row", f("Security protocol", k.security, "protocol", "kafka.security.protocol",
      { options: ["plaintext", "ssl", "sasl_plaintext", "sasl_ssl"], blank: "default (plaintext)" }),
    f("SASL username", k.security, "username", "kafka.security.username"),
    f("SASL password (a ${secret:name} reference)", k.security, "password", "kafka.security.password",
      { attrs: { placeholder: "${secret:kafka_password}", autocomplete: "off" } }),
    f("SASL mechanism", k.security, "mechanism", "kafka.security.mechanism",
      { options: ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"], blank: "default (SCRAM-SHA-512)" })),
    // Files on the gateway: the agent checks that they exist and parse.
    h("div.row", f("CA file on the gateway (PEM)", k.security, "ca_file", "kafka.security.ca_file",
      { attrs: { placeholder: "/etc/streamforge/kafka-ca.pem" } }),
    f("Client certificate file (mutual TLS)", k.security, "cert_file", "kafka.security.cert_file",
      { attrs: { placeholder: "/etc/streamforge/kafka-client.pem" } }),
    f("Client key file (mutual TLS)", k.security, "key_file", "kafka.security.key_file",
      { attrs: { placeholder: "/etc/streamforge/kafka-client.key" } })),
    h("h3", "Buffer"),
    h("div.row", f("Max bytes", doc.buffer, "max_bytes", "buffer.max_bytes", { bytes: true, attrs: { placeholder: "e.g. 1GiB" } }),
      f("When full", doc.buffer, "default_policy", "buffer.default_policy",
        { options: ["block", "drop_oldest", "drop_newest"], blank: "default" })));
  // A changed protocol swaps devices for servers: rebuild that source.
  form.addEventListener("change", (e) => {
    const m = /^adapters\[(\d+)\]\.type$/.exec(e.target.dataset.path || "");
    if (!m) return;
    const a = doc.adapters[Number(m[1])];
    delete a.devices;
    delete a.servers;
    ctx.render(`adapters[${m[1]}]`);
  });
  return form;
}
