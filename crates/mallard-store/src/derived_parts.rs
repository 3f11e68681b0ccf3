//! The derived parts of the day segments packed before those parts existed
//! (migration-free: the parts are optional), added by the writer a few days
//! per step, and checked by `mallard check`: the code index
//! ([`crate::day_segment::code_visits`]) and the entry events
//! ([`crate::day_segment::entry_events`]).
//!
//! A segment written from now on has both; a day without the code index is
//! read by searching its visits' codes, and a day without its entry events
//! by finding the events that carry revenue or properties through its
//! steps, which give the same answers more slowly. A day indexed before the
//! index said how often a visit holds a code has it as
//! [`part::CODE_VISITS_BEFORE_REPEATS`], which is not read: the writer
//! builds such a day's index again and deletes the earlier one. Once no closed day is left to pack, the writer's
//! write-behind adds the missing parts to such days a few at a time
//! ([`fill_step`], at most [`DAYS_PER_STEP`] and about [`STEP_BUDGET`] of
//! work per step), in `(site, day)` order from where the last step stopped,
//! so that a day whose parts do not decode (left for `mallard check`) is
//! passed once per sweep instead of holding the sweep up; a sweep starts
//! again after the writer packs more days.

use rusqlite::types::Value;
use rusqlite::{Connection, params};

use crate::day_segment::{self, Damaged, code_visits, entry_events, part};
use crate::error::StoreError;
use crate::visit_days::DAY_MS;
use crate::visit_record::Columns;

/// Days filled per writer step, at most.
const DAYS_PER_STEP: usize = 8;

/// A step fills no more days once this long has passed (a day of a site
/// with 100M events a year takes about 20 ms), so that the writer never
/// holds up ingestion for long.
const STEP_BUDGET: std::time::Duration = std::time::Duration::from_millis(30);

/// The gauge of whether the writer is adding derived parts (code indexes,
/// entry events) to older days.
pub const BUILDING_GAUGE: &str = "mallard_code_indexes_building";

/// Where [`fill_step`] goes on from: the last `(site, day)` it visited.
pub(crate) type FillCursor = Option<(i64, i64)>;

/// The derived part `id` ([`part::DERIVED`]) of `site`'s `day` built from
/// the day's other parts (unsealed); `Damaged` when those fail their
/// checksums or do not decode.
fn build_for(
    conn: &Connection,
    site: i64,
    day: i64,
    id: i64,
) -> Result<Result<Vec<u8>, Damaged>, StoreError> {
    // The code index comes from the steps (and the visit count), the entry
    // events from the visits with their events.
    let columns = if id == part::ENTRY_EVENTS {
        entry_events::build_columns()
    } else {
        Columns {
            events: true,
            ..Columns::default()
        }
    };
    let wanted = day_segment::parts_for(columns);
    let loaded = match crate::segment_fold::load_parts(conn, site, day, wanted) {
        Ok(Some(loaded)) => loaded,
        Ok(None) | Err(StoreError::DamagedSegment { .. }) => return Ok(Err(Damaged)),
        Err(other) => return Err(other),
    };
    let parts = day_segment::borrow_parts(&loaded);
    Ok(if id == part::ENTRY_EVENTS {
        entry_events::build(day * DAY_MS, &parts)
    } else {
        let (starts, steps) = (parts[part::STARTS as usize], parts[part::STEPS as usize]);
        starts
            .zip(steps)
            .ok_or(Damaged)
            .and_then(|(starts, steps)| {
                day_segment::visit_count(starts).and_then(|count| code_visits::build(steps, count))
            })
    })
}

/// What a derived part is, for the log.
fn described(id: i64) -> &'static str {
    if id == part::ENTRY_EVENTS {
        "entry events"
    } else {
        "code index"
    }
}

/// What `mallard check` says of a derived part `id` that fails its
/// checksum (`damaged`) or differs from the one the day's other parts give.
fn wrong(id: i64, damaged: bool) -> &'static str {
    match (id == part::ENTRY_EVENTS, damaged) {
        (true, true) => "the entry events fail their checksum",
        (true, false) => "the entry events differ from the day's events",
        (false, true) => "the code index fails its checksum",
        (false, false) => "the code index differs from the day's steps",
    }
}

/// Adds the missing derived parts to the packed days after `cursor` that
/// lack one, up to [`DAYS_PER_STEP`] of them and until [`STEP_BUDGET`] is
/// spent, moving `cursor` past them; `false` (and the cursor back to the
/// start) when there was none left. Runs in the writer's transaction.
pub(crate) fn fill_step(conn: &Connection, cursor: &mut FillCursor) -> Result<bool, StoreError> {
    let (after_site, after_day) = cursor.unwrap_or((i64::MIN, i64::MIN));
    let [first_derived, second_derived] = part::DERIVED;
    let days: Vec<(i64, i64)> = conn
        .prepare_cached(
            "SELECT m.site_id, m.day FROM day_segments m WHERE m.part = ?1 \
             AND (m.site_id, m.day) > (?2, ?3) AND (SELECT count(*) FROM day_segments c \
             WHERE c.site_id = m.site_id AND c.day = m.day AND c.part IN (?4, ?5)) < 2 \
             ORDER BY m.site_id, m.day LIMIT ?6",
        )?
        .query_map(
            params![
                part::MARKER,
                after_site,
                after_day,
                first_derived,
                second_derived,
                DAYS_PER_STEP as i64
            ],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?
        .collect::<Result<_, _>>()?;
    if days.is_empty() {
        *cursor = None;
        metrics::gauge!(BUILDING_GAUGE).set(0.0);
        return Ok(false);
    }
    let began = std::time::Instant::now();
    let mut built = 0;
    let mut stored = conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM day_segments WHERE site_id = ?1 AND day = ?2 \
         AND part = ?3)",
    )?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO day_segments (site_id, day, part, data) VALUES (?1, ?2, ?3, ?4)",
    )?;
    let mut forget_earlier = conn
        .prepare_cached("DELETE FROM day_segments WHERE site_id = ?1 AND day = ?2 AND part = ?3")?;
    for (site, day) in days {
        *cursor = Some((site, day));
        for id in part::DERIVED {
            if stored.query_row(params![site, day, id], |r| r.get::<_, bool>(0))? {
                continue;
            }
            match build_for(conn, site, day, id)? {
                Ok(bytes) => {
                    insert.execute(params![site, day, id, day_segment::seal(bytes)])?;
                    if id == part::CODE_VISITS {
                        // The index in its earlier form, if the day has
                        // it, is replaced.
                        forget_earlier.execute(params![
                            site,
                            day,
                            part::CODE_VISITS_BEFORE_REPEATS
                        ])?;
                    }
                }
                Err(Damaged) => tracing::warn!(
                    site_id = site,
                    day,
                    part = described(id),
                    "a day segment's parts do not decode: a derived part is not built \
                     (`mallard check` reports the day)"
                ),
            }
        }
        built += 1;
        if began.elapsed() >= STEP_BUDGET {
            break;
        }
    }
    tracing::debug!(
        days = built,
        elapsed_ms = began.elapsed().as_secs_f64() * 1000.0,
        "built derived parts"
    );
    metrics::gauge!(BUILDING_GAUGE).set(1.0);
    Ok(true)
}

/// Adds every missing derived part, a writer job at a time; returns how many
/// steps it took (for tests and benchmarks, which do not wait for the
/// writer's write-behind to get to them).
pub fn fill_blocking(writer: &crate::WriterHandle) -> Result<u64, StoreError> {
    let mut cursor: FillCursor = None;
    let mut steps = 0;
    loop {
        let (more, next) = writer.run_blocking(move |conn| {
            let mut cursor = cursor;
            let more = fill_step(conn, &mut cursor)?;
            Ok((more, cursor))
        })?;
        if !more {
            return Ok(steps);
        }
        cursor = next;
        steps += 1;
    }
}

/// Deletes every derived part (for `mallard check --repair`: the writer
/// builds them again); returns how many there were.
pub fn forget_all(conn: &Connection) -> Result<usize, StoreError> {
    let [first_derived, second_derived] = part::DERIVED;
    Ok(conn.execute(
        "DELETE FROM day_segments WHERE part IN (?1, ?2, ?3)",
        params![
            first_derived,
            second_derived,
            part::CODE_VISITS_BEFORE_REPEATS
        ],
    )?)
}

/// The days whose derived parts fail their checksums or differ from those
/// the other parts give, one line per day and part (for `mallard check`;
/// reads only). A day whose other parts are damaged is
/// [`crate::segment_fold::damaged_segments`]'s.
pub fn differences(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let mut lines = Vec::new();
    for id in part::DERIVED {
        let days: Vec<(i64, i64, Value)> = conn
            .prepare_cached(
                "SELECT site_id, day, data FROM day_segments WHERE part = ?1 \
                 ORDER BY site_id, day",
            )?
            .query_map(params![id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?;
        for (site, day, stored) in days {
            let Ok(built) = build_for(conn, site, day, id)? else {
                continue;
            };
            let stored = match &stored {
                Value::Blob(bytes) => day_segment::unseal(bytes),
                _ => Err(Damaged),
            };
            let damaged = match stored {
                Ok(bytes) if bytes == built.as_slice() => continue,
                Ok(_) => false,
                Err(Damaged) => true,
            };
            lines.push(format!(
                "site {site}, day {} (UTC): {}",
                crate::error::utc_date(day),
                wrong(id, damaged)
            ));
        }
    }
    Ok(lines)
}

#[cfg(test)]
mod tests;
