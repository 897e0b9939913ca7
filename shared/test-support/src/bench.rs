//! What obup's benchmarks share: environment knobs, medians, the cached
//! package they upload, the digest baseline (`sha256sum` and `md5sum`), the
//! CPU's SHA extensions, and service binaries run as their own processes
//! with their peak memory read from /proc.

use std::path::{Path, PathBuf};
use std::time::Instant;

pub use crate::process::ServiceProcess;
use crate::{Compression, RpmSpec};

pub const MIB: u64 = 1 << 20;

/// `key` parsed from the environment, or `default`.
pub fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Where generated packages are kept between runs: `obup-bench` in the
/// target dir.
fn cache_dir() -> anyhow::Result<PathBuf> {
    let target = std::env::var("CARGO_TARGET_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../target").into());
    let dir = Path::new(&target).join("obup-bench");
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// An oceanbase-ce package of about `mib` MiB with a `c` payload whose
/// content compresses about 2:1, like a real observer binary does with fast
/// settings. Built once and cached.
pub fn package(c: Compression, mib: u64) -> anyhow::Result<PathBuf> {
    let name = match c {
        Compression::Zstd => "zstd",
        Compression::Gzip => "gzip",
        Compression::Xz => "xz",
        other => anyhow::bail!("no benchmark package with {other:?}"),
    };
    let path = cache_dir()?.join(format!("oceanbase-ce-{mib}mib-{name}.rpm"));
    if path.exists() {
        return Ok(path);
    }
    eprintln!("building {}", path.display());
    // xz compresses this content a little better: a little less of it.
    let raw = mib * MIB * 2
        - if c == Compression::Xz {
            mib * MIB / 8
        } else {
            0
        };
    let mut content = vec![0u8; raw as usize];
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let text = b"oceanbase observer log replay tablet ls_id=1001 tenant_id=1002 ";
    for (i, block) in content.chunks_mut(4096).enumerate() {
        if i % 2 == 0 {
            for b in block.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = (x >> 24) as u8;
            }
        } else {
            for (j, b) in block.iter_mut().enumerate() {
                *b = text[(j + i) % text.len()];
            }
        }
    }
    let bytes = RpmSpec::oceanbase_ce("4.3.5.0", "100000202024123117.el7")
        .compression(c)
        .without("/home/admin/oceanbase/bin/observer")
        .file("/home/admin/oceanbase/bin/observer", content)
        .build();
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// The baseline: seconds for the real `sha256sum` and `md5sum` to hash the
/// file, page cache warm. The slower of the two is the floor for computing
/// both digests on two cores, which is what an upload does.
pub fn digest_tools_seconds(path: &Path) -> anyhow::Result<(f64, f64)> {
    let run = |tool: &str| -> anyhow::Result<f64> {
        let start = Instant::now();
        let status = std::process::Command::new(tool)
            .arg(path)
            .stdout(std::process::Stdio::null())
            .status()?;
        anyhow::ensure!(status.success(), "{tool} failed");
        Ok(start.elapsed().as_secs_f64())
    };
    // Warms the page cache.
    std::io::copy(&mut std::fs::File::open(path)?, &mut std::io::sink())?;
    Ok((run("sha256sum")?, run("md5sum")?))
}

/// Whether the CPU has the SHA extensions (`sha_ni` in /proc/cpuinfo), and
/// its model: without them SHA-256 is the slowest step of an upload.
pub fn cpu_figure() -> Figure {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = info
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown", |(_, m)| m.trim())
        .to_owned();
    let sha_ni = info
        .lines()
        .filter(|l| l.starts_with("flags"))
        .any(|l| l.split_whitespace().any(|f| f == "sha_ni"));
    Figure::new(
        "CPU has SHA extensions (sha_ni)",
        if sha_ni { "yes" } else { "no" },
    )
    .note(format!(
        "{model}, {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    ))
}

/// `floor` as the baseline cell: both tools' seconds.
pub fn floor_note(sha256sum: f64, md5sum: f64) -> String {
    format!("sha256sum {sha256sum:.2}s, md5sum {md5sum:.2}s")
}

/// One measured figure, as every obup benchmark reports it.
#[derive(Debug, Clone)]
pub struct Figure {
    pub figure: String,
    pub value: String,
    /// The in-run baseline (or the input size, for memory figures).
    pub baseline: String,
    pub ratio: Option<f64>,
    pub target: String,
    /// `None` for figures without a target.
    pub ok: Option<bool>,
}

impl Figure {
    pub fn new(figure: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            figure: figure.into(),
            value: value.into(),
            baseline: "-".into(),
            ratio: None,
            target: "-".into(),
            ok: None,
        }
    }

    pub fn baseline(mut self, baseline: impl Into<String>, ratio: f64) -> Self {
        self.baseline = baseline.into();
        self.ratio = Some(ratio);
        self
    }

    /// Context for a value that has no baseline to divide by.
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.baseline = note.into();
        self
    }

    pub fn target(mut self, target: impl Into<String>, ok: bool) -> Self {
        self.target = target.into();
        self.ok = Some(ok);
        self
    }

    /// A peak RSS against the 64 MiB bound every service is held to.
    pub fn peak_rss(figure: impl Into<String>, bytes: u64, input: impl Into<String>) -> Self {
        let mib = bytes as f64 / MIB as f64;
        Self::new(figure, format!("{mib:.1} MiB"))
            .baseline(input, mib / 64.0)
            .target("<= 64 MiB", bytes <= 64 * MIB)
    }

    fn cells(&self) -> [String; 6] {
        let verdict = match self.ok {
            Some(true) => "ok",
            Some(false) => "MISSED",
            None => "",
        };
        [
            self.figure.clone(),
            self.value.clone(),
            self.baseline.clone(),
            // Small ratios keep a significant digit (0.004, not 0.00).
            self.ratio.map_or("-".into(), |r| {
                if r < 0.1 {
                    format!("{r:.3}")
                } else {
                    format!("{r:.2}")
                }
            }),
            self.target.clone(),
            verdict.into(),
        ]
    }
}

/// Prints `figures` as a table and, when `OBUP_BENCH_REPORT` names a file,
/// appends them to it, tab-separated, for `scripts/bench`'s one table.
pub fn report(figures: &[Figure]) -> anyhow::Result<()> {
    println!("\n{}", table(figures.iter().map(Figure::cells)));
    if let Ok(path) = std::env::var("OBUP_BENCH_REPORT") {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        for cells in figures.iter().map(Figure::cells) {
            std::io::Write::write_all(&mut f, format!("{}\n", cells.join("\t")).as_bytes())?;
        }
    }
    Ok(())
}

/// Rows aligned under a header: text left, numbers right.
pub fn table(rows: impl Iterator<Item = [String; 6]>) -> String {
    let header = ["figure", "value", "in-run baseline", "ratio", "target", ""].map(String::from);
    let rows: Vec<[String; 6]> = std::iter::once(header).chain(rows).collect();
    let width = |i: usize| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..6).map(width).collect();
    rows.iter()
        .map(|r| {
            format!(
                "{:<w0$}  {:>w1$}  {:>w2$}  {:>w3$}  {:>w4$}  {}",
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                r[5],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2],
                w3 = widths[3],
                w4 = widths[4],
            )
            .trim_end()
            .to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
}
