// Overview: gateways by state, fleet throughput and backlog, credentials
// that expire soon (gateway tokens; TLS certificates whose renewal is
// overdue), recent security events.
import { get, can, qs } from "./api.js";
import { h, fmtTime, badge } from "./dom.js";
import { plot } from "./plot.js";
import { securityAlarms } from "./alarms.js";

// The security events worth a glance: failed logins, denials, refused
// credentials (bad enrollment or token proofs are audited as failures).
const securityPrefixes = ["authentication.failure", "authorization.denied", "gateway.token.issue", "gateway.enroll"];

export async function overview(main) {
  main.append(h("h1", "Overview"));
  const o = await get("/api/v1/fleet/overview");
  const c = o.counts;
  const stat = (n, label, href, cls) => h("a.stat", { href }, h("div.n", String(n || 0)), h("div.l", badge(label, cls)));
  main.append(h("section", { "aria-labelledby": "st-h" }, h("h2#st-h", "Gateways by state"),
    h("div.grid",
      stat(c.pending, "pending review", "#/gateways?status=pending", "pending"),
      stat(c.online, "approved, online", "#/gateways?status=online", "online"),
      stat(c.offline, `offline (no heartbeat for ${o.offline_after_seconds / 60} min)`, "#/gateways?status=offline", "offline"),
      stat(c.disabled, "disabled", "#/gateways?status=disabled", "disabled"),
      stat(c.rejected, "rejected", "#/gateways?status=rejected", "rejected"))));
  const times = o.series.map((p) => Date.parse(p.time) / 1000);
  main.append(h("section", { "aria-labelledby": "fl-h" }, h("h2#fl-h", "Fleet, last 30 minutes"),
    h("div.grid2",
      plot("Readings per second", "readings/s", times, o.series.map((p) => (p.gateways ? p.readings_per_second : null)), "#0b5cad"),
      plot("Buffer depth", "readings", times, o.series.map((p) => (p.gateways ? p.buffer_depth : null)), "#a45a00"))));
  main.append(h("section", { "aria-labelledby": "ex-h" }, h("h2#ex-h", "Credentials expiring soon"),
    h("p.muted", "Gateway tokens that end within 30 days; TLS certificates still in use past 2/3 of their lifetime, when the agent should have renewed them."),
    o.expiring.length === 0 ? h("p.muted", "None.") :
      h("div.table-wrap", h("table", h("thead", h("tr", h("th", "Gateway"), h("th", "Credential"), h("th", "Expires"))),
        h("tbody", o.expiring.map((e) => h("tr", h("td", h("a", { href: "#/gateways/" + encodeURIComponent(e.gateway_id) }, e.gateway_id)),
          h("td", e.credential), h("td", fmtTime(e.expires_at)))))))));
  if (can("audit:read")) main.append(await securityAlarms(), await securityEvents());
}

async function securityEvents() {
  const pages = await Promise.all(securityPrefixes.map((p) => get("/api/v1/audit" + qs({ event_type: p, limit: 10 }))));
  const recs = pages.flatMap((p) => p.records).filter((r) => r.result !== "success")
    .sort((a, b) => b.seq - a.seq).slice(0, 10);
  return h("section", { "aria-labelledby": "se-h" }, h("h2#se-h", "Recent security events"),
    recs.length === 0 ? h("p.muted", "None.") :
      h("div.table-wrap", h("table#security-events", h("thead", h("tr", h("th", "Time"), h("th", "Event"), h("th", "Who"), h("th.opt", "Reason"))),
        h("tbody", recs.map((r) => h("tr", h("td", fmtTime(r.timestamp)), h("td", r.event_type, " ", badge(r.result, "bad")),
          h("td", r.user || r.ip_address || ""), h("td.opt", r.reason || "")))))),
    h("p", h("a", { href: "#/audit" }, "All audit events")));
}
