// Admin tokens: credentials for automation, each with a role, an environment
// scope and an optional expiry. List, create (the token shown once),
// revoke (confirmed). Developers create; admins and owners revoke.

import { AdminTokenState, describe, Role, type AdminToken } from "../api.js";
import type { Ctx } from "../ctx.js";
import { formDialog } from "../dialogs.js";
import { field, h, row, table, type Child } from "../dom.js";
import { toDate } from "../format.js";
import { roleName, scopeText } from "../roles.js";
import { showAdminToken } from "../secret.js";
import { dayStart, header, loading, scopeFieldset, time } from "./common.js";
import { noneMeans, roleHint, roleSelect } from "./members.js";

function stateOf(token: AdminToken): "Active" | "Revoked" | "Expired" {
  if (token.state === AdminTokenState.REVOKED) return "Revoked";
  const expires = toDate(token.expireTime);
  if (expires && expires.getTime() <= Date.now()) return "Expired";
  return "Active";
}

export async function renderAdminTokens(ctx: Ctx): Promise<void> {
  const body = h("div", null, loading());
  ctx.root.append(
    header(
      "Admin tokens",
      "For automation (scripts, CI, an admin panel's backend): each acts with its role on its environments until it expires or is revoked. People sign in as members instead.",
      ctx.can(Role.DEVELOPER)
        ? h("button", { type: "button", class: "primary", onclick: () => create(ctx) }, "Create admin token")
        : null,
    ),
    body,
  );
  const tokens = await ctx.admin.listAdminTokens();
  if (!ctx.alive()) return;
  const canRevoke = ctx.can(Role.ADMIN);
  const rows = tokens.map((token) => {
    const state = stateOf(token);
    const cells: Child[] = [
      h(
        "span",
        { class: "name-cell" },
        token.displayName || h("span", { class: "muted" }, "—"),
        token.id === ctx.caller.adminTokenId ? h("span", { class: "badge" }, "this session") : null,
      ),
      h("code", null, token.prefix),
      roleName(token.role),
      scopeText(token.environmentIds, ctx.environments),
      h(
        "div",
        null,
        h("span", { class: `badge state-${state.toLowerCase()}` }, state),
        token.revokeTime ? h("div", { class: "hint" }, "since ", time(token.revokeTime)) : null,
      ),
      time(token.createTime),
      time(token.lastUseTime, "never"),
      time(token.expireTime, "never"),
    ];
    if (canRevoke) {
      cells.push(
        token.state === AdminTokenState.ACTIVE
          ? h(
              "button",
              { type: "button", class: "small danger-text", "aria-label": `Revoke ${token.prefix}`, onclick: () => revoke(ctx, token) },
              "Revoke",
            )
          : null,
      );
    }
    return row(...cells);
  });
  const columns = ["Name", "Prefix", "Role", "Scope", "State", "Created", "Last used", "Expires"];
  if (canRevoke) columns.push("Actions");
  body.replaceChildren(
    table("Admin tokens", columns, rows, "No admin tokens."),
    h(
      "p",
      { class: "hint" },
      "A token is shown only once, when created; here only its prefix. Tokens made before roles existed are owners. ",
      "Times are in your browser's time zone.",
    ),
  );
}

function create(ctx: Ctx): void {
  const name = h("input", { type: "text", name: "name", required: true, maxlength: 100, autocomplete: "off" });
  const role = roleSelect(ctx, ctx.caller.role);
  const scope = scopeFieldset(ctx.environments, [], noneMeans(ctx));
  const expires = h("input", { type: "date", name: "expires" });
  formDialog({
    title: "Create admin token",
    submit: "Create",
    body: () => [
      field("Name", name, "What the token is for, e.g. “CI deploys”. 1–100 characters."),
      field("Role", role, roleHint(ctx)),
      scope.el,
      field("Expires on (optional)", expires, "The token stops working at the start of this day (your time zone); empty: never."),
    ],
    onSubmit: async (api) => {
      const expireTime = dayStart(expires.value);
      if (expireTime && Number(expireTime.seconds) * 1000 <= Date.now()) {
        throw new RangeError("expiry: choose a day after today");
      }
      const created = await ctx.admin.account.createAdminToken({
        displayName: name.value.trim(),
        role: Number(role.value) as Role,
        environmentIds: scope.value(),
        expireTime,
      });
      api.close();
      const label = created.adminToken?.displayName ?? name.value.trim();
      showAdminToken(created.token, `the new admin token “${label}”`);
      ctx.announce(`Admin token ${created.adminToken?.prefix ?? ""} created`);
      ctx.refresh();
    },
    onError: (err) => ctx.endedSession(err),
    describeError: describe,
  });
}

function revoke(ctx: Ctx, token: AdminToken): void {
  const own = token.id === ctx.caller.adminTokenId;
  formDialog({
    title: "Revoke admin token",
    submit: "Revoke",
    danger: true,
    body: () => [
      h(
        "p",
        null,
        "Revoke the admin token ",
        h("code", null, token.prefix),
        token.displayName ? ` (${token.displayName})` : "",
        "? Every call with it fails from now on. This cannot be undone.",
        own ? " It is the token this console is signed in with: you will be signed out." : "",
      ),
    ],
    onSubmit: async () => {
      await ctx.admin.account.revokeAdminToken({ id: token.id });
      ctx.announce(`Admin token ${token.prefix} revoked`);
      ctx.refresh();
    },
    onError: (err) => ctx.endedSession(err),
    describeError: describe,
  });
}
