//! Arbitrary text as a package's `oceanbase_upgrade_dep.yml`, planned from
//! and to versions the text itself names: the orchestrator parses this file
//! out of every uploaded package, so it must never panic or spin.
//!
//! Input: two selector bytes, then the YAML.

#![no_main]

use libfuzzer_sys::fuzz_target;
use obup_upgrade_orchestrator::domain::route::{
    BuildVersion, DepEntry, parse_dep_yaml, plan_route,
};

fuzz_target!(|data: &[u8]| {
    let [from_sel, to_sel, yaml @ ..] = data else {
        return;
    };
    let Ok(text) = std::str::from_utf8(yaml) else {
        return;
    };
    let Ok(entries) = parse_dep_yaml(text) else {
        return;
    };
    let names = version_names(&entries);
    let from = pick(&names, *from_sel);
    let to = pick(&names, *to_sel);
    if let Ok(route) = plan_route(&entries, &from, &to) {
        // Whatever the graph, the last hop is the target, exactly.
        let last = route.last().expect("a planned route has a hop");
        assert_eq!((&last.version, &last.build), (&to.version, &to.build));
    }
});

/// Every version string the YAML mentions, plus one it does not.
fn version_names(entries: &[DepEntry]) -> Vec<&str> {
    let mut names = vec!["9.9.9.9"];
    for e in entries {
        names.push(&e.version);
        names.extend(e.can_be_upgraded_to.iter().map(String::as_str));
        names.extend(
            e.require_from_binary
                .when_come_from
                .iter()
                .map(String::as_str),
        );
    }
    names
}

/// The low 7 bits choose a name; the high bit gives it a build when it has
/// none (the cluster's current version always has one).
fn pick(names: &[&str], sel: u8) -> BuildVersion {
    let mut v = BuildVersion::parse(names[usize::from(sel & 0x7f) % names.len()]);
    if v.build.is_none() && sel & 0x80 != 0 {
        v.build = Some("1".into());
    }
    v
}
