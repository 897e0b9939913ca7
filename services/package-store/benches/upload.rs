//! Upload throughput and memory of the package store.
//!
//! Builds (once, cached under the target dir) packages of about
//! `OBUP_BENCH_MIB` MiB (default 1024) with xz, zstd and gzip payloads
//! (`OBUP_BENCH_COMPRESSORS`, e.g. `gzip,xz`, picks some), starts
//! the `obup-package-store` binary as its own process on the filesystem
//! store, uploads each package over gRPC `OBUP_BENCH_REPS` times (default 3)
//! and prints medians next to baselines measured in the same run:
//! - hashing: MD5 + SHA-256 of the same bytes on one core;
//! - xz: `xz -dc` of the payload.
//!
//! Targets: zstd/gzip upload >= 0.8 x hashing; xz upload time <= 1.25 x the
//! slower of hashing and `xz -dc`; server peak RSS <= 64 MiB.

use std::io::BufReader;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use obup_proto::pb::packagestore::v1 as pb;
use obup_test_support::Compression;
use obup_test_support::bench::{
    Figure, MIB, ServiceProcess, env_or, hash_seconds, median, package, report,
};
use pb::package_store_client::PackageStoreClient;
use tokio::io::AsyncReadExt;

fn main() -> anyhow::Result<()> {
    let mib: u64 = env_or("OBUP_BENCH_MIB", 1024);
    let reps: usize = env_or("OBUP_BENCH_REPS", 3);
    let only: String = env_or("OBUP_BENCH_COMPRESSORS", "zstd,gzip,xz".to_owned());
    let rt = tokio::runtime::Runtime::new()?;
    let mut figures = Vec::new();
    for (c, name) in [
        (Compression::Zstd, "zstd"),
        (Compression::Gzip, "gzip"),
        (Compression::Xz, "xz"),
    ] {
        if !only.split(',').any(|n| n.trim() == name) {
            continue;
        }
        let path = package(c, mib)?;
        let size = std::fs::metadata(&path)?.len();
        eprintln!("{name}: {} MiB package at {}", size / MIB, path.display());
        let mut hash = Vec::new();
        let mut xz = Vec::new();
        let mut upload = Vec::new();
        let mut rss = Vec::new();
        for rep in 0..reps {
            hash.push(hash_seconds(&path)?);
            if c == Compression::Xz {
                xz.push(xz_dc(&path)?);
            }
            let (t, peak) = rt.block_on(upload_once(&path))?;
            eprintln!(
                "  rep {rep}: upload {:.2}s, hash {:.2}s, peak RSS {} MiB",
                t,
                hash[rep],
                peak / MIB
            );
            upload.push(t);
            rss.push(peak);
        }
        let (t_up, t_hash) = (median(&upload), median(&hash));
        let mbps = |t: f64| size as f64 / 1e6 / t;
        if c == Compression::Xz {
            let t_xz = median(&xz);
            let slower = t_hash.max(t_xz);
            figures.push(
                Figure::new(
                    "xz upload time vs max(hash, xz -dc)",
                    format!("{:.0} MB/s ({t_up:.2}s)", mbps(t_up)),
                )
                .baseline(
                    format!("hash {t_hash:.2}s, xz -dc {t_xz:.2}s"),
                    t_up / slower,
                )
                .target("<= 1.25", t_up / slower <= 1.25),
            );
        } else {
            let ratio = mbps(t_up) / mbps(t_hash);
            figures.push(
                Figure::new(
                    format!("{name} gRPC upload vs MD5+SHA-256"),
                    format!("{:.0} MB/s", mbps(t_up)),
                )
                .baseline(format!("{:.0} MB/s", mbps(t_hash)), ratio)
                .target(">= 0.80", ratio >= 0.8),
            );
        }
        let peak = *rss.iter().max().unwrap_or(&0);
        figures.push(Figure::peak_rss(
            format!("{name} upload: package store peak RSS"),
            peak,
            format!("{} MiB package", size / MIB),
        ));
    }
    report(&figures)
}

/// Seconds for `xz -dc` to decompress the package's payload.
fn xz_dc(path: &Path) -> anyhow::Result<f64> {
    let mut f = std::fs::File::open(path)?;
    let (pre, _) = obup_rpm::digest_package(
        BufReader::new(std::fs::File::open(path)?),
        &Default::default(),
    )?;
    let payload_at = pre.header_offset + pre.header_raw.len() as u64;
    std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(payload_at))?;
    let start = Instant::now();
    let status = Command::new("xz")
        .arg("-dc")
        .stdin(Stdio::from(f))
        .stdout(Stdio::null())
        .status()?;
    anyhow::ensure!(status.success(), "xz -dc failed");
    Ok(start.elapsed().as_secs_f64())
}

/// Starts a fresh server, uploads the file, returns (seconds, peak RSS bytes).
async fn upload_once(path: &Path) -> anyhow::Result<(f64, u64)> {
    let data = tempfile::tempdir()?;
    let server = ServiceProcess::start(
        Path::new(env!("CARGO_BIN_EXE_obup-package-store")),
        &[("OBUP_DATA_DIR", data.path().into())],
    )?;
    let mut client = PackageStoreClient::connect(server.url.clone()).await?;
    let size = std::fs::metadata(path)?.len();
    let start = pb::UploadRequest {
        kind: Some(pb::upload_request::Kind::Start(pb::UploadStart {
            file_name: "bench.rpm".into(),
            total_size: Some(size),
            ..Default::default()
        })),
    };
    let file = tokio::fs::File::open(path).await?;
    let chunks = futures::stream::unfold((file, 0u64), |(mut file, offset)| async move {
        let mut buf = vec![0u8; env_or("OBUP_BENCH_CHUNK_KIB", 1024usize) << 10];
        let mut filled = 0;
        while filled < buf.len() {
            match file.read(&mut buf[filled..]).await {
                Ok(0) | Err(_) => break,
                Ok(n) => filled += n,
            }
        }
        if filled == 0 {
            return None;
        }
        buf.truncate(filled);
        let m = pb::UploadRequest {
            kind: Some(pb::upload_request::Kind::Data(pb::UploadData {
                offset,
                data: buf.into(),
            })),
        };
        Some((m, (file, offset + filled as u64)))
    });
    let t0 = Instant::now();
    let package = client
        .upload(futures::StreamExt::chain(
            futures::stream::iter([start]),
            chunks,
        ))
        .await?;
    let elapsed = t0.elapsed().as_secs_f64();
    anyhow::ensure!(
        package.into_inner().file_size == size,
        "stored size differs"
    );
    let peak = server.peak_rss()?;
    Ok((elapsed, peak))
}
