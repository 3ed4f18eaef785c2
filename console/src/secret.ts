// "Save your secret key": the one time an sk_/rk_ (or a new admin token, or
// an invitation link) is shown. The value lives only in this dialog's DOM
// and this closure; "I have saved it" (or any other way the dialog closes)
// removes the dialog and drops the reference. It is never written to
// storage, the URL, the log or a status message.

import { openDialog } from "./dialogs.js";
import { h, type Child } from "./dom.js";

export async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false; // no clipboard (insecure origin, permission): copy by hand
  }
}

/** Selects an element's text, for copying by hand when the clipboard is unavailable. */
export function selectText(el: HTMLElement): void {
  const range = document.createRange();
  range.selectNodeContents(el);
  const selection = window.getSelection();
  selection?.removeAllRanges();
  selection?.addRange(range);
}

interface ShowOnce {
  title: string;
  /** The paragraph above the value. */
  intro: Child[];
  copyLabel: string;
  doneLabel: string;
  /** data-testid of the value's element. */
  testId: string;
  /** What the failed-copy status calls it: "key", "token", "link". */
  noun: string;
}

/**
 * The one time a secret is shown: the value, a copy button and an explicit
 * "done". Escape does not close it; closed any other way, it comes back
 * until the user says it is saved (the value exists nowhere else).
 */
function showOnce(value: string, spec: ShowOnce, onClose?: () => void): void {
  let secret: string | null = value;
  let saved = false;
  openDialog(
    spec.title,
    (api) => {
      const shown = h("code", { class: "secret", "data-testid": spec.testId, tabindex: 0 }, secret);
      const status = h("p", { class: "status", role: "status", "aria-live": "polite" });
      const copy = h(
        "button",
        {
          type: "button",
          autofocus: true,
          onclick: async () => {
            if (secret === null) return;
            if (await copyText(secret)) {
              status.textContent = "Copied";
            } else {
              selectText(shown);
              status.textContent = `Copying failed: the ${spec.noun} is selected, copy it with Ctrl+C (⌘C).`;
            }
          },
        },
        spec.copyLabel,
      );
      const done = h("button", { type: "button", class: "primary", onclick: () => {
            saved = true;
            api.close();
          },
        },
        spec.doneLabel,
      );
      return [
        h("p", null, spec.intro),
        h("div", { class: "secret-box" }, shown),
        status,
        h("div", { class: "actions" }, copy, done),
      ];
    },
    {
      noEscape: true,
      className: "secret-dialog",
      onClose: () => {
        if (!saved) {
          // Closed some other way (a browser's own gesture): the value would
          // be lost unseen, so it comes back until the user says it is saved.
          showOnce(value, spec, onClose);
          return;
        }
        secret = null;
        onClose?.();
      },
    },
  );
}

/** `what`: e.g. "the new secret key of Production". */
export function showSecret(secretKey: string, what: string, onClose?: () => void): void {
  showOnce(
    secretKey,
    {
      title: "Save your secret key",
      intro: [
        `This is ${what}. It is shown only this once: Pulse keeps just a hash of it. `,
        "Store it where your backend reads it (an environment variable, a secrets manager). Never put it in frontend code.",
      ],
      copyLabel: "Copy secret",
      doneLabel: "I have saved it",
      testId: "new-secret",
      noun: "key",
    },
    onClose,
  );
}

/** A new admin token (`ak_…`); `what`: e.g. "the admin token “CI deploys”". */
export function showAdminToken(token: string, what: string, onClose?: () => void): void {
  showOnce(
    token,
    {
      title: "Save your admin token",
      intro: [
        `This is ${what}. It is shown only this once: Pulse keeps just a hash of it. `,
        "Store it in a secrets manager or your CI's secret store; it acts with its role on its environments until it expires or is revoked.",
      ],
      copyLabel: "Copy secret",
      doneLabel: "I have saved it",
      testId: "new-secret",
      noun: "token",
    },
    onClose,
  );
}

/** An invitation link (it carries the one-use `inv_…`) for `email`. */
export function showInviteLink(link: string, email: string, onClose?: () => void): void {
  showOnce(
    link,
    {
      title: "Send the invitation",
      intro: [
        "Send this link to ",
        h("strong", null, email),
        ". It works once, within 7 days, and is shown only this once: Pulse keeps just a hash of it. ",
        "Lost it? Remove the invitation and invite again.",
      ],
      copyLabel: "Copy link",
      doneLabel: "Done",
      testId: "invite-link",
      noun: "link",
    },
    onClose,
  );
}
