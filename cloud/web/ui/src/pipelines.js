// Pipelines: the list, the editor (a form or YAML, pipelineform.js, checked
// by the server's validation as you type: the same code the agent runs), version history
// with a field-level diff, and deploy to gateways or a site: staged
// (rollouts.js) or at once.
import { get, call, can } from "./api.js";
import { h, clear, field, val, fmtTime, badge, errorBox, confirmDialog } from "./dom.js";
import { testConnectionForm } from "./conntest.js"; // test connection (#12)
import { rolloutForm, rollouts } from "./rollouts.js";
import { specEditor } from "./pipelineform.js"; // the form and YAML editor (#12)

const path = (id, rest = "") => "/api/v1/pipelines/" + encodeURIComponent(id) + rest;

export async function pipelines(main, rest) {
  const id = decodeURIComponent((rest || "").replace(/^\//, ""));
  if (id) return pipelineDetail(main, id);
  main.append(h("h1", "Pipelines"));
  const list = h("div#pipeline-list");
  if (can("pipelines:create")) main.append(createForm());
  main.append(h("h2", "All pipelines"), list);
  const ps = (await get("/api/v1/pipelines")).pipelines || [];
  if (ps.length === 0) {
    clear(list, h("p.muted", "No pipeline yet."));
    return;
  }
  clear(list, h("div.table-wrap", h("table#pipelines",
    h("thead", h("tr", h("th", "Id"), h("th", "Description"), h("th", "Version"), h("th.opt", "Updated"), h("th.opt", "By"))),
    h("tbody", ps.map((p) => h("tr", h("td", h("a", { href: "#/pipelines/" + encodeURIComponent(p.id) }, p.id)),
      h("td", p.description || "—"), h("td", "v" + p.version), h("td.opt", fmtTime(p.updated_at)), h("td.opt", p.updated_by)))))));
}

function createForm() {
  const err = errorBox();
  const ed = specEditor("pl-spec", {});
  const form = h("form.card#pipeline-form", { "aria-labelledby": "pl-new-h" }, h("h2#pl-new-h", "New pipeline"),
    h("div.row", field("Id", { id: "pl-id", required: true, pattern: "[A-Za-z0-9][A-Za-z0-9_.\\-]{0,127}", placeholder: "e.g. offshore_well_12" }),
      field("Description", { id: "pl-desc" })),
    ed.el, err, h("button", { type: "submit" }, "Create pipeline"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    err.textContent = "";
    try {
      const p = await call("POST", "/api/v1/pipelines", { id: val(form, "pl-id"), description: val(form, "pl-desc"), ...ed.value() });
      location.hash = "#/pipelines/" + encodeURIComponent(p.id);
    } catch (ex) {
      err.textContent = "The pipeline was not created: " + ex.message;
    }
  });
  return form;
}

async function pipelineDetail(main, id) {
  const p = await get(path(id));
  main.append(h("h1", "Pipeline ", h("code", p.id)),
    h("section.card", h("dl.kv", h("dt", "Description"), h("dd", p.description || "—"), h("dt", "Version"), h("dd#pl-version", "v" + p.version),
      h("dt", "Updated"), h("dd", fmtTime(p.updated_at) + " by " + p.updated_by))));
  if (can("pipelines:update")) main.append(editForm(p));
  else main.append(h("h2", "Document"), h("pre#pl-doc", JSON.stringify(p.spec, null, 2)));
  main.append(await history(id, p.version));
  if (can("pipelines:test")) main.append(testConnectionForm(p)); // test connection (#12)
  const ros = await rollouts(id);
  if (can("configs:deploy")) main.append(rolloutForm(id, p.version, (rid) => ros.show(rid)), deployForm(id, p.version));
  main.append(ros, await deployments(id));
  if (can("pipelines:delete")) main.append(deleteButton(id));
}

function editForm(p) {
  const err = errorBox();
  const ed = specEditor("pl-edit", p.spec);
  const form = h("form.card#edit-form", { "aria-labelledby": "pl-edit-h" }, h("h2#pl-edit-h", "Edit (saves a new version)"),
    field("Description", { id: "pl-edit-desc", value: p.description }), ed.el, err, h("button", { type: "submit" }, "Save version"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    err.textContent = "";
    try {
      await call("PUT", path(p.id), { base_version: p.version, description: val(form, "pl-edit-desc"), ...ed.value() });
      location.reload();
    } catch (ex) {
      err.textContent = "Not saved: " + ex.message;
    }
  });
  return form;
}

async function history(id, newest) {
  const vs = (await get(path(id, "/versions"))).versions || [];
  const opts = vs.map((v) => [String(v.version), `v${v.version} (${fmtTime(v.created_at)}, ${v.created_by})`]);
  const out = h("div#diff-result");
  const err = errorBox();
  const form = h("form.card#diff-form", { "aria-labelledby": "pl-hist-h" }, h("h2#pl-hist-h", "Version history"),
    h("div.row", field("From", { id: "diff-from", options: opts, value: String(Math.max(1, newest - 1)) }),
      field("To", { id: "diff-to", options: opts, value: String(newest) })),
    err, h("button", { type: "submit" }, "Show changes"), out);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    err.textContent = "";
    try {
      const d = await get(path(id, `/diff?from=${val(form, "diff-from")}&to=${val(form, "diff-to")}`));
      const show = (v) => (v === null || v === undefined ? "—" : h("code", JSON.stringify(v)));
      clear(out, d.changes.length === 0 ? h("p.muted", "No field differs.") : h("div.table-wrap", h("table#diff",
        h("thead", h("tr", h("th", "Field"), h("th", "v" + d.from), h("th", "v" + d.to))),
        h("tbody", d.changes.map((c) => h("tr", h("td", h("code", c.path)), h("td", show(c.old)), h("td", show(c.new))))))));
    } catch (ex) {
      err.textContent = ex.message;
    }
  });
  return form;
}

function deployForm(id, newest) {
  const err = errorBox();
  const out = h("div#deploy-result");
  const form = h("form.card#deploy-form", { "aria-labelledby": "pl-dep-h" }, h("h2#pl-dep-h", "Deploy at once"),
    h("p.muted", "Writes the version as each gateway's next signed config, all at once."),
    h("div.row", field("Version", { id: "dep-version", type: "number", min: 1, max: newest, value: newest, required: true }),
      field("Gateways (comma-separated)", { id: "dep-gateways", placeholder: "gw-01, gw-02" }),
      field("Site", { id: "dep-site" })),
    err, h("button", { type: "submit" }, "Deploy"), out);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    err.textContent = "";
    const gateways = val(form, "dep-gateways").split(",").map((s) => s.trim()).filter(Boolean);
    if (!(await confirmDialog(`Deploy ${id} v${val(form, "dep-version")}?`, "Deploy", false))) return;
    try {
      const d = await call("POST", path(id, "/deploy"), { version: Number(val(form, "dep-version")), gateways, site: val(form, "dep-site") });
      clear(out, h("ul#deploy-results", d.results.map((r) => h("li", h("code", r.gateway_id), ": ",
        r.error ? badge("not written: " + r.error, "bad") : badge("config v" + r.config_version + " written", "ok")))));
    } catch (ex) {
      err.textContent = "Not deployed: " + ex.message;
    }
  });
  return form;
}

async function deployments(id) {
  const ds = (await get(path(id, "/deployments"))).deployments || [];
  const cls = { applied: "ok", pending: "warn", failed: "bad" };
  return h("section", h("h2", "Deployments"), ds.length === 0 ? h("p.muted", "Not deployed yet.") : h("div.table-wrap", h("table#deployments",
    h("thead", h("tr", h("th", "Gateway"), h("th", "Version"), h("th", "Status"), h("th.opt", "Config"), h("th.opt", "When"), h("th.opt", "By"))),
    h("tbody", ds.map((d) => h("tr", h("td", h("code", d.gateway_id)), h("td", "v" + d.version),
      h("td", badge(d.status, cls[d.status]), d.error ? h("span.muted", " " + d.error) : null),
      h("td.opt", d.config_version ? "v" + d.config_version : "—"), h("td.opt", fmtTime(d.deployed_at)), h("td.opt", d.deployed_by)))))));
}

function deleteButton(id) {
  const err = errorBox();
  const b = h("button.danger", { type: "button", "data-action": "delete-pipeline", onclick: async () => {
    if (!(await confirmDialog(`Delete pipeline ${id} and all its versions? The audit trail keeps them.`, "Delete", true))) return;
    try {
      await call("DELETE", path(id));
      location.hash = "#/pipelines";
    } catch (ex) {
      err.textContent = "Not deleted: " + ex.message;
    }
  } }, "Delete pipeline");
  return h("div.actions", b, err);
}
