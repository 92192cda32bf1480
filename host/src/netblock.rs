//! Destination-address blocking for outbound HTTP, checked *after* DNS resolution.
//!
//! Spin's runtime config has `[outbound_networking] block_networks = [...]`, a list of
//! CIDRs and/or the keyword `"private"`. This module parses that list and classifies
//! addresses. The sender in [`crate::outbound_http`] resolves a host name once, drops
//! every blocked address, and connects only to one of the remaining addresses, so a
//! DNS answer that changes between the check and the connect cannot slip through.
//!
//! **Difference from Spin:** Spin blocks nothing unless the runtime config says so.
//! This host defaults to `["private"]` (secure by default) when the runtime config has
//! no `block_networks`; set `block_networks = []` to get Spin's behaviour.

use anyhow::{Context, Result, bail};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An IPv4 or IPv6 network in CIDR notation (`10.0.0.0/8`, `fc00::/7`, or a bare address).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `addr/prefix` or a bare address (a /32 or /128). Host bits are masked off.
    pub fn parse(s: &str) -> Result<Self> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr = addr
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .with_context(|| format!("{s:?} is not an IP address or CIDR"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .with_context(|| format!("{s:?} has an invalid prefix length"))?,
            None => max,
        };
        Ok(Self {
            addr: mask(addr, prefix),
            prefix,
        })
    }

    /// Whether `ip` lies in this network (same address family only).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                mask(ip, self.prefix) == self.addr
            }
            _ => false,
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let m = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix))
            };
            IpAddr::V4(Ipv4Addr::from(bits & m))
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let m = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(prefix))
            };
            IpAddr::V6(Ipv6Addr::from(bits & m))
        }
    }
}

/// The parsed `block_networks` list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlockList {
    private: bool,
    cidrs: Vec<Cidr>,
}

impl BlockList {
    /// This host's default when the runtime config does not set `block_networks`.
    pub fn secure_default() -> Self {
        Self {
            private: true,
            cidrs: Vec::new(),
        }
    }

    /// Parses Spin's `block_networks` entries: CIDRs, bare addresses, or `"private"`.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self> {
        let mut list = Self::default();
        for entry in entries {
            let entry = entry.as_ref().trim();
            if entry.eq_ignore_ascii_case("private") {
                list.private = true;
            } else if entry.is_empty() {
                bail!("block_networks: empty entry");
            } else {
                list.cidrs.push(
                    Cidr::parse(entry).with_context(|| format!("block_networks: {entry:?}"))?,
                );
            }
        }
        Ok(list)
    }

    /// Whether nothing at all is blocked.
    pub fn is_empty(&self) -> bool {
        !self.private && self.cidrs.is_empty()
    }

    /// Whether a connection to `ip` must be refused. An IPv6 address that embeds an IPv4
    /// address (mapped, compatible, NAT64, 6to4) is also judged by the embedded address.
    pub fn is_blocked(&self, ip: IpAddr) -> bool {
        if self.private && is_non_global(ip) {
            return true;
        }
        let embedded = match ip {
            IpAddr::V6(v6) => embedded_ipv4(v6).map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        self.cidrs
            .iter()
            .any(|c| c.contains(ip) || embedded.is_some_and(|e| c.contains(e)))
    }
}

/// Whether an address is not globally routable ("private" in `block_networks`).
pub fn is_non_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_non_global_v4(v4),
        IpAddr::V6(v6) => is_non_global_v6(v6),
    }
}

const fn v4net(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> (u32, u8) {
    (u32::from_be_bytes([a, b, c, d]), prefix)
}

/// IPv4 ranges that are not globally reachable (IANA special-purpose registry).
const NON_GLOBAL_V4: &[(u32, u8)] = &[
    v4net(0, 0, 0, 0, 8),          // "this network"
    v4net(10, 0, 0, 0, 8),         // private
    v4net(100, 64, 0, 0, 10),      // shared address space (CGNAT)
    v4net(127, 0, 0, 0, 8),        // loopback
    v4net(169, 254, 0, 0, 16),     // link-local (includes cloud metadata 169.254.169.254)
    v4net(172, 16, 0, 0, 12),      // private
    v4net(192, 0, 0, 0, 24),       // IETF protocol assignments
    v4net(192, 0, 2, 0, 24),       // TEST-NET-1
    v4net(192, 88, 99, 0, 24),     // deprecated 6to4 relay anycast
    v4net(192, 168, 0, 0, 16),     // private
    v4net(198, 18, 0, 0, 15),      // benchmarking
    v4net(198, 51, 100, 0, 24),    // TEST-NET-2
    v4net(203, 0, 113, 0, 24),     // TEST-NET-3
    v4net(224, 0, 0, 0, 4),        // multicast
    v4net(240, 0, 0, 0, 4),        // reserved (includes 255.255.255.255 broadcast)
    v4net(255, 255, 255, 255, 32), // broadcast (already inside 240/4; listed for clarity)
];

fn in_v4(ip: Ipv4Addr, (net, prefix): (u32, u8)) -> bool {
    let m = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    };
    u32::from(ip) & m == net
}

fn is_non_global_v4(ip: Ipv4Addr) -> bool {
    NON_GLOBAL_V4.iter().any(|n| in_v4(ip, *n))
}

fn in_v6(ip: Ipv6Addr, net: u128, prefix: u8) -> bool {
    let m = if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(prefix))
    };
    u128::from(ip) & m == net
}

/// The IPv4 address embedded in an IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible
/// (`::a.b.c.d`), NAT64 well-known-prefix (`64:ff9b::a.b.c.d`) or 6to4
/// (`2002:aabb:ccdd::/48`) address.
fn embedded_ipv4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = u128::from(ip);
    let low32 = Ipv4Addr::from((bits & 0xffff_ffff) as u32);
    if bits >> 32 == 0xffff || bits >> 32 == 0 || in_v6(ip, 0x0064_ff9b << 96, 96) {
        return Some(low32);
    }
    if bits >> 112 == 0x2002 {
        return Some(Ipv4Addr::from(((bits >> 80) & 0xffff_ffff) as u32));
    }
    None
}

fn is_non_global_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = embedded_ipv4(ip) {
        // `::` and `::1` embed 0.0.0.0 and 0.0.0.1, which are themselves non-global.
        return is_non_global_v4(v4);
    }
    const RANGES: &[(u128, u8)] = &[
        (0x0064_ff9b_0001 << 80, 48), // local-use NAT64 (RFC 8215)
        (0x0100 << 112, 64),          // discard-only
        (0x2001 << 112, 23),          // IETF protocol assignments (Teredo, ORCHID, benchmarking…)
        (0x2001_0db8 << 96, 32),      // documentation
        (0xfc00 << 112, 7),           // unique local
        (0xfe80 << 112, 10),          // link-local
        (0xfec0 << 112, 10),          // deprecated site-local
        (0xff00 << 112, 8),           // multicast
    ];
    RANGES.iter().any(|(net, p)| in_v6(ip, *net, *p))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn private(s: &str) -> bool {
        BlockList::secure_default().is_blocked(ip(s))
    }

    #[test]
    fn every_private_v4_range_and_its_edges() {
        // (first, last, just below, just above); None where the neighbour does not exist
        // or is itself non-global.
        let cases: &[(&str, &str, Option<&str>, Option<&str>)] = &[
            ("0.0.0.0", "0.255.255.255", None, Some("1.0.0.0")),
            (
                "10.0.0.0",
                "10.255.255.255",
                Some("9.255.255.255"),
                Some("11.0.0.0"),
            ),
            (
                "100.64.0.0",
                "100.127.255.255",
                Some("100.63.255.255"),
                Some("100.128.0.0"),
            ),
            (
                "127.0.0.0",
                "127.255.255.255",
                Some("126.255.255.255"),
                Some("128.0.0.0"),
            ),
            (
                "169.254.0.0",
                "169.254.255.255",
                Some("169.253.255.255"),
                Some("169.255.0.0"),
            ),
            (
                "172.16.0.0",
                "172.31.255.255",
                Some("172.15.255.255"),
                Some("172.32.0.0"),
            ),
            (
                "192.0.0.0",
                "192.0.0.255",
                Some("191.255.255.255"),
                Some("192.0.1.0"),
            ),
            (
                "192.0.2.0",
                "192.0.2.255",
                Some("192.0.1.255"),
                Some("192.0.3.0"),
            ),
            (
                "192.168.0.0",
                "192.168.255.255",
                Some("192.167.255.255"),
                Some("192.169.0.0"),
            ),
            (
                "198.18.0.0",
                "198.19.255.255",
                Some("198.17.255.255"),
                Some("198.20.0.0"),
            ),
            (
                "198.51.100.0",
                "198.51.100.255",
                Some("198.51.99.255"),
                Some("198.51.101.0"),
            ),
            (
                "203.0.113.0",
                "203.0.113.255",
                Some("203.0.112.255"),
                Some("203.0.114.0"),
            ),
            (
                "224.0.0.0",
                "239.255.255.255",
                Some("223.255.255.255"),
                None,
            ),
            ("240.0.0.0", "255.255.255.254", None, None),
            ("255.255.255.255", "255.255.255.255", None, None),
        ];
        for (first, last, below, above) in cases {
            assert!(private(first), "{first} must be blocked");
            assert!(private(last), "{last} must be blocked");
            if let Some(b) = below {
                assert!(!private(b), "{b} must be allowed");
            }
            if let Some(a) = above {
                assert!(!private(a), "{a} must be allowed");
            }
        }
        for public in ["8.8.8.8", "1.1.1.1", "93.184.216.34", "223.255.255.255"] {
            assert!(!private(public), "{public} must be allowed");
        }
    }

    #[test]
    fn private_v6_ranges() {
        for blocked in [
            "::",
            "::1",
            "fc00::1",
            "fdff:ffff::1",
            "fe80::1",
            "febf:ffff::1",
            "ff02::1",
            "ff00::",
            "2001:db8::1",
            "2001:db8:ffff::1",
            "64:ff9b::a00:1",   // NAT64 of 10.0.0.1
            "64:ff9b::7f00:1",  // NAT64 of 127.0.0.1
            "::ffff:127.0.0.1", // mapped
            "::ffff:10.1.2.3",  // mapped
            "::ffff:169.254.169.254",
            "::127.0.0.1",   // compatible
            "::10.0.0.1",    // compatible
            "2002:a00:1::1", // 6to4 of 10.0.0.1
            "64:ff9b:1::1",  // local-use NAT64
        ] {
            assert!(private(blocked), "{blocked} must be blocked");
        }
        for allowed in [
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "fbff:ffff::1",     // just below fc00::/7
            "fe00::1",          // between fc00::/7 and fe80::/10
            "2001:db9::1",      // just above 2001:db8::/32
            "2001:db7::1",      // just below 2001:db8::/32
            "64:ff9b::808:808", // NAT64 of 8.8.8.8
            "::ffff:8.8.8.8",   // mapped public
            "::8.8.8.8",        // compatible public
            "2002:808:808::1",  // 6to4 of 8.8.8.8
        ] {
            assert!(!private(allowed), "{allowed} must be allowed");
        }
    }

    #[test]
    fn explicit_cidrs_and_empty_list() {
        let none = BlockList::parse::<&str>(&[]).unwrap();
        assert!(none.is_empty());
        assert!(!none.is_blocked(ip("127.0.0.1")));

        let list = BlockList::parse(&["1.2.3.0/24", "2001:4860::/32", "9.9.9.9"]).unwrap();
        assert!(list.is_blocked(ip("1.2.3.4")));
        assert!(!list.is_blocked(ip("1.2.4.0")));
        assert!(list.is_blocked(ip("::ffff:1.2.3.200")));
        assert!(list.is_blocked(ip("2001:4860:4860::8888")));
        assert!(list.is_blocked(ip("9.9.9.9")));
        assert!(!list.is_blocked(ip("9.9.9.10")));
        assert!(!list.is_blocked(ip("127.0.0.1")), "private not requested");

        let both = BlockList::parse(&["private", "8.8.8.0/24"]).unwrap();
        assert!(both.is_blocked(ip("127.0.0.1")));
        assert!(both.is_blocked(ip("8.8.8.8")));
        assert!(!both.is_blocked(ip("1.1.1.1")));

        assert!(BlockList::parse(&["10.0.0.0/33"]).is_err());
        assert!(BlockList::parse(&["nonsense"]).is_err());
        assert!(BlockList::parse(&[""]).is_err());
        assert_eq!(Cidr::parse("10.1.2.3/8").unwrap().to_string(), "10.0.0.0/8");
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(!Cidr::parse("0.0.0.0/0").unwrap().contains(ip("::1")));
    }
}
