//! Timestamps as logs write them: the Common Log Format's
//! `10/Oct/2000:13:55:36 -0700`, RFC 3339 (`2000-10-10T20:55:36Z`, with any
//! offset and fraction), a date and a time in UTC (`2000-10-10` and
//! `20:55:36`), and Unix time in seconds (with a fraction) or milliseconds.

use super::LineError;

/// Milliseconds since the epoch of a Common Log Format time (without the
/// brackets).
pub(crate) fn parse_clf(value: &str) -> Result<i64, LineError> {
    let bad = || LineError::field("time", value);
    let b = value.as_bytes();
    // dd/Mon/yyyy:HH:MM:SS +hhmm
    if b.len() != 26 || b[2] != b'/' || b[6] != b'/' || b[11] != b':' || b[20] != b' ' {
        return Err(bad());
    }
    let day = digits(&b[0..2]).ok_or_else(bad)?;
    let month = month_number(&b[3..6]).ok_or_else(bad)?;
    let year = digits(&b[7..11]).ok_or_else(bad)?;
    let (hour, minute, second) = clock(&b[12..20]).ok_or_else(bad)?;
    let offset_minutes = offset(&b[21..26]).ok_or_else(bad)?;
    let local = civil_ms(year, month, day, hour, minute, second).ok_or_else(bad)?;
    Ok(local - offset_minutes * 60_000)
}

/// Milliseconds since the epoch of an RFC 3339 time (`T` or a space between
/// date and time).
pub(crate) fn parse_rfc3339(value: &str) -> Result<i64, LineError> {
    let normalized;
    let text = if value.as_bytes().get(10) == Some(&b' ') {
        normalized = value.replacen(' ', "T", 1);
        normalized.as_str()
    } else {
        value
    };
    text.parse::<jiff::Timestamp>()
        .map(|t| t.as_millisecond())
        .map_err(|_| LineError::field("time", value))
}

/// Milliseconds since the epoch of a UTC date (`2000-10-10`) and time
/// (`20:55:36`, a fraction of a second is dropped).
pub(crate) fn parse_date_time(date: &str, time: &str) -> Result<i64, LineError> {
    let bad = || LineError::field("time", &format!("{date} {time}"));
    let d = date.as_bytes();
    if d.len() != 10 || d[4] != b'-' || d[7] != b'-' {
        return Err(bad());
    }
    let year = digits(&d[0..4]).ok_or_else(bad)?;
    let month = digits(&d[5..7]).ok_or_else(bad)?;
    let day = digits(&d[8..10]).ok_or_else(bad)?;
    let t = time.as_bytes();
    let (hour, minute, second) = clock(t.get(0..8).ok_or_else(bad)?).ok_or_else(bad)?;
    civil_ms(year, month, day, hour, minute, second).ok_or_else(bad)
}

/// Milliseconds since the epoch of Unix time written in seconds (`1507167062`
/// or `1646861401.5241024`) or, with 13 digits or more, in milliseconds.
pub(crate) fn parse_unix(value: &str) -> Result<i64, LineError> {
    let bad = || LineError::field("time", value);
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || whole.len() > 16 {
        return Err(bad());
    }
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let number: i64 = whole.parse().map_err(|_| bad())?;
    if whole.len() >= 13 {
        return Ok(number);
    }
    let millis = fraction
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .fold(0i64, |acc, digit| acc * 10 + i64::from(digit - b'0'));
    Ok(number * 1000 + millis)
}

/// The value of ASCII digits.
fn digits(bytes: &[u8]) -> Option<i64> {
    bytes.iter().try_fold(0i64, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + i64::from(b - b'0'))
    })
}

/// `HH:MM:SS`.
fn clock(b: &[u8]) -> Option<(i64, i64, i64)> {
    if b.len() != 8 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    let (hour, minute, second) = (digits(&b[0..2])?, digits(&b[3..5])?, digits(&b[6..8])?);
    // A leap second (:60) is read as the next second.
    (hour < 24 && minute < 60 && second <= 60).then_some((hour, minute, second))
}

/// `+hhmm` or `-hhmm` in minutes east of UTC.
fn offset(b: &[u8]) -> Option<i64> {
    let sign = match b.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (hours, minutes) = (digits(b.get(1..3)?)?, digits(b.get(3..5)?)?);
    (hours < 24 && minutes < 60).then_some(sign * (hours * 60 + minutes))
}

/// The month number of an English three-letter month name.
fn month_number(name: &[u8]) -> Option<i64> {
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    MONTHS
        .iter()
        .position(|month| month.eq_ignore_ascii_case(name))
        .map(|index| index as i64 + 1)
}

/// Milliseconds since the epoch of a UTC calendar time; `None` for a day
/// that does not exist (`31/Feb`) or a year outside 1970..=9999.
fn civil_ms(year: i64, month: i64, day: i64, hour: i64, minute: i64, second: i64) -> Option<i64> {
    if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) || day < 1 {
        return None;
    }
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if day > month_days[(month - 1) as usize] {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clf_times_are_read_with_their_offset() {
        // 2000-10-10T20:55:36Z.
        assert_eq!(parse_clf("10/Oct/2000:13:55:36 -0700"), Ok(971_211_336_000));
        assert_eq!(parse_clf("10/Oct/2000:20:55:36 +0000"), Ok(971_211_336_000));
        assert_eq!(parse_clf("11/oct/2000:02:25:36 +0530"), Ok(971_211_336_000));
        assert_eq!(
            parse_clf("29/Feb/2024:00:00:00 +0000"),
            Ok(1_709_164_800_000)
        );
        for bad in [
            "31/Feb/2024:00:00:00 +0000",
            "29/Feb/2023:00:00:00 +0000",
            "10/Oct/2000:24:00:00 +0000",
            "10/Foo/2000:13:55:36 -0700",
            "10/Oct/2000:13:55:36 0700",
            "10/Oct/2000 13:55:36 -0700",
            "1/Oct/2000:13:55:36 -0700",
            "",
        ] {
            assert!(parse_clf(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn other_time_shapes_are_read() {
        assert_eq!(parse_rfc3339("2000-10-10T20:55:36Z"), Ok(971_211_336_000));
        assert_eq!(
            parse_rfc3339("2000-10-10 22:55:36.250+02:00"),
            Ok(971_211_336_250)
        );
        assert_eq!(
            parse_date_time("2000-10-10", "20:55:36"),
            Ok(971_211_336_000)
        );
        assert_eq!(parse_unix("971211336"), Ok(971_211_336_000));
        assert_eq!(parse_unix("971211336.5241"), Ok(971_211_336_524));
        assert_eq!(parse_unix("1507167062421"), Ok(1_507_167_062_421));
        for bad in ["", "-1", "1e9", "12.x", "٣"] {
            assert!(parse_unix(bad).is_err(), "{bad}");
        }
        assert!(parse_date_time("2000-13-10", "20:55:36").is_err());
        assert!(parse_date_time("2000-10-10", "20:55").is_err());
        assert!(parse_rfc3339("yesterday").is_err());
    }
}
