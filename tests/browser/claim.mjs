// Claims a gateway through the cloud's claim page in Debian's Chromium on a
// phone-sized screen, as a field technician would after scanning the QR
// code. Input comes from the environment: CLAIM_URL, EMAIL, PASSWORD, SITE,
// and optionally SCREENSHOT (a PNG path). Exits non-zero on any failure.
import { chromium } from "playwright-core";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const { CLAIM_URL, EMAIL, PASSWORD, SITE, SCREENSHOT } = process.env;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
let failed = false;
try {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const page = await context.newPage();
  const consoleErrors = [];
  page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
  await page.goto(CLAIM_URL);
  await page.locator("#login").waitFor({ state: "visible" });
  await page.fill("#email", EMAIL);
  await page.fill("#password", PASSWORD);
  await page.click("#login button");
  await page.locator("#claim").waitFor({ state: "visible" });
  const ek = await page.locator("#ek").filter({ hasText: /./ }).textContent();
  const gw = await page.inputValue("#gateway_id");
  const code = await page.inputValue("#claim_code");
  if (!gw || !code) throw new Error(`claim form not prefilled from the URL: ${gw} ${code}`);
  await page.fill("#site", SITE);
  await page.click("#claim button");
  await page.locator("#message.ok").waitFor({ timeout: 10000 });
  const message = await page.textContent("#message");
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  if (width > 390) throw new Error(`page is ${width}px wide on a 390px screen`);
  if (SCREENSHOT) await page.screenshot({ path: SCREENSHOT, fullPage: true });
  await page.evaluate(readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8"));
  const axe = await page.evaluate(async () => (await window.axe.run(document)).violations
    .filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => v.id));
  if (axe.length) throw new Error(`axe: ${axe.join(", ")}`);
  const csp = consoleErrors.filter((e) => e.includes("Content Security Policy"));
  if (csp.length) throw new Error(`CSP violations: ${csp.join("; ")}`);
  console.log(JSON.stringify({ gateway: gw, code, message, ek }));
} catch (e) {
  console.error(String(e));
  failed = true;
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
