// Environments: list, create (its first secret key shown once), rename,
// delete (type the name to confirm).

import { describe, Role, type Environment } from "../api.js";
import type { Ctx } from "../ctx.js";
import { formDialog } from "../dialogs.js";
import { field, h, row, table } from "../dom.js";
import { showSecret } from "../secret.js";
import { header, time } from "./common.js";

export async function renderEnvironments(ctx: Ctx): Promise<void> {
  // What the caller's role allows (the server checks it either way).
  const canRename = ctx.can(Role.DEVELOPER);
  const canDelete = ctx.can(Role.ADMIN);
  // A scoped caller sees only its environments and cannot add one.
  const canCreate = ctx.can(Role.DEVELOPER) && ctx.caller.environmentIds.length === 0;
  const withActions = canRename || canDelete;
  const rows = ctx.environments.map((env) => {
    const selected = env.id === ctx.env?.id;
    const tr = row(
      h(
        "span",
        { class: "name-cell" },
        h("a", { href: `#/keys?env=${encodeURIComponent(env.id)}`, title: `Keys of ${env.displayName}` }, env.displayName),
        selected ? h("span", { class: "badge" }, "selected") : null,
      ),
      h("code", null, env.id),
      time(env.createTime),
      withActions
        ? h(
            "div",
            { class: "row-actions" },
            canRename
              ? h("button", { type: "button", class: "small", "aria-label": `Rename ${env.displayName}`, onclick: () => rename(ctx, env) }, "Rename")
              : null,
            canDelete
              ? h("button", { type: "button", class: "small danger-text", "aria-label": `Delete ${env.displayName}`, onclick: () => remove(ctx, env) }, "Delete")
              : null,
          )
        : false,
    );
    if (selected) tr.classList.add("selected");
    return tr;
  });
  ctx.root.append(
    header(
      "Environments",
      "Isolated workspaces, each with its own data and API keys.",
      canCreate ? h("button", { type: "button", class: "primary", onclick: () => create(ctx) }, "New environment") : null,
    ),
    table(
      "Environments",
      withActions ? ["Name", "ID", "Created", "Actions"] : ["Name", "ID", "Created"],
      rows,
      canCreate ? "No environments yet. Create the first one." : "No environments yet.",
    ),
  );
}

function nameInput(value = ""): HTMLInputElement {
  return h("input", { type: "text", name: "name", required: true, maxlength: 100, autocomplete: "off", value });
}

function create(ctx: Ctx): void {
  const name = nameInput();
  formDialog({
    title: "New environment",
    submit: "Create",
    body: () => [
      field("Name", name, "e.g. Production, Staging. 1–100 characters."),
      h("p", { class: "hint" }, "It gets a publishable key and a secret key; the secret key is shown once."),
    ],
    onSubmit: async (api) => {
      const created = await ctx.admin.createEnvironment(name.value.trim());
      const env = created.environment;
      api.close();
      showSecret(created.secretKey, `the secret key of ${env?.displayName ?? "the new environment"}`);
      ctx.announce(`Environment ${env?.displayName ?? ""} created`);
      try {
        await ctx.reloadEnvironments(env?.id);
      } catch (err) {
        ctx.fail(err); // the form dialog is closed: show it on the page
        return;
      }
      ctx.go("environments", env?.id);
    },
    onError: (err) => ctx.endedSession(err),
    describeError: describe,
  });
}

function rename(ctx: Ctx, env: Environment): void {
  const name = nameInput(env.displayName);
  formDialog({
    title: "Rename environment",
    submit: "Save",
    body: () => [field("Name", name, `The id ${env.id} does not change.`)],
    onSubmit: async () => {
      await ctx.admin.environments.updateEnvironment({
        environment: { id: env.id, displayName: name.value.trim() },
        updateMask: { paths: ["display_name"] },
      });
      ctx.announce(`Renamed to ${name.value.trim()}`);
      await ctx.reloadEnvironments();
      ctx.refresh();
    },
    onError: (err) => ctx.endedSession(err),
    describeError: describe,
  });
}

function remove(ctx: Ctx, env: Environment): void {
  const confirm = h("input", { type: "text", name: "confirm", autocomplete: "off", spellcheck: "false" });
  formDialog({
    title: "Delete environment",
    submit: "Delete",
    danger: true,
    body: () => [
      h(
        "p",
        null,
        "This deletes ",
        h("strong", null, env.displayName),
        " (",
        h("code", null, env.id),
        ") with all its rooms, threads, comments and users. Its keys stop working at once. This cannot be undone.",
      ),
      field("Type the name to confirm", confirm, `Type: ${env.displayName}`),
    ],
    setup: (_form, submit) => {
      const sync = () => {
        submit.disabled = confirm.value !== env.displayName;
      };
      confirm.addEventListener("input", sync);
      return sync;
    },
    onSubmit: async () => {
      await ctx.admin.environments.deleteEnvironment({ id: env.id });
      ctx.announce(`Environment ${env.displayName} deleted`);
      const wasSelected = ctx.env?.id === env.id;
      await ctx.reloadEnvironments();
      // A deleted selection falls back to the first environment left.
      if (wasSelected) ctx.go("environments", "");
      else ctx.refresh();
    },
    onError: (err) => ctx.endedSession(err),
    describeError: describe,
  });
}
