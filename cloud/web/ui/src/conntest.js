// Test connection, on the pipeline page: ask a gateway to connect to one
// device of the pipeline and read one poll group; the request travels
// with the gateway's next config poll, and the result shows here.
import { get, call } from "./api.js";
import { h, clear, field, val, fmtTime, badge, errorBox } from "./dom.js";

// sources lists adapter/device/poll group of a pipeline document: Modbus
// devices and their poll groups, OPC UA servers and their poll groups and
// subscriptions (whose nodes the test reads once).
function sources(spec) {
  const out = [];
  for (const a of (spec && spec.adapters) || []) {
    for (const d of a.devices || a.servers || []) {
      for (const g of [...(d.poll_groups || []), ...(d.subscriptions || [])]) out.push([`${a.name}\u0000${d.name}\u0000${g.name}`, `${a.name} / ${d.name} / ${g.name}`]);
    }
  }
  return out;
}

export function testConnectionForm(p) {
  const opts = sources(p.spec);
  const err = errorBox();
  const out = h("div#conntest-result", { "aria-live": "polite" });
  if (opts.length === 0) return h("section.card", h("h2", "Test connection"), h("p.muted", "The pipeline has no device to test."));
  const form = h("form.card#conntest-form", { "aria-labelledby": "ct-h" }, h("h2#ct-h", "Test connection"),
    h("p.muted", "The gateway connects to the device beside its running data path and reads the poll group once."),
    h("div.row", field("Gateway", { id: "ct-gateway", required: true, placeholder: "gw-01" }), field("Source", { id: "ct-source", options: opts, value: opts[0][0] })),
    err, h("button", { type: "submit" }, "Test connection"), out);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    err.textContent = "";
    const [adapter, device, group] = val(form, "ct-source").split("\u0000");
    try {
      const t = await call("POST", "/api/v1/pipelines/" + encodeURIComponent(p.id) + "/test-connection",
        { gateway_id: val(form, "ct-gateway"), version: p.version, adapter, device, poll_group: group });
      await follow(out, t.id);
    } catch (ex) {
      err.textContent = "Not tested: " + ex.message;
    }
  });
  return form;
}

// follow shows the test's state until the gateway answers (or a few
// minutes pass: an offline gateway takes the test when it is back).
async function follow(out, id) {
  for (let i = 0; i < 180; i++) {
    const t = await get("/api/v1/connection-tests/" + id);
    if (t.status === "done") {
      clear(out, result(t));
      return;
    }
    if (t.status === "expired") {
      clear(out, h("p.muted#conntest-state", "Expired: the gateway did not " + (t.sent_at ? "answer" : "take the test") +
        " within 10 minutes. Ask again when it is online."));
      return;
    }
    clear(out, h("p.muted#conntest-state", t.status === "pending" ? "Waiting for the gateway's next config poll…" : "The gateway is testing…"));
    await new Promise((r) => setTimeout(r, 1000));
  }
  clear(out, h("p.muted", "No answer yet: the gateway may be offline. The result appears under this test's id " + id + " when it answers."));
}

function result(t) {
  const r = t.result || {};
  const head = r.error ? h("p", badge("failed", "bad"), " " + r.error) : h("p", badge("connected", "ok"), ` ${r.values.length} values in ${r.duration_ms} ms, ${fmtTime(r.read_at)}`);
  return h("div#conntest-done", head, (r.values || []).length === 0 ? null : h("div.table-wrap", h("table#conntest-values",
    h("thead", h("tr", h("th", "Tag"), h("th", "Value"), h("th", "Type"), h("th", "Quality"))),
    h("tbody", r.values.map((v) => h("tr", h("td", v.tag), h("td", h("code", JSON.stringify(v.value))), h("td", v.type),
      h("td", badge(v.quality, v.quality === "good" ? "ok" : "bad"))))))));
}
