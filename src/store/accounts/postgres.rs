//! Accounts on PostgreSQL. Read-then-write sequences lock their row first
//! (`on conflict do nothing`, then `for update`), so processes sharing the
//! database cannot interleave them.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{AccountStore, AccountStoreError, StoredLoginSession, corrupt, is_unique_violation};
use crate::domain::{
    ApiToken, Attempt, DisplayName, Role, Throttle, ThrottlePolicy, TokenName, User, Username,
};
use crate::store::PostgresStore;

const USER_COLUMNS: &str = "users.id, users.username, users.display_name, users.role, \
     users.created_at, users.disabled_at";

#[derive(sqlx::FromRow)]
struct UserRow {
    id: Uuid,
    username: String,
    display_name: String,
    role: String,
    created_at: DateTime<Utc>,
    disabled_at: Option<DateTime<Utc>>,
}

impl TryFrom<UserRow> for User {
    type Error = AccountStoreError;

    fn try_from(row: UserRow) -> Result<Self, Self::Error> {
        Ok(User {
            id: row.id,
            username: Username::parse(&row.username)
                .map_err(|_| corrupt("username", &row.username))?,
            display_name: DisplayName::parse(&row.display_name)
                .map_err(|_| corrupt("display name", &row.display_name))?,
            role: Role::parse(&row.role).ok_or_else(|| corrupt("role", &row.role))?,
            created_at: row.created_at,
            disabled_at: row.disabled_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    #[sqlx(flatten)]
    user: UserRow,
    id_hash: String,
    csrf_token: String,
    session_created_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    id: Uuid,
    user_id: Uuid,
    username: String,
    name: String,
    created_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
}

impl TryFrom<TokenRow> for ApiToken {
    type Error = AccountStoreError;

    fn try_from(row: TokenRow) -> Result<Self, Self::Error> {
        Ok(ApiToken {
            id: row.id,
            user_id: row.user_id,
            username: Username::parse(&row.username)
                .map_err(|_| corrupt("username", &row.username))?,
            name: TokenName::parse(&row.name).map_err(|_| corrupt("token name", &row.name))?,
            created_at: row.created_at,
            revoked_at: row.revoked_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct ThrottleRow {
    failures: i32,
    lockouts: i32,
    last_failure_at: DateTime<Utc>,
    locked_until: Option<DateTime<Utc>>,
}

impl From<ThrottleRow> for Throttle {
    fn from(row: ThrottleRow) -> Self {
        Throttle {
            failures: row.failures.try_into().unwrap_or(u32::MAX),
            lockouts: row.lockouts.try_into().unwrap_or(u32::MAX),
            last_failure_at: row.last_failure_at,
            locked_until: row.locked_until,
        }
    }
}

async fn insert_user(
    conn: &mut sqlx::PgConnection,
    user: &User,
    password_hash: &str,
) -> Result<(), AccountStoreError> {
    sqlx::query(
        "insert into users (id, username, display_name, password_hash, role, created_at, \
         disabled_at) values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(user.id)
    .bind(user.username.as_str())
    .bind(user.display_name.as_str())
    .bind(password_hash)
    .bind(user.role.as_str())
    .bind(user.created_at)
    .bind(user.disabled_at)
    .execute(conn)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            AccountStoreError::UsernameTaken
        } else {
            e.into()
        }
    })?;
    Ok(())
}

#[async_trait]
impl AccountStore for PostgresStore {
    async fn insert_user(&self, user: &User, password_hash: &str) -> Result<(), AccountStoreError> {
        insert_user(&mut *self.pool.acquire().await?, user, password_hash).await
    }

    async fn user_by_username(
        &self,
        username: &Username,
    ) -> Result<Option<User>, AccountStoreError> {
        let sql = format!("select {USER_COLUMNS} from users where username = $1");
        let row: Option<UserRow> = sqlx::query_as(&sql)
            .bind(username.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.map(User::try_from).transpose()
    }

    async fn user_with_password_hash(
        &self,
        username: &Username,
    ) -> Result<Option<(User, String)>, AccountStoreError> {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            user: UserRow,
            password_hash: String,
        }
        let sql = format!("select {USER_COLUMNS}, password_hash from users where username = $1");
        let row: Option<Row> = sqlx::query_as(&sql)
            .bind(username.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok((r.user.try_into()?, r.password_hash)))
            .transpose()
    }

    async fn users(&self) -> Result<Vec<User>, AccountStoreError> {
        let sql = format!("select {USER_COLUMNS} from users order by username");
        let rows: Vec<UserRow> = sqlx::query_as(&sql).fetch_all(&self.pool).await?;
        rows.into_iter().map(User::try_from).collect()
    }

    async fn has_users(&self) -> Result<bool, AccountStoreError> {
        Ok(sqlx::query_scalar("select exists (select 1 from users)")
            .fetch_one(&self.pool)
            .await?)
    }

    async fn set_password_hash(
        &self,
        user_id: Uuid,
        hash: &str,
    ) -> Result<bool, AccountStoreError> {
        let mut tx = self.pool.begin().await?;
        let changed = sqlx::query("update users set password_hash = $1 where id = $2")
            .bind(hash)
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("delete from login_sessions where user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(changed == 1)
    }

    async fn disable_user(
        &self,
        user_id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<bool, AccountStoreError> {
        let mut tx = self.pool.begin().await?;
        let changed =
            sqlx::query("update users set disabled_at = $1 where id = $2 and disabled_at is null")
                .bind(at)
                .bind(user_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        sqlx::query("delete from login_sessions where user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(changed == 1)
    }

    async fn enable_user(&self, user_id: Uuid) -> Result<bool, AccountStoreError> {
        let changed = sqlx::query(
            "update users set disabled_at = null where id = $1 and disabled_at is not null",
        )
        .bind(user_id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(changed == 1)
    }

    async fn set_role(&self, user_id: Uuid, role: Role) -> Result<bool, AccountStoreError> {
        let changed = sqlx::query("update users set role = $1 where id = $2 and role <> $1")
            .bind(role.as_str())
            .bind(user_id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(changed == 1)
    }

    async fn insert_setup_token(
        &self,
        token_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<(), AccountStoreError> {
        sqlx::query("insert into setup_tokens (token_hash, created_at) values ($1, $2)")
            .bind(token_hash)
            .bind(at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn setup_token_live(
        &self,
        token_hash: &str,
        issued_after: DateTime<Utc>,
    ) -> Result<bool, AccountStoreError> {
        Ok(sqlx::query_scalar(
            "select exists (select 1 from setup_tokens where token_hash = $1 and created_at > $2)",
        )
        .bind(token_hash)
        .bind(issued_after)
        .fetch_one(&self.pool)
        .await?)
    }

    async fn complete_setup(
        &self,
        token_hash: &str,
        issued_after: DateTime<Utc>,
        admin: &User,
        password_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, AccountStoreError> {
        let mut tx = self.pool.begin().await?;
        // Claiming the single setup_completed row first queues every racer
        // behind the winner before any of them locks a token row: taking
        // the token first let two racers with different tokens deadlock
        // (each waiting for the other's row). A refusal rolls back all.
        let marked = sqlx::query(
            "insert into setup_completed (id, at) select 1, $1 \
             where not exists (select 1 from users) on conflict do nothing",
        )
        .bind(at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if marked != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        let consumed =
            sqlx::query("delete from setup_tokens where token_hash = $1 and created_at > $2")
                .bind(token_hash)
                .bind(issued_after)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if consumed != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        insert_user(&mut tx, admin, password_hash).await?;
        sqlx::query("delete from setup_tokens")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn insert_login_session(
        &self,
        session: &StoredLoginSession,
    ) -> Result<(), AccountStoreError> {
        sqlx::query(
            "insert into login_sessions (id_hash, user_id, csrf_token, created_at, last_seen_at, \
             expires_at) values ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&session.id_hash)
        .bind(session.user_id)
        .bind(&session.csrf_token)
        .bind(session.created_at)
        .bind(session.last_seen_at)
        .bind(session.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn login_session(
        &self,
        id_hash: &str,
    ) -> Result<Option<(StoredLoginSession, User)>, AccountStoreError> {
        let sql = format!(
            "select {USER_COLUMNS}, s.id_hash, s.csrf_token, s.created_at as session_created_at, \
             s.last_seen_at, s.expires_at \
             from login_sessions s join users on users.id = s.user_id where s.id_hash = $1"
        );
        let row: Option<SessionRow> = sqlx::query_as(&sql)
            .bind(id_hash)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let session = StoredLoginSession {
            id_hash: row.id_hash,
            user_id: row.user.id,
            csrf_token: row.csrf_token,
            created_at: row.session_created_at,
            last_seen_at: row.last_seen_at,
            expires_at: row.expires_at,
        };
        Ok(Some((session, row.user.try_into()?)))
    }

    async fn touch_login_session(
        &self,
        id_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<(), AccountStoreError> {
        sqlx::query("update login_sessions set last_seen_at = $1 where id_hash = $2")
            .bind(at)
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn delete_login_session(&self, id_hash: &str) -> Result<(), AccountStoreError> {
        sqlx::query("delete from login_sessions where id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn delete_expired_login_sessions(
        &self,
        idle_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64, AccountStoreError> {
        Ok(
            sqlx::query("delete from login_sessions where last_seen_at < $1 or expires_at <= $2")
                .bind(idle_before)
                .bind(now)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }

    async fn insert_api_token(
        &self,
        token: &ApiToken,
        token_hash: &str,
    ) -> Result<(), AccountStoreError> {
        sqlx::query(
            "insert into api_tokens (id, user_id, name, token_hash, created_at, revoked_at) \
             values ($1, $2, $3, $4, $5, $6)",
        )
        .bind(token.id)
        .bind(token.user_id)
        .bind(token.name.as_str())
        .bind(token_hash)
        .bind(token.created_at)
        .bind(token.revoked_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn api_tokens(&self, user_id: Option<Uuid>) -> Result<Vec<ApiToken>, AccountStoreError> {
        let rows: Vec<TokenRow> = sqlx::query_as(
            "select t.id, t.user_id, users.username, t.name, t.created_at, t.revoked_at \
             from api_tokens t join users on users.id = t.user_id \
             where $1::uuid is null or t.user_id = $1 order by t.created_at desc, t.id desc",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(ApiToken::try_from).collect()
    }

    async fn revoke_api_token(
        &self,
        id: Uuid,
        user_id: Option<Uuid>,
        at: DateTime<Utc>,
    ) -> Result<bool, AccountStoreError> {
        let changed = sqlx::query(
            "update api_tokens set revoked_at = $1 \
             where id = $2 and revoked_at is null and ($3::uuid is null or user_id = $3)",
        )
        .bind(at)
        .bind(id)
        .bind(user_id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(changed == 1)
    }

    async fn set_display_name(
        &self,
        user_id: Uuid,
        display_name: &str,
    ) -> Result<bool, AccountStoreError> {
        let changed = sqlx::query("update users set display_name = $1 where id = $2")
            .bind(display_name)
            .bind(user_id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(changed == 1)
    }

    async fn put_flash(
        &self,
        session_id_hash: &str,
        text: &str,
        at: DateTime<Utc>,
    ) -> Result<(), AccountStoreError> {
        sqlx::query(
            "insert into login_flashes (session_id_hash, text, created_at) values ($1, $2, $3) \
             on conflict (session_id_hash) do update set text = $2, created_at = $3",
        )
        .bind(session_id_hash)
        .bind(text)
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn take_flash(&self, session_id_hash: &str) -> Result<Option<String>, AccountStoreError> {
        Ok(sqlx::query_scalar(
            "delete from login_flashes where session_id_hash = $1 returning text",
        )
        .bind(session_id_hash)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn user_by_api_token(&self, token_hash: &str) -> Result<Option<User>, AccountStoreError> {
        let sql = format!(
            "select {USER_COLUMNS} from api_tokens t join users on users.id = t.user_id \
             where t.token_hash = $1 and t.revoked_at is null and users.disabled_at is null"
        );
        let row: Option<UserRow> = sqlx::query_as(&sql)
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
        row.map(User::try_from).transpose()
    }

    async fn throttle(&self, key: &str) -> Result<Option<Throttle>, AccountStoreError> {
        let row: Option<ThrottleRow> = sqlx::query_as(
            "select failures, lockouts, last_failure_at, locked_until from login_throttle \
             where key = $1",
        )
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Throttle::from))
    }

    async fn record_attempt(
        &self,
        key: &str,
        policy: &ThrottlePolicy,
        at: DateTime<Utc>,
    ) -> Result<Attempt, AccountStoreError> {
        let mut tx = self.pool.begin().await?;
        // A fresh row (no failures, no lockout) counts like no row under the
        // policy; creating it first gives `for update` a row to lock, so
        // concurrent attempts queue here.
        sqlx::query(
            "insert into login_throttle (key, failures, lockouts, last_failure_at) \
             values ($1, 0, 0, $2) on conflict (key) do nothing",
        )
        .bind(key)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        let row: Option<ThrottleRow> = sqlx::query_as(
            "select failures, lockouts, last_failure_at, locked_until from login_throttle \
             where key = $1 for update",
        )
        .bind(key)
        .fetch_optional(&mut *tx)
        .await?;
        let attempt = policy.attempt(row.map(Throttle::from).as_ref(), at);
        let Attempt::Counted(next) = attempt else {
            tx.rollback().await?;
            return Ok(attempt);
        };
        sqlx::query(
            "update login_throttle set failures = $2, lockouts = $3, last_failure_at = $4, \
             locked_until = $5 where key = $1",
        )
        .bind(key)
        .bind(i32::try_from(next.failures).unwrap_or(i32::MAX))
        .bind(i32::try_from(next.lockouts).unwrap_or(i32::MAX))
        .bind(next.last_failure_at)
        .bind(next.locked_until)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(attempt)
    }

    async fn forgive_attempt(&self, key: &str) -> Result<(), AccountStoreError> {
        sqlx::query(
            "update login_throttle set failures = failures - 1 where key = $1 and failures > 0",
        )
        .bind(key)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn clear_throttle(&self, key: &str) -> Result<(), AccountStoreError> {
        sqlx::query("delete from login_throttle where key = $1")
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn delete_stale_throttles(
        &self,
        before: DateTime<Utc>,
    ) -> Result<u64, AccountStoreError> {
        Ok(sqlx::query(
            "delete from login_throttle where last_failure_at < $1 \
             and (locked_until is null or locked_until < $1)",
        )
        .bind(before)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }
}
