//! Accounts on SQLite: writes through the single writer connection, so
//! read-then-write sequences inside one transaction cannot interleave.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};
use uuid::Uuid;

use super::{AccountStore, AccountStoreError, StoredLoginSession};
use crate::domain::{
    ApiToken, Attempt, DisplayName, Role, Throttle, ThrottlePolicy, TokenName, User, Username,
};
use crate::store::SqliteStore;
use crate::store::sqlite::{bad_column, micros, text, time};

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
fn user(row: &Row<'_>) -> rusqlite::Result<User> {
    let invalid = |column: usize, what: &str, value: &str| {
        bad_column(column, format!("stored {what} {value:?} is not valid"))
    };
    let username = text(row, 1)?.unwrap_or_default();
    let display_name = text(row, 2)?.unwrap_or_default();
    let role = text(row, 3)?.unwrap_or_default();
    Ok(User {
        id: row.get(0)?,
        username: Username::parse(username).map_err(|_| invalid(1, "username", username))?,
        display_name: DisplayName::parse(display_name)
            .map_err(|_| invalid(2, "display name", display_name))?,
        role: Role::parse(role).ok_or_else(|| invalid(3, "role", role))?,
        created_at: time(row.get(4)?),
        disabled_at: row.get::<_, Option<i64>>(5)?.map(time),
    })
}

/// A row of `TOKEN_COLUMNS`.
fn token(row: &Row<'_>) -> rusqlite::Result<ApiToken> {
    let username = text(row, 2)?.unwrap_or_default();
    let name = text(row, 3)?.unwrap_or_default();
    Ok(ApiToken {
        id: row.get(0)?,
        user_id: row.get(1)?,
        username: Username::parse(username)
            .map_err(|_| bad_column(2, format!("stored username {username:?} is not valid")))?,
        name: TokenName::parse(name)
            .map_err(|_| bad_column(3, format!("stored token name {name:?} is not valid")))?,
        created_at: time(row.get(4)?),
        revoked_at: row.get::<_, Option<i64>>(5)?.map(time),
    })
}

const THROTTLE: &str =
    "select failures, lockouts, last_failure_at, locked_until from login_throttle where key = ?";

fn throttle(row: &Row<'_>) -> rusqlite::Result<Throttle> {
    Ok(Throttle {
        failures: row.get::<_, i64>(0)?.try_into().unwrap_or(u32::MAX),
        lockouts: row.get::<_, i64>(1)?.try_into().unwrap_or(u32::MAX),
        last_failure_at: time(row.get(2)?),
        locked_until: row.get::<_, Option<i64>>(3)?.map(time),
    })
}

fn insert_user(
    conn: &Connection,
    user: &User,
    password_hash: &str,
) -> Result<(), AccountStoreError> {
    let inserted = conn
        .prepare_cached(
            "insert into users (id, username, display_name, password_hash, role, created_at, \
             disabled_at) values (?, ?, ?, ?, ?, ?, ?)",
        )?
        .execute(params![
            user.id,
            user.username.as_str(),
            user.display_name.as_str(),
            password_hash,
            user.role.as_str(),
            micros(user.created_at),
            user.disabled_at.map(micros),
        ]);
    match inserted {
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE =>
        {
            Err(AccountStoreError::UsernameTaken)
        }
        other => other.map(|_| ()).map_err(Into::into),
    }
}

/// Runs one statement on the writer; the rows it changed. (`Copy`: a write
/// that met another process's lock runs again.)
async fn write(
    store: &SqliteStore,
    sql: &str,
    params: impl rusqlite::Params + Send + Copy,
) -> Result<usize, AccountStoreError> {
    store
        .db
        .write(|conn| Ok(conn.prepare_cached(sql)?.execute(params)?))
        .await
}

#[async_trait]
impl AccountStore for SqliteStore {
    async fn insert_user(&self, user: &User, password_hash: &str) -> Result<(), AccountStoreError> {
        self.db
            .write(|conn| insert_user(conn, user, password_hash))
            .await
    }

    async fn user_by_username(
        &self,
        username: &Username,
    ) -> Result<Option<User>, AccountStoreError> {
        self.db
            .quick_read(|conn| {
                let sql = concat!("select ", user_columns!(), " from users where username = ?");
                Ok(conn
                    .prepare_cached(sql)?
                    .query_row([username.as_str()], user)
                    .optional()?)
            })
            .await
    }

    async fn user_with_password_hash(
        &self,
        username: &Username,
    ) -> Result<Option<(User, String)>, AccountStoreError> {
        self.db
            .quick_read(|conn| {
                let sql = concat!(
                    "select ",
                    user_columns!(),
                    ", password_hash from users where username = ?"
                );
                Ok(conn
                    .prepare_cached(sql)?
                    .query_row([username.as_str()], |row| Ok((user(row)?, row.get(6)?)))
                    .optional()?)
            })
            .await
    }

    async fn users(&self) -> Result<Vec<User>, AccountStoreError> {
        self.db
            .read(|conn| {
                let sql = concat!("select ", user_columns!(), " from users order by username");
                Ok(conn
                    .prepare_cached(sql)?
                    .query_map([], user)?
                    .collect::<Result<Vec<_>, _>>()?)
            })
            .await
    }

    async fn has_users(&self) -> Result<bool, AccountStoreError> {
        self.db
            .quick_read(|conn| {
                Ok(conn.query_row("select exists (select 1 from users)", [], |r| r.get(0))?)
            })
            .await
    }

    async fn set_password_hash(
        &self,
        user_id: Uuid,
        hash: &str,
    ) -> Result<bool, AccountStoreError> {
        self.db
            .write(|conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let changed = tx
                    .prepare_cached("update users set password_hash = ? where id = ?")?
                    .execute(params![hash, user_id])?;
                tx.prepare_cached("delete from login_sessions where user_id = ?")?
                    .execute([user_id])?;
                tx.commit()?;
                Ok(changed == 1)
            })
            .await
    }

    async fn disable_user(
        &self,
        user_id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<bool, AccountStoreError> {
        self.db
            .write(|conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let changed = tx
                    .prepare_cached(
                        "update users set disabled_at = ? where id = ? and disabled_at is null",
                    )?
                    .execute(params![micros(at), user_id])?;
                tx.prepare_cached("delete from login_sessions where user_id = ?")?
                    .execute([user_id])?;
                tx.commit()?;
                Ok(changed == 1)
            })
            .await
    }

    async fn enable_user(&self, user_id: Uuid) -> Result<bool, AccountStoreError> {
        let changed = write(
            self,
            "update users set disabled_at = null where id = ? and disabled_at is not null",
            (user_id,),
        )
        .await?;
        Ok(changed == 1)
    }

    async fn set_role(&self, user_id: Uuid, role: Role) -> Result<bool, AccountStoreError> {
        let changed = write(
            self,
            "update users set role = ?1 where id = ?2 and role <> ?1",
            (role.as_str(), user_id),
        )
        .await?;
        Ok(changed == 1)
    }

    async fn insert_setup_token(
        &self,
        token_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<(), AccountStoreError> {
        write(
            self,
            "insert into setup_tokens (token_hash, created_at) values (?, ?)",
            (token_hash, micros(at)),
        )
        .await?;
        Ok(())
    }

    async fn setup_token_live(
        &self,
        token_hash: &str,
        issued_after: DateTime<Utc>,
    ) -> Result<bool, AccountStoreError> {
        let (token_hash, issued_after) = (token_hash.to_owned(), micros(issued_after));
        self.db
            .quick_read(move |conn| {
                Ok(conn
                    .prepare_cached(
                        "select exists (select 1 from setup_tokens \
                         where token_hash = ? and created_at > ?)",
                    )?
                    .query_row(params![token_hash, issued_after], |row| row.get(0))?)
            })
            .await
    }

    async fn complete_setup(
        &self,
        token_hash: &str,
        issued_after: DateTime<Utc>,
        admin: &User,
        password_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, AccountStoreError> {
        self.db
            .write(|conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                // The same steps in the same order as on PostgreSQL (see
                // there why the claim comes first); each refuses unless this
                // caller is first, and a refusal rolls back everything
                // before it (dropping `tx` does).
                let marked = tx
                    .prepare_cached(
                        "insert into setup_completed (id, at) select 1, ? \
                         where not exists (select 1 from users) on conflict do nothing",
                    )?
                    .execute([micros(at)])?;
                if marked != 1 {
                    return Ok(false);
                }
                let consumed = tx
                    .prepare_cached(
                        "delete from setup_tokens where token_hash = ? and created_at > ?",
                    )?
                    .execute(params![token_hash, micros(issued_after)])?;
                if consumed != 1 {
                    return Ok(false);
                }
                insert_user(&tx, admin, password_hash)?;
                tx.execute("delete from setup_tokens", [])?;
                tx.commit()?;
                Ok(true)
            })
            .await
    }

    async fn insert_login_session(
        &self,
        session: &StoredLoginSession,
    ) -> Result<(), AccountStoreError> {
        write(
            self,
            "insert into login_sessions (id_hash, user_id, csrf_token, created_at, \
             last_seen_at, expires_at) values (?, ?, ?, ?, ?, ?)",
            (
                &session.id_hash,
                session.user_id,
                &session.csrf_token,
                micros(session.created_at),
                micros(session.last_seen_at),
                micros(session.expires_at),
            ),
        )
        .await?;
        Ok(())
    }

    async fn login_session(
        &self,
        id_hash: &str,
    ) -> Result<Option<(StoredLoginSession, User)>, AccountStoreError> {
        self.db
            .quick_read(|conn| {
                let sql = concat!(
                    "select ",
                    user_columns!(),
                    ", s.id_hash, s.csrf_token, s.created_at, \
                     s.last_seen_at, s.expires_at \
                     from login_sessions s join users on users.id = s.user_id \
                     where s.id_hash = ?"
                );
                let found = conn
                    .prepare_cached(sql)?
                    .query_row([id_hash], |row| {
                        let user = user(row)?;
                        let session = StoredLoginSession {
                            id_hash: row.get(6)?,
                            user_id: user.id,
                            csrf_token: row.get(7)?,
                            created_at: time(row.get(8)?),
                            last_seen_at: time(row.get(9)?),
                            expires_at: time(row.get(10)?),
                        };
                        Ok((session, user))
                    })
                    .optional()?;
                Ok(found)
            })
            .await
    }

    async fn touch_login_session(
        &self,
        id_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<(), AccountStoreError> {
        write(
            self,
            "update login_sessions set last_seen_at = ? where id_hash = ?",
            (micros(at), id_hash),
        )
        .await?;
        Ok(())
    }

    async fn delete_login_session(&self, id_hash: &str) -> Result<(), AccountStoreError> {
        write(
            self,
            "delete from login_sessions where id_hash = ?",
            [id_hash],
        )
        .await?;
        Ok(())
    }

    async fn delete_expired_login_sessions(
        &self,
        idle_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64, AccountStoreError> {
        let deleted = write(
            self,
            "delete from login_sessions where last_seen_at < ? or expires_at <= ?",
            [micros(idle_before), micros(now)],
        )
        .await?;
        Ok(deleted as u64)
    }

    async fn insert_api_token(
        &self,
        token: &ApiToken,
        token_hash: &str,
    ) -> Result<(), AccountStoreError> {
        write(
            self,
            "insert into api_tokens (id, user_id, name, token_hash, created_at, revoked_at) \
             values (?, ?, ?, ?, ?, ?)",
            (
                token.id,
                token.user_id,
                token.name.as_str(),
                token_hash,
                micros(token.created_at),
                token.revoked_at.map(micros),
            ),
        )
        .await?;
        Ok(())
    }

    async fn api_tokens(&self, user_id: Option<Uuid>) -> Result<Vec<ApiToken>, AccountStoreError> {
        self.db
            .read(move |conn| {
                Ok(conn
                    .prepare_cached(
                        "select t.id, t.user_id, users.username, t.name, t.created_at, \
                         t.revoked_at from api_tokens t join users on users.id = t.user_id \
                         where ?1 is null or t.user_id = ?1 \
                         order by t.created_at desc, t.id desc",
                    )?
                    .query_map([user_id], token)?
                    .collect::<Result<Vec<_>, _>>()?)
            })
            .await
    }

    async fn revoke_api_token(
        &self,
        id: Uuid,
        user_id: Option<Uuid>,
        at: DateTime<Utc>,
    ) -> Result<bool, AccountStoreError> {
        let changed = write(
            self,
            "update api_tokens set revoked_at = ?1 \
             where id = ?2 and revoked_at is null and (?3 is null or user_id = ?3)",
            (micros(at), id, user_id),
        )
        .await?;
        Ok(changed == 1)
    }

    async fn set_display_name(
        &self,
        user_id: Uuid,
        display_name: &str,
    ) -> Result<bool, AccountStoreError> {
        let changed = write(
            self,
            "update users set display_name = ? where id = ?",
            (display_name, user_id),
        )
        .await?;
        Ok(changed == 1)
    }

    async fn put_flash(
        &self,
        session_id_hash: &str,
        text: &str,
        at: DateTime<Utc>,
    ) -> Result<(), AccountStoreError> {
        write(
            self,
            "insert into login_flashes (session_id_hash, text, created_at) values (?1, ?2, ?3) \
             on conflict (session_id_hash) do update set text = ?2, created_at = ?3",
            (session_id_hash, text, micros(at)),
        )
        .await?;
        Ok(())
    }

    async fn take_flash(&self, session_id_hash: &str) -> Result<Option<String>, AccountStoreError> {
        self.db
            .write(|conn| {
                Ok(conn
                    .prepare_cached(
                        "delete from login_flashes where session_id_hash = ? returning text",
                    )?
                    .query_row([session_id_hash], |row| row.get::<_, String>(0))
                    .optional()?)
            })
            .await
    }

    async fn user_by_api_token(&self, token_hash: &str) -> Result<Option<User>, AccountStoreError> {
        self.db
            .quick_read(|conn| {
                let sql = concat!(
                    "select ",
                    user_columns!(),
                    " from api_tokens t join users on users.id = t.user_id \
                     where t.token_hash = ? and t.revoked_at is null \
                     and users.disabled_at is null"
                );
                Ok(conn
                    .prepare_cached(sql)?
                    .query_row([token_hash], user)
                    .optional()?)
            })
            .await
    }

    async fn throttle(&self, key: &str) -> Result<Option<Throttle>, AccountStoreError> {
        self.db
            .quick_read(|conn| {
                Ok(conn
                    .prepare_cached(THROTTLE)?
                    .query_row([key], throttle)
                    .optional()?)
            })
            .await
    }

    async fn record_attempt(
        &self,
        key: &str,
        policy: &ThrottlePolicy,
        at: DateTime<Utc>,
    ) -> Result<Attempt, AccountStoreError> {
        self.db
            .write(|conn| {
                // Immediate: the write lock is taken before the read, so no
                // other attempt (in any process) decides on the same count.
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let current = tx
                    .prepare_cached(THROTTLE)?
                    .query_row([key], throttle)
                    .optional()?;
                let attempt = policy.attempt(current.as_ref(), at);
                if let Attempt::Counted(next) = attempt {
                    tx.prepare_cached(
                        "insert into login_throttle (key, failures, lockouts, last_failure_at, \
                         locked_until) values (?1, ?2, ?3, ?4, ?5) on conflict (key) do update \
                         set failures = ?2, lockouts = ?3, last_failure_at = ?4, locked_until = ?5",
                    )?
                    .execute(params![
                        key,
                        i64::from(next.failures),
                        i64::from(next.lockouts),
                        micros(next.last_failure_at),
                        next.locked_until.map(micros),
                    ])?;
                    tx.commit()?;
                }
                Ok(attempt)
            })
            .await
    }

    async fn forgive_attempt(&self, key: &str) -> Result<(), AccountStoreError> {
        write(
            self,
            "update login_throttle set failures = failures - 1 where key = ? and failures > 0",
            [key],
        )
        .await?;
        Ok(())
    }

    async fn clear_throttle(&self, key: &str) -> Result<(), AccountStoreError> {
        write(self, "delete from login_throttle where key = ?", [key]).await?;
        Ok(())
    }

    async fn delete_stale_throttles(
        &self,
        before: DateTime<Utc>,
    ) -> Result<u64, AccountStoreError> {
        let deleted = write(
            self,
            "delete from login_throttle where last_failure_at < ?1 \
             and (locked_until is null or locked_until < ?1)",
            [micros(before)],
        )
        .await?;
        Ok(deleted as u64)
    }
}
