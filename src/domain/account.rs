//! Accounts as pure data: who may sign in, with which role. Passwords and
//! secrets never appear in `Debug` output, so they cannot leak into logs.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Actor;

/// What an account may do beyond reading: engineers write to their own
/// sessions, admins to every session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Role {
    #[default]
    Engineer,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Engineer => "engineer",
            Role::Admin => "admin",
        }
    }

    pub fn parse(value: &str) -> Option<Role> {
        match value {
            "engineer" => Some(Role::Engineer),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A sign-in name: 1–64 characters of `a-z 0-9 . _ -`. Input is trimmed and
/// lowercased first, so "Dana" and "dana" are one account.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    pub const MAX_CHARS: usize = 64;
    /// The actor name of Casebook's own actions.
    pub const RESERVED: &str = "system";

    pub fn parse(value: &str) -> Result<Self, String> {
        let name = value.trim().to_lowercase();
        if name.is_empty() {
            return Err("must not be empty".into());
        }
        if name.chars().count() > Self::MAX_CHARS {
            return Err(format!("must be at most {} characters", Self::MAX_CHARS));
        }
        if let Some(bad) = name
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(*c)))
        {
            return Err(format!(
                "may contain only a-z, 0-9, '.', '_' and '-' (found {bad:?})"
            ));
        }
        // What Casebook does on its own (the stale-session policy) is
        // attributed to "system"; no person may be named so.
        if name == Self::RESERVED {
            return Err(format!(
                "{:?} is reserved for Casebook itself",
                Self::RESERVED
            ));
        }
        Ok(Self(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Username {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a person is shown: 1–100 characters after trimming.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(value: &str) -> Result<Self, String> {
        let trimmed = value.trim();
        if trimmed.is_empty() {
            return Err("must not be empty".into());
        }
        if trimmed.chars().count() > Self::MAX_CHARS {
            return Err(format!("must be at most {} characters", Self::MAX_CHARS));
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The username stands in when no display name is given.
    pub fn from_username(username: &Username) -> Self {
        Self(username.as_str().to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new password: 12–1024 characters (ASVS 2.1.1, 2.1.2) of any Unicode,
/// taken exactly as typed (no trimming: spaces are characters too). The
/// upper bound keeps hashing cheap.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = 12;
    pub const MAX_CHARS: usize = 1024;

    pub fn parse(value: &str) -> Result<Self, String> {
        let len = value.chars().count();
        if len < Self::MIN_CHARS {
            return Err(format!("must be at least {} characters", Self::MIN_CHARS));
        }
        if len > Self::MAX_CHARS {
            return Err(format!("must be at most {} characters", Self::MAX_CHARS));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// An API token's label, chosen by its owner: 1–100 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenName(String);

impl TokenName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(value: &str) -> Result<Self, String> {
        DisplayName::parse(value).map(|name| Self(name.0))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An account. Its password hash stays in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: Uuid,
    pub username: Username,
    pub display_name: DisplayName,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    /// A disabled account signs in with nothing: no password, session or token.
    pub disabled_at: Option<DateTime<Utc>>,
}

impl User {
    pub fn is_disabled(&self) -> bool {
        self.disabled_at.is_some()
    }

    /// The user as the one who performs actions.
    pub fn actor(&self) -> Actor {
        Actor::with_role(self.username.as_str(), self.role)
    }
}

/// A personal API token as listed: never the token itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub id: Uuid,
    pub user_id: Uuid,
    pub username: Username,
    pub name: TokenName,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_is_reserved_for_casebooks_own_actions() {
        assert!(Username::parse("system").is_err());
        assert!(Username::parse(" System ").is_err());
        assert!(Username::parse("systems").is_ok());
    }

    #[test]
    fn usernames_are_trimmed_lowercased_and_limited_to_a_safe_alphabet() {
        assert_eq!(
            Username::parse("  Dana.K_1-x ").unwrap().as_str(),
            "dana.k_1-x"
        );
        assert!(Username::parse(&"a".repeat(64)).is_ok());
        assert!(Username::parse(&"a".repeat(65)).is_err());
        assert!(Username::parse("").is_err());
        assert!(Username::parse("   ").is_err());
        assert!(Username::parse("dana kim").is_err());
        assert!(Username::parse("dana@example").is_err());
        assert!(Username::parse("dané").is_err());
    }

    #[test]
    fn passwords_are_12_to_1024_characters_and_kept_exactly() {
        assert!(Password::parse("12345678901").is_err());
        assert_eq!(
            Password::parse(" 12345678901").unwrap().expose(),
            " 12345678901"
        );
        assert!(Password::parse(&"é".repeat(1024)).is_ok());
        assert!(Password::parse(&"é".repeat(1025)).is_err());
    }

    #[test]
    fn a_password_never_shows_in_debug_output() {
        let password = Password::parse("hunter2hunter2").unwrap();
        assert!(!format!("{password:?}").contains("hunter2"));
    }

    #[test]
    fn display_names_and_token_names_are_1_to_100_characters_after_trimming() {
        assert_eq!(DisplayName::parse(" Dana K ").unwrap().as_str(), "Dana K");
        assert!(DisplayName::parse(" ").is_err());
        assert!(DisplayName::parse(&"é".repeat(100)).is_ok());
        assert!(DisplayName::parse(&"é".repeat(101)).is_err());
        assert!(TokenName::parse("laptop").is_ok());
        assert!(TokenName::parse("").is_err());
    }

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in [Role::Engineer, Role::Admin] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
