"""End-to-end test of the Python client against a real `pulse serve`.

Starts the server binary on a free port with a fresh SQLite file, then:
create an environment (admin), mint a user token (backend), call as the
frontend, rotate, and check the old secret key and the token died; then
least privilege: a read-only restricted key (`rk_`) refused a write, a
token for one room refused another, and a user's tokens revoked; and the
JWKS: PyJWT's stock `PyJWKClient` verifies user tokens before and after a
signing-key rotation, and a revoked key leaves the set; room access stored
on rooms (a STORED-mode token follows the room's entries as they change);
and team access: an
owner invited with the CLI (`pulse member invite --json`) accepts, signs in
and acts with its role through a `ses_` token, a viewer only reads.

    ./generate.sh && PULSE_BIN=../../target/debug/pulse python3 test_client.py
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import tempfile
import time
import unittest

import grpc
import jwt

from pulse_client import (
    Admin,
    Backend,
    Frontend,
    accept_invite,
    access_pb2,
    audit_pb2,
    auth_pb2,
    environment_pb2,
    member_pb2,
    room_access_pb2,
    room_pb2,
    session_pb2,
    sign_in,
    thread_pb2,
)

HERE = os.path.dirname(os.path.abspath(__file__))
PULSE_BIN = os.environ.get("PULSE_BIN", os.path.join(HERE, "..", "..", "target", "debug", "pulse"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PulseClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.dir = tempfile.TemporaryDirectory()
        cls.addr = f"127.0.0.1:{free_port()}"
        cls.database_url = f"sqlite://{cls.dir.name}/pulse.db?mode=rwc"
        cls.server = subprocess.Popen(
            [PULSE_BIN, "serve", "--listen", cls.addr,
             "--database-url", cls.database_url,
             # A rotated-in signing key waits one JWKS max-age: 1 s here.
             "--jwks-max-age", "1"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        line = cls.server.stdout.readline()
        match = re.search(r"(ak_[0-9A-Za-z]+)", line)
        assert match, f"no admin token in {line!r}"
        cls.admin_token = match.group(1)
        deadline = time.time() + 30
        while True:
            try:
                socket.create_connection(cls.addr.split(":"), timeout=1).close()
                break
            except OSError:
                assert time.time() < deadline, "server did not start"
                time.sleep(0.1)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.server.terminate()
        cls.server.wait(timeout=30)
        cls.dir.cleanup()

    def test_environment_token_frontend_rotation(self) -> None:
        admin = Admin(self.addr, admin_token=self.admin_token)
        created = admin.create_environment("Production")
        env_id = created.environment.id
        self.assertTrue(created.secret_key.startswith("sk_"))
        pk = created.publishable_key.value

        backend = Backend(self.addr, secret_key=created.secret_key)
        self.assertEqual(backend.who_am_i().environment_id, env_id)
        minted = backend.mint_user_token("alice", name="Alice")
        self.assertTrue(minted.token)

        frontend = Frontend(self.addr, publishable_key=pk, user_token=minted.token)
        me = frontend.who_am_i()
        self.assertEqual((me.environment_id, me.user_id), (env_id, "alice"))
        room = frontend.rooms.CreateRoom(room_pb2.CreateRoomRequest(room_id="design-review"),
                                         metadata=frontend.metadata)
        self.assertEqual(room.id, "design-review")

        rotated = admin.rotate_keys(env_id)
        self.assertEqual(len(rotated.keys), 2)
        for caller in (backend, frontend):
            with self.assertRaises(grpc.RpcError) as failure:
                caller.who_am_i()
            self.assertEqual(failure.exception.code(), grpc.StatusCode.UNAUTHENTICATED)
        fresh = Backend(self.addr, secret_key=rotated.secret_key)
        self.assertEqual(fresh.who_am_i().kind, environment_pb2.API_KEY_KIND_SECRET)

        events = admin.audit.ListAuditEvents(
            audit_pb2.ListAuditEventsRequest(environment_id=env_id, type="keys.rotated"),
            metadata=admin.metadata,
        ).events
        self.assertEqual(len(events), 1)

    def assert_fails(self, code: grpc.StatusCode, call, *args, **kwargs) -> grpc.RpcError:
        with self.assertRaises(grpc.RpcError) as failure:
            call(*args, **kwargs)
        self.assertEqual(failure.exception.code(), code, failure.exception.details())
        return failure.exception

    def test_least_privilege(self) -> None:
        admin = Admin(self.addr, admin_token=self.admin_token)
        created = admin.create_environment("Least privilege")
        env_id = created.environment.id
        pk = created.publishable_key.value
        backend = Backend(self.addr, secret_key=created.secret_key)
        for room_id in ("design-review", "finance"):
            backend.rooms.CreateRoom(room_pb2.CreateRoomRequest(room_id=room_id),
                                     metadata=backend.metadata)
        backend.threads.CreateThread(
            thread_pb2.CreateThreadRequest(room_id="design-review", body="Ship it?", user_id="alice"),
            metadata=backend.metadata,
        )

        # A read-only key for an analytics job, usable from loopback only.
        made = admin.create_restricted_key(env_id, ["comments.read"], display_name="analytics job",
                                           allowed_cidrs=["127.0.0.0/8", "::1/128"])
        self.assertTrue(made.secret_key.startswith("rk_"))
        self.assertEqual(made.key.kind, environment_pb2.API_KEY_KIND_RESTRICTED)
        self.assertEqual(list(made.key.permissions), ["comments.read"])
        self.assertEqual(made.key.display_name, "analytics job")
        self.assertEqual(list(made.key.allowed_cidrs), ["127.0.0.0/8", "::1/128"])
        analytics = Backend(self.addr, secret_key=made.secret_key)
        me = analytics.who_am_i()
        self.assertEqual((me.environment_id, me.kind, list(me.permissions)),
                         (env_id, environment_pb2.API_KEY_KIND_RESTRICTED, ["comments.read"]))
        threads = analytics.threads.ListThreads(
            thread_pb2.ListThreadsRequest(room_id="design-review"), metadata=analytics.metadata
        ).threads
        self.assertEqual(len(threads), 1)
        # Writing is not among its permissions; nor is minting or revoking.
        denied = self.assert_fails(
            grpc.StatusCode.PERMISSION_DENIED, analytics.threads.CreateThread,
            thread_pb2.CreateThreadRequest(room_id="design-review", body="hi", user_id="alice"),
            metadata=analytics.metadata,
        )
        self.assertIn("requires comments.write", denied.details())
        self.assert_fails(grpc.StatusCode.PERMISSION_DENIED, analytics.mint_user_token, "alice")
        self.assert_fails(grpc.StatusCode.PERMISSION_DENIED, analytics.revoke_user_tokens, "alice")
        # Unknown permissions are refused.
        self.assert_fails(grpc.StatusCode.INVALID_ARGUMENT, admin.create_restricted_key,
                          env_id, ["comments.delete"])

        # A token for one room: it writes there and cannot read another room.
        token = backend.mint_user_token("alice", room_permissions={"design-review": "write"}).token
        alice = Frontend(self.addr, publishable_key=pk, user_token=token)
        alice.threads.CreateThread(thread_pb2.CreateThreadRequest(room_id="design-review", body="Yes"),
                                   metadata=alice.metadata)
        self.assert_fails(grpc.StatusCode.PERMISSION_DENIED, alice.threads.ListThreads,
                          thread_pb2.ListThreadsRequest(room_id="finance"), metadata=alice.metadata)
        rooms = alice.rooms.ListRooms(room_pb2.ListRoomsRequest(), metadata=alice.metadata).rooms
        self.assertEqual([r.id for r in rooms], ["design-review"])
        # Read-only on a prefix: reading works, writing does not.
        reader = Frontend(self.addr, publishable_key=pk, user_token=backend.mint_user_token(
            "carol", room_permissions={"design-*": "read"}).token)
        reader.threads.ListThreads(thread_pb2.ListThreadsRequest(room_id="design-review"),
                                   metadata=reader.metadata)
        self.assert_fails(grpc.StatusCode.PERMISSION_DENIED, reader.threads.CreateThread,
                          thread_pb2.CreateThreadRequest(room_id="design-review", body="no"),
                          metadata=reader.metadata)
        with self.assertRaises(ValueError):
            backend.mint_user_token("alice", room_permissions={"design-review": "admin"})

        # The admin revokes alice's tokens: the old one is refused, a new one works.
        revocation = admin.revoke_environment_user_tokens(env_id, "alice")
        self.assertEqual(revocation.user_id, "alice")
        self.assertTrue(revocation.HasField("not_before"))
        self.assert_fails(grpc.StatusCode.UNAUTHENTICATED, alice.who_am_i)
        fresh = Frontend(self.addr, publishable_key=pk,
                         user_token=backend.mint_user_token("alice").token)
        self.assertEqual(fresh.who_am_i().user_id, "alice")

        # A backend revokes a user's tokens itself: with its sk_, or an rk_
        # allowed tokens.write.
        minter = Backend(self.addr, secret_key=admin.create_restricted_key(
            env_id, ["tokens.write"], display_name="token service").secret_key)
        for revoker, user in ((backend, "bob"), (minter, "dave")):
            old = Frontend(self.addr, publishable_key=pk,
                           user_token=minter.mint_user_token(user).token)
            self.assertEqual(old.who_am_i().user_id, user)
            self.assertEqual(revoker.revoke_user_tokens(user).user_id, user)
            self.assert_fails(grpc.StatusCode.UNAUTHENTICATED, old.who_am_i)
            new = Frontend(self.addr, publishable_key=pk,
                           user_token=minter.mint_user_token(user).token)
            self.assertEqual(new.who_am_i().user_id, user)

    def test_stored_room_access(self) -> None:
        """A STORED-mode token: the room's entries decide, and a change
        applies to tokens already minted."""
        # auth.proto imports room_access.proto publicly: the old names still work.
        self.assertEqual(auth_pb2.ROOM_ACCESS_READ, room_access_pb2.ROOM_ACCESS_READ)
        READ, WRITE = room_access_pb2.ROOM_ACCESS_READ, room_access_pb2.ROOM_ACCESS_WRITE
        admin = Admin(self.addr, admin_token=self.admin_token)
        created = admin.create_environment("Stored access")
        backend = Backend(self.addr, secret_key=created.secret_key)
        room = backend.rooms.CreateRoom(
            room_pb2.CreateRoomRequest(room_id="plans", user_accesses={"alice": READ}),
            metadata=backend.metadata,
        )
        self.assertEqual(dict(room.user_accesses), {"alice": READ})

        token = backend.mint_user_token("alice", room_access_mode="stored").token
        self.assertEqual(jwt.decode(token, options={"verify_signature": False})["room_access"], "stored")
        alice = Frontend(self.addr, publishable_key=created.publishable_key.value, user_token=token)
        got = alice.rooms.GetRoom(room_pb2.GetRoomRequest(room_id="plans"), metadata=alice.metadata)
        self.assertEqual(got.id, "plans")
        thread = thread_pb2.CreateThreadRequest(room_id="plans", body="Q3?")
        self.assert_fails(grpc.StatusCode.PERMISSION_DENIED, alice.threads.CreateThread, thread,
                          metadata=alice.metadata)
        # A user token cannot change a room's access; the backend can.
        self.assert_fails(
            grpc.StatusCode.PERMISSION_DENIED, alice.rooms.UpdateRoomAccess,
            room_pb2.UpdateRoomAccessRequest(room_id="plans", set_user_accesses={"alice": WRITE}),
            metadata=alice.metadata,
        )
        updated = backend.rooms.UpdateRoomAccess(
            room_pb2.UpdateRoomAccessRequest(room_id="plans", set_user_accesses={"alice": WRITE}),
            metadata=backend.metadata,
        )
        self.assertEqual(dict(updated.user_accesses), {"alice": WRITE})
        # The same token now writes.
        made = alice.threads.CreateThread(thread, metadata=alice.metadata)
        self.assertEqual(made.room_id, "plans")
        with self.assertRaises(ValueError):
            backend.mint_user_token("alice", room_access_mode="rooms")

    def test_jwks_with_pyjwt(self) -> None:
        admin = Admin(self.addr, admin_token=self.admin_token)
        created = admin.create_environment("JWKS")
        env_id = created.environment.id
        pk = created.publishable_key.value
        backend = Backend(self.addr, secret_key=created.secret_key)
        url = f"http://{self.addr}/v1/environments/{env_id}/jwks.json"
        jwks = jwt.PyJWKClient(url)

        def verify(token: str) -> str:
            key = jwks.get_signing_key_from_jwt(token)
            claims = jwt.decode(token, key.key, algorithms=["EdDSA"], issuer="pulse")
            self.assertEqual(claims["env"], env_id)
            return key.key_id

        def published() -> set[str]:
            return {key.key_id for key in jwks.get_jwk_set(refresh=True).keys}

        old = backend.mint_user_token("alice").token
        first = verify(old)
        self.assertEqual(published(), {first})

        # Rotate: published at once, signing after the standby period.
        rotated = admin.rotate_signing_key(env_id)
        self.assertEqual(rotated.previous_kid, first)
        self.assertEqual(published(), {first, rotated.kid})
        time.sleep(1.3)
        new = backend.mint_user_token("alice").token
        self.assertEqual(verify(new), rotated.kid)
        self.assertEqual(verify(old), first)  # retiring: still verifies

        # Revoke the active key: its tokens die, it leaves the JWKS.
        revoked = admin.revoke_signing_key(env_id, rotated.kid)
        self.assertTrue(revoked.replacement_kid)
        self.assertEqual(published(), {first, revoked.replacement_kid})
        self.assert_fails(grpc.StatusCode.UNAUTHENTICATED,
                          Frontend(self.addr, publishable_key=pk, user_token=new).who_am_i)
        with self.assertRaises(jwt.PyJWKClientError):
            jwks.get_signing_key_from_jwt(new)
        latest = backend.mint_user_token("alice").token
        self.assertEqual(verify(latest), revoked.replacement_kid)

    def test_key_usage(self) -> None:
        admin = Admin(self.addr, admin_token=self.admin_token)
        created = admin.create_environment("Usage")
        backend = Backend(self.addr, secret_key=created.secret_key)
        key_id = backend.who_am_i().key_id
        for _ in range(4):
            backend.who_am_i()
        backend.mint_user_token("alice")
        # Counted in memory and flushed about once a second: visible within 5 s.
        deadline = time.monotonic() + 5
        while True:
            buckets = admin.get_key_usage(key_id)
            totals = (
                sum(b.success_count for b in buckets),
                sum(b.minted_token_count for b in buckets),
            )
            if totals == (6, 1) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(totals, (6, 1), "5 WhoAmI + 1 mint succeeded, 1 token minted")
        self.assertEqual(len(buckets), 24, "hourly buckets over the last day by default")

    def invite_with_cli(self, email: str, role: str) -> dict:
        """`pulse member invite EMAIL --role ROLE --json` on the server's database."""
        out = subprocess.run(
            [PULSE_BIN, "member", "invite", email, "--role", role, "--json",
             "--database-url", self.database_url],
            check=True, capture_output=True, text=True, timeout=60,
        ).stdout
        return json.loads(out.strip().splitlines()[-1])

    def test_members_sign_in(self) -> None:
        password = "correct horse battery staple"
        invited = self.invite_with_cli("py-owner@example.com", "owner")
        self.assertTrue(invited["member_id"].startswith("mem_"))
        self.assertTrue(invited["invite_token"].startswith("inv_"))
        self.assertTrue(invited["invite_url"].endswith(f"#/accept?token={invited['invite_token']}"))

        owner, accepted = accept_invite(self.addr, invited["invite_token"], password, "Olivia")
        self.assertTrue(accepted.session_token.startswith("ses_"))
        self.assertEqual(accepted.member.state, member_pb2.MEMBER_STATE_ACTIVE)
        self.assertNotIn(accepted.session_token, repr(owner))
        caller = owner.get_caller()
        self.assertEqual(caller.role, access_pb2.ROLE_OWNER)
        self.assertEqual(list(caller.environment_ids), [])
        self.assertEqual((caller.member.id, caller.member.email, caller.member.display_name),
                         (invited["member_id"], "py-owner@example.com", "Olivia"))
        self.assertEqual(caller.admin_token_id, "")
        # The invitation works once.
        self.assert_fails(grpc.StatusCode.UNAUTHENTICATED, accept_invite, self.addr,
                          invited["invite_token"], password, "Mallory")
        # An admin token's caller: the token, no member.
        token_caller = Admin(self.addr, admin_token=self.admin_token).get_caller()
        self.assertEqual(token_caller.role, access_pb2.ROLE_OWNER)
        self.assertTrue(token_caller.admin_token_id.startswith("adm_"))
        self.assertFalse(token_caller.HasField("member"))

        # A session acts on the admin plane like an admin token.
        env_id = owner.create_environment("Team").environment.id
        invite = owner.invite_member("py-viewer@example.com", access_pb2.ROLE_VIEWER, [env_id])
        self.assertTrue(invite.invite_token.startswith("inv_"))
        self.assertEqual(invite.member.state, member_pb2.MEMBER_STATE_INVITED)
        viewer, _ = accept_invite(self.addr, invite.invite_token, password, "Vera")
        seen = viewer.get_caller()
        self.assertEqual((seen.role, list(seen.environment_ids)), (access_pb2.ROLE_VIEWER, [env_id]))
        listed = viewer.environments.ListEnvironments(
            environment_pb2.ListEnvironmentsRequest(), metadata=viewer.metadata).environments
        self.assertEqual([e.id for e in listed], [env_id])
        self.assert_fails(grpc.StatusCode.PERMISSION_DENIED, viewer.create_environment, "Nope")
        self.assert_fails(grpc.StatusCode.PERMISSION_DENIED, viewer.rotate_keys, env_id)
        self.assert_fails(grpc.StatusCode.PERMISSION_DENIED, viewer.invite_member, "x@example.com")

        # Email and password (case-insensitive email); a wrong password is refused.
        self.assert_fails(grpc.StatusCode.UNAUTHENTICATED, sign_in, self.addr,
                          "py-viewer@example.com", "not the password!")
        again, response = sign_in(self.addr, "PY-Viewer@example.com", password)
        self.assertTrue(response.session_token.startswith("ses_"))
        self.assertEqual(again.get_caller().member.email, "py-viewer@example.com")

        # A new password ends the member's other sessions, not this one.
        new_password = "a much longer passphrase"
        again.session.ChangePassword(
            session_pb2.ChangePasswordRequest(current_password=password, new_password=new_password),
            metadata=again.metadata,
        )
        self.assert_fails(grpc.StatusCode.UNAUTHENTICATED, viewer.get_caller)
        self.assertEqual(again.get_caller().role, access_pb2.ROLE_VIEWER)
        self.assert_fails(grpc.StatusCode.UNAUTHENTICATED, sign_in, self.addr,
                          "py-viewer@example.com", password)

        # Sign out: that session is refused from then on.
        again.sign_out()
        self.assert_fails(grpc.StatusCode.UNAUTHENTICATED, again.get_caller)
        fresh, _ = sign_in(self.addr, "py-viewer@example.com", new_password)
        self.assertEqual(fresh.get_caller().role, access_pb2.ROLE_VIEWER)

    def test_errors_carry_codes(self) -> None:
        admin = Admin(self.addr, admin_token="ak_not_a_token")
        with self.assertRaises(grpc.RpcError) as failure:
            admin.create_environment("x")
        self.assertEqual(failure.exception.code(), grpc.StatusCode.UNAUTHENTICATED)
        admin = Admin(self.addr, admin_token=self.admin_token)
        with self.assertRaises(grpc.RpcError) as failure:
            admin.create_environment("")
        self.assertEqual(failure.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)


if __name__ == "__main__":
    unittest.main(verbosity=2)
