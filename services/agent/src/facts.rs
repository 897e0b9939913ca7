//! What the host is (`Facts`): identity, resources, free space where the
//! upgrade writes, the observer and the Pythons, for the orchestrator's
//! pre-checks.

use std::net::IpAddr;

use crate::domain::{DirFacts, HostFacts, HostPath, ObserverBuild, ObserverFacts};
use crate::host::{Host, binary, disk, process, python};
use crate::ops::context::Settings;

pub async fn collect(host: &Host, settings: &Settings) -> HostFacts {
    let (memory_total_bytes, memory_available_bytes) = memory();
    let home = host.real_home();
    let build = binary::version(&home)
        .await
        .map(|v| ObserverBuild::from(&v))
        .map_err(|f| f.message);
    HostFacts {
        hostname: nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default(),
        ips: ips(),
        architecture: architecture(),
        cpu_count: std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1),
        memory_total_bytes,
        memory_available_bytes,
        home: dir(host, host.home()),
        upgrade_dir: dir(host, host.upgrade_dir()),
        observer: ObserverFacts {
            home: host.home().to_string(),
            pid: process::observer_pid(&home),
            svr_ip: settings.svr_ip.clone(),
            rpc_port: settings.rpc_port,
            sql_port: settings.sql_port,
            build,
        },
        pythons: python::available(settings.python.as_deref()).await,
        agent_version: env!("CARGO_PKG_VERSION").to_owned(),
    }
}

fn dir(host: &Host, path: &HostPath) -> DirFacts {
    let real = host.real(path);
    let (free_bytes, total_bytes) = disk::space(&real).unwrap_or((0, 0));
    DirFacts {
        path: path.to_string(),
        exists: real.is_dir(),
        free_bytes,
        total_bytes,
    }
}

/// The machine as RPM names it (`uname -m`; some systems say `arm64`).
fn architecture() -> String {
    let machine = nix::sys::utsname::uname()
        .map(|u| u.machine().to_string_lossy().into_owned())
        .unwrap_or_else(|_| std::env::consts::ARCH.to_owned());
    match machine.as_str() {
        "arm64" => "aarch64".into(),
        "amd64" => "x86_64".into(),
        _ => machine,
    }
}

/// Addresses of the host's interfaces, loopback last.
fn ips() -> Vec<String> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    let mut ips: Vec<IpAddr> = addrs
        .filter_map(|a| a.address)
        .filter_map(|a| {
            a.as_sockaddr_in()
                .map(|v4| IpAddr::V4(v4.ip()))
                .or_else(|| a.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip())))
        })
        .collect();
    ips.sort_by_key(|ip| (ip.is_loopback(), ip.is_ipv6(), *ip));
    ips.dedup();
    ips.into_iter().map(|ip| ip.to_string()).collect()
}

/// `MemTotal` and `MemAvailable` of `/proc/meminfo`, in bytes.
fn memory() -> (u64, u64) {
    let info = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kib| kib * 1024)
    };
    (field("MemTotal:"), field("MemAvailable:"))
}
