//! The geolocation database in force, replaceable while the server runs:
//! the bundled country database, or the `geoip_database` file (a
//! GeoLite2/DB-IP country or city database) named in the config, the
//! environment or the dashboard's Settings. Each lookup takes the database
//! in force at that moment; a change from the dashboard opens the new file
//! first and swaps it in only when it reads.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use mallard_geo::{GeoError, Geolocator};

/// The database in force and the file it came from (`None`: bundled).
#[derive(Debug)]
pub struct GeoSource {
    current: RwLock<(Arc<Geolocator>, Option<PathBuf>)>,
}

impl GeoSource {
    /// Opens `path`, or the bundled database when there is none.
    pub fn open(path: Option<&Path>) -> Result<Self, GeoError> {
        Ok(Self {
            current: RwLock::new((Arc::new(open(path)?), path.map(Path::to_owned))),
        })
    }

    /// The database in force.
    pub fn current(&self) -> Arc<Geolocator> {
        Arc::clone(&self.read().0)
    }

    /// The country of `ip` in the database in force.
    pub fn country(&self, ip: std::net::IpAddr) -> Option<mallard_geo::CountryCode> {
        self.read().0.country(ip)
    }

    /// The country, region and city of `ip` in the database in force.
    pub fn locate(&self, ip: std::net::IpAddr) -> mallard_geo::Location {
        self.read().0.locate(ip)
    }

    /// The file in force (`None`: the bundled database).
    pub fn path(&self) -> Option<PathBuf> {
        self.read().1.clone()
    }

    /// Puts `geolocator`, read from `path`, in force.
    pub fn replace(&self, geolocator: Geolocator, path: Option<PathBuf>) {
        let mut current = self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *current = (Arc::new(geolocator), path);
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, (Arc<Geolocator>, Option<PathBuf>)> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Opens the database at `path`, or the bundled one.
pub fn open(path: Option<&Path>) -> Result<Geolocator, GeoError> {
    match path {
        Some(path) => Geolocator::open(path),
        None => Geolocator::bundled(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replaced_database_is_in_force_for_the_next_lookup() {
        let source = GeoSource::open(None).unwrap();
        assert_eq!(source.path(), None);
        let before = source.current();
        source.replace(Geolocator::bundled().unwrap(), Some("/x/city.mmdb".into()));
        assert_eq!(source.path(), Some(PathBuf::from("/x/city.mmdb")));
        assert!(!Arc::ptr_eq(&before, &source.current()));
        assert!(GeoSource::open(Some(Path::new("/no/such.mmdb"))).is_err());
    }
}
