// Keys of the selected environment: the publishable key (copy), the key
// table, rotate (with an optional grace period for the old secret key),
// create (secret or restricted), revoke one key.

import { ApiKeyKind, ApiKeyState, describe, Role, type ApiKey } from "../api.js";
import type { Ctx } from "../ctx.js";
import { formDialog } from "../dialogs.js";
import { field, h, row, table, uid } from "../dom.js";
import { count } from "../format.js";
import { copyText, selectText, showSecret } from "../secret.js";
import { header, loading, noEnvironment, time } from "./common.js";

/** What a restricted key may be allowed (access.proto `Permission`). */
export const PERMISSIONS: { name: string; what: string }[] = [
  { name: "rooms.read", what: "get and list rooms" },
  { name: "rooms.write", what: "create and delete rooms (implies rooms.read)" },
  { name: "comments.read", what: "list threads and comments" },
  { name: "comments.write", what: "create threads, create, edit and delete comments (implies comments.read)" },
  { name: "users.read", what: "get and list users" },
  { name: "tokens.write", what: "mint user tokens and revoke a user's tokens" },
  { name: "events.read", what: "watch the environment's audit events" },
];

/** RotateKeysRequest.old_key_expire_seconds is at most one week. */
const MAX_GRACE_MINUTES = 7 * 24 * 60;

const KIND: Record<number, string> = {
  [ApiKeyKind.PUBLISHABLE]: "Publishable",
  [ApiKeyKind.SECRET]: "Secret",
  [ApiKeyKind.RESTRICTED]: "Restricted",
};

const STATE: Record<number, string> = {
  [ApiKeyState.ACTIVE]: "Active",
  [ApiKeyState.REVOKED]: "Revoked",
  [ApiKeyState.EXPIRED]: "Expired",
};

export async function renderKeys(ctx: Ctx): Promise<void> {
  const env = ctx.env;
  if (!env) return noEnvironment(ctx, "Keys");
  const body = h("div", null, loading());
  ctx.root.append(
    header(
      "Keys",
      ["API keys of ", h("strong", null, env.displayName), "."],
      // Creating, rotating and revoking keys needs a developer.
      ctx.can(Role.DEVELOPER) ? h("button", { type: "button", onclick: () => createKey(ctx) }, "Create key") : null,
      ctx.can(Role.DEVELOPER) ? h("button", { type: "button", class: "danger", onclick: () => rotate(ctx) }, "Rotate keys") : null,
    ),
    body,
  );
  const keys = await ctx.admin.listKeys(env.id);
  if (!ctx.alive()) return;

  const publishable = keys.filter((k) => k.kind === ApiKeyKind.PUBLISHABLE && k.state === ApiKeyState.ACTIVE).pop();
  const pkValue = h("code", { class: "key-value", "data-testid": "publishable-key" }, publishable?.value ?? "none");
  const pkCard = h(
    "section",
    { class: "card pk-card", "aria-labelledby": "pk-title" },
    h("h2", { id: "pk-title" }, "Publishable key"),
    h("p", { class: "hint" }, "Goes in your frontend code: it identifies the environment and is safe to expose."),
    h(
      "div",
      { class: "copy-row" },
      pkValue,
      publishable
        ? h(
            "button",
            {
              type: "button",
              onclick: async () => {
                if (await copyText(publishable.value)) ctx.announce("Copied");
                else {
                  selectText(pkValue);
                  ctx.announce("Copying failed: the key is selected, copy it with Ctrl+C (⌘C).");
                }
              },
            },
            "Copy publishable key",
          )
        : null,
    ),
  );

  const canRevoke = ctx.can(Role.DEVELOPER);
  const rows = keys.map((key) => keyRow(ctx, key, canRevoke));
  body.replaceChildren(
    pkCard,
    h("h2", { class: "section-title" }, "All keys"),
    table(
      `Keys of ${env.displayName}`,
      ["Kind", "Name", "Prefix", "State", "Created", "Last used", "Expires", "24h calls", ...(canRevoke ? ["Actions"] : [])],
      rows,
      "No keys.",
    ),
    h(
      "p",
      { class: "hint" },
      "Secret and restricted keys are shown only once, when created; here only their prefix. ",
      "24h calls: successful authentications in the last 24 hours. Times are in your browser's time zone.",
    ),
  );
}

function keyRow(ctx: Ctx, key: ApiKey, canRevoke: boolean): HTMLTableRowElement {
  const kind = KIND[key.kind] ?? "Unknown";
  const state = STATE[key.state] ?? "Unknown";
  const revocable = key.state === ApiKeyState.ACTIVE && key.kind !== ApiKeyKind.PUBLISHABLE;
  const name = h(
    "div",
    null,
    key.displayName ? key.displayName : h("span", { class: "muted" }, "—"),
    key.permissions.length > 0 ? h("div", { class: "tags" }, key.permissions.map((p) => h("span", { class: "tag" }, p))) : null,
    key.allowedCidrs.length > 0 ? h("div", { class: "hint" }, `From ${key.allowedCidrs.join(", ")}`) : null,
  );
  const stateCell = h(
    "div",
    null,
    h("span", { class: `badge state-${state.toLowerCase()}` }, state),
    key.revokeTime ? h("div", { class: "hint" }, "since ", time(key.revokeTime)) : null,
  );
  return row(
    h("span", { class: `kind kind-${kind.toLowerCase()}` }, kind),
    name,
    h("code", null, key.prefix),
    stateCell,
    time(key.createTime),
    time(key.lastUseTime, "never"),
    time(key.expireTime, "never"),
    h("span", { class: "num" }, count(key.successCount24h)),
    !canRevoke
      ? false
      : revocable
      ? h(
          "button",
          { type: "button", class: "small danger-text", "aria-label": `Revoke ${key.prefix}`, onclick: () => revoke(ctx, key) },
          "Revoke",
        )
      : null,
  );
}

function rotate(ctx: Ctx): void {
  const env = ctx.env;
  if (!env) return;
  const grace = h("input", {
    type: "number",
    name: "grace",
    min: 0,
    max: MAX_GRACE_MINUTES,
    step: 1,
    value: 0,
    inputmode: "numeric",
  });
  formDialog({
    title: "Rotate keys",
    submit: "Rotate",
    danger: true,
    body: () => [
      h(
        "p",
        null,
        "Makes a new publishable and secret key pair for ",
        h("strong", null, env.displayName),
        ". The old publishable key stops working at once; the old secret key at once, or after the grace period ",
        "so your backends can be redeployed with the new one. Restricted keys are not touched.",
      ),
      field("Grace period (minutes)", grace, `0 (revoke at once) to ${count(MAX_GRACE_MINUTES)} (one week).`),
    ],
    onSubmit: async (api) => {
      const minutes = grace.value.trim() === "" ? 0 : Number(grace.value);
      if (!Number.isInteger(minutes) || minutes < 0 || minutes > MAX_GRACE_MINUTES) {
        throw new RangeError(`grace period: a whole number of minutes from 0 to ${MAX_GRACE_MINUTES}`);
      }
      const rotated = await ctx.admin.rotateKeys(env.id, minutes * 60);
      api.close();
      showSecret(rotated.secretKey, `the new secret key of ${env.displayName}`);
      ctx.announce(
        minutes > 0
          ? `Keys rotated; the old secret key works for ${minutes} more minutes`
          : "Keys rotated; the old keys no longer work",
      );
      ctx.refresh();
    },
    onError: (err) => ctx.endedSession(err),
    describeError: (err) => (err instanceof RangeError ? `INVALID_ARGUMENT: ${err.message}` : describe(err)),
  });
}

function revoke(ctx: Ctx, key: ApiKey): void {
  const kind = (KIND[key.kind] ?? "").toLowerCase();
  formDialog({
    title: "Revoke key",
    submit: "Revoke",
    danger: true,
    body: () => [
      h(
        "p",
        null,
        `Revoke the ${kind} key `,
        h("code", null, key.prefix),
        key.displayName ? ` (${key.displayName})` : "",
        "? Every call with it fails from now on. This cannot be undone.",
      ),
    ],
    onSubmit: async () => {
      await ctx.admin.revokeKey(key.id);
      ctx.announce(`Key ${key.prefix} revoked`);
      ctx.refresh();
    },
    onError: (err) => ctx.endedSession(err),
    describeError: describe,
  });
}

function createKey(ctx: Ctx): void {
  const env = ctx.env;
  if (!env) return;
  const kind = h(
    "select",
    { name: "kind" },
    h("option", { value: String(ApiKeyKind.SECRET) }, "Secret"),
    h("option", { value: String(ApiKeyKind.RESTRICTED) }, "Restricted"),
  );
  const name = h("input", { type: "text", name: "name", maxlength: 100, autocomplete: "off" });
  const checks = PERMISSIONS.map((p) => {
    const id = uid("perm");
    const box = h("input", { type: "checkbox", id, name: "permission", value: p.name });
    return {
      box,
      el: h(
        "div",
        { class: "check" },
        box,
        h("label", { for: id }, p.name),
        h("span", { class: "hint" }, p.what),
      ),
    };
  });
  const permissions = h(
    "fieldset",
    { class: "permissions", hidden: true },
    h("legend", null, "Permissions"),
    checks.map((c) => c.el),
  );
  const expires = h("input", { type: "date", name: "expires" });
  const cidrs = h("input", { type: "text", name: "cidrs", autocomplete: "off", spellcheck: "false", placeholder: "10.0.0.0/8, 2001:db8::/32" });
  formDialog({
    title: "Create key",
    submit: "Create",
    body: () => [
      h(
        "p",
        { class: "hint" },
        "A new key next to the working ones (at most 5 of each kind), for a zero-downtime swap: deploy it, then revoke the old one. ",
        "A restricted key may do only what its permissions allow.",
      ),
      field("Kind", kind),
      field("Name", name, "Optional: what the key is for, e.g. “analytics job”."),
      permissions,
      field("Expires on (optional)", expires, "The key stops working at the start of this day (your time zone); empty: never."),
      field("Allowed networks (optional)", cidrs, "Comma-separated CIDRs or addresses; empty: anywhere."),
    ],
    setup: () => {
      const sync = () => {
        permissions.hidden = Number(kind.value) !== ApiKeyKind.RESTRICTED;
      };
      kind.addEventListener("change", sync);
      return sync;
    },
    onSubmit: async (api) => {
      const restricted = Number(kind.value) === ApiKeyKind.RESTRICTED;
      const chosen = restricted ? checks.filter((c) => c.box.checked).map((c) => c.box.value) : [];
      if (restricted && chosen.length === 0) throw new RangeError("permissions: choose at least one");
      const expireDate = expires.value ? new Date(`${expires.value}T00:00:00`) : undefined;
      const ms = expireDate?.getTime();
      const created = await ctx.admin.environments.createKey({
        environmentId: env.id,
        kind: restricted ? ApiKeyKind.RESTRICTED : ApiKeyKind.SECRET,
        displayName: name.value.trim(),
        permissions: chosen,
        allowedCidrs: cidrs.value.split(/[\s,]+/).filter((c) => c !== ""),
        expireTime:
          ms === undefined ? undefined : { seconds: BigInt(Math.floor(ms / 1000)), nanos: 0 },
      });
      api.close();
      const label = restricted ? "restricted" : "secret";
      showSecret(created.secretKey, `the new ${label} key${created.key ? ` ${created.key.prefix}…` : ""}`);
      ctx.announce(`Key ${created.key?.prefix ?? ""} created`);
      ctx.refresh();
    },
    onError: (err) => ctx.endedSession(err),
    describeError: (err) => (err instanceof RangeError ? `INVALID_ARGUMENT: ${err.message}` : describe(err)),
  });
}
