//! A registered cluster as stored: how to reach its sys tenant and its
//! hosts' agents.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// TLS to the sys tenant (sqlx's modes). obsim offers none: `Disabled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SslMode {
    Disabled,
    Preferred,
    Required,
}

impl SslMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disabled => "disabled",
            Self::Preferred => "preferred",
            Self::Required => "required",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Disabled, Self::Preferred, Self::Required]
            .into_iter()
            .find(|m| m.as_str() == s)
    }

    pub fn to_sqlx(self) -> sqlx::mysql::MySqlSslMode {
        match self {
            Self::Disabled => sqlx::mysql::MySqlSslMode::Disabled,
            Self::Preferred => sqlx::mysql::MySqlSslMode::Preferred,
            Self::Required => sqlx::mysql::MySqlSslMode::Required,
        }
    }
}

/// A cluster as registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterRecord {
    /// `^[A-Za-z0-9_-]{1,64}$`; the id every DAG of the cluster carries.
    pub name: String,
    /// `host:port` of observers' SQL ports to start from; the driver learns
    /// the others from the cluster.
    pub sql_endpoints: Vec<String>,
    pub sys_user: String,
    /// The password sealed with the secret key (`secrets.rs`).
    pub password_sealed: String,
    /// `host:port` of each host's obup-agent.
    pub agents: Vec<String>,
    pub ssl_mode: SslMode,
    pub created_at_ms: i64,
}

fn invalid(field: &'static str, reason: String) -> Error {
    Error::InvalidArgument { field, reason }
}

/// `host:port` with a non-empty host and a port.
fn check_address(field: &'static str, addr: &str) -> Result<()> {
    let ok = addr.rsplit_once(':').is_some_and(|(h, p)| {
        !h.is_empty() && !h.contains(char::is_whitespace) && p.parse::<u16>().is_ok_and(|p| p > 0)
    });
    if ok {
        Ok(())
    } else {
        Err(invalid(field, format!("{addr:?} is not host:port")))
    }
}

impl ClusterRecord {
    /// Checks what a caller may have got wrong, each with its own message.
    pub fn validate(&self) -> Result<()> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !name_ok {
            return Err(invalid(
                "name",
                format!("{:?}: use 1 to 64 letters, digits, '_' or '-'", self.name),
            ));
        }
        if self.sql_endpoints.is_empty() {
            return Err(invalid(
                "sql_endpoints",
                "give at least one SQL endpoint".into(),
            ));
        }
        for e in &self.sql_endpoints {
            check_address("sql_endpoints", e)?;
        }
        for a in &self.agents {
            check_address("agents", a)?;
        }
        if self.sys_user.trim().is_empty() {
            return Err(invalid("sys_user", "the sys tenant's user is empty".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> ClusterRecord {
        ClusterRecord {
            name: "prod-1".into(),
            sql_endpoints: vec!["127.0.1.1:2881".into()],
            sys_user: "root".into(),
            password_sealed: String::new(),
            agents: vec!["127.0.1.1:2886".into()],
            ssl_mode: SslMode::Preferred,
            created_at_ms: 0,
        }
    }

    /// The field a bad registration is refused for, and how it is bad.
    type Case = (&'static str, fn(&mut ClusterRecord));

    #[test]
    fn registrations_are_checked() {
        assert!(record().validate().is_ok());
        let cases: [Case; 6] = [
            ("name", |r| r.name = "prod 1".into()),
            ("name", |r| r.name = String::new()),
            ("sql_endpoints", |r| r.sql_endpoints.clear()),
            ("sql_endpoints", |r| {
                r.sql_endpoints = vec!["127.0.1.1".into()]
            }),
            ("agents", |r| r.agents = vec!["h:0".into()]),
            ("sys_user", |r| r.sys_user = " ".into()),
        ];
        for (field, change) in cases {
            let mut r = record();
            change(&mut r);
            match r.validate() {
                Err(Error::InvalidArgument { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
        assert_eq!(SslMode::parse("disabled"), Some(SslMode::Disabled));
        assert_eq!(SslMode::parse("on"), None);
    }
}
