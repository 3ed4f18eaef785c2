// The Pulse web console: sign-in, the shell (environment switcher, section
// navigation), hash routing (#/keys?env=env_…) and the screens.

import {
  adminFor,
  clearSession,
  describe,
  isUnauthenticated,
  storedToken,
  storeToken,
  type Admin,
  type Environment,
} from "./api.js";
import type { Ctx, Route } from "./ctx.js";
import { closeAllDialogs, setFallbackFocus } from "./dialogs.js";
import { field, h, replace } from "./dom.js";
import { renderAnalytics } from "./screens/analytics.js";
import { renderAudit } from "./screens/audit.js";
import { renderData } from "./screens/data.js";
import { renderEnvironments } from "./screens/environments.js";
import { renderKeys } from "./screens/keys.js";

const SECTIONS: { route: Route; label: string }[] = [
  { route: "environments", label: "Environments" },
  { route: "keys", label: "Keys" },
  { route: "data", label: "Data" },
  { route: "analytics", label: "Analytics" },
  { route: "audit", label: "Audit log" },
];

const SCREENS: Record<Route, (ctx: Ctx) => Promise<void>> = {
  environments: renderEnvironments,
  keys: renderKeys,
  data: renderData,
  analytics: renderAnalytics,
  audit: renderAudit,
};

const SESSION_ENDED = "Your session ended (UNAUTHENTICATED). Sign in again.";

const app = document.getElementById("app") as HTMLElement;

// ---------------------------------------------------------------------------
// Routing

function parseHash(): { route: Route; envId: string | null } {
  const hash = location.hash.replace(/^#\/?/, "");
  const [path, query = ""] = hash.split("?", 2);
  const route = SECTIONS.some((s) => s.route === path) ? (path as Route) : "environments";
  return { route, envId: new URLSearchParams(query).get("env") };
}

function hashFor(route: Route, envId: string | undefined | null): string {
  return envId ? `#/${route}?env=${encodeURIComponent(envId)}` : `#/${route}`;
}

// ---------------------------------------------------------------------------
// Sign-in

function renderSignIn(message?: string): void {
  document.title = "Sign in · Pulse console";
  const alert = h("p", { class: "alert", role: "alert" }, message ?? "");
  const token = h("input", {
    type: "password",
    name: "admin-token",
    autocomplete: "off",
    spellcheck: "false",
    autocapitalize: "off",
    required: true,
  });
  const submit = h("button", { type: "submit", class: "primary wide" }, "Sign in");
  const form = h(
    "form",
    { class: "signin-form" },
    field("Admin token", token, "An ak_… token of your account. It stays in this browser tab only."),
    submit,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = token.value.trim();
    if (!value || submit.disabled) return;
    submit.disabled = true;
    form.setAttribute("aria-busy", "true");
    alert.textContent = "";
    const admin = adminFor(value);
    try {
      // The cheapest admin call: proves the token before it is kept.
      const environments = await listAllEnvironments(admin);
      storeToken(value);
      token.value = "";
      await startShell(admin, environments, true);
    } catch (err) {
      alert.textContent = describe(err);
      token.focus();
      token.select();
    } finally {
      submit.disabled = false;
      form.removeAttribute("aria-busy");
    }
  });
  replace(
    app,
    h(
      "main",
      { class: "signin" },
      h(
        "div",
        { class: "card signin-card" },
        h("div", { class: "brand brand-large" }, h("span", { class: "logo", "aria-hidden": "true" }), "Pulse"),
        h("h1", null, "Sign in to Pulse"),
        alert,
        form,
        h(
          "p",
          { class: "hint" },
          "Lost every token? On the server, ",
          h("code", null, "pulse account token create <account id>"),
          " makes a new one.",
        ),
      ),
    ),
  );
  token.focus();
}

async function listAllEnvironments(admin: Admin): Promise<Environment[]> {
  const out: Environment[] = [];
  let pageToken = "";
  do {
    const page = await admin.environments.listEnvironments({ pageSize: 1000, pageToken });
    out.push(...page.environments);
    pageToken = page.nextPageToken;
  } while (pageToken !== "");
  return out;
}

// ---------------------------------------------------------------------------
// The shell

interface Shell {
  admin: Admin;
  environments: Environment[];
  select: HTMLSelectElement;
  links: Map<Route, HTMLAnchorElement>;
  alert: HTMLElement;
  status: HTMLElement;
  screen: HTMLElement;
  /** Bumped on every render: a screen's late results check it. */
  generation: number;
  statusTimer: number | undefined;
  /** When the status was last set: a message outlives only the navigation it caused. */
  statusSince: number;
}

let shell: Shell | null = null;

function endSession(message?: string): void {
  shell = null;
  closeAllDialogs();
  clearSession();
  renderSignIn(message);
}

async function startShell(admin: Admin, environments: Environment[], moveFocus: boolean): Promise<void> {
  const select = h("select", { id: "env-select", name: "environment" });
  select.addEventListener("change", () => {
    const { route } = parseHash();
    const wanted = hashFor(route, select.value);
    if (location.hash === wanted) return;
    // Keyboard users step through environments with the arrow keys (a
    // change per key press on some platforms): focus stays on the select.
    keepFocus = true;
    location.hash = wanted;
  });
  const links = new Map<Route, HTMLAnchorElement>();
  for (const { route, label } of SECTIONS) {
    links.set(route, h("a", { href: hashFor(route, null) }, label));
  }
  const signOut = h("button", { type: "button", class: "ghost", onclick: () => endSession() }, "Sign out");
  const alert = h("p", { class: "alert", role: "alert" });
  const status = h("p", { class: "status", role: "status", "aria-live": "polite" });
  const screen = h("div", { class: "screen" });
  shell = { admin, environments, select, links, alert, status, screen, generation: 0, statusTimer: undefined, statusSince: 0 };

  replace(
    app,
    h("a", { class: "skip-link", href: "#main", onclick: skipToMain }, "Skip to content"),
    h(
      "header",
      { class: "topbar" },
      h("div", { class: "brand" }, h("span", { class: "logo", "aria-hidden": "true" }), "Pulse"),
      h("div", { class: "env-picker" }, h("label", { for: "env-select" }, "Environment"), select),
      signOut,
    ),
    h(
      "div",
      { class: "layout" },
      h("nav", { "aria-label": "Sections", class: "sections" }, h("ul", null, [...links.values()].map((a) => h("li", null, a)))),
      h("main", { id: "main", tabindex: -1 }, alert, status, screen),
    ),
  );
  fillEnvironmentSelect();
  await renderRoute(moveFocus);
}

function skipToMain(event: Event): void {
  event.preventDefault(); // the hash is the router's
  const heading = document.querySelector<HTMLElement>("main h1");
  (heading ?? document.getElementById("main"))?.focus();
}

function fillEnvironmentSelect(selected?: string): void {
  if (!shell) return;
  const { select, environments } = shell;
  const current = selected ?? parseHash().envId ?? select.value;
  if (environments.length === 0) {
    replace(select, h("option", { value: "" }, "No environments yet"));
    select.disabled = true;
    return;
  }
  select.disabled = false;
  replace(
    select,
    environments.map((env) => h("option", { value: env.id }, env.displayName)),
  );
  select.value = environments.some((e) => e.id === current) ? current : environments[0].id;
}

/** Renders the screen the hash names. */
async function renderRoute(moveFocus: boolean): Promise<void> {
  const current = shell;
  if (!current) return;
  const { route, envId } = parseHash();
  const environments = current.environments;
  const env = environments.find((e) => e.id === envId) ?? environments[0];
  // Normalise the hash (unknown or missing env) without a history entry.
  const wanted = hashFor(route, env?.id);
  if (location.hash !== wanted) history.replaceState(null, "", wanted);
  if (env) current.select.value = env.id;

  for (const [r, link] of current.links) {
    link.href = hashFor(r, env?.id);
    if (r === route) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const label = SECTIONS.find((s) => s.route === route)?.label ?? "";
  document.title = `${label}${env ? ` · ${env.displayName}` : ""} · Pulse console`;

  current.generation += 1;
  const generation = current.generation;
  current.alert.textContent = "";
  if (Date.now() - current.statusSince > 1500) current.status.textContent = "";
  const hadFocus = current.screen.contains(document.activeElement);
  current.screen.replaceChildren();
  const ctx: Ctx = {
    admin: current.admin,
    environments,
    env,
    root: current.screen,
    alive: () => shell === current && current.generation === generation,
    fail: (err) => {
      if (shell !== current) return;
      if (isUnauthenticated(err)) endSession(SESSION_ENDED);
      // A late failure of a screen already left is not the new screen's.
      else if (current.generation === generation) current.alert.textContent = describe(err);
    },
    endedSession: (err) => {
      if (!isUnauthenticated(err)) return false;
      if (shell === current) endSession(SESSION_ENDED);
      return true;
    },
    announce: (text) => announce(current, text),
    reloadEnvironments: async (selectId) => {
      current.environments = await listAllEnvironments(current.admin);
      if (shell !== current) return;
      fillEnvironmentSelect(selectId);
    },
    refresh: () => void renderRoute(false),
    go: (r, id) => {
      location.hash = hashFor(r, id ?? parseHash().envId);
    },
  };
  current.screen.setAttribute("aria-busy", "true");
  try {
    await SCREENS[route](ctx);
  } catch (err) {
    ctx.fail(err);
  } finally {
    if (ctx.alive()) current.screen.removeAttribute("aria-busy");
  }
  if (ctx.alive() && (moveFocus || (hadFocus && document.activeElement === document.body))) {
    current.screen.querySelector<HTMLElement>("h1")?.focus();
  }
}

function announce(current: Shell, text: string): void {
  current.status.textContent = text;
  current.statusSince = Date.now();
  window.clearTimeout(current.statusTimer);
  current.statusTimer = window.setTimeout(() => {
    if (current.status.textContent === text) current.status.textContent = "";
  }, 6000);
}

// ---------------------------------------------------------------------------
// Start

setFallbackFocus(() => {
  document.querySelector<HTMLElement>("main h1")?.focus();
});

/** Set by the environment select: its hash change must not move focus. */
let keepFocus = false;

window.addEventListener("hashchange", () => {
  const moveFocus = !keepFocus;
  keepFocus = false;
  if (shell) void renderRoute(moveFocus);
});

async function boot(): Promise<void> {
  const token = storedToken();
  if (!token) {
    renderSignIn();
    return;
  }
  const admin = adminFor(token);
  replace(app, h("main", { class: "signin" }, h("p", { class: "loading" }, "Loading…")));
  try {
    await startShell(admin, await listAllEnvironments(admin), false);
  } catch (err) {
    if (isUnauthenticated(err)) endSession(SESSION_ENDED);
    else {
      // Keep the token (the server may just be down); offer a retry.
      replace(
        app,
        h(
          "main",
          { class: "signin" },
          h(
            "div",
            { class: "card signin-card" },
            h("h1", null, "Pulse console"),
            h("p", { class: "alert", role: "alert" }, describe(err)),
            h("div", { class: "actions" },
              h("button", { type: "button", class: "primary", onclick: () => void boot() }, "Try again"),
              h("button", { type: "button", onclick: () => endSession() }, "Sign out"),
            ),
          ),
        ),
      );
    }
  }
}

window.addEventListener("unhandledrejection", (event) => {
  // Last resort: a bug must not leave a blank screen or a silent failure.
  event.preventDefault();
  const message = describe(event.reason);
  if (shell) shell.alert.textContent = message;
  else console.warn(message);
});

void boot();
