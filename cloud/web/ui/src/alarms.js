// Alarms: what the control plane raised from gateways' heartbeats and
// silence, and (for audit readers) security alarms. Operators acknowledge
// active ones; the acknowledgement is audited.
import { get, call, can, qs } from "./api.js";
import { h, clear, field, val, fmtTime, badge, errorBox } from "./dom.js";

const sevClass = { critical: "bad", major: "bad", minor: "warn", warning: "warn" };

// alarmTable lists alarms; onAck (when given) re-renders after an
// acknowledgement.
export function alarmTable(alarms, onAck) {
  if (alarms.length === 0) return h("p.muted", "No alarm matches.");
  return h("div.table-wrap", h("table.alarms",
    h("thead", h("tr", h("th", "Severity"), h("th", "Alarm"), h("th", "Gateway / subject"), h("th.opt", "First seen"),
      h("th.opt", "Last seen"), h("th", "State"), h("th", "Action"))),
    h("tbody", alarms.map((a) => h("tr", { "data-alarm": a.id, "data-kind": a.kind },
      h("td", badge(a.severity, sevClass[a.severity])),
      h("td", h("strong", a.kind.replaceAll("_", " ")), h("div.muted", a.message)),
      h("td", a.gateway_id ? h("a", { href: "#/gateways/" + encodeURIComponent(a.gateway_id) }, a.gateway_id) : null,
        a.subject ? h("div", a.subject) : null),
      h("td.opt", fmtTime(a.first_seen)), h("td.opt", fmtTime(a.last_seen)),
      h("td", badge(a.state),
        a.acknowledged_by ? h("div.muted", "by " + a.acknowledged_by + ", " + fmtTime(a.acknowledged_at)) : null),
      h("td", ackButton(a, onAck)))))));
}

function ackButton(a, onAck) {
  if (a.state !== "active" || !onAck || !can("alarms:ack")) return "—";
  const err = errorBox();
  const btn = h("button.secondary", { type: "button", "aria-label": "Acknowledge alarm " + a.id, onclick: async () => {
    err.textContent = "";
    btn.disabled = true;
    try {
      await call("POST", `/api/v1/alarms/${a.id}/acknowledge`);
      await onAck();
    } catch (ex) {
      btn.disabled = false;
      err.textContent = ex.message;
    }
  } }, "Acknowledge");
  return h("span", btn, err);
}

export async function alarms(main, rest) {
  const params = new URLSearchParams(rest.replace(/^\?/, ""));
  const state = params.get("state") ?? "open";
  const filter = { state: state === "all" ? "" : state, category: params.get("category") || "", severity: params.get("severity") || "",
    gateway_id: params.get("gateway_id") || "" };
  const opts = (list) => list.map((v) => [v, v || "any"]);
  const form = h("form.card#alarm-filter", { role: "search", "aria-label": "Filter alarms" }, h("div.row",
    field("State", { id: "al-state", value: filter.state, options: opts(["open", "active", "acknowledged", "cleared", ""]) }),
    field("Category", { id: "al-cat", value: filter.category, options: opts(["", "operational", "security"]) }),
    field("Severity", { id: "al-sev", value: filter.severity, options: opts(["", "critical", "major", "minor", "warning"]) }),
    field("Gateway id", { id: "al-gw", value: filter.gateway_id }),
    h("button", { type: "submit" }, "Filter")));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    location.hash = "#/alarms" + qs({ state: val(form, "al-state") || "all", category: val(form, "al-cat"),
      severity: val(form, "al-sev"), gateway_id: val(form, "al-gw") });
  });
  const box = h("div#alarm-results");
  main.append(h("h1", "Alarms"), form, box);
  await showAlarms(box, filter, "");
}

async function showAlarms(box, filter, cursor) {
  const page = await get("/api/v1/alarms" + qs({ ...filter, limit: 50, cursor }));
  const next = page.next_cursor ? h("button.secondary#alarms-next", { type: "button",
    onclick: () => showAlarms(box, filter, String(page.next_cursor)) }, "Older alarms") : null;
  clear(box, alarmTable(page.alarms, () => showAlarms(box, filter, cursor)), h("nav.pager", { "aria-label": "Alarm pages" },
    cursor ? h("button.secondary", { type: "button", onclick: () => showAlarms(box, filter, "") }, "Newest alarms") : null, next));
}

// securityAlarms is the overview's section of open security alarms.
export async function securityAlarms() {
  const box = h("div#security-alarms");
  const show = async () => {
    const page = await get("/api/v1/alarms" + qs({ category: "security", state: "open", limit: 10 }));
    clear(box, alarmTable(page.alarms, show));
  };
  await show();
  return h("section", { "aria-labelledby": "sa-h" }, h("h2#sa-h", "Security alarms"), box,
    h("p", h("a", { href: "#/alarms?category=security" }, "All security alarms")));
}
