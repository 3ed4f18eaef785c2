// The Pulse web console: sign-in (a member's email and password, or an
// admin token), accepting an invitation, the shell (environment switcher,
// section navigation by role), hash routing (#/keys?env=env_…) and the
// screens.

import {
  acceptInvitation,
  adminFor,
  clearSession,
  describe,
  isSessionToken,
  isUnauthenticated,
  signInMember,
  storedToken,
  storeToken,
  type Admin,
  type Environment,
  type GetCallerResponse,
  Role,
} from "./api.js";
import type { Ctx, Route } from "./ctx.js";
import { closeAllDialogs, setFallbackFocus } from "./dialogs.js";
import { field, h, replace, uid } from "./dom.js";
import { atLeast, roleName } from "./roles.js";
import { renderAdminTokens } from "./screens/admin-tokens.js";
import { renderAnalytics } from "./screens/analytics.js";
import { renderAudit } from "./screens/audit.js";
import { renderData } from "./screens/data.js";
import { renderEnvironments } from "./screens/environments.js";
import { renderKeys } from "./screens/keys.js";
import { renderMembers } from "./screens/members.js";
import { renderSecurity } from "./screens/security.js";

interface Section {
  route: Route;
  label: string;
  /** Whether `caller` sees this section at all. */
  shown?: (caller: GetCallerResponse) => boolean;
}

const SECTIONS: Section[] = [
  { route: "environments", label: "Environments" },
  { route: "keys", label: "Keys" },
  { route: "data", label: "Data" },
  { route: "analytics", label: "Analytics" },
  { route: "audit", label: "Audit log" },
  { route: "members", label: "Members" },
  // ListAdminTokens needs a developer.
  { route: "admin-tokens", label: "Admin tokens", shown: (c) => atLeast(c.role, Role.DEVELOPER) },
  // A password and TOTP belong to a member; an admin token has neither.
  { route: "security", label: "Security", shown: (c) => c.member !== undefined },
];

const SCREENS: Record<Route, (ctx: Ctx) => Promise<void>> = {
  environments: renderEnvironments,
  keys: renderKeys,
  data: renderData,
  analytics: renderAnalytics,
  audit: renderAudit,
  members: renderMembers,
  "admin-tokens": renderAdminTokens,
  security: renderSecurity,
};

const SESSION_ENDED = "Your session ended (UNAUTHENTICATED). Sign in again.";
/** AcceptInvite and SignIn refuse passwords shorter than this. */
const MIN_PASSWORD = 12;

const app = document.getElementById("app") as HTMLElement;

// ---------------------------------------------------------------------------
// Routing

function sectionsFor(caller: GetCallerResponse): Section[] {
  return SECTIONS.filter((s) => !s.shown || s.shown(caller));
}

function parseHash(): { path: string; route: Route; envId: string | null; query: URLSearchParams } {
  const hash = location.hash.replace(/^#\/?/, "");
  const [path, query = ""] = hash.split("?", 2);
  const visible = shell ? sectionsFor(shell.caller) : SECTIONS;
  const route = visible.some((s) => s.route === path) ? (path as Route) : "environments";
  const params = new URLSearchParams(query);
  return { path, route, envId: params.get("env"), query: params };
}

function hashFor(route: Route, envId: string | undefined | null): string {
  return envId ? `#/${route}?env=${encodeURIComponent(envId)}` : `#/${route}`;
}

// ---------------------------------------------------------------------------
// Sign-in

/** The admin-token option stays open after it was used (this page's life only). */
let tokenOptionOpen = false;

/** What the page shows: hash changes mean different things on each. */
let view: "loading" | "signin" | "accept" | "shell" = "loading";

function signInCard(...children: (Node | null)[]): HTMLElement {
  return h(
    "main",
    { class: "signin" },
    h(
      "div",
      { class: "card signin-card" },
      h("div", { class: "brand brand-large" }, h("span", { class: "logo", "aria-hidden": "true" }), "Pulse"),
      children,
    ),
  );
}

/** Runs `work` with `form` busy; a failure goes to `alert`. */
function busyForm(form: HTMLFormElement, alert: HTMLElement, work: () => Promise<void>, onError: () => void): void {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const submit = form.querySelector<HTMLButtonElement>("button[type=submit]");
    if (submit?.disabled) return;
    if (submit) submit.disabled = true;
    form.setAttribute("aria-busy", "true");
    alert.textContent = "";
    try {
      await work();
    } catch (err) {
      alert.textContent = describe(err);
      onError();
    } finally {
      if (submit) submit.disabled = false;
      form.removeAttribute("aria-busy");
    }
  });
}

/** Proves `token` with GetCaller and the environment list, keeps it, opens the shell. */
async function enter(token: string): Promise<void> {
  const admin = adminFor(token);
  const [caller, environments] = await Promise.all([admin.getCaller(), listAllEnvironments(admin)]);
  storeToken(token);
  await startShell(admin, caller, environments, true);
}

function renderSignIn(message?: string): void {
  shell = null;
  view = "signin";
  document.title = "Sign in · Pulse console";
  const alert = h("p", { class: "alert", role: "alert" }, message ?? "");

  // Members: email, password and (once TOTP is on) the code.
  const email = h("input", { type: "email", name: "email", autocomplete: "username", spellcheck: "false", autocapitalize: "off", required: true });
  const password = h("input", { type: "password", name: "password", autocomplete: "current-password", required: true });
  const code = h("input", {
    type: "text",
    name: "totp",
    inputmode: "numeric",
    autocomplete: "one-time-code",
    pattern: "[0-9]{6}",
    maxlength: 6,
    spellcheck: "false",
  });
  const memberForm = h(
    "form",
    { class: "signin-form" },
    field("Email", email),
    field("Password", password),
    field("Authentication code", code, "Only if you turned on an authenticator app: the 6-digit code it shows now."),
    h("button", { type: "submit", class: "primary wide" }, "Sign in"),
  );
  busyForm(
    memberForm,
    alert,
    async () => {
      const token = await signInMember(email.value.trim(), password.value, code.value.trim());
      password.value = "";
      code.value = "";
      tokenOptionOpen = false;
      await enter(token);
    },
    () => {
      code.value = "";
      password.focus();
      password.select();
    },
  );

  // Automation (and a lost password): today's pasted admin token.
  const token = h("input", {
    type: "password",
    name: "admin-token",
    autocomplete: "off",
    spellcheck: "false",
    autocapitalize: "off",
    required: true,
  });
  const tokenRegion = h(
    "div",
    { id: uid("token-signin"), class: "token-signin", hidden: !tokenOptionOpen },
    h("form", { class: "signin-form" },
      field("Admin token", token, "An ak_… token of your account. It stays in this browser tab only."),
      h("button", { type: "submit", class: "wide" }, "Sign in with token"),
    ),
    h(
      "p",
      { class: "hint" },
      "Lost every token and password? On the server, ",
      h("code", null, "pulse member invite <email> --role owner"),
      " invites a new owner.",
    ),
  );
  const tokenForm = tokenRegion.querySelector("form") as HTMLFormElement;
  busyForm(
    tokenForm,
    alert,
    async () => {
      const value = token.value.trim();
      if (!value) return;
      tokenOptionOpen = true;
      await enter(value);
      token.value = "";
    },
    () => {
      token.focus();
      token.select();
    },
  );
  const toggle = h(
    "button",
    {
      type: "button",
      class: "link-button",
      "aria-expanded": tokenOptionOpen ? "true" : "false",
      "aria-controls": tokenRegion.id,
      onclick: () => {
        tokenOptionOpen = tokenRegion.hidden;
        tokenRegion.hidden = !tokenOptionOpen;
        toggle.setAttribute("aria-expanded", String(tokenOptionOpen));
        if (tokenOptionOpen) token.focus();
      },
    },
    "Use an admin token",
  );

  replace(
    app,
    signInCard(
      h("h1", null, "Sign in to Pulse"),
      alert,
      memberForm,
      h("div", { class: "alt-signin" }, toggle, tokenRegion),
      h("p", { class: "hint" }, "New here? Open the invitation link an admin of your Pulse account sent you."),
    ),
  );
  (tokenOptionOpen ? token : email).focus();
}

/** `#/accept?token=inv_…`: choose a password and a name, and be signed in. */
function renderAccept(inviteToken: string | null): void {
  shell = null;
  view = "accept";
  closeAllDialogs();
  document.title = "Accept your invitation · Pulse console";
  const alert = h(
    "p",
    { class: "alert", role: "alert" },
    inviteToken ? "" : "This invitation link has no token. Open the link from your invitation again.",
  );
  const name = h("input", { type: "text", name: "name", autocomplete: "name", maxlength: 100, required: true });
  const password = h("input", { type: "password", name: "new-password", autocomplete: "new-password", minlength: MIN_PASSWORD, required: true });
  const confirm = h("input", { type: "password", name: "confirm-password", autocomplete: "new-password", minlength: MIN_PASSWORD, required: true });
  const submit = h("button", { type: "submit", class: "primary wide", disabled: !inviteToken }, "Accept and sign in");
  const form = h(
    "form",
    { class: "signin-form" },
    field("Your name", name, "How your team sees you: 1–100 characters."),
    field("Password", password, `At least ${MIN_PASSWORD} characters.`),
    field("Confirm password", confirm),
    submit,
  );
  busyForm(
    form,
    alert,
    async () => {
      if (!inviteToken) return;
      if (password.value.length < MIN_PASSWORD) throw new RangeError(`password: at least ${MIN_PASSWORD} characters`);
      if (password.value !== confirm.value) throw new RangeError("the two passwords differ");
      const token = await acceptInvitation(inviteToken, password.value, name.value.trim());
      password.value = "";
      confirm.value = "";
      tokenOptionOpen = false;
      history.replaceState(null, "", "#/environments");
      await enter(token);
    },
    () => password.focus(),
  );
  replace(
    app,
    signInCard(
      h("h1", null, "Accept your invitation"),
      h("p", { class: "lead" }, "Choose your name and a password to join your team's Pulse account."),
      alert,
      form,
      h("p", { class: "hint" }, "Already a member? ", h("a", { href: "#/environments" }, "Sign in"), "."),
    ),
  );
  name.focus();
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
  caller: GetCallerResponse;
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

/** "Sign out": a session is ended on the server too (an admin token stays valid). */
function signOut(): void {
  const current = shell;
  if (current?.caller.member) void current.admin.signOut().catch(() => {});
  endSession();
}

function whoText(caller: GetCallerResponse): string {
  return caller.member ? caller.member.email : "Admin token";
}

async function startShell(
  admin: Admin,
  caller: GetCallerResponse,
  environments: Environment[],
  moveFocus: boolean,
): Promise<void> {
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
  for (const { route, label } of sectionsFor(caller)) {
    links.set(route, h("a", { href: hashFor(route, null) }, label));
  }
  const who = h(
    "p",
    { class: "who", "data-testid": "signed-in-as" },
    h("span", { class: "who-name" }, whoText(caller)),
    " ",
    h("span", { class: "badge" }, roleName(caller.role)),
  );
  const signOutButton = h("button", { type: "button", class: "ghost", onclick: signOut }, "Sign out");
  const alert = h("p", { class: "alert", role: "alert" });
  const status = h("p", { class: "status", role: "status", "aria-live": "polite" });
  const screen = h("div", { class: "screen" });
  view = "shell";
  shell = {
    admin,
    caller,
    environments,
    select,
    links,
    alert,
    status,
    screen,
    generation: 0,
    statusTimer: undefined,
    statusSince: 0,
  };

  replace(
    app,
    h("a", { class: "skip-link", href: "#main", onclick: skipToMain }, "Skip to content"),
    h(
      "header",
      { class: "topbar" },
      h("div", { class: "brand" }, h("span", { class: "logo", "aria-hidden": "true" }), "Pulse"),
      h("div", { class: "env-picker" }, h("label", { for: "env-select" }, "Environment"), select),
      who,
      signOutButton,
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
    caller: current.caller,
    can: (least) => atLeast(current.caller.role, least),
    setMember: (member) => {
      current.caller.member = member;
    },
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

/**
 * `#/accept?token=…`: the token is taken out of the address bar at once
 * (history, screenshots, a shoulder) and kept only by the form.
 */
function acceptRoute(): boolean {
  const { path, query } = parseHash();
  if (path !== "accept") return false;
  const token = query.get("token");
  history.replaceState(null, "", "#/accept");
  renderAccept(token);
  return true;
}

window.addEventListener("hashchange", () => {
  const moveFocus = !keepFocus;
  keepFocus = false;
  if (acceptRoute()) return;
  if (shell) void renderRoute(moveFocus);
  // Leaving the invitation (its "Sign in" link): a stored session may still be good.
  else if (view === "accept") void boot();
});

async function boot(): Promise<void> {
  if (acceptRoute()) return;
  const token = storedToken();
  if (!token) {
    renderSignIn();
    return;
  }
  const admin = adminFor(token);
  view = "loading";
  replace(app, h("main", { class: "signin" }, h("p", { class: "loading" }, "Loading…")));
  try {
    const [caller, environments] = await Promise.all([admin.getCaller(), listAllEnvironments(admin)]);
    tokenOptionOpen = !isSessionToken(token);
    await startShell(admin, caller, environments, false);
  } catch (err) {
    if (isUnauthenticated(err)) endSession(SESSION_ENDED);
    else {
      // Keep the credential (the server may just be down); offer a retry.
      replace(
        app,
        signInCard(
          h("h1", null, "Pulse console"),
          h("p", { class: "alert", role: "alert" }, describe(err)),
          h("div", { class: "actions" },
            h("button", { type: "button", class: "primary", onclick: () => void boot() }, "Try again"),
            h("button", { type: "button", onclick: () => endSession() }, "Sign out"),
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
