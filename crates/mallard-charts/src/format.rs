//! Text formatting for charts: thousands separators, bucket dates and the
//! cleaning of labels that come from user data.

use time::PrimitiveDateTime;

/// The character that replaces anything XML 1.0 cannot carry or a label should
/// not contain (control characters, non-characters).
const REPLACEMENT: char = '\u{FFFD}';

/// English month abbreviations, January first.
const MONTHS_SHORT: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// English month names, January first.
const MONTHS_LONG: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Formats a count with comma thousands separators: `1234567` becomes
/// `"1,234,567"`.
pub(crate) fn thousands(value: u128) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// The short month name of a date-time, e.g. `"Nov"`.
fn month_short(at: PrimitiveDateTime) -> &'static str {
    MONTHS_SHORT[usize::from(u8::from(at.month())) - 1]
}

/// The long month name of a date-time, e.g. `"November"`.
fn month_long(at: PrimitiveDateTime) -> &'static str {
    MONTHS_LONG[usize::from(u8::from(at.month())) - 1]
}

/// `"Nov 3"`.
pub(crate) fn month_day(at: PrimitiveDateTime) -> String {
    format!("{} {}", month_short(at), at.day())
}

/// `"Nov 3, 2026"`.
pub(crate) fn month_day_year(at: PrimitiveDateTime) -> String {
    format!("{} {}, {}", month_short(at), at.day(), at.year())
}

/// `"Nov 2026"`.
pub(crate) fn month_year_short(at: PrimitiveDateTime) -> String {
    format!("{} {}", month_short(at), at.year())
}

/// `"November 2026"`.
pub(crate) fn month_year_long(at: PrimitiveDateTime) -> String {
    format!("{} {}", month_long(at), at.year())
}

/// `"14:00"`.
pub(crate) fn hour_minute(at: PrimitiveDateTime) -> String {
    format!("{:02}:{:02}", at.hour(), at.minute())
}

/// Makes a label safe and tidy to draw: every control character (including
/// tabs and newlines) and every Unicode non-character becomes U+FFFD, so the
/// result is always valid XML 1.0 character data once escaped.
pub(crate) fn clean_label(label: &str) -> String {
    label
        .chars()
        .map(|c| {
            if c.is_control() || is_noncharacter(c) {
                REPLACEMENT
            } else {
                c
            }
        })
        .collect()
}

/// True for the Unicode non-characters (U+FDD0..=U+FDEF and the last two code
/// points of every plane), which XML forbids or discourages.
fn is_noncharacter(c: char) -> bool {
    let code = u32::from(c);
    (0xFDD0..=0xFDEF).contains(&code) || (code & 0xFFFE) == 0xFFFE
}

/// Shortens a label to at most `max_chars` characters, ending with `…` when it
/// was cut.
pub(crate) fn truncate_chars(label: &str, max_chars: usize) -> String {
    if label.chars().count() <= max_chars {
        return label.to_owned();
    }
    let mut out: String = label.chars().take(max_chars.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn thousands_groups_by_three() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(100_000), "100,000");
        assert_eq!(
            thousands(u128::from(u64::MAX)),
            "18,446,744,073,709,551,615"
        );
    }

    #[test]
    fn dates_read_like_a_person_writes_them() {
        let at = datetime!(2026-11-03 14:00);
        assert_eq!(month_day(at), "Nov 3");
        assert_eq!(month_day_year(at), "Nov 3, 2026");
        assert_eq!(month_year_short(at), "Nov 2026");
        assert_eq!(month_year_long(at), "November 2026");
        assert_eq!(hour_minute(at), "14:00");
        assert_eq!(hour_minute(datetime!(2026-01-01 05:30)), "05:30");
    }

    #[test]
    fn clean_label_replaces_controls_and_noncharacters() {
        assert_eq!(
            clean_label("/a\u{0}b\tc\nd"),
            "/a\u{FFFD}b\u{FFFD}c\u{FFFD}d"
        );
        assert_eq!(
            clean_label("x\u{FFFE}\u{FFFF}\u{1FFFF}"),
            "x\u{FFFD}\u{FFFD}\u{FFFD}"
        );
        assert_eq!(clean_label("/café/<script>"), "/café/<script>");
    }

    #[test]
    fn truncate_keeps_short_labels_and_marks_cut_ones() {
        assert_eq!(truncate_chars("/pricing", 8), "/pricing");
        assert_eq!(truncate_chars("/pricing/x", 8), "/pricin…");
        assert_eq!(truncate_chars("ééééé", 3), "éé…");
    }
}
