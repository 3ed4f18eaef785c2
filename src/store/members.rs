//! Members, invitations and sessions (team access).
//!
//! Every change that alters what a live session may do announces it
//! through the revocation path before its RPC returns: a role or scope
//! change re-reads the member's sessions everywhere (`scheduled`), a
//! removal, sign-out or password change kills sessions (`dead`). So a
//! second replica refuses a removed member's session the moment
//! `RemoveMember` returns.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QuerySelect,
};

use super::audit::{self, Subject};
use super::entity::member::{STATE_ACTIVE, STATE_INVITED};
use super::entity::{environment, member, session};
use super::paging::fetch_records;
use super::revocation::{DeadCredential, Pending};
use super::tenant::AccountStore;
use super::write::Op;
use super::write::Revoked;
use super::{Page, Store};
use crate::domain::audit::{Actor, EventType};
use crate::domain::credential::{self, CredentialHash, CredentialKind};
use crate::domain::ids::{AccountId, MemberId, SessionId};
use crate::domain::page::PageRequest;
use crate::domain::records::Member;
use crate::domain::roles::{Environments, Grant, Role};
use crate::domain::secret::Secret;
use crate::domain::time::now_micros;
use crate::error::{Error, Result};

/// How long an invitation is good for.
pub const INVITE_TTL_MICROS: i64 = 7 * 24 * 3600 * 1_000_000;

/// A new invitation: the member row and the invite token (shown once).
#[derive(Debug)]
pub struct NewInvite {
    /// The invited member.
    pub member: Member,
    /// `inv_…`.
    pub token: Secret,
}

/// A new session: its token (shown once), when it ends, and the member.
#[derive(Debug)]
pub struct NewSession {
    /// `ses_…`.
    pub token: Secret,
    /// When it ends, µs.
    pub expire_time: i64,
    /// The member signed in.
    pub member: Member,
}

/// Inserts a session for `m`, in `db`'s transaction.
async fn insert_session(
    db: &impl ConnectionTrait,
    member_id: &str,
    account_id: &str,
    ttl_micros: i64,
) -> Result<(Secret, i64)> {
    let cred = credential::generate(CredentialKind::Session);
    let now = now_micros();
    let expire_time = now.saturating_add(ttl_micros);
    session::ActiveModel {
        id: Set(SessionId::generate().into_string()),
        member_id: Set(member_id.to_owned()),
        account_id: Set(account_id.to_owned()),
        token_hash: Set(cred.hash.to_hex()),
        create_time: Set(now),
        expire_time: Set(expire_time),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok((cred.plaintext, expire_time))
}

/// Deletes sessions of `member_id` (all, or all but `keep`), queueing each
/// as dead credential.
async fn end_sessions(
    db: &impl ConnectionTrait,
    member_id: &str,
    keep: Option<&str>,
    pending: &mut Pending,
) -> Result<()> {
    let mut query = session::Entity::find().filter(session::Column::MemberId.eq(member_id));
    if let Some(keep) = keep {
        query = query.filter(session::Column::Id.ne(keep));
    }
    let rows = query.all(db).await?;
    for row in &rows {
        pending
            .dead
            .push(DeadCredential::stored(&row.id, &row.token_hash)?);
    }
    if !rows.is_empty() {
        let ids: Vec<String> = rows.into_iter().map(|r| r.id).collect();
        session::Entity::delete_many()
            .filter(session::Column::Id.is_in(ids))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// Queues every live session of `member_id` to be re-read everywhere (its
/// role or scope changed).
async fn refresh_sessions(
    db: &impl ConnectionTrait,
    member_id: &str,
    pending: &mut Pending,
) -> Result<()> {
    let rows = session::Entity::find()
        .filter(session::Column::MemberId.eq(member_id))
        .all(db)
        .await?;
    for row in rows {
        pending
            .scheduled
            .push(DeadCredential::stored(&row.id, &row.token_hash)?);
    }
    Ok(())
}

impl Store {
    /// Offline invitation (`pulse member invite` on the server's machine):
    /// the account `account_id`, or the only account when `None`.
    /// NOT_FOUND for an unknown account; FAILED_PRECONDITION when `None`
    /// and there is not exactly one account.
    pub async fn invite_member_offline(
        &self,
        account_id: Option<&AccountId>,
        email: &str,
        grant: &Grant,
        actor: &Actor,
    ) -> Result<(AccountId, NewInvite)> {
        use super::entity::account;
        let accounts = match account_id {
            Some(id) => {
                account::Entity::find()
                    .filter(account::Column::Id.eq(id.as_str()))
                    .all(&self.read)
                    .await?
            }
            None => account::Entity::find().limit(2).all(&self.read).await?,
        };
        let account = match (accounts.len(), account_id) {
            (1, _) => AccountId::from_stored(accounts[0].id.as_str()),
            (0, Some(_)) => return Err(Error::NotFound("account")),
            _ => {
                return Err(Error::FailedPrecondition(
                    "name the account with --account (there is not exactly one)".into(),
                ));
            }
        };
        let account_id = &account;
        let invite = self
            .write(Op::InviteMember, |w| {
                Box::pin(insert_invite(w.db(), account_id, email, grant, actor))
            })
            .await?;
        Ok((account, invite))
    }

    /// The member with this (normalised) email, if any, on this server.
    pub async fn member_by_email(&self, email: &str) -> Result<Option<Member>> {
        Ok(member::Entity::find()
            .filter(member::Column::Email.eq(email))
            .one(&self.read)
            .await?
            .map(Into::into))
    }

    /// Accepts an invitation: the member becomes active with this password
    /// hash and name, and is signed in. UNAUTHENTICATED for an unknown,
    /// used or expired invitation.
    pub async fn accept_invite(
        &self,
        invite: &CredentialHash,
        password_hash: String,
        display_name: &str,
        ttl_micros: i64,
        peer: &str,
    ) -> Result<NewSession> {
        let now = now_micros();
        let password_hash = &password_hash;
        self.write(Op::AcceptInvite, |w| {
            Box::pin(async move {
                let tx = w.db();
                // The state check is in the update: of two concurrent accepts of
                // one invitation, exactly one changes the row.
                let changed = member::Entity::update_many()
                    .col_expr(member::Column::State, Expr::value(STATE_ACTIVE))
                    .col_expr(
                        member::Column::PasswordHash,
                        Expr::value(password_hash.clone()),
                    )
                    .col_expr(member::Column::DisplayName, Expr::value(display_name))
                    .col_expr(
                        member::Column::InviteHash,
                        Expr::value(Option::<String>::None),
                    )
                    .col_expr(member::Column::UpdateTime, Expr::value(now))
                    .col_expr(member::Column::LastSignInTime, Expr::value(now))
                    .filter(member::Column::InviteHash.eq(invite.to_hex()))
                    .filter(member::Column::State.eq(STATE_INVITED))
                    .filter(member::Column::InviteExpireTime.gt(now))
                    .exec_with_returning(tx)
                    .await?;
                let Some(m) = changed.into_iter().next() else {
                    return Err(Error::Unauthenticated);
                };
                let (token, expire_time) =
                    insert_session(tx, &m.id, &m.account_id, ttl_micros).await?;
                let actor = member_actor(&m, peer);
                let account = AccountId::from_stored(m.account_id.as_str());
                let subject = Subject::account(&account, &m.id);
                audit::record(tx, &actor, EventType::MemberJoined, subject).await?;
                Ok(NewSession {
                    token,
                    expire_time,
                    member: m.into(),
                })
            })
        })
        .await
    }

    /// Signs an active member in (the password and code already checked).
    pub async fn create_session(&self, m: &Member, ttl_micros: i64) -> Result<NewSession> {
        self.write(Op::CreateSession, |w| {
            Box::pin(async move {
                let tx = w.db();
                let (token, expire_time) =
                    insert_session(tx, &m.id, &m.account_id, ttl_micros).await?;
                let now = now_micros();
                member::Entity::update_many()
                    .col_expr(member::Column::LastSignInTime, Expr::value(now))
                    .filter(member::Column::Id.eq(m.id.as_str()))
                    .exec(tx)
                    .await?;
                Ok(NewSession {
                    token,
                    expire_time,
                    member: Member {
                        last_sign_in_time: Some(now),
                        ..m.clone()
                    },
                })
            })
        })
        .await
    }

    /// Records that a TOTP code of `step` was used by `member_id`; false if
    /// that step (or a later one) was used before: a replay. Atomic, so two
    /// replicas cannot both accept one code.
    pub async fn use_totp_step(&self, member_id: &str, step: i64) -> Result<bool> {
        self.write(Op::UseTotpStep, |w| {
            Box::pin(async move {
                let result = member::Entity::update_many()
                    .col_expr(member::Column::TotpLastStep, Expr::value(step))
                    .filter(member::Column::Id.eq(member_id))
                    .filter(
                        sea_orm::Condition::any()
                            .add(member::Column::TotpLastStep.is_null())
                            .add(member::Column::TotpLastStep.lt(step)),
                    )
                    .exec(w.db())
                    .await?;
                Ok(result.rows_affected == 1)
            })
        })
        .await
    }
}

/// Inserts an invitation in the transaction `tx`.
async fn insert_invite(
    tx: &impl ConnectionTrait,
    account_id: &AccountId,
    email: &str,
    grant: &Grant,
    actor: &Actor,
) -> Result<NewInvite> {
    let cred = credential::generate(CredentialKind::Invite);
    let now = now_micros();
    // The unique index on `email` decides, also between concurrent invites.
    let m = member::ActiveModel {
        id: Set(MemberId::generate().into_string()),
        account_id: Set(account_id.as_str().to_owned()),
        email: Set(email.to_owned()),
        display_name: Set(String::new()),
        role: Set(grant.role.as_str().to_owned()),
        environment_ids: Set(grant.environments.to_stored()),
        state: Set(STATE_INVITED.to_owned()),
        password_hash: Set(None),
        totp_secret: Set(None),
        totp_pending: Set(None),
        totp_last_step: Set(None),
        invite_hash: Set(Some(cred.hash.to_hex())),
        invite_expire_time: Set(Some(now + INVITE_TTL_MICROS)),
        create_time: Set(now),
        update_time: Set(now),
        last_sign_in_time: Set(None),
        ..Default::default()
    }
    .insert(tx)
    .await
    .map_err(|e| match Error::from(e) {
        Error::AlreadyExists(_) => Error::AlreadyExists("member with this email"),
        other => other,
    })?;
    let subject = Subject::account(account_id, &m.id);
    let details = [("email", m.email.clone()), ("role", m.role.clone())];
    audit::record_with(tx, actor, EventType::MemberInvited, subject, &details).await?;
    Ok(NewInvite {
        member: m.into(),
        token: cred.plaintext,
    })
}

/// The audit actor of a member acting outside an authenticated call
/// (accepting an invitation).
fn member_actor(m: &member::Model, peer: &str) -> Actor {
    Actor {
        actor: m.id.clone(),
        request_id: crate::domain::ids::new_request_id(),
        peer: peer.to_owned(),
        email: Some(m.email.clone()),
    }
}

impl AccountStore<'_> {
    /// NOT_FOUND unless every id is one of the account's environments in
    /// the caller's scope.
    pub async fn check_environments(&self, environments: &Environments) -> Result<()> {
        let Environments::Only(ids) = environments else {
            return Ok(());
        };
        let found = self
            .select::<environment::Entity>()
            .filter(environment::Column::Id.is_in(ids.iter().map(String::as_str)))
            .count(&self.store.read)
            .await?;
        if found as usize != ids.len() {
            return Err(Error::NotFound("environment"));
        }
        Ok(())
    }

    /// Invites `email` (normalised) with `grant`. ALREADY_EXISTS if the
    /// email belongs to a member on this server.
    pub async fn invite_member(
        &self,
        email: &str,
        grant: &Grant,
        actor: &Actor,
    ) -> Result<NewInvite> {
        self.store
            .write(Op::InviteMember, |w| {
                Box::pin(insert_invite(w.db(), self.id(), email, grant, actor))
            })
            .await
    }

    /// One page of the account's members, oldest first.
    pub async fn list_members(&self, page: &PageRequest) -> Result<Page<Member>> {
        let query = self.select::<member::Entity>();
        fetch_records(&self.store.read, query, member::Column::Seq, page).await
    }

    /// One of the account's members, or NOT_FOUND.
    pub async fn member(&self, id: &MemberId) -> Result<Member> {
        Ok(self.member_in(&self.store.read, id).await?.into())
    }

    async fn member_in(&self, db: &impl ConnectionTrait, id: &MemberId) -> Result<member::Model> {
        self.select::<member::Entity>()
            .filter(member::Column::Id.eq(id.as_str()))
            .one(db)
            .await?
            .ok_or(Error::NotFound("member"))
    }

    /// FAILED_PRECONDITION if `m` is the account's last active owner. The
    /// owners' rows stay locked until the transaction ends (PostgreSQL `FOR
    /// UPDATE`; SQLite has one writer), so two concurrent demotions of the
    /// last two owners cannot both pass.
    async fn not_last_owner(&self, db: &impl ConnectionTrait, m: &member::Model) -> Result<()> {
        if m.role != Role::Owner.as_str() || m.state != STATE_ACTIVE {
            return Ok(());
        }
        let owners = self
            .select::<member::Entity>()
            .filter(member::Column::Role.eq(Role::Owner.as_str()))
            .filter(member::Column::State.eq(STATE_ACTIVE))
            .lock_exclusive()
            .all(db)
            .await?
            .len();
        if owners <= 1 {
            return Err(Error::FailedPrecondition(
                "the last active owner can be neither removed nor demoted".into(),
            ));
        }
        Ok(())
    }

    /// Changes a member's role and/or scope. `caller` must be allowed to
    /// manage the member as it is and to grant what it becomes. Its live
    /// sessions follow on every replica once the result is finished.
    pub async fn update_member(
        &self,
        id: &MemberId,
        role: Option<Role>,
        environments: Option<Environments>,
        caller: &Grant,
        actor: &Actor,
    ) -> Result<Revoked<Member>> {
        let environments = &environments;
        self.store
            .write_revoking(Op::UpdateMember, |w| {
                Box::pin(async move {
                    let (tx, pending) = w.parts();
                    let m = self.member_in(tx, id).await?;
                    let current = m.grant();
                    caller.may_manage(&current)?;
                    let next = Grant {
                        role: role.unwrap_or(current.role),
                        environments: environments
                            .clone()
                            .unwrap_or_else(|| current.environments.clone()),
                    };
                    caller.may_grant(next.role, &next.environments)?;
                    if next.role < Role::Owner {
                        self.not_last_owner(tx, &m).await?;
                    }
                    let m = if next == current {
                        m
                    } else {
                        let mut active: member::ActiveModel = m.into();
                        active.role = Set(next.role.as_str().to_owned());
                        active.environment_ids = Set(next.environments.to_stored());
                        active.update_time = Set(now_micros());
                        let m = active.update(tx).await?;
                        refresh_sessions(tx, &m.id, pending).await?;
                        let subject = Subject::account(self.id(), &m.id);
                        let details = [
                            ("role", m.role.clone()),
                            ("environment_ids", next.environments.to_vec().join(",")),
                        ];
                        audit::record_with(tx, actor, EventType::MemberUpdated, subject, &details)
                            .await?;
                        m
                    };
                    Ok(Member::from(m))
                })
            })
            .await
    }

    /// Removes a member (or withdraws an invitation) and ends its sessions
    /// on every replica once the result is finished.
    pub async fn remove_member(
        &self,
        id: &MemberId,
        caller: &Grant,
        actor: &Actor,
    ) -> Result<Revoked<()>> {
        self.store
            .write_revoking(Op::RemoveMember, |w| {
                Box::pin(async move {
                    let (tx, pending) = w.parts();
                    let m = self.member_in(tx, id).await?;
                    caller.may_manage(&m.grant())?;
                    self.not_last_owner(tx, &m).await?;
                    end_sessions(tx, &m.id, None, pending).await?;
                    member::Entity::delete_many()
                        .filter(member::Column::Id.eq(m.id.as_str()))
                        .exec(tx)
                        .await?;
                    let subject = Subject::account(self.id(), &m.id);
                    let details = [("email", m.email.clone())];
                    audit::record_with(tx, actor, EventType::MemberRemoved, subject, &details)
                        .await?;
                    Ok(())
                })
            })
            .await
    }

    /// Ends one session (sign-out) on every replica once finished.
    pub async fn end_session(&self, session_id: &str) -> Result<Revoked<()>> {
        self.store
            .write_revoking(Op::EndSession, |w| {
                Box::pin(async move {
                    let (tx, pending) = w.parts();
                    let rows = session::Entity::find()
                        .filter(session::Column::Id.eq(session_id))
                        .filter(session::Column::AccountId.eq(self.id().as_str()))
                        .all(tx)
                        .await?;
                    for row in &rows {
                        pending
                            .dead
                            .push(DeadCredential::stored(&row.id, &row.token_hash)?);
                    }
                    session::Entity::delete_many()
                        .filter(session::Column::Id.eq(session_id))
                        .filter(session::Column::AccountId.eq(self.id().as_str()))
                        .exec(tx)
                        .await?;
                    Ok(())
                })
            })
            .await
    }

    /// Stores a TOTP secret being enrolled (sealed), replacing any other.
    pub async fn set_totp_pending(&self, id: &MemberId, sealed: Vec<u8>) -> Result<()> {
        let sealed = &sealed;
        self.store
            .write(Op::SetTotpPending, |w| {
                Box::pin(async move {
                    let changed = member::Entity::update_many()
                        .col_expr(
                            member::Column::TotpPending,
                            Expr::value(Some(sealed.clone())),
                        )
                        .filter(member::Column::Id.eq(id.as_str()))
                        .filter(member::Column::AccountId.eq(self.id().as_str()))
                        .exec(w.db())
                        .await?;
                    if changed.rows_affected == 0 {
                        return Err(Error::NotFound("member"));
                    }
                    Ok(())
                })
            })
            .await
    }

    /// Turns TOTP on: the pending secret becomes the secret, `step` is the
    /// last used. FAILED_PRECONDITION if the pending secret changed since
    /// it was read (`expected`). The member's sessions are re-read (they
    /// show whether TOTP is on).
    pub async fn confirm_totp(
        &self,
        id: &MemberId,
        expected: &[u8],
        step: i64,
        actor: &Actor,
    ) -> Result<Revoked<Member>> {
        self.store
            .write_revoking(Op::ConfirmTotp, |w| {
                Box::pin(async move {
                    let (tx, pending) = w.parts();
                    let m = self.member_in(tx, id).await?;
                    if m.totp_pending.as_deref() != Some(expected) {
                        return Err(Error::FailedPrecondition(
                            "the enrolment changed; call EnrollTotp again".into(),
                        ));
                    }
                    let mut active: member::ActiveModel = m.into();
                    active.totp_secret = Set(Some(expected.to_vec()));
                    active.totp_pending = Set(None);
                    active.totp_last_step = Set(Some(step));
                    active.update_time = Set(now_micros());
                    let m = active.update(tx).await?;
                    let subject = Subject::account(self.id(), &m.id);
                    audit::record(tx, actor, EventType::MemberTotpEnabled, subject).await?;
                    refresh_sessions(tx, &m.id, pending).await?;
                    Ok(Member::from(m))
                })
            })
            .await
    }

    /// Sets a new password hash and ends every session of the member but
    /// `keep` (the caller's), on every replica once finished.
    pub async fn change_password(
        &self,
        id: &MemberId,
        password_hash: String,
        keep: &str,
        actor: &Actor,
    ) -> Result<Revoked<()>> {
        let password_hash = &password_hash;
        self.store
            .write_revoking(Op::ChangePassword, |w| {
                Box::pin(async move {
                    let (tx, pending) = w.parts();
                    let m = self.member_in(tx, id).await?;
                    let mut active: member::ActiveModel = m.into();
                    active.password_hash = Set(Some(password_hash.clone()));
                    active.update_time = Set(now_micros());
                    let m = active.update(tx).await?;
                    end_sessions(tx, &m.id, Some(keep), pending).await?;
                    let subject = Subject::account(self.id(), &m.id);
                    audit::record(tx, actor, EventType::MemberPasswordChanged, subject).await?;
                    Ok(())
                })
            })
            .await
    }
}
