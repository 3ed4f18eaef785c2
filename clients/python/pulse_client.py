"""A tiny typed wrapper over the generated Pulse stubs.

It only sets the auth metadata each kind of caller needs; requests and
responses are the generated messages. Generate the stubs first:
``./generate.sh``.

    admin = Admin("127.0.0.1:50051", admin_token)
    created = admin.environments.CreateEnvironment(
        environment_pb2.CreateEnvironmentRequest(display_name="Production"),
        metadata=admin.metadata)

People sign in as members: ``sign_in`` (or ``accept_invite``) returns an
``Admin`` that carries the session token (``ses_…``) and acts with the
member's role and environment scope::

    admin, response = sign_in("127.0.0.1:50051", "ana@example.com", password, totp_code)
    admin.get_caller().role   # access_pb2.ROLE_…
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "generated"))

from pulse.v1 import (  # noqa: E402  (generated, found through sys.path)
    access_pb2,
    account_pb2,
    account_pb2_grpc,
    audit_pb2,
    audit_pb2_grpc,
    auth_pb2,
    auth_pb2_grpc,
    environment_pb2,
    environment_pb2_grpc,
    member_pb2,
    member_pb2_grpc,
    room_access_pb2,
    room_pb2,
    room_pb2_grpc,
    session_pb2,
    session_pb2_grpc,
    thread_pb2,
    thread_pb2_grpc,
)

__all__ = [
    "Admin",
    "Backend",
    "Frontend",
    "accept_invite",
    "access_pb2",
    "account_pb2",
    "audit_pb2",
    "auth_pb2",
    "environment_pb2",
    "member_pb2",
    "room_access_pb2",
    "room_pb2",
    "session_pb2",
    "sign_in",
    "thread_pb2",
]

# `room_permissions` values: "read" / "write" (as in the token's `rooms` claim).
# (RoomAccess lives in room_access.proto; auth_pb2 re-exports it too.)
_ROOM_ACCESS = {"read": room_access_pb2.ROOM_ACCESS_READ, "write": room_access_pb2.ROOM_ACCESS_WRITE}

# `room_access_mode` values: how a user token's rooms are decided.
_ROOM_ACCESS_MODE = {
    "token": auth_pb2.ROOM_ACCESS_MODE_TOKEN,
    "stored": auth_pb2.ROOM_ACCESS_MODE_STORED,
}


@dataclass
class _Caller:
    """A channel plus the metadata that authenticates this caller."""

    target: str
    channel: grpc.Channel = field(init=False)

    def __post_init__(self) -> None:
        self.channel = grpc.insecure_channel(self.target)

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        raise NotImplementedError

    def close(self) -> None:
        self.channel.close()


@dataclass
class Admin(_Caller):
    """An ops service with an admin token (``ak_…``), or a member signed in
    with a session token (``ses_…``, from ``sign_in`` / ``accept_invite``):
    either acts with its role and environment scope."""

    admin_token: str = field(default="", repr=False)

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.admin_token}"),)

    @property
    def account(self) -> account_pb2_grpc.AccountServiceStub:
        return account_pb2_grpc.AccountServiceStub(self.channel)

    @property
    def members(self) -> member_pb2_grpc.MemberServiceStub:
        return member_pb2_grpc.MemberServiceStub(self.channel)

    @property
    def session(self) -> session_pb2_grpc.SessionServiceStub:
        """The calling session's own RPCs (``ses_`` only): SignOut,
        EnrollTotp, ConfirmTotp, ChangePassword."""
        return session_pb2_grpc.SessionServiceStub(self.channel)

    def get_caller(self) -> account_pb2.GetCallerResponse:
        """Who is calling: account, role, environment scope, and the member
        for a session."""
        return self.account.GetCaller(account_pb2.GetCallerRequest(), metadata=self.metadata)

    def invite_member(
        self,
        email: str,
        role: int = access_pb2.ROLE_VIEWER,
        environment_ids: Iterable[str] | None = None,
    ) -> member_pb2.InviteMemberResponse:
        """Invites ``email``; the response's ``invite_token`` (``inv_…``) is
        shown once."""
        return self.members.InviteMember(
            member_pb2.InviteMemberRequest(
                email=email, role=role, environment_ids=list(environment_ids or ())
            ),
            metadata=self.metadata,
        )

    def sign_out(self) -> None:
        """Ends this session (``ses_`` only)."""
        self.session.SignOut(session_pb2.SignOutRequest(), metadata=self.metadata)

    @property
    def environments(self) -> environment_pb2_grpc.EnvironmentServiceStub:
        return environment_pb2_grpc.EnvironmentServiceStub(self.channel)

    @property
    def audit(self) -> audit_pb2_grpc.AuditServiceStub:
        return audit_pb2_grpc.AuditServiceStub(self.channel)

    def create_environment(self, name: str) -> environment_pb2.CreateEnvironmentResponse:
        return self.environments.CreateEnvironment(
            environment_pb2.CreateEnvironmentRequest(display_name=name), metadata=self.metadata
        )

    def rotate_keys(self, environment_id: str) -> environment_pb2.RotateKeysResponse:
        return self.environments.RotateKeys(
            environment_pb2.RotateKeysRequest(environment_id=environment_id), metadata=self.metadata
        )

    def rotate_signing_key(self, environment_id: str) -> environment_pb2.RotateSigningKeyResponse:
        """Adds a user-token signing key: published (JWKS) at once, STANDBY
        until ``activate_time`` (one JWKS max-age), then it signs."""
        return self.environments.RotateSigningKey(
            environment_pb2.RotateSigningKeyRequest(environment_id=environment_id),
            metadata=self.metadata,
        )

    def revoke_signing_key(
        self, environment_id: str, kid: str
    ) -> environment_pb2.RevokeSigningKeyResponse:
        """Kills a signing key and every token it signed (an ACTIVE key is
        replaced at once: ``replacement_kid``). Idempotent."""
        return self.environments.RevokeSigningKey(
            environment_pb2.RevokeSigningKeyRequest(environment_id=environment_id, kid=kid),
            metadata=self.metadata,
        )

    def create_restricted_key(
        self,
        environment_id: str,
        permissions: Iterable[str],
        display_name: str | None = None,
        allowed_cidrs: Iterable[str] | None = None,
    ) -> environment_pb2.CreateKeyResponse:
        """A restricted key (``rk_…``, in ``secret_key``, shown once) allowed
        only ``permissions`` (``"comments.read"``, ``"tokens.write"``, …),
        optionally usable only from ``allowed_cidrs``."""
        return self.environments.CreateKey(
            environment_pb2.CreateKeyRequest(
                environment_id=environment_id,
                kind=environment_pb2.API_KEY_KIND_RESTRICTED,
                permissions=list(permissions),
                display_name=display_name or "",
                allowed_cidrs=list(allowed_cidrs or ()),
            ),
            metadata=self.metadata,
        )

    def revoke_environment_user_tokens(
        self, environment_id: str, user_id: str
    ) -> environment_pb2.UserTokenRevocation:
        """Ends every token of ``user_id`` minted before this call."""
        return self.environments.RevokeEnvironmentUserTokens(
            environment_pb2.RevokeEnvironmentUserTokensRequest(
                environment_id=environment_id, user_id=user_id
            ),
            metadata=self.metadata,
        )

    # Usage (issue 13).

    def get_key_usage(
        self,
        key_id: str,
        start: datetime | None = None,
        end: datetime | None = None,
        granularity: str = "hour",
    ) -> list[environment_pb2.UsageBucket]:
        """The key's buckets (``"hour"`` or ``"day"``, UTC) over [start, end),
        oldest first, empty ones included: successes, failures by reason and
        user tokens minted. Unset ``end``: now; unset ``start``: 24 hours
        (30 days) ending with the current bucket."""
        request = environment_pb2.GetKeyUsageRequest(
            key_id=key_id, granularity=_GRANULARITY[granularity]
        )
        if start is not None:
            request.start_time.FromDatetime(start)
        if end is not None:
            request.end_time.FromDatetime(end)
        return list(self.environments.GetKeyUsage(request, metadata=self.metadata).buckets)


# `get_key_usage` granularities.
_GRANULARITY = {
    "hour": environment_pb2.USAGE_GRANULARITY_HOUR,
    "day": environment_pb2.USAGE_GRANULARITY_DAY,
}


@dataclass
class Backend(_Caller):
    """A customer's backend with its secret key (``sk_…``) or a restricted
    key (``rk_…``, allowed only its permissions)."""

    secret_key: str = ""

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.secret_key}"),)

    @property
    def rooms(self) -> room_pb2_grpc.RoomServiceStub:
        return room_pb2_grpc.RoomServiceStub(self.channel)

    @property
    def threads(self) -> thread_pb2_grpc.ThreadServiceStub:
        return thread_pb2_grpc.ThreadServiceStub(self.channel)

    def mint_user_token(
        self,
        user_id: str,
        name: str = "",
        room_permissions: Mapping[str, str] | None = None,
        *,
        group_ids: Iterable[str] | None = None,
        room_access_mode: str = "token",
    ) -> auth_pb2.MintUserTokenResponse:
        """A token for ``user_id``. ``room_permissions`` maps a room id or a
        prefix ending in ``*`` to ``"read"`` or ``"write"``; None: every
        room, read and write. ``room_access_mode="stored"``: the rooms decide
        instead (their default, their entry for the user and for its
        ``group_ids``; ``room_permissions`` must then be empty)."""
        if room_access_mode not in _ROOM_ACCESS_MODE:
            raise ValueError(f"room access mode must be 'token' or 'stored', not {room_access_mode!r}")
        rooms = {}
        for pattern, access in (room_permissions or {}).items():
            if access not in _ROOM_ACCESS:
                raise ValueError(f"room access must be 'read' or 'write', not {access!r}")
            rooms[pattern] = _ROOM_ACCESS[access]
        stub = auth_pb2_grpc.AuthServiceStub(self.channel)
        return stub.MintUserToken(
            auth_pb2.MintUserTokenRequest(
                user_id=user_id,
                user_info=auth_pb2.UserInfo(name=name),
                room_permissions=rooms,
                group_ids=list(group_ids or ()),
                room_access_mode=_ROOM_ACCESS_MODE[room_access_mode],
            ),
            metadata=self.metadata,
        )

    def revoke_user_tokens(self, user_id: str) -> environment_pb2.UserTokenRevocation:
        """Ends every token of ``user_id`` minted before this call (``sk_``,
        or ``rk_`` with ``tokens.write``)."""
        return auth_pb2_grpc.AuthServiceStub(self.channel).RevokeUserTokens(
            auth_pb2.RevokeUserTokensRequest(user_id=user_id), metadata=self.metadata
        )

    def who_am_i(self) -> auth_pb2.WhoAmIResponse:
        return auth_pb2_grpc.AuthServiceStub(self.channel).WhoAmI(
            auth_pb2.WhoAmIRequest(), metadata=self.metadata
        )


@dataclass
class Frontend(_Caller):
    """An end user's app: the publishable key (``pk_…``) and a user token."""

    publishable_key: str = ""
    user_token: str = ""

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (
            ("x-pulse-publishable-key", self.publishable_key),
            ("authorization", f"Bearer {self.user_token}"),
        )

    @property
    def rooms(self) -> room_pb2_grpc.RoomServiceStub:
        return room_pb2_grpc.RoomServiceStub(self.channel)

    @property
    def threads(self) -> thread_pb2_grpc.ThreadServiceStub:
        return thread_pb2_grpc.ThreadServiceStub(self.channel)

    def who_am_i(self) -> auth_pb2.WhoAmIResponse:
        return auth_pb2_grpc.AuthServiceStub(self.channel).WhoAmI(
            auth_pb2.WhoAmIRequest(), metadata=self.metadata
        )


def sign_in(
    target: str, email: str, password: str, totp_code: str = ""
) -> tuple[Admin, session_pb2.SignInResponse]:
    """Signs a member in (no credential needed); returns an ``Admin`` acting
    as the member, and the response (its ``session_token``, ``ses_…``). A
    wrong email, password or code is UNAUTHENTICATED."""
    with grpc.insecure_channel(target) as channel:
        response = session_pb2_grpc.SessionServiceStub(channel).SignIn(
            session_pb2.SignInRequest(email=email, password=password, totp_code=totp_code)
        )
    return Admin(target, admin_token=response.session_token), response


def accept_invite(
    target: str, invite_token: str, password: str, display_name: str
) -> tuple[Admin, session_pb2.AcceptInviteResponse]:
    """Accepts an invitation (``inv_…``, once, within 7 days): sets the
    member's password (at least 12 characters) and name, and signs it in."""
    with grpc.insecure_channel(target) as channel:
        response = session_pb2_grpc.SessionServiceStub(channel).AcceptInvite(
            session_pb2.AcceptInviteRequest(
                invite_token=invite_token, password=password, display_name=display_name
            )
        )
    return Admin(target, admin_token=response.session_token), response
