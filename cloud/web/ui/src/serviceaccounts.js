// Service accounts: non-human users (the Copilot, scripts). An Admin
// creates one and issues it API tokens; a token is shown once, expires,
// and can be revoked at once.
import { get, call } from "./api.js";
import { h, clear, field, val, fmtTime, badge, errorBox, confirmDialog } from "./dom.js";

const roles = [["Copilot", "Copilot (reads topology, proposes changes)"], ["Viewer", "Viewer"], ["Operator", "Operator"], ["Engineer", "Engineer"]];
const expiries = [["24h", "24 hours"], ["168h", "7 days"], ["720h", "30 days"], ["2160h", "90 days"], ["8760h", "1 year"]];
const base = (name, rest = "") => "/api/v1/service-accounts/" + encodeURIComponent(name) + rest;

export async function serviceAccounts(main) {
  const err = errorBox();
  const list = h("div#sa-list");
  const shown = h("div#sa-token-created");
  const form = h("form.card#sa-form", { "aria-labelledby": "sa-h" }, h("h2#sa-h", "Create a service account"),
    h("div.row", field("Name", { id: "sa-name", required: true, pattern: "[a-z0-9][a-z0-9_.\\-]{0,63}", placeholder: "e.g. copilot" }),
      field("Role", { id: "sa-role", options: roles, value: "Copilot" }),
      field("Gateway access (comma-separated, * for all)", { id: "sa-access" }),
      field("Description", { id: "sa-desc" })),
    err, h("button", { type: "submit" }, "Create"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    err.textContent = "";
    try {
      await call("POST", "/api/v1/service-accounts", { name: val(form, "sa-name"), roles: [val(form, "sa-role")], description: val(form, "sa-desc"),
        gateway_access: val(form, "sa-access").split(",").map((s) => s.trim()).filter(Boolean) });
      form.reset();
      await refresh(list, shown);
    } catch (ex) {
      err.textContent = "Not created: " + ex.message;
    }
  });
  main.append(h("h1", "Service accounts"), form, shown, h("h2", "Accounts"), list);
  await refresh(list, shown);
}

async function refresh(list, shown) {
  const as = (await get("/api/v1/service-accounts")).service_accounts || [];
  if (as.length === 0) {
    clear(list, h("p.muted", "No service account yet."));
    return;
  }
  const cards = [];
  for (const a of as) cards.push(await account(a, () => refresh(list, shown), shown));
  clear(list, cards);
}

async function account(a, again, shown) {
  const err = errorBox();
  const ts = (await get(base(a.name, "/tokens"))).tokens || [];
  const state = (t) => t.revoked_at ? badge("revoked", "bad") : Date.parse(t.expires_at) < Date.now() ? badge("expired", "bad") : badge("valid", "ok");
  const revoke = (t) => async () => {
    if (!(await confirmDialog(`Revoke token ${t.prefix} of ${a.name}? It stops working at once.`, "Revoke", true))) return;
    try {
      await call("DELETE", base(a.name, "/tokens/" + t.id));
      await again();
    } catch (ex) {
      err.textContent = "Not revoked: " + ex.message;
    }
  };
  const issue = h("form.row.sa-issue", field("Expires in", { id: "sa-exp-" + a.name, options: expiries, value: "720h" }),
    h("button", { type: "submit" }, "Issue token"));
  issue.addEventListener("submit", async (e) => {
    e.preventDefault();
    err.textContent = "";
    try {
      const t = await call("POST", base(a.name, "/tokens"), { expires_in: val(issue, "sa-exp-" + a.name) });
      clear(shown, created(a, t));
      shown.querySelector("button").focus();
      await again();
    } catch (ex) {
      err.textContent = "Not issued: " + ex.message;
    }
  });
  const del = h("button.danger", { type: "button", onclick: async () => {
    if (!(await confirmDialog(`Delete service account ${a.name}? Its tokens stop working at once.`, "Delete", true))) return;
    try {
      await call("DELETE", base(a.name));
      await again();
    } catch (ex) {
      err.textContent = "Not deleted: " + ex.message;
    }
  } }, "Delete account");
  return h("section.card.service-account", { "data-account": a.name }, h("h3", h("code", a.name), " ", a.roles.join(", ")),
    h("p.muted", `${a.description || "No description"}. Appears in the audit trail as ${a.subject}. Gateway access: ${(a.gateway_access || []).join(", ") || "none"}.`),
    ts.length === 0 ? h("p.muted", "No token.") : h("div.table-wrap", h("table.sa-tokens",
      h("thead", h("tr", h("th", "Prefix"), h("th", "State"), h("th", "Expires"), h("th.opt", "Issued by"), h("th", "Action"))),
      h("tbody", ts.map((t) => h("tr", h("td", h("code", t.prefix)), h("td", state(t)), h("td", fmtTime(t.expires_at)), h("td.opt", t.created_by),
        h("td", t.revoked_at ? "—" : h("button.danger", { type: "button", "aria-label": "Revoke token " + t.prefix, onclick: revoke(t) }, "Revoke"))))))),
    issue, err, h("div.actions", del));
}

// created shows the token once: only its hash is kept.
function created(a, t) {
  const status = h("p.ok", { role: "status" });
  return h("section.card.secret", { "aria-labelledby": "sa-new-h" },
    h("h2#sa-new-h", `Token for ${a.name}: copy it now, it is shown only once`),
    h("p", h("code#sa-token-value", t.token)), h("p.muted", "Send it as: Authorization: Bearer <token>. Expires " + fmtTime(t.expires_at) + "."),
    h("div.actions", h("button", { type: "button", onclick: async () => {
      try {
        await navigator.clipboard.writeText(t.token);
        status.textContent = "Copied.";
      } catch (e) {
        status.textContent = "Copying is not allowed here: select the text and copy it.";
      }
    } }, "Copy token")), status);
}
