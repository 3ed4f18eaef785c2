// End-to-end test of the Pulse web console (console/UI.md is the contract).
//
// Starts a real `pulse serve` (fresh SQLite file, free port), drives Debian's
// system Chromium headless with playwright-core through the story of the
// "Environments & Keys" page and of team access (an owner invited with
// `pulse member invite`, members, roles, admin tokens, TOTP), and checks
// what the browser keeps: after every step localStorage is empty,
// sessionStorage holds only the one credential ("pulse.adminToken" for an
// ak_, "pulse.sessionToken" for a member's ses_), there are no cookies or
// IndexedDB databases, and no sk_/rk_/inv_ anywhere. axe-core checks the
// sign-in, invitation, Members, Admin tokens and Security screens (no
// serious or critical violation). The calls the test makes itself (rooms,
// threads, checking a rotated-out key is refused) go over native gRPC with
// the TypeScript client (clients/typescript/dist, `npm run build` there).
//
//     cd console/e2e && npm ci && PULSE_BIN=../../target/debug/pulse npm test
//
// PULSE_SCREENSHOTS=1 also writes docs/console/*.png (1280×800, and the keys
// screen at 390×844). CHROMIUM overrides /usr/bin/chromium.

import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import { mkdtemp, mkdir, readFile, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

import { chromium } from "playwright-core";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, "..", "..");
const PULSE_BIN = path.resolve(process.env.PULSE_BIN ?? path.join(REPO, "target", "debug", "pulse"));
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const SCREENSHOTS = process.env.PULSE_SCREENSHOTS === "1" ? path.join(REPO, "docs", "console") : null;
/**
 * For working on the console without rebuilding the server: the browser gets
 * the console's files from this directory (e.g. ../dist) instead of the ones
 * embedded in the binary, with the server's own headers (CSP and all).
 */
const CONSOLE_DIST = process.env.PULSE_CONSOLE_DIST ? path.resolve(process.env.PULSE_CONSOLE_DIST) : null;
const CLIENT_DIST = path.join(REPO, "clients", "typescript", "dist", "src");

let client;
let nodeTransport;
try {
  client = await import(path.join(CLIENT_DIST, "index.js"));
  ({ nodeTransport } = await import(path.join(CLIENT_DIST, "node.js")));
} catch (err) {
  throw new Error(
    `the TypeScript client is not built (${err.message}); run: cd clients/typescript && npm ci && npm run build`,
  );
}
const { Admin, Backend, Frontend, Code, ConnectError, ApiKeyKind, ApiKeyState, Role, RoomAccess } = client;

/** axe-core's browser build, served to the page from its own origin (the CSP allows only 'self'). */
const AXE_SOURCE = await readFile(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
const AXE_PATH = "/__e2e__/axe.min.js";

const TIMEOUT = 15_000;
/** Any sk_/rk_ at all (storage, URLs: not even a prefix belongs there). */
const SECRET_PATTERN = /\b(sk|rk)_[0-9A-Za-z]/;
/** An invitation token: never in storage, and out of the address bar once read. */
const INVITE_PATTERN = /\binv_[0-9A-Za-z]/;
/** Where the console keeps each kind of credential (sessionStorage). */
const storageKeyFor = (token) => (token.startsWith("ses_") ? "pulse.sessionToken" : "pulse.adminToken");
/** Passwords of the members the story makes (at least 12 characters). */
const OWNER_PASSWORD = "correct horse battery staple";
const OWNER_NEW_PASSWORD = "a longer passphrase for olivia";
const VIEWER_PASSWORD = "viewer passphrase 1234";
/** A whole secret or restricted key (the DOM may show 12-character prefixes). */
const WHOLE_SECRET_PATTERN = /\b(sk|rk)_[0-9A-Za-z]{20,}/;

// ---------------------------------------------------------------------------
// Helpers

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Rejects after `ms` without keeping the process alive. */
const deadlineAfter = (ms, message) =>
  new Promise((_, reject) => setTimeout(() => reject(new Error(message)), ms).unref());

/** Retries `fn` until it stops throwing (the last error after `timeout`). */
async function eventually(fn, timeout = TIMEOUT) {
  const deadline = Date.now() + timeout;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
    await sleep(100);
  }
}

/** The table in `scope` shows exactly one column header `name` (once it has loaded). */
async function hasColumn(scope, name) {
  await eventually(async () =>
    assert.equal(await scope.getByRole("columnheader", { name, exact: true }).count(), 1, name),
  );
}

/** The gRPC code of a rejected call. */
async function rpcCode(promise) {
  try {
    await promise;
  } catch (err) {
    return ConnectError.from(err).code;
  }
  return "OK";
}

async function connectable(host, port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on("error", () => resolve(false));
  });
}

/** RFC 4648 base32 (no padding needed) → bytes. */
function base32Decode(text) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  const out = [];
  let bits = 0;
  let value = 0;
  for (const ch of text.replace(/[\s=]/g, "").toUpperCase()) {
    const index = alphabet.indexOf(ch);
    if (index < 0) throw new Error(`not base32: ${ch}`);
    value = ((value << 5) | index) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** The 30-second step of `ms` (RFC 6238). */
const totpStep = (ms = Date.now()) => Math.floor(ms / 30_000);

/** RFC 6238 TOTP (HMAC-SHA1, 6 digits, 30 s) of a base32 secret at `step`. */
function totp(secret, step = totpStep()) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac("sha1", base32Decode(secret)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 1_000_000).padStart(6, "0");
}

/** `pulse member invite EMAIL --role ROLE --json` on the server's database: its JSON line. */
async function inviteWithCli(email, role) {
  const { stdout } = await promisify(execFile)(PULSE_BIN, [
    "member", "invite", email,
    "--role", role,
    "--json",
    "--database-url", s.databaseUrl,
    "--console-url", `${s.base}/`,
  ]);
  const invite = JSON.parse(stdout.trim().split("\n").pop());
  s.secrets.add(invite.invite_token);
  return invite;
}

// ---------------------------------------------------------------------------
// Shared state of the story

const s = {
  /** Every secret the test saw (admin token aside): never in browser storage. */
  secrets: new Set(),
  pageErrors: [],
  consoleErrors: [],
  foreignRequests: [],
  leakyUrls: [],
};

let failedStep = null;

/** A story step: skipped once an earlier one failed (they build on each other). */
function step(name, fn) {
  test(name, async (t) => {
    if (failedStep) {
      t.skip(`an earlier step failed: ${failedStep}`);
      return;
    }
    try {
      await fn(t);
    } catch (err) {
      failedStep = name;
      if (s.page && s.page.url() !== "about:blank") {
        const file = path.join(s.dir, `failure-${name.replace(/[^a-z0-9]+/gi, "-")}.png`);
        await s.page.screenshot({ path: file, fullPage: true }).catch(() => {});
        t.diagnostic(`screenshot of the failure: ${file}; url ${s.page.url()}`);
      }
      if (s.stderr) t.diagnostic(`server stderr (tail): ${s.stderr.slice(-1500)}`);
      throw err;
    }
  });
}

async function screenshot(name) {
  if (!SCREENSHOTS) return;
  await mkdir(SCREENSHOTS, { recursive: true });
  // Wait out a transient status message from an earlier step ("Renamed to …", shown ~6 s),
  // so each image shows its own screen only.
  const status = s.page.locator("main > [role=status]");
  await eventually(async () => {
    for (const text of await status.allInnerTexts()) assert.equal(text.trim(), "");
  }, 10_000).catch(() => {});
  // Let transitions and fonts settle; caret hidden so images are stable.
  await s.page.evaluate(() => document.fonts?.ready);
  await s.page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), caret: "hide", animations: "disabled" });
}

/**
 * localStorage empty, sessionStorage only the credential (under its key), no
 * cookies, IndexedDB, caches, sk_/rk_/inv_ or other secret the test saw.
 */
async function assertStorageClean({ signedIn, token = s.adminToken, page = s.page, context = s.context }) {
  const seen = await page.evaluate(async () => {
    const dump = (store) => {
      const out = {};
      for (let i = 0; i < store.length; i++) out[store.key(i)] = store.getItem(store.key(i));
      return out;
    };
    const databases = indexedDB.databases ? (await indexedDB.databases()).map((d) => d.name) : [];
    const cacheNames = "caches" in self ? await caches.keys() : [];
    return {
      local: dump(localStorage),
      session: dump(sessionStorage),
      cookie: document.cookie,
      databases,
      cacheNames,
    };
  });
  assert.deepEqual(seen.local, {}, "localStorage must stay empty");
  assert.equal(seen.cookie, "", "document.cookie must stay empty");
  assert.deepEqual(seen.databases, [], "no IndexedDB databases");
  assert.deepEqual(seen.cacheNames, [], "no Cache Storage");
  assert.deepEqual(await context.cookies(), [], "no cookies in the browser context");
  if (signedIn) {
    const key = storageKeyFor(token);
    assert.deepEqual(Object.keys(seen.session), [key], `sessionStorage holds only ${key}`);
    assert.equal(seen.session[key], token);
  } else {
    assert.deepEqual(seen.session, {}, "sessionStorage is empty when signed out");
  }
  const dumped = JSON.stringify(seen);
  assert.doesNotMatch(dumped, SECRET_PATTERN, "no sk_/rk_ value in browser storage");
  assert.doesNotMatch(dumped, INVITE_PATTERN, "no invitation token in browser storage");
  for (const secret of s.secrets) assert.ok(!dumped.includes(secret), "a secret leaked into browser storage");
  assert.ok(!page.url().includes("ak_") && !page.url().includes("ses_"), "no credential in the URL");
  assert.doesNotMatch(page.url(), SECRET_PATTERN, "no secret in the URL");
  assert.doesNotMatch(page.url(), INVITE_PATTERN, "no invitation token left in the URL");
}

/** The credential the console of `page` keeps (sessionStorage). */
async function storedCredential(page = s.page) {
  return page.evaluate(() => sessionStorage.getItem("pulse.sessionToken") ?? sessionStorage.getItem("pulse.adminToken"));
}

/**
 * axe-core on the page as it is: no serious or critical violation. axe is
 * added as a same-origin <script> (answered by a route, so the page's CSP
 * stays as the server sends it).
 */
async function assertAccessible(what, page = s.page) {
  if (!(await page.evaluate(() => typeof window.axe === "object"))) {
    await page.addScriptTag({ url: `${s.base}${AXE_PATH}` });
  }
  const violations = await page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ["violations"] });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ")),
    }));
  });
  const grave = violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(grave, [], `axe: serious or critical violations on ${what}`);
}

/** Opens the sign-in screen's "Use an admin token" option (if it is not open yet). */
async function openTokenSignIn(page = s.page) {
  const toggle = page.getByRole("button", { name: "Use an admin token", exact: true });
  if ((await toggle.getAttribute("aria-expanded")) !== "true") await toggle.click();
  await page.getByLabel("Admin token", { exact: true }).waitFor();
}

/** The banner's "who is signed in" (email or "Admin token", and the role). */
async function signedInAs(page = s.page) {
  return (await page.getByRole("banner").getByTestId("signed-in-as").textContent()).replace(/\s+/g, " ").trim();
}

/** Page errors and console errors of `page` go to the story's lists (checked at the end). */
function watch(page) {
  page.on("pageerror", (err) => s.pageErrors.push(String(err)));
  page.on("console", (msg) => {
    if (msg.type() === "error") s.consoleErrors.push(msg.text());
  });
  page.on("request", (request) => {
    const url = request.url();
    if (!url.startsWith(`${s.base}/`) && !url.startsWith("data:")) s.foreignRequests.push(url);
    if (url.includes("ak_") || url.includes("ses_") || SECRET_PATTERN.test(url)) s.leakyUrls.push(url);
  });
}

/** A browser context like the story's first one (and axe served in it). */
async function newContext() {
  const context = await s.browser.newContext({
    baseURL: s.base,
    viewport: { width: 1280, height: 800 },
    deviceScaleFactor: 1,
    locale: "en-US",
    timezoneId: "UTC",
    colorScheme: "light",
    permissions: ["clipboard-read", "clipboard-write"],
  });
  context.setDefaultTimeout(TIMEOUT);
  await context.route(`${s.base}${AXE_PATH}`, (route) =>
    route.fulfill({ status: 200, contentType: "text/javascript; charset=utf-8", body: AXE_SOURCE }),
  );
  if (CONSOLE_DIST) {
    await context.route(/\/(index\.html|app\.js|app\.css|favicon\.svg)?(\?.*)?$/, async (route) => {
      const url = new URL(route.request().url());
      if (url.origin !== s.base) return route.continue();
      const headers = { ...route.request().headers() };
      delete headers["if-none-match"];
      const response = await route.fetch({ headers });
      const served = { ...response.headers() };
      delete served["etag"];
      delete served["content-length"];
      const name = url.pathname.slice(1) || "index.html";
      await route.fulfill({ status: 200, headers: served, body: await readFile(path.join(CONSOLE_DIST, name)) });
    });
  }
  return context;
}

const main = () => s.page.getByRole("main");
const nav = () => s.page.getByRole("navigation", { name: "Sections" });
const envSelect = () => s.page.getByRole("banner").getByRole("combobox", { name: "Environment" });
const dialog = (name) => s.page.getByRole("dialog", { name, exact: true });
const h1 = (name) => main().getByRole("heading", { level: 1, name, exact: true });
/** The first table after the h2 named `heading`. */
const sectionTable = (heading) =>
  main().locator(`xpath=.//h2[normalize-space()="${heading}"]/following::table[1]`);
const alertWith = (text) => s.page.getByRole("alert").filter({ hasText: text });

async function goTo(section) {
  await nav().getByRole("link", { name: section, exact: true }).click();
  await h1(section).waitFor();
}

async function selectedEnvironmentName() {
  return envSelect().evaluate((select) => select.selectedOptions[0]?.textContent.trim());
}

function hashParams() {
  const hash = new URL(s.page.url()).hash; // "#/keys?env=env_…"
  const query = hash.includes("?") ? hash.slice(hash.indexOf("?") + 1) : "";
  return { route: hash.split("?")[0], params: new URLSearchParams(query) };
}

/** The text of a value element (an <input>'s value, or the text content). */
async function valueOf(locator) {
  return (
    await locator.evaluate((e) =>
      e instanceof HTMLInputElement || e instanceof HTMLTextAreaElement ? e.value : e.textContent,
    )
  ).trim();
}

/** Reads the "Save your secret key" dialog, checks "Copy secret", closes it; the secret. */
async function takeSecret(prefix, { screenshotName, title = "Save your secret key" } = {}) {
  const saved = dialog(title);
  await saved.waitFor();
  const secret = await valueOf(saved.getByTestId("new-secret"));
  assert.match(secret, new RegExp(`^${prefix}_[0-9A-Za-z]+$`));
  s.secrets.add(secret);
  await assertFocusInside(saved);
  if (screenshotName) await screenshot(screenshotName);
  await saved.getByRole("button", { name: "Copy secret", exact: true }).click();
  await eventually(async () => assert.equal(await s.page.evaluate(() => navigator.clipboard.readText()), secret));
  await saved.getByRole("button", { name: "I have saved it", exact: true }).click();
  await saved.waitFor({ state: "hidden" });
  // "Dropped from memory; never shown again": not left in the DOM either.
  await eventually(async () => assert.ok(!(await s.page.content()).includes(secret), "the secret stays in the DOM"));
  await s.page.evaluate(() => navigator.clipboard.writeText(""));
  return secret;
}

async function assertFocusInside(dialogLocator) {
  await eventually(async () =>
    assert.ok(
      await dialogLocator.evaluate((d) => d.contains(document.activeElement)),
      "focus moves into the dialog",
    ),
  );
}

/** The rows of the key table match ListKeys: one per key, state, Revoke buttons. */
async function assertKeyTableMatches(environmentId) {
  const keys = await s.admin.listKeys(environmentId);
  const table = main().getByRole("table");
  for (const key of keys) {
    const row = table.getByRole("row").filter({ hasText: key.prefix });
    await eventually(async () => {
      assert.equal(await row.count(), 1, `one row for ${key.prefix}`);
      const text = await row.innerText();
      const state = ApiKeyState[key.state].toLowerCase(); // active / revoked / expired
      assert.match(text, new RegExp(state, "i"), `${key.prefix} is ${state}`);
      const kind = ApiKeyKind[key.kind].toLowerCase(); // publishable / secret / restricted
      assert.match(text, new RegExp(kind, "i"), `${key.prefix} is ${kind}`);
      const revocable = key.state === ApiKeyState.ACTIVE && key.kind !== ApiKeyKind.PUBLISHABLE;
      assert.equal(
        await main().getByRole("button", { name: `Revoke ${key.prefix}`, exact: true }).count(),
        revocable ? 1 : 0,
        `Revoke ${key.prefix} shown iff active and not publishable`,
      );
    });
  }
  return keys;
}

// ---------------------------------------------------------------------------
// The story

describe("Pulse web console", { concurrency: 1 }, () => {
  before(async () => {
    s.dir = await mkdtemp(path.join(os.tmpdir(), "pulse-console-e2e-"));
    const port = await freePort();
    s.addr = `127.0.0.1:${port}`;
    s.base = `http://${s.addr}`;
    s.databaseUrl = `sqlite://${s.dir}/pulse.db?mode=rwc`;
    s.stderr = "";
    s.server = spawn(
      PULSE_BIN,
      ["serve", "--listen", s.addr, "--database-url", s.databaseUrl],
      // Debug logs: the most the server ever writes, checked for secrets below.
      { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, RUST_LOG: "debug" } },
    );
    s.log = "";
    s.server.stderr.setEncoding("utf8").on("data", (chunk) => {
      s.stderr = (s.stderr + chunk).slice(-20_000);
      s.log += chunk;
    });
    const exited = new Promise((resolve) => s.server.once("exit", resolve));
    // The first stdout line names the bootstrap admin token (shown once).
    const lines = createInterface({ input: s.server.stdout });
    s.adminToken = await Promise.race([
      new Promise((resolve) => {
        lines.on("line", (line) => {
          const match = /(ak_[0-9A-Za-z]+)/.exec(line);
          if (match && !s.adminToken) resolve(match[1]);
        });
      }),
      exited.then((code) => {
        throw new Error(`${PULSE_BIN} exited (${code}) before printing the admin token: ${s.stderr}`);
      }),
      deadlineAfter(60_000, "no admin token within 60 s"),
    ]);
    const deadline = Date.now() + 30_000;
    while (!(await connectable("127.0.0.1", port))) {
      assert.ok(Date.now() < deadline, "server did not start");
      await sleep(100);
    }

    const transport = nodeTransport(s.base);
    s.transport = transport;
    s.admin = new Admin(transport, s.adminToken);

    s.browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    s.context = await newContext();
    s.page = await s.context.newPage();
    watch(s.page);
  });

  after(async () => {
    await s.browser?.close();
    if (s.server && s.server.exitCode === null) {
      const exited = new Promise((resolve) => s.server.once("exit", resolve));
      s.server.kill("SIGTERM");
      await Promise.race([exited, deadlineAfter(30_000, "").catch(() => {})]);
      if (s.server.exitCode === null) s.server.kill("SIGKILL");
    }
    if (!failedStep) await rm(s.dir, { recursive: true, force: true });
  });

  step("/ serves the console with a CSP and X-Frame-Options: DENY", async () => {
    const response = await fetch(`${s.base}/`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type") ?? "", /^text\/html/);
    const csp = response.headers.get("content-security-policy") ?? "";
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/, "scripts from the console's own origin only (no inline)");
    assert.match(csp, /connect-src 'self'(;|$)/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.equal(response.headers.get("x-frame-options"), "DENY");
    const html = await response.text();
    assert.ok(
      !/placeholder/i.test(html),
      "this pulse binary embeds the placeholder console: build console/ (console/dist) and then `cargo build`",
    );
  });

  step("a wrong admin token shows an alert with UNAUTHENTICATED", async () => {
    const { page } = s;
    await page.goto("/");
    await page.getByRole("heading", { name: "Sign in to Pulse", exact: true }).waitFor();
    await assertStorageClean({ signedIn: false });
    // Members sign in with email, password and (once TOTP is on) a code.
    assert.equal(await page.getByLabel("Email", { exact: true }).getAttribute("type"), "email");
    assert.equal(await page.getByLabel("Password", { exact: true }).getAttribute("type"), "password");
    await page.getByLabel("Authentication code", { exact: true }).waitFor();
    await screenshot("sign-in");
    await assertAccessible("the sign-in screen");
    // Automation keeps the admin token, one click away.
    await openTokenSignIn();
    await assertAccessible("the sign-in screen with the admin-token option open");
    const token = page.getByLabel("Admin token", { exact: true });
    assert.equal(await token.getAttribute("type"), "password");
    await token.fill("ak_not-a-valid-admin-token");
    await page.getByRole("button", { name: "Sign in with token", exact: true }).click();
    await alertWith("UNAUTHENTICATED").waitFor();
    assert.ok(await page.getByRole("heading", { name: "Sign in to Pulse", exact: true }).isVisible());
    await assertStorageClean({ signedIn: false });
  });

  step("sign in with the admin token", async () => {
    const { page } = s;
    await openTokenSignIn();
    await page.getByLabel("Admin token", { exact: true }).fill(s.adminToken);
    await page.getByRole("button", { name: "Sign in with token", exact: true }).click();
    await page.getByRole("button", { name: "Sign out", exact: true }).waitFor();
    await envSelect().waitFor();
    await nav().waitFor();
    for (const link of ["Environments", "Keys", "Data", "Analytics", "Audit log", "Members", "Admin tokens"]) {
      assert.equal(await nav().getByRole("link", { name: link, exact: true }).count(), 1, `nav link ${link}`);
    }
    // A password and TOTP are a member's: an admin token has no Security screen.
    assert.equal(await nav().getByRole("link", { name: "Security", exact: true }).count(), 0);
    assert.equal(await signedInAs(), "Admin token Owner");
    await assertStorageClean({ signedIn: true });
    assert.ok(!(await page.content()).includes(s.adminToken), "the admin token is not in the DOM");
  });

  step('create "Production" and "Staging" (each shows its secret key once)', async () => {
    const { page } = s;
    await goTo("Environments");
    for (const name of ["Production", "Staging"]) {
      await main().getByRole("button", { name: "New environment", exact: true }).click();
      const create = dialog("New environment");
      await create.waitFor();
      await assertFocusInside(create);
      await create.getByRole("textbox", { name: "Name", exact: true }).fill(name);
      await create.getByRole("button", { name: "Create", exact: true }).click();
      const secret = await takeSecret("sk");
      await create.waitFor({ state: "hidden" });
      const table = main().getByRole("table");
      await table.getByRole("row").filter({ hasText: name }).first().waitFor();
      // The new environment becomes the selected one (name in the select, id in the hash).
      await eventually(async () => assert.equal(await selectedEnvironmentName(), name));
      const { environments } = await s.admin.environments.listEnvironments({});
      const env = environments.find((e) => e.displayName === name);
      assert.ok(env, `${name} exists`);
      await eventually(async () => assert.equal(hashParams().params.get("env"), env.id));
      const row = table.getByRole("row").filter({ hasText: env.id });
      assert.match(await row.innerText(), new RegExp(name));
      s[name] = { id: env.id, secret };
      // The secret shown is the environment's working secret key.
      const me = await new Backend(s.transport, secret).whoAmI();
      assert.equal(me.environmentId, env.id);
      await assertStorageClean({ signedIn: true });
    }
    for (const column of ["Name", "ID", "Created"]) {
      await hasColumn(main(), column);
    }
    await screenshot("environments");
  });

  step("the key table of Production: publishable and secret keys", async () => {
    const { page } = s;
    await envSelect().selectOption({ label: "Production" });
    await goTo("Keys");
    assert.equal(hashParams().route, "#/keys");
    await eventually(async () => assert.equal(hashParams().params.get("env"), s.Production.id));
    for (const column of ["Kind", "Name", "Prefix", "State", "Created", "Last used", "Expires", "24h calls"]) {
      await hasColumn(main(), column);
    }
    const keys = await assertKeyTableMatches(s.Production.id);
    assert.deepEqual(keys.map((k) => ApiKeyKind[k.kind]).sort(), ["PUBLISHABLE", "SECRET"]);
    const pk = keys.find((k) => k.kind === ApiKeyKind.PUBLISHABLE).value;
    await eventually(async () => assert.equal(await valueOf(main().getByTestId("publishable-key")), pk));
    s.Production.pk = pk;
    // The secret key's value is never listed, only its prefix.
    assert.ok(!(await page.content()).includes(s.Production.secret));
    await assertStorageClean({ signedIn: true });
    await screenshot("keys");
  });

  step("copy the publishable key", async () => {
    const { page } = s;
    await main().getByRole("button", { name: "Copy publishable key", exact: true }).click();
    await page.getByRole("status").filter({ hasText: "Copied" }).waitFor();
    await eventually(async () =>
      assert.equal(await page.evaluate(() => navigator.clipboard.readText()), s.Production.pk),
    );
    await assertStorageClean({ signedIn: true });
  });

  step("rotate: confirm, the new sk_ is shown once, the old one is refused", async () => {
    const { page } = s;
    const before = await s.admin.listKeys(s.Production.id);
    // Cancel changes nothing.
    await main().getByRole("button", { name: "Rotate keys", exact: true }).click();
    const rotate = dialog("Rotate keys");
    await rotate.waitFor();
    await assertFocusInside(rotate);
    await rotate.getByRole("button", { name: "Cancel", exact: true }).click();
    await rotate.waitFor({ state: "hidden" });
    // Escape closes it too.
    await main().getByRole("button", { name: "Rotate keys", exact: true }).click();
    await rotate.waitFor();
    await page.keyboard.press("Escape");
    await rotate.waitFor({ state: "hidden" });
    assert.equal((await s.admin.listKeys(s.Production.id)).length, before.length, "no rotation yet");

    await main().getByRole("button", { name: "Rotate keys", exact: true }).click();
    await rotate.waitFor();
    const grace = rotate.getByRole("spinbutton", { name: "Grace period (minutes)" });
    assert.match(await grace.inputValue(), /^0?$/, "grace period defaults to 0");
    await screenshot("rotate-dialog");
    await rotate.getByRole("button", { name: "Rotate", exact: true }).click();
    const fresh = await takeSecret("sk", { screenshotName: "secret-dialog" });
    await rotate.waitFor({ state: "hidden" });
    assert.notEqual(fresh, s.Production.secret);

    // Native gRPC: the old secret key is dead at once (grace 0), the new one works.
    assert.equal(await rpcCode(new Backend(s.transport, s.Production.secret).whoAmI()), Code.Unauthenticated);
    const me = await new Backend(s.transport, fresh).whoAmI();
    assert.equal(me.environmentId, s.Production.id);
    assert.equal(me.kind, ApiKeyKind.SECRET);
    s.Production.oldSecret = s.Production.secret;
    s.Production.secret = fresh;

    // The table follows: old pair revoked, new pair active, new publishable key shown.
    const keys = await assertKeyTableMatches(s.Production.id);
    const pk = keys.find((k) => k.kind === ApiKeyKind.PUBLISHABLE && k.state === ApiKeyState.ACTIVE).value;
    assert.notEqual(pk, s.Production.pk);
    await eventually(async () => assert.equal(await valueOf(main().getByTestId("publishable-key")), pk));
    s.Production.pk = pk;
    await assertStorageClean({ signedIn: true });
  });

  step("reload: still signed in, the secret is not shown again", async () => {
    const { page } = s;
    await page.reload();
    await h1("Keys").waitFor();
    await main().getByRole("table").waitFor();
    await assertKeyTableMatches(s.Production.id);
    assert.equal(await page.getByRole("dialog", { name: "Save your secret key" }).count(), 0);
    assert.equal(await page.getByTestId("new-secret").count(), 0);
    const html = await page.content();
    for (const secret of s.secrets) assert.ok(!html.includes(secret), "no secret key in the DOM after reload");
    assert.doesNotMatch(await page.evaluate(() => document.documentElement.outerHTML), WHOLE_SECRET_PATTERN);
    await assertStorageClean({ signedIn: true });
  });

  step("create a restricted key, then revoke it", async () => {
    const { page } = s;
    await main().getByRole("button", { name: "Create key", exact: true }).click();
    const create = dialog("Create key");
    await create.waitFor();
    await create.getByRole("combobox", { name: "Kind", exact: true }).selectOption({ label: "Restricted" });
    await create.getByRole("textbox", { name: "Name", exact: true }).fill("analytics job");
    const permissions = create.getByRole("group", { name: "Permissions" });
    await permissions.waitFor();
    await permissions.getByRole("checkbox", { name: "comments.read", exact: true }).check();
    await create.getByRole("button", { name: "Create", exact: true }).click();
    const rk = await takeSecret("rk");
    await create.waitFor({ state: "hidden" });

    const restricted = new Backend(s.transport, rk);
    const me = await restricted.whoAmI();
    assert.equal(me.kind, ApiKeyKind.RESTRICTED);
    assert.deepEqual([...me.permissions], ["comments.read"]);
    const keys = await assertKeyTableMatches(s.Production.id);
    const key = keys.find((k) => k.kind === ApiKeyKind.RESTRICTED);
    assert.equal(key.displayName, "analytics job");
    const row = main().getByRole("table").getByRole("row").filter({ hasText: key.prefix });
    assert.match(await row.innerText(), /analytics job/);

    await main().getByRole("button", { name: `Revoke ${key.prefix}`, exact: true }).click();
    const revoke = dialog("Revoke key");
    await revoke.waitFor();
    await assertFocusInside(revoke);
    await revoke.getByRole("button", { name: "Revoke", exact: true }).click();
    await revoke.waitFor({ state: "hidden" });
    await eventually(async () => assert.match(await row.innerText(), /revoked/i));
    assert.equal(await main().getByRole("button", { name: `Revoke ${key.prefix}`, exact: true }).count(), 0);
    assert.equal(await rpcCode(restricted.whoAmI()), Code.Unauthenticated);
    await assertKeyTableMatches(s.Production.id);
    await assertStorageClean({ signedIn: true });
  });

  step("rename Staging", async () => {
    await goTo("Environments");
    await main().getByRole("button", { name: "Rename Staging", exact: true }).click();
    const rename = dialog("Rename environment");
    await rename.waitFor();
    const name = rename.getByRole("textbox", { name: "Name", exact: true });
    assert.equal(await name.inputValue(), "Staging");
    await name.fill("Staging EU");
    await rename.getByRole("button", { name: "Save", exact: true }).click();
    await rename.waitFor({ state: "hidden" });
    const row = main().getByRole("table").getByRole("row").filter({ hasText: s.Staging.id });
    await eventually(async () => assert.match(await row.innerText(), /Staging EU/));
    await eventually(async () => {
      const options = await envSelect().evaluate((select) => [...select.options].map((o) => o.textContent.trim()));
      assert.ok(options.includes("Staging EU") && !options.includes("Staging"), `options: ${options}`);
    });
    const env = await s.admin.environments.getEnvironment({ id: s.Staging.id });
    assert.equal(env.displayName, "Staging EU");
    await assertStorageClean({ signedIn: true });
  });

  step("delete an environment (type its name to confirm)", async () => {
    const { page } = s;
    await main().getByRole("button", { name: "New environment", exact: true }).click();
    const create = dialog("New environment");
    await create.getByRole("textbox", { name: "Name", exact: true }).fill("Scratch");
    await create.getByRole("button", { name: "Create", exact: true }).click();
    const secret = await takeSecret("sk");
    const { environments } = await s.admin.environments.listEnvironments({});
    const scratch = environments.find((e) => e.displayName === "Scratch");
    assert.ok(scratch);

    await main().getByRole("button", { name: "Delete Scratch", exact: true }).click();
    const remove = dialog("Delete environment");
    await remove.waitFor();
    const confirm = remove.getByRole("textbox", { name: "Type the name to confirm", exact: true });
    const button = remove.getByRole("button", { name: "Delete", exact: true });
    assert.ok(await button.isDisabled(), "Delete is disabled until the name is typed");
    await confirm.fill("Scratc");
    assert.ok(await button.isDisabled());
    await confirm.fill("Scratch");
    await eventually(async () => assert.ok(await button.isEnabled()));
    await button.click();
    await remove.waitFor({ state: "hidden" });
    await eventually(async () =>
      assert.equal(await main().getByRole("table").getByRole("row").filter({ hasText: scratch.id }).count(), 0),
    );
    await eventually(async () => {
      const options = await envSelect().evaluate((select) => [...select.options].map((o) => o.textContent.trim()));
      assert.ok(!options.includes("Scratch"), `options: ${options}`);
    });
    assert.equal(await rpcCode(s.admin.environments.getEnvironment({ id: scratch.id })), Code.NotFound);
    assert.equal(await rpcCode(new Backend(s.transport, secret).whoAmI()), Code.Unauthenticated);
    await assertStorageClean({ signedIn: true });
  });

  step("data made through the API shows in Data", async () => {
    const { page } = s;
    // A customer's backend (sk_) and its user's frontend (pk_ + user token).
    const backend = new Backend(s.transport, s.Production.secret);
    // Rooms store who may open them (STORED-mode tokens): a default, and
    // user and group entries, set at creation and changed later.
    await backend.rooms.createRoom({
      roomId: "design-review",
      defaultAccess: RoomAccess.READ,
      userAccesses: { alice: RoomAccess.WRITE },
      groupAccesses: { eng: RoomAccess.READ },
    });
    await backend.rooms.createRoom({
      roomId: "roadmap",
      userAccesses: { alice: RoomAccess.WRITE, bob: RoomAccess.READ, carol: RoomAccess.NONE },
      groupAccesses: { design: RoomAccess.WRITE },
    });
    await backend.rooms.updateRoomAccess({
      roomId: "roadmap",
      setUserAccesses: { dave: RoomAccess.READ },
      setGroupAccesses: { eng: RoomAccess.READ },
    });
    const thread = await backend.threads.createThread({ roomId: "design-review", body: "Ship it?", userId: "alice" });
    const { token } = await backend.mintUserToken("bob", {}, { name: "Bob" });
    s.secrets.add(token);
    const frontend = new Frontend(s.transport, s.Production.pk, token);
    await frontend.threads.createComment({ threadId: thread.id, body: "Yes, ship it." });
    s.threadId = thread.id;

    await envSelect().selectOption({ label: "Production" });
    await goTo("Data");
    await eventually(async () => assert.equal(hashParams().params.get("env"), s.Production.id));
    await main().getByRole("heading", { level: 2, name: "Rooms", exact: true }).waitFor();
    const rooms = sectionTable("Rooms");
    for (const column of ["Room", "Created", "Access"]) {
      await hasColumn(rooms, column);
    }
    // Each room's access: the default as a badge, entries as chips (users
    // first, then groups, by id), "+N more" past three, opening them all.
    const roomRow = (id) =>
      rooms.getByRole("row").filter({ has: page.getByRole("button", { name: `Open room ${id}`, exact: true }) });
    const chips = async (id) =>
      (await roomRow(id).locator(".access > .badge, .access > .tag").allInnerTexts()).map((t) => t.trim());
    await eventually(async () =>
      assert.deepEqual(await chips("design-review"), ["default: read", "alice: write", "group eng: read"]),
    );
    assert.equal(await roomRow("design-review").locator("details").count(), 0, "no expander for two entries");
    assert.deepEqual(await chips("roadmap"), ["default: none", "alice: write", "bob: read", "carol: none"]);
    const more = roomRow("roadmap").locator("summary");
    // "+3 more", and for screen readers (visually hidden) whose entries.
    assert.equal(await more.textContent(), "+3 more access entries of roadmap");
    const allEntries = roomRow("roadmap").getByRole("list", { name: "Access entries of roadmap", exact: true });
    assert.equal(await allEntries.isVisible(), false, "the full list starts closed");
    await more.click();
    const expected = ["alice: write", "bob: read", "carol: none", "dave: read", "group design: write", "group eng: read"];
    await eventually(async () =>
      assert.deepEqual((await allEntries.getByRole("listitem").allInnerTexts()).map((t) => t.trim()), expected),
    );
    // The toggle event (which relabels the summary) is queued after the click.
    await eventually(async () => assert.equal(await more.textContent(), "Show fewer access entries of roadmap"));
    assert.equal(await roomRow("roadmap").locator(".access-preview").first().isVisible(), false, "the list replaces the chips");
    // What the console shows is what the admin API returns.
    const listed = await s.admin.environments.listEnvironmentRooms({ environmentId: s.Production.id });
    const roadmap = listed.rooms.find((r) => r.id === "roadmap");
    assert.equal(roadmap.defaultAccess, RoomAccess.NONE);
    assert.equal(Object.keys(roadmap.userAccesses).length + Object.keys(roadmap.groupAccesses).length, expected.length);
    await assertAccessible("the Data screen with room accesses (one list open)");
    await more.click();
    await eventually(async () => assert.equal(await more.textContent(), "+3 more access entries of roadmap"));
    assert.equal(await allEntries.isVisible(), false);
    await main().getByRole("button", { name: "Open room design-review", exact: true }).click();
    await main().getByRole("heading", { level: 2, name: "Threads in design-review", exact: true }).waitFor();
    await main().getByRole("button", { name: `Open thread ${thread.id}`, exact: true }).click();
    const comments = main().getByRole("heading", { level: 2, name: "Comments", exact: true });
    await comments.waitFor();
    await eventually(async () => {
      const items = (await main().getByRole("listitem").allInnerTexts()).join("\n");
      assert.match(items, /Ship it\?/);
      assert.match(items, /Yes, ship it\./);
    });
    await main().getByRole("heading", { level: 2, name: "Users", exact: true }).waitFor();
    const { users } = await s.admin.environments.listEnvironmentUsers({ environmentId: s.Production.id });
    assert.ok(users.length >= 1, "the API lists the users");
    const userTable = sectionTable("Users");
    await hasColumn(userTable, "User");
    for (const user of users) {
      await userTable.getByRole("row").filter({ hasText: user.id }).first().waitFor();
    }
    await assertStorageClean({ signedIn: true });
    await assertAccessible("the Data screen with a room, a thread and its comments open");
    await screenshot("data");
  });

  step("Analytics shows the counts", async () => {
    const { page } = s;
    await goTo("Analytics");
    const stats = await s.admin.environments.getEnvironmentStats({ environmentId: s.Production.id });
    assert.ok(stats.roomCount >= 1n && stats.threadCount >= 1n && stats.commentCount >= 2n);
    const expected = {
      Rooms: stats.roomCount,
      Threads: stats.threadCount,
      Users: stats.userCount,
      Comments: stats.commentCount,
    };
    for (const [term, count] of Object.entries(expected)) {
      const dd = main()
        .locator("dl dt")
        .filter({ hasText: new RegExp(`^\\s*${term}\\s*$`) })
        .locator("xpath=following-sibling::dd[1]");
      await eventually(async () => {
        const text = (await dd.innerText()).replace(/[\s,]/g, "");
        assert.equal(text, String(count), `${term}`);
      });
    }
    assert.ok(Number(expected.Rooms) >= 1 && Number(expected.Threads) >= 1);
    await main().locator("svg").first().waitFor();
    await assertStorageClean({ signedIn: true });
    await screenshot("analytics");
  });

  step("the audit log lists what was done, filterable by type", async () => {
    await goTo("Audit log");
    const table = main().getByRole("table");
    for (const column of ["Time", "Type", "Actor", "Target"]) {
      await hasColumn(main(), column);
    }
    await eventually(async () => {
      const text = await table.innerText();
      // (Rename happened in Staging: the log may be scoped to the selected environment.)
      for (const type of ["environment.created", "keys.rotated", "key.created", "key.revoked"]) {
        assert.match(text, new RegExp(type.replace(".", "\\.")), type);
      }
    });
    await screenshot("audit-log");
    const filter = main().getByRole("combobox", { name: "Event type", exact: true });
    const options = await filter.evaluate((select) => [...select.options].map((o) => o.textContent.trim()));
    assert.equal(options[0], "All");
    assert.ok(options.includes("keys.rotated"), `options: ${options}`);
    await filter.selectOption({ label: "keys.rotated" });
    await eventually(async () => {
      const rows = await table.locator("tbody tr").allInnerTexts();
      assert.equal(rows.length, 1, `one keys.rotated event: ${rows}`);
      assert.match(rows[0], /keys\.rotated/);
    });
    await filter.selectOption({ label: "All" });
    await assertStorageClean({ signedIn: true });
  });

  step("the keys screen on a phone (390×844)", async () => {
    const { page } = s;
    await page.setViewportSize({ width: 390, height: 844 });
    try {
      await goTo("Keys");
      await main().getByRole("table").waitFor();
      await main().getByTestId("publishable-key").waitFor();
      await screenshot("keys-phone");
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px at 390 px (a table may scroll in its own box)`);
    } finally {
      await page.setViewportSize({ width: 1280, height: 800 });
    }
  });

  step("sign out returns to sign-in and clears the session", async () => {
    const { page } = s;
    await page.getByRole("button", { name: "Sign out", exact: true }).click();
    await page.getByRole("heading", { name: "Sign in to Pulse", exact: true }).waitFor();
    await assertStorageClean({ signedIn: false });
    assert.ok(!(await page.content()).includes(s.adminToken));
    await page.reload();
    await page.getByRole("heading", { name: "Sign in to Pulse", exact: true }).waitFor();
  });

  step("an admin token revoked while signed in ends the session", async () => {
    const { page } = s;
    // Sign in with a second admin token, then revoke it behind the console's back.
    const created = await s.admin.account.createAdminToken({ displayName: "console e2e" });
    const token = created.token;
    await openTokenSignIn();
    await page.getByLabel("Admin token", { exact: true }).fill(token);
    await page.getByRole("button", { name: "Sign in with token", exact: true }).click();
    await page.getByRole("button", { name: "Sign out", exact: true }).waitFor();
    await assertStorageClean({ signedIn: true, token });
    await s.admin.account.revokeAdminToken({ id: created.adminToken.id });
    // The next call the console makes is refused.
    await nav().getByRole("link", { name: "Audit log", exact: true }).click();
    await alertWith("Your session ended (UNAUTHENTICATED). Sign in again.").waitFor();
    await page.getByRole("heading", { name: "Sign in to Pulse", exact: true }).waitFor();
    await assertStorageClean({ signedIn: false });
  });

  // -------------------------------------------------------------------------
  // Team access: members sign in with email, password and TOTP.

  step("an owner invited with `pulse member invite` accepts in the browser and is signed in", async () => {
    const { page } = s;
    const invite = await inviteWithCli("owner@example.com", "owner");
    assert.match(invite.member_id, /^mem_/);
    assert.match(invite.invite_token, /^inv_[0-9A-Za-z]+$/);
    assert.equal(invite.invite_url, `${s.base}/#/accept?token=${invite.invite_token}`);

    await page.goto(invite.invite_url);
    await page.getByRole("heading", { name: "Accept your invitation", exact: true }).waitFor();
    // The token leaves the address bar at once (history, screenshots).
    await eventually(async () => assert.doesNotMatch(page.url(), INVITE_PATTERN));
    await assertStorageClean({ signedIn: false });
    await assertAccessible("the invitation screen");

    const name = page.getByLabel("Your name", { exact: true });
    const password = page.getByLabel("Password", { exact: true });
    const confirm = page.getByLabel("Confirm password", { exact: true });
    assert.equal(await password.getAttribute("type"), "password");
    assert.equal(await confirm.getAttribute("type"), "password");
    await name.fill("Olivia Owner");
    await password.fill(OWNER_PASSWORD);
    await confirm.fill(`${OWNER_PASSWORD}!`);
    await page.getByRole("button", { name: "Accept and sign in", exact: true }).click();
    await alertWith("INVALID_ARGUMENT").waitFor();
    await confirm.fill(OWNER_PASSWORD);
    await page.getByRole("button", { name: "Accept and sign in", exact: true }).click();

    await page.getByRole("button", { name: "Sign out", exact: true }).waitFor();
    await eventually(async () => assert.equal(await signedInAs(), "owner@example.com Owner"));
    s.ownerSession = await storedCredential();
    assert.match(s.ownerSession ?? "", /^ses_[0-9A-Za-z]+/);
    await assertStorageClean({ signedIn: true, token: s.ownerSession });
    assert.ok(!(await page.content()).includes(s.ownerSession), "the session token is not in the DOM");
    // The session acts as the member on the admin plane.
    s.owner = new Admin(s.transport, s.ownerSession);
    const caller = await s.owner.getCaller();
    assert.equal(caller.role, Role.OWNER);
    assert.equal(caller.member.id, invite.member_id);
    assert.equal(caller.member.displayName, "Olivia Owner");
    // A member has a Security screen; an owner sees every section.
    for (const link of ["Members", "Admin tokens", "Security"]) {
      assert.equal(await nav().getByRole("link", { name: link, exact: true }).count(), 1, `nav link ${link}`);
    }
    // The invitation worked once.
    assert.equal(
      await rpcCode(client.acceptInvite(s.transport, invite.invite_token, OWNER_PASSWORD, "Mallory")),
      Code.Unauthenticated,
    );
  });

  step("Members: the owner invites a viewer of Production (the link is shown once)", async () => {
    const { page } = s;
    await goTo("Members");
    for (const column of ["Email", "Name", "Role", "Scope", "State", "TOTP", "Last sign-in"]) {
      await hasColumn(main(), column);
    }
    const ownerRow = main().getByRole("table").getByRole("row").filter({ hasText: "owner@example.com" });
    await eventually(async () => {
      const text = await ownerRow.innerText();
      for (const word of ["Olivia Owner", "Owner", "Whole account", "Active", "Off"]) assert.match(text, new RegExp(word), word);
    });
    await assertAccessible("the Members screen");

    await main().getByRole("button", { name: "Invite member", exact: true }).click();
    const invite = dialog("Invite member");
    await invite.waitFor();
    await assertFocusInside(invite);
    await invite.getByRole("textbox", { name: "Email", exact: true }).fill("viewer@example.com");
    await invite.getByRole("combobox", { name: "Role", exact: true }).selectOption({ label: "Viewer" });
    const scope = invite.getByRole("group", { name: "Environments" });
    await scope.getByRole("checkbox", { name: "Production", exact: true }).check();
    await assertAccessible("the Invite member dialog");
    await invite.getByRole("button", { name: "Invite", exact: true }).click();

    const shown = dialog("Send the invitation");
    await shown.waitFor();
    await assertFocusInside(shown);
    const link = await valueOf(shown.getByTestId("invite-link"));
    assert.match(link, new RegExp(`^${s.base.replace(/[.]/g, "\\.")}/#/accept\\?token=inv_[0-9A-Za-z]+$`));
    s.viewerInvite = link;
    s.secrets.add(new URL(link).hash.split("token=")[1]);
    await shown.getByRole("button", { name: "Copy link", exact: true }).click();
    await eventually(async () => assert.equal(await page.evaluate(() => navigator.clipboard.readText()), link));
    await page.evaluate(() => navigator.clipboard.writeText(""));
    // Escape does not lose it; "Done" closes it and it is gone.
    await page.keyboard.press("Escape");
    assert.ok(await shown.isVisible(), "Escape does not close the invitation link");
    await shown.getByRole("button", { name: "Done", exact: true }).click();
    await shown.waitFor({ state: "hidden" });
    await eventually(async () => assert.ok(!(await page.content()).includes(link), "the link stays in the DOM"));

    const viewerRow = main().getByRole("table").getByRole("row").filter({ hasText: "viewer@example.com" });
    await eventually(async () => {
      const text = await viewerRow.innerText();
      for (const word of ["Viewer", "Production", "Invited"]) assert.match(text, new RegExp(word), word);
    });
    const members = await s.owner.listMembers();
    const viewer = members.find((m) => m.email === "viewer@example.com");
    assert.equal(viewer.role, Role.VIEWER);
    assert.deepEqual([...viewer.environmentIds], [s.Production.id]);
    s.viewerId = viewer.id;
    await assertStorageClean({ signedIn: true, token: s.ownerSession });
    await screenshot("members");
  });

  step("the viewer, in a fresh browser, accepts and signs in: what it cannot do is not offered", async () => {
    const context = await newContext();
    const page = await context.newPage();
    watch(page);
    const local = (name) => page.getByRole("main").getByRole("heading", { level: 1, name, exact: true });
    const inMain = () => page.getByRole("main");
    const go = async (section) => {
      await page.getByRole("navigation", { name: "Sections" }).getByRole("link", { name: section, exact: true }).click();
      await local(section).waitFor();
    };
    try {
      await page.goto(s.viewerInvite);
      await page.getByRole("heading", { name: "Accept your invitation", exact: true }).waitFor();
      await page.getByLabel("Your name", { exact: true }).fill("Vera Viewer");
      await page.getByLabel("Password", { exact: true }).fill(VIEWER_PASSWORD);
      await page.getByLabel("Confirm password", { exact: true }).fill(VIEWER_PASSWORD);
      await page.getByRole("button", { name: "Accept and sign in", exact: true }).click();
      await page.getByRole("button", { name: "Sign out", exact: true }).waitFor();
      await eventually(async () => assert.equal(await signedInAs(page), "viewer@example.com Viewer"));
      let session = await storedCredential(page);
      await assertStorageClean({ signedIn: true, token: session, page, context });

      // Sign out, then in again with email and password.
      await page.getByRole("button", { name: "Sign out", exact: true }).click();
      await page.getByRole("heading", { name: "Sign in to Pulse", exact: true }).waitFor();
      await assertStorageClean({ signedIn: false, page, context });
      await eventually(async () =>
        assert.equal(await rpcCode(new Admin(s.transport, session).getCaller()), Code.Unauthenticated),
      );
      await page.getByLabel("Email", { exact: true }).fill("Viewer@Example.com");
      await page.getByLabel("Password", { exact: true }).fill(VIEWER_PASSWORD);
      await page.getByRole("button", { name: "Sign in", exact: true }).click();
      await page.getByRole("button", { name: "Sign out", exact: true }).waitFor();
      await eventually(async () => assert.equal(await signedInAs(page), "viewer@example.com Viewer"));
      session = await storedCredential(page);
      s.viewerSession = session;
      await assertStorageClean({ signedIn: true, token: session, page, context });

      // Its scope: Production only. Its role: reads only.
      const options = await page
        .getByRole("banner")
        .getByRole("combobox", { name: "Environment" })
        .evaluate((select) => [...select.options].map((o) => o.textContent.trim()));
      assert.deepEqual(options, ["Production"]);
      const sections = page.getByRole("navigation", { name: "Sections" });
      assert.equal(await sections.getByRole("link", { name: "Admin tokens", exact: true }).count(), 0, "no Admin tokens");
      assert.equal(await sections.getByRole("link", { name: "Security", exact: true }).count(), 1);

      await go("Environments");
      await inMain().getByRole("table").getByRole("row").filter({ hasText: s.Production.id }).waitFor();
      for (const name of ["New environment", "Rename Production", "Delete Production"]) {
        assert.equal(await inMain().getByRole("button", { name, exact: true }).count(), 0, `no "${name}"`);
      }

      await go("Keys");
      await inMain().getByTestId("publishable-key").waitFor();
      await inMain().getByRole("table").waitFor();
      for (const name of ["Create key", "Rotate keys"]) {
        assert.equal(await inMain().getByRole("button", { name, exact: true }).count(), 0, `no "${name}"`);
      }
      assert.equal(await inMain().getByRole("button", { name: /^Revoke / }).count(), 0, "no Revoke buttons");
      assert.equal(await inMain().getByRole("button", { name: "Copy publishable key", exact: true }).count(), 1);

      await go("Data");
      const users = inMain().locator(`xpath=.//h2[normalize-space()="Users"]/following::table[1]`);
      const { users: listed } = await s.admin.environments.listEnvironmentUsers({ environmentId: s.Production.id });
      assert.ok(listed.length >= 1, "Production has users");
      await users.getByRole("row").filter({ hasText: listed[0].id }).first().waitFor();
      assert.equal(await inMain().getByRole("button", { name: /^End sessions of / }).count(), 0, "no End sessions");

      await go("Members");
      await inMain().getByRole("table").getByRole("row").filter({ hasText: "owner@example.com" }).waitFor();
      assert.equal(await inMain().getByRole("button", { name: "Invite member", exact: true }).count(), 0);
      assert.equal(await inMain().getByRole("button", { name: /^(Change role of|Remove) / }).count(), 0);
      await assertAccessible("the Members screen of a viewer", page);

      // The server agrees: the viewer's session reads, and only reads.
      const viewer = new Admin(s.transport, session);
      const caller = await viewer.getCaller();
      assert.equal(caller.role, Role.VIEWER);
      assert.deepEqual([...caller.environmentIds], [s.Production.id]);
      assert.equal(await rpcCode(viewer.createEnvironment("Nope")), Code.PermissionDenied);
      assert.equal(await rpcCode(viewer.rotateKeys(s.Production.id)), Code.PermissionDenied);
      assert.equal(await rpcCode(viewer.inviteMember("x@example.com")), Code.PermissionDenied);
      assert.equal(await rpcCode(viewer.account.listAdminTokens({})), Code.PermissionDenied);
    } finally {
      await context.close();
    }
  });

  step("Members: change the viewer's role (its session follows), remove a member after confirming", async () => {
    const { page } = s;
    await goTo("Members");
    await main().getByRole("button", { name: "Change role of viewer@example.com", exact: true }).click();
    const change = dialog("Change role");
    await change.waitFor();
    await assertFocusInside(change);
    const role = change.getByRole("combobox", { name: "Role", exact: true });
    assert.equal(await role.evaluate((select) => select.selectedOptions[0].textContent.trim()), "Viewer");
    await role.selectOption({ label: "Developer" });
    await change.getByRole("button", { name: "Save", exact: true }).click();
    await change.waitFor({ state: "hidden" });
    const viewerRow = main().getByRole("table").getByRole("row").filter({ hasText: "viewer@example.com" });
    await eventually(async () => assert.match(await viewerRow.innerText(), /Developer/));
    assert.equal((await new Admin(s.transport, s.viewerSession).getCaller()).role, Role.DEVELOPER);

    // Remove: a dialog first; Cancel keeps the member.
    const temp = await s.owner.inviteMember("contractor@example.com", Role.DEVELOPER);
    s.secrets.add(temp.inviteToken);
    await page.reload();
    await h1("Members").waitFor();
    const row = main().getByRole("table").getByRole("row").filter({ hasText: "contractor@example.com" });
    await row.waitFor();
    await main().getByRole("button", { name: "Remove contractor@example.com", exact: true }).click();
    const remove = dialog("Remove member");
    await remove.waitFor();
    await assertFocusInside(remove);
    await remove.getByRole("button", { name: "Cancel", exact: true }).click();
    await remove.waitFor({ state: "hidden" });
    assert.equal((await s.owner.members.getMember({ memberId: temp.member.id })).email, "contractor@example.com");
    await main().getByRole("button", { name: "Remove contractor@example.com", exact: true }).click();
    await remove.waitFor();
    await remove.getByRole("button", { name: "Remove", exact: true }).click();
    await remove.waitFor({ state: "hidden" });
    await eventually(async () => assert.equal(await row.count(), 0));
    assert.equal(await rpcCode(s.owner.members.getMember({ memberId: temp.member.id })), Code.NotFound);
    await assertStorageClean({ signedIn: true, token: s.ownerSession });
  });

  step("Admin tokens: a scoped, expiring developer token is shown once, then revoked", async () => {
    const { page } = s;
    await goTo("Admin tokens");
    for (const column of ["Name", "Prefix", "Role", "Scope", "State", "Created", "Last used", "Expires"]) {
      await hasColumn(main(), column);
    }
    await assertAccessible("the Admin tokens screen");
    await main().getByRole("button", { name: "Create admin token", exact: true }).click();
    const create = dialog("Create admin token");
    await create.waitFor();
    await assertFocusInside(create);
    await create.getByRole("textbox", { name: "Name", exact: true }).fill("CI deploys");
    await create.getByRole("combobox", { name: "Role", exact: true }).selectOption({ label: "Developer" });
    await create.getByRole("group", { name: "Environments" }).getByRole("checkbox", { name: "Staging EU", exact: true }).check();
    const expiry = new Date(Date.now() + 30 * 86_400_000).toISOString().slice(0, 10); // the browser is in UTC
    await create.getByLabel("Expires on (optional)", { exact: true }).fill(expiry);
    await assertAccessible("the Create admin token dialog");
    await create.getByRole("button", { name: "Create", exact: true }).click();
    const token = await takeSecret("ak", { title: "Save your admin token" });
    await create.waitFor({ state: "hidden" });

    // It acts as a developer of Staging EU only, until the day chosen.
    const ci = new Admin(s.transport, token);
    const caller = await ci.getCaller();
    assert.equal(caller.role, Role.DEVELOPER);
    assert.deepEqual([...caller.environmentIds], [s.Staging.id]);
    assert.deepEqual((await ci.environments.listEnvironments({})).environments.map((e) => e.id), [s.Staging.id]);
    const listed = (await s.owner.listAdminTokens()).find((t) => t.id === caller.adminTokenId);
    assert.equal(new Date(Number(listed.expireTime.seconds) * 1000).toISOString(), `${expiry}T00:00:00.000Z`);

    const prefix = token.slice(0, 12);
    const row = main().getByRole("table").getByRole("row").filter({ hasText: prefix });
    await eventually(async () => {
      const text = await row.innerText();
      for (const word of ["CI deploys", "Developer", "Staging EU", "Active", expiry]) assert.match(text, new RegExp(word), word);
    });
    await screenshot("admin-tokens");

    await main().getByRole("button", { name: `Revoke ${prefix}`, exact: true }).click();
    const revoke = dialog("Revoke admin token");
    await revoke.waitFor();
    await assertFocusInside(revoke);
    await revoke.getByRole("button", { name: "Revoke", exact: true }).click();
    await revoke.waitFor({ state: "hidden" });
    await eventually(async () => assert.match(await row.innerText(), /Revoked/));
    assert.equal(await main().getByRole("button", { name: `Revoke ${prefix}`, exact: true }).count(), 0);
    assert.equal(await rpcCode(ci.getCaller()), Code.Unauthenticated);
    await assertStorageClean({ signedIn: true, token: s.ownerSession });
  });

  step("Security: change the password, then turn on TOTP from the QR code's secret", async () => {
    const { page } = s;
    await goTo("Security");
    await assertAccessible("the Security screen");
    const password = main().getByRole("region", { name: "Password" });
    await password.getByLabel("Current password", { exact: true }).fill(OWNER_PASSWORD);
    await password.getByLabel("New password", { exact: true }).fill(OWNER_NEW_PASSWORD);
    await password.getByLabel("Confirm new password", { exact: true }).fill(OWNER_NEW_PASSWORD);
    await password.getByRole("button", { name: "Change password", exact: true }).click();
    await page.getByRole("status").filter({ hasText: "Password changed" }).waitFor();
    // This session goes on; the old password no longer signs in.
    assert.equal((await s.owner.getCaller()).role, Role.OWNER);
    assert.equal(
      await rpcCode(client.signIn(s.transport, "owner@example.com", OWNER_PASSWORD)),
      Code.Unauthenticated,
    );

    const totpSection = main().getByRole("region", { name: "Two-step sign-in" });
    await totpSection.getByRole("button", { name: "Set up authenticator app", exact: true }).click();
    const qr = totpSection.getByRole("img", { name: /QR code/ });
    await qr.waitFor();
    assert.ok((await qr.evaluate((svg) => svg.querySelector("path")?.getAttribute("d")?.length ?? 0)) > 100, "a drawn QR code");
    const secret = (await valueOf(totpSection.getByTestId("totp-secret"))).replace(/\s+/g, "");
    assert.match(secret, /^[A-Z2-7]{16,}$/);
    s.totpSecret = secret;
    s.secrets.add(secret);
    await assertAccessible("the Security screen during TOTP enrolment");
    await screenshot("security");

    const step = totpStep();
    await totpSection.getByLabel("Code from the app", { exact: true }).fill(totp(secret, step));
    await totpSection.getByRole("button", { name: "Turn on", exact: true }).click();
    await page.getByRole("status").filter({ hasText: "Two-step sign-in is on" }).waitFor();
    s.totpUsedStep = step;
    await eventually(async () => assert.match(await totpSection.innerText(), /\bOn\b/));
    // The secret is gone from the page, and was never stored.
    assert.ok(!(await page.content()).includes(secret), "the TOTP secret stays in the DOM");
    assert.equal((await s.owner.getCaller()).member.totpEnabled, true);
    await assertStorageClean({ signedIn: true, token: s.ownerSession });
  });

  step("sign out, then sign in with email, password and the code", async () => {
    const { page } = s;
    await page.getByRole("button", { name: "Sign out", exact: true }).click();
    await page.getByRole("heading", { name: "Sign in to Pulse", exact: true }).waitFor();
    await assertStorageClean({ signedIn: false });
    // Sign out ended the session on the server too.
    await eventually(async () => assert.equal(await rpcCode(s.owner.getCaller()), Code.Unauthenticated));

    const email = page.getByLabel("Email", { exact: true });
    const password = page.getByLabel("Password", { exact: true });
    const code = page.getByLabel("Authentication code", { exact: true });
    // TOTP is on: the password alone is refused.
    await email.fill("owner@example.com");
    await password.fill(OWNER_NEW_PASSWORD);
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await alertWith("UNAUTHENTICATED").waitFor();
    assert.ok(await page.getByRole("heading", { name: "Sign in to Pulse", exact: true }).isVisible());
    await assertStorageClean({ signedIn: false });

    // A code is accepted once: wait for a step after the one confirmed.
    while (totpStep() <= s.totpUsedStep) await sleep(250);
    await password.fill(OWNER_NEW_PASSWORD);
    await code.fill(totp(s.totpSecret));
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await page.getByRole("button", { name: "Sign out", exact: true }).waitFor();
    await eventually(async () => assert.equal(await signedInAs(), "owner@example.com Owner"));
    const session = await storedCredential();
    assert.match(session ?? "", /^ses_/);
    assert.notEqual(session, s.ownerSession);
    s.ownerSession = session;
    s.owner = new Admin(s.transport, session);
    assert.equal((await s.owner.getCaller()).member.email, "owner@example.com");
    await assertStorageClean({ signedIn: true, token: session });
  });

  step("no page errors, CSP violations, third-party requests or secrets in URLs", async (t) => {
    for (const message of s.consoleErrors) t.diagnostic(`console error: ${message}`);
    assert.deepEqual(s.pageErrors, [], "uncaught page errors");
    const csp = s.consoleErrors.filter((m) => /Content Security Policy|Refused to/i.test(m));
    assert.deepEqual(csp, [], "CSP violations");
    assert.deepEqual(s.foreignRequests, [], "requests to other origins");
    assert.deepEqual(s.leakyUrls, [], "requests with a credential in the URL");
  });

  step("no secret reaches the server's logs (RUST_LOG=debug)", async () => {
    assert.ok(s.log.length > 1000, `the server logged (${s.log.length} bytes)`);
    // Whole secrets only: a key's 12-character prefix is public metadata.
    const leaked = s.log.match(/\b(?:sk|rk|ak|ses|inv)_[0-9A-Za-z]{16,}|\beyJ[\w-]{10,}\.[\w-]{10,}/g) ?? [];
    assert.deepEqual(leaked, [], "secrets (sk_/rk_/ak_/ses_/inv_, user-token JWTs) in the server log");
    for (const secret of [OWNER_PASSWORD, OWNER_NEW_PASSWORD, VIEWER_PASSWORD, s.totpSecret]) {
      if (secret) assert.ok(!s.log.includes(secret), "a password or TOTP secret in the server log");
    }
  });
});
