// The console's one way to the server: the TypeScript client's `Admin`
// over gRPC-Web to this page's own origin (the CSP allows nothing else),
// authenticated with `authorization: Bearer <admin token>`.
//
// The admin token lives in sessionStorage["pulse.adminToken"] (this tab
// only, gone when it closes) and nowhere else; secrets the server returns
// (sk_/rk_) are never stored at all.

import { Admin, Code, ConnectError, errorText } from "../../clients/typescript/src/index.js";
import { webTransport } from "../../clients/typescript/src/web.js";

export { Admin, Code, ConnectError, errorText };
export type {
  ApiKey,
  AuditEvent,
  Comment,
  Environment,
  EnvironmentStats,
  Room,
  Thread,
  UsageBucket,
  User,
} from "../../clients/typescript/src/index.js";
export { ApiKeyKind, ApiKeyState } from "../../clients/typescript/src/index.js";

const TOKEN_KEY = "pulse.adminToken";

const transport = webTransport(location.origin);

/** An `Admin` for `token`, not yet trusted (sign-in checks it first). */
export function adminFor(token: string): Admin {
  return new Admin(transport, token);
}

/** The signed-in admin token of this tab, if any. */
export function storedToken(): string | null {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null; // storage disabled: sign in every time
  }
}

export function storeToken(token: string): void {
  sessionStorage.setItem(TOKEN_KEY, token);
}

/** Sign-out: the token goes, and with it everything the tab kept. */
export function clearSession(): void {
  try {
    sessionStorage.clear();
  } catch {
    // nothing stored
  }
}

/** Whether `err` means the admin token no longer works. */
export function isUnauthenticated(err: unknown): boolean {
  return ConnectError.from(err).code === Code.Unauthenticated;
}

/** `CODE: message`, e.g. `FAILED_PRECONDITION: at most 5 working keys`. */
export function describe(err: unknown): string {
  return errorText(err);
}
