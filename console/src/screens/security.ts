// Security (a member's own): change the password; turn on two-step sign-in
// with an authenticator app (TOTP, RFC 6238). The enrolment's secret is
// shown as a QR code drawn in the page (never sent to any QR service) and
// as text, lives only in this screen's DOM until confirmed or left, and is
// never stored.

import { describe, type Member } from "../api.js";
import type { Ctx } from "../ctx.js";
import { field, h, replace } from "../dom.js";
import { qrSvg } from "../qr.js";
import { roleName, scopeText } from "../roles.js";
import { header, time } from "./common.js";

const MIN_PASSWORD = 12;

export async function renderSecurity(ctx: Ctx): Promise<void> {
  const member = ctx.caller.member;
  if (!member) {
    ctx.root.append(
      header("Security"),
      h("div", { class: "card empty-state" }, h("p", null, "Signed in with an admin token: it has no password or authenticator app. Members manage theirs here.")),
    );
    return;
  }
  ctx.root.append(
    header("Security", ["Your sign-in: ", h("strong", null, member.email), "."]),
    h(
      "div",
      { class: "security-grid" },
      h("div", { class: "stack" }, profileCard(ctx, member), passwordCard(ctx)),
      h("div", { class: "stack" }, totpCard(ctx, member)),
    ),
  );
}

function profileCard(ctx: Ctx, member: Member): HTMLElement {
  return h(
    "section",
    { class: "card", "aria-labelledby": "profile-title" },
    h("h2", { id: "profile-title" }, "You"),
    h(
      "dl",
      { class: "facts" },
      h("dt", null, "Name"),
      h("dd", null, member.displayName || "—"),
      h("dt", null, "Email"),
      h("dd", null, member.email),
      h("dt", null, "Role"),
      h("dd", null, roleName(ctx.caller.role)),
      h("dt", null, "Environments"),
      h("dd", null, scopeText(ctx.caller.environmentIds, ctx.environments)),
      h("dt", null, "Member since"),
      h("dd", null, time(member.createTime)),
    ),
  );
}

/** A form whose failures show in its own alert; `work` returns the success message. */
function sectionForm(ctx: Ctx, fields: HTMLElement[], submitLabel: string, work: () => Promise<string>): HTMLFormElement {
  const alert = h("p", { class: "alert", role: "alert" });
  const submit = h("button", { type: "submit", class: "primary" }, submitLabel);
  const form = h("form", null, alert, fields, h("div", { class: "actions start" }, submit));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (submit.disabled) return;
    submit.disabled = true;
    form.setAttribute("aria-busy", "true");
    alert.textContent = "";
    try {
      const done = await work();
      if (ctx.alive()) ctx.announce(done);
    } catch (err) {
      if (!ctx.endedSession(err)) alert.textContent = describe(err);
    } finally {
      submit.disabled = false;
      form.removeAttribute("aria-busy");
    }
  });
  return form;
}

function passwordCard(ctx: Ctx): HTMLElement {
  const current = h("input", { type: "password", name: "current-password", autocomplete: "current-password", required: true });
  const next = h("input", { type: "password", name: "new-password", autocomplete: "new-password", minlength: MIN_PASSWORD, required: true });
  const confirm = h("input", { type: "password", name: "confirm-password", autocomplete: "new-password", minlength: MIN_PASSWORD, required: true });
  const form = sectionForm(
    ctx,
    [
      field("Current password", current),
      field("New password", next, `At least ${MIN_PASSWORD} characters. Your other sessions end.`),
      field("Confirm new password", confirm),
    ],
    "Change password",
    async () => {
      if (next.value.length < MIN_PASSWORD) throw new RangeError(`new password: at least ${MIN_PASSWORD} characters`);
      if (next.value !== confirm.value) throw new RangeError("the two new passwords differ");
      await ctx.admin.session.changePassword({ currentPassword: current.value, newPassword: next.value });
      form.reset();
      return "Password changed; your other sessions have ended";
    },
  );
  return h(
    "section",
    { class: "card", "aria-labelledby": "password-title" },
    h("h2", { id: "password-title" }, "Password"),
    form,
  );
}

function totpCard(ctx: Ctx, member: Member): HTMLElement {
  const card = h("section", { class: "card", "aria-labelledby": "totp-title" });
  const title = h("h2", { id: "totp-title" }, "Two-step sign-in");

  const showState = (on: boolean) => {
    if (on) {
      replace(
        card,
        title,
        h("p", null, h("span", { class: "badge state-active" }, "On"), " Signing in asks for the code your authenticator app shows."),
      );
      return;
    }
    const start = h("button", { type: "button", class: "primary", onclick: () => void enrol() }, "Set up authenticator app");
    replace(
      card,
      title,
      h(
        "p",
        null,
        h("span", { class: "badge" }, "Off"),
        " Ask for a 6-digit code from an authenticator app (any TOTP app) at every sign-in, on top of the password.",
      ),
      h("div", { class: "actions start" }, start),
    );
  };

  const enrol = async () => {
    let enrolment;
    try {
      enrolment = await ctx.admin.session.enrollTotp({});
    } catch (err) {
      ctx.fail(err);
      return;
    }
    if (!ctx.alive()) return;
    const code = h("input", {
      type: "text",
      name: "totp",
      inputmode: "numeric",
      autocomplete: "one-time-code",
      pattern: "[0-9]{6}",
      maxlength: 6,
      required: true,
      spellcheck: "false",
    });
    const cancel = h("button", { type: "button", onclick: () => showState(false) }, "Cancel");
    const form = sectionForm(
      ctx,
      [field("Code from the app", code, "The 6 digits it shows now.")],
      "Turn on",
      async () => {
        const updated = await ctx.admin.session.confirmTotp({ code: code.value.trim() });
        ctx.setMember(updated);
        showState(updated.totpEnabled);
        card.querySelector<HTMLElement>("h2")?.focus();
        return "Two-step sign-in is on";
      },
    );
    form.querySelector(".actions")?.append(cancel);
    // Grouped by four for reading aloud and typing; apps ignore the spaces.
    const grouped = enrolment.secret.replace(/(.{4})(?=.)/g, "$1 ");
    replace(
      card,
      title,
      h("p", null, "1. Scan this QR code with your authenticator app."),
      h("div", { class: "qr-box" }, qrSvg(enrolment.otpauthUrl, "QR code of your sign-in secret, for an authenticator app")),
      h(
        "p",
        null,
        "Or type this key into the app (time-based, 6 digits, 30 s): ",
        h("code", { class: "totp-secret", "data-testid": "totp-secret" }, grouped),
      ),
      h("p", null, "2. Enter the code the app shows to turn it on."),
      form,
    );
    code.focus();
  };

  title.setAttribute("tabindex", "-1");
  showState(member.totpEnabled);
  return card;
}
