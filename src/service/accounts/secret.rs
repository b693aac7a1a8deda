//! Random secrets, their hashes, and argon2id password hashing.

use argon2::password_hash::SaltString;
use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};

/// A secret to hand out exactly once (a token, a session id, a setup link).
/// Its `Debug` output is redacted so it cannot slip into a log line.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// 32 random bytes from the operating system, URL-safe, after `prefix`.
    pub(crate) fn generate(prefix: &str) -> Self {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        Self(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// A secret read back from the store (a CSRF token is kept as is).
    pub(super) fn from_stored(value: String) -> Self {
        Self(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// SHA-256, hex: right for secrets with 256 bits of entropy, which no
/// guessing can reach, and cheap enough to run on every request.
pub(super) fn sha256_hex(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Equal without an early exit, so timing does not tell how much matched.
pub(super) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// At most this many argon2 computations run at once, each holding 19 MiB
/// and a core: a burst of sign-ins costs a bounded amount of memory (ASVS
/// 11.1.4) instead of one blocking thread and 19 MiB per request.
#[derive(Clone)]
pub struct HashingSlots(std::sync::Arc<tokio::sync::Semaphore>);

impl HashingSlots {
    pub fn new(slots: usize) -> Self {
        Self(std::sync::Arc::new(tokio::sync::Semaphore::new(
            slots.max(1),
        )))
    }

    /// A slot now, or `None` when all are taken: a web request is better
    /// answered "busy, retry" than queued behind a flood.
    pub fn try_take(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.0.clone().try_acquire_owned().ok()
    }

    /// A slot, waiting for one (administration, never a flood).
    pub async fn take(&self) -> tokio::sync::OwnedSemaphorePermit {
        self.0
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed")
    }
}

/// An argon2id PHC string (OWASP's parameters: 19 MiB, 2 passes), computed
/// off the async runtime because it takes tens of milliseconds of CPU. The
/// slot goes with the computation: it is free again only when the work is
/// done, even if the request that asked has gone.
pub(super) async fn hash_password(password: &str, slot: Slot) -> anyhow::Result<String> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        hash_now(&password)
    })
    .await?
}

pub(super) type Slot = tokio::sync::OwnedSemaphorePermit;

fn hash_now(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| anyhow::anyhow!("cannot hash a password: {e}"))
}

/// Whether `password` matches `hash`. Without a hash (unknown user) it
/// verifies against a fixed dummy, so both cases cost the same time and
/// response times do not reveal which usernames exist.
pub(super) async fn verify_password(
    password: &str,
    hash: Option<String>,
    slot: Slot,
) -> anyhow::Result<bool> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        let known = hash.is_some();
        let hash = match hash {
            Some(hash) => hash,
            None => dummy_hash()?.to_owned(),
        };
        let matches = match PasswordHash::new(&hash) {
            Ok(parsed) => Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok(),
            Err(_) => false,
        };
        Ok(known && matches)
    })
    .await?
}

fn dummy_hash() -> anyhow::Result<&'static str> {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    if let Some(hash) = DUMMY.get() {
        return Ok(hash);
    }
    let hash = hash_now("not a password anyone has")?;
    Ok(DUMMY.get_or_init(|| hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_prefixed_random_and_at_least_32_bytes() {
        let a = Secret::generate("cb_");
        let b = Secret::generate("cb_");
        assert!(a.expose().starts_with("cb_"));
        assert_eq!(a.expose().len(), 3 + 43);
        assert_ne!(a, b);
        assert_eq!(format!("{a:?}"), "Secret(<redacted>)");
    }

    #[test]
    fn sha256_is_lowercase_hex() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn constant_time_eq_compares_whole_values() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    #[tokio::test]
    async fn a_password_verifies_against_its_argon2id_hash_only() {
        let slots = HashingSlots::new(1);
        let hash = hash_password("correct horse", slots.take().await)
            .await
            .unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(
            verify_password("correct horse", Some(hash.clone()), slots.take().await)
                .await
                .unwrap()
        );
        assert!(
            !verify_password("wrong horse", Some(hash), slots.take().await)
                .await
                .unwrap()
        );
        assert!(
            !verify_password("not a password anyone has", None, slots.take().await)
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn a_slot_is_free_again_only_when_its_hash_is_done() {
        let slots = HashingSlots::new(1);
        let slot = slots.try_take().unwrap();
        assert!(slots.try_take().is_none());
        let hashing = hash_password("correct horse", slot);
        assert!(slots.try_take().is_none());
        hashing.await.unwrap();
        assert!(slots.try_take().is_some());
    }
}
