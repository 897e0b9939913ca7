//! obsim under a driver's load: `obup-obsim serve` as its own process with a
//! 3 x 3 cluster, 8 sqlx connections (the driver's bare options) sending the
//! driver's read statements at 200 queries/s for `OBUP_BENCH_SECONDS`
//! (default 10). Prints the latency p50 and p99 against the targets (< 1 ms,
//! < 5 ms) with the in-run baseline of a TCP round trip on loopback, and the
//! simulator's peak RSS against 64 MiB.
//!
//! `cargo bench -p obup-obsim --bench catalogue`

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use obup_ob_sql::catalogue;
use obup_test_support::bench::{Figure, env_or, median, report};
use obup_test_support::process::peak_rss;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlSslMode};
use sqlx::{Connection, Executor};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CONNECTIONS: usize = 8;
const RATE: u64 = 200;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let seconds: u64 = env_or("OBUP_BENCH_SECONDS", 10);
    let dir = tempfile::tempdir()?;
    let [a, b, c] = obup_obsim::config::random_prefix();
    let mut child = Command::new(env!("CARGO_BIN_EXE_obup-obsim"))
        .args([
            "serve",
            "--zones",
            "3",
            "--servers-per-zone",
            "3",
            "--data-dir",
        ])
        .arg(dir.path())
        .args(["--ip-prefix", &format!("{a}.{b}.{c}")])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()?;
    let measured = measure(dir.path(), seconds).await;
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let (latencies, rtt, rss) = measured?;
    let p50 = median(&latencies);
    let p99 = latencies[(latencies.len() * 99 / 100).min(latencies.len() - 1)];

    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_default();
    println!(
        "obsim 3x3, {CONNECTIONS} connections, {RATE} q/s for {seconds} s: {} queries; CPU {cpu}",
        latencies.len()
    );
    report(&[
        Figure::new("obsim catalogue query p50", format!("{p50:.3} ms"))
            .baseline(format!("TCP round trip {rtt:.3} ms"), p50 / rtt)
            .target("< 1 ms", p50 < 1.0),
        Figure::new("obsim catalogue query p99", format!("{p99:.3} ms"))
            .baseline(format!("TCP round trip {rtt:.3} ms"), p99 / rtt)
            .target("< 5 ms", p99 < 5.0),
        Figure::peak_rss("obsim peak RSS", rss, "3 zones x 3 servers"),
    ])
}

/// Runs the load against the simulator serving from `dir`: the sorted
/// latencies (ms), the loopback round trip (ms) and the simulator's peak RSS.
async fn measure(dir: &Path, seconds: u64) -> anyhow::Result<(Vec<f64>, f64, u64)> {
    let info = wait_for_info(dir).await?;
    // A server's SQL port opens once its observer serves.
    for endpoint in &info.sql_endpoints {
        let mut tries = 0;
        while tokio::net::TcpStream::connect(endpoint).await.is_err() {
            tries += 1;
            anyhow::ensure!(tries < 600, "{endpoint} never served");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // Every read statement of the driver, round robin (but the license
    // view, which a CE cluster does not have).
    let reads: Vec<&'static str> = catalogue::DRIVER
        .iter()
        .filter(|s| !s.columns.is_empty() && s.id != "license_count")
        .map(|s| s.example)
        .collect();
    let endpoints = info.sql_endpoints.clone();
    let per_connection = Duration::from_micros(1_000_000 * CONNECTIONS as u64 / RATE);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut clients = Vec::new();
    for i in 0..CONNECTIONS {
        let endpoint = endpoints[i % endpoints.len()].clone();
        let reads = reads.clone();
        clients.push(tokio::spawn(async move {
            let (host, port) = endpoint.rsplit_once(':').expect("host:port");
            let options = MySqlConnectOptions::new()
                .host(host)
                .port(port.parse()?)
                .username("root@sys")
                .database("oceanbase")
                .ssl_mode(MySqlSslMode::Disabled)
                .pipes_as_concat(false)
                .no_engine_substitution(false)
                .timezone(None)
                .set_names(false)
                .statement_cache_capacity(0);
            let mut conn = MySqlConnection::connect_with(&options).await?;
            let mut ticks = tokio::time::interval(per_connection);
            let mut latencies = Vec::new();
            let mut n = i;
            while Instant::now() < deadline {
                ticks.tick().await;
                let sql = reads[n % reads.len()];
                n += 1;
                let start = Instant::now();
                conn.fetch_all(sqlx::raw_sql(sqlx::AssertSqlSafe(sql)))
                    .await?;
                latencies.push(start.elapsed().as_secs_f64() * 1000.0);
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for c in clients {
        latencies.extend(c.await??);
    }
    latencies.sort_by(f64::total_cmp);
    anyhow::ensure!(!latencies.is_empty(), "no query was sent");
    Ok((latencies, tcp_round_trip().await?, peak_rss(info.pid)?))
}

async fn wait_for_info(dir: &Path) -> anyhow::Result<obup_obsim::Info> {
    let path = dir.join("obsim.json");
    for _ in 0..600 {
        if let Ok(bytes) = std::fs::read(&path)
            && let Ok(info) = serde_json::from_slice(&bytes)
        {
            return Ok(info);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("obup-obsim serve wrote no {}", path.display())
}

/// The median of 2,000 one-byte echoes over loopback TCP: what any request
/// and answer on this machine costs at least.
async fn tcp_round_trip() -> anyhow::Result<f64> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await?;
        let mut b = [0u8; 1];
        while s.read_exact(&mut b).await.is_ok() {
            s.write_all(&b).await?;
        }
        anyhow::Ok(())
    });
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    let mut times = Vec::new();
    let mut b = [0u8; 1];
    for _ in 0..2000 {
        let start = Instant::now();
        s.write_all(&b).await?;
        s.read_exact(&mut b).await?;
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    Ok(median(&times))
}
