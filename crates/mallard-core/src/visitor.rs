//! Anonymous, daily-rotating visitor identifiers.
//!
//! Mallard counts unique visitors without cookies and without storing personal
//! data. A visitor id is a keyed hash of the site, the client's IP address and
//! its user agent, under a salt of the UTC day:
//!
//! `id = first 8 bytes, big-endian, of HMAC-SHA256(daily_salt, site || 0x00 || ip octets || 0x00 || user agent)`
//!
//! Each day's salt is 32 random bytes, drawn when the day's first event arrives
//! and deleted once the day after it is over (the store keeps them, see
//! `mallard-store`'s `visitor_salts`). Nothing derives one salt from another, so
//! once a salt is deleted no one, not even someone holding the database, can
//! recompute the ids of that day from an IP address and a user agent, and the
//! same person's ids on two days cannot be linked.
//!
//! The IP address and the user agent are only used in memory, for the duration of
//! the request, to compute this hash; neither is stored.

use std::fmt;
use std::net::IpAddr;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::site::SiteId;

/// HMAC with SHA-256, the only MAC this module uses.
type HmacSha256 = Hmac<Sha256>;

/// The number of milliseconds in a UTC day.
const MS_PER_DAY: i64 = 86_400_000;

/// The block size of SHA-256 in bytes, which is the key size HMAC pads keys to.
const SHA256_BLOCK_LEN: usize = 64;

/// The domain-separation label of ids derived from an SDK's anonymous id.
const ANON_ID_LABEL: &[u8] = b"mallard-anon-id";

/// An anonymous visitor id, unique per site, client and UTC day.
///
/// The store keeps it as a signed 64-bit integer; [`VisitorId::as_i64`] and
/// [`VisitorId::from_i64`] convert without losing bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VisitorId(pub u64);

impl VisitorId {
    /// The id reinterpreted as a signed integer (a bit cast, not a range check).
    pub fn as_i64(self) -> i64 {
        self.0 as i64
    }

    /// The id from its signed-integer form, the inverse of [`VisitorId::as_i64`].
    pub fn from_i64(value: i64) -> Self {
        Self(value as u64)
    }
}

/// One UTC day's visitor-id salt: 32 random bytes.
///
/// Its `Debug` output never shows the bytes, and it has no `Display`, so it cannot
/// leak into logs by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct DailySalt([u8; 32]);

impl DailySalt {
    /// Wraps 32 random bytes, for example read from the database.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Wraps a slice that must be exactly 32 bytes long; any other length gives `None`.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(bytes).ok().map(Self)
    }

    /// The salt's bytes, to store them.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for DailySalt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DailySalt(..)")
    }
}

/// The UTC day number of a timestamp in milliseconds since the Unix epoch.
///
/// Day 0 is 1970-01-01; timestamps before the epoch give negative days (floor
/// division, so -1 ms is day -1).
pub fn day_number(timestamp_ms: i64) -> i64 {
    timestamp_ms.div_euclid(MS_PER_DAY)
}

/// Computes the visitor id of a request to `site` from `ip` with `user_agent`
/// under the salt of the day the request arrived on.
///
/// An IPv4-mapped IPv6 address (`::ffff:1.2.3.4`) is
/// treated as the IPv4 address it maps, so dual-stack listeners do not split a
/// visitor in two. The IP address is only used in memory to compute the hash; it
/// is never stored or logged.
pub fn visitor_id(salt: &DailySalt, site: &SiteId, ip: IpAddr, user_agent: &str) -> VisitorId {
    let ip_v4;
    let ip_v6;
    let ip_octets: &[u8] = match ip {
        IpAddr::V4(v4) => {
            ip_v4 = v4.octets();
            &ip_v4
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => {
                ip_v4 = v4.octets();
                &ip_v4
            }
            None => {
                ip_v6 = v6.octets();
                &ip_v6
            }
        },
    };
    let mac = hmac_parts(
        &salt.0,
        &[
            site.as_str().as_bytes(),
            &[0],
            ip_octets,
            &[0],
            user_agent.as_bytes(),
        ],
    );
    id_from_mac(&mac)
}

/// Computes the visitor id for an SDK that sends its own anonymous id.
///
/// The id does not rotate daily: the SDK decides how long its anonymous id
/// lives, so retention can be measured for that traffic. The anonymous id is
/// already a pseudonym chosen by the SDK, with no IP address in it, so the id is
/// a plain site-scoped hash of it and no secret is kept for it:
/// `first 8 bytes, big-endian, of SHA-256("mallard-anon-id" || site || 0x00 || anon id)`.
pub fn visitor_id_from_anon_id(site: &SiteId, anon_id: &str) -> VisitorId {
    let digest: [u8; 32] = Sha256::new()
        .chain_update(ANON_ID_LABEL)
        .chain_update(site.as_str().as_bytes())
        .chain_update([0])
        .chain_update(anon_id.as_bytes())
        .finalize()
        .into();
    id_from_mac(&digest)
}

/// HMAC-SHA256 under a 32-byte key of the concatenation of `parts`.
fn hmac_parts(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC pads keys shorter than the block size with zeros, so padding the key
    // here gives the same MAC as keying with the 32 bytes directly, and lets us use
    // the infallible fixed-size constructor.
    let mut block = [0u8; SHA256_BLOCK_LEN];
    for (dst, src) in block.iter_mut().zip(key.iter()) {
        *dst = *src;
    }
    let mut mac = <HmacSha256 as hmac::digest::KeyInit>::new(&block.into());
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// The visitor id made of the first eight bytes of a MAC, read big-endian.
fn id_from_mac(mac: &[u8; 32]) -> VisitorId {
    let mut first = [0u8; 8];
    for (dst, src) in first.iter_mut().zip(mac.iter()) {
        *dst = *src;
    }
    VisitorId(u64::from_be_bytes(first))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn salt() -> DailySalt {
        DailySalt::from_bytes([7; 32])
    }

    fn site(s: &str) -> SiteId {
        SiteId::parse(s).unwrap()
    }

    const UA: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0";

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn same_inputs_give_the_same_id() {
        let a = visitor_id(&salt(), &site("example.com"), ip("1.2.3.4"), UA);
        let b = visitor_id(&salt(), &site("example.com"), ip("1.2.3.4"), UA);
        assert_eq!(a, b);
    }

    #[test]
    fn every_input_changes_the_id() {
        let base = visitor_id(&salt(), &site("example.com"), ip("1.2.3.4"), UA);
        let other_site = visitor_id(&salt(), &site("example.org"), ip("1.2.3.4"), UA);
        let other_ip = visitor_id(&salt(), &site("example.com"), ip("1.2.3.5"), UA);
        let other_ua = visitor_id(&salt(), &site("example.com"), ip("1.2.3.4"), "x");
        let other_day = visitor_id(
            &DailySalt::from_bytes([8; 32]),
            &site("example.com"),
            ip("1.2.3.4"),
            UA,
        );
        for other in [other_day, other_site, other_ip, other_ua] {
            assert_ne!(base, other);
        }
    }

    #[test]
    fn ipv4_mapped_ipv6_is_the_ipv4_address() {
        let v4 = visitor_id(&salt(), &site("a.com"), ip("1.2.3.4"), UA);
        let mapped = visitor_id(&salt(), &site("a.com"), ip("::ffff:1.2.3.4"), UA);
        let v6 = visitor_id(&salt(), &site("a.com"), ip("2001:db8::1"), UA);
        assert_eq!(v4, mapped);
        assert_ne!(v4, v6);
        // A real IPv6 address whose last bytes spell the IPv4 one is still distinct.
        let compat = IpAddr::V6(Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0x0102, 0x0304));
        assert_ne!(v4, visitor_id(&salt(), &site("a.com"), compat, UA));
    }

    #[test]
    fn field_separators_prevent_shifting_bytes_between_fields() {
        let a = visitor_id(&salt(), &site("ab"), ip("1.2.3.4"), "c");
        let b = visitor_id(&salt(), &site("a"), ip("1.2.3.4"), "bc");
        assert_ne!(a, b);
    }

    #[test]
    fn padded_key_matches_the_standard_hmac_construction() {
        let key = [42u8; 32];
        let mut reference = HmacSha256::new_from_slice(&key).unwrap();
        reference.update(b"hello world");
        let expected: [u8; 32] = reference.finalize().into_bytes().into();
        assert_eq!(hmac_parts(&key, &[b"hello", b" ", b"world"]), expected);
    }

    #[test]
    fn hmac_matches_rfc_4231_test_case_2() {
        // RFC 4231 test case 2 uses the 4-byte key "Jefe"; padding it to 32 bytes
        // with zeros yields the same MAC, because HMAC pads keys with zeros.
        let mut key = [0u8; 32];
        key[..4].copy_from_slice(b"Jefe");
        let mac = hmac_parts(&key, &[b"what do ya want ", b"for nothing?"]);
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn anon_ids_are_stable_and_site_scoped() {
        let a = visitor_id_from_anon_id(&site("a.com"), "abc");
        assert_eq!(a, visitor_id_from_anon_id(&site("a.com"), "abc"));
        assert_ne!(a, visitor_id_from_anon_id(&site("b.com"), "abc"));
        assert_ne!(a, visitor_id_from_anon_id(&site("a.com"), "abd"));
        // The separator keeps bytes from moving between the site and the id.
        assert_ne!(
            visitor_id_from_anon_id(&site("a.co"), "mabc"),
            visitor_id_from_anon_id(&site("a.com"), "abc")
        );
    }

    #[test]
    fn day_numbers_floor_towards_negative_infinity() {
        assert_eq!(day_number(0), 0);
        assert_eq!(day_number(86_399_999), 0);
        assert_eq!(day_number(86_400_000), 1);
        assert_eq!(day_number(-1), -1);
        assert_eq!(day_number(-86_400_000), -1);
        assert_eq!(day_number(-86_400_001), -2);
        assert_eq!(day_number(i64::MIN), i64::MIN.div_euclid(MS_PER_DAY));
        assert_eq!(day_number(i64::MAX), i64::MAX / MS_PER_DAY);
    }

    #[test]
    fn salts_never_print_their_bytes() {
        let s = DailySalt::from_bytes([0xAB; 32]);
        assert_eq!(format!("{s:?}"), "DailySalt(..)");
        assert_eq!(format!("{s:#?}"), "DailySalt(..)");
    }

    #[test]
    fn salts_from_slices_must_be_32_bytes() {
        assert!(DailySalt::from_slice(&[0; 31]).is_none());
        assert!(DailySalt::from_slice(&[0; 33]).is_none());
        let s = DailySalt::from_slice(&[3; 32]).unwrap();
        assert_eq!(s.as_bytes(), &[3; 32]);
    }

    proptest! {
        #[test]
        fn i64_conversion_round_trips(raw in any::<u64>()) {
            let id = VisitorId(raw);
            prop_assert_eq!(VisitorId::from_i64(id.as_i64()), id);
        }

        #[test]
        fn visitor_ids_are_deterministic(
            key in any::<[u8; 32]>(),
            octets in any::<[u8; 4]>(),
            ua in ".{0,200}",
        ) {
            let ip = IpAddr::V4(Ipv4Addr::from(octets));
            let mapped = IpAddr::V6(Ipv4Addr::from(octets).to_ipv6_mapped());
            let salt = DailySalt::from_bytes(key);
            let a = visitor_id(&salt, &site("example.com"), ip, &ua);
            prop_assert_eq!(a, visitor_id(&salt, &site("example.com"), mapped, &ua));
        }

        #[test]
        fn day_number_brackets_the_timestamp(ts in any::<i64>()) {
            let day = i128::from(day_number(ts));
            let ts = i128::from(ts);
            prop_assert!(day * 86_400_000 <= ts);
            prop_assert!(ts < (day + 1) * 86_400_000);
        }
    }
}
