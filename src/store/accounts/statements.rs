//! The account store, written once for both engines (see `store::engine`):
//! every statement, row shape and rule here runs on SQLite and PostgreSQL
//! alike.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{AccountStore, AccountStoreError, StoredLoginSession};
use crate::domain::{
    ApiToken, Attempt, DisplayName, Role, Throttle, ThrottlePolicy, TokenName, User, Username,
};
use crate::store::StoreError;
use crate::store::engine::{Columns, Engine, Statement, TxStep, corrupt, statement};

/// A macro rather than a constant so that each statement is one literal
/// (`concat!`), not text formatted again on every sign-in check.
macro_rules! user_columns {
    () => {
        "users.id, users.username, users.display_name, users.role, users.created_at, \
         users.disabled_at"
    };
}

/// The `user_columns!()` of a row, columns 0 to 5. The CHECK constraints
/// guarantee the values parse, so a failure means a hand-edited database.
fn user(row: &dyn Columns) -> Result<User, StoreError> {
    let username = row.text(1)?;
    let display_name = row.text(2)?;
    let role = row.text(3)?;
    Ok(User {
        id: row.id(0)?,
        username: Username::parse(&username).map_err(|_| corrupt("username", &username))?,
        display_name: DisplayName::parse(&display_name)
            .map_err(|_| corrupt("display name", &display_name))?,
        role: Role::parse(&role).ok_or_else(|| corrupt("role", &role))?,
        created_at: row.time(4)?,
        disabled_at: row.optional_time(5)?,
    })
}

fn token(row: &dyn Columns) -> Result<ApiToken, StoreError> {
    let username = row.text(2)?;
    let name = row.text(3)?;
    Ok(ApiToken {
        id: row.id(0)?,
        user_id: row.id(1)?,
        username: Username::parse(&username).map_err(|_| corrupt("username", &username))?,
        name: TokenName::parse(&name).map_err(|_| corrupt("token name", &name))?,
        created_at: row.time(4)?,
        revoked_at: row.optional_time(5)?,
    })
}

const THROTTLE: &str =
    "select failures, lockouts, last_failure_at, locked_until from login_throttle where key = ?1";

fn throttle(row: &dyn Columns) -> Result<Throttle, StoreError> {
    let count =
        |column| -> Result<u32, StoreError> { Ok(row.int(column)?.try_into().unwrap_or(u32::MAX)) };
    Ok(Throttle {
        failures: count(0)?,
        lockouts: count(1)?,
        last_failure_at: row.time(2)?,
        locked_until: row.optional_time(3)?,
    })
}

fn flag(row: &dyn Columns) -> Result<bool, StoreError> {
    row.flag(0)
}

fn text(row: &dyn Columns) -> Result<String, StoreError> {
    row.text(0)
}

fn insert_user<'a>(user: &'a User, password_hash: &'a str) -> Statement<'a> {
    statement!(
        "insert into users (id, username, display_name, password_hash, role, created_at, \
         disabled_at) values (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        user.id,
        user.username.as_str(),
        user.display_name.as_str(),
        password_hash,
        user.role.as_str(),
        user.created_at,
        user.disabled_at,
    )
}

/// A username taken says so; anything else is the store's failure.
fn taken(error: StoreError) -> AccountStoreError {
    match error {
        StoreError::Duplicate => AccountStoreError::UsernameTaken,
        other => other.into(),
    }
}

fn end_login_sessions(user_id: Uuid) -> TxStep<'static> {
    TxStep::any(statement!(
        "delete from login_sessions where user_id = ?1",
        user_id
    ))
}

#[async_trait]
impl<E: Engine> AccountStore for E {
    async fn insert_user(&self, user: &User, password_hash: &str) -> Result<(), AccountStoreError> {
        self.execute(insert_user(user, password_hash))
            .await
            .map_err(taken)?;
        Ok(())
    }

    async fn user_by_username(
        &self,
        username: &Username,
    ) -> Result<Option<User>, AccountStoreError> {
        let sql = concat!(
            "select ",
            user_columns!(),
            " from users where username = ?1"
        );
        Ok(self
            .lookup(statement!(sql, username.as_str()), user)
            .await?)
    }

    async fn user_with_password_hash(
        &self,
        username: &Username,
    ) -> Result<Option<(User, String)>, AccountStoreError> {
        let sql = concat!(
            "select ",
            user_columns!(),
            ", password_hash from users where username = ?1"
        );
        let with_hash = |row: &dyn Columns| Ok((user(row)?, row.text(6)?));
        Ok(self
            .lookup(statement!(sql, username.as_str()), with_hash)
            .await?)
    }

    async fn users(&self) -> Result<Vec<User>, AccountStoreError> {
        let sql = concat!("select ", user_columns!(), " from users order by username");
        Ok(self.fetch_all(statement!(sql), user).await?)
    }

    async fn has_users(&self) -> Result<bool, AccountStoreError> {
        let sql = "select exists (select 1 from users)";
        Ok(self.lookup(statement!(sql), flag).await?.unwrap_or(false))
    }

    async fn set_password_hash(
        &self,
        user_id: Uuid,
        hash: &str,
    ) -> Result<bool, AccountStoreError> {
        let steps = [
            TxStep::one_row(statement!(
                "update users set password_hash = ?1 where id = ?2",
                hash,
                user_id
            )),
            end_login_sessions(user_id),
        ];
        Ok(self.transaction(&steps).await?)
    }

    async fn disable_user(
        &self,
        user_id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<bool, AccountStoreError> {
        let steps = [
            TxStep::one_row(statement!(
                "update users set disabled_at = ?1 where id = ?2 and disabled_at is null",
                at,
                user_id
            )),
            end_login_sessions(user_id),
        ];
        Ok(self.transaction(&steps).await?)
    }

    async fn enable_user(&self, user_id: Uuid) -> Result<bool, AccountStoreError> {
        let sql = "update users set disabled_at = null where id = ?1 and disabled_at is not null";
        Ok(self.execute(statement!(sql, user_id)).await? == 1)
    }

    async fn set_role(&self, user_id: Uuid, role: Role) -> Result<bool, AccountStoreError> {
        let sql = "update users set role = ?1 where id = ?2 and role <> ?1";
        Ok(self
            .execute(statement!(sql, role.as_str(), user_id))
            .await?
            == 1)
    }

    async fn insert_setup_token(
        &self,
        token_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<(), AccountStoreError> {
        let sql = "insert into setup_tokens (token_hash, created_at) values (?1, ?2)";
        self.execute(statement!(sql, token_hash, at)).await?;
        Ok(())
    }

    async fn setup_token_live(
        &self,
        token_hash: &str,
        issued_after: DateTime<Utc>,
    ) -> Result<bool, AccountStoreError> {
        let sql = "select exists (select 1 from setup_tokens \
                   where token_hash = ?1 and created_at > ?2)";
        let live = self
            .lookup(statement!(sql, token_hash, issued_after), flag)
            .await?;
        Ok(live.unwrap_or(false))
    }

    async fn complete_setup(
        &self,
        token_hash: &str,
        issued_after: DateTime<Utc>,
        admin: &User,
        password_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, AccountStoreError> {
        // Claiming the single setup_completed row first queues every racer
        // behind the winner before any of them locks a token row: taking
        // the token first let two racers with different tokens deadlock on
        // PostgreSQL (each waiting for the other's row). Each step refuses
        // unless this caller is first, and a refusal undoes everything.
        let steps = [
            TxStep::one_row(statement!(
                "insert into setup_completed (id, at) select 1, ?1 \
                 where not exists (select 1 from users) on conflict do nothing",
                at
            )),
            TxStep::one_row(statement!(
                "delete from setup_tokens where token_hash = ?1 and created_at > ?2",
                token_hash,
                issued_after
            )),
            TxStep::one_row(insert_user(admin, password_hash)),
            TxStep::any(statement!("delete from setup_tokens")),
        ];
        self.transaction(&steps).await.map_err(taken)
    }

    async fn insert_login_session(
        &self,
        session: &StoredLoginSession,
    ) -> Result<(), AccountStoreError> {
        self.execute(statement!(
            "insert into login_sessions (id_hash, user_id, csrf_token, created_at, \
             last_seen_at, expires_at) values (?1, ?2, ?3, ?4, ?5, ?6)",
            session.id_hash.as_str(),
            session.user_id,
            session.csrf_token.as_str(),
            session.created_at,
            session.last_seen_at,
            session.expires_at,
        ))
        .await?;
        Ok(())
    }

    async fn login_session(
        &self,
        id_hash: &str,
    ) -> Result<Option<(StoredLoginSession, User)>, AccountStoreError> {
        let sql = concat!(
            "select ",
            user_columns!(),
            ", s.id_hash, s.csrf_token, s.created_at, s.last_seen_at, s.expires_at \
             from login_sessions s join users on users.id = s.user_id where s.id_hash = ?1"
        );
        let session_and_user = |row: &dyn Columns| {
            let user = user(row)?;
            let session = StoredLoginSession {
                id_hash: row.text(6)?,
                user_id: user.id,
                csrf_token: row.text(7)?,
                created_at: row.time(8)?,
                last_seen_at: row.time(9)?,
                expires_at: row.time(10)?,
            };
            Ok((session, user))
        };
        Ok(self
            .lookup(statement!(sql, id_hash), session_and_user)
            .await?)
    }

    async fn touch_login_session(
        &self,
        id_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<(), AccountStoreError> {
        let sql = "update login_sessions set last_seen_at = ?1 where id_hash = ?2";
        self.execute(statement!(sql, at, id_hash)).await?;
        Ok(())
    }

    async fn delete_login_session(&self, id_hash: &str) -> Result<(), AccountStoreError> {
        let sql = "delete from login_sessions where id_hash = ?1";
        self.execute(statement!(sql, id_hash)).await?;
        Ok(())
    }

    async fn delete_expired_login_sessions(
        &self,
        idle_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64, AccountStoreError> {
        let sql = "delete from login_sessions where last_seen_at < ?1 or expires_at <= ?2";
        Ok(self.execute(statement!(sql, idle_before, now)).await?)
    }

    async fn insert_api_token(
        &self,
        token: &ApiToken,
        token_hash: &str,
    ) -> Result<(), AccountStoreError> {
        self.execute(statement!(
            "insert into api_tokens (id, user_id, name, token_hash, created_at, revoked_at) \
             values (?1, ?2, ?3, ?4, ?5, ?6)",
            token.id,
            token.user_id,
            token.name.as_str(),
            token_hash,
            token.created_at,
            token.revoked_at,
        ))
        .await?;
        Ok(())
    }

    async fn api_tokens(&self, user_id: Option<Uuid>) -> Result<Vec<ApiToken>, AccountStoreError> {
        let sql = "select t.id, t.user_id, users.username, t.name, t.created_at, t.revoked_at \
                   from api_tokens t join users on users.id = t.user_id \
                   where ?1 is null or t.user_id = ?1 order by t.created_at desc, t.id desc";
        Ok(self.fetch_all(statement!(sql, user_id), token).await?)
    }

    async fn revoke_api_token(
        &self,
        id: Uuid,
        user_id: Option<Uuid>,
        at: DateTime<Utc>,
    ) -> Result<bool, AccountStoreError> {
        let sql = "update api_tokens set revoked_at = ?1 \
                   where id = ?2 and revoked_at is null and (?3 is null or user_id = ?3)";
        Ok(self.execute(statement!(sql, at, id, user_id)).await? == 1)
    }

    async fn user_by_api_token(&self, token_hash: &str) -> Result<Option<User>, AccountStoreError> {
        let sql = concat!(
            "select ",
            user_columns!(),
            " from api_tokens t join users on users.id = t.user_id \
             where t.token_hash = ?1 and t.revoked_at is null and users.disabled_at is null"
        );
        Ok(self.lookup(statement!(sql, token_hash), user).await?)
    }

    async fn set_display_name(
        &self,
        user_id: Uuid,
        display_name: &str,
    ) -> Result<bool, AccountStoreError> {
        let sql = "update users set display_name = ?1 where id = ?2";
        Ok(self.execute(statement!(sql, display_name, user_id)).await? == 1)
    }

    async fn put_flash(
        &self,
        session_id_hash: &str,
        text: &str,
        at: DateTime<Utc>,
    ) -> Result<(), AccountStoreError> {
        let sql = "insert into login_flashes (session_id_hash, text, created_at) \
                   values (?1, ?2, ?3) \
                   on conflict (session_id_hash) do update set text = ?2, created_at = ?3";
        self.execute(statement!(sql, session_id_hash, text, at))
            .await?;
        Ok(())
    }

    async fn take_flash(&self, session_id_hash: &str) -> Result<Option<String>, AccountStoreError> {
        let sql = "delete from login_flashes where session_id_hash = ?1 returning text";
        Ok(self
            .execute_returning(statement!(sql, session_id_hash), text)
            .await?)
    }

    async fn throttle(&self, key: &str) -> Result<Option<Throttle>, AccountStoreError> {
        Ok(self.lookup(statement!(THROTTLE, key), throttle).await?)
    }

    async fn record_attempt(
        &self,
        key: &str,
        policy: &ThrottlePolicy,
        at: DateTime<Utc>,
    ) -> Result<Attempt, AccountStoreError> {
        // A fresh row (no failures, no lockout) counts like no row under the
        // policy; creating it first gives the engine a row to lock, so
        // concurrent attempts queue. Nothing is kept unless counted.
        let fresh = statement!(
            "insert into login_throttle (key, failures, lockouts, last_failure_at) \
             values (?1, 0, 0, ?2) on conflict (key) do nothing",
            key,
            at
        );
        // The counters are 4-byte integers on PostgreSQL.
        let count = |n: u32| n.min(i32::MAX as u32);
        let decide = |current: Option<Throttle>| {
            let attempt = policy.attempt(current.as_ref(), at);
            let write = match &attempt {
                Attempt::Counted(next) => Some(statement!(
                    "update login_throttle set failures = ?2, lockouts = ?3, \
                     last_failure_at = ?4, locked_until = ?5 where key = ?1",
                    key,
                    count(next.failures),
                    count(next.lockouts),
                    next.last_failure_at,
                    next.locked_until,
                )),
                _ => None,
            };
            (attempt, write)
        };
        Ok(self
            .read_then_write(fresh, statement!(THROTTLE, key), throttle, &decide)
            .await?)
    }

    async fn forgive_attempt(&self, key: &str) -> Result<(), AccountStoreError> {
        let sql =
            "update login_throttle set failures = failures - 1 where key = ?1 and failures > 0";
        self.execute(statement!(sql, key)).await?;
        Ok(())
    }

    async fn clear_throttle(&self, key: &str) -> Result<(), AccountStoreError> {
        let sql = "delete from login_throttle where key = ?1";
        self.execute(statement!(sql, key)).await?;
        Ok(())
    }

    async fn delete_stale_throttles(
        &self,
        before: DateTime<Utc>,
    ) -> Result<u64, AccountStoreError> {
        let sql = "delete from login_throttle where last_failure_at < ?1 \
                   and (locked_until is null or locked_until < ?1)";
        Ok(self.execute(statement!(sql, before)).await?)
    }
}
