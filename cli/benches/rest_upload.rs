//! Encrypted REST upload through the gateway: `POST /api/v1/upgrade/package`
//! with the whole multipart body AES-encrypted, as the obshell SDK sends it.
//!
//! Starts the production shape, `obup-package-store` and `obup-gateway`
//! (release) as their own processes, streams a package of
//! about `OBUP_BENCH_MIB` MiB (default 1024; zstd) through a plain HTTP/1.1
//! client that encrypts on the fly, `OBUP_BENCH_REPS` times (default 3),
//! and prints the median time against the slower of the real `sha256sum`
//! and `md5sum` of the same file (measured in the same run, page cache
//! warm: the floor for computing both digests on two cores), and each
//! process's peak RSS.
//! Targets: <= 1.6 x the floor; gateway and package store peak RSS <= 64 MiB.
//!
//! Needs the service binaries beside `obup`: `cargo build --release --workspace --bins`
//! first (the README's bench command does both).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Instant;

use aes::cipher::generic_array::GenericArray;
use aes::cipher::{BlockEncryptMut, KeyIvInit};
use base64::Engine;
use obup_test_support::Compression;
use obup_test_support::bench::{
    Figure, MIB, ServiceProcess, cpu_figure, digest_tools_seconds, env_or, floor_note, median,
    package, report,
};
use obup_test_support::process::cpu_seconds;
const BOUNDARY: &str = "0123456789abcdef0123456789abcdef";

fn main() -> anyhow::Result<()> {
    let mib: u64 = env_or("OBUP_BENCH_MIB", 1024);
    let reps: usize = env_or("OBUP_BENCH_REPS", 3);
    let package = package(Compression::Zstd, mib)?;
    let size = std::fs::metadata(&package)?.len();
    eprintln!("{} MiB package at {}", size / MIB, package.display());
    let mut uploads = Vec::new();
    let (mut sha256sum, mut md5sum) = (Vec::new(), Vec::new());
    let mut peaks = Vec::new();
    for rep in 0..reps {
        let (s, m) = digest_tools_seconds(&package)?;
        sha256sum.push(s);
        md5sum.push(m);
        let data = tempfile::tempdir()?;
        let store = ServiceProcess::start(
            &beside_obup("obup-package-store"),
            &[("OBUP_DATA_DIR", data.path().join("store").into())],
        )?;
        let gateway = ServiceProcess::start(
            &beside_obup("obup-gateway"),
            &[
                ("OBUP_DATA_DIR", data.path().join("gateway").into()),
                ("OBUP_PACKAGE_STORE_URL", store.url.clone().into()),
                // Not asked during uploads.
                ("OBUP_ORCHESTRATOR_URL", store.url.clone().into()),
            ],
        )?;
        let addr = gateway.url.trim_start_matches("http://");
        let cpu_before = [
            cpu_seconds(std::process::id())?,
            gateway.cpu_seconds()?,
            store.cpu_seconds()?,
        ];
        let t = upload(addr, &package)?;
        let peak = (gateway.peak_rss()?, store.peak_rss()?);
        // Where the two cores went: the client encrypting, the gateway
        // decrypting, the store digesting and writing.
        let cpu = [
            cpu_seconds(std::process::id())? - cpu_before[0],
            gateway.cpu_seconds()? - cpu_before[1],
            store.cpu_seconds()? - cpu_before[2],
        ];
        eprintln!(
            "  rep {rep}: upload {t:.2}s, sha256sum {s:.2}s, md5sum {m:.2}s, \
             CPU client {:.2}s gateway {:.2}s store {:.2}s, \
             peak RSS gateway {} MiB, package store {} MiB",
            cpu[0],
            cpu[1],
            cpu[2],
            peak.0 / MIB,
            peak.1 / MIB
        );
        uploads.push(t);
        peaks.push(peak);
    }
    let t_up = median(&uploads);
    let (t_sha, t_md5) = (median(&sha256sum), median(&md5sum));
    let floor = t_sha.max(t_md5);
    let mbps = |t: f64| size as f64 / 1e6 / t;
    let gateway_peak = peaks.iter().map(|p| p.0).max().unwrap_or(0);
    let store_peak = peaks.iter().map(|p| p.1).max().unwrap_or(0);
    let ratio = t_up / floor;
    report(&[
        cpu_figure(),
        Figure::new(
            "encrypted REST upload time vs max(sha256sum, md5sum)",
            format!("{:.0} MB/s ({t_up:.2}s)", mbps(t_up)),
        )
        .baseline(floor_note(t_sha, t_md5), ratio)
        .target("<= 1.60", ratio <= 1.6),
        Figure::peak_rss(
            "REST upload: gateway peak RSS",
            gateway_peak,
            format!("{} MiB package", size / MIB),
        ),
        Figure::peak_rss(
            "REST upload: package store peak RSS",
            store_peak,
            format!("{} MiB package", size / MIB),
        ),
    ])
}

/// A service binary of the workspace, in the same target dir as `obup`.
fn beside_obup(bin: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_BIN_EXE_obup")).with_file_name(bin)
}

/// Uploads like the SDK (whole multipart body encrypted), encrypting as it
/// sends; returns the seconds until the server answered.
fn upload(addr: &str, path: &Path) -> anyhow::Result<f64> {
    let secret: serde_json::Value =
        serde_json::from_str(&http(addr, "GET /api/v1/secret HTTP/1.1", &[], None)?)?;
    let (aes, iv): ([u8; 16], [u8; 16]) = (rand::random(), rand::random());
    let uri = "/api/v1/upgrade/package";
    let auth = obup_gateway::security::sdk_header(
        secret["data"]["public_key"].as_str().unwrap_or_default(),
        "",
        uri,
        &[aes, iv].concat(),
    )
    .map_err(anyhow::Error::msg)?;

    let head = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"bench.rpm\"\r\n\r\n"
    );
    let tail = format!("\r\n--{BOUNDARY}--\r\n");
    let plain_len = head.len() as u64 + std::fs::metadata(path)?.len() + tail.len() as u64;
    let cipher_len = (plain_len / 16 + 1) * 16;
    let body_len = cipher_len.div_ceil(3) * 4;
    let t = Instant::now();
    let response = http(
        addr,
        &format!("POST {uri} HTTP/1.1"),
        &[
            ("X-OCS-Header", auth.as_str()),
            (
                "Content-Type",
                &format!("multipart/form-data; boundary={BOUNDARY}"),
            ),
            ("Content-Length", &body_len.to_string()),
        ],
        Some(&mut |out: &mut dyn Write| encrypt_body(out, &head, path, &tail, &aes, &iv)),
    )?;
    let elapsed = t.elapsed().as_secs_f64();
    let json: serde_json::Value = serde_json::from_str(&response)?;
    anyhow::ensure!(json["successful"] == true, "upload failed: {json}");
    Ok(elapsed)
}

/// base64(AES-128-CBC(head + file + tail)), written as produced: a client
/// as a careful SDK would be (each piece encrypted in place, all blocks at
/// once, and encoded into one reused buffer), so that the figure is the
/// gateway's and the store's and not a wasteful client's.
fn encrypt_body(
    out: &mut dyn Write,
    head: &str,
    path: &Path,
    tail: &str,
    key: &[u8; 16],
    iv: &[u8; 16],
) -> anyhow::Result<()> {
    use aes::cipher::consts::U16;
    use aes::cipher::inout::InOutBuf;
    // A multiple of 48: whole cipher blocks and whole base64 groups, so
    // nothing carries over from one piece to the next.
    const PIECE: usize = 48 << 16;
    let mut enc = cbc::Encryptor::<aes::Aes128>::new(
        GenericArray::from_slice(key),
        GenericArray::from_slice(iv),
    );
    let mut plain = head
        .as_bytes()
        .chain(std::fs::File::open(path)?)
        .chain(tail.as_bytes());
    // Room for the last piece's padding block.
    let mut piece = vec![0u8; PIECE + 16];
    let mut text = vec![0u8; (PIECE + 16) / 3 * 4 + 4];
    loop {
        let mut n = 0;
        while n < PIECE {
            match plain.read(&mut piece[n..PIECE])? {
                0 => break,
                read => n += read,
            }
        }
        let last = n < PIECE;
        if last {
            let pad = 16 - n % 16;
            piece[n..n + pad].fill(pad as u8);
            n += pad;
        }
        let (blocks, _) = InOutBuf::from(&mut piece[..n]).into_chunks::<U16>();
        enc.encrypt_blocks_inout_mut(blocks);
        let m = base64::engine::general_purpose::STANDARD.encode_slice(&piece[..n], &mut text)?;
        out.write_all(&text[..m])?;
        if last {
            return Ok(());
        }
    }
}

type BodyWriter<'a> = &'a mut dyn FnMut(&mut dyn Write) -> anyhow::Result<()>;

/// One HTTP/1.1 request; returns the response body.
fn http(
    addr: &str,
    request_line: &str,
    headers: &[(&str, &str)],
    body: Option<BodyWriter<'_>>,
) -> anyhow::Result<String> {
    let mut stream = TcpStream::connect(addr)?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, stream.try_clone()?);
    write!(
        out,
        "{request_line}\r\nHost: {addr}\r\nConnection: close\r\n"
    )?;
    for (k, v) in headers {
        write!(out, "{k}: {v}\r\n")?;
    }
    if body.is_none() {
        write!(out, "Content-Length: 0\r\n")?;
    }
    write!(out, "\r\n")?;
    if let Some(write_body) = body {
        write_body(&mut out)?;
    }
    out.flush()?;
    drop(out);
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (_, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow::anyhow!("no HTTP body: {response}"))?;
    Ok(body.to_owned())
}
