// Staged rollouts of a pipeline version: the deploy form (canary, waves,
// failure threshold, apply timeout), the progress of each rollout per
// gateway (refreshed while it runs), and rollback after a confirmation.
import { get, call, can } from "./api.js";
import { h, clear, field, val, fmtTime, badge, errorBox, confirmDialog } from "./dom.js";

const path = (id, rest = "") => "/api/v1/pipelines/" + encodeURIComponent(id) + "/rollouts" + rest;
const statusClass = { applied: "ok", pending: "warn", failed: "bad", waiting: "muted" };
const stateClass = { running: "warn", done: "ok", stopped: "bad", rolling_back: "warn", rolled_back: "muted" };
const refreshMs = 2000;

// rolloutForm starts a staged rollout; onStarted shows the new one.
export function rolloutForm(id, newest, onStarted) {
  const err = errorBox();
  const form = h("form.card#rollout-form", { "aria-labelledby": "pl-ro-h" }, h("h2#pl-ro-h", "Staged rollout"),
    h("p.muted", "A canary first, then waves, each when the previous one has applied. Stops by itself above the failure threshold."),
    h("div.row", field("Version", { id: "ro-version", type: "number", min: 1, max: newest, value: newest, required: true }),
      field("Gateways (comma-separated)", { id: "ro-gateways", placeholder: "gw-01, gw-02" }),
      field("Site", { id: "ro-site" })),
    h("div.row", field("Canary (count or %)", { id: "ro-canary", value: "1", required: true }),
      field("Wave size (count or %)", { id: "ro-wave", placeholder: "empty: the rest at once" }),
      field("Failure threshold (count or %)", { id: "ro-threshold", value: "0", required: true }),
      field("Apply timeout", { id: "ro-timeout", value: "5m", required: true })),
    err, h("button", { type: "submit" }, "Start rollout"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    err.textContent = "";
    const gateways = val(form, "ro-gateways").split(",").map((s) => s.trim()).filter(Boolean);
    const body = { version: Number(val(form, "ro-version")), gateways, site: val(form, "ro-site"),
      canary: val(form, "ro-canary"), failure_threshold: val(form, "ro-threshold"), apply_timeout: val(form, "ro-timeout") };
    if (val(form, "ro-wave")) body.wave = val(form, "ro-wave");
    if (!(await confirmDialog(`Start a staged rollout of ${id} v${body.version}?`, "Start rollout", false))) return;
    try {
      const ro = await call("POST", path(id), body);
      onStarted(ro.id);
    } catch (ex) {
      err.textContent = "Not started: " + ex.message;
    }
  });
  return form;
}

// rollouts lists a pipeline's rollouts and shows one's progress.
export async function rollouts(id) {
  const list = h("div#rollout-list");
  const detail = h("div#rollout-detail");
  const section = h("section#rollouts", h("h2", "Rollouts"), list, detail);
  const show = async (rid) => {
    await progress(id, rid, detail, () => refreshList());
  };
  const refreshList = async () => {
    const ros = (await get(path(id))).rollouts || [];
    clear(list, ros.length === 0 ? h("p.muted", "No rollout yet.") : h("div.table-wrap", h("table#rollouts-table",
      h("thead", h("tr", h("th", "Rollout"), h("th", "Version"), h("th", "State"), h("th", "Applied"), h("th.opt", "Started"), h("th.opt", "By"))),
      h("tbody", ros.map((r) => h("tr", h("td", h("a", { href: "#", "data-rollout": r.id, onclick: (e) => { e.preventDefault(); show(r.id); } }, "#" + r.id)),
        h("td", "v" + r.version), h("td", badge(r.state, stateClass[r.state])),
        h("td", `${r.counts.applied || 0} / ${Object.values(r.counts).reduce((a, b) => a + b, 0)}`),
        h("td.opt", fmtTime(r.created_at)), h("td.opt", r.created_by)))))));
    return ros;
  };
  const ros = await refreshList();
  if (ros.length > 0) await show(ros[0].id);
  section.show = async (rid) => { await refreshList(); await show(rid); };
  return section;
}

// progress renders rollout rid into el and refreshes it while it moves
// (until the element leaves the page).
async function progress(id, rid, el, onChange) {
  const r = await get(path(id, "/" + rid));
  const total = r.gateways.length;
  const applied = r.counts.applied || 0;
  const err = errorBox();
  const rollback = can("configs:deploy") && ["running", "stopped", "done"].includes(r.state)
    ? h("button.danger", { type: "button", "data-action": "rollback", onclick: async () => {
      if (!(await confirmDialog(`Roll back rollout #${rid}? Every gateway it wrote gets what it had before.`, "Roll back", true))) return;
      try {
        await call("POST", path(id, "/" + rid + "/rollback"));
        await onChange();
        await progress(id, rid, el, onChange);
      } catch (ex) {
        err.textContent = "Not rolled back: " + ex.message;
      }
    } }, "Roll back")
    : null;
  clear(el, h("div.card#rollout-progress", { "data-state": r.state },
    h("h3", `Rollout #${r.id}: v${r.version} `, badge(r.state, stateClass[r.state])),
    r.reason ? h("p#rollout-reason", r.reason) : null,
    h("p", h("label", { for: "ro-bar" }, `${applied} of ${total} applied · wave ${r.wave + 1} of ${r.waves} · `,
      `${r.counts.failed || 0} failed (stops above ${r.max_failures})`), h("progress#ro-bar", { max: total, value: applied })),
    h("div.table-wrap", h("table#rollout-gateways",
      h("thead", h("tr", h("th", "Gateway"), h("th", "Wave"), h("th", "Status"), h("th.opt", "Config"), h("th.opt", "Written"))),
      h("tbody", r.gateways.map((g) => h("tr", { "data-gateway": g.gateway_id }, h("td", h("code", g.gateway_id)),
        h("td", g.wave === 0 ? "canary" : String(g.wave)),
        h("td", badge(g.status, statusClass[g.status]), g.rolled_back ? h("span.muted", " (rollback)") : null,
          g.error ? h("span.muted", " " + g.error) : null),
        h("td.opt", g.config_version ? "v" + g.config_version : "—"), h("td.opt", fmtTime(g.deployed_at))))))),
    h("div.actions", rollback, err)));
  if (r.state === "running" || r.state === "rolling_back") {
    setTimeout(async () => {
      if (!el.isConnected) return;
      await progress(id, rid, el, onChange);
      if (r.state !== el.firstChild?.dataset.state) await onChange();
    }, refreshMs);
  }
}
