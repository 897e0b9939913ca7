//! The simulated hosts: a directory per server standing for its
//! filesystem (`H/<ip>`), with the observer home at
//! `H/<ip>/home/admin/oceanbase`, laid out from real packages (the server
//! package and CE's libs) or from obup's stand-in observer package; and the
//! process operations obsim itself does: run `-V`, start an observer at
//! bring-up, kill it at stop.

use std::io::BufReader;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};
use obup_rpm::{UnpackOptions, unpack_package};
use obup_rpm_build::RpmSpec;
use obup_types::{Edition, ObserverVersion};

use crate::state::Build;

/// The home under a host root.
pub fn home_of(root: &Path) -> PathBuf {
    root.join("home/admin/oceanbase")
}

/// The host root of `ip` under the hosts directory.
pub fn root_of(hosts: &Path, ip: Ipv4Addr) -> PathBuf {
    hosts.join(ip.to_string())
}

/// The packages of obup's stand-in observer for `edition` and
/// `version` (`<version>-<build>`): the server package, plus CE's libs.
pub fn standin_packages(edition: Edition, version: &str) -> anyhow::Result<Vec<Vec<u8>>> {
    let (number, build) = version
        .split_once('-')
        .with_context(|| format!("version {version:?} is not <version>-<build>"))?;
    let release = format!("{build}.el7");
    let mut out = vec![RpmSpec::oceanbase_server(edition, number, &release).build()];
    if edition == Edition::Ce {
        out.push(RpmSpec::oceanbase_ce_libs(number, &release).build());
    }
    Ok(out)
}

/// Unpacks `packages` under `root` (entry `/home/admin/x` lands at
/// `root/home/admin/x`), unless the home already has an observer: a home
/// is laid out once, then belongs to whoever upgrades it.
pub fn lay_out(root: &Path, packages: &[Vec<u8>]) -> anyhow::Result<PathBuf> {
    let home = home_of(root);
    if home.join("bin/observer").exists() {
        return Ok(home);
    }
    for p in packages {
        unpack_package(
            BufReader::new(p.as_slice()),
            root,
            &UnpackOptions::default(),
        )
        .with_context(|| format!("unpacking a package under {}", root.display()))?;
    }
    if !home.join("bin/observer").exists() {
        bail!(
            "the packages have no {}",
            home.join("bin/observer").display()
        );
    }
    Ok(home)
}

/// What `<home>/bin/observer -V` says, run as obshell runs it (with
/// `LD_LIBRARY_PATH=<home>/lib`), as the server's build.
pub fn read_build(home: &Path) -> anyhow::Result<Build> {
    let out = Command::new(home.join("bin/observer"))
        .arg("-V")
        .current_dir(home)
        .env("LD_LIBRARY_PATH", home.join("lib"))
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {}/bin/observer -V", home.display()))?;
    if !out.status.success() {
        bail!(
            "{}/bin/observer -V exited with {}",
            home.display(),
            out.status
        );
    }
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    let v = ObserverVersion::parse(&text)
        .map_err(|e| anyhow::anyhow!("{}/bin/observer -V: {e}", home.display()))?;
    Ok(Build {
        version: v.version.clone(),
        build_version: v.server_build_version(),
    })
}

/// Starts the observer as obshell does (`cd <home>;
/// LD_LIBRARY_PATH=<home>/lib <home>/bin/observer`); it daemonizes and
/// writes its own pid file, which this waits for.
pub fn start_observer(home: &Path) -> anyhow::Result<()> {
    let status = Command::new(home.join("bin/observer"))
        .current_dir(home)
        .env("LD_LIBRARY_PATH", home.join("lib"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .with_context(|| format!("starting {}/bin/observer", home.display()))?;
    if !status.success() {
        bail!("{}/bin/observer exited with {status}", home.display());
    }
    // An observer daemonizes: the command returns before the daemon has
    // written its pid file. Wait for it, so that the first look sees the
    // server alive (and its SQL port opens before `start` returns).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while live_pid(home).is_none() {
        if std::time::Instant::now() > deadline {
            bail!(
                "{}/bin/observer wrote no live pid to run/observer.pid within 10 s",
                home.display()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    Ok(())
}

/// The live observer of `home`: the pid in `run/observer.pid`, if
/// `/proc/<pid>` exists, is not a zombie, and runs in `home` (a guard
/// against a reused pid).
pub fn live_pid(home: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(home.join("run/observer.pid")).ok()?;
    let pid: i32 = text.trim().parse().ok()?;
    if pid <= 0 {
        return None;
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let state = stat.rsplit_once(')')?.1.split_whitespace().next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).ok()?;
    let home = home.canonicalize().ok()?;
    (cwd == home).then_some(pid)
}

/// Kills the observer of `home` with SIGKILL, if one lives there.
pub fn kill_observer(home: &Path) -> Option<i32> {
    let pid = live_pid(home)?;
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
    Some(pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_standin_home_starts_reports_and_dies() {
        let dir = tempfile::tempdir().unwrap();
        let packages = standin_packages(Edition::Ce, "4.2.1.0-100000102023092807").unwrap();
        let home = lay_out(dir.path(), &packages).unwrap();
        assert!(home.join("lib/libaio.so.1").exists());
        let b = read_build(&home).unwrap();
        assert_eq!(b.version, "4.2.1.0");
        assert!(
            b.build_version.starts_with("4.2.1.0_100000102023092807-"),
            "{}",
            b.build_version
        );
        assert!(
            b.build_version.ends_with("(Sep 28 2023 07:00:00)"),
            "{}",
            b.build_version
        );
        assert_eq!(live_pid(&home), None);
        start_observer(&home).unwrap();
        let pid = (0..100)
            .find_map(|_| {
                std::thread::sleep(std::time::Duration::from_millis(20));
                live_pid(&home)
            })
            .expect("the observer writes its pid file");
        assert_eq!(kill_observer(&home), Some(pid));
        let gone = (0..100).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(20));
            live_pid(&home).is_none()
        });
        assert!(gone);
    }
}
