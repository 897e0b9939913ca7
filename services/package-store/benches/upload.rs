//! Upload throughput and memory of the package store.
//!
//! Builds (once, cached under the target dir) packages of about
//! `OBUP_BENCH_MIB` MiB (default 1024) with xz, zstd and gzip payloads
//! (`OBUP_BENCH_COMPRESSORS`, e.g. `gzip,xz`, picks some), starts
//! the `obup-package-store` binary as its own process on the filesystem
//! store, uploads each package over gRPC `OBUP_BENCH_REPS` times (default 3)
//! and prints medians next to baselines measured in the same run:
//! - the digest floor: the slower of `sha256sum` and `md5sum` of the same
//!   file (page cache warm), what computing both digests on two cores costs;
//! - xz and gzip: `xz -dc` / `gzip -dc` of the payload (the scan
//!   decompresses it on its own core, and can be the slower step).
//!
//! It also says whether the CPU has the SHA extensions and measures the
//! SHA-256 and MD5 implementations that build here (MB/s of each, one core),
//! which is how the package store's were chosen (`src/upload/pipeline.rs`).
//!
//! Targets: zstd upload time <= 1.25 x the floor; xz and gzip upload time
//! <= 1.25 x the slower of the floor and `xz -dc` / `gzip -dc`; server peak
//! RSS <= 64 MiB.

use std::io::BufReader;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use obup_proto::pb::packagestore::v1 as pb;
use obup_test_support::Compression;
use obup_test_support::bench::{
    Figure, MIB, ServiceProcess, cpu_figure, digest_tools_seconds, env_or, floor_note, median,
    package, report,
};
use pb::package_store_client::PackageStoreClient;
use tokio::io::AsyncReadExt;

fn main() -> anyhow::Result<()> {
    let mib: u64 = env_or("OBUP_BENCH_MIB", 1024);
    let reps: usize = env_or("OBUP_BENCH_REPS", 3);
    let only: String = env_or("OBUP_BENCH_COMPRESSORS", "zstd,gzip,xz".to_owned());
    let rt = tokio::runtime::Runtime::new()?;
    let mut figures = vec![cpu_figure()];
    figures.extend(digest_candidates());
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
        let (mut sha256sum, mut md5sum) = (Vec::new(), Vec::new());
        let mut xz = Vec::new();
        let mut upload = Vec::new();
        let mut rss = Vec::new();
        for rep in 0..reps {
            let (s, m) = digest_tools_seconds(&path)?;
            sha256sum.push(s);
            md5sum.push(m);
            if c != Compression::Zstd {
                xz.push(decompress_seconds(&path, name)?);
            }
            let (t, peak) = rt.block_on(upload_once(&path))?;
            eprintln!(
                "  rep {rep}: upload {t:.2}s, sha256sum {s:.2}s, md5sum {m:.2}s, peak RSS {} MiB",
                peak / MIB
            );
            upload.push(t);
            rss.push(peak);
        }
        let t_up = median(&upload);
        let (t_sha, t_md5) = (median(&sha256sum), median(&md5sum));
        let floor = t_sha.max(t_md5);
        let mbps = |t: f64| size as f64 / 1e6 / t;
        if c != Compression::Zstd {
            let t_xz = median(&xz);
            let slower = floor.max(t_xz);
            figures.push(
                Figure::new(
                    format!("{name} upload time vs max(sha256sum, md5sum, {name} -dc)"),
                    format!("{:.0} MB/s ({t_up:.2}s)", mbps(t_up)),
                )
                .baseline(
                    format!("{}, {name} -dc {t_xz:.2}s", floor_note(t_sha, t_md5)),
                    t_up / slower,
                )
                .target("<= 1.25", t_up / slower <= 1.25),
            );
        } else {
            let ratio = t_up / floor;
            figures.push(
                Figure::new(
                    format!("{name} gRPC upload time vs max(sha256sum, md5sum)"),
                    format!("{:.0} MB/s ({t_up:.2}s)", mbps(t_up)),
                )
                .baseline(floor_note(t_sha, t_md5), ratio)
                .target("<= 1.25", ratio <= 1.25),
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

/// MB/s of each SHA-256 and MD5 implementation that builds here, on one
/// core, over the same in-memory bytes; the fastest of each kind is marked.
fn digest_candidates() -> Vec<Figure> {
    let data: Vec<u8> = (0..64u64 << 20)
        .map(|i| (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8)
        .collect();
    let passes: usize = env_or("OBUP_BENCH_DIGEST_PASSES", 4);
    let measure = |f: &dyn Fn(&[u8]) -> Vec<u8>| -> f64 {
        let mut best = f64::MAX;
        for _ in 0..3 {
            let start = Instant::now();
            for _ in 0..passes {
                std::hint::black_box(f(std::hint::black_box(&data)));
            }
            best = best.min(start.elapsed().as_secs_f64());
        }
        (data.len() * passes) as f64 / 1e6 / best
    };
    type Candidate<'a> = (&'a str, &'a str, Box<dyn Fn(&[u8]) -> Vec<u8>>);
    let candidates: Vec<Candidate<'_>> = vec![
        (
            "SHA-256",
            "sha2 0.10",
            Box::new(|d| {
                use sha2::Digest;
                sha2::Sha256::digest(d).to_vec()
            }),
        ),
        (
            "SHA-256",
            "sha2 0.10 block fn (resumable)",
            Box::new(|d| {
                use sha2::digest::generic_array::GenericArray;
                let mut state = [0u32; 8];
                for block in d.chunks_exact(64) {
                    sha2::compress256(
                        &mut state,
                        std::slice::from_ref(GenericArray::from_slice(block)),
                    );
                }
                state.iter().flat_map(|w| w.to_be_bytes()).collect()
            }),
        ),
        (
            "SHA-256",
            "aws-lc block fn (resumable)",
            Box::new(|d| {
                let mut state = [0u32; 8];
                obup_sha256_block::compress(&mut state, &d[..d.len() / 64 * 64]);
                state.iter().flat_map(|w| w.to_be_bytes()).collect()
            }),
        ),
        (
            "SHA-256",
            "sha2 0.11",
            Box::new(|d| {
                use sha2_011::Digest;
                sha2_011::Sha256::digest(d).to_vec()
            }),
        ),
        (
            "SHA-256",
            "ring 0.17",
            Box::new(|d| {
                ring::digest::digest(&ring::digest::SHA256, d)
                    .as_ref()
                    .to_vec()
            }),
        ),
        (
            "SHA-256",
            "aws-lc-rs 1.19",
            Box::new(|d| {
                aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, d)
                    .as_ref()
                    .to_vec()
            }),
        ),
        (
            "MD5",
            "md-5 0.10",
            Box::new(|d| {
                use md5::Digest;
                md5::Md5::digest(d).to_vec()
            }),
        ),
        (
            "MD5",
            "md-5 0.11",
            Box::new(|d| {
                use md_5_011::Digest;
                md_5_011::Md5::digest(d).to_vec()
            }),
        ),
    ];
    let measured: Vec<(&str, &str, f64)> = candidates
        .iter()
        .map(|(kind, name, f)| {
            let mbps = measure(f.as_ref());
            eprintln!("{kind} {name}: {mbps:.0} MB/s");
            (*kind, *name, mbps)
        })
        .collect();
    let best = |kind: &str| {
        measured
            .iter()
            .filter(|m| m.0 == kind)
            .map(|m| m.2)
            .fold(0.0, f64::max)
    };
    measured
        .iter()
        .map(|(kind, name, mbps)| {
            let used = match (*kind, *name) {
                ("SHA-256", "aws-lc block fn (resumable)") => {
                    ", used by the package store, obup upload and the agent"
                }
                ("MD5", "md-5 0.11") => ", used by the package store",
                _ => "",
            };
            let fastest = if *mbps >= best(kind) { "fastest" } else { "" };
            Figure::new(
                format!("{kind} {name}, one core"),
                format!("{mbps:.0} MB/s"),
            )
            .baseline(
                format!("{fastest}{used}")
                    .trim_start_matches(", ")
                    .to_owned(),
                mbps / best(kind),
            )
        })
        .collect()
}

/// Seconds for `<tool> -dc` (xz, gzip) to decompress the package's payload.
fn decompress_seconds(path: &Path, tool: &str) -> anyhow::Result<f64> {
    let mut f = std::fs::File::open(path)?;
    let (pre, _) = obup_rpm::digest_package(
        BufReader::new(std::fs::File::open(path)?),
        &Default::default(),
    )?;
    let payload_at = pre.header_offset + pre.header_raw.len() as u64;
    std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(payload_at))?;
    let start = Instant::now();
    let status = Command::new(tool)
        .arg("-dc")
        .stdin(Stdio::from(f))
        .stdout(Stdio::null())
        .status()?;
    anyhow::ensure!(status.success(), "{tool} -dc failed");
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
