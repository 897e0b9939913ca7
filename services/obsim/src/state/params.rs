//! The parameters obsim knows: the ones obshell, OBD and the upgrade
//! scripts read or set (real-driver.md §1-§2). `ALTER SYSTEM SET` of any
//! other name is refused as the PyPI kernel refuses it: `5099 (42000)
//! System config unknown`.
//!
//! Data types, sections, edit levels and defaults are the PyPI kernel's
//! `V$OB_PARAMETERS` where it has the parameter (`enable_ddl`,
//! `enable_sys_table_ddl`, `enable_major_freeze`, `syslog_level`); the rest
//! are **inferred** (the kernel is single-node and has no upgrade
//! parameters), so a test must not depend on them.

/// Where a parameter lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamScope {
    /// One value per server (`SCOPE = 'CLUSTER'`).
    Cluster,
    /// One value per tenant (`SCOPE = 'TENANT'`).
    Tenant,
}

impl ParamScope {
    pub fn word(self) -> &'static str {
        match self {
            Self::Cluster => "CLUSTER",
            Self::Tenant => "TENANT",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct ParamSpec {
    pub name: &'static str,
    pub scope: ParamScope,
    /// The default value; `None` for the version parameters, which a
    /// cluster takes from its build.
    pub default: Option<&'static str>,
    pub data_type: &'static str,
    pub section: &'static str,
    pub edit_level: &'static str,
}

const fn p(
    name: &'static str,
    scope: ParamScope,
    default: Option<&'static str>,
    data_type: &'static str,
    section: &'static str,
) -> ParamSpec {
    ParamSpec {
        name,
        scope,
        default,
        data_type,
        section,
        edit_level: "DYNAMIC_EFFECTIVE",
    }
}

use ParamScope::{Cluster, Tenant};

pub const PARAMS: &[ParamSpec] = &[
    p(
        "min_observer_version",
        Cluster,
        None,
        "VERSION",
        "ROOT_SERVICE",
    ),
    p(
        "enable_upgrade_mode",
        Cluster,
        Some("False"),
        "BOOL",
        "OBSERVER",
    ),
    // `NONE` when no upgrade runs [inferred]; `DBUPGRADE` and
    // `POSTUPGRADE` are what the scripts wait for (§2.4, §2.5).
    p(
        "_upgrade_stage",
        Cluster,
        Some("NONE"),
        "STRING",
        "OBSERVER",
    ),
    p(
        "server_permanent_offline_time",
        Cluster,
        Some("3600s"),
        "TIME",
        "ROOT_SERVICE",
    ),
    p(
        "enable_rereplication",
        Cluster,
        Some("True"),
        "BOOL",
        "LOAD_BALANCE",
    ),
    p("enable_ddl", Cluster, Some("True"), "BOOL", "ROOT_SERVICE"),
    p(
        "enable_sys_table_ddl",
        Cluster,
        Some("False"),
        "BOOL",
        "ROOT_SERVICE",
    ),
    p(
        "enable_major_freeze",
        Cluster,
        Some("True"),
        "BOOL",
        "ROOT_SERVICE",
    ),
    p("syslog_level", Cluster, Some("WDIAG"), "STRING", "OBSERVER"),
    p(
        "ob_startup_mode",
        Cluster,
        Some("NORMAL"),
        "STRING",
        "OBSERVER",
    ),
    p(
        "tableapi_transport_compress_func",
        Cluster,
        Some("none"),
        "STRING",
        "OBSERVER",
    ),
    p("compatible", Tenant, None, "VERSION", "TENANT"),
    p(
        "enable_rebalance",
        Tenant,
        Some("True"),
        "BOOL",
        "LOAD_BALANCE",
    ),
    p(
        "log_transport_compress_func",
        Tenant,
        Some("none"),
        "STRING",
        "LOGSERVICE",
    ),
    p(
        "_bloom_filter_enabled",
        Tenant,
        Some("True"),
        "BOOL",
        "TENANT",
    ),
];

/// Whether the PyPI kernel takes `value` for `spec`: it refuses a BOOL
/// that is not one of its words (`maybe`) and a `syslog_level` that is not
/// a level (`LOUD`, empty) with `4147 Invalid config`. Other types are
/// not checked (their rules are not verified here).
pub fn accepts(spec: &ParamSpec, value: &str) -> bool {
    let any = |words: &[&str]| words.iter().any(|w| w.eq_ignore_ascii_case(value));
    match (spec.name, spec.data_type) {
        (_, "BOOL") => any(&[
            "true", "false", "t", "f", "yes", "no", "y", "n", "on", "off", "1", "0",
        ]),
        // The levels `seekdb --help` lists for `--log-level`.
        ("syslog_level", _) => any(&["ERROR", "WARN", "INFO", "EDIAG", "WDIAG", "TRACE", "DEBUG"]),
        _ => true,
    }
}

/// The spec of `name` (parameter names are case-insensitive).
pub fn spec(name: &str) -> Option<&'static ParamSpec> {
    PARAMS.iter().find(|p| p.name.eq_ignore_ascii_case(name))
}
