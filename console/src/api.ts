// The console's one way to the server: the TypeScript client's `Admin`
// over gRPC-Web to this page's own origin (the CSP allows nothing else),
// authenticated with `authorization: Bearer <credential>`: a member's
// session token (`ses_…`, from signing in with email and password) or an
// admin token (`ak_…`, the option for automation).
//
// The credential lives in sessionStorage (this tab only, gone when it
// closes), under "pulse.sessionToken" or "pulse.adminToken" — one of them,
// never both — and nowhere else; secrets the server returns (sk_/rk_, a new
// ak_, an invitation's inv_, a TOTP secret) are never stored at all.

import {
  acceptInvite,
  Admin,
  Code,
  ConnectError,
  errorText,
  signIn,
} from "../../clients/typescript/src/index.js";
import { webTransport } from "../../clients/typescript/src/web.js";

export { Admin, Code, ConnectError, errorText };
export type {
  AdminToken,
  ApiKey,
  AuditEvent,
  Comment,
  Environment,
  EnvironmentStats,
  GetCallerResponse,
  Member,
  Room,
  Thread,
  UsageBucket,
  User,
} from "../../clients/typescript/src/index.js";
export { AdminTokenState, ApiKeyKind, ApiKeyState, MemberState, Role, RoomAccess } from "../../clients/typescript/src/index.js";

const ADMIN_TOKEN_KEY = "pulse.adminToken";
const SESSION_TOKEN_KEY = "pulse.sessionToken";

const transport = webTransport(location.origin);

/** An `Admin` for `token` (`ak_…` or `ses_…`), not yet trusted (sign-in checks it first). */
export function adminFor(token: string): Admin {
  return new Admin(transport, token);
}

/** Whether `token` is a member's session (else an admin token). */
export function isSessionToken(token: string): boolean {
  return token.startsWith("ses_");
}

/** Email, password and (once TOTP is on) a code → the session token. */
export async function signInMember(email: string, password: string, totpCode: string): Promise<string> {
  const { response } = await signIn(transport, email, password, totpCode);
  return response.sessionToken;
}

/** An invitation accepted: the new member's session token. */
export async function acceptInvitation(inviteToken: string, password: string, displayName: string): Promise<string> {
  const { response } = await acceptInvite(transport, inviteToken, password, displayName);
  return response.sessionToken;
}

/** The signed-in credential of this tab, if any. */
export function storedToken(): string | null {
  try {
    return sessionStorage.getItem(SESSION_TOKEN_KEY) ?? sessionStorage.getItem(ADMIN_TOKEN_KEY);
  } catch {
    return null; // storage disabled: sign in every time
  }
}

/** Keeps `token` as this tab's one credential (after a call has proved it). */
export function storeToken(token: string): void {
  sessionStorage.clear();
  sessionStorage.setItem(isSessionToken(token) ? SESSION_TOKEN_KEY : ADMIN_TOKEN_KEY, token);
}

/** Sign-out: the credential goes, and with it everything the tab kept. */
export function clearSession(): void {
  try {
    sessionStorage.clear();
  } catch {
    // nothing stored
  }
}

/** Whether `err` means the credential no longer works. */
export function isUnauthenticated(err: unknown): boolean {
  return ConnectError.from(err).code === Code.Unauthenticated;
}

/** `CODE: message`, e.g. `FAILED_PRECONDITION: at most 5 working keys`. */
export function describe(err: unknown): string {
  if (err instanceof RangeError) return `INVALID_ARGUMENT: ${err.message}`;
  return errorText(err);
}
