// Drives the dashboard in Debian's Chromium as its users do. MODE picks the
// journey (admin, viewer, sessions, tabs, keyboard, alarms, operator, verify, pipelines, copilot, rollouts); input comes from the environment:
// BASE (the cloud's URL), EMAIL, PASSWORD, SHOTS (screenshot directory),
// GATEWAY (the gateway id the agent enrolls as). The admin journey prints
// "TOKEN <value>" when it has created the enrollment token, so the Go test
// can start the agent with it. Every page is scanned with axe-core at
// desktop and phone width. Exits non-zero on any failure.
import { chromium } from "playwright-core";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const { MODE, BASE, EMAIL, PASSWORD, SHOTS, GATEWAY, PIPELINE } = process.env;
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
const desktop = { width: 1280, height: 900 };
const phone = { width: 390, height: 844 };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const problems = [];
const say = (k, v) => console.log(k + " " + (typeof v === "string" ? v : JSON.stringify(v)));

async function newPage(viewport) {
  const context = await browser.newContext({ viewport, isMobile: viewport.width < 500, hasTouch: viewport.width < 500 });
  const page = await context.newPage();
  page.on("console", (m) => { if (m.type() === "error" && !/status of 40[0-9]/.test(m.text())) problems.push("console: " + m.text()); });
  page.on("pageerror", (e) => problems.push("page error: " + e.message));
  return page;
}

async function login(page, email, password) {
  await page.goto(BASE + "/");
  await page.locator("#login").waitFor();
  await page.fill("#email", email);
  await page.fill("#password", password);
  await page.press("#password", "Enter"); // the keyboard alone submits
  await page.locator("header.top").waitFor();
}

// check scans the page with axe-core (serious and critical violations
// fail), checks it fits the screen, and saves a screenshot.
async function check(page, name) {
  await page.waitForLoadState("networkidle");
  await page.evaluate(axeSource);
  const res = await page.evaluate(async () => (await window.axe.run(document, { resultTypes: ["violations"] })).violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")}`));
  const w = page.viewportSize().width;
  for (const v of res) problems.push(`axe on ${name} at ${w}px: ${v}`);
  const sw = await page.evaluate(() => document.documentElement.scrollWidth);
  if (sw > w + 1) problems.push(`${name} is ${sw}px wide on a ${w}px screen`);
  if (SHOTS) await page.screenshot({ path: `${SHOTS}/${name}-${w}.png`, fullPage: true });
}

async function visit(page, hash, name, ready) {
  await page.goto(BASE + "/" + hash);
  await page.locator(ready).first().waitFor({ timeout: 15000 });
  await check(page, name);
}

// until reloads hash until ready appears (a real agent needs a while).
async function until(page, hash, ready, what, seconds = 90) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    // The same URL again is a same-document navigation: reload instead.
    if (page.url() === BASE + "/" + hash) await page.reload();
    else await page.goto(BASE + "/" + hash);
    await page.waitForLoadState("networkidle");
    if (await page.locator(ready).count()) return;
    if (Date.now() > deadline) throw new Error("timed out waiting for " + what);
    await page.waitForTimeout(1000);
  }
}

async function confirm(page, action) {
  await page.locator(`[data-action=${action}]`).first().click();
  const dlg = page.locator("dialog[open]");
  await dlg.waitFor();
  await dlg.locator("button").first().click();
}

const pages = (gw) => [
  ["#/overview", "overview", "#st-h"], ["#/gateways", "gateways", "#gw-count"], ["#/gateways/" + gw, "gateway-detail", "#gw-plots"],
  ["#/review", "review", "main h1"], ["#/tokens", "tokens", "#token-list"], ["#/users", "users", "#users"],
  ["#/audit", "audit", "#audit-results"], ["#/alarms", "alarms", "#alarm-results"], ["#/account", "account", "#password-form"]];

async function admin() {
  const page = await newPage(desktop);
  await login(page, EMAIL, PASSWORD);
  // 1. An enrollment token, shown once with the agent's settings.
  await page.goto(BASE + "/#/tokens");
  await page.fill("#tk-site", "Plant North");
  await page.selectOption("#tk-expiry", "1h");
  await page.fill("#tk-uses", "1");
  await page.fill("#tk-gw", GATEWAY);
  await page.click("#token-form button[type=submit]");
  const token = (await page.locator("#token-value").textContent()).trim();
  const env = await page.locator("#agent-env").textContent();
  if (!env.includes("CONTROL_PLANE_ENROLLMENT_TOKEN=" + token) || !env.includes("CONTROL_PLANE_GATEWAY_ID=" + GATEWAY) || !env.includes("CONTROL_PLANE_URL=" + BASE)) {
    throw new Error("agent settings incomplete: " + env);
  }
  await check(page, "token-created");
  say("TOKEN", token);
  // 2-3. The agent enrolls; the pending gateway shows its EK state; approve.
  await until(page, "#/review", `[id="rv-${GATEWAY}"]`, "the pending gateway in the review queue");
  const card = await page.locator(`section:has([id="rv-${GATEWAY}"])`).textContent();
  if (!/EK verified/.test(card) || !/verified against a manufacturer root/.test(card) || !/EK fingerprint/.test(card)) throw new Error("review card lacks the EK state: " + card);
  await check(page, "review-pending");
  await confirm(page, "approve");
  await page.locator("#review-empty").waitFor();
  // 4. The detail plots its heartbeats.
  await until(page, "#/gateways/" + GATEWAY, "#gw-plots canvas", "heartbeat plots on the gateway detail");
  await until(page, "#/gateways/" + GATEWAY, "#adapters", "adapter states", 30);
  const ek = await page.locator("#ek-state").textContent();
  if (ek !== "verified") throw new Error("detail EK state: " + ek);
  // This gateway talks to the plain listener only (no step-ca here), so
  // the cloud has not seen a TLS certificate of it.
  const tlsExpiry = await page.locator("#tls-expiry").textContent();
  if (!tlsExpiry.startsWith("not seen yet")) throw new Error("detail TLS certificate expiry: " + tlsExpiry);
  // The agent's log lines on the detail, then only those at warn or above.
  await until(page, "#/gateways/" + GATEWAY, "#log-lines tr[data-level]", "the agent's log lines on the detail", 60);
  const levels = () => page.locator("#log-lines tr[data-level]").evaluateAll((rs) => rs.map((r) => r.dataset.level));
  if (!(await levels()).includes("INFO")) problems.push("log lines without INFO: " + (await levels()));
  await page.selectOption("#lg-level", "warn");
  await page.click("#log-filter button[type=submit]");
  await page.waitForFunction(() => document.querySelector("#log-empty") ||
    [...document.querySelectorAll("#log-lines tr[data-level]")].every((r) => r.dataset.level === "WARN" || r.dataset.level === "ERROR"));
  say("LOGS", (await levels()).length + " lines at warn or above");
  // Every page at both widths while the gateway is live (a few more
  // heartbeats first, for the plots): axe, fit, screenshot.
  for (const deadline = Date.now() + 60000; ;) {
    await page.reload();
    await page.locator("#pl-h").waitFor();
    if (Number((await page.locator("#pl-h").textContent()).match(/\d+/)[0]) >= 8) break;
    if (Date.now() > deadline) throw new Error("fewer than 8 heartbeats in 60 s");
    await page.waitForTimeout(1000);
  }
  for (const vp of [desktop, phone]) {
    const p = vp === desktop ? page : await newPage(vp);
    if (vp !== desktop) await login(p, EMAIL, PASSWORD);
    for (const [hash, name, ready] of pages(GATEWAY)) await visit(p, hash, name, ready);
  }
  await page.goto(BASE + "/#/gateways/" + GATEWAY);
  await page.locator("#gw-plots").waitFor();
  // 5. Disable.
  await confirm(page, "disable");
  await page.locator("h1 .badge.disabled").waitFor();
  // 6. Every event on the audit page, and the chain verifies.
  await page.goto(BASE + "/#/audit");
  await page.locator("#audit-results").waitFor();
  for (const ev of ["authentication.success", "enrollment.token.create", "gateway.enroll", "gateway.approve", "gateway.disable"]) {
    if (!(await page.locator(`#audit-results tr[data-event="${ev}"]`).count())) problems.push("audit page lacks " + ev);
  }
  await page.click("#verify-chain");
  await page.locator("#verify-result.ok").waitFor();
  say("VERIFY", await page.locator("#verify-result").textContent());
  await page.fill("#au-type", "gateway.");
  await page.press("#au-type", "Enter");
  await page.locator("#audit-results tr[data-event]").first().waitFor();
  const types = await page.locator("#audit-results tr[data-event]").evaluateAll((rs) => rs.map((r) => r.dataset.event));
  if (!types.length || types.some((t) => !t.startsWith("gateway."))) problems.push("audit filter by type: " + types);
  const [dl] = await Promise.all([page.waitForEvent("download"), page.click("#audit-csv")]);
  const csv = readFileSync(await dl.path(), "utf8");
  if (!csv.startsWith("seq,timestamp,event_type") || !csv.includes("gateway.disable")) problems.push("CSV export: " + csv.slice(0, 200));
  for (const [id, title] of [["#rep-soc2", "SOC 2"], ["#rep-iso", "ISO 27001"]]) {
    await page.click(id);
    await page.locator("#report-out h3", { hasText: title }).waitFor();
  }
  await page.fill("#gdpr-user", EMAIL);
  await page.click("#rep-gdpr");
  await page.locator("#report-out tr[data-event]").first().waitFor();
  // Keyboard alone: Tab reaches the navigation and Enter follows a link.
  await page.goto(BASE + "/#/overview");
  await page.locator("#st-h").waitFor();
  for (let i = 0; i < 12; i++) {
    await page.keyboard.press("Tab");
    if (await page.evaluate(() => document.activeElement && document.activeElement.textContent === "Audit")) break;
  }
  await page.keyboard.press("Enter");
  await page.locator("#audit-results").waitFor();
}

async function viewer() {
  for (const vp of [desktop, phone]) {
    const page = await newPage(vp);
    await login(page, EMAIL, PASSWORD);
    const nav = await page.locator("header nav a").allTextContents();
    for (const hidden of ["Review queue", "Enrollment tokens", "Users", "Audit"]) {
      if (nav.includes(hidden)) problems.push(`viewer sees the ${hidden} link`);
    }
    for (const [hash, name, ready] of [["#/overview", "viewer-overview", "#st-h"], ["#/gateways", "viewer-gateways", "#gw-count"],
      ["#/gateways/" + GATEWAY, "viewer-gateway-detail", "#gw-plots"]]) {
      await visit(page, hash, name, ready);
      if (await page.locator("[data-action], #security-events").count()) problems.push(`viewer is offered admin controls on ${name}`);
      if (await page.locator("#gw-logs").count()) problems.push(`viewer is offered the gateway logs on ${name}`);
    }
    await page.goto(BASE + "/#/users");
    await page.waitForURL(/#\/overview$/);
    // The API refuses direct attempts, whatever the UI offers.
    const answers = await page.evaluate(async (gw) => {
      const csrf = (await (await fetch("/api/v1/auth/me")).json()).csrf_token;
      const post = (p) => fetch(p, { method: "POST", headers: { "X-CSRF-Token": csrf, "Content-Type": "application/json" }, body: "{}" }).then((r) => r.status);
      return {
        approve: await post(`/api/v1/gateways/${gw}/approve`), users: (await fetch("/api/v1/users")).status,
        audit: (await fetch("/api/v1/audit")).status, token: await post("/api/v1/enrollment-tokens"),
        logs: (await fetch(`/api/v1/gateways/${gw}/logs`)).status,
      };
    }, GATEWAY);
    for (const [k, v] of Object.entries(answers)) if (v !== 403) problems.push(`viewer ${k}: HTTP ${v}, want 403`);
  }
}

// alarms: an Admin sees the open security alarms on the overview and
// acknowledges one there; the Alarms page lists it as acknowledged.
async function alarms() {
  const page = await newPage(desktop);
  await login(page, EMAIL, PASSWORD);
  const row = "#security-alarms tr[data-kind=login_failures_account]";
  await until(page, "#/overview", row, "the failed-login alarm on the overview", 30);
  await check(page, "overview-alarms");
  await page.locator(row + " button").click();
  await page.locator(row + " .badge.acknowledged").waitFor();
  say("ACKED", (await page.locator(row).textContent()).replace(/\s+/g, " "));
  for (const vp of [desktop, phone]) {
    const p = vp === desktop ? page : await newPage(vp);
    if (vp !== desktop) await login(p, EMAIL, PASSWORD);
    await visit(p, "#/alarms?category=security&state=all", "alarms-security", "tr[data-kind=login_failures_account] .badge.acknowledged");
  }
}

// operator: an Operator acknowledges an operational alarm of a gateway in
// its gateway_access on the Alarms page (no security alarm, no Audit link
// shown), and reads that gateway's logs card filtered by level.
async function operator() {
  for (const vp of [desktop, phone]) {
    const page = await newPage(vp);
    await login(page, EMAIL, PASSWORD);
    const nav = await page.locator("header nav a").allTextContents();
    if (!nav.includes("Alarms") || nav.includes("Audit")) problems.push(`operator's navigation: ${nav.join(", ")}`);
    const row = `#alarm-results tr[data-kind=gateway_offline]`;
    await visit(page, "#/alarms", "operator-alarms", row);
    if (vp === desktop) {
      await page.locator(row + " button").click();
      await page.locator(row + " .badge.acknowledged").waitFor();
      say("ACKED", (await page.locator(row).textContent()).replace(/\s+/g, " "));
    }
    if (await page.locator("#alarm-results tr[data-kind^=login_failures]").count()) problems.push("operator sees security alarms");
    await visit(page, "#/gateways/" + GATEWAY, "operator-gateway-logs", "#gw-logs #log-lines");
    await page.selectOption("#lg-level", "error");
    const filtered = page.waitForResponse((r) => r.url().includes("/logs?") && r.url().includes("level=error"));
    await page.locator("#log-filter button[type=submit]").click();
    await filtered;
    // The page shows the answer once it has parsed it: wait for the rows
    // to be only errors, and report whatever is there if they never are.
    await page.waitForFunction(() => [...document.querySelectorAll("#log-lines tbody tr")].every((r) => r.dataset.level === "ERROR"),
      null, { timeout: 5000 }).catch(() => {});
    const levels = await page.locator("#log-lines tbody tr").evaluateAll((rows) => rows.map((r) => r.dataset.level));
    if (levels.length === 0 || levels.some((l) => l !== "ERROR")) problems.push(`logs filtered to errors show ${levels.join(",")}`);
    say("LOGS", `${vp.width}px ${levels.length} ${(await page.locator("#log-lines tbody").textContent()).replace(/\s+/g, " ")}`);
  }
}

// verify: an Admin clicks "Verify chain" on the audit page and reads the
// result in words.
async function verify() {
  const page = await newPage(desktop);
  await login(page, EMAIL, PASSWORD);
  await visit(page, "#/audit", "audit-verify", "#audit-results");
  await page.click("#verify-chain");
  await page.locator("#verify-result.ok, #verify-result.error").waitFor();
  say("VERIFY", await page.locator("#verify-result").textContent());
}

async function sessions() {
  const page = await newPage(desktop);
  await page.goto(BASE + "/");
  await page.locator("#login").waitFor();
  await check(page, "login");
  await page.fill("#email", EMAIL);
  await page.fill("#password", "wrong password, twelve+");
  await page.press("#password", "Enter");
  const err = await page.locator("#login .error").filter({ hasText: /./ }).textContent();
  if (!/invalid|password/i.test(err)) problems.push("wrong password message: " + err);
  await login(page, EMAIL, PASSWORD);
  // A cookie request without the CSRF token is refused.
  const noCSRF = await page.evaluate(() => fetch("/api/v1/enrollment-tokens", { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ expires_in: "1h", max_uses: 1 }) }).then(async (r) => [r.status, (await r.json()).error]));
  if (noCSRF[0] !== 403 || !/CSRF/.test(noCSRF[1])) problems.push("cookie request without CSRF: " + noCSRF);
  // The session ends elsewhere (revoked with its own token); the next
  // action lands on the login page with a message.
  const cookie = (await page.context().cookies()).find((c) => c.name === "__Host-streamforge_session");
  const r = await fetch(BASE + "/api/v1/auth/logout", { method: "POST", headers: { Authorization: "Bearer " + cookie.value } });
  if (r.status !== 204) problems.push("revoke: " + r.status);
  await page.click("header nav a:text('Gateways')");
  await page.locator("#login-message").waitFor();
  say("EXPIRED", await page.locator("#login-message").textContent());
  await check(page, "login-expired");
  // The UI refreshes its session before it expires: with the page's clock
  // moved 22 of the session's 24 hours on, it has called refresh, and the
  // new session works.
  const late = await newPage(desktop);
  await late.clock.install();
  await login(late, EMAIL, PASSWORD);
  const refresh = late.waitForResponse((r) => r.url().endsWith("/api/v1/auth/refresh"));
  await late.clock.fastForward("22:00:00");
  const res = await refresh;
  if (res.status() !== 200) problems.push("refresh before expiry: HTTP " + res.status());
  await late.click("header nav a:text('Gateways')");
  await late.locator("#gw-count").waitFor();
  say("REFRESHED", res.status());
}

// tabs: two tabs of one browser share the session cookie. When one tab
// refreshes the session (its timer, or a password change), the cookie
// holds a new session with a new CSRF token; the other tab's next action
// must still work. It failed with "missing or invalid CSRF token".
async function tabs() {
  const context = await browser.newContext({ viewport: desktop });
  const first = await context.newPage();
  await login(first, EMAIL, PASSWORD);
  const second = await context.newPage();
  await second.goto(BASE + "/#/tokens");
  await second.locator("#token-form").waitFor();
  const refreshed = await first.evaluate(async () => {
    const me = await (await fetch("/api/v1/auth/me")).json();
    return (await fetch("/api/v1/auth/refresh", { method: "POST", headers: { "X-CSRF-Token": me.csrf_token } })).status;
  });
  if (refreshed !== 200) throw new Error("refresh in the first tab: HTTP " + refreshed);
  await second.fill("#tk-site", "Plant Two");
  await second.click("#token-form button[type=submit]");
  const done = second.locator("#token-value, #token-form + * .error:not(:empty), p.error:not(:empty)").first();
  await done.waitFor({ timeout: 15000 });
  const id = await done.getAttribute("id");
  if (id !== "token-value") problems.push("the second tab's action after the first tab's refresh: " + (await done.textContent()));
  else say("SECOND-TAB", "token created");
}

// tabTo presses Tab (Shift+Tab when back) until the focused element
// matches sel. Every element that takes focus on the way must show the
// focus ring; a page that traps focus or skips a control fails here.
async function tabTo(page, sel, back = false, max = 120) {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press(back ? "Shift+Tab" : "Tab");
    const st = await page.evaluate((sel) => {
      const a = document.activeElement;
      if (!a || a === document.body) return null;
      const cs = getComputedStyle(a);
      return { match: a.matches(sel), ring: cs.outlineStyle !== "none" && parseFloat(cs.outlineWidth) >= 2,
        desc: a.tagName.toLowerCase() + (a.id ? "#" + a.id : "") + " " + (a.getAttribute("aria-label") || a.textContent || "").trim().slice(0, 40) };
    }, sel);
    if (!st) continue;
    if (!st.ring) problems.push(`no visible focus ring on ${st.desc} (${page.viewportSize().width}px)`);
    if (st.match) return;
  }
  throw new Error(`the keyboard never reaches ${sel} (${page.viewportSize().width}px)`);
}

// typeInto tabs to a field, replaces its value by typing, as a user does.
async function typeInto(page, sel, text) {
  await tabTo(page, sel);
  await page.keyboard.press("ControlOrMeta+a");
  await page.keyboard.type(text);
}

// navKey follows a navigation link with the keyboard alone.
async function navKey(page, href, ready) {
  await page.evaluate(() => document.activeElement && document.activeElement.blur());
  await tabTo(page, `header nav a[href="${href}"]`);
  await page.keyboard.press("Enter");
  await page.locator(ready).first().waitFor();
}

// keyboard: every form of the dashboard filled and sent with the keyboard
// alone, at the width VIEWPORT (desktop or phone): log in, create and
// revoke an enrollment token (the confirmation dialog answered by keys,
// Escape cancels), create a user, edit its roles in the dialog, disable
// it, filter gateways and audit events, change the own password and log
// in with the new one. NEW_PASSWORD is the password the journey sets.
async function keyboard() {
  const vp = process.env.VIEWPORT === "phone" ? phone : desktop;
  const page = await newPage(vp);
  await page.goto(BASE + "/");
  await page.locator("#login").waitFor();
  // The login page puts the focus in its first field.
  if (!(await page.evaluate(() => document.activeElement.id === "email"))) problems.push("login: focus is not on the email field");
  await page.keyboard.type(EMAIL);
  await typeInto(page, "#password", PASSWORD);
  await page.keyboard.press("Enter");
  await page.locator("header.top").waitFor();

  // Skip link first: it moves the focus to the content.
  await page.evaluate(() => document.activeElement && document.activeElement.blur());
  await tabTo(page, "a.skip");
  await page.keyboard.press("Enter");
  if (!(await page.evaluate(() => document.activeElement.id === "main"))) problems.push("skip link does not move the focus to the content");

  // Enrollment token: create, copy, then revoke through the dialog.
  await navKey(page, "#/tokens", "#token-form");
  await typeInto(page, "#tk-site", "Keyboard Plant");
  await tabTo(page, "#tk-expiry");
  await page.keyboard.press("ArrowDown");
  if ((await page.inputValue("#tk-expiry")) === "24h") problems.push("the expiry select does not change with the arrow keys");
  await typeInto(page, "#tk-uses", "3");
  await typeInto(page, "#tk-gw", "gw-keys");
  await tabTo(page, "#token-form button[type=submit]");
  await page.keyboard.press("Enter");
  await page.locator("#token-value").waitFor();
  const tokenID = await page.locator("#tokens tbody tr").first().locator("code").textContent();
  // The focus lands on the copy button, so Enter copies.
  await page.keyboard.press("Enter");
  await page.locator("#token-created [role=status]").filter({ hasText: /./ }).waitFor();
  const revoke = `button[aria-label="Revoke token ${tokenID}"]`;
  await tabTo(page, revoke);
  await page.keyboard.press("Enter");
  await page.locator("dialog[open]").waitFor();
  await page.keyboard.press("Escape"); // cancels
  await page.locator("dialog[open]").waitFor({ state: "detached" });
  const tokenRow = page.locator("#tokens tbody tr", { hasText: tokenID });
  // The list may be drawn again after the dialog closes: wait for the
  // row's badge before reading it.
  const badge = tokenRow.locator(".badge").first();
  await badge.waitFor();
  if ((await badge.textContent()).trim() !== "usable") problems.push("Escape revoked the token");
  await tabTo(page, revoke);
  await page.keyboard.press("Enter");
  await page.locator("dialog[open]").waitFor();
  await tabTo(page, "dialog[open] button.danger", true); // from Cancel back to Revoke
  await page.keyboard.press("Enter");
  await tokenRow.locator(".badge", { hasText: "revoked" }).waitFor();

  // Users: create one, edit its roles in the dialog, disable it.
  const who = `keys-${vp.width}@example.com`;
  await navKey(page, "#/users", "#user-form");
  await typeInto(page, "#nu-email", who);
  await typeInto(page, "#nu-password", "Juniper-quarry-lantern-77");
  await tabTo(page, "#nu-role-Operator");
  await page.keyboard.press("Space");
  await tabTo(page, "#user-form button[type=submit]");
  await page.keyboard.press("Enter");
  const row = page.locator("#users tbody tr", { hasText: who });
  await row.waitFor();
  if (!/Operator/.test(await row.textContent())) problems.push("the created user lacks the role picked with Space");
  await tabTo(page, `button[aria-label="Edit ${who}"]`);
  await page.keyboard.press("Enter");
  await page.locator("dialog[open]").waitFor();
  await tabTo(page, "#ed-role-Engineer");
  await page.keyboard.press("Space");
  await tabTo(page, "dialog[open] button[type=submit]");
  await page.keyboard.press("Enter");
  await page.locator("dialog[open]").waitFor({ state: "detached" });
  await page.locator("#users tbody tr", { hasText: who }).filter({ hasText: "Engineer" }).waitFor();
  await tabTo(page, `button[aria-label="Disable ${who}"]`);
  await page.keyboard.press("Enter");
  await page.locator("dialog[open]").waitFor();
  await tabTo(page, "dialog[open] button.danger", true);
  await page.keyboard.press("Enter");
  await page.locator("#users tbody tr", { hasText: who }).locator(".badge.disabled").waitFor();

  // Gateway search and audit filter: Enter in a field sends the form.
  await navKey(page, "#/gateways", "#gw-filter");
  await typeInto(page, "#q", "keys");
  await page.keyboard.press("Enter");
  await page.waitForURL(/#\/gateways\?.*q=keys/);
  await navKey(page, "#/audit", "#audit-filter");
  await typeInto(page, "#au-type", "user.");
  await page.keyboard.press("Enter");
  // The results are drawn again when the filtered answer comes: wait for
  // it (or the timeout) before reading them.
  await page.waitForFunction(() => {
    const ts = [...document.querySelectorAll("#audit-results tr[data-event]")].map((r) => r.dataset.event);
    return ts.includes("user.create") && ts.every((t) => t.startsWith("user."));
  }, null, { timeout: 10000 }).catch(() => {});
  const types = await page.locator("#audit-results tr[data-event]").evaluateAll((rs) => rs.map((r) => r.dataset.event));
  if (!types.includes("user.create") || types.some((t) => !t.startsWith("user."))) problems.push("audit filter by keyboard: " + types);

  // Own password: changed by keyboard, the session goes on, and the new
  // password logs in.
  const next = process.env.NEW_PASSWORD;
  await navKey(page, "#/account", "#password-form");
  await typeInto(page, "#current_password", PASSWORD);
  await typeInto(page, "#new_password", next);
  await page.keyboard.press("Enter");
  await page.locator("#password-form [role=status]").filter({ hasText: /changed/ }).waitFor();
  await navKey(page, "#/users", "#users");
  await tabTo(page, "#logout");
  await page.keyboard.press("Enter");
  await page.locator("#login-message").waitFor();
  await page.keyboard.type(EMAIL);
  await typeInto(page, "#password", next);
  await page.keyboard.press("Enter");
  await page.locator("header.top").waitFor();
  say("KEYBOARD", vp.width);
}

// bench: ITER loads of the overview (a full page load each time), timed
// from navigation to both fleet plots drawn; prints the times in ms.
async function bench() {
  const page = await newPage(desktop);
  await login(page, EMAIL, PASSWORD);
  const times = [];
  for (let i = 0; i < Number(process.env.ITER || 10); i++) {
    await page.goto("about:blank");
    const start = Date.now();
    await page.goto(BASE + "/#/overview");
    await page.locator("#fl-h").waitFor();
    await page.waitForFunction(() => document.querySelectorAll("figure canvas").length >= 2);
    times.push(Date.now() - start);
  }
  say("TIMES", times);
}

// key focuses sel (when given) and presses the named keys or types text.
async function key(page, sel, ...keys) {
  if (sel) await page.locator(sel).focus();
  for (const k of keys) await (/^(Enter|Tab|ArrowDown|ArrowLeft|Control\+A)$/.test(k) ? page.keyboard.press(k) : page.keyboard.type(k));
}

// pipelines (#12): build a pipeline in the editor's form with the keyboard
// alone (a bad tag address is refused as you type, next to its field),
// switch to YAML and back without losing anything, save it, then save a
// second version from the YAML tab and show the field-level diff.
async function pipelinesJourney() {
  const page = await newPage(desktop);
  await login(page, EMAIL, PASSWORD);
  await visit(page, "#/pipelines", "pipelines", "#pipeline-form");
  const k = (...a) => key(page, ...a);
  const F = "#pl-spec-";
  await k("#pl-id", "offshore_well_12");
  await k(F + "kafka-brokers", "127.0.0.1:9092"); // first: the server reports one error, kafka's before the sources'
  // Each Add button puts the focus on the new item's first field.
  await k('[data-add="adapters"]', "Enter", "Tab", "line1", "Tab", "Enter", "plc1");
  // An error naming a whole item (the device) is shown in its fieldset.
  const devErr = page.locator(F + "adapters-0-devices-0-err", { hasText: "tcp or rtu" });
  await devErr.waitFor();
  say("DEVICE", await devErr.textContent());
  await k(null, "Tab", "127.0.0.1:5020", "Tab", "Enter", "fast");
  await k(null, "Tab", "Tab", "Tab", "Tab", "Enter", "temperature", "Tab", "Tab", "Control+A", "-1", "Tab", "Tab", "fast");
  const addrErr = page.locator(F + "adapters-0-devices-0-tags-0-address-err", { hasText: "adapters[0].devices[0].tags[0].address" });
  await addrErr.waitFor();
  const placed = await page.evaluate(() => {
    const input = document.getElementById("pl-spec-adapters-0-devices-0-tags-0-address");
    const err = document.getElementById(input.id + "-err");
    return input.getAttribute("aria-invalid") === "true" && err.previousElementSibling.contains(input);
  });
  if (!placed) problems.push("the address error is not next to the address field");
  say("INVALID", await page.locator("#pl-spec-status").textContent());
  await k(F + "adapters-0-devices-0-tags-0-address", "Control+A", "3");
  await k(F + "kafka-security-protocol", "ArrowDown", "ArrowDown", "ArrowDown", "ArrowDown"); // sasl_ssl
  // What sasl_ssl lacks is named next to its field.
  await page.locator(F + "kafka-security-username-err", { hasText: "sasl_ssl needs a username" }).waitFor();
  await k(F + "kafka-security-username", "edge");
  await k(F + "kafka-security-password", "hunter2");
  await page.locator(F + "kafka-security-password-err", { hasText: "reference" }).waitFor();
  say("SECRET", await page.locator(F + "kafka-security-password-err").textContent());
  await k(F + "kafka-security-password", "Control+A", "${secret:kafka_pw}");
  // A client certificate without its key: the key's field says so.
  await k(F + "kafka-security-cert-file", "/etc/streamforge/kafka-client.pem");
  await page.locator(F + "kafka-security-key-file-err", { hasText: "go together" }).waitFor();
  say("CLIENTKEY", await page.locator(F + "kafka-security-key-file-err").textContent());
  await k(F + "kafka-security-key-file", "/etc/streamforge/kafka-client.key");
  await k(F + "buffer-max-bytes", "1048576");
  await k(F + "buffer-default-policy", "ArrowDown", "ArrowDown"); // drop_oldest
  await page.locator("#pl-spec-status.ok").waitFor();
  await check(page, "pipeline-form");
  // To YAML and back: the YAML shows every field; an edit there shows in the form.
  await k(F + "tab-yaml", "Enter");
  const yaml = await page.inputValue("#pl-spec");
  for (const want of ["name: temperature", "address: 3", "password: \"${secret:kafka_pw}\"", "protocol: sasl_ssl", "default_policy: drop_oldest", "max_bytes: 1048576",
    "cert_file: \"/etc/streamforge/kafka-client.pem\"", "key_file: \"/etc/streamforge/kafka-client.key\""]) {
    if (!yaml.includes(want)) problems.push("the YAML tab lacks " + want + ":\n" + yaml);
  }
  await page.locator("#pl-spec").focus();
  // YAML that does not parse stays in its tab.
  await page.fill("#pl-spec", "adapters: [");
  await page.locator("#pl-spec-status.error").waitFor();
  await k(F + "tab-yaml", "ArrowLeft");
  await page.locator("#pl-spec-status", { hasText: "The form opens once this document is valid." }).waitFor();
  if (await page.getAttribute(F + "tab-yaml", "aria-selected") !== "true") problems.push("unparsable YAML left its tab");
  await page.fill("#pl-spec", yaml.replace("name: temperature", "name: temperature_c"));
  await page.locator("#pl-spec-status.ok").waitFor();
  await k(F + "tab-yaml", "ArrowLeft");
  await page.locator(F + "adapters-0-devices-0-tags-0-name").waitFor();
  const back = {};
  for (const f of ["adapters-0-name", "adapters-0-devices-0-tcp", "adapters-0-devices-0-poll-groups-0-interval", "adapters-0-devices-0-tags-0-name",
    "adapters-0-devices-0-tags-0-address", "adapters-0-devices-0-tags-0-poll-group", "kafka-security-password", "kafka-security-protocol", "buffer-default-policy"]) {
    back[f] = await page.inputValue(F + f);
  }
  say("FORM", back);
  if (back["adapters-0-devices-0-tags-0-name"] !== "temperature_c" || back["kafka-security-password"] !== "${secret:kafka_pw}" ||
    back["adapters-0-devices-0-tags-0-address"] !== "3" || back["buffer-default-policy"] !== "drop_oldest") problems.push("the form after YAML: " + JSON.stringify(back));
  await k("#pipeline-form button[type=submit]", "Enter");
  await page.waitForURL(/#\/pipelines\/offshore_well_12$/);
  await page.locator("#pl-version", { hasText: "v1" }).waitFor();
  await check(page, "pipeline-detail");
  if (await page.inputValue("#pl-edit-adapters-0-devices-0-tags-0-name") !== "temperature_c") problems.push("the saved version's form lacks the tag");
  const doc = (await page.evaluate(async () => (await fetch("/api/v1/pipelines/offshore_well_12")).json())).spec;
  doc.adapters[0].devices[0].poll_groups[0].interval = "500ms";
  await page.click("#pl-edit-tab-yaml");
  await page.fill("#pl-edit", JSON.stringify(doc, null, 2));
  await page.locator("#pl-edit-status.ok").waitFor();
  await page.click("#edit-form button[type=submit]");
  await page.locator("#pl-version", { hasText: "v2" }).waitFor();
  await page.selectOption("#diff-from", "1");
  await page.selectOption("#diff-to", "2");
  await page.click("#diff-form button[type=submit]");
  const row = page.locator("#diff tbody tr", { hasText: "adapters[0].devices[0].poll_groups[0].interval" });
  await row.waitFor();
  const cells = await row.locator("td").allTextContents();
  if (cells[1] !== '"1s"' || cells[2] !== '"500ms"') problems.push("diff row: " + JSON.stringify(cells));
  say("DIFF", cells);
  await check(page, "pipeline-diff");
  const small = await newPage(phone);
  await login(small, EMAIL, PASSWORD);
  await visit(small, "#/pipelines", "pipelines", "#pipelines");
  // An OPC UA source: its servers have an endpoint and nodes.
  await small.click('[data-add="adapters"]');
  await key(small, "#pl-spec-adapters-0-type", "ArrowDown"); // opcua
  await small.click('[data-add="adapters[0].servers"]');
  await key(small, "#pl-spec-adapters-0-servers-0-endpoint", "opc.tcp://127.0.0.1:4840");
  await small.click('[data-add="adapters[0].servers[0].nodes"]');
  await key(small, "#pl-spec-adapters-0-servers-0-nodes-0-node-id", "ns=2;s=Temperature");
  await key(small, "#pl-spec-tab-yaml", "Enter");
  const opc = await small.inputValue("#pl-spec");
  if (!opc.includes("type: opcua") || !opc.includes('endpoint: "opc.tcp://127.0.0.1:4840"') || !opc.includes('node_id: "ns=2;s=Temperature"')) {
    problems.push("the OPC UA source in YAML:\n" + opc);
  }
  await key(small, "#pl-spec-tab-yaml", "ArrowLeft");
  await small.locator("#pl-spec-adapters-0-servers-0-nodes-0-node-id").waitFor();
  await check(small, "pipeline-form");
  await visit(small, "#/pipelines/offshore_well_12", "pipeline-detail", "#diff-form");
  if (await small.locator("#deploy-form").count()) problems.push("an Engineer is offered deploy");
  // An Admin deploys version 1 to the gateway.
  const adm = await newPage(desktop);
  await login(adm, process.env.ADMIN_EMAIL, process.env.ADMIN_PASSWORD);
  await adm.goto(BASE + "/#/pipelines/offshore_well_12");
  await adm.locator("#deploy-form").waitFor();
  await adm.fill("#dep-version", "1");
  await adm.fill("#dep-gateways", GATEWAY);
  await adm.click("#deploy-form button[type=submit]");
  await adm.locator("dialog[open] button").first().click();
  const result = await adm.locator("#deploy-results li").first().textContent();
  if (!result.includes("config v1 written")) problems.push("deploy result: " + result);
  say("DEPLOYED", result);
  await adm.reload();
  await adm.locator("#deployments tbody tr", { hasText: GATEWAY }).waitFor();
  await check(adm, "pipeline-deployed");
}

// Copilot (#12): an Admin creates the Copilot's service account and issues
// its token (shown once); the Copilot, through the API with that token,
// proposes two changes; an Engineer approves the first and rejects the
// second with a reason in the proposals queue, then tests the pipeline's
// device from the pipeline page; the Admin revokes the token, which the
// API then refuses.
async function copilotJourney() {
  const adm = await newPage(desktop);
  await login(adm, process.env.ADMIN_EMAIL, process.env.ADMIN_PASSWORD);
  await visit(adm, "#/service-accounts", "service-accounts", "#sa-form");
  await adm.fill("#sa-name", "copilot");
  await adm.selectOption("#sa-role", "Copilot");
  await adm.click("#sa-form button[type=submit]");
  await adm.locator("[data-account=copilot] form.sa-issue button[type=submit]").click();
  const token = (await adm.locator("#sa-token-value").textContent()).trim();
  if (!token.startsWith("sfsa_")) problems.push("token shown: " + token);
  await check(adm, "service-accounts");
  const cp = (method, path, body) => fetch(BASE + path, { method, body: body && JSON.stringify(body),
    headers: { Authorization: "Bearer " + token, "Content-Type": "application/json" } });
  const pl = await (await cp("GET", "/api/v1/pipelines/" + PIPELINE)).json();
  const propose = async (interval, rationale) => {
    const spec = structuredClone(pl.spec);
    spec.adapters[0].devices[0].poll_groups[0].interval = interval;
    const r = await cp("POST", "/api/v1/proposals", { pipeline_id: PIPELINE, rationale, spec });
    if (r.status !== 201) throw new Error("propose: " + r.status + " " + (await r.text()));
    return (await r.json()).id;
  };
  const first = await propose("500ms", "The level swings within a second: poll faster.");
  const eng = await newPage(desktop);
  await login(eng, EMAIL, PASSWORD);
  await visit(eng, "#/proposals", "proposals", `[data-proposal="${first}"]`);
  await eng.locator(`[data-proposal="${first}"] [data-action=approve]`).click();
  await eng.locator("dialog[open] button").first().click();
  await eng.locator(`[data-proposal="${first}"]`).waitFor({ state: "detached" });
  const second = await propose("100ms", "Faster still.");
  await eng.reload();
  const card = eng.locator(`[data-proposal="${second}"]`);
  await card.locator("[data-action=reject]").click();
  await card.locator(".error", { hasText: "Say why" }).waitFor();
  await card.locator("input").fill("The PLC cannot answer every 100 ms.");
  await card.locator("[data-action=reject]").click();
  await card.waitFor({ state: "detached" });
  await eng.selectOption("#pr-status", "");
  await eng.locator(`[data-proposal="${second}"]`, { hasText: "The PLC cannot answer every 100 ms." }).waitFor();
  await eng.locator(`[data-proposal="${first}"]`, { hasText: "approved" }).waitFor();
  await check(eng, "proposals-decided");
  const small = await newPage(phone);
  await login(small, EMAIL, PASSWORD);
  await visit(small, "#/proposals", "proposals", "#proposal-filter");
  await eng.goto(BASE + "/#/pipelines/" + PIPELINE);
  await eng.fill("#ct-gateway", GATEWAY);
  await eng.click("#conntest-form button[type=submit]");
  await eng.locator("#conntest-done").waitFor({ timeout: 60000 });
  const result = await eng.locator("#conntest-done").textContent();
  if (!result.includes("connected")) problems.push("test connection: " + result);
  say("CONNTEST", result);
  await check(eng, "pipeline-conntest");
  await adm.reload();
  await adm.locator("[data-account=copilot] button[aria-label^='Revoke token']").click();
  await adm.locator("dialog[open] button").first().click();
  await adm.locator("[data-account=copilot] .badge", { hasText: "revoked" }).waitFor();
  const after = await cp("GET", "/api/v1/pipelines");
  if (after.status !== 401) problems.push("a revoked token still works: " + after.status);
  say("REVOKED", String(after.status));
}

// rollouts (#12): an Admin starts a staged rollout of pipeline line1 from
// its page; the progress view follows it until it stops (the canary
// gateway does not exist), names why, and the rollback button, after its
// confirmation, rolls it back.
async function rolloutsJourney() {
  const page = await newPage(desktop);
  await login(page, EMAIL, PASSWORD);
  await visit(page, "#/pipelines/line1", "pipeline-rollouts", "#rollout-form");
  await page.fill("#ro-gateways", "gw-ghost, gw-other");
  await page.fill("#ro-wave", "50%");
  await page.click("#rollout-form button[type=submit]");
  await page.locator("dialog[open]").waitFor();
  await page.locator("dialog[open] button").first().click();
  await page.locator("#rollout-progress[data-state=stopped]").waitFor({ timeout: 30000 });
  say("REASON", await page.locator("#rollout-reason").textContent());
  say("GHOST", await page.locator("#rollout-gateways tr[data-gateway=gw-ghost] td").nth(2).textContent());
  await check(page, "pipeline-rollout-stopped");
  await confirm(page, "rollback");
  await page.locator("#rollout-progress[data-state=rolled_back]").waitFor({ timeout: 30000 });
  say("STATE", await page.locator("#rollouts-table tbody tr").first().textContent());
  const small = await newPage(phone);
  await login(small, EMAIL, PASSWORD);
  await visit(small, "#/pipelines/line1", "pipeline-rollouts", "#rollout-progress");
}

let failed = false;
try {
  await { admin, viewer, sessions, tabs, keyboard, bench, alarms, operator, verify, pipelines: pipelinesJourney, copilot: copilotJourney, rollouts: rolloutsJourney }[MODE]();
  const csp = problems.filter((p) => p.includes("Content Security Policy"));
  if (csp.length) problems.push(...csp);
  if (problems.length) throw new Error(problems.join("\n"));
  say("OK", MODE);
} catch (e) {
  console.error(String(e.stack || e));
  failed = true;
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
