//! Offline geolocation: an IP address to the country it is registered in
//! and, with a City database, the region and city it is in.
//!
//! The country database ships inside the binary
//! ([`Geolocator::bundled`]): ip-location-db's `geo-whois-asn-country`, in
//! MaxMind DB format, built from the Regional Internet Registries' data and
//! licensed CC BY 4.0 by the NRO ([`BUNDLED_ATTRIBUTION`]). It names
//! countries only. A user may point the server at another MaxMind DB file
//! instead ([`Geolocator::open`]), such as GeoLite2-Country, GeoLite2-City
//! or DB-IP's City Lite; either record layout is read. From a City database,
//! [`Geolocator::locate`] also gives the English names of the region (the
//! first subdivision) and the city ([`Location`]).
//!
//! An address that is not routable on the public internet (loopback,
//! private, link-local, shared, documentation, multicast) is never looked
//! up: its country, region and city are unknown ([`is_public`]). Nothing
//! here keeps an address: a lookup reads it and forgets it.

mod address;
mod country;
mod error;
mod location;

use std::net::IpAddr;
use std::path::Path;

use maxminddb::Reader;
use serde::Deserialize;

use location::{CountryRecord, Record};

pub use address::is_public;
pub use country::CountryCode;
pub use error::GeoError;
pub use location::{Location, MAX_NAME_CHARS};

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

/// Answers "where is this address?" from one MaxMind DB: its country, and
/// with a City database its region and city too.
#[derive(Debug)]
pub struct Geolocator {
    source: Source,
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
        self.decode::<CountryRecord<'_>>(ip)?.country()
    }

    /// Where `ip` is: its country, as [`Geolocator::country`] gives it, and
    /// with a City database the English names of its region and city, from
    /// one lookup. The region and city are only given with the country; a
    /// non-public address, one the database does not know, or a record that
    /// cannot be decoded gives [`Location::default`], all unknown.
    pub fn locate(&self, ip: IpAddr) -> Location {
        self.decode::<Record<'_>>(ip)
            .map_or_else(Location::default, |record| Location::from_record(&record))
    }

    /// The database's type as its metadata names it.
    pub fn database_type(&self) -> &str {
        &self.metadata().database_type
    }

    /// When the database was built, in seconds since the Unix epoch.
    pub fn build_epoch(&self) -> u64 {
        self.metadata().build_epoch
    }

    /// The record of `ip` decoded as `T`, when `ip` is a public address the
    /// database knows and its record can be decoded.
    fn decode<'a, T: Deserialize<'a>>(&'a self, ip: IpAddr) -> Option<T> {
        let ip = address::canonical(ip);
        if !is_public(ip) {
            return None;
        }
        match &self.source {
            Source::Bundled(reader) => decode_in(reader, ip),
            Source::File(reader) => decode_in(reader, ip),
        }
    }

    fn metadata(&self) -> &maxminddb::Metadata {
        match &self.source {
            Source::Bundled(reader) => &reader.metadata,
            Source::File(reader) => &reader.metadata,
        }
    }
}

/// Looks `ip` up in `reader`, decoding its record as `T` when there is one
/// that can be.
fn decode_in<'a, T: Deserialize<'a>, S: AsRef<[u8]>>(
    reader: &'a Reader<S>,
    ip: IpAddr,
) -> Option<T> {
    reader.lookup(ip).ok()?.decode().ok()?
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
mod city_database {
    use super::*;

    /// The synthetic City database made by `tests/data/make_city_test_db.py`.
    const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/city-test.mmdb");

    fn fixture() -> Geolocator {
        Geolocator::open(Path::new(FIXTURE)).unwrap()
    }

    /// `ip`'s location in `geo` as plain strings, for short assertions.
    fn located(geo: &Geolocator, ip: &str) -> (Option<String>, Option<String>, Option<String>) {
        let location = geo.locate(ip.parse().unwrap());
        (
            location.country.map(|code| code.to_string()),
            location.region,
            location.city,
        )
    }

    fn place(
        country: &str,
        region: Option<&str>,
        city: Option<&str>,
    ) -> (Option<String>, Option<String>, Option<String>) {
        (
            Some(country.to_owned()),
            region.map(str::to_owned),
            city.map(str::to_owned),
        )
    }

    fn unknown() -> (Option<String>, Option<String>, Option<String>) {
        (None, None, None)
    }

    #[test]
    fn the_fixture_opens_as_a_city_database() {
        let geo = fixture();
        assert_eq!(geo.database_type(), "GeoLite2-City");
        assert_eq!(geo.build_epoch(), 1_767_225_600);
    }

    #[test]
    fn a_city_database_gives_country_region_and_city() {
        let geo = fixture();
        let london = place("GB", Some("England"), Some("London"));
        assert_eq!(located(&geo, "81.2.69.142"), london);
        assert_eq!(located(&geo, "81.2.69.0"), london);
        assert_eq!(located(&geo, "81.2.69.255"), london);
        // An IPv4 address written as IPv4-mapped IPv6 is the same address.
        assert_eq!(located(&geo, "::ffff:81.2.69.142"), london);
        assert_eq!(
            located(&geo, "8.8.8.8"),
            place("US", Some("California"), Some("Mountain View"))
        );
        assert_eq!(
            located(&geo, "193.99.144.80"),
            place("DE", Some("Lower Saxony"), Some("Hanover"))
        );
        assert_eq!(
            located(&geo, "2a02:2e0:3fe:1001:302::"),
            place("DE", Some("Berlin"), Some("Berlin"))
        );
        // Of two subdivisions, the first is the region.
        assert_eq!(
            located(&geo, "80.58.0.1"),
            place("ES", Some("Catalonia"), Some("Barcelona"))
        );
        // ip-location-db's flat city layout (`state1`, `city` as text).
        assert_eq!(
            located(&geo, "145.100.0.1"),
            place("NL", Some("North Holland"), Some("Amsterdam"))
        );
    }

    #[test]
    fn missing_and_blank_names_are_unknown() {
        let geo = fixture();
        // Country only: no subdivision, no city.
        let brazil = place("BR", None, None);
        assert_eq!(located(&geo, "200.160.2.3"), brazil);
        assert_eq!(located(&geo, "200.160.15.255"), brazil);
        // A subdivision whose English name is empty.
        assert_eq!(located(&geo, "1.1.1.1"), place("AU", None, None));
        // A subdivision with no English name; a city name padded with
        // white space.
        assert_eq!(located(&geo, "45.0.0.1"), place("FR", None, Some("Paris")));
        // Fields of the wrong type are skipped; the country still counts.
        assert_eq!(located(&geo, "62.4.0.1"), place("IT", None, None));
    }

    #[test]
    fn names_are_trimmed_and_capped() {
        let location = fixture().locate("77.88.0.1".parse().unwrap());
        assert_eq!(location.country.unwrap().as_str(), "RU");
        assert_eq!(location.region.as_deref(), Some("Moscow"));
        // The database's city name is 250 two-byte characters.
        assert_eq!(location.city, Some("ё".repeat(MAX_NAME_CHARS)));
    }

    #[test]
    fn without_a_country_nothing_is_known() {
        let geo = fixture();
        // A region and a city, but no country: all dropped.
        assert_eq!(located(&geo, "9.9.9.9"), unknown());
        // A record that is not a map cannot be decoded.
        assert_eq!(located(&geo, "2.2.2.2"), unknown());
        // An address the database does not know.
        assert_eq!(located(&geo, "4.4.4.4"), unknown());
        assert_eq!(located(&geo, "200.160.16.1"), unknown());
        assert_eq!(located(&geo, "2a03::1"), unknown());
        for ip in ["9.9.9.9", "2.2.2.2", "4.4.4.4"] {
            assert_eq!(geo.country(ip.parse().unwrap()), None, "{ip}");
        }
    }

    #[test]
    fn private_addresses_are_never_looked_up() {
        let geo = fixture();
        let private = ["10.1.2.3", "192.168.1.1", "fd00::1"];
        // The fixture does have records for these ranges...
        let reader = Reader::open_readfile(FIXTURE).unwrap();
        for ip in private {
            let found = reader.lookup(ip.parse().unwrap()).unwrap();
            assert!(found.has_data(), "{ip}");
        }
        // ...but they are not public, so they are not asked about.
        for ip in private.into_iter().chain([
            "::ffff:10.0.0.1",
            "127.0.0.1",
            "::1",
            "2001:db8::1",
            "203.0.113.9",
        ]) {
            assert_eq!(geo.locate(ip.parse().unwrap()), Location::default(), "{ip}");
            assert_eq!(geo.country(ip.parse().unwrap()), None, "{ip}");
        }
    }

    #[test]
    fn country_agrees_with_locate_on_every_fixture_network() {
        let geo = fixture();
        for ip in [
            "81.2.69.142",
            "8.8.8.8",
            "193.99.144.80",
            "2a02:2e0::1",
            "200.160.2.3",
            "1.1.1.1",
            "80.58.0.1",
            "45.0.0.1",
            "77.88.0.1",
            "145.100.0.1",
            "62.4.0.1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(geo.country(ip).is_some(), "{ip}");
            assert_eq!(geo.locate(ip).country, geo.country(ip), "{ip}");
        }
    }

    #[test]
    fn the_bundled_database_gives_countries_only() {
        let geo = Geolocator::bundled().unwrap();
        assert_eq!(located(&geo, "8.8.8.8"), place("US", None, None));
        assert_eq!(
            located(&geo, "2001:4860:4860::8888"),
            place("US", None, None)
        );
        assert_eq!(
            located(&geo, "::ffff:193.99.144.80"),
            place("DE", None, None)
        );
        assert_eq!(located(&geo, "192.168.1.1"), unknown());
    }
}

#[cfg(test)]
mod properties {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    use std::sync::LazyLock;

    use proptest::prelude::*;

    use super::*;

    fn any_address() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            any::<u32>().prop_map(|bits| IpAddr::V4(Ipv4Addr::from(bits))),
            any::<u128>().prop_map(|bits| IpAddr::V6(Ipv6Addr::from(bits))),
        ]
    }

    /// The bundled database, opened once for all cases.
    static BUNDLED: LazyLock<Geolocator> = LazyLock::new(|| Geolocator::bundled().unwrap());

    /// The synthetic City database (`tests/data/make_city_test_db.py`).
    static CITY: LazyLock<Geolocator> = LazyLock::new(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/city-test.mmdb");
        Geolocator::open(Path::new(path)).unwrap()
    });

    /// Addresses inside the fixture's networks (and a few around them), so
    /// that the City database is asked about records it has, not only about
    /// the empty space between them.
    fn fixture_address() -> impl Strategy<Value = IpAddr> {
        let networks: [u32; 14] = [
            0x5102_4500, // 81.2.69.0
            0x0808_0800, // 8.8.8.0
            0xC163_9000, // 193.99.144.0
            0xC8A0_0000, // 200.160.0.0
            0xC8A0_0F00, // 200.160.15.0
            0xC8A0_1000, // 200.160.16.0 (just outside)
            0x0101_0100, // 1.1.1.0
            0x503A_0000, // 80.58.0.0
            0x2D00_0000, // 45.0.0.0
            0x4D58_0000, // 77.88.0.0
            0x9164_0000, // 145.100.0.0
            0x0909_0900, // 9.9.9.0
            0x3E04_0000, // 62.4.0.0
            0x0202_0200, // 2.2.2.0
        ];
        prop_oneof![
            (proptest::sample::select(networks.to_vec()), any::<u8>())
                .prop_map(|(network, host)| IpAddr::V4(Ipv4Addr::from(network | u32::from(host)))),
            // Anywhere in 2a02:2e0::/32.
            any::<u128>()
                .prop_map(|bits| IpAddr::V6(Ipv6Addr::from((0x2a02_02e0 << 96) | (bits >> 32)))),
        ]
    }

    proptest! {
        /// Any address gets an answer without a panic; a reserved one is
        /// always unknown, and both spellings of an IPv4 address agree.
        #[test]
        fn every_address_is_answered(ip in any_address()) {
            let geo = &*BUNDLED;
            let country = geo.country(ip);
            if !is_public(ip) {
                prop_assert_eq!(country, None);
            }
            if let IpAddr::V4(v4) = ip {
                prop_assert_eq!(geo.country(IpAddr::V6(v4.to_ipv6_mapped())), country);
            }
        }

        /// `locate` and `country` give the same country for any address, in
        /// either database; a reserved address is unknown to `locate` too,
        /// and both spellings of an IPv4 address are located alike.
        #[test]
        fn locate_agrees_with_country(ip in prop_oneof![any_address(), fixture_address()]) {
            for geo in [&*BUNDLED, &*CITY] {
                let location = geo.locate(ip);
                prop_assert_eq!(location.country, geo.country(ip));
                if location.country.is_none() || !is_public(ip) {
                    prop_assert_eq!(&location, &Location::default());
                }
                for name in [&location.region, &location.city].into_iter().flatten() {
                    prop_assert!(!name.is_empty() && name.trim() == name);
                    prop_assert!(name.chars().count() <= MAX_NAME_CHARS);
                }
                if let IpAddr::V4(v4) = ip {
                    prop_assert_eq!(geo.locate(IpAddr::V6(v4.to_ipv6_mapped())), location);
                }
            }
        }
    }
}
