// Members: the people who sign in to the account's console. List (email,
// name, role, scope, state, TOTP), invite (the link shown once), change a
// role or scope, remove (confirmed). Admins and owners manage; only an
// owner touches owners; everyone else reads.

import { describe, MemberState, Role, type Member } from "../api.js";
import type { Ctx } from "../ctx.js";
import { formDialog } from "../dialogs.js";
import { field, h, row, table, type Child } from "../dom.js";
import { grantable, roleName, roleWhat, scopeText } from "../roles.js";
import { showInviteLink } from "../secret.js";
import { header, loading, scopeFieldset, time } from "./common.js";

const STATE: Record<number, string> = {
  [MemberState.INVITED]: "Invited",
  [MemberState.ACTIVE]: "Active",
};

export async function renderMembers(ctx: Ctx): Promise<void> {
  const body = h("div", null, loading());
  ctx.root.append(
    header(
      "Members",
      "People who sign in to this account's console, each with a role and the environments they see.",
      ctx.can(Role.ADMIN)
        ? h("button", { type: "button", class: "primary", onclick: () => invite(ctx) }, "Invite member")
        : null,
    ),
    body,
  );
  const members = await ctx.admin.listMembers();
  if (!ctx.alive()) return;
  const manageable = (m: Member) =>
    ctx.can(Role.ADMIN) &&
    m.id !== ctx.caller.member?.id &&
    (m.role !== Role.OWNER || ctx.caller.role === Role.OWNER);
  const anyActions = members.some(manageable);
  const rows = members.map((m) => {
    const you = m.id === ctx.caller.member?.id;
    const state = STATE[m.state] ?? "Unknown";
    const cells: Child[] = [
      h("span", { class: "name-cell" }, m.email, you ? h("span", { class: "badge" }, "you") : null),
      m.displayName || h("span", { class: "muted" }, "—"),
      roleName(m.role),
      scopeText(m.environmentIds, ctx.environments),
      h(
        "div",
        null,
        h("span", { class: `badge state-${state.toLowerCase()}` }, state),
        m.state === MemberState.INVITED && m.inviteExpireTime
          ? h("div", { class: "hint" }, "link expires ", time(m.inviteExpireTime))
          : null,
      ),
      m.totpEnabled ? "On" : h("span", { class: "muted" }, "Off"),
      time(m.lastSignInTime, "never"),
    ];
    if (anyActions) {
      cells.push(
        manageable(m)
          ? h(
              "div",
              { class: "row-actions" },
              h("button", { type: "button", class: "small", "aria-label": `Change role of ${m.email}`, onclick: () => changeRole(ctx, m) }, "Change role"),
              h("button", { type: "button", class: "small danger-text", "aria-label": `Remove ${m.email}`, onclick: () => remove(ctx, m) }, "Remove"),
            )
          : null,
      );
    }
    return row(...cells);
  });
  const columns = ["Email", "Name", "Role", "Scope", "State", "TOTP", "Last sign-in"];
  if (anyActions) columns.push("Actions");
  body.replaceChildren(
    table("Members", columns, rows, "No members yet."),
    h(
      "p",
      { class: "hint" },
      "Owner: everything. Admin: everything except owners. Developer: environments, keys and admin tokens; deletes nothing. Viewer: reads only. ",
      "Scope: the environments a member sees; “Whole account” includes future ones.",
    ),
  );
}

export function roleSelect(ctx: Ctx, current: Role): HTMLSelectElement {
  const select = h(
    "select",
    { name: "role" },
    grantable(ctx.caller).map((r) => h("option", { value: String(r) }, roleName(r))),
  );
  select.value = String(grantable(ctx.caller).includes(current) ? current : Role.VIEWER);
  return select;
}

/** "Owner: everything, including owners. Admin: …" for the roles on offer. */
export function roleHint(ctx: Ctx): string {
  return grantable(ctx.caller).map((r) => `${roleName(r)}: ${roleWhat(r)}.`).join(" ");
}

/** What "no environment ticked" means for this caller. */
export function noneMeans(ctx: Ctx): string {
  return ctx.caller.environmentIds.length === 0 ? "the whole account, future environments too" : "all of your environments";
}

function invite(ctx: Ctx): void {
  const email = h("input", { type: "email", name: "email", required: true, maxlength: 254, autocomplete: "off", spellcheck: "false" });
  const role = roleSelect(ctx, Role.VIEWER);
  const scope = scopeFieldset(ctx.environments, [], noneMeans(ctx));
  formDialog({
    title: "Invite member",
    submit: "Invite",
    body: () => [
      field("Email", email, "Where you will send the invitation link."),
      field("Role", role, roleHint(ctx)),
      scope.el,
    ],
    onSubmit: async (api) => {
      const invited = await ctx.admin.inviteMember(email.value.trim(), Number(role.value) as Role, scope.value());
      api.close();
      const who = invited.member?.email ?? email.value.trim();
      showInviteLink(`${location.origin}/#/accept?token=${invited.inviteToken}`, who);
      ctx.announce(`${who} invited`);
      ctx.refresh();
    },
    onError: (err) => ctx.endedSession(err),
    describeError: describe,
  });
}

function changeRole(ctx: Ctx, member: Member): void {
  const role = roleSelect(ctx, member.role);
  const scope = scopeFieldset(ctx.environments, member.environmentIds, noneMeans(ctx));
  formDialog({
    title: "Change role",
    submit: "Save",
    body: () => [
      h("p", null, "Role and environments of ", h("strong", null, member.email), ". Their sessions follow at once."),
      field("Role", role, roleHint(ctx)),
      scope.el,
    ],
    onSubmit: async () => {
      const newRole = Number(role.value) as Role;
      const environmentIds = scope.value();
      const paths: string[] = [];
      if (newRole !== member.role) paths.push("role");
      const same =
        environmentIds.length === member.environmentIds.length &&
        environmentIds.every((id) => member.environmentIds.includes(id));
      if (!same) paths.push("environment_ids");
      if (paths.length === 0) return;
      await ctx.admin.members.updateMember({
        memberId: member.id,
        role: newRole,
        environmentIds,
        updateMask: { paths },
      });
      ctx.announce(`${member.email} is now ${roleName(newRole)}`);
      ctx.refresh();
    },
    onError: (err) => ctx.endedSession(err),
    describeError: describe,
  });
}

function remove(ctx: Ctx, member: Member): void {
  const invited = member.state === MemberState.INVITED;
  formDialog({
    title: "Remove member",
    submit: "Remove",
    danger: true,
    body: () => [
      h(
        "p",
        null,
        invited ? "Withdraw the invitation of " : "Remove ",
        h("strong", null, member.email),
        invited
          ? "? The invitation link stops working."
          : "? They are signed out everywhere at once and can no longer sign in.",
      ),
    ],
    onSubmit: async () => {
      await ctx.admin.members.removeMember({ memberId: member.id });
      ctx.announce(`${member.email} removed`);
      ctx.refresh();
    },
    onError: (err) => ctx.endedSession(err),
    describeError: describe,
  });
}
