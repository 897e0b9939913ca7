//! Release tags and obshell's version ordering.

use std::cmp::Ordering;

/// An RPM release tag split the way obshell's upgrade planner reads it:
/// build number before the first dot, distribution after the last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// e.g. `101000062023110109`
    pub build: String,
    /// e.g. `el7`
    pub distribution: String,
    /// e.g. `101000062023110109.el7`
    pub full: String,
}

impl Release {
    /// `None` when the tag has no dot (`Package.ReleaseFormat.Invalid`).
    ///
    /// obshell stores the *second* part as the distribution but plans with the
    /// *last*, so a tag like `1.el7.centos` is `el7` in its package table and
    /// `centos` in its upgrade lookup, and never matches. obup uses the last
    /// part everywhere.
    pub fn parse(tag: &str) -> Option<Self> {
        let (build, _) = tag.split_once('.')?;
        let (_, distribution) = tag.rsplit_once('.')?;
        if build.is_empty() || distribution.is_empty() {
            return None;
        }
        Some(Self {
            build: build.to_owned(),
            distribution: distribution.to_owned(),
            full: tag.to_owned(),
        })
    }
}

/// obshell's `CompareVersion`: each side is `V` or `V-R`; `V` is compared
/// numerically part by part (non-numeric parts count as 0, and with equal
/// common parts the longer `V` wins), then `R` as an integer.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let (av, ar) = a.split_once('-').unwrap_or((a, ""));
    let (bv, br) = b.split_once('-').unwrap_or((b, ""));
    let parts = |v: &str| -> Vec<u64> { v.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    let (ap, bp) = (parts(av), parts(bv));
    for (x, y) in ap.iter().zip(&bp) {
        match x.cmp(y) {
            Ordering::Equal => {}
            other => return other,
        }
    }
    ap.len().cmp(&bp.len()).then_with(|| {
        ar.parse::<u64>()
            .unwrap_or(0)
            .cmp(&br.parse::<u64>().unwrap_or(0))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_build_and_distribution() {
        let r = Release::parse("101000062023110109.el7").unwrap();
        assert_eq!(
            (r.build.as_str(), r.distribution.as_str()),
            ("101000062023110109", "el7")
        );
        assert!(Release::parse("101000062023110109").is_none());
        assert!(Release::parse(".el7").is_none());
        assert!(Release::parse("1.").is_none());
    }

    /// Upstream bug: obshell stores `el7` for `1.el7.centos` but looks up
    /// `centos` when planning, so such a package is never found. We use the
    /// last part in both places.
    #[test]
    fn distribution_is_the_last_part_like_the_upgrade_lookup() {
        let r = Release::parse("1.el7.centos").unwrap();
        assert_eq!(r.build, "1");
        assert_eq!(r.distribution, "centos");
    }

    #[test]
    fn compares_like_obshell() {
        use Ordering::*;
        assert_eq!(compare_versions("4.2.1.0", "4.2.0.0"), Greater);
        assert_eq!(compare_versions("4.2.0", "4.2.0.0"), Less);
        assert_eq!(compare_versions("4.2.1.0-2", "4.2.1.0-10"), Less);
        assert_eq!(compare_versions("4.10.0.0", "4.9.0.0"), Greater);
        assert_eq!(compare_versions("4.2.0.0", "4.2.0.0"), Equal);
        assert_eq!(compare_versions("4.x.0.0", "4.0.0.0"), Equal);
    }
}
