//! Which addresses are worth looking up: those routable on the public
//! internet. Everything else (this machine, a home or office network, a
//! carrier's shared space, the ranges set aside for documentation) has no
//! country, whatever a database might say about it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `ip` with an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) written as the
/// IPv4 address it is, so that both spellings answer alike.
pub(crate) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// Whether `ip` is an address of the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let reserved = ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        // "This network" (0.0.0.0/8), shared address space (100.64.0.0/10),
        // IETF protocol assignments (192.0.0.0/24), benchmarking
        // (198.18.0.0/15) and the former class E (240.0.0.0/4).
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (18..20).contains(&b))
        || a >= 240;
    !reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    let reserved = ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        // Unique local (fc00::/7) and link-local (fe80::/10) addresses.
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        // Documentation (2001:db8::/32 and 3fff::/20).
        || (first == 0x2001 && ip.segments()[1] == 0x0db8)
        || (first == 0x3fff && ip.segments()[1] < 0x1000)
        // Discard-only (100::/64).
        || (first == 0x0100 && ip.segments()[1..4] == [0, 0, 0]);
    // Only global unicast (2000::/3) is routed on the internet today.
    !reserved && (first & 0xe000) == 0x2000
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(ip: &str) -> bool {
        is_public(ip.parse().unwrap())
    }

    #[test]
    fn public_and_reserved_addresses_are_told_apart() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "100.128.0.1",
            "2a00:1450::1",
            "::ffff:8.8.4.4",
        ] {
            assert!(public(ip), "{ip}");
        }
        for ip in [
            "0.1.2.3",
            "100.127.255.255",
            "192.0.0.8",
            "198.19.0.1",
            "240.0.0.1",
            "224.0.0.1",
            "198.51.100.7",
            "ff02::1",
            "100::1",
            "fc00::1",
            "fe9f::1",
            "::ffff:10.0.0.1",
            "3fff::1",
        ] {
            assert!(!public(ip), "{ip}");
        }
    }

    #[test]
    fn an_ipv4_mapped_address_is_its_ipv4_address() {
        assert_eq!(
            canonical("::ffff:1.2.3.4".parse().unwrap()),
            "1.2.3.4".parse::<IpAddr>().unwrap()
        );
        let v6: IpAddr = "2001:4860::1".parse().unwrap();
        assert_eq!(canonical(v6), v6);
    }
}
