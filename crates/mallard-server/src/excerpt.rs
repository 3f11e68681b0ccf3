//! Short excerpts of client-sent values for error messages.
//!
//! Validation messages quote the value they refuse (`"aaaa…" is longer than
//! 2048 characters`). A 4 MB field must not make a 4 MB error body, so every
//! quoted value is cut at [`MAX_QUOTED_CHARS`] characters, and a whole message
//! at [`MAX_MESSAGE_CHARS`] (for values quoted some other way).

use std::borrow::Cow;

/// The longest quoted value kept in a message, in characters.
pub const MAX_QUOTED_CHARS: usize = 100;

/// The longest message kept, in characters.
pub const MAX_MESSAGE_CHARS: usize = 400;

/// The mark put where text was cut.
const CUT: &str = "…";

/// `message` with every double-quoted value longer than [`MAX_QUOTED_CHARS`]
/// cut to that length, and the whole cut to [`MAX_MESSAGE_CHARS`].
pub fn shorten(message: &str) -> Cow<'_, str> {
    if message.len() <= MAX_QUOTED_CHARS {
        return Cow::Borrowed(message);
    }
    let mut out = String::with_capacity(message.len().min(MAX_MESSAGE_CHARS * 4));
    let mut quoted = false;
    let mut escaped = false;
    let mut run = 0usize;
    let mut total = 0usize;
    for c in message.chars() {
        if total >= MAX_MESSAGE_CHARS {
            out.push_str(CUT);
            break;
        }
        if quoted {
            let closes = c == '"' && !escaped;
            escaped = c == '\\' && !escaped;
            if closes {
                quoted = false;
                run = 0;
            } else {
                run += 1;
                if run == MAX_QUOTED_CHARS + 1 {
                    out.push_str(CUT);
                    total += 1;
                }
                if run > MAX_QUOTED_CHARS {
                    continue;
                }
            }
        } else if c == '"' {
            quoted = true;
            escaped = false;
        }
        out.push(c);
        total += 1;
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn short_messages_are_kept() {
        assert_eq!(
            shorten("\"abc\" is not a number"),
            "\"abc\" is not a number"
        );
    }

    #[test]
    fn long_quoted_values_are_cut_and_the_rest_is_kept() {
        let value = "a".repeat(4 * 1024 * 1024);
        let message = format!("\"{value}\" is longer than 2048 characters");
        let short = shorten(&message);
        assert_eq!(
            short,
            format!(
                "\"{}…\" is longer than 2048 characters",
                "a".repeat(MAX_QUOTED_CHARS)
            )
        );
    }

    #[test]
    fn escaped_quotes_stay_inside_the_value() {
        let value = format!("x\\\"{}", "b".repeat(200));
        let message = format!("\"{value}\" is bad");
        let short = shorten(&message);
        assert!(short.ends_with("…\" is bad"), "{short}");
    }

    proptest! {
        #[test]
        fn every_message_ends_up_bounded(message in ".{0,2000}") {
            let short = shorten(&message);
            prop_assert!(short.chars().count() <= MAX_MESSAGE_CHARS + 1);
        }
    }
}
