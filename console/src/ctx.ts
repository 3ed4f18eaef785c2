// What every screen gets from the shell.

import type { Admin, Environment } from "./api.js";

export type Route = "environments" | "keys" | "data" | "analytics" | "audit";

export interface Ctx {
  admin: Admin;
  /** Every environment of the account, oldest first. */
  environments: Environment[];
  /** The selected one (in the hash as `env=`); undefined when there is none. */
  env: Environment | undefined;
  /** The screen's container (inside <main>). */
  root: HTMLElement;
  /** False once the user has moved on: results of late calls are dropped. */
  alive(): boolean;
  /** Shows a failed call as `CODE: message` in the page's alert; UNAUTHENTICATED ends the session. */
  fail(err: unknown): void;
  /** For dialogs: true when the error ended the session (then nothing else to show). */
  endedSession(err: unknown): boolean;
  /** A polite status message ("Copied", "Key revoked"). */
  announce(text: string): void;
  /** Reloads the environment list; selects `selectId` if given. */
  reloadEnvironments(selectId?: string): Promise<void>;
  /** Renders the current screen again (fresh data). */
  refresh(): void;
  /** Goes to a screen (and environment). */
  go(route: Route, envId?: string): void;
}
