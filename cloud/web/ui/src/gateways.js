// Gateways: the server-paged list, the review queue with TPM evidence, and
// one gateway's detail with its heartbeat plots and audit events.
import { get, call, can, qs } from "./api.js";
import { h, clear, field, fmtTime, ago, badge, errorBox, confirmDialog } from "./dom.js";
import { plot } from "./plot.js";
import { auditTable } from "./audit.js";
import { logsSection } from "./gatewaylogs.js";

const statuses = [["", "any"], ["pending", "pending review"], ["activating", "activating"], ["approved", "approved"],
  ["online", "approved, online"], ["offline", "approved, offline"], ["disabled", "disabled"], ["rejected", "rejected"]];
const sorts = [["id", "id"], ["site", "site"], ["hostname", "hostname"], ["status", "status"],
  ["-last_seen_at", "last heartbeat, newest"], ["last_seen_at", "last heartbeat, oldest"], ["-enrolled_at", "enrolled, newest"]];

// Which actions each status allows (as the API's transitions do).
const actionsFor = {
  pending: ["approve", "reject", "disable"], rejected: ["approve"], approved: ["disable"], disabled: ["enable"], activating: [],
};
const actionWords = {
  approve: ["Approve", "Approve gateway %s? It then gets a token and its config.", false],
  reject: ["Reject", "Reject gateway %s?", true],
  disable: ["Disable", "Disable gateway %s? Its tokens stop working at once.", true],
  enable: ["Enable", "Enable gateway %s again?", false],
  delete: ["Delete", "Delete gateway %s? It must enroll again to come back.", true],
};

export function gatewayList(main, rest) {
  if (rest.startsWith("/")) return gatewayDetail(main, decodeURIComponent(rest.slice(1)));
  const params = new URLSearchParams(rest.replace(/^\?/, ""));
  const form = h("form.card#gw-filter", { role: "search", "aria-label": "Filter gateways" },
    h("div.row",
      field("Search id, site or hostname", { id: "q", type: "search", value: params.get("q") || "" }),
      field("State", { id: "status", options: statuses, value: params.get("status") || "" }),
      field("Sort by", { id: "sort", options: sorts, value: params.get("sort") || "id" }),
      h("button", { type: "submit" }, "Apply")));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const p = { q: form.querySelector("#q").value.trim(), status: form.querySelector("#status").value, sort: form.querySelector("#sort").value };
    location.hash = "#/gateways" + qs(p);
  });
  main.append(h("h1", "Gateways"), form);
  const page = Number(params.get("page") || 1);
  return listInto(main, { q: params.get("q"), status: params.get("status"), sort: params.get("sort"), page, limit: 50 },
    (p) => { params.set("page", p); location.hash = "#/gateways?" + params.toString(); });
}

async function listInto(main, query, goto) {
  const res = await get("/api/v1/gateways" + qs(query));
  const pages = Math.max(1, Math.ceil(res.total / res.limit));
  main.append(h("p.muted#gw-count", `${res.total} gateways match; page ${res.page} of ${pages}.`));
  if (res.gateways.length === 0) {
    main.append(h("p", "No gateway matches."));
    return;
  }
  main.append(h("div.table-wrap", h("table#gateways",
    h("thead", h("tr", h("th", "Gateway"), h("th", "State"), h("th", "Site"), h("th.opt", "Hostname"),
      h("th.opt", "Identity"), h("th", "Last heartbeat"), h("th.opt", "Agent"))),
    h("tbody", res.gateways.map((g) => h("tr",
      h("td", h("a", { href: "#/gateways/" + encodeURIComponent(g.id) }, g.id)),
      h("td", badge(g.status)), h("td", g.site || "—"), h("td.opt", g.hostname || "—"),
      h("td.opt", g.identity_kind, " ", ekBadge(g)), h("td", ago(g.last_seen_at)), h("td.opt", g.agent_version || "—")))))));
  const prev = h("button.secondary", { type: "button", disabled: res.page <= 1, onclick: () => goto(res.page - 1) }, "Previous page");
  const next = h("button.secondary", { type: "button", disabled: res.page >= pages, onclick: () => goto(res.page + 1) }, "Next page");
  main.append(h("nav.pager", { "aria-label": "Pages" }, prev, h("span", `Page ${res.page} of ${pages}`), next));
}

function ekBadge(g) {
  if (g.identity_kind !== "tpm") return badge("software key", "warn");
  return g.ek_verified ? badge("EK verified", "ok") : badge("EK not verified", "bad");
}

function tpmText(g) {
  const t = g.tpm || {};
  return [t.manufacturer, t.model, t.version].filter(Boolean).join(" ") || "unknown";
}

// actionButtons: the admin decisions the gateway's state allows, each
// confirmed first; only for users who may manage gateways.
function actionButtons(g, after) {
  if (!can("gateways:manage")) return null;
  const err = errorBox();
  const buttons = [...(actionsFor[g.status] || []), "delete"].map((a) => {
    const [label, question, danger] = actionWords[a];
    return h("button" + (danger ? ".danger" : ""), {
      type: "button", "data-action": a,
      onclick: async () => {
        err.textContent = "";
        if (!(await confirmDialog(question.replace("%s", g.id), label, danger))) return;
        try {
          const id = encodeURIComponent(g.id);
          if (a === "delete") await call("DELETE", "/api/v1/gateways/" + id);
          else await call("POST", `/api/v1/gateways/${id}/${a}`);
          after(a);
        } catch (ex) {
          err.textContent = `${label} failed: ${ex.message}`;
        }
      },
    }, label);
  });
  return h("div", h("div.actions", buttons), err);
}

export async function reviewQueue(main) {
  main.append(h("h1", "Review queue"), h("p.muted", "Gateways that enrolled and wait for an admin. Check the TPM evidence before approving."));
  const res = await get("/api/v1/gateways" + qs({ status: "pending", sort: "-enrolled_at", limit: 100 }));
  if (res.gateways.length === 0) {
    main.append(h("p#review-empty", "No gateway waits for review."));
    return;
  }
  for (const g of res.gateways) {
    main.append(h("section.card", { "aria-labelledby": "rv-" + g.id },
      h("h2", { id: "rv-" + g.id }, h("a", { href: "#/gateways/" + encodeURIComponent(g.id) }, g.id), " ", ekBadge(g)),
      h("dl.kv",
        h("dt", "Identity"), h("dd", g.identity_kind),
        h("dt", "EK"), h("dd", g.identity_kind === "tpm" ? (g.ek_verified ? "verified against a manufacturer root" : "not verified: " + (g.ek_reason || "no reason given")) : "no TPM (software key)"),
        h("dt", "TPM manufacturer"), h("dd", tpmText(g)),
        h("dt", g.identity_kind === "tpm" ? "EK fingerprint" : "Key fingerprint"), h("dd", h("code", g.identity_fingerprint)),
        h("dt", "Site"), h("dd", g.site || "—"), h("dt", "Hostname"), h("dd", g.hostname || "—"),
        h("dt", "Enrolled"), h("dd", fmtTime(g.enrolled_at))),
      actionButtons(g, () => reviewAgain(main))));
  }
}

function reviewAgain(main) {
  clear(main);
  reviewQueue(main).catch((ex) => main.append(h("p.error", { role: "alert" }, ex.message)));
}

// tlsCertText is the expiry of the step-ca certificate the gateway last
// exchanged for a token on the mTLS listener (the cloud learns it there;
// step-ca does not report what it issues), flagged once the agent should
// have renewed it (at 2/3 of its lifetime).
function tlsCertText(g) {
  if (!g.tls_cert_expires_at) return "not seen yet (the gateway has not used mTLS)";
  const end = Date.parse(g.tls_cert_expires_at);
  const start = Date.parse(g.tls_cert_not_before);
  const text = fmtTime(g.tls_cert_expires_at);
  if (end <= Date.now()) return text + " (expired)";
  if (start + (end - start) * 2 / 3 < Date.now()) return text + " (renewal overdue)";
  return text;
}

export async function gatewayDetail(main, id) {
  const g = await get("/api/v1/gateways/" + encodeURIComponent(id));
  const health = await get(`/api/v1/gateways/${encodeURIComponent(id)}/health?limit=240`);
  const hbs = health.heartbeats.slice().reverse();
  const last = health.heartbeats[0];
  main.append(h("h1", "Gateway ", h("span#gw-id", g.id), " ", badge(g.status)),
    actionButtons(g, (a) => { location.hash = a === "delete" ? "#/gateways" : "#/gateways/" + encodeURIComponent(g.id); if (a !== "delete") { clear(main); gatewayDetail(main, id); } }));
  main.append(h("div.grid2",
    h("section.card", { "aria-labelledby": "id-h" }, h("h2#id-h", "Identity"), h("dl.kv",
      h("dt", "Kind"), h("dd", g.identity_kind),
      h("dt", "EK state"), h("dd#ek-state", g.identity_kind === "tpm" ? (g.ek_verified ? "verified" : "not verified: " + (g.ek_reason || "")) : "no TPM"),
      h("dt", "TPM"), h("dd", tpmText(g)),
      h("dt", "Fingerprint"), h("dd", h("code", g.identity_fingerprint)),
      h("dt", "AK certificate expires"), h("dd#ak-expiry", g.ak_cert_expires_at ? fmtTime(g.ak_cert_expires_at) : "not issued"),
      h("dt", "TLS certificate expires"), h("dd#tls-expiry", tlsCertText(g)),
      h("dt", "Enrolled"), h("dd", fmtTime(g.enrolled_at)),
      h("dt", "Approved"), h("dd", g.approved_at ? `${fmtTime(g.approved_at)} by ${g.approved_by}` : "not yet"),
      h("dt", "Claimed"), h("dd", fmtTime(g.claimed_at)))),
    h("section.card", { "aria-labelledby": "st-h" }, h("h2#st-h", "State"), h("dl.kv",
      h("dt", "Site"), h("dd", g.site || "—"), h("dt", "Hostname"), h("dd", g.hostname || "—"),
      h("dt", "Last heartbeat"), h("dd#last-heartbeat", g.last_seen_at ? `${fmtTime(g.last_seen_at)} (${ago(g.last_seen_at)})` : "never"),
      h("dt", "Reported status"), h("dd", last ? last.status : "—"),
      h("dt", "Agent version"), h("dd", g.agent_version || "—"),
      h("dt", "Config deployed"), h("dd", g.deployed_config_version ? "version " + g.deployed_config_version : "none"),
      h("dt", "Config applied"), h("dd", g.applied_config_version ? "version " + g.applied_config_version : "none")))));
  const times = hbs.map((b) => Date.parse(b.received_at) / 1000);
  main.append(h("section#gw-plots", { "aria-labelledby": "pl-h" }, h("h2#pl-h", `Heartbeats (${hbs.length})`),
    hbs.length === 0 ? h("p.muted", "No heartbeat yet.") : h("div.grid2",
      plot("Readings per second", "readings/s", times, hbs.map((b) => b.readings_per_second), "#0b5cad"),
      plot("Buffer depth", "readings", times, hbs.map((b) => b.buffer_depth), "#a45a00"))));
  const adapters = last ? last.adapters || [] : [];
  main.append(h("section", { "aria-labelledby": "ad-h" }, h("h2#ad-h", "Adapters and devices"),
    adapters.length === 0 ? h("p.muted", "None reported.") : h("div.table-wrap", h("table#adapters",
      h("thead", h("tr", h("th", "Adapter"), h("th", "Device"), h("th", "State"), h("th", "Last error"))),
      h("tbody", adapters.map((a) => h("tr", h("td", a.name), h("td", a.device),
        h("td", a.connected ? badge("connected", "ok") : badge("disconnected", "bad")), h("td", a.last_error || "—"))))))));
  if (can("logs:read")) main.append(logsSection(g.id));
  if (can("audit:read")) {
    const page = await get("/api/v1/audit" + qs({ resource_id: g.id, limit: 50 }));
    main.append(h("section", { "aria-labelledby": "au-h" }, h("h2#au-h", "Audit events about this gateway"), auditTable(page.records)));
  }
}
