//! Filter values resolved to the ids the compiled predicates
//! ([`super::predicate`]) compare: the id of a dimension string, a device
//! code or a screen width.

use mallard_core::{DeviceClass, Dimension, Filter};
use rusqlite::Connection;

use super::labels::dim_id;
use crate::dims::DimKind;
use crate::error::StoreError;

/// What a filter value resolves to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Target {
    /// The value is missing (`(unknown)`).
    Missing,
    /// A stored id, code or width.
    Id(i64),
    /// A value that was never stored: nothing has it.
    Nothing,
}

/// The kind of string a filter on `dimension` names (`None`: a device code,
/// a screen width or a property, resolved otherwise).
fn dim_kind(dimension: &Dimension) -> Option<DimKind> {
    Some(match dimension {
        Dimension::Page | Dimension::EntryPage | Dimension::ExitPage => DimKind::Pathname,
        Dimension::Source => DimKind::ReferrerSource,
        Dimension::Referrer => DimKind::ReferrerUrl,
        Dimension::UtmSource => DimKind::UtmSource,
        Dimension::UtmMedium => DimKind::UtmMedium,
        Dimension::UtmCampaign => DimKind::UtmCampaign,
        Dimension::UtmTerm => DimKind::UtmTerm,
        Dimension::UtmContent => DimKind::UtmContent,
        Dimension::Browser => DimKind::Browser,
        Dimension::Os => DimKind::Os,
        Dimension::Country => DimKind::Country,
        Dimension::Region => DimKind::Region,
        Dimension::City => DimKind::City,
        Dimension::Event => DimKind::EventName,
        Dimension::Device | Dimension::ScreenSize | Dimension::Prop(_) | Dimension::Goal => {
            return None;
        }
    })
}

/// The id (or device code, or screen width) a filter on a dimension other
/// than a property compares with.
pub(super) fn resolve(conn: &Connection, filter: &Filter) -> Result<Target, StoreError> {
    Ok(match &filter.dimension {
        Dimension::Device => {
            if filter.is_unknown() {
                Target::Id(i64::from(DeviceClass::Unknown.code()))
            } else {
                filter
                    .device_code()
                    .map_or(Target::Nothing, |c| Target::Id(i64::from(c)))
            }
        }
        _ if filter.is_unknown() => Target::Missing,
        Dimension::ScreenSize => filter
            .value
            .parse::<u16>()
            .map_or(Target::Nothing, |w| Target::Id(i64::from(w))),
        dimension => match dim_kind(dimension) {
            Some(kind) => dim_id(conn, kind, &filter.value)?.map_or(Target::Nothing, Target::Id),
            None => Target::Nothing,
        },
    })
}

/// The id of the `pageview` event name, if any page view was ever stored.
pub(crate) fn pageview_id(conn: &Connection) -> Result<Option<i64>, StoreError> {
    dim_id(conn, DimKind::EventName, mallard_core::EventName::PAGEVIEW)
}
