// The account's audit log: who changed what, when, from where; filtered by
// event type and, optionally, to the selected environment.

import type { AuditEvent } from "../api.js";
import type { Ctx } from "../ctx.js";
import { field, h, replace, row, table } from "../dom.js";
import { header, loading, Pager, pagerControls, time } from "./common.js";

/** AuditEvent.type values (audit.proto). */
export const EVENT_TYPES = [
  "account.created",
  "admin_token.created",
  "admin_token.revoked",
  "environment.created",
  "environment.renamed",
  "environment.deleted",
  "key.created",
  "keys.rotated",
  "key.revoked",
  "key.expiring",
  "signing_key.created",
  "signing_key.rotated",
  "signing_key.revoked",
  "user_tokens.revoked",
  "member.invited",
  "member.joined",
  "member.updated",
  "member.removed",
  "member.totp_enabled",
  "member.password_changed",
];

const PAGE_SIZE = 50;

/** Filters survive moving between screens (not the page: nothing is stored). */
const filters = {
  type: "",
  scope: "account" as "account" | "environment",
  pager: new Pager(),
  /** Whose list the pager's tokens belong to (the server binds them to it). */
  owner: null as Ctx["admin"] | null,
  list: "",
};

export async function renderAudit(ctx: Ctx): Promise<void> {
  const env = ctx.env;
  const type = h(
    "select",
    { name: "type" },
    h("option", { value: "" }, "All"),
    EVENT_TYPES.map((t) => h("option", { value: t }, t)),
  );
  type.value = filters.type;
  const scope = h(
    "select",
    { name: "scope" },
    h("option", { value: "account" }, "Whole account"),
    env ? h("option", { value: "environment" }, `${env.displayName} only`) : null,
  );
  scope.value = env ? filters.scope : "account";
  const results = h("div", null, loading());
  ctx.root.append(
    header("Audit log", "Every change to credentials and environments: who did it, when and from where. Oldest first."),
    h("div", { class: "filters" }, field("Event type", type), field("Scope", scope)),
    results,
  );

  let sequence = 0;
  const load = async () => {
    sequence += 1;
    const mine = sequence;
    // Another account, scope or environment: page tokens of the old list
    // would be refused (INVALID_ARGUMENT), so start from its first page.
    const list = `${filters.type}/${filters.scope === "environment" && env ? env.id : ""}`;
    if (filters.owner !== ctx.admin || filters.list !== list) {
      filters.pager.reset();
      filters.owner = ctx.admin;
      filters.list = list;
    }
    results.setAttribute("aria-busy", "true");
    try {
      const page = await ctx.admin.audit.listAuditEvents({
        pageSize: PAGE_SIZE,
        pageToken: filters.pager.current,
        type: filters.type,
        environmentId: filters.scope === "environment" && env ? env.id : "",
      });
      if (!ctx.alive() || mine !== sequence) return;
      filters.pager.next = page.nextPageToken;
      replace(
        results,
        table("Audit events", ["Time", "Type", "Actor", "Target", "Environment", "Request", "From", "Details"], page.events.map(eventRow), "No events."),
        pagerControls(filters.pager, "", () => void load()),
      );
    } catch (err) {
      if (ctx.alive() && mine === sequence) {
        replace(results);
        ctx.fail(err);
      }
    } finally {
      if (mine === sequence) results.removeAttribute("aria-busy");
    }
  };
  const refilter = () => {
    filters.type = type.value;
    filters.scope = scope.value === "environment" ? "environment" : "account";
    filters.pager.reset();
    void load();
  };
  type.addEventListener("change", refilter);
  scope.addEventListener("change", refilter);
  await load();
}

function eventRow(e: AuditEvent): HTMLTableRowElement {
  const details = Object.entries(e.details).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return row(
    time(e.createTime),
    h("span", { class: "tag" }, e.type),
    h("code", null, e.actor),
    e.targetId ? h("code", null, e.targetId) : h("span", { class: "muted" }, "—"),
    e.environmentId ? h("code", null, e.environmentId) : h("span", { class: "muted" }, "—"),
    h("code", { class: "muted" }, e.requestId),
    e.peer,
    details.length > 0
      ? h("div", { class: "tags" }, details.map(([k, v]) => h("span", { class: "tag" }, `${k}: ${v}`)))
      : h("span", { class: "muted" }, "—"),
  );
}
