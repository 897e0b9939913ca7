//! Host facts, domain <-> proto.

use obup_proto::pb::agent::v1 as pb;

use super::output::{build, build_from, python, python_from};
use crate::domain::{DirFacts, HostFacts, ObserverFacts};

pub fn facts(f: HostFacts) -> pb::HostFacts {
    let dir = |d: DirFacts| pb::DirFacts {
        path: d.path,
        exists: d.exists,
        free_bytes: d.free_bytes,
        total_bytes: d.total_bytes,
    };
    let (b, build_error) = match f.observer.build {
        Ok(b) => (Some(build(b)), String::new()),
        Err(e) => (None, e),
    };
    pb::HostFacts {
        hostname: f.hostname,
        ips: f.ips,
        architecture: f.architecture,
        cpu_count: f.cpu_count,
        memory_total_bytes: f.memory_total_bytes,
        memory_available_bytes: f.memory_available_bytes,
        home: Some(dir(f.home)),
        upgrade_dir: Some(dir(f.upgrade_dir)),
        observer: Some(pb::ObserverFacts {
            home: f.observer.home,
            pid: f.observer.pid.unwrap_or(0),
            svr_ip: f.observer.svr_ip,
            rpc_port: f.observer.rpc_port.into(),
            sql_port: f.observer.sql_port.into(),
            build: b,
            build_error,
        }),
        pythons: f.pythons.into_iter().map(python).collect(),
        agent_version: f.agent_version,
    }
}

pub fn facts_from(f: pb::HostFacts) -> HostFacts {
    let dir = |d: Option<pb::DirFacts>| {
        let d = d.unwrap_or_default();
        DirFacts {
            path: d.path,
            exists: d.exists,
            free_bytes: d.free_bytes,
            total_bytes: d.total_bytes,
        }
    };
    let o = f.observer.unwrap_or_default();
    let build = match o.build {
        Some(b) => build_from(Some(b)),
        None => Err(o.build_error),
    };
    HostFacts {
        hostname: f.hostname,
        ips: f.ips,
        architecture: f.architecture,
        cpu_count: f.cpu_count,
        memory_total_bytes: f.memory_total_bytes,
        memory_available_bytes: f.memory_available_bytes,
        home: dir(f.home),
        upgrade_dir: dir(f.upgrade_dir),
        observer: ObserverFacts {
            home: o.home,
            pid: (o.pid != 0).then_some(o.pid),
            svr_ip: o.svr_ip,
            rpc_port: u16::try_from(o.rpc_port).unwrap_or(0),
            sql_port: u16::try_from(o.sql_port).unwrap_or(0),
            build,
        },
        pythons: f.pythons.into_iter().map(python_from).collect(),
        agent_version: f.agent_version,
    }
}
