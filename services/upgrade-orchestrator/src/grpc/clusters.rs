//! Conversions of cluster registrations and topologies.

use obup_proto::pb::orchestrator::v1 as pb;

use crate::clusters::{ClusterRecord, Password, Registration, SslMode};
use crate::driver::ClusterView;
use crate::{Error, Result};

pub(crate) fn registration(m: pb::RegisterClusterRequest) -> Result<(Registration, bool)> {
    let ssl_mode = match pb::SslMode::try_from(m.ssl_mode) {
        Ok(pb::SslMode::Unspecified | pb::SslMode::Preferred) => SslMode::Preferred,
        Ok(pb::SslMode::Disabled) => SslMode::Disabled,
        Ok(pb::SslMode::Required) => SslMode::Required,
        Err(_) => {
            return Err(Error::InvalidArgument {
                field: "ssl_mode",
                reason: format!("unknown SslMode number {}", m.ssl_mode),
            });
        }
    };
    let sys_user = if m.sys_user.is_empty() {
        "root".to_owned()
    } else {
        m.sys_user
    };
    Ok((
        Registration {
            name: m.name,
            sql_endpoints: m.sql_endpoints,
            sys_user,
            password: Password::new(m.password),
            agents: m.agents,
            ssl_mode,
        },
        m.replace,
    ))
}

fn ssl(m: SslMode) -> pb::SslMode {
    match m {
        SslMode::Disabled => pb::SslMode::Disabled,
        SslMode::Preferred => pb::SslMode::Preferred,
        SslMode::Required => pb::SslMode::Required,
    }
}

/// A registration, with its topology if it was read (the password never
/// leaves).
pub(crate) fn cluster(r: &ClusterRecord, view: Option<Result<ClusterView>>) -> pb::Cluster {
    let (topology, topology_error) = match view {
        None => (None, String::new()),
        Some(Ok(v)) => (Some(topology(&v)), String::new()),
        Some(Err(e)) => (None, e.to_string()),
    };
    pb::Cluster {
        name: r.name.clone(),
        sql_endpoints: r.sql_endpoints.clone(),
        sys_user: r.sys_user.clone(),
        agents: r.agents.clone(),
        ssl_mode: ssl(r.ssl_mode) as i32,
        created_at_ms: r.created_at_ms,
        topology,
        topology_error,
    }
}

fn topology(v: &ClusterView) -> pb::ClusterTopology {
    let status = |s: &obup_ob_sql::ServerStatus| match s {
        obup_ob_sql::ServerStatus::Active => "ACTIVE".to_owned(),
        obup_ob_sql::ServerStatus::Inactive => "INACTIVE".to_owned(),
        obup_ob_sql::ServerStatus::Deleting => "DELETING".to_owned(),
        obup_ob_sql::ServerStatus::Other(o) => o.clone(),
    };
    pb::ClusterTopology {
        edition: v.edition.word().into(),
        build_version: v.build_version().unwrap_or_default(),
        zones: v
            .zones
            .iter()
            .map(|z| pb::ClusterZone {
                name: z.zone.clone(),
                status: match &z.status {
                    obup_ob_sql::ZoneStatus::Active => "ACTIVE".into(),
                    obup_ob_sql::ZoneStatus::Inactive => "INACTIVE".into(),
                    obup_ob_sql::ZoneStatus::Other(o) => o.clone(),
                },
                region: z.region.clone(),
                idc: z.idc.clone(),
                servers: v
                    .servers
                    .iter()
                    .filter(|s| s.zone == z.zone)
                    .map(|s| pb::ClusterServer {
                        svr_ip: s.svr_ip.clone(),
                        svr_port: u32::from(s.svr_port),
                        sql_port: u32::from(s.sql_port),
                        status: status(&s.status),
                        build_version: s.build_version.clone(),
                        with_rootserver: s.with_rootserver,
                        start_service_time_ms: s
                            .start_service_time
                            .map_or(0, |t| t.and_utc().timestamp_millis()),
                    })
                    .collect(),
            })
            .collect(),
    }
}
