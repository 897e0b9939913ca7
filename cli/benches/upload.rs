//! `obup upload` end to end: the real `obup` binary uploads a zstd package
//! of about `OBUP_BENCH_MIB` MiB (default 1024) to the release
//! `obup-package-store`, each its own process on this machine,
//! `OBUP_BENCH_REPS` times (default 3), page cache warm, next to the real
//! `sha256sum` and `md5sum` of the same file in the same run. The slower of
//! those two is the floor for computing both digests on two cores.
//!
//! Each rep also kills an upload half way (at half the full upload's time),
//! waits until the store has kept its bytes, and times the run that
//! resumes it.
//!
//! Targets: upload <= 1.25 x max(sha256sum, md5sum); resumed run <= 0.6 x
//! the full upload; package store peak RSS <= 64 MiB.
//!
//! Needs the service binaries beside `obup`: `cargo build --release --workspace --bins`
//! first (`scripts/bench` does both).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use obup_test_support::Compression;
use obup_test_support::bench::{
    Figure, MIB, ServiceProcess, cpu_figure, digest_tools_seconds, env_or, floor_note, median,
    package, report,
};

fn main() -> anyhow::Result<()> {
    let mib: u64 = env_or("OBUP_BENCH_MIB", 1024);
    let reps: usize = env_or("OBUP_BENCH_REPS", 3);
    let package = package(Compression::Zstd, mib)?;
    let size = std::fs::metadata(&package)?.len();
    eprintln!("{} MiB package at {}", size / MIB, package.display());
    let (mut sha256sum, mut md5sum) = (Vec::new(), Vec::new());
    let (mut uploads, mut resumed, mut peaks) = (Vec::new(), Vec::new(), Vec::new());
    let mut resumed_at = Vec::new();
    for rep in 0..reps {
        let (s, m) = digest_tools_seconds(&package)?;
        sha256sum.push(s);
        md5sum.push(m);

        let data = tempfile::tempdir()?;
        let store = start_store(data.path())?;
        settle()?;
        let (t, _) = upload(&store.url, &package, data.path(), None)?;
        peaks.push(store.peak_rss()?);
        drop(store);
        drop(data);

        let data = tempfile::tempdir()?;
        let store = start_store(data.path())?;
        upload(&store.url, &package, data.path(), Some(t / 2.0))?;
        kept(&data.path().join("store/objects/staging"))?;
        settle()?;
        let (t_resume, stderr) = upload(&store.url, &package, data.path(), None)?;
        let at = stderr
            .lines()
            .find_map(|l| l.split_once("resuming at ").map(|(_, r)| r.to_owned()))
            .unwrap_or_else(|| "nothing (not resumed)".into());
        eprintln!(
            "  rep {rep}: upload {t:.2}s, sha256sum {s:.2}s, md5sum {m:.2}s, \
             resumed at {at} in {t_resume:.2}s, store peak RSS {} MiB",
            peaks[rep] / MIB
        );
        uploads.push(t);
        resumed.push(t_resume);
        resumed_at.push(at);
    }
    let t_up = median(&uploads);
    let (t_sha, t_md5) = (median(&sha256sum), median(&md5sum));
    let floor = t_sha.max(t_md5);
    let t_resume = median(&resumed);
    let mbps = |t: f64| size as f64 / 1e6 / t;
    report(&[
        cpu_figure(),
        Figure::new(
            "obup upload time vs max(sha256sum, md5sum)",
            format!("{:.0} MB/s ({t_up:.2}s)", mbps(t_up)),
        )
        .baseline(floor_note(t_sha, t_md5), t_up / floor)
        .target("<= 1.25", t_up / floor <= 1.25),
        Figure::new(
            "obup upload resumed after a kill at 50%",
            format!("{t_resume:.2}s"),
        )
        .baseline(
            format!("full {t_up:.2}s; resumed at {}", resumed_at.join(", ")),
            t_resume / t_up,
        )
        .target("<= 0.60", t_resume / t_up <= 0.6),
        Figure::peak_rss(
            "obup upload: package store peak RSS",
            peaks.iter().copied().max().unwrap_or(0),
            format!("{} MiB package", size / MIB),
        ),
    ])
}

/// Writes back what earlier runs left dirty in the page cache, so that each
/// timed run starts with the disk idle: otherwise a run pays for the
/// writeback of the gigabyte the one before it wrote, and the second run
/// of a pair always pays more.
fn settle() -> anyhow::Result<()> {
    anyhow::ensure!(Command::new("sync").status()?.success(), "sync failed");
    Ok(())
}

/// Waits until the store has noticed the killed upload and kept its bytes
/// (a staged part under `staging/`), as it has long before a user runs the
/// command again; the resumed run is timed from there.
fn kept(staging: &Path) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let parts = std::fs::read_dir(staging)
            .into_iter()
            .flatten()
            .flatten()
            .flat_map(|upload| {
                std::fs::read_dir(upload.path())
                    .into_iter()
                    .flatten()
                    .flatten()
            })
            .filter(|part| !part.file_name().to_string_lossy().contains('#'))
            .count();
        if parts > 0 {
            // The stream releases the session right after recording the part.
            std::thread::sleep(Duration::from_millis(50));
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "the killed upload kept nothing");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn start_store(data: &Path) -> anyhow::Result<ServiceProcess> {
    ServiceProcess::start(
        &Path::new(env!("CARGO_BIN_EXE_obup")).with_file_name("obup-package-store"),
        &[("OBUP_DATA_DIR", data.join("store").into())],
    )
}

/// Runs `obup upload` (its cache under `data`) to its end, or kills it
/// after `kill_after` seconds; returns the seconds it ran and its stderr.
fn upload(
    url: &str,
    package: &Path,
    data: &Path,
    kill_after: Option<f64>,
) -> anyhow::Result<(f64, String)> {
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_obup"))
        .env("XDG_CACHE_HOME", data.join("cache"))
        .args(["--server", url, "upload"])
        .arg(package)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    if let Some(after) = kill_after {
        std::thread::sleep(Duration::from_secs_f64(after));
        child.kill()?;
        child.wait()?;
        return Ok((start.elapsed().as_secs_f64(), String::new()));
    }
    let out = child.wait_with_output()?;
    let elapsed = start.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    anyhow::ensure!(out.status.success(), "obup upload failed: {stderr}");
    Ok((elapsed, stderr))
}
