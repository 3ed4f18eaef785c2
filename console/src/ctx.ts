// What every screen gets from the shell.

import type { Admin, Environment, GetCallerResponse, Member, Role } from "./api.js";

export type Route =
  | "environments"
  | "keys"
  | "data"
  | "analytics"
  | "audit"
  | "members"
  | "admin-tokens"
  | "security";

export interface Ctx {
  admin: Admin;
  /** Who is signed in (GetCaller): role, environment scope, the member for a session. */
  caller: GetCallerResponse;
  /** Whether the caller's role is at least `least` (what to show, not what to enforce). */
  can(least: Role): boolean;
  /** The caller's own member changed (TOTP on): keep the shell's copy current. */
  setMember(member: Member): void;
  /** Every environment of the account (of the caller's scope), oldest first. */
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
