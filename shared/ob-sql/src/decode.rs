//! Rows of the sys tenant's views, as domain types.

use chrono::NaiveDateTime;

use crate::row::{DecodeError, Row};

/// `DBA_OB_ZONES.STATUS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZoneStatus {
    Active,
    Inactive,
    Other(String),
}

/// As the view spells it (`ACTIVE`, `INACTIVE`): what logs and errors say.
impl std::fmt::Display for ZoneStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Active => f.write_str("ACTIVE"),
            Self::Inactive => f.write_str("INACTIVE"),
            Self::Other(s) => f.write_str(s),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneRow {
    pub zone: String,
    pub status: ZoneStatus,
    pub region: String,
    pub idc: String,
}

impl ZoneRow {
    pub fn from_row(r: &Row) -> Result<Self, DecodeError> {
        Ok(Self {
            zone: r.text("ZONE")?.to_owned(),
            status: match r.text("STATUS")? {
                s if s.eq_ignore_ascii_case("ACTIVE") => ZoneStatus::Active,
                s if s.eq_ignore_ascii_case("INACTIVE") => ZoneStatus::Inactive,
                s => ZoneStatus::Other(s.to_owned()),
            },
            region: r.get("REGION")?.unwrap_or_default().to_owned(),
            idc: r.get("IDC")?.unwrap_or_default().to_owned(),
        })
    }
}

/// `DBA_OB_SERVERS.STATUS` (`__all_server` has it in lower case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerStatus {
    Active,
    Inactive,
    Deleting,
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerRow {
    pub svr_ip: String,
    pub svr_port: u16,
    pub sql_port: u16,
    pub zone: String,
    pub id: i64,
    pub status: ServerStatus,
    pub with_rootserver: bool,
    /// NULL until the server serves.
    pub start_service_time: Option<NaiveDateTime>,
    /// NULL while it runs.
    pub stop_time: Option<NaiveDateTime>,
    /// `<version>_<REVISION>(<BUILD_TIME>)`.
    pub build_version: String,
}

impl ServerRow {
    pub fn from_row(r: &Row) -> Result<Self, DecodeError> {
        Ok(Self {
            svr_ip: r.text("SVR_IP")?.to_owned(),
            svr_port: port(r, "SVR_PORT")?,
            sql_port: port(r, "SQL_PORT")?,
            zone: r.text("ZONE")?.to_owned(),
            id: r.int("ID")?,
            status: match r.text("STATUS")? {
                s if s.eq_ignore_ascii_case("ACTIVE") => ServerStatus::Active,
                s if s.eq_ignore_ascii_case("INACTIVE") => ServerStatus::Inactive,
                s if s.eq_ignore_ascii_case("DELETING") => ServerStatus::Deleting,
                s => ServerStatus::Other(s.to_owned()),
            },
            with_rootserver: r.text("WITH_ROOTSERVER")?.eq_ignore_ascii_case("YES"),
            start_service_time: r.opt_datetime("START_SERVICE_TIME")?,
            stop_time: r.opt_datetime("STOP_TIME")?,
            build_version: r.text("BUILD_VERSION")?.to_owned(),
        })
    }

    /// `<version>-<build>`, obup's form, read as obshell reads the view.
    pub fn version_build(&self) -> Option<String> {
        obup_types::split_server_build_version(&self.build_version).map(|(v, b)| format!("{v}-{b}"))
    }

    /// Up and serving: ACTIVE, not stopped, started serving (obshell's
    /// restart wait, per server).
    pub fn serving(&self) -> bool {
        self.status == ServerStatus::Active
            && self.stop_time.is_none()
            && self.start_service_time.is_some()
    }
}

fn port(r: &Row, column: &str) -> Result<u16, DecodeError> {
    let n = r.int(column)?;
    u16::try_from(n).map_err(|_| DecodeError::Invalid {
        column: column.to_owned(),
        value: n.to_string(),
        expected: "a port",
    })
}

/// `GV$OB_PARAMETERS.SCOPE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Cluster,
    Tenant,
}

/// One row of `GV$OB_PARAMETERS`: a value on one server (and tenant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamRow {
    pub svr_ip: String,
    pub svr_port: u16,
    pub zone: String,
    pub scope: Scope,
    pub tenant_id: Option<i64>,
    pub name: String,
    pub value: String,
}

impl ParamRow {
    pub fn from_row(r: &Row) -> Result<Self, DecodeError> {
        let scope = match r.text("SCOPE")? {
            s if s.eq_ignore_ascii_case("CLUSTER") => Scope::Cluster,
            s if s.eq_ignore_ascii_case("TENANT") => Scope::Tenant,
            s => {
                return Err(DecodeError::Invalid {
                    column: "SCOPE".into(),
                    value: s.to_owned(),
                    expected: "CLUSTER or TENANT",
                });
            }
        };
        Ok(Self {
            svr_ip: r.text("SVR_IP")?.to_owned(),
            svr_port: port(r, "SVR_PORT")?,
            zone: r.get("ZONE")?.unwrap_or_default().to_owned(),
            scope,
            tenant_id: r.opt_int("TENANT_ID")?,
            name: r.text("NAME")?.to_owned(),
            value: r.get("VALUE")?.unwrap_or_default().to_owned(),
        })
    }
}

/// Whether `select version()` names the CE edition, as obshell's
/// `version() REGEXP 'OceanBase[\s_]CE'` decides
/// (`5.7.25-OceanBase_CE-v4.3.5.5`).
pub fn version_is_ce(version: &str) -> bool {
    version.match_indices("OceanBase").any(|(i, m)| {
        let rest = &version[i + m.len()..];
        let mut chars = rest.chars();
        matches!(chars.next(), Some(c) if c == '_' || c.is_whitespace())
            && chars.as_str().starts_with("CE")
    })
}

/// The version in `select version()`: after the last `-v` (`5.7.25-OceanBase_CE-v4.3.5.5`
/// -> `4.3.5.5`).
pub fn version_number(version: &str) -> Option<&str> {
    let (_, v) = version.rsplit_once("-v")?;
    (!v.is_empty()
        && v.split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())))
    .then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cols: &[&str], vals: &[Option<&str>]) -> Row {
        Row::new(
            cols.iter().map(|c| c.to_string()).collect(),
            vals.iter().map(|v| v.map(str::to_owned)).collect(),
        )
    }

    #[test]
    fn a_server_row_as_the_view_sends_it() {
        let r = row(
            &[
                "SVR_IP",
                "SVR_PORT",
                "SQL_PORT",
                "ZONE",
                "ID",
                "STATUS",
                "WITH_ROOTSERVER",
                "START_SERVICE_TIME",
                "STOP_TIME",
                "BUILD_VERSION",
            ],
            &[
                Some("127.0.1.1"),
                Some("2882"),
                Some("2881"),
                Some("zone1"),
                Some("1"),
                Some("ACTIVE"),
                Some("YES"),
                Some("2026-11-26 10:00:00.000001"),
                None,
                Some(
                    "4.2.1.0_100000102023092807-7b0f43693565654bb1d7343f728bba7a1e3c4b35(Sep 28 2023 07:09:06)",
                ),
            ],
        );
        let s = ServerRow::from_row(&r).unwrap();
        assert!(s.serving() && s.with_rootserver);
        assert_eq!(
            s.version_build().as_deref(),
            Some("4.2.1.0-100000102023092807")
        );
    }

    #[test]
    fn editions_from_version() {
        assert!(version_is_ce("5.7.25-OceanBase_CE-v4.3.5.5"));
        assert!(version_is_ce("5.7.25-OceanBase CE-v4.2.1.0"));
        assert!(!version_is_ce("5.7.25-OceanBase-v4.2.1.0"));
        assert!(!version_is_ce("5.7.25-OceanBase seekdb-v1.4.0.0"));
        assert_eq!(
            version_number("5.7.25-OceanBase_CE-v4.3.5.5"),
            Some("4.3.5.5")
        );
        assert_eq!(
            version_number("5.7.25-OceanBase seekdb-v1.4.0.0"),
            Some("1.4.0.0")
        );
        assert_eq!(version_number("5.7.25"), None);
    }

    #[test]
    fn parameter_scopes_are_cluster_or_tenant() {
        let cols = [
            "SVR_IP",
            "SVR_PORT",
            "ZONE",
            "SCOPE",
            "TENANT_ID",
            "NAME",
            "VALUE",
        ];
        let p = row(
            &cols,
            &[
                Some("127.0.1.1"),
                Some("2882"),
                Some("zone1"),
                Some("TENANT"),
                Some("1"),
                Some("enable_rebalance"),
                Some("True"),
            ],
        );
        assert_eq!(ParamRow::from_row(&p).unwrap().scope, Scope::Tenant);
        let bad = row(
            &cols,
            &[
                Some("127.0.1.1"),
                Some("2882"),
                Some("zone1"),
                Some("GLOBAL"),
                None,
                Some("x"),
                Some("y"),
            ],
        );
        assert!(ParamRow::from_row(&bad).is_err());
    }
}
