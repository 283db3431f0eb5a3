// Drives the dashboard in Debian's Chromium as its users do. MODE picks the
// journey (admin, viewer, sessions, pipelines, rollouts); input comes from the environment:
// BASE (the cloud's URL), EMAIL, PASSWORD, SHOTS (screenshot directory),
// GATEWAY (the gateway id the agent enrolls as). The admin journey prints
// "TOKEN <value>" when it has created the enrollment token, so the Go test
// can start the agent with it. Every page is scanned with axe-core at
// desktop and phone width. Exits non-zero on any failure.
import { chromium } from "playwright-core";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const { MODE, BASE, EMAIL, PASSWORD, SHOTS, GATEWAY } = process.env;
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
  ["#/audit", "audit", "#audit-results"], ["#/account", "account", "#password-form"]];

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
      };
    }, GATEWAY);
    for (const [k, v] of Object.entries(answers)) if (v !== 403) problems.push(`viewer ${k}: HTTP ${v}, want 403`);
  }
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

// pipelines (#12): create a pipeline in the editor (a bad document is
// refused as you type, naming the field), save a second version, and
// show the field-level diff between the two.
async function pipelinesJourney() {
  const page = await newPage(desktop);
  await login(page, EMAIL, PASSWORD);
  await visit(page, "#/pipelines", "pipelines", "#pipeline-form");
  await page.fill("#pl-id", "offshore_well_12");
  const bad = "kafka: {brokers: \"127.0.0.1:9092\"}\nadapters:\n  - {type: modbus, name: l1, devices: [{name: d, tcp: \"h:1\", " +
    "poll_groups: [{name: g, interval: 1s}], tags: [{name: t, register: coil, address: -1, type: bool, poll_group: g}]}]}\n";
  await page.fill("#pl-spec", bad);
  await page.locator("#pl-spec-status.error", { hasText: "adapters[0].devices[0].tags[0].address" }).waitFor();
  say("INVALID", await page.locator("#pl-spec-status").textContent());
  await page.fill("#pl-spec", bad.replace("address: -1", "address: 3"));
  await page.locator("#pl-spec-status.ok").waitFor();
  await page.click("#pipeline-form button[type=submit]");
  await page.waitForURL(/#\/pipelines\/offshore_well_12$/);
  await page.locator("#pl-version", { hasText: "v1" }).waitFor();
  await check(page, "pipeline-detail");
  const doc = JSON.parse(await page.inputValue("#pl-edit"));
  doc.adapters[0].devices[0].poll_groups[0].interval = "500ms";
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
  await visit(small, "#/pipelines/offshore_well_12", "pipeline-detail", "#diff-form");
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
  await { admin, viewer, sessions, bench, pipelines: pipelinesJourney, rollouts: rolloutsJourney }[MODE]();
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
