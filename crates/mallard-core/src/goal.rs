//! Goals: what counts as a conversion. A goal is a custom event by its
//! name, or a page view of a path pattern, optionally only when the event
//! carries a property with a value.
//!
//! Path patterns are Plausible's: `*` stands for any characters but `/`
//! (`/blog/*` is every post, not `/blog/a/b`), `**` for any characters
//! (`/docs/**` is every page under `/docs/`); anything else stands for
//! itself.

use crate::error::CoreError;

/// The longest goal name, path pattern or property key or value, in bytes.
pub const MAX_GOAL_TEXT_LEN: usize = 500;

/// A page path pattern of a goal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPattern {
    text: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    /// `*`: any characters but `/`.
    Segment,
    /// `**`: any characters.
    Any,
}

impl PathPattern {
    /// Reads a pattern; it must be a path (start with `/`), without
    /// control characters or a query string.
    pub fn parse(text: &str) -> Result<Self, CoreError> {
        let invalid = |why: &str| CoreError::InvalidGoal(format!("page_path {text:?} {why}"));
        if !text.starts_with('/') {
            return Err(invalid(
                "is not a path: it must start with /, as in /blog/*",
            ));
        }
        if text.len() > MAX_GOAL_TEXT_LEN {
            return Err(invalid("is too long"));
        }
        if text.chars().any(char::is_control) || text.contains(['?', '#']) {
            return Err(invalid("may not hold control characters, ? or #"));
        }
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '*' {
                if !literal.is_empty() {
                    parts.push(Part::Literal(std::mem::take(&mut literal)));
                }
                if chars.peek() == Some(&'*') {
                    chars.next();
                    parts.push(Part::Any);
                } else {
                    parts.push(Part::Segment);
                }
            } else {
                literal.push(c);
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(Self {
            text: text.to_owned(),
            parts,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `path` matches the whole pattern.
    pub fn matches(&self, path: &str) -> bool {
        matches_parts(&self.parts, path)
    }
}

/// Whether `path` matches `parts`, in time proportional to their lengths'
/// product (no backtracking): `matched[j]` says whether the parts from the
/// one at hand on match `path[j..]`, computed from the last part back.
/// Bytes are compared: a literal starts with a character's first byte, so
/// it never matches in the middle of a character.
fn matches_parts(parts: &[Part], path: &str) -> bool {
    let bytes = path.as_bytes();
    let n = bytes.len();
    // After the last part, only the end of the path matches.
    let mut next: Vec<bool> = (0..=n).map(|j| j == n).collect();
    for part in parts.iter().rev() {
        let mut here = vec![false; n + 1];
        match part {
            Part::Literal(text) => {
                let text = text.as_bytes();
                for j in 0..=n {
                    here[j] = bytes[j..].starts_with(text) && next[j + text.len()];
                }
            }
            Part::Segment => {
                here[n] = next[n];
                for j in (0..n).rev() {
                    here[j] = next[j] || (bytes[j] != b'/' && here[j + 1]);
                }
            }
            Part::Any => {
                here[n] = next[n];
                for j in (0..n).rev() {
                    here[j] = next[j] || here[j + 1];
                }
            }
        }
        next = here;
    }
    next[0]
}

/// Checks a goal's name, event name or property key or value: not empty,
/// not too long, no control characters.
pub fn check_text(field: &str, value: &str) -> Result<String, CoreError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(CoreError::InvalidGoal(format!("{field} may not be empty")));
    }
    if value.len() > MAX_GOAL_TEXT_LEN {
        return Err(CoreError::InvalidGoal(format!(
            "{field} is longer than {MAX_GOAL_TEXT_LEN} bytes"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(CoreError::InvalidGoal(format!(
            "{field} may not hold control characters"
        )));
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pattern(text: &str) -> PathPattern {
        PathPattern::parse(text).unwrap()
    }

    #[test]
    fn one_star_is_one_segment_and_two_any_depth() {
        let blog = pattern("/blog/*");
        assert!(blog.matches("/blog/a") && blog.matches("/blog/"));
        assert!(!blog.matches("/blog/a/b") && !blog.matches("/blog"));
        let docs = pattern("/docs/**");
        assert!(docs.matches("/docs/a") && docs.matches("/docs/a/b/c"));
        assert!(!docs.matches("/doc/a"));
        let exact = pattern("/pricing");
        assert!(exact.matches("/pricing") && !exact.matches("/pricing/"));
        let middle = pattern("/shop/*/checkout");
        assert!(middle.matches("/shop/42/checkout") && !middle.matches("/shop/4/2/checkout"));
        assert!(pattern("/**").matches("/anything/at/all"));
    }

    #[test]
    fn a_pattern_that_is_not_a_path_is_refused_saying_why() {
        for (text, why) in [
            ("blog/*", "must start with /"),
            ("https://example.com/", "must start with /"),
            ("/a?b=1", "?"),
            ("", "must start with /"),
        ] {
            let err = PathPattern::parse(text).unwrap_err().to_string();
            assert!(err.contains(why), "{text}: {err}");
        }
        assert!(check_text("name", "  ").is_err());
        assert_eq!(check_text("name", " Signup ").unwrap(), "Signup");
    }

    proptest! {
        #[test]
        fn a_literal_pattern_matches_exactly_itself(path in "/[a-z/._-]{0,20}", other in "/[a-z/._-]{0,20}") {
            let p = pattern(&path);
            prop_assert!(p.matches(&path));
            prop_assert_eq!(p.matches(&other), path == other);
        }

        #[test]
        fn double_star_matches_every_extension(prefix in "/[a-z/]{0,10}", rest in "[a-z/*]{0,10}") {
            let p = pattern(&format!("{prefix}**"));
            let path = format!("{prefix}{rest}");
            prop_assert!(p.matches(&path));
        }

        #[test]
        fn matching_agrees_with_a_regular_expression(text in "/[ab*/]{0,8}", path in "/[ab/]{0,10}") {
            let p = pattern(&text);
            let mut regex = String::from("^");
            let mut chars = text.chars().peekable();
            while let Some(c) = chars.next() {
                match c {
                    '*' if chars.peek() == Some(&'*') => { chars.next(); regex.push_str(".*"); }
                    '*' => regex.push_str("[^/]*"),
                    c => regex.push(c),
                }
            }
            regex.push('$');
            let expected = regex::Regex::new(&regex).unwrap().is_match(&path);
            prop_assert_eq!(p.matches(&path), expected, "{} {}", text, path);
        }

        #[test]
        fn matching_never_panics(text in "/[a-z*/é]{0,12}", path in "[a-z*/é]{0,16}") {
            let _ = pattern(&text).matches(&path);
        }
    }
}
