// Audit: filter and page the trail, see each change, export CSV, verify the
// hash chain, and the three compliance reports.
import { get, qs } from "./api.js";
import { csvText } from "./csv.js";
import { h, clear, field, val, fmtTime, badge, errorBox } from "./dom.js";

const columns = ["seq", "timestamp", "event_type", "user", "ip_address", "resource", "resource_id", "action", "result", "reason"];

export function auditTable(records) {
  if (records.length === 0) return h("p.muted", "No audit event matches.");
  return h("div.table-wrap", h("table.audit",
    h("thead", h("tr", h("th", "Time"), h("th", "Event"), h("th", "User"), h("th.opt", "Resource"), h("th", "Result"), h("th", "Detail"))),
    h("tbody", records.map((r) => h("tr", { "data-event": r.event_type },
      h("td", fmtTime(r.timestamp)), h("td", r.event_type), h("td", r.user || "—"),
      h("td.opt", [r.resource, r.resource_id].filter(Boolean).join(" ") || "—"),
      h("td", badge(r.result || "—", r.result === "success" ? "ok" : "bad")),
      h("td", h("details", h("summary", "Show"), h("pre", detail(r)))))))));
}

function detail(r) {
  const lines = [`seq ${r.seq}`, `action ${r.action || "—"}`, `from ${r.ip_address || "—"}`];
  if (r.reason) lines.push("reason: " + r.reason);
  for (const [k, c] of Object.entries(r.changes || {})) lines.push(`${k}: ${JSON.stringify(c.old)} → ${JSON.stringify(c.new)}`);
  lines.push("hash " + r.hash);
  return lines.join("\n");
}

const isoOrEmpty = (v) => (v ? new Date(v).toISOString().replace(/\.\d+Z$/, "Z") : "");

export async function audit(main, rest) {
  const params = new URLSearchParams(rest.replace(/^\?/, ""));
  const filter = { user: params.get("user") || "", event_type: params.get("event_type") || "", resource_id: params.get("resource_id") || "",
    from: params.get("from") || "", to: params.get("to") || "" };
  const local = (v) => (v ? v.replace(/Z$/, "").slice(0, 16) : "");
  const form = h("form.card#audit-filter", { role: "search", "aria-label": "Filter audit events" }, h("div.row",
    field("User email", { id: "au-user", value: filter.user }),
    field("Event type (prefix)", { id: "au-type", value: filter.event_type, placeholder: "e.g. gateway." }),
    field("Resource id", { id: "au-res", value: filter.resource_id }),
    field("From (UTC)", { id: "au-from", type: "datetime-local", value: local(filter.from) }),
    field("To (UTC)", { id: "au-to", type: "datetime-local", value: local(filter.to) }),
    h("button", { type: "submit" }, "Filter")));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const utc = (id) => (val(form, id) ? isoOrEmpty(val(form, id) + "Z") : "");
    location.hash = "#/audit" + qs({ user: val(form, "au-user"), event_type: val(form, "au-type"), resource_id: val(form, "au-res"),
      from: utc("au-from"), to: utc("au-to") });
  });
  const results = h("div#audit-results");
  main.append(h("h1", "Audit"), form, tools(filter), results);
  await showPage(results, filter, "");
  main.append(reports());
}

async function showPage(box, filter, cursor) {
  const page = await get("/api/v1/audit" + qs({ ...filter, limit: 50, cursor }));
  const next = page.next_cursor ? h("button.secondary#audit-next", { type: "button", onclick: async () => {
    try { await showPage(box, filter, String(page.next_cursor)); box.scrollIntoView(); } catch (ex) { box.append(h("p.error", { role: "alert" }, ex.message)); }
  } }, "Older events") : null;
  clear(box, auditTable(page.records), h("nav.pager", { "aria-label": "Audit pages" },
    cursor ? h("button.secondary", { type: "button", onclick: () => showPage(box, filter, "") }, "Newest events") : null, next));
}

function tools(filter) {
  const out = h("p#verify-result", { role: "status" });
  const err = errorBox();
  const verify = h("button#verify-chain", { type: "button", onclick: async () => {
    out.textContent = "Verifying…";
    err.textContent = "";
    try {
      const r = await get("/api/v1/audit/verify");
      out.className = r.ok ? "ok" : "error";
      out.textContent = r.ok ? verifiedText(r) : brokenText(r);
    } catch (ex) {
      out.textContent = "";
      err.textContent = "Verification failed: " + ex.message;
    }
  } }, "Verify chain");
  const csv = h("button.secondary#audit-csv", { type: "button", onclick: async () => {
    err.textContent = "";
    try { await exportCSV(filter); } catch (ex) { err.textContent = "Export failed: " + ex.message; }
  } }, "Export CSV");
  return h("div.actions", verify, csv, out, err);
}

// What each kind of breakage means (docs/audit.md): the chain's own
// checks, then those only the signed checkpoints reveal.
const breakage = {
  malformed_column: "a stored value is malformed",
  hash_mismatch: "a record was edited: its content no longer matches its hash",
  seq_gap: "records were deleted: the sequence has a gap",
  prev_hash_mismatch: "records were reordered, or an earlier record was rewritten",
  head_mismatch: "the chain head disagrees with the last record: the tail was cut, or records were added outside the application",
  checkpoint_signature: "a signed checkpoint does not verify: it was forged or edited",
  checkpoint_mismatch: "the chain was rewritten after it was signed: the record at a checkpoint is not the one signed",
  checkpoint_beyond_head: "records that were signed are gone: the tail was cut or the trail wiped",
  checkpoints_missing: "signed checkpoints were deleted from the database (the anchor outside it still names one)",
};

function verifiedText(r) {
  const head = `The chain verifies: ${r.checked} records, head seq ${r.head.seq}.`;
  if (!r.checkpoints_checked) return head + " No signed checkpoint yet: nothing outside the database anchors it.";
  const last = r.last_checkpoint ? `, the newest at seq ${r.last_checkpoint.seq}` : "";
  return `${head} It holds all ${r.checkpoints_checked} signed checkpoints${last}; records after the newest are protected by the chain alone until the next one.`;
}

function brokenText(r) {
  const what = breakage[r.kind] || r.kind;
  return `The chain is broken at seq ${r.bad_seq}: ${what}. ${r.problem || ""} A security alarm was raised.`;
}

// exportCSV pages through the API with the current filter (up to 20,000
// records) and saves the result; nothing is exported that the API would
// not show.
async function exportCSV(filter) {
  const rows = [columns.concat("changes")];
  let cursor = "";
  for (let i = 0; i < 40; i++) {
    const page = await get("/api/v1/audit" + qs({ ...filter, limit: 500, cursor }));
    for (const r of page.records) rows.push(columns.map((c) => r[c] ?? "").concat(JSON.stringify(r.changes || {})));
    if (!page.next_cursor) break;
    cursor = String(page.next_cursor);
  }
  const blob = new Blob([csvText(rows)], { type: "text/csv" });
  const a = h("a", { href: URL.createObjectURL(blob), download: "streamforge-audit.csv" });
  document.body.append(a);
  a.click();
  a.remove();
}

function reports() {
  const out = h("div#report-out");
  const err = errorBox();
  const show = (title, fn) => async () => {
    err.textContent = "";
    try {
      const r = await fn();
      clear(out, h("h3", title), r);
    } catch (ex) {
      clear(out);
      err.textContent = `${title}: ${ex.message}`;
    }
  };
  const gdprUser = field("User email for the GDPR report", { id: "gdpr-user", type: "email" });
  return h("section.card", { "aria-labelledby": "rp-h" }, h("h2#rp-h", "Compliance reports"),
    gdprUser,
    h("div.actions",
      h("button.secondary#rep-gdpr", { type: "button", onclick: show("GDPR: the user's events of the last 90 days", async () => {
        const r = await get("/api/v1/audit/compliance/gdpr" + qs({ user: gdprUser.querySelector("input").value.trim() }));
        return auditTable(r.records);
      }) }, "GDPR report"),
      h("button.secondary#rep-soc2", { type: "button", onclick: show("SOC 2: configuration changes of the last year", async () => {
        const r = await get("/api/v1/audit/compliance/soc2");
        return auditTable(r.records);
      }) }, "SOC 2 report"),
      h("button.secondary#rep-iso", { type: "button", onclick: show("ISO 27001: users with more than 5 failed logins in 30 days", async () => {
        const r = await get("/api/v1/audit/compliance/iso27001");
        const users = r.users || [];
        return users.length === 0 ? h("p.muted", "No user.") : h("div.table-wrap", h("table", h("thead", h("tr", h("th", "User"), h("th", "Failed logins"))),
          h("tbody", users.map((u) => h("tr", h("td", u.user), h("td", String(u.failed_logins)))))));
      }) }, "ISO 27001 report")),
    err, out);
}
