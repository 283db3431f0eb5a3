// The dashboard: a small single-page app on hash routes. It keeps no token
// in script-readable storage: the session is the __Host- cookie, and the
// CSRF token lives in memory only.
import "uplot/dist/uPlot.min.css";
import "./style.css";
import { session, call, get, can } from "./api.js";
import { h, clear, field, val, errorBox } from "./dom.js";
import { overview } from "./overview.js";
import { gatewayList, reviewQueue, gatewayDetail } from "./gateways.js";
import { tokens } from "./tokens.js";
import { users } from "./users.js";
import { audit } from "./audit.js";
import { alarms } from "./alarms.js";
import { pipelines } from "./pipelines.js"; // pipelines (#12)
import { proposals } from "./proposals.js"; // Copilot proposals (#12)
import { serviceAccounts } from "./serviceaccounts.js"; // service accounts (#12)

const app = document.getElementById("app");
let refreshTimer = 0;
let loginMessage = "";

// Refresh the session a while before it expires (a tenth of its life left,
// at least 30 s before), so a working user is never logged out.
function scheduleRefresh() {
  clearTimeout(refreshTimer);
  const left = session.expiresAt - Date.now();
  if (left <= 0) return;
  const wait = Math.max(1000, left - Math.max(30000, left / 10));
  refreshTimer = setTimeout(async () => {
    try {
      const r = await call("POST", "/api/v1/auth/refresh");
      session.csrf = r.csrf_token;
      session.expiresAt = Date.parse(r.expires_at);
      scheduleRefresh();
    } catch (e) { /* a 401 already sent us to the login page */ }
  }, Math.min(wait, 2 ** 31 - 1));
}

function adopt(me) {
  session.me = me;
  session.csrf = me.csrf_token;
  session.expiresAt = Date.parse(me.expires_at);
  scheduleRefresh();
}

session.onExpired = (msg) => {
  session.me = null;
  clearTimeout(refreshTimer);
  loginMessage = "Your session has ended (" + msg + "). Log in again.";
  location.hash = "#/login";
  route();
};

// Pages: [hash prefix, title, permission needed (null: any user), render].
const pages = [
  ["#/overview", "Overview", "gateways:read", overview],
  ["#/gateways", "Gateways", "gateways:read", gatewayList],
  ["#/alarms", "Alarms", "dashboards:read", alarms],
  ["#/review", "Review queue", "gateways:manage", reviewQueue],
  ["#/pipelines", "Pipelines", "pipelines:read", pipelines], // pipelines (#12)
  ["#/proposals", "Proposals", "pipelines:read", proposals], // Copilot proposals (#12)
  ["#/service-accounts", "Service accounts", "users:manage", serviceAccounts], // service accounts (#12)
  ["#/tokens", "Enrollment tokens", "gateways:manage", tokens],
  ["#/users", "Users", "users:manage", users],
  ["#/audit", "Audit", "audit:read", audit],
  ["#/account", "Account", null, account],
];

function layout(current) {
  const nav = h("nav", { "aria-label": "Main" },
    pages.filter((p) => !p[2] || can(p[2])).map(([href, title]) =>
      h("a", { href, "aria-current": href === current ? "page" : false }, title)));
  const logout = h("button.secondary#logout", { type: "button" }, "Log out");
  logout.addEventListener("click", async () => {
    try { await call("POST", "/api/v1/auth/logout"); } catch (e) { /* gone already */ }
    session.me = null;
    clearTimeout(refreshTimer);
    loginMessage = "You are logged out.";
    location.hash = "#/login";
  });
  const main = h("main#main", { tabindex: "-1" });
  clear(app,
    h("a.skip", { href: "#main", onclick: (e) => { e.preventDefault(); main.focus(); } }, "Skip to content"),
    h("header.top", h("span.brand", "StreamForge"), nav,
      h("span.who", session.me.email + " (" + session.me.roles.join(", ") + ")"), logout),
    main);
  return main;
}

function loginPage() {
  document.title = "Log in · StreamForge";
  const err = errorBox();
  const form = h("form.card.login#login", { "aria-labelledby": "login-h" },
    h("h1#login-h", "StreamForge: log in"),
    loginMessage ? h("p.ok#login-message", { role: "status" }, loginMessage) : null,
    field("Email", { id: "email", type: "email", autocomplete: "username", required: true }),
    field("Password", { id: "password", type: "password", autocomplete: "current-password", required: true }),
    err, h("button", { type: "submit" }, "Log in"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    err.textContent = "";
    try {
      await call("POST", "/api/v1/auth/login", { email: val(form, "email"), password: form.querySelector("#password").value });
      adopt(await get("/api/v1/auth/me"));
      loginMessage = "";
      location.hash = can("gateways:read") ? "#/overview" : "#/account";
      route();
    } catch (ex) {
      err.textContent = ex.message;
    }
  });
  clear(app, h("main#main", form));
  form.querySelector("#email").focus();
}

function account(main) {
  const err = errorBox();
  const ok = h("p.ok", { role: "status" });
  const form = h("form.card#password-form", { "aria-labelledby": "pw-h" },
    h("h2#pw-h", "Change your password"),
    field("Current password", { id: "current_password", type: "password", autocomplete: "current-password", required: true }),
    field("New password (at least 12 characters)", { id: "new_password", type: "password", autocomplete: "new-password", minlength: 12, required: true }),
    err, ok, h("button", { type: "submit" }, "Change password"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    err.textContent = ok.textContent = "";
    try {
      // Every session of the account ends, this one too; the answer is a
      // new session (its cookie is set), whose CSRF token we adopt so the
      // user stays logged in.
      const r = await call("POST", "/api/v1/auth/password", {
        current_password: form.querySelector("#current_password").value, new_password: form.querySelector("#new_password").value });
      session.csrf = r.csrf_token;
      session.expiresAt = Date.parse(r.expires_at);
      scheduleRefresh();
      form.reset();
      ok.textContent = "Your password is changed. Your other sessions have ended.";
    } catch (ex) {
      err.textContent = ex.message;
    }
  });
  const me = session.me;
  main.append(h("h1", "Account"), h("section.card",
    h("dl.kv", h("dt", "Email"), h("dd", me.email), h("dt", "Roles"), h("dd", me.roles.join(", ")),
      h("dt", "Gateway access"), h("dd", (me.gateway_access || []).join(", ") || "none"),
      h("dt", "Session ends"), h("dd#session-ends", new Date(session.expiresAt).toISOString()))), form);
}

async function route() {
  const hash = location.hash || "#/overview";
  if (!session.me) {
    try {
      adopt(await get("/api/v1/auth/me"));
    } catch (e) {
      loginPage();
      return;
    }
  }
  if (hash === "#/login") {
    location.hash = "#/overview";
    return;
  }
  const page = pages.find(([p]) => hash === p || hash.startsWith(p + "/") || hash.startsWith(p + "?"));
  if (!page || (page[2] && !can(page[2]))) {
    const home = pages.find((p) => !p[2] || can(p[2]));
    if (page !== home) {
      location.hash = home[0];
      return;
    }
  }
  const [href, title, , render] = page;
  document.title = title + " · StreamForge";
  const main = layout(href);
  try {
    await render(main, hash.slice(href.length));
  } catch (ex) {
    main.append(h("p.error", { role: "alert" }, ex.message));
  }
}

window.addEventListener("hashchange", route);
route();
