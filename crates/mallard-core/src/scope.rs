//! The scopes of Mallard API keys.

use std::fmt;
use std::str::FromStr;

/// The longest API key name accepted, in characters.
pub const MAX_KEY_NAME_CHARS: usize = 100;

/// Validates the name of an API key: trimmed, 1 to 100 characters, no control
/// characters.
pub fn validate_key_name(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    if name.is_empty()
        || name.chars().count() > MAX_KEY_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(format!(
            "name must be 1 to {MAX_KEY_NAME_CHARS} characters without control characters"
        ));
    }
    Ok(name.to_owned())
}

/// What a Mallard API key (`mm_...`) may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Read-only access to stats queries.
    ReadOnly,
    /// Full admin access: key management and configuration, and stats.
    Admin,
}

impl Scope {
    /// The scope's name as documented (`ReadOnly`, `Admin`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReadOnly => "ReadOnly",
            Self::Admin => "Admin",
        }
    }

    /// Whether this scope may read stats (both scopes may).
    pub fn can_read_stats(self) -> bool {
        true
    }

    /// Whether this scope may manage keys and settings.
    pub fn can_administer(self) -> bool {
        self == Self::Admin
    }
}

impl FromStr for Scope {
    type Err = String;

    /// Parses the documented names exactly; anything else is refused.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ReadOnly" => Ok(Self::ReadOnly),
            "Admin" => Ok(Self::Admin),
            other => Err(format!(
                "unknown scope {other:?}; expected \"ReadOnly\" or \"Admin\""
            )),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_round_trip_and_only_admin_administers() {
        for scope in [Scope::ReadOnly, Scope::Admin] {
            assert_eq!(scope.as_str().parse::<Scope>(), Ok(scope));
            assert!(scope.can_read_stats());
        }
        assert!(Scope::Admin.can_administer());
        assert!(!Scope::ReadOnly.can_administer());
        assert!("admin".parse::<Scope>().is_err());
        assert!("Owner".parse::<Scope>().is_err());
    }

    #[test]
    fn key_names_are_trimmed_and_bounded() {
        assert_eq!(validate_key_name("  ci  ").unwrap(), "ci");
        assert!(validate_key_name("   ").is_err());
        assert!(validate_key_name(&"x".repeat(101)).is_err());
        assert!(validate_key_name("a\nb").is_err());
    }
}
