//! Interning of dimension strings.
//!
//! Every string an event carries (event name, host, path, referrer, UTM values,
//! browser, ...) is stored once in `dims` and referenced by its integer id. The
//! writer keeps a bounded in-memory map so that the hot path rarely touches SQL.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::StoreError;

/// What a dimension string is; stored as a small integer in `dims.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DimKind {
    /// An event name such as `pageview` or `signup`.
    EventName = 1,
    /// A page host name.
    Hostname = 2,
    /// A page path.
    Pathname = 3,
    /// A referrer source name such as `Google`.
    ReferrerSource = 4,
    /// A referrer URL (host and path).
    ReferrerUrl = 5,
    /// `utm_source`.
    UtmSource = 6,
    /// `utm_medium`.
    UtmMedium = 7,
    /// `utm_campaign`.
    UtmCampaign = 8,
    /// `utm_term`.
    UtmTerm = 9,
    /// `utm_content`.
    UtmContent = 10,
    /// A browser family.
    Browser = 11,
    /// A browser major version.
    BrowserVersion = 12,
    /// An operating system family.
    Os = 13,
    /// An operating system version.
    OsVersion = 14,
    /// An ISO 3166-1 alpha-2 country code.
    Country = 15,
    /// A custom property key.
    PropKey = 16,
    /// A custom property value.
    PropValue = 17,
    /// An ISO 4217 currency code.
    Currency = 18,
    /// A region (first subdivision) by its English name.
    Region = 19,
    /// A city by its English name.
    City = 20,
}

/// How many kinds there are; kinds are numbered from 1.
const KIND_COUNT: usize = 20;

/// The most strings kept per kind before that kind's map is cleared.
const MAX_CACHED_PER_KIND: usize = 200_000;

/// The writer's map from dimension strings to their ids.
///
/// It must be cleared when a transaction rolls back, because ids handed out in
/// that transaction no longer exist.
#[derive(Debug, Default)]
pub struct DimCache {
    maps: [HashMap<Box<str>, i64>; KIND_COUNT],
}

impl DimCache {
    /// Returns the id of `value`, inserting it into `dims` if it is new.
    pub fn intern(
        &mut self,
        conn: &Connection,
        kind: DimKind,
        value: &str,
    ) -> Result<i64, StoreError> {
        let map = &mut self.maps[kind as usize - 1];
        if let Some(&id) = map.get(value) {
            return Ok(id);
        }
        let existing = conn
            .prepare_cached("SELECT id FROM dims WHERE kind = ?1 AND value = ?2")?
            .query_row(params![kind as u8, value], |row| row.get::<_, i64>(0))
            .optional()?;
        let id = match existing {
            Some(id) => id,
            None => {
                conn.prepare_cached("INSERT INTO dims (kind, value) VALUES (?1, ?2)")?
                    .execute(params![kind as u8, value])?;
                conn.last_insert_rowid()
            }
        };
        if map.len() >= MAX_CACHED_PER_KIND {
            map.clear();
        }
        map.insert(value.into(), id);
        Ok(id)
    }

    /// Interns an optional value; `None` stays `None`.
    pub fn intern_opt(
        &mut self,
        conn: &Connection,
        kind: DimKind,
        value: Option<&str>,
    ) -> Result<Option<i64>, StoreError> {
        value.map(|v| self.intern(conn, kind, v)).transpose()
    }

    /// Forgets every cached id (after a rollback).
    pub fn clear(&mut self) {
        for map in &mut self.maps {
            map.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_is_stable_and_kinds_are_separate() {
        let conn = crate::schema::migrated_in_memory();
        let mut cache = DimCache::default();
        let a = cache.intern(&conn, DimKind::Pathname, "/a").unwrap();
        assert_eq!(cache.intern(&conn, DimKind::Pathname, "/a").unwrap(), a);
        let b = cache.intern(&conn, DimKind::Browser, "/a").unwrap();
        assert_ne!(a, b);
        cache.clear();
        assert_eq!(cache.intern(&conn, DimKind::Pathname, "/a").unwrap(), a);
        assert_eq!(cache.intern_opt(&conn, DimKind::Os, None).unwrap(), None);
    }
}
