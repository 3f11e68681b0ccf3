//! Annotations of a site (migration 020): dated notes, listed for a range
//! of the site's local dates, added, changed and deleted through the
//! writer. The charts draw them as markers; the exports list them.

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::StoreError;
use crate::reader::ReadConn;

/// A stored annotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation {
    /// Its id.
    pub id: i64,
    /// The site's local date it is about, `YYYY-MM-DD`.
    pub date: String,
    /// The note.
    pub text: String,
    /// When it was added (ms).
    pub created_at_ms: i64,
}

fn annotation_of(row: &rusqlite::Row<'_>) -> rusqlite::Result<Annotation> {
    Ok(Annotation {
        id: row.get(0)?,
        date: row.get(1)?,
        text: row.get(2)?,
        created_at_ms: row.get(3)?,
    })
}

/// The annotations of site `domain` dated from `from` to `to` (both
/// included, `YYYY-MM-DD`; `None`: unbounded), by date then id. None for a
/// site that is not stored.
pub fn list(
    conn: &Connection,
    domain: &str,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<Vec<Annotation>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT a.id, a.day, a.text, a.created_at FROM annotations a \
         JOIN sites s ON s.id = a.site_id WHERE s.domain = ?1 \
         AND a.day >= coalesce(?2, a.day) AND a.day <= coalesce(?3, a.day) \
         ORDER BY a.day, a.id",
    )?;
    let notes = stmt
        .query_map(params![domain, from, to], annotation_of)?
        .collect::<Result<_, _>>()?;
    Ok(notes)
}

/// Adds an annotation to site `domain` (dates and text checked by the
/// caller); `None` for a site that is not stored. Runs on the write
/// connection.
pub fn add(
    conn: &Connection,
    domain: &str,
    date: &str,
    text: &str,
    now_ms: i64,
) -> Result<Option<Annotation>, StoreError> {
    let Some(site_id) = crate::site_records::site_id(conn, domain)? else {
        return Ok(None);
    };
    conn.prepare_cached(
        "INSERT INTO annotations (site_id, day, text, created_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![site_id, date, text, now_ms])?;
    crate::rollups::bump_site_version(conn, site_id)?;
    get(conn, conn.last_insert_rowid())
}

/// Changes annotation `id`'s date and text; `None` when there is none.
pub fn update(
    conn: &Connection,
    id: i64,
    date: &str,
    text: &str,
) -> Result<Option<Annotation>, StoreError> {
    let changed = conn
        .prepare_cached("UPDATE annotations SET day = ?2, text = ?3 WHERE id = ?1")?
        .execute(params![id, date, text])?;
    if changed == 0 {
        return Ok(None);
    }
    bump_site_of(conn, id)?;
    get(conn, id)
}

/// Deletes annotation `id`; whether there was one.
pub fn remove(conn: &Connection, id: i64) -> Result<bool, StoreError> {
    bump_site_of(conn, id)?;
    Ok(conn
        .prepare_cached("DELETE FROM annotations WHERE id = ?1")?
        .execute(params![id])?
        > 0)
}

fn get(conn: &Connection, id: i64) -> Result<Option<Annotation>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT id, day, text, created_at FROM annotations WHERE id = ?1")?
        .query_row(params![id], annotation_of)
        .optional()?)
}

/// Cached charts of the site of annotation `id` are stale once it changes.
fn bump_site_of(conn: &Connection, id: i64) -> Result<(), StoreError> {
    let site: Option<i64> = conn
        .prepare_cached("SELECT site_id FROM annotations WHERE id = ?1")?
        .query_row(params![id], |row| row.get(0))
        .optional()?;
    match site {
        Some(site_id) => crate::rollups::bump_site_version(conn, site_id),
        None => Ok(()),
    }
}

impl ReadConn<'_> {
    /// See [`list`].
    pub fn annotations(
        &self,
        domain: &str,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<Vec<Annotation>, StoreError> {
        list(self.connection(), domain, from, to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_added_listed_by_date_changed_and_deleted() {
        let conn = crate::schema::migrated_in_memory();
        conn.execute(
            "INSERT INTO sites (domain, created_at) VALUES ('a.test', 0), ('b.test', 0)",
            [],
        )
        .unwrap();
        assert_eq!(
            add(&conn, "nowhere.test", "2024-03-10", "x", 1).unwrap(),
            None
        );
        let launch = add(&conn, "a.test", "2024-03-10", "Launch", 5)
            .unwrap()
            .unwrap();
        add(&conn, "a.test", "2024-03-01", "Newsletter", 6).unwrap();
        add(&conn, "b.test", "2024-03-05", "Other site", 7).unwrap();
        let dates = |from, to| -> Vec<String> {
            list(&conn, "a.test", from, to)
                .unwrap()
                .into_iter()
                .map(|a| format!("{} {}", a.date, a.text))
                .collect()
        };
        assert_eq!(
            dates(None, None),
            ["2024-03-01 Newsletter", "2024-03-10 Launch"]
        );
        assert_eq!(
            dates(Some("2024-03-02"), Some("2024-03-10")),
            ["2024-03-10 Launch"]
        );
        assert_eq!(dates(Some("2024-03-11"), None), Vec::<String>::new());
        let moved = update(&conn, launch.id, "2024-03-12", "Launch day")
            .unwrap()
            .unwrap();
        assert_eq!(
            (moved.date.as_str(), moved.text.as_str()),
            ("2024-03-12", "Launch day")
        );
        assert_eq!(update(&conn, 999, "2024-03-12", "x").unwrap(), None);
        assert!(remove(&conn, launch.id).unwrap());
        assert!(!remove(&conn, launch.id).unwrap());
        assert_eq!(dates(None, None), ["2024-03-01 Newsletter"]);
    }
}
