//! Turning rollup values into the strings shown in breakdowns, and filter
//! strings into dimension ids.

use std::collections::HashMap;

use mallard_core::DeviceClass;
use mallard_core::filter::UNKNOWN_VALUE;
use rusqlite::{Connection, OptionalExtension, params};

use crate::dims::DimKind;
use crate::error::StoreError;
use crate::rollups::kind;

/// The label of `value` in rollup `kind`.
pub(crate) fn label(conn: &Connection, row_kind: i64, value: i64) -> Result<String, StoreError> {
    if value == 0 {
        return Ok(UNKNOWN_VALUE.to_owned());
    }
    match row_kind {
        kind::DEVICE => Ok(u8::try_from(value - 1)
            .ok()
            .and_then(DeviceClass::from_code)
            .map_or(UNKNOWN_VALUE, DeviceClass::as_str)
            .to_owned()),
        kind::SCREEN => Ok((value - 1).to_string()),
        kind::PROP => dim_value(conn, value & 0xFFFF_FFFF),
        _ => dim_value(conn, value),
    }
}

/// Labels for many values of one kind, cached per call.
pub(crate) fn labels(
    conn: &Connection,
    row_kind: i64,
    values: impl IntoIterator<Item = i64>,
) -> Result<HashMap<i64, String>, StoreError> {
    let mut out = HashMap::new();
    for value in values {
        if let std::collections::hash_map::Entry::Vacant(slot) = out.entry(value) {
            slot.insert(label(conn, row_kind, value)?);
        }
    }
    Ok(out)
}

fn dim_value(conn: &Connection, id: i64) -> Result<String, StoreError> {
    let value: Option<String> = conn
        .prepare_cached("SELECT value FROM dims WHERE id = ?1")?
        .query_row(params![id], |r| r.get(0))
        .optional()?;
    Ok(value.unwrap_or_else(|| UNKNOWN_VALUE.to_owned()))
}

/// The id of a dimension string, `None` when it was never stored.
pub(crate) fn dim_id(
    conn: &Connection,
    dim_kind: DimKind,
    value: &str,
) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT id FROM dims WHERE kind = ?1 AND value = ?2")?
        .query_row(params![dim_kind as u8, value], |r| r.get(0))
        .optional()?)
}

/// The strings of dimension ids, looked up once per id.
#[derive(Debug, Default)]
pub(crate) struct DimTexts(HashMap<i64, String>);

impl DimTexts {
    /// The string of `id`; `None` stays `None` (a missing value).
    pub(crate) fn get(
        &mut self,
        conn: &Connection,
        id: Option<i64>,
    ) -> Result<Option<String>, StoreError> {
        let Some(id) = id else {
            return Ok(None);
        };
        if let Some(text) = self.0.get(&id) {
            return Ok(Some(text.clone()));
        }
        let text = dim_value(conn, id)?;
        self.0.insert(id, text.clone());
        Ok(Some(text))
    }
}
