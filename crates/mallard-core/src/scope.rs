//! The scopes of Mallard API keys.

use std::fmt;
use std::str::FromStr;

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
}
