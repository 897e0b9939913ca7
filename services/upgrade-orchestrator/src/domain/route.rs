//! Upgrade routes: which versions an upgrade must pass through, planned
//! from a package's `oceanbase_upgrade_dep.yml`.
//!
//! The file lists versions (`A.B.C.D`, or `A.B.C.D-<build>` for one build)
//! with the versions each can be upgraded to directly. obshell (porting OBD)
//! walks this graph depth-first and calls the result shortest; obup runs a
//! breadth-first search, so the route really is the shortest, under the same
//! rules:
//! - the target must not be a deprecated version (start and intermediate
//!   versions may be);
//! - an exact `version-build` node is preferred over a version-only one;
//! - only the target and the *barriers* become hops: intermediate versions
//!   whose `require_from_binary` holds (optionally only `when_come_from`
//!   given versions, checked against the previous barrier);
//! - an unreachable target is `OB.Upgrade.Path.NotExist`, not a crash.

use std::collections::{HashMap, VecDeque};
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

/// One entry of the dep YAML.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DepEntry {
    pub version: String,
    #[serde(default)]
    pub can_be_upgraded_to: Vec<String>,
    #[serde(default)]
    pub deprecated: bool,
    #[serde(default)]
    pub require_from_binary: RequireFromBinary,
}

/// `require_from_binary`: a bool, or `{value, when_come_from}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequireFromBinary {
    pub value: bool,
    /// When non-empty, the barrier holds only when coming from one of these
    /// (`A.B.C.D` or `A.B.C.D-build`).
    pub when_come_from: Vec<String>,
}

impl<'de> Deserialize<'de> for RequireFromBinary {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RequireFromBinary;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a bool or a map with `value` and `when_come_from`")
            }
            fn visit_bool<E>(self, value: bool) -> Result<Self::Value, E> {
                Ok(RequireFromBinary {
                    value,
                    when_come_from: Vec::new(),
                })
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                match s.to_ascii_lowercase().as_str() {
                    "true" => self.visit_bool(true),
                    "false" => self.visit_bool(false),
                    _ => Err(E::invalid_value(de::Unexpected::Str(s), &self)),
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = RequireFromBinary::default();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "value" => out.value = map.next_value()?,
                        "when_come_from" => out.when_come_from = map.next_value()?,
                        _ => {
                            map.next_value::<de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_any(V)
    }
}

/// A version with an optional build, e.g. `4.2.1.0-100000102023092807`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BuildVersion {
    pub version: String,
    pub build: Option<String>,
}

impl BuildVersion {
    pub fn new(version: &str, build: &str) -> Self {
        Self {
            version: version.into(),
            build: Some(build.into()),
        }
    }

    /// Splits `V-B` at the first `-`.
    pub fn parse(s: &str) -> Self {
        match s.split_once('-') {
            Some((v, b)) => Self {
                version: v.into(),
                build: Some(b.into()),
            },
            None => Self {
                version: s.into(),
                build: None,
            },
        }
    }
}

impl fmt::Display for BuildVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.build {
            Some(b) => write!(f, "{}-{b}", self.version),
            None => f.write_str(&self.version),
        }
    }
}

/// One hop of a route: the version the cluster is upgraded to next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteNode {
    pub version: String,
    /// The exact build, or `None` for a version-only hop (any build of the
    /// version that is not deprecated will do).
    pub build: Option<String>,
    pub require_from_binary: bool,
    /// Deprecated builds of this version, never to be used for the hop.
    pub deprecated_builds: Vec<String>,
}

impl RouteNode {
    /// `V-B`, or `V` for a version-only hop.
    pub fn build_version(&self) -> String {
        match &self.build {
            Some(b) => format!("{}-{b}", self.version),
            None => self.version.clone(),
        }
    }
}

/// Why no route could be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("the upgrade dep YAML is not valid: {0}")]
    InvalidYaml(String),
    #[error("the upgrade dep YAML lists version {0} twice")]
    Duplicate(String),
    #[error(
        "Cannot find the upgrade path from the current version {from} to the target version {to}, \
         please check the upgrade dependency file"
    )]
    NoPath { from: String, to: String },
    #[error("Target version {0} is deprecated")]
    Deprecated(String),
}

/// Parses the dep YAML.
pub fn parse_dep_yaml(text: &str) -> Result<Vec<DepEntry>, RouteError> {
    serde_saphyr::from_str(text).map_err(|e| RouteError::InvalidYaml(e.to_string()))
}

#[derive(Debug)]
struct Node {
    version: String,
    build: Option<String>,
    deprecated: bool,
    rfb: RequireFromBinary,
    next: Vec<usize>,
}

/// The version graph of a dep YAML.
#[derive(Debug)]
struct Graph {
    nodes: Vec<Node>,
    /// Entries by their `version` string; targets that are not entries
    /// become leaf nodes outside this map.
    by_key: HashMap<String, usize>,
}

impl Graph {
    fn build(entries: &[DepEntry]) -> Result<Self, RouteError> {
        let mut g = Graph {
            nodes: Vec::new(),
            by_key: HashMap::new(),
        };
        for e in entries {
            if g.by_key.contains_key(&e.version) {
                return Err(RouteError::Duplicate(e.version.clone()));
            }
            let bv = BuildVersion::parse(&e.version);
            g.by_key.insert(e.version.clone(), g.nodes.len());
            g.nodes.push(Node {
                version: bv.version,
                build: bv.build,
                deprecated: e.deprecated,
                rfb: e.require_from_binary.clone(),
                next: Vec::new(),
            });
        }
        let mut leaves: HashMap<String, usize> = HashMap::new();
        for (i, e) in entries.iter().enumerate() {
            for target in &e.can_be_upgraded_to {
                let j = match g.by_key.get(target).or_else(|| leaves.get(target)) {
                    Some(&j) => j,
                    None => {
                        let bv = BuildVersion::parse(target);
                        g.nodes.push(Node {
                            version: bv.version,
                            build: bv.build,
                            deprecated: false,
                            rfb: RequireFromBinary::default(),
                            next: Vec::new(),
                        });
                        leaves.insert(target.clone(), g.nodes.len() - 1);
                        g.nodes.len() - 1
                    }
                };
                g.nodes[i].next.push(j);
            }
            // Exact builds first, as obshell orders them: on equal
            // distance the search reaches them first.
            let mut next = std::mem::take(&mut g.nodes[i].next);
            next.sort_by_key(|&j| g.nodes[j].build.is_none());
            g.nodes[i].next = next;
        }
        Ok(g)
    }

    /// The node the cluster is at: the exact build, else the version-only
    /// entry, else the highest listed build of the version.
    fn start(&self, current: &BuildVersion) -> Option<usize> {
        if let Some(&i) = self.by_key.get(&current.to_string()) {
            return Some(i);
        }
        if let Some(&i) = self.by_key.get(&current.version) {
            return Some(i);
        }
        self.by_key
            .values()
            .copied()
            .filter(|&i| self.nodes[i].version == current.version)
            .max_by(|&a, &b| {
                let build = |i: usize| self.nodes[i].build.clone().unwrap_or_default();
                obup_types::compare_versions(&format!("0-{}", build(a)), &format!("0-{}", build(b)))
            })
    }

    fn deprecated_builds(&self, version: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .by_key
            .values()
            .map(|&i| &self.nodes[i])
            .filter(|n| n.deprecated && n.version == version)
            .filter_map(|n| n.build.clone())
            .collect();
        out.sort();
        out
    }
}

/// Plans the hops from `current` (an exact build) to `target`, excluding
/// the current version itself. `entries` may be empty when only the build
/// changes.
pub fn plan_route(
    entries: &[DepEntry],
    current: &BuildVersion,
    target: &BuildVersion,
) -> Result<Vec<RouteNode>, RouteError> {
    let target_build = target.build.clone();
    if current.version == target.version {
        return Ok(vec![RouteNode {
            version: target.version.clone(),
            build: target_build,
            require_from_binary: false,
            deprecated_builds: Vec::new(),
        }]);
    }
    let no_path = || RouteError::NoPath {
        from: current.to_string(),
        to: target.to_string(),
    };
    let g = Graph::build(entries)?;
    // A deprecated build is refused as a target however it is reached
    // (obshell lets a version-only entry stand in for it).
    if g.by_key
        .get(&target.to_string())
        .is_some_and(|&i| g.nodes[i].deprecated)
    {
        return Err(RouteError::Deprecated(target.to_string()));
    }
    let start = g.start(current).ok_or_else(no_path)?;

    // Breadth-first: the first time a node is reached is by a shortest path.
    let mut pred: Vec<Option<usize>> = vec![None; g.nodes.len()];
    let mut seen = vec![false; g.nodes.len()];
    let mut queue = VecDeque::from([start]);
    seen[start] = true;
    let (mut exact, mut version_only) = (None, None);
    while let Some(n) = queue.pop_front() {
        let node = &g.nodes[n];
        if node.version == target.version && n != start {
            match &node.build {
                b if *b == target_build => {
                    exact = Some(n);
                    break;
                }
                None if version_only.is_none() => version_only = Some(n),
                _ => {}
            }
        }
        for &m in &node.next {
            if !seen[m] {
                seen[m] = true;
                pred[m] = Some(n);
                queue.push_back(m);
            }
        }
    }
    let last = exact.or(version_only).ok_or_else(no_path)?;
    if g.nodes[last].deprecated {
        return Err(RouteError::Deprecated(target.to_string()));
    }

    let mut path = vec![last];
    while let Some(p) = pred[*path.last().expect("the path is never empty")] {
        path.push(p);
    }
    path.reverse();
    // A version the cluster is already at is not a hop, even through
    // another entry of the same version (e.g. deprecated build -> release).
    path.dedup_by(|b, a| g.nodes[*a].version == g.nodes[*b].version);

    // Barriers: each is judged against the previous barrier (or the start).
    let mut hops = Vec::new();
    let mut previous = (g.nodes[start].version.clone(), current.build.clone());
    for (k, &i) in path.iter().enumerate().skip(1) {
        let node = &g.nodes[i];
        let is_last = k == path.len() - 1;
        let rfb = node.rfb.value
            && (node.rfb.when_come_from.is_empty()
                || node.rfb.when_come_from.iter().any(|from| {
                    *from == previous.0
                        || previous
                            .1
                            .as_ref()
                            .is_some_and(|b| *from == format!("{}-{b}", previous.0))
                }));
        if rfb {
            previous = (node.version.clone(), node.build.clone());
        }
        if rfb || is_last {
            hops.push(RouteNode {
                version: node.version.clone(),
                build: if is_last {
                    target_build.clone()
                } else {
                    node.build.clone()
                },
                require_from_binary: rfb,
                deprecated_builds: g.deprecated_builds(&node.version),
            });
        }
    }
    Ok(hops)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `tools/upgrade/oceanbase_upgrade_dep.yml` of oceanbase/oceanbase, as
    /// the spec's worked examples use it.
    const DEP_YAML: &str = r#"
- version: 4.0.0.0
  can_be_upgraded_to:
      - 4.1.0.0
- version: 4.1.0.0-100000192023032010
  can_be_upgraded_to:
    - 4.1.0.0
  deprecated: True
- version: 4.1.0.0
  can_be_upgraded_to:
      - 4.1.0.1
- version: 4.1.0.1
  can_be_upgraded_to:
      - 4.1.0.2
- version: 4.1.0.2
  can_be_upgraded_to:
      - 4.2.0.0
  require_from_binary:
    value: True
    when_come_from: [4.0.0.0, 4.1.0.0-100000192023032010]
- version: 4.2.0.0-100000152023080109
  can_be_upgraded_to:
    - 4.2.0.0
  deprecated: True
- version: 4.2.0.0-100010022023081817
  can_be_upgraded_to:
    - 4.2.0.0
  deprecated: True
- version: 4.2.0.0
  can_be_upgraded_to:
      - 4.2.1.0
- version: 4.2.1.0
  can_be_upgraded_to:
      - 4.2.1.1
- version: 4.2.1.1
  can_be_upgraded_to:
      - 4.2.1.2
- version: 4.2.1.2
  can_be_upgraded_to:
      - 4.3.0.0
  require_from_binary:
    value: True
    when_come_from: [4.1.0.0, 4.1.0.1, 4.1.0.2, 4.2.0.0]
"#;

    const TARGET_BUILD: &str = "100000012024050110";

    fn plan(from: &str, to: &str) -> Result<Vec<RouteNode>, RouteError> {
        let entries = parse_dep_yaml(DEP_YAML).unwrap();
        plan_route(
            &entries,
            &BuildVersion::parse(from),
            &BuildVersion::new(to, TARGET_BUILD),
        )
    }

    fn hops(route: &[RouteNode]) -> Vec<String> {
        route.iter().map(RouteNode::build_version).collect()
    }

    #[test]
    fn worked_example_three_hops_through_two_barriers() {
        let route = plan("4.1.0.0-100000192023032010", "4.3.0.0").unwrap();
        assert_eq!(
            hops(&route),
            ["4.1.0.2", "4.2.1.2", &format!("4.3.0.0-{TARGET_BUILD}")]
        );
        assert!(route[0].require_from_binary && route[1].require_from_binary);
    }

    #[test]
    fn worked_example_from_a_deprecated_build() {
        let route = plan("4.2.0.0-100000152023080109", "4.3.0.0").unwrap();
        assert_eq!(
            hops(&route),
            ["4.2.1.2", &format!("4.3.0.0-{TARGET_BUILD}")]
        );
    }

    #[test]
    fn worked_example_barrier_not_taken_from_elsewhere() {
        // 4.1.0.2 is a barrier only when coming from 4.0.0.0 or the beta.
        let route = plan("4.1.0.1-100000012023050510", "4.2.1.1").unwrap();
        assert_eq!(hops(&route), [format!("4.2.1.1-{TARGET_BUILD}")]);
    }

    #[test]
    fn worked_example_unknown_start_has_no_path() {
        let e = plan("3.1.0-1", "4.2.1.0").unwrap_err();
        assert!(matches!(e, RouteError::NoPath { .. }), "{e}");
        assert!(
            e.to_string()
                .contains("Cannot find the upgrade path from the current version 3.1.0-1")
        );
    }

    #[test]
    fn unreachable_target_is_an_error_not_a_crash() {
        // Reachable versions exist, but nothing leads to 4.4.
        let e = plan("4.2.1.0-1", "4.4.0.0").unwrap_err();
        assert!(matches!(e, RouteError::NoPath { .. }));
        // Downwards is never a path.
        assert!(matches!(
            plan("4.2.1.1-1", "4.1.0.2"),
            Err(RouteError::NoPath { .. })
        ));
    }

    #[test]
    fn deprecated_targets_are_refused_but_deprecated_builds_are_listed() {
        let e = plan("4.1.0.2-1", "4.2.0.0").map(|r| hops(&r));
        // 4.2.0.0 itself is fine; its deprecated builds are reported so that
        // a version-only lookup can skip them.
        let route = plan("4.1.0.2-1", "4.2.0.0").unwrap();
        assert_eq!(e.unwrap(), [format!("4.2.0.0-{TARGET_BUILD}")]);
        assert_eq!(
            route[0].deprecated_builds,
            ["100000152023080109", "100010022023081817"]
        );

        let entries = parse_dep_yaml(DEP_YAML).unwrap();
        let to_beta = plan_route(
            &entries,
            &BuildVersion::new("4.0.0.0", "1"),
            &BuildVersion::new("4.1.0.0", "100000192023032010"),
        );
        assert_eq!(
            to_beta,
            Err(RouteError::Deprecated("4.1.0.0-100000192023032010".into()))
        );
    }

    #[test]
    fn the_shortest_route_wins_where_depth_first_would_not() {
        // Depth-first from A visits the long branch first (it is listed
        // last and popped first) and returns A-B-C-D-T; BFS finds A-T.
        let yaml = r#"
- version: 1.0.0.0
  can_be_upgraded_to: [4.3.0.0, 1.1.0.0]
- version: 1.1.0.0
  can_be_upgraded_to: [1.2.0.0]
  require_from_binary: true
- version: 1.2.0.0
  can_be_upgraded_to: [4.3.0.0]
  require_from_binary: true
"#;
        let entries = parse_dep_yaml(yaml).unwrap();
        let route = plan_route(
            &entries,
            &BuildVersion::new("1.0.0.0", "1"),
            &BuildVersion::new("4.3.0.0", "9"),
        )
        .unwrap();
        assert_eq!(hops(&route), ["4.3.0.0-9"]);
    }

    #[test]
    fn exact_builds_are_preferred() {
        let yaml = r#"
- version: 4.2.1.0
  can_be_upgraded_to: [4.2.2.0, 4.2.2.0-7]
- version: 4.2.2.0
  can_be_upgraded_to: []
- version: 4.2.2.0-7
  can_be_upgraded_to: []
  require_from_binary: true
"#;
        let entries = parse_dep_yaml(yaml).unwrap();
        let route = plan_route(
            &entries,
            &BuildVersion::new("4.2.1.0", "1"),
            &BuildVersion::new("4.2.2.0", "7"),
        )
        .unwrap();
        assert_eq!(hops(&route), ["4.2.2.0-7"]);
    }

    #[test]
    fn same_version_needs_no_yaml() {
        let route = plan_route(
            &[],
            &BuildVersion::new("4.2.1.0", "1"),
            &BuildVersion::new("4.2.1.0", "2"),
        )
        .unwrap();
        assert_eq!(hops(&route), ["4.2.1.0-2"]);
    }

    #[test]
    fn bad_yaml_is_reported() {
        assert!(matches!(
            parse_dep_yaml("- version: [1, 2]"),
            Err(RouteError::InvalidYaml(_))
        ));
        let dup = parse_dep_yaml("- version: 4.2.1.0\n- version: 4.2.1.0\n").unwrap();
        let e = plan_route(
            &dup,
            &BuildVersion::new("4.2.1.0", "1"),
            &BuildVersion::new("4.3.0.0", "1"),
        );
        assert_eq!(e, Err(RouteError::Duplicate("4.2.1.0".into())));
    }

    #[test]
    fn require_from_binary_accepts_both_forms() {
        let entries = parse_dep_yaml(
            "- version: 1.0.0.0\n  require_from_binary: True\n- version: 2.0.0.0\n  require_from_binary:\n    value: false\n",
        )
        .unwrap();
        assert!(entries[0].require_from_binary.value);
        assert!(!entries[1].require_from_binary.value);
    }
}
