// Enrollment tokens: create (the value is shown once, with the agent's
// settings ready to paste), list, revoke.
import { get, call, qs } from "./api.js";
import { h, clear, field, val, fmtTime, badge, errorBox, confirmDialog } from "./dom.js";

const expiries = [["1h", "1 hour"], ["24h", "24 hours"], ["168h", "7 days"], ["720h", "30 days"], ["2160h", "90 days"]];

export async function tokens(main) {
  const err = errorBox();
  const shown = h("div#token-created");
  const form = h("form.card#token-form", { "aria-labelledby": "tk-h" }, h("h2#tk-h", "Create an enrollment token"),
    h("div.row",
      field("Site (optional)", { id: "tk-site", placeholder: "e.g. Plant North" }),
      field("Expires in", { id: "tk-expiry", options: expiries, value: "24h" }),
      field("Uses", { id: "tk-uses", type: "number", min: 1, max: 100000, value: 1, required: true }),
      field("Gateway id for the agent settings", { id: "tk-gw", value: "gw-01", required: true })),
    err, h("button", { type: "submit" }, "Create token"));
  const list = h("div#token-list");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    err.textContent = "";
    try {
      const t = await call("POST", "/api/v1/enrollment-tokens", {
        site: val(form, "tk-site"), expires_in: val(form, "tk-expiry"), max_uses: Number(val(form, "tk-uses")) });
      clear(shown, created(t, val(form, "tk-gw")));
      shown.querySelector("button").focus();
      await refresh(list);
    } catch (ex) {
      err.textContent = "The token was not created: " + ex.message;
    }
  });
  main.append(h("h1", "Enrollment tokens"), form, shown, h("h2", "Tokens"), list);
  await refresh(list);
}

// created shows the value once: it is not stored in plain text, so it
// cannot be shown again.
function created(t, gatewayID) {
  const env = [`CONTROL_PLANE_URL=${location.origin}`, `CONTROL_PLANE_GATEWAY_ID=${gatewayID}`, `CONTROL_PLANE_ENROLLMENT_TOKEN=${t.token}`].join("\n");
  const status = h("p.ok", { role: "status" });
  const copy = (text) => async () => {
    try {
      await navigator.clipboard.writeText(text);
      status.textContent = "Copied.";
    } catch (e) {
      status.textContent = "Copying is not allowed here: select the text and copy it.";
    }
  };
  return h("section.card.secret", { "aria-labelledby": "new-h" },
    h("h2#new-h", "Token created: copy it now, it is shown only once"),
    h("p", h("code#token-value", t.token)),
    h("div.actions", h("button", { type: "button", onclick: copy(t.token) }, "Copy token")),
    h("p", "Agent settings, ready to paste into the gateway's environment:"),
    h("pre#agent-env", env),
    h("div.actions", h("button.secondary", { type: "button", onclick: copy(env) }, "Copy agent settings")), status);
}

async function refresh(list) {
  const res = await get("/api/v1/enrollment-tokens" + qs({}));
  const ts = res.enrollment_tokens || [];
  if (ts.length === 0) {
    clear(list, h("p.muted", "No enrollment token yet."));
    return;
  }
  const err = errorBox();
  const state = (t) => t.revoked_at ? badge("revoked", "bad") : Date.parse(t.expires_at) < Date.now() ? badge("expired", "bad")
    : t.uses >= t.max_uses ? badge("used up", "warn") : badge("usable", "ok");
  clear(list, err, h("div.table-wrap", h("table#tokens",
    h("thead", h("tr", h("th", "Id"), h("th", "Site"), h("th", "State"), h("th", "Uses"), h("th.opt", "Expires"), h("th.opt", "Created by"), h("th", "Action"))),
    h("tbody", ts.map((t) => h("tr", h("td", h("code", t.id)), h("td", t.site || "—"), h("td", state(t)), h("td", `${t.uses} / ${t.max_uses}`),
      h("td.opt", fmtTime(t.expires_at)), h("td.opt", t.created_by),
      h("td", t.revoked_at ? "—" : h("button.danger", { type: "button", "aria-label": "Revoke token " + t.id, onclick: async () => {
        if (!(await confirmDialog(`Revoke enrollment token ${t.id}? Gateways can no longer enroll with it.`, "Revoke", true))) return;
        try {
          await call("DELETE", "/api/v1/enrollment-tokens/" + encodeURIComponent(t.id));
          await refresh(list);
        } catch (ex) {
          err.textContent = `Revoking ${t.id} failed: ${ex.message}`;
        }
      } }, "Revoke"))))))));
}
