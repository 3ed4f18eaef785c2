// "Save your secret key": the one time an sk_/rk_ is shown. The value lives
// only in this dialog's DOM and this closure; "I have saved it" (or any
// other way the dialog closes) removes the dialog and drops the reference.
// It is never written to storage, the URL, the log or a status message.

import { openDialog } from "./dialogs.js";
import { h } from "./dom.js";

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

/** `what`: e.g. "the new secret key of Production". */
export function showSecret(secretKey: string, what: string, onClose?: () => void): void {
  let secret: string | null = secretKey;
  let saved = false;
  openDialog(
    "Save your secret key",
    (api) => {
      const value = h("code", { class: "secret", "data-testid": "new-secret", tabindex: 0 }, secret);
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
              selectText(value);
              status.textContent = "Copying failed: the key is selected, copy it with Ctrl+C (⌘C).";
            }
          },
        },
        "Copy secret",
      );
      const done = h("button", { type: "button", class: "primary", onclick: () => {
            saved = true;
            api.close();
          },
        },
        "I have saved it",
      );
      return [
        h(
          "p",
          null,
          `This is ${what}. It is shown only this once: Pulse keeps just a hash of it. `,
          "Store it where your backend reads it (an environment variable, a secrets manager). Never put it in frontend code.",
        ),
        h("div", { class: "secret-box" }, value),
        status,
        h("div", { class: "actions" }, copy, done),
      ];
    },
    {
      noEscape: true,
      className: "secret-dialog",
      onClose: () => {
        if (!saved) {
          // Closed some other way (a browser's own gesture): the key would be
          // lost unseen, so it comes back until the user says it is saved.
          showSecret(secretKey, what, onClose);
          return;
        }
        secret = null;
        onClose?.();
      },
    },
  );
}
