// Users: list, create, edit roles and gateway_access, disable, enable,
// delete. The API's guards (not yourself, not the last Admin) answer in
// words next to the button that tried.
import { get, call, session } from "./api.js";
import { h, clear, field, val, badge, errorBox, confirmDialog } from "./dom.js";

const roles = ["Viewer", "Operator", "Engineer", "Admin", "Copilot"];

function rolePicker(prefix, chosen) {
  return h("fieldset", h("legend", "Roles"), roles.map((r) =>
    h("label", { for: `${prefix}-${r}` }, h("input", { type: "checkbox", id: `${prefix}-${r}`, value: r, checked: chosen.includes(r) }), r)));
}

const picked = (el) => [...el.querySelectorAll("fieldset input:checked")].map((i) => i.value);
const accessList = (s) => s.split(",").map((x) => x.trim()).filter(Boolean);

export async function users(main) {
  const err = errorBox();
  const form = h("form.card#user-form", { "aria-labelledby": "nu-h" }, h("h2#nu-h", "Create a user"),
    h("div.row",
      field("Email", { id: "nu-email", type: "email", required: true, autocomplete: "off" }),
      field("Initial password (at least 12 characters)", { id: "nu-password", type: "password", minlength: 12, required: true, autocomplete: "new-password" }),
      field("Gateway access (ids, sites or *, comma-separated)", { id: "nu-access", value: "*" })),
    rolePicker("nu-role", ["Viewer"]), err, h("button", { type: "submit" }, "Create user"));
  const list = h("div#user-list");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    err.textContent = "";
    try {
      await call("POST", "/api/v1/users", { email: val(form, "nu-email"), password: form.querySelector("#nu-password").value,
        roles: picked(form), gateway_access: accessList(val(form, "nu-access")) });
      form.reset();
      await refresh(list);
    } catch (ex) {
      err.textContent = "The user was not created: " + ex.message;
    }
  });
  main.append(h("h1", "Users"), form, h("h2", "Users"), list);
  await refresh(list);
}

async function refresh(list) {
  const res = await get("/api/v1/users");
  clear(list, h("div.table-wrap", h("table#users",
    h("thead", h("tr", h("th", "Email"), h("th", "Roles"), h("th.opt", "Gateway access"), h("th", "State"), h("th", "Actions"))),
    h("tbody", res.users.map((u) => userRow(u, list))))));
}

function userRow(u, list) {
  const err = errorBox();
  const act = (label, question, danger, fn) => h("button" + (danger ? ".danger" : ".secondary"), { type: "button", "aria-label": `${label} ${u.email}`,
    onclick: async () => {
      err.textContent = "";
      if (question && !(await confirmDialog(question, label, danger))) return;
      try {
        await fn();
        await refresh(list);
      } catch (ex) {
        err.textContent = `${label} failed: ${ex.message}`;
      }
    } }, label);
  const path = "/api/v1/users/" + encodeURIComponent(u.email);
  const self = session.me && session.me.email === u.email;
  return h("tr", h("td", u.email, self ? h("span.muted", " (you)") : null), h("td", u.roles.join(", ")),
    h("td.opt", (u.gateway_access || []).join(", ")), h("td", u.disabled ? badge("disabled") : badge("enabled", "ok")),
    h("td", h("div.actions",
      act("Edit", null, false, async () => editForm(u, list, err)),
      u.disabled ? act("Enable", `Enable ${u.email}?`, false, () => call("POST", path + "/enable"))
        : act("Disable", `Disable ${u.email}? Their sessions end at once.`, true, () => call("POST", path + "/disable")),
      act("Delete", `Delete ${u.email}?`, true, () => call("DELETE", path))), err));
}

// editForm opens a dialog to change roles and gateway_access.
function editForm(u, list, rowErr) {
  return new Promise((resolve) => {
    const err = errorBox();
    const form = h("form", { method: "dialog", "aria-labelledby": "ed-h" }, h("h2#ed-h", "Edit " + u.email),
      rolePicker("ed-role", u.roles),
      field("Gateway access (ids, sites or *, comma-separated)", { id: "ed-access", value: (u.gateway_access || []).join(", ") }),
      err, h("div.actions", h("button", { type: "submit" }, "Save"), h("button.secondary#ed-cancel", { type: "button" }, "Cancel")));
    const dlg = h("dialog", form);
    const close = () => { dlg.close(); dlg.remove(); resolve(); };
    form.querySelector("#ed-cancel").addEventListener("click", close);
    dlg.addEventListener("cancel", (e) => { e.preventDefault(); close(); });
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        await call("PATCH", "/api/v1/users/" + encodeURIComponent(u.email), { roles: picked(form), gateway_access: accessList(val(form, "ed-access")) });
        close();
        await refresh(list);
      } catch (ex) {
        err.textContent = "Not saved: " + ex.message;
      }
    });
    rowErr.textContent = "";
    document.body.append(dlg);
    dlg.showModal();
  });
}
