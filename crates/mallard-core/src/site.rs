//! Site identifiers.

use std::fmt;

use crate::error::CoreError;

/// The longest site id accepted, in bytes.
pub const MAX_SITE_ID_LEN: usize = 256;

/// A validated site identifier, usually the site's domain (`example.com`).
///
/// A site id is non-empty, at most 256 bytes, and made only of ASCII letters,
/// digits and `.`, `_`, `:` and `-`, so it is safe in URLs, logs and file names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SiteId(String);

impl SiteId {
    /// Validates `raw` and wraps it.
    pub fn parse(raw: &str) -> Result<Self, CoreError> {
        if raw.is_empty() {
            return Err(CoreError::InvalidSiteId("site id must not be empty".into()));
        }
        if raw.len() > MAX_SITE_ID_LEN {
            return Err(CoreError::InvalidSiteId(format!(
                "site id must be at most {MAX_SITE_ID_LEN} characters"
            )));
        }
        if let Some(bad) = raw
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-')))
        {
            return Err(CoreError::InvalidSiteId(format!(
                "site id contains the character {bad:?}; allowed are letters, digits and . _ : -"
            )));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The site id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SiteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_domains_and_refuses_junk() {
        assert!(SiteId::parse("example.com").is_ok());
        assert!(SiteId::parse("localhost:3000").is_ok());
        assert!(SiteId::parse("my_site-2").is_ok());
        assert!(SiteId::parse("").is_err());
        assert!(SiteId::parse("exa mple.com").is_err());
        assert!(SiteId::parse("a/b").is_err());
        assert!(SiteId::parse(&"a".repeat(256)).is_ok());
        assert!(SiteId::parse(&"a".repeat(257)).is_err());
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_accepts_exactly_the_allowed_alphabet(raw in ".{0,300}") {
            let ok = !raw.is_empty()
                && raw.len() <= MAX_SITE_ID_LEN
                && raw.chars().all(|c| c.is_ascii_alphanumeric() || ".:_-".contains(c));
            prop_assert_eq!(SiteId::parse(&raw).is_ok(), ok);
        }
    }
}
