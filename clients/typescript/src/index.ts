/**
 * A thin typed wrapper over the generated Pulse (pulse.v1) Connect-ES clients.
 *
 * It only adds the auth metadata each kind of caller needs (with a Connect
 * interceptor) and a few convenience methods mirroring the Python client;
 * requests and responses are the generated messages. Bring a transport:
 * `nodeTransport` (./node.js, native gRPC over HTTP/2) or `webTransport`
 * (./web.js, gRPC-Web over fetch, for browsers).
 *
 *     const transport = nodeTransport("http://127.0.0.1:50051");
 *     const admin = new Admin(transport, "ak_…");
 *     const created = await admin.createEnvironment("Production");
 *     const backend = new Backend(transport, created.secretKey);
 *     const { token } = await backend.mintUserToken("alice");
 *     const me = await new Frontend(transport, created.publishableKey!.value, token).whoAmI();
 *
 * People sign in as members instead (`signIn`, `acceptInvite`): the session
 * token (`ses_…`) they get acts on the admin plane like an admin token, with
 * the member's role and environment scope.
 *
 *     const { admin } = await signIn(transport, "ana@example.com", password, totpCode);
 *     const caller = await admin.getCaller(); // role, scope, member
 *
 * This module imports nothing Node-only: the browser console bundles it
 * together with ./web.ts.
 */

import { create } from "@bufbuild/protobuf";
import type { DescMessage, DescMethodStreaming, DescMethodUnary, MessageInitShape } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createClient,
  createContextValues,
  type Client,
  type ContextValues,
  type Interceptor,
  type StreamRequest,
  type StreamResponse,
  type Transport,
  type UnaryRequest,
  type UnaryResponse,
} from "@connectrpc/connect";

import { BadRequestSchema } from "./gen/google/rpc/error_details_pb.js";
import { AccountService, type AdminToken, type GetCallerResponse } from "./gen/pulse/v1/account_pb.js";
import { Role } from "./gen/pulse/v1/access_pb.js";
import { AuditService } from "./gen/pulse/v1/audit_pb.js";
import { AuthService, RoomAccessMode } from "./gen/pulse/v1/auth_pb.js";
import type { MintUserTokenResponse, WhoAmIResponse } from "./gen/pulse/v1/auth_pb.js";
import {
  ApiKeyKind,
  EnvironmentService,
  UsageGranularity,
  type ApiKey,
  type CreateEnvironmentResponse,
  type CreateKeyResponse,
  type RevokeSigningKeyResponse,
  type RotateKeysResponse,
  type RotateSigningKeyResponse,
  type UsageBucket,
  type UserTokenRevocation,
} from "./gen/pulse/v1/environment_pb.js";
import { EventService } from "./gen/pulse/v1/event_pb.js";
import { MemberService, type InviteMemberResponse, type Member } from "./gen/pulse/v1/member_pb.js";
import { RoomService } from "./gen/pulse/v1/room_pb.js";
import { RoomAccess } from "./gen/pulse/v1/room_access_pb.js";
import { SessionService, type AcceptInviteResponse, type SignInResponse } from "./gen/pulse/v1/session_pb.js";
import { ThreadService } from "./gen/pulse/v1/thread_pb.js";
import { UserService } from "./gen/pulse/v1/user_pb.js";

// The generated messages, enums and service descriptors of pulse.v1, flat
// (`CreateRoomRequestSchema`, `ApiKeyKind`, `EnvironmentService`, …) …
export * from "./gen/pulse/v1/access_pb.js";
export * from "./gen/pulse/v1/account_pb.js";
export * from "./gen/pulse/v1/audit_pb.js";
export * from "./gen/pulse/v1/auth_pb.js";
export * from "./gen/pulse/v1/environment_pb.js";
export * from "./gen/pulse/v1/event_pb.js";
export * from "./gen/pulse/v1/member_pb.js";
export * from "./gen/pulse/v1/room_pb.js";
export * from "./gen/pulse/v1/room_access_pb.js";
export * from "./gen/pulse/v1/session_pb.js";
export * from "./gen/pulse/v1/thread_pb.js";
export * from "./gen/pulse/v1/user_pb.js";
// … and google.rpc's error details (`BadRequestSchema` for
// `err.findDetails(BadRequestSchema)`).
export * as rpc from "./gen/google/rpc/error_details_pb.js";
// What callers need from Connect without importing it themselves.
export { Code, ConnectError, createClient };
export type { Client, Interceptor, Transport };

// ---------------------------------------------------------------------------
// Secrets

/** `util.inspect`'s hook, by its registered name (no `node:util` import). */
const INSPECT = Symbol.for("nodejs.util.inspect.custom");

/**
 * A credential (`ak_…`, `ses_…`, `sk_…`, `rk_…`, a user token) that never shows up in
 * `toString`, template strings, `JSON.stringify`, `util.inspect` or
 * `console.log`: they all print e.g. `sk_…(redacted)`. `reveal()` is the one
 * way to the plaintext (the value lives in a private field).
 */
export class Secret {
  readonly #value: string;

  constructor(value: string | Secret) {
    this.#value = value instanceof Secret ? value.reveal() : value;
  }

  /** The plaintext, for the wire. */
  reveal(): string {
    return this.#value;
  }

  /** `sk_…(redacted)`: the type prefix of a Pulse credential (`ses_`, `inv_`, …), nothing else. */
  toString(): string {
    const prefix = /^[a-z]{2,5}_/.exec(this.#value);
    return prefix ? `${prefix[0]}…(redacted)` : "…(redacted)";
  }

  toJSON(): string {
    return this.toString();
  }

  [Symbol.toPrimitive](): string {
    return this.toString();
  }

  [INSPECT](): string {
    return `Secret(${this.toString()})`;
  }
}

// ---------------------------------------------------------------------------
// Interceptors

/**
 * A Connect interceptor that sets these request headers (gRPC metadata) on
 * every call; the values are read at call time, revealed only there.
 */
export function headersInterceptor(headers: () => Record<string, string | Secret>): Interceptor {
  return (next) => async (req) => {
    for (const [name, value] of Object.entries(headers())) {
      req.header.set(name, value instanceof Secret ? value.reveal() : value);
    }
    return await next(req);
  };
}

/** `authorization: Bearer <secret>`: an admin token or session, `sk_`/`rk_`, or a user token. */
export function bearerInterceptor(secret: Secret): Interceptor {
  return headersInterceptor(() => ({ authorization: `Bearer ${secret.reveal()}` }));
}

/** The header that carries a frontend's publishable key. */
export const PUBLISHABLE_KEY_HEADER = "x-pulse-publishable-key";

/**
 * `transport` with `interceptors` run on every call before the transport's
 * own (the last one innermost, as in Connect). Connect-ES v2 configures
 * interceptors per transport; this lets one shared transport serve several
 * callers with different credentials.
 */
export function withInterceptors(transport: Transport, ...interceptors: Interceptor[]): Transport {
  type AnyFn = (req: UnaryRequest | StreamRequest) => Promise<UnaryResponse | StreamResponse>;
  const chain = (core: AnyFn): AnyFn => interceptors.reduceRight((next, interceptor) => interceptor(next), core);
  const abortable = (signal: AbortSignal | undefined) => signal ?? new AbortController().signal;
  return {
    async unary<I extends DescMessage, O extends DescMessage>(
      method: DescMethodUnary<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: HeadersInit | undefined,
      input: MessageInitShape<I>,
      contextValues?: ContextValues,
    ): Promise<UnaryResponse<I, O>> {
      const req: UnaryRequest<I, O> = {
        stream: false,
        service: method.parent,
        method,
        requestMethod: "POST",
        url: `/${method.parent.typeName}/${method.name}`,
        signal: abortable(signal),
        header: new Headers(header),
        contextValues: contextValues ?? createContextValues(),
        message: create(method.input, input),
      };
      const core: AnyFn = (r) =>
        transport.unary(method, signal ?? r.signal, timeoutMs, r.header, (r as UnaryRequest<I, O>).message, r.contextValues);
      return (await chain(core)(req as unknown as UnaryRequest)) as unknown as UnaryResponse<I, O>;
    },
    async stream<I extends DescMessage, O extends DescMessage>(
      method: DescMethodStreaming<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: HeadersInit | undefined,
      input: AsyncIterable<MessageInitShape<I>>,
      contextValues?: ContextValues,
    ): Promise<StreamResponse<I, O>> {
      async function* messages() {
        for await (const m of input) yield create(method.input, m);
      }
      const req: StreamRequest<I, O> = {
        stream: true,
        service: method.parent,
        method,
        requestMethod: "POST",
        url: `/${method.parent.typeName}/${method.name}`,
        signal: abortable(signal),
        header: new Headers(header),
        contextValues: contextValues ?? createContextValues(),
        message: messages(),
      };
      const core: AnyFn = (r) =>
        transport.stream(method, signal ?? r.signal, timeoutMs, r.header, (r as StreamRequest<I, O>).message, r.contextValues);
      return (await chain(core)(req as unknown as StreamRequest)) as unknown as StreamResponse<I, O>;
    },
  };
}

// ---------------------------------------------------------------------------
// Errors

/** The gRPC name of a Connect code: `UNAUTHENTICATED`, `INVALID_ARGUMENT`, … */
export function codeName(code: Code): string {
  if (code === Code.Canceled) return "CANCELLED";
  const name = Code[code] as string | undefined;
  return name ? name.replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase() : `CODE_${code}`;
}

/**
 * Any error as one line, `CODE: message`, e.g. `UNAUTHENTICATED: invalid
 * credentials`, followed by the `google.rpc.BadRequest` field violations the
 * server attached (`INVALID_ARGUMENT: … (display_name: must not be empty)`).
 */
export function errorText(err: unknown): string {
  const e = ConnectError.from(err);
  let text = `${codeName(e.code)}: ${e.rawMessage}`;
  try {
    const violations = e
      .findDetails(BadRequestSchema)
      .flatMap((d) => d.fieldViolations.map((v) => `${v.field}: ${v.description}`));
    if (violations.length > 0) text += ` (${violations.join("; ")})`;
  } catch {
    // Undecodable details: the code and message are still right.
  }
  return text;
}

// ---------------------------------------------------------------------------
// Callers

/** `read` / `write`, as in a user token's `rooms` claim. */
export type RoomAccessName = "read" | "write";

const ROOM_ACCESS: Record<RoomAccessName, RoomAccess> = {
  read: RoomAccess.READ,
  write: RoomAccess.WRITE,
};

/** How a user token's rooms are decided: by its `rooms` (TOKEN) or by what the rooms store. */
export type RoomAccessModeName = "token" | "stored";

const ROOM_ACCESS_MODE: Record<RoomAccessModeName, RoomAccessMode> = {
  token: RoomAccessMode.TOKEN,
  stored: RoomAccessMode.STORED,
};

const GRANULARITY = { hour: UsageGranularity.HOUR, day: UsageGranularity.DAY } as const;

function timestamp(date: Date | undefined) {
  if (date === undefined) return undefined;
  const ms = date.getTime();
  return { seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 };
}

/**
 * An ops service or admin panel backend with an admin token (`ak_…`), or a
 * person signed in as a member with a session token (`ses_…`, from
 * `signIn` / `acceptInvite`). Either acts with its role and environment
 * scope (`getCaller()` says which).
 */
export class Admin {
  readonly #token: Secret;
  readonly environments: Client<typeof EnvironmentService>;
  readonly account: Client<typeof AccountService>;
  readonly audit: Client<typeof AuditService>;
  readonly events: Client<typeof EventService>;
  readonly members: Client<typeof MemberService>;
  /** The calling session's own RPCs: `signOut`, `enrollTotp`, `confirmTotp`, `changePassword` (`ses_` only). */
  readonly session: Client<typeof SessionService>;

  constructor(transport: Transport, adminToken: string | Secret) {
    this.#token = new Secret(adminToken);
    const authed = withInterceptors(transport, bearerInterceptor(this.#token));
    this.environments = createClient(EnvironmentService, authed);
    this.account = createClient(AccountService, authed);
    this.audit = createClient(AuditService, authed);
    this.events = createClient(EventService, authed);
    this.members = createClient(MemberService, authed);
    this.session = createClient(SessionService, authed);
  }

  /** Who is calling: the account, the role, the environment scope and (for a session) the member. */
  getCaller(): Promise<GetCallerResponse> {
    return this.account.getCaller({});
  }

  /**
   * Invites `email` as a member with `role` (default: viewer), optionally
   * only for `environmentIds`. The response's `inviteToken` (`inv_…`) is
   * shown once: it makes the invitation link.
   */
  inviteMember(email: string, role: Role = Role.VIEWER, environmentIds: string[] = []): Promise<InviteMemberResponse> {
    return this.members.inviteMember({ email, role, environmentIds });
  }

  /** Every member of the account (all pages), oldest first. */
  async listMembers(): Promise<Member[]> {
    const members: Member[] = [];
    let pageToken = "";
    do {
      const page = await this.members.listMembers({ pageSize: 1000, pageToken });
      members.push(...page.members);
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    return members;
  }

  /** Every admin token of the account (all pages, active and revoked), oldest first. */
  async listAdminTokens(): Promise<AdminToken[]> {
    const tokens: AdminToken[] = [];
    let pageToken = "";
    do {
      const page = await this.account.listAdminTokens({ pageSize: 1000, pageToken });
      tokens.push(...page.adminTokens);
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    return tokens;
  }

  /** Ends this session (`ses_` only; an admin token is revoked instead). */
  async signOut(): Promise<void> {
    await this.session.signOut({});
  }

  /** A new environment, its publishable key and its secret key (shown once). */
  createEnvironment(displayName: string): Promise<CreateEnvironmentResponse> {
    return this.environments.createEnvironment({ displayName });
  }

  /**
   * A new key pair; the old publishable key is revoked at once, the old
   * secret key at once or, with `graceSeconds` (≤ 604800), that much later.
   */
  rotateKeys(environmentId: string, graceSeconds = 0): Promise<RotateKeysResponse> {
    return this.environments.rotateKeys({ environmentId, oldKeyExpireSeconds: graceSeconds });
  }

  /** Kills one key (`key_…`) for good. Idempotent. */
  revokeKey(keyId: string): Promise<ApiKey> {
    return this.environments.revokeKey({ id: keyId });
  }

  /** Every key of the environment (all pages), secrets never included. */
  async listKeys(environmentId: string): Promise<ApiKey[]> {
    const keys: ApiKey[] = [];
    let pageToken = "";
    do {
      const page = await this.environments.listKeys({ environmentId, pageSize: 1000, pageToken });
      keys.push(...page.keys);
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    return keys;
  }

  /**
   * A restricted key (`rk_…`, in `secretKey`, shown once) allowed only
   * `permissions` (`"comments.read"`, `"tokens.write"`, …), optionally only
   * from `allowedCidrs`.
   */
  createRestrictedKey(
    environmentId: string,
    permissions: string[],
    options: { displayName?: string; allowedCidrs?: string[]; expireTime?: Date } = {},
  ): Promise<CreateKeyResponse> {
    return this.environments.createKey({
      environmentId,
      kind: ApiKeyKind.RESTRICTED,
      permissions,
      displayName: options.displayName ?? "",
      allowedCidrs: options.allowedCidrs ?? [],
      expireTime: timestamp(options.expireTime),
    });
  }

  /** Ends every token of `userId` minted before this call. */
  revokeEnvironmentUserTokens(environmentId: string, userId: string): Promise<UserTokenRevocation> {
    return this.environments.revokeEnvironmentUserTokens({ environmentId, userId });
  }

  /** A new user-token signing key: published at once, signing after one JWKS max-age. */
  rotateSigningKey(environmentId: string): Promise<RotateSigningKeyResponse> {
    return this.environments.rotateSigningKey({ environmentId });
  }

  /** Kills a signing key and every token it signed. Idempotent. */
  revokeSigningKey(environmentId: string, kid: string): Promise<RevokeSigningKeyResponse> {
    return this.environments.revokeSigningKey({ environmentId, kid });
  }

  /** The key's usage buckets over [start, end), oldest first (UTC hours or days). */
  async getKeyUsage(
    keyId: string,
    options: { start?: Date; end?: Date; granularity?: keyof typeof GRANULARITY } = {},
  ): Promise<UsageBucket[]> {
    const response = await this.environments.getKeyUsage({
      keyId,
      startTime: timestamp(options.start),
      endTime: timestamp(options.end),
      granularity: GRANULARITY[options.granularity ?? "hour"],
    });
    return response.buckets;
  }

  toString(): string {
    return `Admin(${this.#token})`;
  }

  toJSON(): { adminToken: string } {
    return { adminToken: this.#token.toString() };
  }

  [INSPECT](): string {
    return this.toString();
  }
}

// ---------------------------------------------------------------------------
// Signing in (no credential needed)

/**
 * Signs a member in with email, password and, once TOTP is on, the current
 * code. `admin` acts as the member; `response.sessionToken` (`ses_…`) is
 * the credential to keep (12 h by default). A wrong email, password or code
 * is `UNAUTHENTICATED`.
 */
export async function signIn(
  transport: Transport,
  email: string,
  password: string,
  totpCode = "",
): Promise<{ admin: Admin; response: SignInResponse }> {
  const response = await createClient(SessionService, transport).signIn({ email, password, totpCode });
  return { admin: new Admin(transport, response.sessionToken), response };
}

/**
 * Accepts an invitation (`inv_…`, once, within 7 days): sets the member's
 * password (at least 12 characters) and name, and signs it in.
 */
export async function acceptInvite(
  transport: Transport,
  inviteToken: string,
  password: string,
  displayName: string,
): Promise<{ admin: Admin; response: AcceptInviteResponse }> {
  const response = await createClient(SessionService, transport).acceptInvite({ inviteToken, password, displayName });
  return { admin: new Admin(transport, response.sessionToken), response };
}

/**
 * A customer's backend with its secret key (`sk_…`) or a restricted key
 * (`rk_…`, allowed only its permissions).
 */
export class Backend {
  readonly #key: Secret;
  readonly auth: Client<typeof AuthService>;
  readonly rooms: Client<typeof RoomService>;
  readonly threads: Client<typeof ThreadService>;
  readonly users: Client<typeof UserService>;
  readonly events: Client<typeof EventService>;

  constructor(transport: Transport, secretKey: string | Secret) {
    this.#key = new Secret(secretKey);
    const authed = withInterceptors(transport, bearerInterceptor(this.#key));
    this.auth = createClient(AuthService, authed);
    this.rooms = createClient(RoomService, authed);
    this.threads = createClient(ThreadService, authed);
    this.users = createClient(UserService, authed);
    this.events = createClient(EventService, authed);
  }

  /**
   * A token for `userId`. `rooms` maps a room id, or a prefix ending in `*`,
   * to `"read"` or `"write"`; omitted or empty: every room, read and write.
   * `roomAccessMode: "stored"`: the rooms decide instead (their default,
   * their entry for the user and for its `groupIds`; `rooms` must be empty).
   */
  async mintUserToken(
    userId: string,
    rooms: Record<string, RoomAccessName> = {},
    options: {
      name?: string;
      avatarUrl?: string;
      ttlSeconds?: number;
      groupIds?: string[];
      roomAccessMode?: RoomAccessModeName;
    } = {},
  ): Promise<MintUserTokenResponse> {
    const mode = options.roomAccessMode ?? "token";
    if (!(mode in ROOM_ACCESS_MODE)) {
      throw new TypeError(`room access mode must be "token" or "stored", not ${JSON.stringify(mode)}`);
    }
    const roomPermissions: Record<string, RoomAccess> = {};
    for (const [pattern, access] of Object.entries(rooms)) {
      if (!(access in ROOM_ACCESS)) {
        throw new TypeError(`room access must be "read" or "write", not ${JSON.stringify(access)}`);
      }
      roomPermissions[pattern] = ROOM_ACCESS[access];
    }
    return await this.auth.mintUserToken({
      userId,
      userInfo: { name: options.name ?? "", avatarUrl: options.avatarUrl ?? "" },
      ttlSeconds: options.ttlSeconds ?? 0,
      roomPermissions,
      groupIds: options.groupIds ?? [],
      roomAccessMode: ROOM_ACCESS_MODE[mode],
    });
  }

  /** Ends every token of `userId` minted before this call (`sk_`, or `rk_` with `tokens.write`). */
  revokeUserTokens(userId: string): Promise<UserTokenRevocation> {
    return this.auth.revokeUserTokens({ userId });
  }

  whoAmI(): Promise<WhoAmIResponse> {
    return this.auth.whoAmI({});
  }

  toString(): string {
    return `Backend(${this.#key})`;
  }

  toJSON(): { secretKey: string } {
    return { secretKey: this.#key.toString() };
  }

  [INSPECT](): string {
    return this.toString();
  }
}

/**
 * An end user's app: the environment's publishable key (`pk_…`, public) and
 * a user token minted by the backend. Without a token only
 * `auth.listSigningKeys` answers (a publishable key alone authenticates
 * nobody).
 */
export class Frontend {
  readonly publishableKey: string;
  readonly #userToken: Secret | undefined;
  readonly #transport: Transport;
  readonly auth: Pick<Client<typeof AuthService>, "whoAmI" | "listSigningKeys">;
  readonly rooms: Client<typeof RoomService>;
  readonly threads: Client<typeof ThreadService>;
  readonly users: Pick<Client<typeof UserService>, "getUser">;

  constructor(transport: Transport, publishableKey: string, userToken?: string | Secret) {
    this.publishableKey = publishableKey;
    this.#userToken = userToken === undefined || userToken === "" ? undefined : new Secret(userToken);
    this.#transport = transport;
    const token = this.#userToken;
    const authed = withInterceptors(
      transport,
      headersInterceptor(() => ({
        [PUBLISHABLE_KEY_HEADER]: publishableKey,
        ...(token ? { authorization: `Bearer ${token.reveal()}` } : {}),
      })),
    );
    this.auth = createClient(AuthService, authed);
    this.rooms = createClient(RoomService, authed);
    this.threads = createClient(ThreadService, authed);
    this.users = createClient(UserService, authed);
  }

  /** The same publishable key with another user token (e.g. a refreshed one). */
  withUserToken(userToken: string | Secret): Frontend {
    return new Frontend(this.#transport, this.publishableKey, userToken);
  }

  whoAmI(): Promise<WhoAmIResponse> {
    return this.auth.whoAmI({});
  }

  toString(): string {
    return `Frontend(${this.publishableKey}, ${this.#userToken ?? "no user token"})`;
  }

  toJSON(): { publishableKey: string; userToken: string | null } {
    return { publishableKey: this.publishableKey, userToken: this.#userToken?.toString() ?? null };
  }

  [INSPECT](): string {
    return this.toString();
  }
}
