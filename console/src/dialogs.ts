// Modal dialogs: native <dialog> opened with showModal(), so the browser
// makes the rest of the page inert, moves focus in, and closes on Escape.
// Each dialog is built when opened and removed from the DOM when closed
// (with whatever it showed: a secret key is gone with its dialog).

import { h, uid, type Child } from "./dom.js";

export interface DialogApi {
  el: HTMLDialogElement;
  /** role="alert" inside the dialog (visible while the page behind is inert). */
  alert: HTMLElement;
  close(): void;
}

interface Options {
  /** Escape does not close it (the secret dialog: closing is an explicit choice). */
  noEscape?: boolean;
  /** Runs once when the dialog closes, however it closes. */
  onClose?: () => void;
  className?: string;
}

/** Where focus goes when a dialog's opener has gone (a re-rendered table). */
let fallbackFocus: () => void = () => {};
export function setFallbackFocus(fn: () => void): void {
  fallbackFocus = fn;
}

export function openDialog(title: string, build: (api: DialogApi) => Child[], options: Options = {}): DialogApi {
  const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
  const titleId = uid("dlg");
  const alert = h("p", { class: "alert", role: "alert" });
  const el = h("dialog", { "aria-labelledby": titleId, class: options.className ?? "" });
  const api: DialogApi = {
    el,
    alert,
    close: () => {
      if (el.open) el.close();
    },
  };
  el.append(h("h2", { id: titleId }, title), alert);
  for (const child of build(api)) {
    if (child instanceof Node) el.append(child);
  }
  if (options.noEscape) {
    // Browsers honour a cancelled `cancel` event only once without user
    // activation in between (close watchers): a second Escape would close
    // it anyway. closedby="none" and swallowing the key keep it open.
    el.setAttribute("closedby", "none");
    el.addEventListener("keydown", (event) => {
      if (event.key === "Escape") event.preventDefault();
    });
    el.addEventListener("cancel", (event) => event.preventDefault());
  }
  el.addEventListener("close", () => {
    el.remove();
    options.onClose?.();
    if (opener && opener.isConnected) opener.focus();
    else fallbackFocus();
  });
  document.body.append(el);
  el.showModal();
  return api;
}

/**
 * Closes (and so removes) every open dialog: sign-out, session end. A
 * "Save your secret key" dialog stays: the key it shows exists nowhere
 * else, and it may already be the only working one.
 */
export function closeAllDialogs(): void {
  for (const dialog of Array.from(document.querySelectorAll("dialog"))) {
    if (dialog.classList.contains("secret-dialog")) continue;
    if (dialog.open) dialog.close();
    dialog.remove();
  }
}

interface FormDialog {
  title: string;
  /** The form's fields and text. */
  body: (api: DialogApi) => Child[];
  submit: string;
  danger?: boolean;
  /** Returns when done (the dialog then closes); throws to show the error in the dialog. */
  onSubmit: (api: DialogApi, form: HTMLFormElement) => Promise<void>;
  /** Decides what a failure shows; returns true when it handled it (e.g. session ended). */
  onError: (err: unknown, api: DialogApi) => boolean;
  describeError: (err: unknown) => string;
  /**
   * Extra setup once the form exists; may return a function that re-decides
   * whether the submit button is enabled (run again after a failed submit).
   */
  setup?: (form: HTMLFormElement, submit: HTMLButtonElement, api: DialogApi) => (() => void) | void;
}

/** A dialog with a form: Cancel and one submit button; errors stay in the dialog. */
export function formDialog(spec: FormDialog): DialogApi {
  return openDialog(spec.title, (api) => {
    const submit = h("button", { type: "submit", class: spec.danger ? "danger" : "primary" }, spec.submit);
    const cancel = h("button", { type: "button", onclick: () => api.close() }, "Cancel");
    const form = h(
      "form",
      null,
      spec.body(api),
      h("div", { class: "actions" }, cancel, submit),
    );
    let sync: (() => void) | void = undefined;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (submit.disabled) return;
      submit.disabled = true;
      form.setAttribute("aria-busy", "true");
      api.alert.textContent = "";
      try {
        await spec.onSubmit(api, form);
        api.close();
      } catch (err) {
        if (!spec.onError(err, api)) api.alert.textContent = spec.describeError(err);
      } finally {
        submit.disabled = false;
        form.removeAttribute("aria-busy");
        sync?.();
      }
    });
    sync = spec.setup?.(form, submit, api);
    sync?.();
    return [form];
  });
}
