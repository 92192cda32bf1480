//! HTTP route matching, as Spin's HTTP trigger does it.
//!
//! A route is either exact (`/api/x`) or a wildcard ending in `/...` (`/api/...`, or
//! `/...` which matches everything). The most specific match wins: the longest route
//! prefix, and for the same prefix an exact route beats a wildcard. A trailing `/` on a
//! route or on the request path is not significant (`/a/` and `/a` are the same route).

use std::fmt;

/// A parsed route pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoutePattern {
    /// Matches one path (stored without trailing slash; the root is `""`).
    Exact(String),
    /// Matches a prefix and everything below it (stored without the `/...`; `""` = all).
    Wildcard(String),
}

fn trim_slash(s: &str) -> &str {
    s.strip_suffix('/').unwrap_or(s)
}

impl RoutePattern {
    /// Parses a manifest route such as `/`, `/a/b`, `/a/...` or `/...`.
    pub fn parse(route: &str) -> Self {
        let route = route.trim();
        let route = if route.starts_with('/') {
            route.to_owned()
        } else {
            format!("/{route}")
        };
        match route.strip_suffix("/...") {
            Some(prefix) => Self::Wildcard(trim_slash(prefix).to_owned()),
            None => Self::Exact(trim_slash(&route).to_owned()),
        }
    }

    /// If `path` matches, the `spin-path-info` for it (the part after the route's
    /// prefix for a wildcard, empty for an exact route).
    pub fn matches(&self, path: &str) -> Option<String> {
        match self {
            Self::Exact(p) => (trim_slash(path) == p).then(String::new),
            Self::Wildcard(prefix) => {
                let rest = path.strip_prefix(prefix.as_str())?;
                (rest.is_empty() || rest.starts_with('/')).then(|| rest.to_owned())
            }
        }
    }

    /// The route without its `/...` (Spin's `spin-component-route`).
    pub fn prefix(&self) -> &str {
        match self {
            Self::Exact(p) | Self::Wildcard(p) => p,
        }
    }

    /// Whether this is a `/...` route.
    pub fn is_wildcard(&self) -> bool {
        matches!(self, Self::Wildcard(_))
    }

    /// Sort key: longer prefixes first, then exact before wildcard.
    fn specificity(&self) -> (usize, bool) {
        (self.prefix().len(), !self.is_wildcard())
    }
}

impl fmt::Display for RoutePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exact(p) if p.is_empty() => f.write_str("/"),
            Self::Exact(p) => f.write_str(p),
            Self::Wildcard(p) => write!(f, "{p}/..."),
        }
    }
}

/// One `[[trigger.http]]` entry.
#[derive(Clone, Debug)]
pub struct Route {
    /// The route exactly as written in the manifest.
    pub raw: String,
    /// The parsed pattern.
    pub pattern: RoutePattern,
    /// The component id that handles it.
    pub component: String,
    /// Position in the manifest.
    pub order: usize,
}

/// The result of routing a request.
#[derive(Debug)]
pub struct RouteMatch<'a> {
    /// The matched route.
    pub route: &'a Route,
    /// `spin-path-info`.
    pub path_info: String,
}

/// All routes of the application.
#[derive(Clone, Debug, Default)]
pub struct Router {
    /// Sorted most specific first.
    routes: Vec<Route>,
    /// Routes that were shadowed by an identical earlier one: (route, ignored component).
    duplicates: Vec<(String, String)>,
}

impl Router {
    /// Builds the router from `(route, component)` pairs in manifest order. If the same
    /// route appears twice, the first one wins (see [`Router::duplicates`]).
    pub fn new(entries: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut routes: Vec<Route> = Vec::new();
        let mut duplicates = Vec::new();
        for (order, (raw, component)) in entries.into_iter().enumerate() {
            let pattern = RoutePattern::parse(&raw);
            if routes.iter().any(|r| r.pattern == pattern) {
                duplicates.push((raw, component));
                continue;
            }
            routes.push(Route {
                raw,
                pattern,
                component,
                order,
            });
        }
        // Stable sort keeps manifest order among equals (which cannot both match anyway).
        routes.sort_by_key(|r| std::cmp::Reverse(r.pattern.specificity()));
        Self { routes, duplicates }
    }

    /// Routes that duplicate an earlier route and are ignored.
    pub fn duplicates(&self) -> &[(String, String)] {
        &self.duplicates
    }

    /// The routes, most specific first.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The routes in manifest order (for printing).
    pub fn in_manifest_order(&self) -> Vec<&Route> {
        let mut v: Vec<&Route> = self.routes.iter().collect();
        v.sort_by_key(|r| r.order);
        v
    }

    /// Finds the most specific route for a request path (without query string).
    pub fn route(&self, path: &str) -> Option<RouteMatch<'_>> {
        self.routes.iter().find_map(|route| {
            route
                .pattern
                .matches(path)
                .map(|path_info| RouteMatch { route, path_info })
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn router(entries: &[(&str, &str)]) -> Router {
        Router::new(
            entries
                .iter()
                .map(|(r, c)| ((*r).to_owned(), (*c).to_owned())),
        )
    }

    fn hit(r: &Router, path: &str) -> Option<(String, String)> {
        r.route(path)
            .map(|m| (m.route.component.clone(), m.path_info))
    }

    fn h(c: &str, info: &str) -> Option<(String, String)> {
        Some((c.to_owned(), info.to_owned()))
    }

    #[test]
    fn the_project_manifest_routes() {
        let r = router(&[
            ("/", "info"),
            ("/...", "info-fallback"),
            ("/api/services/nonce", "nonce"),
            ("/api/services/encrypt", "encrypt"),
        ]);
        assert_eq!(hit(&r, "/"), h("info", ""));
        assert_eq!(hit(&r, "/api/services/nonce"), h("nonce", ""));
        assert_eq!(hit(&r, "/api/services/nonce/"), h("nonce", ""));
        assert_eq!(
            hit(&r, "/api/services/nonceX"),
            h("info-fallback", "/api/services/nonceX")
        );
        assert_eq!(
            hit(&r, "/api/services/nonce/x"),
            h("info-fallback", "/api/services/nonce/x")
        );
        assert_eq!(hit(&r, "/nope"), h("info-fallback", "/nope"));
        assert_eq!(
            hit(&r, "/api/services"),
            h("info-fallback", "/api/services")
        );
    }

    #[test]
    fn exact_beats_wildcard_and_longest_wins() {
        let r = router(&[
            ("/a/...", "a-wild"),
            ("/a", "a-exact"),
            ("/a/b/...", "ab-wild"),
            ("/a/b/c", "abc"),
        ]);
        assert_eq!(hit(&r, "/a"), h("a-exact", ""));
        assert_eq!(hit(&r, "/a/"), h("a-exact", ""));
        assert_eq!(hit(&r, "/a/x"), h("a-wild", "/x"));
        assert_eq!(hit(&r, "/a/b"), h("ab-wild", ""));
        assert_eq!(hit(&r, "/a/b/"), h("ab-wild", "/"));
        assert_eq!(hit(&r, "/a/b/c"), h("abc", ""));
        assert_eq!(hit(&r, "/a/b/c/d"), h("ab-wild", "/c/d"));
        assert_eq!(
            hit(&r, "/ab"),
            None,
            "a prefix must end at a segment boundary"
        );
        assert_eq!(hit(&r, "/"), None);
    }

    #[test]
    fn root_wildcard_matches_everything() {
        let r = router(&[("/...", "all")]);
        assert_eq!(hit(&r, "/"), h("all", "/"));
        assert_eq!(hit(&r, "/x/y"), h("all", "/x/y"));
        assert_eq!(hit(&r, ""), h("all", ""));
    }

    #[test]
    fn no_match_and_duplicates() {
        let r = router(&[("/x", "first"), ("/x/", "second")]);
        assert_eq!(hit(&r, "/y"), None);
        assert_eq!(hit(&r, "/x"), h("first", ""));
        assert_eq!(r.duplicates(), [("/x/".to_owned(), "second".to_owned())]);
    }

    #[test]
    fn display_and_prefix() {
        assert_eq!(RoutePattern::parse("/").to_string(), "/");
        assert_eq!(RoutePattern::parse("/...").to_string(), "/...");
        assert_eq!(RoutePattern::parse("/...").prefix(), "");
        assert_eq!(RoutePattern::parse("/a/b/...").prefix(), "/a/b");
        assert_eq!(RoutePattern::parse("a/b").to_string(), "/a/b");
    }
}
