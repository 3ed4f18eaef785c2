//! `pulse.v1.SessionService`: members sign in, out, and manage their own
//! password and second factor.
//!
//! `SignIn` and `AcceptInvite` run without a credential (the auth layer
//! lets them through): they are rate limited here by email and by client
//! address, and every failure answers the same UNAUTHENTICATED. Password
//! hashing runs on the blocking pool (`crate::auth::passwords`).

use tonic::{Request, Response, Status};

use super::{AppState, convert};
use crate::auth::layer::FORWARDED_FOR_HEADER;
use crate::auth::{AdminCaller, context, passwords};
use crate::domain::credential::{self, CredentialKind};
use crate::domain::names::parse_display_name;
use crate::domain::records::MemberState;
use crate::domain::roles::{MemberIdentity, parse_email};
use crate::domain::secret::Secret;
use crate::domain::time::{now_micros, to_timestamp};
use crate::domain::totp;
use crate::error::{Error, Result};
use crate::pb::{self, session_service_server::SessionService};
use crate::store::members::NewSession;

/// Handlers of `SessionService`.
#[derive(Clone, Debug)]
pub struct SessionApi {
    state: AppState,
}

impl SessionApi {
    /// Handlers over `state`.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }

    fn ttl_micros(&self) -> i64 {
        i64::try_from(self.state.team.session_ttl.as_micros()).unwrap_or(i64::MAX)
    }

    /// The client address of an unauthenticated request.
    fn client<T>(&self, request: &Request<T>) -> Option<std::net::IpAddr> {
        let forwarded = request
            .metadata()
            .get(FORWARDED_FOR_HEADER)
            .map(|v| v.as_bytes());
        self.state
            .team
            .client(request.remote_addr().map(|a| a.ip()), forwarded)
    }

    /// Opens a member's sealed TOTP secret.
    fn open_totp(&self, member_id: &str, sealed: &[u8]) -> Result<Vec<u8>> {
        self.state.team.sealer.open(&totp_aad(member_id), sealed)
    }
}

/// The sealed TOTP secret is bound to its member's row.
fn totp_aad(member_id: &str) -> String {
    format!("totp:{member_id}")
}

fn now_secs() -> u64 {
    u64::try_from(now_micros() / 1_000_000).unwrap_or_default()
}

/// The member a session acts for; FAILED_PRECONDITION for an admin token.
fn session_member(admin: &AdminCaller) -> Result<&MemberIdentity> {
    admin.member.as_deref().ok_or_else(|| {
        Error::FailedPrecondition("this rpc acts on a member: sign in (ses_…)".into())
    })
}

fn signed_in(session: NewSession) -> (String, Option<prost_types::Timestamp>, pb::Member) {
    (
        session.token.into_exposed(),
        Some(to_timestamp(session.expire_time)),
        convert::member(session.member),
    )
}

#[tonic::async_trait]
impl SessionService for SessionApi {
    async fn accept_invite(
        &self,
        request: Request<pb::AcceptInviteRequest>,
    ) -> Result<Response<pb::AcceptInviteResponse>, Status> {
        let client = self.client(&request);
        let req = request.get_ref();
        let invite = credential::parse(&req.invite_token)
            .filter(|c| c.kind == CredentialKind::Invite)
            .ok_or(Error::Unauthenticated)?;
        let password = Secret::new(req.password.clone());
        passwords::check_new("password", &password)?;
        let name = parse_display_name("display_name", &req.display_name)?;
        // Guessing invitations costs a hash each: limited per address.
        let key = format!("invite:{}", invite.hash.to_hex());
        self.state.team.sign_ins.check(&key, client)?;
        let hash = passwords::hash(password).await?;
        let peer = client.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
        let session = match self
            .state
            .store
            .accept_invite(&invite.hash, hash, name.as_str(), self.ttl_micros(), &peer)
            .await
        {
            Err(Error::Unauthenticated) => {
                self.state.team.sign_ins.failed(&key, client)?;
                return Err(Error::Unauthenticated.into());
            }
            other => other?,
        };
        let (session_token, expire_time, member) = signed_in(session);
        Ok(Response::new(pb::AcceptInviteResponse {
            session_token,
            expire_time,
            member: Some(member),
        }))
    }

    async fn sign_in(
        &self,
        request: Request<pb::SignInRequest>,
    ) -> Result<Response<pb::SignInResponse>, Status> {
        let client = self.client(&request);
        let req = request.get_ref();
        let email = parse_email("email", &req.email)?;
        if req.password.len() > passwords::MAX_PASSWORD_BYTES {
            return Err(Error::invalid("password", "must be at most 1024 bytes").into());
        }
        let limits = &self.state.team.sign_ins;
        limits.check(&email, client)?;
        let member = self
            .state
            .store
            .member_by_email(&email)
            .await?
            .filter(|m| m.state == MemberState::Active);
        // An unknown email is checked against a dummy hash: same time.
        let stored = member.as_ref().and_then(|m| m.password_hash.clone());
        let mut ok = passwords::verify(Secret::new(req.password.clone()), stored).await?;
        if let (true, Some(m)) = (ok, &member)
            && let Some(sealed) = &m.totp_secret
        {
            let secret = self.open_totp(&m.id, sealed)?;
            ok = match totp::accept(&secret, &req.totp_code, now_secs(), m.totp_last_step) {
                // Recorded atomically: a code is accepted once, even by
                // two replicas at the same moment.
                Some(step) => self.state.store.use_totp_step(&m.id, step).await?,
                None => false,
            };
        }
        let Some(member) = member.filter(|_| ok) else {
            limits.failed(&email, client)?;
            return Err(Error::Unauthenticated.into());
        };
        let session = self
            .state
            .store
            .create_session(&member, self.ttl_micros())
            .await?;
        let (session_token, expire_time, member) = signed_in(session);
        Ok(Response::new(pb::SignInResponse {
            session_token,
            expire_time,
            member: Some(member),
        }))
    }

    async fn sign_out(&self, request: Request<pb::SignOutRequest>) -> Result<Response<()>, Status> {
        let admin = context::admin(&request)?;
        session_member(&admin)?;
        admin
            .store(&self.state.store)
            .end_session(&admin.token_id)
            .await?
            .finish(&self.state.revoker)
            .await;
        Ok(Response::new(()))
    }

    async fn enroll_totp(
        &self,
        request: Request<pb::EnrollTotpRequest>,
    ) -> Result<Response<pb::EnrollTotpResponse>, Status> {
        let admin = context::admin(&request)?;
        let member = session_member(&admin)?;
        let secret = totp::new_secret();
        let sealed = self
            .state
            .team
            .sealer
            .seal(&totp_aad(member.id.as_str()), &secret);
        admin
            .store(&self.state.store)
            .set_totp_pending(&member.id, sealed)
            .await?;
        let (secret, url) = totp::provisioning(&secret, &member.email);
        Ok(Response::new(pb::EnrollTotpResponse {
            secret: secret.into_exposed(),
            otpauth_url: url.into_exposed(),
        }))
    }

    async fn confirm_totp(
        &self,
        request: Request<pb::ConfirmTotpRequest>,
    ) -> Result<Response<pb::Member>, Status> {
        let admin = context::admin(&request)?;
        let member = session_member(&admin)?;
        let store = admin.store(&self.state.store);
        let row = store.member(&member.id).await?;
        let Some(sealed) = row.totp_pending.clone() else {
            return Err(Error::FailedPrecondition("call EnrollTotp first".into()).into());
        };
        let secret = self.open_totp(&row.id, &sealed)?;
        let step = totp::accept(
            &secret,
            &request.get_ref().code,
            now_secs(),
            row.totp_last_step,
        )
        .ok_or_else(|| Error::invalid("code", "is not a current code of the enrolled secret"))?;
        let row = store
            .confirm_totp(&member.id, &sealed, step, &admin.actor)
            .await?
            .finish(&self.state.revoker)
            .await;
        Ok(Response::new(convert::member(row)))
    }

    async fn change_password(
        &self,
        request: Request<pb::ChangePasswordRequest>,
    ) -> Result<Response<()>, Status> {
        let admin = context::admin(&request)?;
        let member = session_member(&admin)?;
        let req = request.get_ref();
        let new = Secret::new(req.new_password.clone());
        passwords::check_new("new_password", &new)?;
        let limits = &self.state.team.sign_ins;
        let client = self.client(&request);
        limits.check(&member.email, client)?;
        let id = member.id.clone();
        let store = admin.store(&self.state.store);
        let stored = store.member(&id).await?.password_hash;
        let current = Secret::new(req.current_password.clone());
        if !passwords::verify(current, stored).await? {
            limits.failed(&member.email, client)?;
            return Err(Error::invalid("current_password", "is not the member's password").into());
        }
        let hash = passwords::hash(new).await?;
        store
            .change_password(&id, hash, &admin.token_id, &admin.actor)
            .await?
            .finish(&self.state.revoker)
            .await;
        Ok(Response::new(()))
    }
}
