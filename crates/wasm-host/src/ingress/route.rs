//! The route table of HTTP ingress, with Spin's route syntax: `/api/orders` matches that
//! path exactly; `:name` matches one segment; a trailing `/...` matches the prefix and
//! anything under it. An exact route beats a wildcard one; among wildcards the longest prefix
//! wins; a literal segment beats a `:name` at the same place.

use std::collections::BTreeMap;

/// One segment of a route pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

/// A parsed route pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    segments: Vec<Segment>,
    wildcard: bool,
}

impl Pattern {
    /// Parses `text`.
    ///
    /// # Errors
    ///
    /// Why it is malformed: not starting with `/`, an empty segment, `...` anywhere but at
    /// the end, an empty or repeated `:name`, a `*`, `?` or `#`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let Some(rest) = text.strip_prefix('/') else {
            return Err(format!("route `{text}` must start with `/`"));
        };
        if text.contains(['*', '?', '#']) {
            return Err(format!(
                "route `{text}`: `*`, `?` and `#` are not route syntax (use `:name` for a segment, a trailing `/...` for a prefix)"
            ));
        }
        let mut parts: Vec<&str> = if rest.is_empty() {
            Vec::new()
        } else {
            rest.split('/').collect()
        };
        let wildcard = parts.last() == Some(&"...");
        if wildcard {
            parts.pop();
        }
        let mut segments = Vec::with_capacity(parts.len());
        let mut names = Vec::new();
        for part in parts {
            if part.is_empty() {
                return Err(format!("route `{text}` has an empty segment"));
            }
            if part == "..." {
                return Err(format!("route `{text}`: `...` may only end a route"));
            }
            if let Some(name) = part.strip_prefix(':') {
                if name.is_empty() {
                    return Err(format!("route `{text}` has a `:` with no name"));
                }
                if names.contains(&name) {
                    return Err(format!("route `{text}` names `:{name}` twice"));
                }
                names.push(name);
                segments.push(Segment::Param(name.to_owned()));
            } else {
                segments.push(Segment::Literal(part.to_owned()));
            }
        }
        Ok(Self {
            text: text.to_owned(),
            segments,
            wildcard,
        })
    }

    /// The route as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The same routes whatever the names of its parameters: two such are duplicates.
    fn shape(&self) -> String {
        let mut out = String::new();
        for segment in &self.segments {
            out.push('/');
            match segment {
                Segment::Literal(text) => out.push_str(text),
                Segment::Param(_) => out.push(':'),
            }
        }
        if self.wildcard {
            out.push_str("/...");
        }
        out
    }

    /// How specific it is: exact over wildcard, then more segments, then literals over
    /// parameters from the left. Larger is more specific.
    fn rank(&self) -> (bool, usize, Vec<bool>) {
        (
            !self.wildcard,
            self.segments.len(),
            self.segments
                .iter()
                .map(|s| matches!(s, Segment::Literal(_)))
                .collect(),
        )
    }

    /// The parameters if `path` matches (segments of `path`, without the query).
    fn matches(&self, path: &[&str]) -> Option<BTreeMap<String, String>> {
        if path.len() < self.segments.len() || (!self.wildcard && path.len() != self.segments.len())
        {
            return None;
        }
        let mut params = BTreeMap::new();
        for (segment, part) in self.segments.iter().zip(path) {
            match segment {
                Segment::Literal(text) if text == part => {}
                Segment::Literal(_) => return None,
                Segment::Param(name) => {
                    params.insert(name.clone(), (*part).to_owned());
                }
            }
        }
        Some(params)
    }
}

/// A route that matched: its target and its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched<'a, T> {
    /// What the route leads to.
    pub target: &'a T,
    /// The route as written.
    pub route: &'a str,
    /// `:name` parameters by name.
    pub params: BTreeMap<String, String>,
}

/// Routes to targets, most specific first.
#[derive(Debug, Clone)]
pub struct RouteTable<T> {
    routes: Vec<(Pattern, T)>,
}

/// Why a route table cannot be made: which route (by its place in the list) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteError {
    /// The route's index in the list given.
    pub index: usize,
    /// What is wrong, naming the route.
    pub reason: String,
}

impl<T> RouteTable<T> {
    /// Makes the table.
    ///
    /// # Errors
    ///
    /// The first malformed route, or the second of two routes that match the same paths.
    pub fn new(routes: impl IntoIterator<Item = (String, T)>) -> Result<Self, RouteError> {
        let mut parsed: Vec<(Pattern, T)> = Vec::new();
        for (index, (text, target)) in routes.into_iter().enumerate() {
            let pattern = Pattern::parse(&text).map_err(|reason| RouteError { index, reason })?;
            if let Some((other, _)) = parsed.iter().find(|(p, _)| p.shape() == pattern.shape()) {
                return Err(RouteError {
                    index,
                    reason: format!(
                        "route `{text}` matches the same paths as route `{}`",
                        other.text
                    ),
                });
            }
            parsed.push((pattern, target));
        }
        parsed.sort_by_key(|(p, _)| std::cmp::Reverse(p.rank()));
        Ok(Self { routes: parsed })
    }

    /// The most specific route matching `path` (a query is ignored).
    pub fn lookup(&self, path: &str) -> Option<Matched<'_, T>> {
        let path = path.split(['?', '#']).next().unwrap_or("");
        let parts: Vec<&str> = path
            .trim_start_matches('/')
            .split('/')
            .filter(|p| !p.is_empty())
            .collect();
        self.routes.iter().find_map(|(pattern, target)| {
            pattern.matches(&parts).map(|params| Matched {
                target,
                route: pattern.text(),
                params,
            })
        })
    }

    /// Every route and its target, most specific first.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &T)> {
        self.routes.iter().map(|(p, t)| (p.text(), t))
    }

    /// How many routes.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Whether it has none.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(routes: &[&str]) -> RouteTable<usize> {
        RouteTable::new(routes.iter().enumerate().map(|(i, r)| ((*r).to_owned(), i))).unwrap()
    }

    fn hit(table: &RouteTable<usize>, path: &str) -> Option<usize> {
        table.lookup(path).map(|m| *m.target)
    }

    #[test]
    fn exact_beats_wildcard_and_the_longest_prefix_wins() {
        let t = table(&[
            "/...",
            "/api/...",
            "/api/orders",
            "/api/orders/...",
            "/api/:kind/list",
        ]);
        assert_eq!(hit(&t, "/api/orders"), Some(2));
        assert_eq!(hit(&t, "/api/orders?x=1"), Some(2));
        assert_eq!(hit(&t, "/api/orders/7"), Some(3));
        assert_eq!(hit(&t, "/api/items/list"), Some(4));
        // An exact route beats a wildcard even with a parameter in it.
        assert_eq!(hit(&t, "/api/orders/list"), Some(4));
        assert_eq!(hit(&t, "/api"), Some(1));
        assert_eq!(hit(&t, "/"), Some(0));
        assert_eq!(hit(&t, "/other/thing"), Some(0));
        let m = t.lookup("/api/items/list").unwrap();
        assert_eq!(m.params.get("kind").map(String::as_str), Some("items"));
        assert_eq!(m.route, "/api/:kind/list");
    }

    #[test]
    fn without_a_catch_all_an_unknown_path_matches_nothing() {
        let t = table(&["/hello", "/users/:id"]);
        assert_eq!(hit(&t, "/hello"), Some(0));
        assert_eq!(hit(&t, "/hello/x"), None);
        assert_eq!(hit(&t, "/users/42"), Some(1));
        assert_eq!(hit(&t, "/users"), None);
        assert_eq!(hit(&t, "/users/42/x"), None);
        assert_eq!(hit(&t, "/nothing"), None);
    }

    #[test]
    fn malformed_and_duplicate_routes_are_named() {
        for (bad, says) in [
            ("api", "must start with `/`"),
            ("/a//b", "empty segment"),
            ("/a/.../b", "may only end"),
            ("/a/:", "no name"),
            ("/a/:x/:x", "twice"),
            ("/a/*", "not route syntax"),
        ] {
            let error = RouteTable::new([(bad.to_owned(), 0)]).unwrap_err();
            assert!(error.reason.contains(says), "{bad}: {}", error.reason);
        }
        let error = RouteTable::new([
            ("/a/:x".to_owned(), 0),
            ("/b".to_owned(), 1),
            ("/a/:y".to_owned(), 2),
        ])
        .unwrap_err();
        assert_eq!(error.index, 2);
        assert!(error.reason.contains("`/a/:x`"), "{}", error.reason);
    }
}
