//! Goals of a site (migration 018): listed, added, changed and deleted
//! through the writer; their conversions are counted by
//! [`crate::ReadConn::stats_goal_conversions`].

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::StoreError;
use crate::reader::ReadConn;

/// What a goal counts: a custom event by name, or page views of a path
/// pattern (`mallard_core::goal::PathPattern`), optionally only with a
/// property value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoalDefinition {
    /// The name it is shown (and filtered) by, unique per site.
    pub name: String,
    /// The custom event's name (or `None` for a page goal).
    pub event_name: Option<String>,
    /// The page path pattern (or `None` for an event goal).
    pub page_path: Option<String>,
    /// A property key and value the event must carry.
    pub prop: Option<(String, String)>,
}

/// A stored goal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Goal {
    /// Its id.
    pub id: i64,
    /// What it counts.
    pub definition: GoalDefinition,
    /// When it was added (ms).
    pub created_at_ms: i64,
}

/// What adding or changing a goal did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GoalWrite {
    /// Stored.
    Stored(Goal),
    /// No such site (or goal).
    NotFound,
    /// Another goal of the site has the name.
    NameTaken,
}

fn goal_of(row: &rusqlite::Row<'_>) -> rusqlite::Result<Goal> {
    let key: Option<String> = row.get(4)?;
    let value: Option<String> = row.get(5)?;
    Ok(Goal {
        id: row.get(0)?,
        definition: GoalDefinition {
            name: row.get(1)?,
            event_name: row.get(2)?,
            page_path: row.get(3)?,
            prop: key.zip(value),
        },
        created_at_ms: row.get(6)?,
    })
}

const COLUMNS: &str = "id, name, event_name, page_path, prop_key, prop_value, created_at";

/// The goals of site `site_id`, oldest first.
pub fn goals_of(conn: &Connection, site_id: i64) -> Result<Vec<Goal>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM goals WHERE site_id = ?1 ORDER BY id"
        ))?
        .query_map(params![site_id], goal_of)?
        .collect::<Result<_, _>>()?)
}

impl ReadConn<'_> {
    /// The goals of site `domain`, oldest first (none for an unknown site).
    pub fn goals(&self, domain: &str) -> Result<Vec<Goal>, StoreError> {
        match crate::imports::site_id_of(self.connection(), domain)? {
            Some(site_id) => goals_of(self.connection(), site_id),
            None => Ok(Vec::new()),
        }
    }
}

fn name_taken(
    conn: &Connection,
    site_id: i64,
    name: &str,
    except: i64,
) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM goals WHERE site_id = ?1 AND name = ?2 AND id <> ?3)",
        )?
        .query_row(params![site_id, name, except], |r| r.get(0))?)
}

fn goal_by_id(conn: &Connection, id: i64) -> Result<Option<Goal>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM goals WHERE id = ?1"))?
        .query_row(params![id], goal_of)
        .optional()?)
}

/// Adds a goal to site `domain` (validated by the caller).
pub fn add_goal(
    conn: &Connection,
    domain: &str,
    definition: &GoalDefinition,
    now_ms: i64,
) -> Result<GoalWrite, StoreError> {
    let Some(site_id) = crate::imports::site_id_of(conn, domain)? else {
        return Ok(GoalWrite::NotFound);
    };
    if name_taken(conn, site_id, &definition.name, 0)? {
        return Ok(GoalWrite::NameTaken);
    }
    let (key, value) = definition.prop.clone().unzip();
    conn.prepare_cached(
        "INSERT INTO goals (site_id, name, event_name, page_path, prop_key, prop_value, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        site_id,
        definition.name,
        definition.event_name,
        definition.page_path,
        key,
        value,
        now_ms
    ])?;
    let id = conn.last_insert_rowid();
    Ok(goal_by_id(conn, id)?.map_or(GoalWrite::NotFound, GoalWrite::Stored))
}

/// Replaces goal `id`'s definition (its site stays).
pub fn update_goal(
    conn: &Connection,
    id: i64,
    definition: &GoalDefinition,
) -> Result<GoalWrite, StoreError> {
    let site_id: Option<i64> = conn
        .prepare_cached("SELECT site_id FROM goals WHERE id = ?1")?
        .query_row(params![id], |r| r.get(0))
        .optional()?;
    let Some(site_id) = site_id else {
        return Ok(GoalWrite::NotFound);
    };
    if name_taken(conn, site_id, &definition.name, id)? {
        return Ok(GoalWrite::NameTaken);
    }
    let (key, value) = definition.prop.clone().unzip();
    conn.prepare_cached(
        "UPDATE goals SET name = ?2, event_name = ?3, page_path = ?4, prop_key = ?5, \
         prop_value = ?6 WHERE id = ?1",
    )?
    .execute(params![
        id,
        definition.name,
        definition.event_name,
        definition.page_path,
        key,
        value
    ])?;
    Ok(goal_by_id(conn, id)?.map_or(GoalWrite::NotFound, GoalWrite::Stored))
}

/// Deletes goal `id`; returns whether it existed.
pub fn delete_goal(conn: &Connection, id: i64) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("DELETE FROM goals WHERE id = ?1")?
        .execute(params![id])?
        == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event_goal(name: &str) -> GoalDefinition {
        GoalDefinition {
            name: name.into(),
            event_name: Some(name.into()),
            page_path: None,
            prop: None,
        }
    }

    #[test]
    fn goals_are_added_renamed_kept_unique_per_site_and_deleted() {
        let conn = crate::schema::migrated_in_memory();
        crate::sites::add_site(&conn, "a.test", "UTC", 0).unwrap();
        crate::sites::add_site(&conn, "b.test", "UTC", 0).unwrap();
        let GoalWrite::Stored(signup) =
            add_goal(&conn, "a.test", &event_goal("Signup"), 5).unwrap()
        else {
            panic!("stored")
        };
        assert_eq!(signup.created_at_ms, 5);
        assert_eq!(
            add_goal(&conn, "a.test", &event_goal("Signup"), 6).unwrap(),
            GoalWrite::NameTaken
        );
        assert!(matches!(
            add_goal(&conn, "b.test", &event_goal("Signup"), 6).unwrap(),
            GoalWrite::Stored(_)
        ));
        assert_eq!(
            add_goal(&conn, "c.test", &event_goal("Signup"), 6).unwrap(),
            GoalWrite::NotFound
        );
        let blog = GoalDefinition {
            name: "Visit /blog/*".into(),
            event_name: None,
            page_path: Some("/blog/*".into()),
            prop: Some(("plan".into(), "pro".into())),
        };
        let GoalWrite::Stored(changed) = update_goal(&conn, signup.id, &blog).unwrap() else {
            panic!("changed")
        };
        assert_eq!(changed.definition, blog);
        assert_eq!(update_goal(&conn, 99, &blog).unwrap(), GoalWrite::NotFound);
        add_goal(&conn, "a.test", &event_goal("Other"), 7).unwrap();
        assert_eq!(
            update_goal(&conn, signup.id, &event_goal("Other")).unwrap(),
            GoalWrite::NameTaken
        );
        assert_eq!(goals_of(&conn, 1).unwrap().len(), 2);
        assert!(delete_goal(&conn, signup.id).unwrap());
        assert!(!delete_goal(&conn, signup.id).unwrap());
        assert_eq!(goals_of(&conn, 1).unwrap().len(), 1);
    }

    #[test]
    fn conversions_count_the_events_and_visitors_of_each_goal_exactly() {
        use crate::stats::StatsQuery;
        use crate::stats::tests::{
            BASES_MS, SITE, arrival_order, store_events, three_days_of_events,
        };
        use std::collections::HashSet;

        let generated = three_days_of_events();
        let dir = tempfile::tempdir().unwrap();
        store_events(
            dir.path(),
            "Europe/Berlin",
            &arrival_order(BASES_MS[0], &generated),
            &[7, 50, 3],
        );
        let paths = crate::stats::tests::PATHS;
        // The naive count: (events, distinct visitors) of the generated
        // events that `matches`.
        let expect = |matches: &dyn Fn(u8, usize) -> bool| -> (i64, u64) {
            let hits: Vec<_> = generated
                .iter()
                .filter(|(_, _, kind, path, _, _)| matches(*kind, *path))
                .collect();
            let visitors: HashSet<u64> = hits.iter().map(|g| g.1).collect();
            (hits.len() as i64, visitors.len() as u64)
        };
        let goals = [
            event_goal("Signup"),
            GoalDefinition {
                name: "Pro signups".into(),
                event_name: Some("Signup".into()),
                page_path: None,
                prop: Some(("plan".into(), "pro".into())),
            },
            GoalDefinition {
                name: "Blog".into(),
                event_name: None,
                page_path: Some("/blog/*".into()),
                prop: None,
            },
            event_goal("Never sent"),
        ];
        let expected = [
            expect(&|kind, _| kind == 7),
            expect(&|kind, path| kind == 7 && path % 2 == 1),
            expect(&|kind, path| kind <= 6 && paths[path].starts_with("/blog/")),
            (0, 0),
        ];
        assert!(expected.iter().take(3).all(|(events, _)| *events > 0));
        // Goals never stored have no goal days (see `crate::goal_days` for
        // those).
        let goals: Vec<Goal> = goals
            .into_iter()
            .zip(-4..)
            .map(|(definition, id)| Goal {
                id,
                definition,
                created_at_ms: 0,
            })
            .collect();
        let store = crate::Store::open(dir.path(), crate::StoreOptions::default()).unwrap();
        // Without filters from the rollups (but the property goal); with a
        // filter every visit meets, from the events.
        for filters in ["", "source!=Nowhere"] {
            let got = store
                .reads()
                .with(|db| {
                    let site = db.stats_site(SITE)?.unwrap();
                    let first = site.first_day.unwrap();
                    let query = StatsQuery {
                        range: mallard_core::DayRange {
                            start: first - 1,
                            end: first + 6,
                        },
                        filters: if filters.is_empty() {
                            vec![]
                        } else {
                            mallard_core::filter::parse_filters(filters).unwrap()
                        },
                        with_imported: false,
                    };
                    db.stats_goal_conversions(&site, &query, &goals)
                })
                .unwrap();
            let got: Vec<(i64, u64)> = got
                .iter()
                .map(|g| (g.totals.events, g.totals.visitors))
                .collect();
            assert_eq!(got, expected, "filters {filters:?}");
        }
        store.close();
    }
}
