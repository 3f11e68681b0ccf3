//! Small string helpers shared by the parsers of this crate.
//!
//! Every helper here works on arbitrary input and never panics: cuts are made
//! at character boundaries, never in the middle of a UTF-8 sequence.

/// Returns the longest prefix of `s` that is at most `max_bytes` bytes long and
/// ends at a character boundary.
pub(crate) fn truncate_bytes(s: &str, max_bytes: usize) -> &str {
    if s.len() <= max_bytes {
        return s;
    }
    let mut end = max_bytes;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default()
}

/// Returns the prefix of `s` made of at most `max_chars` characters.
pub(crate) fn truncate_chars(s: &str, max_chars: usize) -> &str {
    match s.char_indices().nth(max_chars) {
        Some((end, _)) => s.get(..end).unwrap_or(s),
        None => s,
    }
}

/// Trims `raw`, returns `None` when nothing is left, and otherwise keeps at most
/// `max_chars` characters of it.
pub(crate) fn clean_value(raw: &str, max_chars: usize) -> Option<String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return None;
    }
    Some(truncate_chars(trimmed, max_chars).trim_end().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn truncation_respects_character_boundaries() {
        assert_eq!(truncate_bytes("héllo", 2), "h");
        assert_eq!(truncate_bytes("héllo", 3), "hé");
        assert_eq!(truncate_bytes("abc", 10), "abc");
        assert_eq!(truncate_chars("héllo", 2), "hé");
        assert_eq!(truncate_chars("abc", 0), "");
        assert_eq!(clean_value("  a b  ", 10).as_deref(), Some("a b"));
        assert_eq!(clean_value(" \t ", 10), None);
        assert_eq!(clean_value("ab cd", 3).as_deref(), Some("ab"));
    }

    proptest! {
        #[test]
        fn truncations_are_prefixes_within_bounds(s in any::<String>(), n in 0usize..64) {
            let b = truncate_bytes(&s, n);
            prop_assert!(b.len() <= n);
            prop_assert!(s.starts_with(b));
            let c = truncate_chars(&s, n);
            prop_assert!(c.chars().count() <= n);
            prop_assert!(s.starts_with(c));
        }
    }
}
