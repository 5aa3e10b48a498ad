// admin.mjs - the admin web pages in a real browser (headless Chromium,
// driven by playwright-core; no downloaded browser: /usr/bin/chromium).
// Run by tests/integration/test_admin.py, which starts gatehoused and
// gatehouse-admin on loopback and passes everything in the environment:
//
//   ADMIN_URL      https://127.62.x.y:PORT
//   HEAD_USER/HEAD_PASS, DSL_USER/DSL_PASS, TECH_USER/TECH_PASS
//   RESOLVER       ADDR:PORT of gatehoused
//   VISITOR        the visitor device's source address (in the visitor segment)
//   NAME, REAL, BLOCK  a name, its real address, the block-page address
//   SHOTS          directory for screenshots
//   PROFILE        a new, empty Chromium user-data directory
//
// Prints "ok STEP" per step; exits 1 with "not ok STEP: why" on the first
// failure.  Every wait is bounded.
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";

const E = process.env;
const STEP_MS = 15000;

function dig(name) {
  const [addr, port] = E.RESOLVER.split(":");
  const out = execFileSync("dig", ["@" + addr, "-p", port, "-b", E.VISITOR, name, "A", "+short",
    "+time=3", "+tries=1", "+nocookie"], { encoding: "utf8", timeout: 10000 });
  return out.trim().split("\n").filter((l) => /^\d+\.\d+\.\d+\.\d+$/.test(l));
}

function check(cond, what) {
  if (!cond) throw new Error(what);
}

async function waitDns(want, what) {
  // The resolver sees a grant within about a second (it polls the store).
  let got = [];
  for (let i = 0; i < 40; i++) {
    got = dig(E.NAME);
    if (got.length === 1 && got[0] === want) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what}: ${E.NAME} from ${E.VISITOR} gave ${JSON.stringify(got)}, want ${want}`);
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(E.SHOTS, name + ".png"), fullPage: true });
}

async function login(page, user, pass) {
  await page.goto(E.ADMIN_URL + "/");
  await page.fill("#login-form input[name=name]", user);
  await page.fill("#login-form input[name=password]", pass);
  await page.click("#login-form button[type=submit]");
}

// A new, empty profile (--user-data-dir): playwright-core passes it itself.
const browser = await chromium.launchPersistentContext(E.PROFILE || mkdtempSync("/tmp/gh-chromium-"), {
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  ignoreHTTPSErrors: true,
  viewport: { width: 414, height: 896 }, // a phone
  timeout: 30000,
});
let step = "start";
try {
  const ctx = browser;
  ctx.setDefaultTimeout(STEP_MS);
  const page = await ctx.newPage();

  step = "wrong password refused";
  await login(page, E.HEAD_USER, "not the password at all");
  await page.waitForSelector("#message:not([hidden])");
  check(/wrong name or password/.test(await page.textContent("#message")), "no refusal shown");
  check(await page.isVisible("#login"), "login form gone after a wrong password");
  await shot(page, "01-login-refused");
  console.log("ok " + step);

  step = "head teacher sees the visitor device";
  check(dig(E.NAME)[0] === E.BLOCK, "before any grant the visitor did not get the block page");
  await login(page, E.HEAD_USER, E.HEAD_PASS);
  await page.waitForSelector(`#visitors .visitor[data-address="${E.VISITOR}"]`);
  const card = page.locator(`#visitors .visitor[data-address="${E.VISITOR}"]`);
  check((await card.textContent()).includes(E.NAME), "the name the visitor tried is not shown");
  check(!(await page.isVisible("nav a[href='#safeguarding']")), "a head teacher sees Safeguarding");
  await shot(page, "02-guest-access");
  console.log("ok " + step);

  step = "a grant needs a reason";
  await card.locator("button[data-duration='1h']").click();
  await page.waitForSelector("#message:not([hidden])");
  check(/reason/i.test(await page.textContent("#message")), "granting without a reason was not stopped");
  console.log("ok " + step);

  step = "grant for one hour";
  await card.locator("input").fill("Visiting speaker, assembly hall");
  await card.locator("button[data-duration='1h']").click();
  await page.waitForSelector(`#visitors .visitor[data-address="${E.VISITOR}"] .granted`);
  await page.waitForSelector("#live-grants .grant");
  await waitDns(E.REAL, "after the grant");
  await shot(page, "03-granted");
  console.log("ok " + step);

  step = "revoke";
  const live = page.locator("#live-grants .grant").first();
  await live.locator("input").fill("Speaker has left");
  await live.locator("button.danger").click();
  await page.waitForSelector("#past-grants .grant");
  await waitDns(E.BLOCK, "after the revocation");
  await shot(page, "04-revoked");
  console.log("ok " + step);

  step = "dispensations page";
  await page.click("nav a[href='#dispensations']");
  await page.waitForSelector("#exemption-form select[name=category] option[value=adult]", { state: "attached" });
  await shot(page, "05-dispensations");
  console.log("ok " + step);

  step = "change without the CSRF token refused";
  const r = await page.evaluate(async () => {
    const x = await fetch("/api/grants", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ kind: "guest", segment: "visitor", duration: "1h", reason: "no token" }) });
    return [x.status, await x.text()];
  });
  check(r[0] === 403 && /CSRF/.test(r[1]), "POST without X-CSRF-Token gave " + r.join(" "));
  console.log("ok " + step);

  step = "log out";
  await page.click("#logout");
  await page.waitForSelector("#login:not([hidden])");
  console.log("ok " + step);

  step = "DSL cannot grant";
  await login(page, E.DSL_USER, E.DSL_PASS);
  await page.waitForSelector("#safeguarding:not([hidden])");
  check(!(await page.isVisible("nav a[href='#guests']")), "a DSL sees Guest access");
  const d = await page.evaluate(async () => {
    const me = await (await fetch("/api/me")).json();
    const x = await fetch("/api/grants", { method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": me.csrf },
      body: JSON.stringify({ kind: "guest", segment: "visitor", duration: "1h", reason: "dsl tries" }) });
    return [x.status, await x.text()];
  });
  check(d[0] === 403, "a DSL's grant gave " + d.join(" "));
  console.log("ok " + step);

  step = "safeguarding report and search";
  await page.locator("#report-days button.day").first().click();
  const frame = page.frameLocator("#report");
  await frame.locator("body").waitFor();
  await page.fill("#search-form input[name=client]", E.VISITOR);
  await page.click("#search-form button[type=submit]");
  await page.waitForSelector("#results table td");
  check((await page.textContent("#results")).includes(E.NAME), "the search does not show the visitor's query");
  await shot(page, "06-safeguarding");
  console.log("ok " + step);

  step = "status page";
  await page.click("#logout");
  await page.waitForSelector("#login:not([hidden])");
  await login(page, E.TECH_USER, E.TECH_PASS);
  await page.click("nav a[href='#status']");
  await page.waitForSelector("#status-body table.status");
  check(/running/.test(await page.textContent("#status-body")), "status does not say running");
  check((await page.textContent("#status-body")).includes("visitor"), "segments not shown");
  await shot(page, "07-status");
  console.log("ok " + step);
} catch (e) {
  console.log(`not ok ${step}: ${e.message.split("\n")[0]}`);
  await browser.close();
  process.exit(1);
}
await browser.close();
