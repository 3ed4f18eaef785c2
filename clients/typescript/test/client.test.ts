/**
 * End-to-end test of the TypeScript client against a real `pulse serve`.
 *
 * Starts the server binary on a free port with a fresh SQLite file (as
 * clients/python/test_client.py does), then: create an environment (admin),
 * mint a user token (backend), call as the frontend, rotate, and check the
 * old secret key and its tokens are refused while the new key works; a
 * grace-period rotation and a revocation; the audit log and its live
 * stream; room access stored on rooms (a STORED-mode token follows the
 * room's entries); errors carry codes; secrets stay out of printed output.
 *
 *     npm run generate && PULSE_BIN=../../target/debug/pulse npm test
 */

import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, connect } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { inspect, promisify } from "node:util";

import {
  Admin,
  ApiKeyKind,
  ApiKeyState,
  Backend,
  Code,
  ConnectError,
  Frontend,
  MemberState,
  Role,
  RoomAccess,
  Secret,
  acceptInvite,
  codeName,
  errorText,
  signIn,
  type Transport,
} from "../src/index.js";
import { nodeTransport } from "../src/node.js";
import { webTransport } from "../src/web.js";

// dist/test/client.test.js → clients/typescript → the repository root.
const HERE = dirname(fileURLToPath(import.meta.url));
const PULSE_BIN = process.env.PULSE_BIN ?? resolve(HERE, "..", "..", "..", "..", "target", "debug", "pulse");

async function freePort(): Promise<number> {
  return await new Promise((ok, fail) => {
    const server = createServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => ok(typeof address === "object" && address ? address.port : 0));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((ok) => {
    const socket = connect({ host: "127.0.0.1", port, timeout: 1000 });
    socket.once("connect", () => {
      socket.destroy();
      ok(true);
    });
    socket.once("error", () => ok(false));
    socket.once("timeout", () => {
      socket.destroy();
      ok(false);
    });
  });
}

/** Runs `call`, expecting a ConnectError with `code`; returns it. */
async function rejects(code: Code, call: () => Promise<unknown>): Promise<ConnectError> {
  try {
    await call();
  } catch (err) {
    const e = ConnectError.from(err);
    assert.equal(codeName(e.code), codeName(code), errorText(e));
    return e;
  }
  assert.fail(`expected ${codeName(code)}, the call succeeded`);
}

let server: ChildProcess;
let dir: string;
let baseUrl: string;
let adminToken: string;
let transport: Transport;
let databaseUrl: string;

/** `pulse member invite EMAIL --role ROLE --json` on the server's database: its one JSON line. */
async function inviteWithCli(email: string, role: string): Promise<{ member_id: string; invite_token: string; invite_url: string }> {
  const { stdout } = await promisify(execFile)(PULSE_BIN, [
    "member", "invite", email, "--role", role, "--json", "--database-url", databaseUrl,
  ]);
  return JSON.parse(stdout.trim().split("\n").pop()!);
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "pulse-ts-"));
  const port = await freePort();
  const addr = `127.0.0.1:${port}`;
  baseUrl = `http://${addr}`;
  databaseUrl = `sqlite://${dir}/pulse.db?mode=rwc`;
  server = spawn(
    PULSE_BIN,
    ["serve", "--listen", addr, "--database-url", databaseUrl],
    { stdio: ["ignore", "pipe", "ignore"] },
  );
  const exited = new Promise<never>((_, fail) =>
    server.once("exit", (code) => fail(new Error(`${PULSE_BIN} exited (${code}) before printing an admin token`))),
  );
  // On an empty database the server prints the first admin token once.
  const lines = createInterface({ input: server.stdout! });
  const first = await Promise.race([
    new Promise<string>((ok) => lines.once("line", ok)),
    exited,
    new Promise<never>((_, fail) => setTimeout(() => fail(new Error("no admin token within 30 s")), 30_000).unref()),
  ]);
  const match = /(ak_[0-9A-Za-z]+)/.exec(first);
  assert.ok(match, `no admin token in ${JSON.stringify(first)}`);
  adminToken = match[1]!;
  lines.on("line", () => {}); // keep draining stdout so the server never blocks on it
  const deadline = Date.now() + 30_000;
  while (!(await canConnect(port))) {
    assert.ok(Date.now() < deadline, "server did not start");
    await new Promise((ok) => setTimeout(ok, 100));
  }
  transport = nodeTransport(baseUrl);
});

after(async () => {
  if (server && server.exitCode === null && server.signalCode === null) {
    const exited = new Promise((ok) => server.once("exit", ok));
    server.kill("SIGTERM");
    const timer = setTimeout(() => server.kill("SIGKILL"), 30_000);
    await exited;
    clearTimeout(timer);
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("Pulse TypeScript client", () => {
  it("creates an environment, mints a token, calls as the frontend, rotates keys", async () => {
    const admin = new Admin(transport, adminToken);
    const created = await admin.createEnvironment("Production");
    const envId = created.environment!.id;
    assert.match(envId, /^env_/);
    assert.match(created.secretKey, /^sk_/);
    const pk = created.publishableKey!.value;
    assert.match(pk, /^pk_/);

    const keys = await admin.listKeys(envId);
    assert.deepEqual(keys.map((k) => k.kind).sort(), [ApiKeyKind.PUBLISHABLE, ApiKeyKind.SECRET]);
    assert.ok(keys.every((k) => k.state === ApiKeyState.ACTIVE));
    assert.ok(!JSON.stringify(keys, (_, v) => (typeof v === "bigint" ? String(v) : v)).includes(created.secretKey));

    const backend = new Backend(transport, created.secretKey);
    assert.equal((await backend.whoAmI()).environmentId, envId);
    const minted = await backend.mintUserToken("alice", { "design-*": "write" }, { name: "Alice" });
    assert.ok(minted.token);
    await assert.rejects(backend.mintUserToken("alice", { x: "admin" as "read" }), TypeError);

    const frontend = new Frontend(transport, pk, minted.token);
    const me = await frontend.whoAmI();
    assert.deepEqual([me.environmentId, me.userId, me.kind], [envId, "alice", ApiKeyKind.PUBLISHABLE]);
    const room = await frontend.rooms.createRoom({ roomId: "design-review" });
    assert.equal(room.id, "design-review");
    const thread = await frontend.threads.createThread({ roomId: "design-review", body: "Ship it?" });
    assert.equal(thread.roomId, "design-review");
    // The token opens design-* only.
    await rejects(Code.PermissionDenied, () => frontend.rooms.createRoom({ roomId: "finance" }));
    assert.equal((await frontend.users.getUser({ userId: "alice" })).name, "Alice");
    // A publishable key without a user token authenticates nobody…
    const anonymous = new Frontend(transport, pk);
    await rejects(Code.Unauthenticated, () => anonymous.whoAmI());
    // … except for the public signing keys.
    assert.ok((await anonymous.auth.listSigningKeys({})).keys.length >= 1);

    // Rotate: the old keys (and tokens minted with the old sk_) die at once.
    const rotated = await admin.rotateKeys(envId);
    assert.equal(rotated.keys.length, 2);
    assert.match(rotated.secretKey, /^sk_/);
    assert.notEqual(rotated.secretKey, created.secretKey);
    const old = await rejects(Code.Unauthenticated, () => backend.whoAmI());
    assert.equal(old.code, Code.Unauthenticated);
    assert.match(errorText(old), /^UNAUTHENTICATED: /);
    await rejects(Code.Unauthenticated, () => frontend.whoAmI());
    const fresh = new Backend(transport, rotated.secretKey);
    const freshMe = await fresh.whoAmI();
    assert.deepEqual([freshMe.environmentId, freshMe.kind], [envId, ApiKeyKind.SECRET]);
    const newPk = rotated.publishableKey!.value;
    const token = (await fresh.mintUserToken("alice")).token;
    assert.equal((await new Frontend(transport, newPk, token).whoAmI()).userId, "alice");

    // Rotate with a grace period: the previous sk_ keeps working until it
    // expires or is revoked.
    const graceful = await admin.rotateKeys(envId, 3600);
    assert.equal((await fresh.whoAmI()).environmentId, envId);
    const newest = new Backend(transport, graceful.secretKey);
    assert.equal((await newest.whoAmI()).environmentId, envId);
    const revoked = await admin.revokeKey(freshMe.keyId);
    assert.equal(revoked.state, ApiKeyState.REVOKED);
    await rejects(Code.Unauthenticated, () => fresh.whoAmI());
    assert.equal((await newest.whoAmI()).environmentId, envId);

    // The audit log: listed, and replayed by the live stream.
    const events = (await admin.audit.listAuditEvents({ environmentId: envId, type: "keys.rotated" })).events;
    assert.equal(events.length, 2);
    const abort = new AbortController();
    const seen: string[] = [];
    try {
      for await (const event of admin.events.watchEvents(
        { environmentId: envId, types: ["keys.rotated"], afterEventId: events[0]!.id },
        { signal: abort.signal },
      )) {
        seen.push(event.id);
        break; // the replayed second rotation
      }
    } finally {
      abort.abort();
    }
    assert.deepEqual(seen, [events[1]!.id]);
  });

  it("a STORED-mode token follows the room's stored access", async () => {
    const admin = new Admin(transport, adminToken);
    const created = await admin.createEnvironment("Stored access");
    const backend = new Backend(transport, created.secretKey);
    const room = await backend.rooms.createRoom({ roomId: "plans", userAccesses: { alice: RoomAccess.READ } });
    assert.deepEqual(room.userAccesses, { alice: RoomAccess.READ });

    const { token } = await backend.mintUserToken("alice", {}, { roomAccessMode: "stored" });
    const claims = JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString("utf8"));
    assert.equal(claims.room_access, "stored");
    const alice = new Frontend(transport, created.publishableKey!.value, token);
    assert.equal((await alice.rooms.getRoom({ roomId: "plans" })).id, "plans");
    await rejects(Code.PermissionDenied, () => alice.threads.createThread({ roomId: "plans", body: "Q3?" }));
    // A user token cannot change a room's access; the backend can.
    await rejects(Code.PermissionDenied, () =>
      alice.rooms.updateRoomAccess({ roomId: "plans", setUserAccesses: { alice: RoomAccess.WRITE } }),
    );
    const updated = await backend.rooms.updateRoomAccess({ roomId: "plans", setUserAccesses: { alice: RoomAccess.WRITE } });
    assert.deepEqual(updated.userAccesses, { alice: RoomAccess.WRITE });
    // The same token now writes.
    assert.equal((await alice.threads.createThread({ roomId: "plans", body: "Q3?" })).roomId, "plans");
    await assert.rejects(backend.mintUserToken("alice", {}, { roomAccessMode: "rooms" as "stored" }), TypeError);
  });

  it("works over gRPC-Web (the browser transport)", async () => {
    // The server must answer gRPC-Web as gRPC-Web (not as plain gRPC).
    const probe = await fetch(`${baseUrl}/pulse.v1.AuthService/WhoAmI`, {
      method: "POST",
      headers: { "content-type": "application/grpc-web+proto", "x-grpc-web": "1" },
      body: new Uint8Array(5),
    });
    await probe.arrayBuffer();
    assert.match(probe.headers.get("content-type") ?? "", /^application\/grpc-web/);
    const web = webTransport(baseUrl);
    const admin = new Admin(web, adminToken);
    const created = await admin.createEnvironment("Browser");
    const backend = new Backend(web, created.secretKey);
    const { token } = await backend.mintUserToken("alice");
    const frontend = new Frontend(web, created.publishableKey!.value, token);
    const me = await frontend.whoAmI();
    assert.deepEqual([me.environmentId, me.userId], [created.environment!.id, "alice"]);
    assert.equal((await frontend.rooms.createRoom({ roomId: "lobby" })).id, "lobby");

    // A server stream over gRPC-Web: resume after the environment's creation
    // event, rename it, and the rename arrives (replayed or live, either way
    // exactly once and first).
    const envId = created.environment!.id;
    const [createdEvent] = (
      await admin.audit.listAuditEvents({ environmentId: envId, type: "environment.created" })
    ).events;
    const abort = new AbortController();
    const deadline = setTimeout(() => abort.abort(), 10_000); // fail, don't hang
    const stream = admin.events.watchEvents(
      { environmentId: envId, types: ["environment.renamed"], afterEventId: createdEvent!.id },
      { signal: abort.signal },
    );
    await admin.environments.updateEnvironment({ environment: { id: envId, displayName: "Browser EU" } });
    try {
      for await (const event of stream) {
        assert.deepEqual([event.type, event.environmentId], ["environment.renamed", envId]);
        break;
      }
    } finally {
      clearTimeout(deadline);
      abort.abort();
    }

    await admin.rotateKeys(envId);
    await rejects(Code.Unauthenticated, () => backend.whoAmI());
    await rejects(Code.Unauthenticated, () => new Admin(web, "ak_not_a_token").createEnvironment("x"));
  });

  it("carries gRPC codes in ConnectError", async () => {
    const stranger = new Admin(transport, "ak_not_a_token");
    const refused = await rejects(Code.Unauthenticated, () => stranger.createEnvironment("x"));
    assert.ok(refused instanceof ConnectError);
    assert.equal(refused.code, Code.Unauthenticated);
    assert.match(errorText(refused), /^UNAUTHENTICATED: /);
    assert.ok(!errorText(refused).includes("ak_not_a_token"));

    const admin = new Admin(transport, adminToken);
    const invalid = await rejects(Code.InvalidArgument, () => admin.createEnvironment(""));
    assert.match(errorText(invalid), /^INVALID_ARGUMENT: .*display_name/);
    await rejects(Code.NotFound, () => admin.environments.getEnvironment({ id: "env_doesnotexist0000000000" }));
    // A backend may not call the admin API (it has no client for it; forced here).
    const created = await admin.createEnvironment("Codes");
    const backendAsAdmin = new Admin(transport, created.secretKey);
    await rejects(Code.PermissionDenied, () => backendAsAdmin.listKeys(created.environment!.id));

    assert.equal(errorText(new Error("boom")), "UNKNOWN: boom");
    assert.equal(codeName(Code.Canceled), "CANCELLED");
  });

  it("keeps secrets out of printed output", async () => {
    const admin = new Admin(transport, adminToken);
    const created = await admin.createEnvironment("Secrets");
    const sk = created.secretKey;
    const { token } = await new Backend(transport, sk).mintUserToken("bob");
    const pk = created.publishableKey!.value;

    const secret = new Secret(sk);
    assert.equal(secret.reveal(), sk);
    const backend = new Backend(transport, sk);
    const frontend = new Frontend(transport, pk, token);
    const printed = [
      inspect(secret),
      inspect({ secret }, { depth: 10, showHidden: true }),
      JSON.stringify({ secret }),
      String(secret),
      `${secret}`,
      inspect(admin, { depth: 10, showHidden: true }),
      JSON.stringify(admin),
      String(admin),
      inspect(backend, { depth: 10, showHidden: true }),
      JSON.stringify(backend),
      String(backend),
      inspect(frontend, { depth: 10, showHidden: true }),
      JSON.stringify(frontend),
      String(frontend),
    ];
    for (const text of printed) {
      assert.ok(!text.includes(sk), text);
      assert.ok(!text.includes(adminToken), text);
      assert.ok(!text.includes(token), text);
    }
    assert.equal(String(secret), "sk_…(redacted)");
    assert.equal(JSON.stringify({ secret }), '{"secret":"sk_…(redacted)"}');
    assert.match(inspect(backend), /sk_…\(redacted\)/);
    assert.match(String(frontend), new RegExp(`^Frontend\\(${pk}, …\\(redacted\\)\\)$`));
    // Wrapped in a Secret, the credential still works.
    assert.equal((await new Backend(transport, secret).whoAmI()).environmentId, created.environment!.id);
  });

  it("signs members in: an invite from the CLI, a session with the member's role", async () => {
    const password = "correct horse battery staple";
    const invited = await inviteWithCli("Owner@Example.com", "owner");
    assert.match(invited.member_id, /^mem_/);
    assert.match(invited.invite_token, /^inv_/);
    assert.ok(invited.invite_url.endsWith(`#/accept?token=${invited.invite_token}`), invited.invite_url);

    // Too short a password is refused; the invitation still works after that.
    await rejects(Code.InvalidArgument, () => acceptInvite(transport, invited.invite_token, "short", "Olivia"));
    const accepted = await acceptInvite(transport, invited.invite_token, password, "Olivia");
    assert.match(accepted.response.sessionToken, /^ses_/);
    assert.equal(accepted.response.member!.state, MemberState.ACTIVE);
    // The invitation works once.
    await rejects(Code.Unauthenticated, () => acceptInvite(transport, invited.invite_token, password, "Mallory"));

    const owner = accepted.admin;
    const caller = await owner.getCaller();
    assert.equal(caller.role, Role.OWNER);
    assert.deepEqual(caller.environmentIds, []);
    assert.equal(caller.member!.id, invited.member_id);
    assert.equal(caller.member!.email, "owner@example.com");
    assert.equal(caller.member!.displayName, "Olivia");
    assert.equal(caller.adminTokenId, "");
    // An admin token's caller names the token, not a member.
    const asToken = await new Admin(transport, adminToken).getCaller();
    assert.equal(asToken.role, Role.OWNER);
    assert.match(asToken.adminTokenId, /^adm_/);
    assert.equal(asToken.member, undefined);

    // The owner invites a viewer scoped to one environment.
    const env = (await owner.createEnvironment("Team")).environment!;
    const invite = await owner.inviteMember("viewer@example.com", Role.VIEWER, [env.id]);
    assert.match(invite.inviteToken, /^inv_/);
    assert.equal(invite.member!.state, MemberState.INVITED);
    const viewer = (await acceptInvite(transport, invite.inviteToken, password, "Vera")).admin;
    const seen = await viewer.getCaller();
    assert.deepEqual([seen.role, seen.environmentIds], [Role.VIEWER, [env.id]]);
    // Reads only, and only its environment.
    assert.deepEqual((await viewer.environments.listEnvironments({})).environments.map((e) => e.id), [env.id]);
    await rejects(Code.PermissionDenied, () => viewer.createEnvironment("Nope"));
    await rejects(Code.PermissionDenied, () => viewer.rotateKeys(env.id));
    await rejects(Code.PermissionDenied, () => viewer.inviteMember("x@example.com"));
    const members = await viewer.listMembers();
    assert.deepEqual(members.map((m) => m.email).sort(), ["owner@example.com", "viewer@example.com"]);

    // Sign in with email and password; a wrong one is UNAUTHENTICATED.
    await rejects(Code.Unauthenticated, () => signIn(transport, "viewer@example.com", "not the password!"));
    const signedIn = await signIn(transport, "VIEWER@example.com", password);
    assert.match(signedIn.response.sessionToken, /^ses_/);
    assert.equal((await signedIn.admin.getCaller()).member!.email, "viewer@example.com");

    // Promote: live sessions follow at once.
    await owner.members.updateMember({ memberId: invite.member!.id, role: Role.DEVELOPER, updateMask: { paths: ["role"] } });
    assert.equal((await signedIn.admin.getCaller()).role, Role.DEVELOPER);

    // Sign out ends that session only.
    await signedIn.admin.signOut();
    await rejects(Code.Unauthenticated, () => signedIn.admin.getCaller());
    assert.equal((await viewer.getCaller()).role, Role.DEVELOPER);

    // Removed: every session of the member is refused.
    await owner.members.removeMember({ memberId: invite.member!.id });
    await rejects(Code.Unauthenticated, () => viewer.getCaller());
    await rejects(Code.Unauthenticated, () => signIn(transport, "viewer@example.com", password));

    // The session token prints redacted like any credential.
    const token = accepted.response.sessionToken;
    for (const text of [String(owner), JSON.stringify(owner), inspect(owner, { depth: 10, showHidden: true })]) {
      assert.ok(!text.includes(token), text);
    }
    assert.equal(String(new Secret(token)), "ses_…(redacted)");
  });
});
