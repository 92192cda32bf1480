//! Outbound safety for user-supplied URLs (SSRF): the component-side checks.
//!
//! The decisive check is made by the platform at connect time, after DNS resolution
//! (the host's and Spin's `block_networks`), so a name that resolves to a private
//! address, or re-resolves between check and use, is refused there. This module adds
//! the early, explainable refusals: only `http`/`https`, no user info, no literal
//! non-public addresses in any spelling (`127.1`, `2130706433`, `0x7f.1`, `0177.0.0.1`,
//! `[::ffff:127.0.0.1]`, ...), no `localhost` names. Redirects are followed by the caller
//! one hop at a time, each hop checked here again.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why a URL may not be fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnsafeUrl {
    /// Not an absolute `http`/`https` URL.
    Scheme,
    /// Has `user:pass@` (used to disguise the real host).
    UserInfo,
    /// No host.
    NoHost,
    /// The host is a non-public address or a local name.
    NonPublicHost,
}

impl std::fmt::Display for UnsafeUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Scheme => "only http and https URLs are allowed",
            Self::UserInfo => "URLs with user information are not allowed",
            Self::NoHost => "the URL has no host",
            Self::NonPublicHost => "the URL points to a non-public address",
        })
    }
}

/// The parts of an absolute http(s) URL the checks need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlParts {
    /// `http` or `https`, lowercase.
    pub scheme: String,
    /// The host as written (brackets removed for IPv6), lowercase.
    pub host: String,
    /// The explicit port, if any.
    pub port: Option<u16>,
    /// Path and query (starts with `/`).
    pub path_and_query: String,
}

/// Splits an absolute URL. Refuses other schemes and user info.
pub fn parse_url(url: &str) -> Result<UrlParts, UnsafeUrl> {
    let url = url.trim();
    let (scheme, rest) = url.split_once("://").ok_or(UnsafeUrl::Scheme)?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(UnsafeUrl::Scheme);
    }
    let end = rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len());
    let authority = &rest[..end];
    if authority.contains('@') {
        return Err(UnsafeUrl::UserInfo);
    }
    let (host, port) = if let Some(stripped) = authority.strip_prefix('[') {
        let (host, after) = stripped.split_once(']').ok_or(UnsafeUrl::NoHost)?;
        let port = match after.strip_prefix(':') {
            Some(p) if !p.is_empty() => Some(p.parse().map_err(|_| UnsafeUrl::NoHost)?),
            _ => None,
        };
        (host.to_ascii_lowercase(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((host, p)) if !p.is_empty() => (
                host.to_ascii_lowercase(),
                Some(p.parse().map_err(|_| UnsafeUrl::NoHost)?),
            ),
            Some((host, _)) => (host.to_ascii_lowercase(), None),
            None => (authority.to_ascii_lowercase(), None),
        }
    };
    if host.is_empty() {
        return Err(UnsafeUrl::NoHost);
    }
    let mut path_and_query = rest[end..].split('#').next().unwrap_or("").to_owned();
    if !path_and_query.starts_with('/') {
        path_and_query.insert(0, '/');
    }
    Ok(UrlParts {
        scheme,
        host,
        port,
        path_and_query,
    })
}

/// Checks a URL before fetching it. With `allow_non_public` only the scheme and user
/// info rules apply.
pub fn check_url(url: &str, allow_non_public: bool) -> Result<UrlParts, UnsafeUrl> {
    let parts = parse_url(url)?;
    if !allow_non_public && !is_public_host(&parts.host) {
        return Err(UnsafeUrl::NonPublicHost);
    }
    Ok(parts)
}

/// Whether a host (name or literal address) may be contacted. Names are judged by the
/// platform after resolution, except local ones (`localhost`, `*.localhost`,
/// `*.local`, `*.internal`, single-label names).
pub fn is_public_host(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if let Ok(ip) = host.parse::<IpAddr>() {
        return is_public_ip(&ip);
    }
    if let Some(ip) = parse_ipv4_loose(&host) {
        return is_public_ip(&IpAddr::V4(ip));
    }
    let local_name = host == "localhost"
        || host.ends_with(".localhost")
        || host.ends_with(".local")
        || host.ends_with(".internal")
        || host.ends_with(".localdomain")
        || !host.contains('.');
    !local_name
}

/// Parses the IPv4 spellings `inet_aton` accepts (and so do curl and many HTTP
/// stacks): 1 to 4 parts, each decimal, octal (`0` prefix) or hex (`0x` prefix), the
/// last part filling the remaining bytes (`127.1`, `2130706433`, `0x7f000001`).
pub fn parse_ipv4_loose(text: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = text.split('.').collect();
    if parts.is_empty() || parts.len() > 4 || parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    let mut values = Vec::with_capacity(parts.len());
    for part in &parts {
        let value = if let Some(hex) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
            if hex.is_empty() {
                0
            } else {
                u64::from_str_radix(hex, 16).ok()?
            }
        } else if part.len() > 1 && part.starts_with('0') {
            u64::from_str_radix(&part[1..], 8).ok()?
        } else {
            part.parse::<u64>().ok()?
        };
        values.push(value);
    }
    let last = values.pop()?;
    let mut address: u64 = 0;
    for (i, value) in values.iter().enumerate() {
        if *value > 255 {
            return None;
        }
        address |= value << (24 - 8 * i);
    }
    let remaining_bits = 32 - 8 * values.len();
    if remaining_bits < 64 && last >= (1u64 << remaining_bits) {
        return None;
    }
    address |= last;
    Some(Ipv4Addr::from(u32::try_from(address).ok()?))
}

/// Whether an address is globally routable (not private, loopback, link-local, CGNAT,
/// unspecified, multicast, documentation, benchmarking or reserved; IPv4-mapped,
/// -compatible and NAT64 IPv6 forms are judged by their IPv4 address).
pub fn is_public_ip(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: &Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0
        || a == 10
        || a == 127
        || (a == 100 && (64..128).contains(&b))
        || (a == 169 && b == 254)
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 192 && b == 0 && c == 2)
        || (a == 192 && b == 88 && c == 99)
        || (a == 192 && b == 168)
        || (a == 198 && (18..20).contains(&b))
        || (a == 198 && b == 51 && c == 100)
        || (a == 203 && b == 0 && c == 113)
        || a >= 224)
}

fn is_public_v6(ip: &Ipv6Addr) -> bool {
    let segments = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(&v4);
    }
    // IPv4-compatible (::a.b.c.d, deprecated) and NAT64 (64:ff9b::/96) embed an IPv4.
    if segments[..6] == [0, 0, 0, 0, 0, 0] || segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let v4 = Ipv4Addr::new(
            (segments[6] >> 8) as u8,
            segments[6] as u8,
            (segments[7] >> 8) as u8,
            segments[7] as u8,
        );
        return !ip.is_unspecified() && !ip.is_loopback() && is_public_v4(&v4);
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (segments[0] & 0xfe00) == 0xfc00 // unique local
        || (segments[0] & 0xffc0) == 0xfe80 // link-local
        || (segments[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (segments[0] == 0x2001 && segments[1] == 0x0db8) // documentation
        || (segments[0] == 0x2001 && segments[1] < 0x0200) // IETF protocol assignments (Teredo etc.)
        || segments[0] == 0x2002) // 6to4 can embed any IPv4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_a_non_public_host_is_refused() {
        for url in [
            "http://127.0.0.1/",
            "http://127.1/",
            "http://2130706433/",
            "http://0x7f000001/",
            "http://0x7f.1/",
            "http://0177.0.0.1/",
            "http://017700000001/",
            "http://localhost:8080/x",
            "http://LOCALHOST/",
            "http://foo.localhost/",
            "http://localhost./",
            "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.1/",
            "http://172.16.5.4/",
            "http://192.168.1.1/",
            "http://100.64.0.1/",
            "http://0.0.0.0/",
            "http://224.0.0.1/",
            "http://[::1]/",
            "http://[::]/",
            "http://[fc00::1]/",
            "http://[fd12:3456::1]/",
            "http://[fe80::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://[::ffff:169.254.169.254]/",
            "http://[64:ff9b::10.0.0.1]/",
            "http://[::127.0.0.1]/",
            "http://metadata.google.internal/",
            "http://intranet/",
        ] {
            assert_eq!(
                check_url(url, false).err(),
                Some(UnsafeUrl::NonPublicHost),
                "{url}"
            );
            assert!(
                check_url(url, true).is_ok(),
                "{url} should pass when allowed"
            );
        }
    }

    #[test]
    fn public_hosts_pass() {
        for url in [
            "https://example.com/a.csv",
            "http://93.184.216.34/",
            "http://100.63.255.255/",
            "http://100.128.0.0/",
            "http://172.32.0.1/",
            "http://[2606:4700::1111]/",
            "http://[::ffff:8.8.8.8]/",
            "https://raw.githubusercontent.com:443/x?y=1#frag",
        ] {
            assert!(check_url(url, false).is_ok(), "{url}");
        }
    }

    #[test]
    fn schemes_and_user_info() {
        assert_eq!(
            check_url("ftp://example.com/", false).err(),
            Some(UnsafeUrl::Scheme)
        );
        assert_eq!(
            check_url("file:///etc/passwd", false).err(),
            Some(UnsafeUrl::Scheme)
        );
        assert_eq!(
            check_url("example.com/x", false).err(),
            Some(UnsafeUrl::Scheme)
        );
        assert_eq!(
            check_url("http://good.com@127.0.0.1/", false).err(),
            Some(UnsafeUrl::UserInfo)
        );
        assert_eq!(
            check_url("http://user:pw@example.com/", true).err(),
            Some(UnsafeUrl::UserInfo)
        );
        assert_eq!(check_url("http:///x", false).err(), Some(UnsafeUrl::NoHost));
    }

    #[test]
    fn url_parts() {
        let parts = parse_url("HTTPS://Example.com:8443/a/b?c=d#e").unwrap();
        assert_eq!(
            (parts.scheme.as_str(), parts.host.as_str(), parts.port),
            ("https", "example.com", Some(8443))
        );
        assert_eq!(parts.path_and_query, "/a/b?c=d");
        let parts = parse_url("http://[::1]:80?q").unwrap();
        assert_eq!(
            (
                parts.host.as_str(),
                parts.port,
                parts.path_and_query.as_str()
            ),
            ("::1", Some(80), "/?q")
        );
    }

    #[test]
    fn loose_ipv4_forms() {
        assert_eq!(parse_ipv4_loose("127.1"), Some(Ipv4Addr::new(127, 0, 0, 1)));
        assert_eq!(
            parse_ipv4_loose("2130706433"),
            Some(Ipv4Addr::new(127, 0, 0, 1))
        );
        assert_eq!(
            parse_ipv4_loose("0x7f.0.0.1"),
            Some(Ipv4Addr::new(127, 0, 0, 1))
        );
        assert_eq!(
            parse_ipv4_loose("10.1.65535"),
            Some(Ipv4Addr::new(10, 1, 255, 255))
        );
        assert_eq!(parse_ipv4_loose("256.1.1.1"), None);
        assert_eq!(parse_ipv4_loose("1.2.3.4.5"), None);
        assert_eq!(parse_ipv4_loose("example.com"), None);
        assert_eq!(parse_ipv4_loose("08.1.1.1"), None);
    }
}
