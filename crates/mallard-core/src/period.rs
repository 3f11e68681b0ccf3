//! Periods, date ranges, time buckets and site time zones of stats queries.
//!
//! All calendar arithmetic of the stats API works on *local day numbers*: the
//! number of days from 1970-01-01 to a civil date in the site's time zone, and on
//! *local hour numbers* (`day * 24 + hour`). An instant belongs to the local day
//! and hour that a wall clock in the site's time zone shows at that instant, so
//! "today" and every bucket follow the site's calendar, daylight saving included:
//! on the day clocks go back one local hour holds two real hours, and on the day
//! they go forward one local hour holds none.
//!
//! Time zone rules come from the IANA database bundled into the binary (jiff's
//! `tzdb-bundle-always`), so they work offline and identically on every OS.

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::error::CoreError;

/// Milliseconds in a day of 24 hours.
pub const MS_PER_DAY: i64 = 86_400_000;
/// Milliseconds in an hour.
pub const MS_PER_HOUR: i64 = 3_600_000;
/// The longest custom range, in days.
pub const MAX_CUSTOM_DAYS: i64 = 366;
/// The most buckets one time series may have.
pub const MAX_BUCKETS: usize = 10_000;
/// The largest UTC offset any zone ever had, with a margin, in milliseconds. A
/// local day `d` lies entirely within `[d * MS_PER_DAY - MAX_OFFSET_MS,
/// (d + 1) * MS_PER_DAY + MAX_OFFSET_MS)` of UTC time.
pub const MAX_OFFSET_MS: i64 = 26 * MS_PER_HOUR;

/// The time zone of a site, which defines its days and hours.
#[derive(Debug, Clone)]
pub struct SiteTimeZone {
    tz: TimeZone,
    name: String,
    /// The offset in seconds of a zone whose offset never changes (UTC and
    /// fixed offsets): the local clock without a lookup per instant.
    fixed_offset: Option<i64>,
}

impl SiteTimeZone {
    /// Coordinated Universal Time, the default of every site.
    pub fn utc() -> Self {
        Self {
            tz: TimeZone::UTC,
            name: "UTC".into(),
            fixed_offset: Some(0),
        }
    }

    /// Looks up an IANA time zone name such as `Europe/Berlin`.
    pub fn parse(name: &str) -> Result<Self, CoreError> {
        let name = name.trim();
        if name.is_empty() || name.len() > 64 {
            return Err(CoreError::InvalidTimeZone(format!("{name:?}")));
        }
        let tz = TimeZone::get(name).map_err(|_| {
            CoreError::InvalidTimeZone(format!("{name:?} is not a known time zone"))
        })?;
        // A zone without transitions (UTC, Etc/GMT-3) has one offset.
        let fixed_offset = tz
            .to_fixed_offset()
            .ok()
            .or_else(|| {
                let now = Timestamp::now();
                let first = tz.preceding(now).next().is_none();
                let last = tz.following(now).next().is_none();
                (first && last).then(|| tz.to_offset(now))
            })
            .map(|offset| i64::from(offset.seconds()));
        Ok(Self {
            tz,
            name: name.to_owned(),
            fixed_offset,
        })
    }

    /// The offset in ms of a zone whose offset never changes (UTC, fixed
    /// offsets); `None` for zones with transitions.
    #[inline]
    pub fn fixed_offset_ms(&self) -> Option<i64> {
        self.fixed_offset.map(|seconds| seconds * 1_000)
    }

    /// The zone's name as given.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Seconds since 1970-01-01T00:00 on the site's wall clock at `ts_ms`.
    #[inline]
    fn local_seconds(&self, ts_ms: i64) -> i64 {
        let secs = ts_ms.div_euclid(1000);
        if let Some(offset) = self.fixed_offset {
            return secs.saturating_add(offset);
        }
        let clamped = secs.clamp(Timestamp::MIN.as_second(), Timestamp::MAX.as_second());
        let offset = Timestamp::from_second(clamped)
            .map(|ts| i64::from(self.tz.to_offset(ts).seconds()))
            .unwrap_or(0);
        secs + offset
    }

    /// The local day number of the instant `ts_ms` (ms since the epoch).
    pub fn local_day(&self, ts_ms: i64) -> i64 {
        self.local_seconds(ts_ms).div_euclid(86_400)
    }

    /// The local hour number (`day * 24 + hour`) of the instant `ts_ms`.
    pub fn local_hour(&self, ts_ms: i64) -> i64 {
        self.local_seconds(ts_ms).div_euclid(3_600)
    }

    /// The first instant (ms since the epoch) of local day `day`: midnight on
    /// the site's wall clock, or the first instant after a gap when clocks
    /// jump over midnight. Days outside jiff's range fall back to UTC midnight.
    pub fn day_start_ms(&self, day: i64) -> i64 {
        let (y, m, d) = civil_from_day(day);
        let zoned = i16::try_from(y).ok().and_then(|y| {
            jiff::civil::Date::new(y, m as i8, d as i8)
                .ok()?
                .to_zoned(self.tz.clone())
                .ok()
        });
        zoned.map_or(day * MS_PER_DAY, |z| z.timestamp().as_millisecond())
    }
}

impl Default for SiteTimeZone {
    fn default() -> Self {
        Self::utc()
    }
}

/// The day number of a civil date (days since 1970-01-01, proleptic Gregorian).
pub fn day_from_civil(year: i64, month: u32, day: u32) -> i64 {
    // Howard Hinnant's days_from_civil.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date `(year, month, day)` of a day number.
pub fn civil_from_day(day_number: i64) -> (i64, u32, u32) {
    let z = day_number + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Parses a `YYYY-MM-DD` date into its day number; nothing else is accepted.
pub fn parse_date(raw: &str) -> Option<i64> {
    let bytes = raw.as_bytes();
    let shape_ok = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
    if !shape_ok {
        return None;
    }
    let year: i64 = raw[0..4].parse().ok()?;
    let month: u32 = raw[5..7].parse().ok()?;
    let day: u32 = raw[8..10].parse().ok()?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    Some(day_from_civil(year, month, day))
}

/// Formats a day number as `YYYY-MM-DD`.
pub fn format_date(day_number: i64) -> String {
    let (y, m, d) = civil_from_day(day_number);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Formats a local hour number as `YYYY-MM-DD HH:00`.
pub fn format_hour(hour_number: i64) -> String {
    let day = hour_number.div_euclid(24);
    format!("{} {:02}:00", format_date(day), hour_number.rem_euclid(24))
}

/// A half-open range of local days, `start..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DayRange {
    /// The first day.
    pub start: i64,
    /// The day after the last day.
    pub end: i64,
}

impl DayRange {
    /// How many days the range holds.
    pub fn days(&self) -> i64 {
        (self.end - self.start).max(0)
    }

    /// The range of the same length right before this one.
    pub fn previous(&self) -> DayRange {
        DayRange {
            start: self.start - self.days(),
            end: self.start,
        }
    }

    /// Whether `day` lies in the range.
    pub fn contains(&self, day: i64) -> bool {
        self.start <= day && day < self.end
    }
}

/// The period of a stats query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Period {
    /// The current local day (`day`).
    Day,
    /// The current local day (`today`).
    Today,
    /// The last `n` days, today included (`7d`, `30d`, `90d`).
    LastDays(i64),
    /// The last twelve months, today included (`12mo`).
    TwelveMonths,
    /// Everything from the site's first event until today (`all`).
    All,
    /// `start_date` (inclusive) to `end_date` (exclusive).
    Custom(DayRange),
}

impl Period {
    /// Reads the period from the query parameters `period`, `start_date` and
    /// `end_date`. Dates, when given, win over `period` (which may then be
    /// omitted or `custom`); they must be given together, as `YYYY-MM-DD`, with
    /// `end_date >= start_date` and at most 366 days apart.
    pub fn parse(
        period: Option<&str>,
        start_date: Option<&str>,
        end_date: Option<&str>,
    ) -> Result<Self, CoreError> {
        let bad = |msg: &str| Err(CoreError::InvalidPeriod(msg.to_owned()));
        match (start_date, end_date) {
            (Some(start), Some(end)) => {
                let Some(start) = parse_date(start) else {
                    return bad("start_date must be a date written YYYY-MM-DD");
                };
                let Some(end) = parse_date(end) else {
                    return bad("end_date must be a date written YYYY-MM-DD");
                };
                if end < start {
                    return bad("end_date must not be before start_date");
                }
                if end - start > MAX_CUSTOM_DAYS {
                    return bad("start_date and end_date may be at most 366 days apart");
                }
                match period {
                    None | Some("custom") => Ok(Self::Custom(DayRange { start, end })),
                    Some(_) => bad("period must be custom (or omitted) when dates are given"),
                }
            }
            (Some(_), None) | (None, Some(_)) => {
                bad("start_date and end_date must be given together")
            }
            (None, None) => match period.unwrap_or("30d") {
                "day" => Ok(Self::Day),
                "today" => Ok(Self::Today),
                "7d" => Ok(Self::LastDays(7)),
                "30d" => Ok(Self::LastDays(30)),
                "90d" => Ok(Self::LastDays(90)),
                "12mo" => Ok(Self::TwelveMonths),
                "all" => Ok(Self::All),
                "custom" => bad("period custom needs start_date and end_date"),
                _ => bad("period must be one of day, today, 7d, 30d, 90d, 12mo, all, custom"),
            },
        }
    }

    /// The days this period covers when the local date is `today` and the site's
    /// first event fell on `first_day`.
    pub fn resolve(&self, today: i64, first_day: Option<i64>) -> DayRange {
        match *self {
            Self::Day | Self::Today => DayRange {
                start: today,
                end: today + 1,
            },
            Self::LastDays(n) => DayRange {
                start: today + 1 - n,
                end: today + 1,
            },
            Self::TwelveMonths => {
                let (y, m, d) = civil_from_day(today);
                let start = day_from_civil(y - 1, m, d.min(days_in_month(y - 1, m))) + 1;
                DayRange {
                    start,
                    end: today + 1,
                }
            }
            Self::All => DayRange {
                start: first_day.unwrap_or(today).min(today),
                end: today + 1,
            },
            Self::Custom(range) => range,
        }
    }

    /// The time-series interval used when none is asked for: hourly for a
    /// single day, daily otherwise.
    pub fn default_interval(&self) -> Interval {
        match self {
            Self::Day | Self::Today => Interval::Hour,
            _ => Interval::Day,
        }
    }
}

/// The width of time-series buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Interval {
    /// Local hours.
    Hour,
    /// Local days.
    Day,
    /// Weeks starting on Monday.
    Week,
    /// Calendar months.
    Month,
}

impl Interval {
    /// Parses `hour`, `day`, `week` or `month`.
    pub fn parse(raw: &str) -> Result<Self, CoreError> {
        match raw {
            "hour" => Ok(Self::Hour),
            "day" => Ok(Self::Day),
            "week" => Ok(Self::Week),
            "month" => Ok(Self::Month),
            _ => Err(CoreError::InvalidPeriod(
                "interval must be one of hour, day, week, month".into(),
            )),
        }
    }

    /// The name used in query strings.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hour => "hour",
            Self::Day => "day",
            Self::Week => "week",
            Self::Month => "month",
        }
    }

    /// The first day of the day-sized (or larger) bucket holding `day`. For
    /// [`Interval::Hour`] this is the day itself.
    pub fn bucket_start_day(self, day: i64) -> i64 {
        match self {
            Self::Hour | Self::Day => day,
            // 1970-01-01 was a Thursday: day 0 is three days after a Monday.
            Self::Week => day - (day + 3).rem_euclid(7),
            Self::Month => {
                let (y, m, _) = civil_from_day(day);
                day_from_civil(y, m, 1)
            }
        }
    }

    /// The bucket keys covering `range`, in order: local hour numbers for
    /// [`Interval::Hour`], otherwise the first day of each bucket (clipped to
    /// nothing: a week bucket is keyed by its Monday even when the range starts
    /// later). Fails when there would be more than [`MAX_BUCKETS`].
    pub fn buckets(self, range: DayRange) -> Result<Vec<i64>, CoreError> {
        let too_many = || {
            CoreError::InvalidPeriod(format!(
                "the period holds more than {MAX_BUCKETS} {} buckets; choose a larger interval",
                self.as_str()
            ))
        };
        if range.days() == 0 {
            return Ok(Vec::new());
        }
        match self {
            Self::Hour => {
                let count = usize::try_from(range.days() * 24).map_err(|_| too_many())?;
                if count > MAX_BUCKETS {
                    return Err(too_many());
                }
                Ok((range.start * 24..range.end * 24).collect())
            }
            _ => {
                let mut keys = Vec::new();
                let mut day = range.start;
                while day < range.end {
                    let key = self.bucket_start_day(day);
                    if keys.last() != Some(&key) {
                        if keys.len() == MAX_BUCKETS {
                            return Err(too_many());
                        }
                        keys.push(key);
                    }
                    day += 1;
                }
                Ok(keys)
            }
        }
    }

    /// The label of a bucket key: `YYYY-MM-DD HH:00` for hours, `YYYY-MM-DD`
    /// (the bucket's first day) otherwise.
    pub fn label(self, key: i64) -> String {
        match self {
            Self::Hour => format_hour(key),
            _ => format_date(key),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn dates_round_trip_and_junk_is_refused() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2024-02-29"), Some(19_782));
        assert_eq!(format_date(19_782), "2024-02-29");
        for junk in [
            "2023-02-29",
            "2024-13-01",
            "2024-1-01",
            "20240101",
            "2024-01-01T00:00",
            "",
            "abcd-ef-gh",
            "2024-00-10",
            "+024-01-01",
        ] {
            assert_eq!(parse_date(junk), None, "{junk}");
        }
        assert_eq!(format_hour(19_782 * 24 + 13), "2024-02-29 13:00");
    }

    #[test]
    fn periods_parse_and_resolve() {
        let today = parse_date("2024-03-10").unwrap();
        let p = |s| {
            Period::parse(Some(s), None, None)
                .unwrap()
                .resolve(today, None)
        };
        assert_eq!(p("today").days(), 1);
        assert_eq!(p("day").start, today);
        assert_eq!(
            p("7d"),
            DayRange {
                start: today - 6,
                end: today + 1
            }
        );
        assert_eq!(p("30d").days(), 30);
        assert_eq!(p("90d").days(), 90);
        assert_eq!(format_date(p("12mo").start), "2023-03-11");
        assert_eq!(p("12mo").end, today + 1);
        let all = Period::parse(Some("all"), None, None).unwrap();
        assert_eq!(all.resolve(today, Some(today - 500)).days(), 501);
        assert_eq!(all.resolve(today, None).days(), 1);
        assert!(Period::parse(Some("1y"), None, None).is_err());
        assert!(Period::parse(Some("custom"), None, None).is_err());
        assert_eq!(
            Period::parse(None, None, None).unwrap(),
            Period::LastDays(30)
        );
    }

    #[test]
    fn custom_ranges_are_validated() {
        let ok = Period::parse(None, Some("2024-01-01"), Some("2024-01-02")).unwrap();
        assert_eq!(ok.resolve(0, None).days(), 1);
        assert!(Period::parse(Some("custom"), Some("2024-01-01"), Some("2024-01-01")).is_ok());
        assert!(Period::parse(None, Some("2024-01-02"), Some("2024-01-01")).is_err());
        assert!(Period::parse(None, Some("2024-01-01"), None).is_err());
        assert!(Period::parse(None, None, Some("2024-01-01")).is_err());
        assert!(Period::parse(None, Some("2024-01-01"), Some("2025-01-01")).is_ok());
        assert!(Period::parse(None, Some("2024-01-01"), Some("2025-01-02")).is_err());
        assert!(Period::parse(Some("7d"), Some("2024-01-01"), Some("2024-01-02")).is_err());
        assert!(Period::parse(None, Some("2024-1-1"), Some("2024-01-02")).is_err());
    }

    #[test]
    fn buckets_cover_the_range() {
        let start = parse_date("2024-01-30").unwrap();
        let range = DayRange {
            start,
            end: start + 5,
        };
        assert_eq!(Interval::Hour.buckets(range).unwrap().len(), 120);
        assert_eq!(Interval::Day.buckets(range).unwrap().len(), 5);
        let months = Interval::Month.buckets(range).unwrap();
        assert_eq!(
            months.iter().map(|d| format_date(*d)).collect::<Vec<_>>(),
            ["2024-01-01", "2024-02-01"]
        );
        let weeks = Interval::Week
            .buckets(DayRange {
                start,
                end: start + 10,
            })
            .unwrap();
        assert_eq!(weeks.len(), 2);
        assert_eq!(format_date(weeks[0]), "2024-01-29");
        assert_eq!(format_date(weeks[1]), "2024-02-05");
        let long = DayRange {
            start: 0,
            end: 20_000,
        };
        assert!(Interval::Hour.buckets(long).is_err());
        assert!(Interval::Day.buckets(long).is_err());
        assert!(Interval::Month.buckets(long).is_ok());
        assert!(Interval::parse("minute").is_err());
    }

    #[test]
    fn day_starts_are_the_first_instants_of_local_days() {
        for zone in [
            "UTC",
            "Europe/Berlin",
            "America/New_York",
            "Asia/Kolkata",
            "America/Havana",
        ] {
            let tz = SiteTimeZone::parse(zone).unwrap();
            for day in [19_000, 19_813, 19_814, 19_815, 20_030, 20_031] {
                let start = tz.day_start_ms(day);
                assert_eq!(tz.local_day(start), day, "{zone} {day}");
                assert_eq!(tz.local_day(start - 1), day - 1, "{zone} {day}");
            }
        }
    }

    #[test]
    fn fixed_offset_zones_take_the_short_way_to_the_same_clock() {
        let utc = SiteTimeZone::utc();
        let etc = SiteTimeZone::parse("Etc/GMT-3").unwrap();
        let berlin = SiteTimeZone::parse("Europe/Berlin").unwrap();
        assert_eq!(utc.fixed_offset, Some(0));
        assert_eq!(etc.fixed_offset, Some(3 * 3_600));
        assert_eq!(berlin.fixed_offset, None);
        assert_eq!(etc.fixed_offset_ms(), Some(10_800_000));
        for ts in [-86_400_001, 0, 1_700_000_000_000, 1_711_846_800_000] {
            assert_eq!(utc.local_hour(ts), ts.div_euclid(3_600_000));
            assert_eq!(etc.local_hour(ts), ts.div_euclid(3_600_000) + 3);
        }
    }

    #[test]
    fn local_days_follow_the_site_time_zone() {
        let utc = SiteTimeZone::utc();
        let ts = 1_700_000_000_000; // 2023-11-14 22:13:20 UTC
        assert_eq!(format_date(utc.local_day(ts)), "2023-11-14");
        let berlin = SiteTimeZone::parse("Europe/Berlin").unwrap();
        assert_eq!(format_date(berlin.local_day(ts)), "2023-11-14");
        assert_eq!(berlin.local_hour(ts).rem_euclid(24), 23);
        let tokyo = SiteTimeZone::parse("Asia/Tokyo").unwrap();
        assert_eq!(format_date(tokyo.local_day(ts)), "2023-11-15");
        let kolkata = SiteTimeZone::parse("Asia/Kolkata").unwrap();
        assert_eq!(format_hour(kolkata.local_hour(ts)), "2023-11-15 03:00");
        // Spring forward in Berlin: 2024-03-31 02:00 local does not exist.
        let before = 1_711_846_800_000 - 1; // 00:59:59.999 UTC = 01:59:59 CET
        assert_eq!(format_hour(berlin.local_hour(before)), "2024-03-31 01:00");
        assert_eq!(
            format_hour(berlin.local_hour(before + 1)),
            "2024-03-31 03:00"
        );
        assert!(SiteTimeZone::parse("Mars/Olympus").is_err());
        assert!(SiteTimeZone::parse("").is_err());
    }

    proptest! {
        #[test]
        fn civil_conversion_round_trips(day in -800_000i64..800_000) {
            let (y, m, d) = civil_from_day(day);
            prop_assert_eq!(day_from_civil(y, m, d), day);
            if (0..=9999).contains(&y) {
                prop_assert_eq!(parse_date(&format_date(day)), Some(day));
            }
        }

        #[test]
        fn week_and_month_buckets_start_on_mondays_and_firsts(day in -100_000i64..100_000) {
            let week = Interval::Week.bucket_start_day(day);
            prop_assert!(week <= day && day - week < 7);
            prop_assert_eq!((week + 3).rem_euclid(7), 0);
            let month = Interval::Month.bucket_start_day(day);
            prop_assert_eq!(civil_from_day(month).2, 1);
            prop_assert!(month <= day && day - month < 31);
        }
    }
}
