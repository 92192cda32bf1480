//! `allowed_outbound_hosts`: parsing and matching, following Spin's rules.
//!
//! An entry is `scheme://host[:port]`:
//! - scheme: `*` or a word (`http`, `https`, …);
//! - host: `*`, `*.suffix` (any subdomain of `suffix`, not `suffix` itself), a literal
//!   name, an IPv4 address, a bracketed IPv6 address, or a CIDR (`10.0.0.0/8`);
//! - port: `*`, a number, or a half-open range `a..b` (as Rust and Spin: `b` excluded);
//!   when omitted, the scheme's well-known port (http 80, https 443, …).
//!
//! Entries may contain `{{ var }}` templates, expanded from application variables; an
//! entry that expands to an empty string is ignored. `self`/service chaining and host or
//! port lists (`{a,b}`) are not supported (an error names the entry).

use crate::netblock::Cidr;
use crate::variables::AppVariables;
use anyhow::{Context, Result, bail};
use std::net::IpAddr;

#[derive(Clone, Debug, PartialEq, Eq)]
enum HostPattern {
    Any,
    /// `*.example.com`, stored as `.example.com`.
    Subdomain(String),
    Name(String),
    Ip(IpAddr),
    Cidr(Cidr),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum PortPattern {
    Any,
    One(u16),
    /// Half-open `start..end`.
    Range(u16, u16),
}

/// One parsed `allowed_outbound_hosts` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedHost {
    /// `None` means any scheme.
    scheme: Option<String>,
    host: HostPattern,
    port: PortPattern,
}

fn well_known_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        "postgres" => Some(5432),
        "mysql" => Some(3306),
        "redis" => Some(6379),
        "mqtt" => Some(1883),
        _ => None,
    }
}

/// A request host as it appears in a URL authority: a name or an IP literal.
fn parse_request_host(host: &str) -> Result<HostPattern, ()> {
    let h = host.trim_end_matches('.');
    if let Some(inner) = h.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner.parse().map(HostPattern::Ip).map_err(|_| ());
    }
    if let Ok(ip) = h.parse::<IpAddr>() {
        return Ok(HostPattern::Ip(ip));
    }
    if h.is_empty() {
        return Err(());
    }
    Ok(HostPattern::Name(h.to_ascii_lowercase()))
}

impl AllowedHost {
    /// Parses one (already template-expanded) entry.
    pub fn parse(entry: &str) -> Result<Self> {
        let url = entry.trim();
        let Some((scheme, rest)) = url.split_once("://") else {
            bail!(
                "{url:?} is not of the form <scheme>://<host>[:<port>] (use \"*://*:*\" to allow everything)"
            );
        };
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "*" && (scheme.is_empty() || !scheme.chars().all(|c| c.is_ascii_alphabetic()))
        {
            bail!("{url:?}: invalid scheme {scheme:?}");
        }
        let rest = rest.strip_suffix('/').unwrap_or(rest);

        // Split host and port. A CIDR host contains '/', an IPv6 host is bracketed.
        let (host, port) = if let Some(after) = rest.strip_prefix('[') {
            let Some((inner, tail)) = after.split_once(']') else {
                bail!("{url:?}: unterminated IPv6 address");
            };
            let port = match tail.strip_prefix(':') {
                Some(p) => p,
                None if tail.is_empty() => "",
                None => bail!("{url:?}: unexpected text after the IPv6 address"),
            };
            (format!("[{inner}]"), port)
        } else {
            match rest.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), p),
                None => (rest.to_owned(), ""),
            }
        };
        if port.contains('/') {
            bail!("{url:?}: paths are not allowed");
        }

        let port = if port.is_empty() {
            match well_known_port(&scheme) {
                Some(p) => PortPattern::One(p),
                None => {
                    bail!("{url:?}: no port given and scheme {scheme:?} has no well-known port")
                }
            }
        } else if port == "*" {
            PortPattern::Any
        } else if let Some((a, b)) = port.split_once("..") {
            let a = a
                .parse()
                .with_context(|| format!("{url:?}: invalid port range {port:?}"))?;
            let b = b
                .parse()
                .with_context(|| format!("{url:?}: invalid port range {port:?}"))?;
            PortPattern::Range(a, b)
        } else if port.starts_with('{') {
            bail!("{url:?}: port lists are not supported");
        } else {
            PortPattern::One(
                port.parse()
                    .with_context(|| format!("{url:?}: invalid port {port:?}"))?,
            )
        };

        let host = host.trim();
        let host = if host == "*" {
            HostPattern::Any
        } else if host == "self" || host == "self.alt" {
            bail!("{url:?}: `self` (service chaining) is not supported by spin-host");
        } else if host.starts_with('{') {
            bail!("{url:?}: host lists are not supported");
        } else if host.contains('/') {
            HostPattern::Cidr(
                Cidr::parse(host).map_err(|_| anyhow::anyhow!("{url:?}: paths are not allowed"))?,
            )
        } else if let Some(domain) = host.strip_prefix("*.") {
            if domain.is_empty() || domain.contains('*') {
                bail!("{url:?}: wildcards are allowed only as a leading `*.`");
            }
            HostPattern::Subdomain(format!(".{}", domain.to_ascii_lowercase()))
        } else if host.contains('*') {
            bail!("{url:?}: wildcards are allowed only as a leading `*.`");
        } else {
            parse_request_host(host).map_err(|()| anyhow::anyhow!("{url:?}: invalid host"))?
        };

        Ok(Self {
            scheme: (scheme != "*").then_some(scheme),
            host,
            port,
        })
    }

    fn allows(&self, scheme: &str, host: &HostPattern, port: u16) -> bool {
        let scheme_ok = self.scheme.as_deref().is_none_or(|s| s == scheme);
        let port_ok = match self.port {
            PortPattern::Any => true,
            PortPattern::One(p) => p == port,
            PortPattern::Range(a, b) => (a..b).contains(&port),
        };
        let host_ok = match (&self.host, host) {
            (HostPattern::Any, _) => true,
            (HostPattern::Subdomain(suffix), HostPattern::Name(n)) => n.ends_with(suffix.as_str()),
            (HostPattern::Name(a), HostPattern::Name(b)) => a == b,
            (HostPattern::Ip(a), HostPattern::Ip(b)) => a == b,
            (HostPattern::Cidr(c), HostPattern::Ip(ip)) => c.contains(*ip),
            _ => false,
        };
        scheme_ok && port_ok && host_ok
    }
}

/// A component's parsed `allowed_outbound_hosts`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowedHosts(Vec<AllowedHost>);

impl AllowedHosts {
    /// Parses the manifest entries, expanding templates from the application variables.
    pub fn parse<S: AsRef<str>>(entries: &[S], vars: &AppVariables) -> Result<Self> {
        let mut out = Vec::new();
        for raw in entries {
            let raw = raw.as_ref();
            let expanded = vars
                .expand_str(raw)
                .with_context(|| format!("allowed_outbound_hosts entry {raw:?}"))?;
            if expanded.trim().is_empty() {
                continue;
            }
            out.push(
                AllowedHost::parse(&expanded)
                    .with_context(|| format!("allowed_outbound_hosts entry {raw:?}"))?,
            );
        }
        Ok(Self(out))
    }

    /// Whether a request to `scheme://host[:port]` is allowed. `host` is the URL host
    /// (an IPv6 literal may be bracketed); `port` defaults to the scheme's.
    pub fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        let scheme = scheme.to_ascii_lowercase();
        let Some(port) = port.or_else(|| well_known_port(&scheme)) else {
            return false;
        };
        let Ok(host) = parse_request_host(host) else {
            return false;
        };
        self.0.iter().any(|h| h.allows(&scheme, &host, port))
    }

    /// Whether the list is empty (no outbound requests at all).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::manifest::VariableDecl;
    use std::collections::BTreeMap;

    fn hosts(entries: &[&str]) -> AllowedHosts {
        AllowedHosts::parse(entries, &AppVariables::default()).unwrap()
    }

    #[test]
    fn literal_hosts_and_default_ports() {
        let h = hosts(&["https://api.example.com", "http://localhost:3000"]);
        assert!(h.allows("https", "api.example.com", None));
        assert!(h.allows("https", "API.Example.com", Some(443)));
        assert!(!h.allows("https", "api.example.com", Some(8443)));
        assert!(!h.allows("http", "api.example.com", None), "scheme differs");
        assert!(!h.allows("https", "example.com", None));
        assert!(!h.allows("https", "evil-api.example.com", None));
        assert!(h.allows("http", "localhost", Some(3000)));
        assert!(!h.allows("http", "localhost", None), "port 80 not listed");
        assert!(!hosts(&[]).allows("https", "example.com", None));
    }

    #[test]
    fn wildcards() {
        let h = hosts(&["*://*.example.com:*"]);
        assert!(h.allows("https", "a.example.com", None));
        assert!(h.allows("http", "a.b.example.com", Some(81)));
        assert!(
            !h.allows("https", "example.com", None),
            "suffix itself excluded"
        );
        assert!(!h.allows("https", "badexample.com", None));

        let all = hosts(&["*://*:*"]);
        assert!(all.allows("http", "127.0.0.1", Some(1)));
        assert!(all.allows("https", "[::1]", Some(65535)));
        assert!(all.allows("ftp", "x", Some(21)));

        let any_host = hosts(&["https://*"]);
        assert!(any_host.allows("https", "anything.io", None));
        assert!(!any_host.allows("https", "anything.io", Some(444)));
        assert!(!any_host.allows("http", "anything.io", None));
    }

    #[test]
    fn ports_and_ranges() {
        let h = hosts(&["http://127.0.0.1:8000..8003", "http://[::1]:*"]);
        assert!(h.allows("http", "127.0.0.1", Some(8000)));
        assert!(h.allows("http", "127.0.0.1", Some(8002)));
        assert!(!h.allows("http", "127.0.0.1", Some(8003)), "half-open");
        assert!(!h.allows("http", "127.0.0.1", Some(7999)));
        assert!(h.allows("http", "[::1]", Some(1234)));
        assert!(h.allows("http", "::1", Some(1234)));
        assert!(!h.allows("http", "[::2]", Some(1234)));

        let cidr = hosts(&["https://10.0.0.0/8:*"]);
        assert!(cidr.allows("https", "10.1.2.3", Some(1)));
        assert!(!cidr.allows("https", "11.0.0.1", None));
        assert!(!cidr.allows("https", "ten.example", None));
    }

    #[test]
    fn invalid_entries() {
        for bad in [
            "example.com",
            "*",
            "https://example.com/path",
            "https://example.com:port",
            "https://example.com:1..x",
            "foo://example.com",
            "https://ex*ample.com",
            "https://*.",
            "https://self",
            "h!tp://x:1",
            "https://[::1",
        ] {
            assert!(
                AllowedHosts::parse(&[bad], &AppVariables::default()).is_err(),
                "{bad} should be rejected"
            );
        }
    }

    #[test]
    fn templates_are_expanded_and_empty_results_ignored() {
        let mut d = BTreeMap::new();
        d.insert(
            "upstream".to_owned(),
            VariableDecl {
                default: Some("api.example.com".to_owned()),
                required: false,
                secret: false,
            },
        );
        d.insert(
            "extra".to_owned(),
            VariableDecl {
                default: Some(String::new()),
                required: false,
                secret: false,
            },
        );
        let vars = AppVariables::resolve(&d, |k| {
            (k == "SPIN_VARIABLE_UPSTREAM").then(|| "override.example:8443".to_owned())
        })
        .unwrap();
        let h = AllowedHosts::parse(&["https://{{ upstream }}", "{{extra}}"], &vars).unwrap();
        assert!(h.allows("https", "override.example", Some(8443)));
        assert!(!h.allows("https", "api.example.com", None));
        assert_eq!(h.0.len(), 1, "the empty entry is ignored");
        assert!(AllowedHosts::parse(&["https://{{ undeclared }}"], &vars).is_err());
    }
}
