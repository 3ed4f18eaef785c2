// Pieces several screens share.

import type { Environment } from "../api.js";
import type { Ctx } from "../ctx.js";
import { h, uid, type Child } from "../dom.js";
import { when, type Ts } from "../format.js";

/** The screen's h1 (focusable for focus management) and an optional lead line. */
export function header(title: string, lead?: Child, ...actions: Child[]): HTMLElement {
  return h(
    "div",
    { class: "screen-head" },
    h("div", null, h("h1", { tabindex: -1 }, title), lead ? h("p", { class: "lead" }, lead) : null),
    actions.some((a) => a !== null && a !== undefined && a !== false)
      ? h("div", { class: "toolbar" }, actions)
      : null,
  );
}

/** A `<time>` cell. */
export function time(ts: Ts | undefined, unset = "—"): HTMLElement {
  const { text, iso } = when(ts, unset);
  return iso ? h("time", { datetime: iso }, text) : h("span", { class: "muted" }, text);
}

/** Shown instead of an environment screen when the account has none. */
export function noEnvironment(ctx: Ctx, title: string): void {
  ctx.root.append(
    header(title),
    h(
      "div",
      { class: "card empty-state" },
      h("p", null, "There is no environment yet."),
      h("p", null, h("a", { href: "#/environments" }, "Create one under Environments"), "."),
    ),
  );
}

export function loading(): HTMLElement {
  return h("p", { class: "loading" }, "Loading…");
}

/** Keeps a stack of page tokens: "Previous"/"Next" over a forward-only API. */
export class Pager {
  /** Tokens of the pages before the current one, and the current one's. */
  private stack: string[] = [""];
  next = "";

  get current(): string {
    return this.stack[this.stack.length - 1];
  }
  get hasPrevious(): boolean {
    return this.stack.length > 1;
  }
  get pageNumber(): number {
    return this.stack.length;
  }
  forward(): void {
    if (this.next) this.stack.push(this.next);
  }
  back(): void {
    if (this.stack.length > 1) this.stack.pop();
  }
  reset(): void {
    this.stack = [""];
    this.next = "";
  }
}

/** Previous/next buttons for a pager (named e.g. "Next rooms page"). */
export function pagerControls(pager: Pager, noun: string, reload: () => void): HTMLElement | null {
  if (!pager.hasPrevious && !pager.next) return null;
  const label = noun ? `${noun} page` : "page";
  return h(
    "div",
    { class: "pager" },
    pager.hasPrevious
      ? h("button", { type: "button", onclick: () => { pager.back(); reload(); } }, `Previous ${label}`)
      : null,
    h("span", { class: "muted" }, `Page ${pager.pageNumber}`),
    pager.next
      ? h("button", { type: "button", onclick: () => { pager.forward(); reload(); } }, `Next ${label}`)
      : null,
  );
}

/**
 * A fieldset "Environments": one checkbox per environment (`checked` ticked).
 * None ticked means `noneMeans` (e.g. "the whole account").
 */
export function scopeFieldset(
  environments: readonly Environment[],
  checked: readonly string[],
  noneMeans: string,
): { el: HTMLFieldSetElement; value(): string[] } {
  const boxes = environments.map((env) => {
    const id = uid("env");
    const box = h("input", { type: "checkbox", id, name: "environment", value: env.id, checked: checked.includes(env.id) });
    return { box, el: h("div", { class: "check plain" }, box, h("label", { for: id }, env.displayName)) };
  });
  const el = h(
    "fieldset",
    { class: "scope" },
    h("legend", null, "Environments"),
    h("p", { class: "hint" }, `None ticked: ${noneMeans}.`),
    boxes.length > 0 ? boxes.map((b) => b.el) : h("p", { class: "muted" }, "No environments yet."),
  );
  return { el, value: () => boxes.filter((b) => b.box.checked).map((b) => b.box.value) };
}

/** A date input's day (local midnight) as a Timestamp; undefined when empty. */
export function dayStart(value: string): { seconds: bigint; nanos: number } | undefined {
  if (!value) return undefined;
  const ms = new Date(`${value}T00:00:00`).getTime();
  if (Number.isNaN(ms)) throw new RangeError("expiry: not a date");
  return { seconds: BigInt(Math.floor(ms / 1000)), nanos: 0 };
}
