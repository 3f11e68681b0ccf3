//! What can go wrong opening a geolocation database.

use std::path::PathBuf;

/// An error opening a database. Lookups themselves never fail: an address
/// a database cannot answer has an unknown country.
#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    /// The bundled database did not parse (a broken build).
    #[error("the bundled country database is unreadable: {0}")]
    Bundled(#[source] maxminddb::MaxMindDbError),
    /// The configured database file could not be read.
    #[error("cannot read the geolocation database {path}: {source}")]
    Read {
        /// The configured path.
        path: PathBuf,
        /// Why reading failed.
        #[source]
        source: std::io::Error,
    },
    /// The configured file is not a MaxMind DB.
    #[error("{path} is not a MaxMind DB (.mmdb) database: {source}")]
    Invalid {
        /// The configured path.
        path: PathBuf,
        /// What the reader found wrong.
        #[source]
        source: maxminddb::MaxMindDbError,
    },
    /// The configured database answers something other than countries.
    #[error(
        "{path} is a {database_type:?} database; a country or city database \
         (GeoLite2-Country, GeoLite2-City, DB-IP City Lite) is needed"
    )]
    NotACountryDatabase {
        /// The configured path.
        path: PathBuf,
        /// The type its metadata names.
        database_type: String,
    },
}

impl GeoError {
    pub(crate) fn bundled(source: maxminddb::MaxMindDbError) -> Self {
        Self::Bundled(source)
    }
}
