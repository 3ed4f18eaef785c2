"""End-to-end test of the Python client against a real `pulse serve`.

Starts the server binary on a free port with a fresh SQLite file, then:
create an environment (admin), mint a user token (backend), call as the
frontend, rotate, and check the old secret key and the token died.

    ./generate.sh && PULSE_BIN=../../target/debug/pulse python3 test_client.py
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import tempfile
import time
import unittest

import grpc

from pulse_client import Admin, Backend, Frontend, audit_pb2, environment_pb2, room_pb2

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
        cls.server = subprocess.Popen(
            [PULSE_BIN, "serve", "--listen", cls.addr,
             "--database-url", f"sqlite://{cls.dir.name}/pulse.db?mode=rwc"],
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
