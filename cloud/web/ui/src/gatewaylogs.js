// Gateway logs: the recent lines a gateway's agent shipped (scrubbed of
// secrets by the agent), newest first, filtered by level and time.
import { get, qs } from "./api.js";
import { h, clear, field, val, fmtTime, badge } from "./dom.js";

const levelKind = { ERROR: "bad", WARN: "warn", INFO: "ok", DEBUG: "" };
const utc = (v) => (v ? new Date(v + "Z").toISOString().replace(/\.\d+Z$/, "Z") : "");

// logsSection is the logs card of a gateway's detail page (for callers
// holding logs:read).
export function logsSection(id) {
  const results = h("div#log-results");
  const form = h("form.card#log-filter", { role: "search", "aria-label": "Filter log lines" }, h("div.row",
    field("Level at least", { id: "lg-level", value: "", options: [["", "all"], ["debug", "debug"], ["info", "info"], ["warn", "warn"], ["error", "error"]] }),
    field("From (UTC)", { id: "lg-from", type: "datetime-local" }),
    field("To (UTC)", { id: "lg-to", type: "datetime-local" }),
    h("button", { type: "submit" }, "Filter")));
  const filter = () => ({ level: val(form, "lg-level"), from: utc(val(form, "lg-from")), to: utc(val(form, "lg-to")) });
  const show = (cursor) => showLines(results, id, filter(), cursor).catch((ex) => clear(results, h("p.error", { role: "alert" }, ex.message)));
  form.addEventListener("submit", (e) => { e.preventDefault(); show(""); });
  show("");
  return h("section#gw-logs", { "aria-labelledby": "lg-h" }, h("h2#lg-h", "Logs"),
    h("p.muted", "The agent's recent log lines, shipped after its heartbeats; times are the gateway's clock."), form, results);
}

async function showLines(box, id, filter, cursor) {
  const page = await get(`/api/v1/gateways/${encodeURIComponent(id)}/logs` + qs({ ...filter, limit: 100, cursor }));
  const table = page.lines.length === 0 ? h("p.muted#log-empty", "No log line matches.") : h("div.table-wrap", h("table#log-lines",
    h("thead", h("tr", h("th", "Time"), h("th", "Level"), h("th", "Message"), h("th", "Details"))),
    h("tbody", page.lines.map((l) => h("tr", { "data-level": l.level },
      h("td", fmtTime(l.time)), h("td", badge(l.level, levelKind[l.level])), h("td", l.message), h("td", h("code", l.attrs || "")))))));
  const older = page.next_cursor ? h("button.secondary#log-older", { type: "button", onclick: () =>
    showLines(box, id, filter, String(page.next_cursor)).catch((ex) => box.append(h("p.error", { role: "alert" }, ex.message))) }, "Older lines") : null;
  clear(box, table, h("nav.pager", { "aria-label": "Log pages" },
    cursor ? h("button.secondary", { type: "button", onclick: () => showLines(box, id, filter, "") }, "Newest lines") : null, older));
}
