//! Accounts: users, first-run setup, password sign-in with a throttle,
//! server-side login sessions and personal API tokens. The service decides
//! (expiry, lockouts, who may do what); the store only persists, and sees
//! secrets only as hashes.

mod admin;
mod error;
mod profile;
mod secret;

use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use super::Clock;
use crate::domain::{
    ApiToken, Attempt, DisplayName, Password, Role, ThrottlePolicy, TokenName, User, Username,
};
use crate::store::{AccountStore, StoredLoginSession};

pub use admin::UserChange;
pub use error::{AccountError, AuthError};
pub use secret::Secret;
use secret::{HashingSlots, Slot};

/// The stored hash of an account without a password: not a PHC string, so
/// no password verifies against it.
pub(crate) const NO_PASSWORD: &str = "";

/// Every API token starts with this, so a leaked one is easy to recognise
/// (and to scan for) and a bearer value without it needs no database look-up.
pub const TOKEN_PREFIX: &str = "cb_";

/// How long sessions last and how sign-in failures are throttled.
#[derive(Debug, Clone)]
pub struct AccountPolicy {
    /// A session unused this long has ended.
    pub idle_timeout: TimeDelta,
    /// A session ends this long after sign-in, however busy.
    pub absolute_timeout: TimeDelta,
    /// A session's last use is written at most this often: a write per
    /// request would cost more than the idle timeout's precision is worth.
    pub touch_interval: TimeDelta,
    pub user_throttle: ThrottlePolicy,
    /// Looser than per user: one office behind one address makes typos too.
    pub address_throttle: ThrottlePolicy,
    /// A setup link works this long after the start that printed it.
    pub setup_token_lifetime: TimeDelta,
    /// Password hashes computed at once; more sign-ins are told to retry.
    pub max_concurrent_hashes: usize,
}

impl Default for AccountPolicy {
    fn default() -> Self {
        let throttle = |max_failures| ThrottlePolicy {
            max_failures,
            window: TimeDelta::minutes(15),
            first_lockout: TimeDelta::seconds(30),
            max_lockout: TimeDelta::minutes(15),
        };
        // ASVS 3.3.2 at level 2: 30 minutes idle, 12 hours in all.
        Self {
            idle_timeout: TimeDelta::minutes(30),
            absolute_timeout: TimeDelta::hours(12),
            touch_interval: TimeDelta::minutes(1),
            user_throttle: throttle(5),
            address_throttle: throttle(20),
            setup_token_lifetime: TimeDelta::hours(1),
            max_concurrent_hashes: 2 * std::thread::available_parallelism().map_or(1, usize::from),
        }
    }
}

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: Username,
    /// The username when `None`.
    pub display_name: Option<DisplayName>,
    pub password: Password,
    pub role: Role,
}

/// A live login session, as a request sees it.
#[derive(Debug, Clone)]
pub struct LoginSession {
    pub user: User,
    /// Every state-changing form of this session carries it back.
    pub csrf_token: Secret,
    pub created_at: DateTime<Utc>,
    /// The absolute end; the idle end moves with use.
    pub expires_at: DateTime<Utc>,
}

impl LoginSession {
    /// Whether a submitted CSRF token is this session's, in constant time.
    pub fn csrf_matches(&self, candidate: &str) -> bool {
        secret::constant_time_eq(self.csrf_token.expose().as_bytes(), candidate.as_bytes())
    }
}

/// A fresh sign-in: the id goes into the cookie and is not kept anywhere.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub session_id: Secret,
    pub session: LoginSession,
}

#[derive(Clone)]
pub struct AccountService {
    store: Arc<dyn AccountStore>,
    clock: Arc<dyn Clock>,
    policy: AccountPolicy,
    hashing: HashingSlots,
}

impl AccountService {
    pub fn new(store: Arc<dyn AccountStore>, clock: Arc<dyn Clock>) -> Self {
        let policy = AccountPolicy::default();
        Self {
            store,
            clock,
            hashing: HashingSlots::new(policy.max_concurrent_hashes),
            policy,
        }
    }

    pub fn with_policy(self, policy: AccountPolicy) -> Self {
        Self {
            hashing: HashingSlots::new(policy.max_concurrent_hashes),
            policy,
            ..self
        }
    }

    /// A hashing slot for a request from the web: now or never.
    fn slot_now(&self) -> Result<Slot, AccountError> {
        self.hashing.try_take().ok_or(AccountError::Busy)
    }

    pub fn policy(&self) -> &AccountPolicy {
        &self.policy
    }

    // --- users -----------------------------------------------------------

    #[tracing::instrument(skip_all, fields(username = %new.username, role = %new.role))]
    pub async fn create_user(&self, new: NewUser) -> Result<User, AccountError> {
        let hash = secret::hash_password(new.password.expose(), self.hashing.take().await).await?;
        let user = self.user_from(new, self.clock.now());
        self.store.insert_user(&user, &hash).await?;
        tracing::info!("user created");
        Ok(user)
    }

    /// An account nobody can sign in to: disabled, without a password (an
    /// empty hash, which no password matches). What a sample engineer of
    /// the demo is, and what migration 0011 made of every owner without an
    /// account: it owns sessions, and its username is taken, so no new
    /// account can adopt them. An admin may set a password and enable it.
    #[tracing::instrument(skip_all, fields(%username))]
    pub async fn create_disabled_user(
        &self,
        username: Username,
        display_name: Option<DisplayName>,
    ) -> Result<User, AccountError> {
        let now = self.clock.now();
        let user = User {
            id: Uuid::now_v7(),
            display_name: display_name.unwrap_or_else(|| DisplayName::from_username(&username)),
            username,
            role: Role::Engineer,
            created_at: now,
            disabled_at: Some(now),
        };
        self.store.insert_user(&user, NO_PASSWORD).await?;
        tracing::info!("disabled account without a password created");
        Ok(user)
    }

    /// Every user, by username.
    pub async fn users(&self) -> Result<Vec<User>, AccountError> {
        Ok(self.store.users().await?)
    }

    pub async fn user(&self, username: &Username) -> Result<User, AccountError> {
        self.store
            .user_by_username(username)
            .await?
            .ok_or(AccountError::UserNotFound)
    }

    /// Sets a new password and ends every login session of the user.
    #[tracing::instrument(skip_all, fields(%username))]
    pub async fn set_password(
        &self,
        username: &Username,
        password: &Password,
    ) -> Result<(), AccountError> {
        let user = self.user(username).await?;
        let hash = secret::hash_password(password.expose(), self.hashing.take().await).await?;
        if !self.store.set_password_hash(user.id, &hash).await? {
            return Err(AccountError::UserNotFound);
        }
        tracing::info!("password changed; login sessions ended");
        Ok(())
    }

    /// A signed-in user changes their own password: the current one is
    /// checked first, under the sign-in throttle (ASVS 2.1.5), and every
    /// login session of theirs ends; the caller gets a new one.
    #[tracing::instrument(skip_all, fields(username = %user.username))]
    pub async fn change_password(
        &self,
        user: &User,
        current: &str,
        new: &Password,
        client: IpAddr,
    ) -> Result<SignedIn, AuthError> {
        let user = self
            .authenticate(user.username.as_str(), current, client)
            .await?;
        let slot = self.slot_now()?;
        let hash = secret::hash_password(new.expose(), slot).await?;
        if !self.store.set_password_hash(user.id, &hash).await? {
            return Err(AccountError::UserNotFound.into());
        }
        tracing::info!("password changed by its owner; other login sessions ended");
        Ok(self.start_login_session(&user).await?)
    }

    /// Disables the user: their login sessions end and their password and
    /// tokens stop working. Disabling a disabled user changes nothing.
    #[tracing::instrument(skip_all, fields(%username))]
    pub async fn disable_user(&self, username: &Username) -> Result<User, AccountError> {
        let user = self.user(username).await?;
        if self.store.disable_user(user.id, self.clock.now()).await? {
            tracing::info!("user disabled");
        }
        self.user(username).await
    }

    // --- first run -------------------------------------------------------

    /// True while no account exists: the server then offers first-run setup.
    pub async fn needs_setup(&self) -> Result<bool, AccountError> {
        Ok(!self.store.has_users().await?)
    }

    /// A one-time token that creates the first admin, or `None` when an
    /// account exists. Only its hash is stored; each call adds a new one
    /// (a restart cannot show an old one again, and prints a new link), each
    /// lives for the policy's `setup_token_lifetime`, and all die at setup.
    pub async fn begin_setup(&self) -> Result<Option<Secret>, AccountError> {
        if !self.needs_setup().await? {
            return Ok(None);
        }
        let token = Secret::generate("");
        self.store
            .insert_setup_token(&secret::sha256_hex(token.expose()), self.clock.now())
            .await?;
        Ok(Some(token))
    }

    /// Whether `token` is a setup link that still works (unused, not expired,
    /// and no account exists yet), so the form can say so before anything
    /// is typed into it.
    pub async fn setup_link_is_live(&self, token: &str) -> Result<bool, AccountError> {
        if !self.needs_setup().await? {
            return Ok(false);
        }
        let issued_after = self.clock.now() - self.policy.setup_token_lifetime;
        Ok(self
            .store
            .setup_token_live(&secret::sha256_hex(token), issued_after)
            .await?)
    }

    /// Creates the first account, always an admin, if `token` is a live setup
    /// token. Exactly one of any number of racing calls succeeds.
    #[tracing::instrument(skip_all, fields(username = %new.username))]
    pub async fn complete_setup(&self, token: &str, new: NewUser) -> Result<User, AccountError> {
        // The token is checked before any argon2 work: a stranger without a
        // live link costs a database read, not 19 MiB and a core.
        if !self.needs_setup().await? {
            return Err(AccountError::SetupRefused);
        }
        let now = self.clock.now();
        let token_hash = secret::sha256_hex(token);
        let issued_after = now - self.policy.setup_token_lifetime;
        if !self
            .store
            .setup_token_live(&token_hash, issued_after)
            .await?
        {
            return Err(AccountError::SetupRefused);
        }
        let hash = secret::hash_password(new.password.expose(), self.slot_now()?).await?;
        let admin = self.user_from(
            NewUser {
                role: Role::Admin,
                ..new
            },
            now,
        );
        if !self
            .store
            .complete_setup(&token_hash, issued_after, &admin, &hash, now)
            .await?
        {
            return Err(AccountError::SetupRefused);
        }
        tracing::info!("first admin created");
        Ok(admin)
    }

    // --- sign-in ---------------------------------------------------------

    /// Checks a password, under the throttle. Each attempt is counted, for
    /// the client address and then the username, atomically and *before*
    /// the password is checked, so that concurrent guesses cannot all pass
    /// one reading of the count (ASVS 2.2.1); a locked key refuses without
    /// checking. A success clears the username's count and takes back its
    /// attempt from the address (not more: one good account must not shield
    /// guessing at others). The check itself needs a hashing slot.
    #[tracing::instrument(skip_all, fields(%client))]
    pub async fn authenticate(
        &self,
        username: &str,
        password: &str,
        client: IpAddr,
    ) -> Result<User, AuthError> {
        // Taken first: when the server is busy hashing, an attempt is
        // neither counted nor checked.
        let slot = self.slot_now()?;
        let now = self.clock.now();
        let username = Username::parse(username).ok();
        let address = address_key(client);
        self.count_attempt(&address, &self.policy.address_throttle, now)
            .await?;
        let user_key = username.as_ref().map(|u| format!("user:{u}"));
        if let Some(key) = &user_key {
            self.count_attempt(key, &self.policy.user_throttle, now)
                .await?;
        }

        let found = match &username {
            Some(username) => self.store.user_with_password_hash(username).await?,
            None => None,
        };
        let (user, hash) = found.unzip();
        let matches = secret::verify_password(password, hash, slot).await?;
        match user {
            Some(user) if matches && !user.is_disabled() => {
                if let Some(key) = &user_key {
                    self.store.clear_throttle(key).await?;
                }
                self.store.forgive_attempt(&address).await?;
                Ok(user)
            }
            _ => {
                tracing::info!("sign-in failed");
                Err(AuthError::InvalidCredentials)
            }
        }
    }

    async fn count_attempt(
        &self,
        key: &str,
        policy: &ThrottlePolicy,
        now: DateTime<Utc>,
    ) -> Result<(), AuthError> {
        match self.store.record_attempt(key, policy, now).await? {
            Attempt::Counted(_) => Ok(()),
            Attempt::Locked(throttle) => {
                let wait = throttle.retry_after(now).unwrap_or_default();
                tracing::info!(retry_after_s = wait.num_seconds(), "sign-in throttled");
                Err(AuthError::Throttled {
                    retry_after: wait.to_std().unwrap_or_default(),
                })
            }
        }
    }

    /// Authenticates and starts a new login session. A session the client
    /// already had ends: each sign-in gets a new id, so an id planted
    /// before sign-in is worth nothing after it.
    pub async fn sign_in(
        &self,
        username: &str,
        password: &str,
        client: IpAddr,
        previous_session_id: Option<&str>,
    ) -> Result<SignedIn, AuthError> {
        let user = self.authenticate(username, password, client).await?;
        if let Some(previous) = previous_session_id {
            self.sign_out(previous).await?;
        }
        Ok(self.start_login_session(&user).await?)
    }

    /// A new login session for a user already authenticated.
    #[tracing::instrument(skip_all, fields(username = %user.username))]
    pub async fn start_login_session(&self, user: &User) -> Result<SignedIn, AccountError> {
        let now = self.clock.now();
        let session_id = Secret::generate("");
        let csrf_token = Secret::generate("");
        let stored = StoredLoginSession {
            id_hash: secret::sha256_hex(session_id.expose()),
            user_id: user.id,
            csrf_token: csrf_token.expose().to_owned(),
            created_at: now,
            last_seen_at: now,
            expires_at: now + self.policy.absolute_timeout,
        };
        self.store.insert_login_session(&stored).await?;
        Ok(SignedIn {
            session_id,
            session: LoginSession {
                user: user.clone(),
                csrf_token,
                created_at: now,
                expires_at: stored.expires_at,
            },
        })
    }

    /// The live session a cookie names, or `None` when it is unknown,
    /// expired (idle or absolute) or its user is disabled; an expired one is
    /// deleted on the way.
    pub async fn login_session(
        &self,
        session_id: &str,
    ) -> Result<Option<LoginSession>, AccountError> {
        let id_hash = secret::sha256_hex(session_id);
        let Some((stored, user)) = self.store.login_session(&id_hash).await? else {
            return Ok(None);
        };
        let now = self.clock.now();
        let idle = now - stored.last_seen_at;
        if user.is_disabled() || now >= stored.expires_at || idle >= self.policy.idle_timeout {
            self.store.delete_login_session(&id_hash).await?;
            return Ok(None);
        }
        if idle >= self.policy.touch_interval {
            self.store.touch_login_session(&id_hash, now).await?;
        }
        Ok(Some(LoginSession {
            user,
            csrf_token: Secret::from_stored(stored.csrf_token),
            created_at: stored.created_at,
            expires_at: stored.expires_at,
        }))
    }

    /// Ends a login session; ending an unknown one is not an error.
    pub async fn sign_out(&self, session_id: &str) -> Result<(), AccountError> {
        Ok(self
            .store
            .delete_login_session(&secret::sha256_hex(session_id))
            .await?)
    }

    /// Deletes expired login sessions and forgotten throttle entries; for a
    /// periodic task. Returns how many login sessions ended.
    pub async fn purge_expired(&self) -> Result<u64, AccountError> {
        let now = self.clock.now();
        let ended = self
            .store
            .delete_expired_login_sessions(now - self.policy.idle_timeout, now)
            .await?;
        let window = self
            .policy
            .user_throttle
            .window
            .max(self.policy.address_throttle.window);
        self.store.delete_stale_throttles(now - window).await?;
        Ok(ended)
    }

    // --- API tokens ------------------------------------------------------

    /// A new personal token for `username`; the token itself is returned
    /// only here, only its hash is kept.
    #[tracing::instrument(skip_all, fields(%username))]
    pub async fn create_token(
        &self,
        username: &Username,
        name: TokenName,
    ) -> Result<(ApiToken, Secret), AccountError> {
        let user = self.user(username).await?;
        if user.is_disabled() {
            return Err(AccountError::UserDisabled);
        }
        let secret = Secret::generate(TOKEN_PREFIX);
        let token = ApiToken {
            id: Uuid::now_v7(),
            user_id: user.id,
            username: user.username,
            name,
            created_at: self.clock.now(),
            revoked_at: None,
        };
        self.store
            .insert_api_token(&token, &secret::sha256_hex(secret.expose()))
            .await?;
        tracing::info!(token_id = %token.id, "API token created");
        Ok((token, secret))
    }

    /// Newest first: one user's tokens, or everyone's.
    pub async fn tokens(&self, username: Option<&Username>) -> Result<Vec<ApiToken>, AccountError> {
        let user_id = match username {
            Some(username) => Some(self.user(username).await?.id),
            None => None,
        };
        Ok(self.store.api_tokens(user_id).await?)
    }

    /// Revokes a token; with `owner`, only if it is theirs (anyone else's
    /// token is "not found", so ids cannot be probed).
    #[tracing::instrument(skip_all, fields(token_id = %id))]
    pub async fn revoke_token(&self, id: Uuid, owner: Option<&User>) -> Result<(), AccountError> {
        let revoked = self
            .store
            .revoke_api_token(id, owner.map(|u| u.id), self.clock.now())
            .await?;
        if !revoked {
            return Err(AccountError::TokenNotFound);
        }
        tracing::info!("API token revoked");
        Ok(())
    }

    /// The user a bearer token authenticates: `None` for an unknown or
    /// revoked token or a disabled user.
    pub async fn authenticate_token(&self, token: &str) -> Result<Option<User>, AccountError> {
        if !token.starts_with(TOKEN_PREFIX) {
            return Ok(None);
        }
        Ok(self
            .store
            .user_by_api_token(&secret::sha256_hex(token))
            .await?)
    }

    fn user_from(&self, new: NewUser, now: DateTime<Utc>) -> User {
        User {
            id: Uuid::now_v7(),
            display_name: new
                .display_name
                .unwrap_or_else(|| DisplayName::from_username(&new.username)),
            username: new.username,
            role: new.role,
            created_at: now,
            disabled_at: None,
        }
    }
}

/// The throttle key of a client. An IPv6 host usually has a whole /64 to
/// itself, so per-address counting there would be counting nothing.
fn address_key(client: IpAddr) -> String {
    match client.to_canonical() {
        IpAddr::V4(v4) => format!("addr:{v4}"),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let prefix = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
            format!("addr:{prefix}/64")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_addresses_count_alone_and_ipv6_by_their_64_bit_prefix() {
        assert_eq!(address_key("10.1.2.3".parse().unwrap()), "addr:10.1.2.3");
        assert_eq!(
            address_key("::ffff:10.1.2.3".parse().unwrap()),
            "addr:10.1.2.3"
        );
        assert_eq!(
            address_key("2001:db8:1:2:aaaa::1".parse().unwrap()),
            "addr:2001:db8:1:2::/64"
        );
        assert_eq!(
            address_key("2001:db8:1:2:bbbb::9".parse().unwrap()),
            "addr:2001:db8:1:2::/64"
        );
    }
}
