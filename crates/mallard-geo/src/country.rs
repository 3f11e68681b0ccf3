//! An ISO 3166-1 alpha-2 country code, as the databases spell it.

use std::fmt;

/// Two upper-case ASCII letters naming a country (`"DE"`), copied out of a
/// database record so that no lookup borrows the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    /// `code` when it is two ASCII letters (upper-cased); anything else is
    /// not a country code.
    pub fn parse(code: &str) -> Option<Self> {
        match code.as_bytes() {
            &[a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
                Some(Self([a.to_ascii_uppercase(), b.to_ascii_uppercase()]))
            }
            _ => None,
        }
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        // Both bytes are ASCII letters (checked in `parse`), so this is
        // always valid UTF-8; the fallback is never taken.
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_two_letters_make_a_code() {
        assert_eq!(CountryCode::parse("de").unwrap().as_str(), "DE");
        assert_eq!(CountryCode::parse("US").unwrap().to_string(), "US");
        for bad in ["", "D", "DEU", "1A", "É1", "  "] {
            assert_eq!(CountryCode::parse(bad), None, "{bad:?}");
        }
    }
}
