use super::Role;

/// Who performs an action. The HTTP layer supplies it; the domain and the
/// service never ask how it was obtained (a password session, a token, or
/// the configured local user).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub username: String,
    pub role: Role,
}

impl Actor {
    /// An engineer: the least an authenticated person may be.
    pub fn new(username: impl Into<String>) -> Self {
        Self::with_role(username, Role::Engineer)
    }

    pub fn with_role(username: impl Into<String>, role: Role) -> Self {
        Self {
            username: username.into(),
            role,
        }
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Writing to a session (start, note, complete, reopen) is for its owner
    /// and for admins; reading is for everyone signed in.
    pub fn may_write(&self, session_owner: &str) -> bool {
        self.is_admin() || self.username == session_owner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_actor_is_an_engineer() {
        let dana = Actor::new("dana");
        assert_eq!(dana.role, Role::Engineer);
        assert!(!dana.is_admin());
    }

    #[test]
    fn an_engineer_may_write_only_to_their_own_sessions() {
        let dana = Actor::new("dana");
        assert!(dana.may_write("dana"));
        assert!(!dana.may_write("sam"));
        assert!(!dana.may_write(""));
    }

    #[test]
    fn an_admin_may_write_to_every_session() {
        let admin = Actor::with_role("root", Role::Admin);
        assert!(admin.is_admin());
        assert!(admin.may_write("sam"));
        assert!(admin.may_write("root"));
    }
}
