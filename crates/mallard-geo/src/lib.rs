//! Offline geolocation: an IP address to the country it is registered in.
//!
//! The country database ships inside the binary
//! ([`Geolocator::bundled`]): ip-location-db's `geo-whois-asn-country`, in
//! MaxMind DB format, built from the Regional Internet Registries' data and
//! licensed CC BY 4.0 by the NRO ([`BUNDLED_ATTRIBUTION`]). A user may point
//! the server at another MaxMind DB file instead ([`Geolocator::open`]), such
//! as GeoLite2-Country or GeoLite2-City; either record layout is read.
//!
//! An address that is not routable on the public internet (loopback,
//! private, link-local, shared, documentation, multicast) is never looked
//! up: its country is unknown ([`is_public`]). Nothing here keeps an
//! address: a lookup reads it and forgets it.

mod address;
mod country;
mod error;

use std::net::IpAddr;
use std::path::Path;

use maxminddb::Reader;
use serde::Deserialize;

pub use address::is_public;
pub use country::CountryCode;
pub use error::GeoError;

/// The bundled country database.
static BUNDLED_DATABASE: &[u8] = include_bytes!("../data/geo-whois-asn-country.mmdb");

/// The credit the bundled database's licence asks for, shown wherever the
/// product lists what it is built from (docs, the About dialog).
pub const BUNDLED_ATTRIBUTION: &str = "IP-to-country data: ip-location-db \
    geo-whois-asn-country (https://github.com/sapics/ip-location-db), built from \
    data of the Number Resource Organization (https://www.nro.net/), licensed \
    CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/).";

/// Where a database's bytes live: in the binary, or read from a file.
#[derive(Debug)]
enum Source {
    Bundled(Reader<&'static [u8]>),
    File(Reader<Vec<u8>>),
}

/// Answers "which country is this address in?" from one MaxMind DB.
#[derive(Debug)]
pub struct Geolocator {
    source: Source,
}

/// The parts of a record this crate reads. ip-location-db's databases keep
/// the code at the top level; MaxMind's (and DB-IP's) Country and City
/// databases under `country.iso_code`.
#[derive(Deserialize)]
struct CountryRecord<'a> {
    #[serde(borrow, default)]
    country_code: Option<&'a str>,
    #[serde(borrow, default)]
    country: Option<IsoCode<'a>>,
}

/// A nested `{ "iso_code": ... }` map.
#[derive(Deserialize)]
struct IsoCode<'a> {
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
}

impl Geolocator {
    /// The country database built into the binary.
    pub fn bundled() -> Result<Self, GeoError> {
        let reader = Reader::from_source(BUNDLED_DATABASE).map_err(GeoError::bundled)?;
        Ok(Self {
            source: Source::Bundled(reader),
        })
    }

    /// A MaxMind DB file chosen by the user (`geoip_database`). It must
    /// answer countries: a database whose records name none (an ASN
    /// database, say) is refused here rather than leaving every country
    /// unknown later.
    pub fn open(path: &Path) -> Result<Self, GeoError> {
        let bytes = std::fs::read(path).map_err(|source| GeoError::Read {
            path: path.to_owned(),
            source,
        })?;
        let reader = Reader::from_source(bytes).map_err(|source| GeoError::Invalid {
            path: path.to_owned(),
            source,
        })?;
        let kind = reader.metadata.database_type.to_ascii_lowercase();
        if !(kind.contains("country") || kind.contains("city")) {
            return Err(GeoError::NotACountryDatabase {
                path: path.to_owned(),
                database_type: reader.metadata.database_type.clone(),
            });
        }
        Ok(Self {
            source: Source::File(reader),
        })
    }

    /// The country `ip` is in, when it is a public address the database
    /// knows. A record that cannot be decoded counts as unknown: geolocation
    /// never fails an event.
    pub fn country(&self, ip: IpAddr) -> Option<CountryCode> {
        let ip = address::canonical(ip);
        if !is_public(ip) {
            return None;
        }
        match &self.source {
            Source::Bundled(reader) => country_in(reader, ip),
            Source::File(reader) => country_in(reader, ip),
        }
    }

    /// The database's type as its metadata names it.
    pub fn database_type(&self) -> &str {
        &self.metadata().database_type
    }

    /// When the database was built, in seconds since the Unix epoch.
    pub fn build_epoch(&self) -> u64 {
        self.metadata().build_epoch
    }

    fn metadata(&self) -> &maxminddb::Metadata {
        match &self.source {
            Source::Bundled(reader) => &reader.metadata,
            Source::File(reader) => &reader.metadata,
        }
    }
}

/// Looks `ip` up in `reader`.
fn country_in<S: AsRef<[u8]>>(reader: &Reader<S>, ip: IpAddr) -> Option<CountryCode> {
    let found = reader.lookup(ip).ok()?;
    let record: CountryRecord<'_> = found.decode().ok()??;
    let code = record
        .country_code
        .or_else(|| record.country.and_then(|country| country.iso_code))?;
    CountryCode::parse(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn country(ip: &str) -> Option<String> {
        let geo = Geolocator::bundled().unwrap();
        geo.country(ip.parse().unwrap())
            .map(|c| c.as_str().to_owned())
    }

    #[test]
    fn well_known_public_addresses_land_in_their_registered_countries() {
        // Each of these blocks has been registered to the same country for
        // decades (the RIRs' allocations, which the database is built from).
        assert_eq!(country("8.8.8.8").as_deref(), Some("US"));
        assert_eq!(country("2001:4860:4860::8888").as_deref(), Some("US"));
        assert_eq!(country("193.99.144.80").as_deref(), Some("DE"));
        assert_eq!(country("133.11.0.1").as_deref(), Some("JP"));
        assert_eq!(country("200.160.2.3").as_deref(), Some("BR"));
        // An IPv4 address written as IPv4-mapped IPv6 is the same address.
        assert_eq!(country("::ffff:8.8.8.8").as_deref(), Some("US"));
    }

    #[test]
    fn addresses_off_the_public_internet_stay_unknown() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.0.1",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "203.0.113.9",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "2001:db8::1",
            "::ffff:192.168.1.1",
        ] {
            assert_eq!(country(ip), None, "{ip}");
        }
    }

    #[test]
    fn the_bundled_database_says_what_it_is() {
        let geo = Geolocator::bundled().unwrap();
        assert!(geo.database_type().contains("country"));
        // Built in 2026 (after 2026-01-01, before 2030-01-01).
        assert!((1_767_225_600..1_893_456_000).contains(&geo.build_epoch()));
    }

    #[test]
    fn a_file_that_is_not_a_database_is_refused_with_its_path() {
        let dir = std::env::temp_dir().join(format!("mallard-geo-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("not.mmdb");
        std::fs::write(&path, b"not a database").unwrap();
        let err = Geolocator::open(&path).unwrap_err();
        assert!(matches!(err, GeoError::Invalid { .. }), "{err}");
        assert!(err.to_string().contains("not.mmdb"));
        let missing = Geolocator::open(&dir.join("missing.mmdb")).unwrap_err();
        assert!(matches!(missing, GeoError::Read { .. }), "{missing}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_country_database_file_answers_like_the_bundled_one() {
        let dir = std::env::temp_dir().join(format!("mallard-geo-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("country.mmdb");
        std::fs::write(&path, BUNDLED_DATABASE).unwrap();
        let geo = Geolocator::open(&path).unwrap();
        assert_eq!(
            geo.country("8.8.8.8".parse().unwrap()).unwrap().as_str(),
            "US"
        );
        assert_eq!(geo.country("10.0.0.1".parse().unwrap()), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[cfg(test)]
mod properties {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    use proptest::prelude::*;

    use super::*;

    fn any_address() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            any::<u32>().prop_map(|bits| IpAddr::V4(Ipv4Addr::from(bits))),
            any::<u128>().prop_map(|bits| IpAddr::V6(Ipv6Addr::from(bits))),
        ]
    }

    proptest! {
        /// Any address gets an answer without a panic; a reserved one is
        /// always unknown, and both spellings of an IPv4 address agree.
        #[test]
        fn every_address_is_answered(ip in any_address()) {
            let geo = Geolocator::bundled().unwrap();
            let country = geo.country(ip);
            if !is_public(ip) {
                prop_assert_eq!(country, None);
            }
            if let IpAddr::V4(v4) = ip {
                prop_assert_eq!(geo.country(IpAddr::V6(v4.to_ipv6_mapped())), country);
            }
        }
    }
}
