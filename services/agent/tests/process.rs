//! The `obup-agent` binary as a real process: killed with SIGKILL in the
//! middle of a download, an install and a script, then started again on
//! the same state dir; and its choice of Python with a PATH of the test's making.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use obup_agent::AgentClient;
use obup_agent::client::Finished;
use obup_agent::domain::{
    Event, FailureCode, FetchPackage, HostPath, Install, InstallScope, OpKey, OpOutput, RunSpec,
    RunUpgradeScript, Secret, Work,
};
use obup_proto::pb::packagestore::v1 as store;
use obup_test_support::{Compression, RpmSpec, ServiceProcess};
use sha2::{Digest, Sha256};
use tokio_stream::StreamExt;

const BIN: &str = env!("CARGO_BIN_EXE_obup-agent");
const RPM_DIR: &str = "/home/admin/oceanbase/upgrade/rpm-1-1/x86_64/4.3.5.0";

/// A host root and a state dir that outlive the agent processes.
struct Host {
    dir: tempfile::TempDir,
}

impl Host {
    fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("obup-agent-proc-")
            .tempdir()
            .unwrap();
        std::fs::create_dir_all(dir.path().join("root/home/admin/oceanbase")).unwrap();
        Self { dir }
    }

    fn real(&self, host_path: &str) -> PathBuf {
        self.dir
            .path()
            .join("root")
            .join(host_path.trim_start_matches('/'))
    }

    /// The agent binary on this host, with `extra` settings.
    fn agent(&self, extra: &[(&str, OsString)]) -> ServiceProcess {
        let mut env: Vec<(&str, OsString)> = vec![
            ("OBUP_AGENT_LISTEN", "127.0.0.1:0".into()),
            ("OBUP_AGENT_ROOT", self.dir.path().join("root").into()),
            ("OBUP_AGENT_STATE_DIR", self.dir.path().join("state").into()),
            ("OBUP_AGENT_PLAINTEXT", "true".into()),
            ("OBUP_AGENT_SCRIPT_GRACE_SECS", "1".into()),
        ];
        env.extend(extra.iter().cloned());
        ServiceProcess::start(Path::new(BIN), &env).unwrap()
    }
}

async fn client(agent: &ServiceProcess) -> AgentClient {
    AgentClient::connect(&agent.url, None).await.unwrap()
}

fn spec(op: &str, work: Work, continue_: bool) -> RunSpec {
    RunSpec {
        key: OpKey::new(op, 1).unwrap(),
        continue_,
        deadline_ms: None,
        after_log_seq: 0,
        work,
        password: Secret::default(),
    }
}

async fn run_to_end(client: &mut AgentClient, spec: &RunSpec) -> Finished {
    tokio::time::timeout(Duration::from_secs(60), client.run_to_end(spec))
        .await
        .expect("the operation ends within a minute")
        .unwrap()
}

async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A package store in this process, holding a ~12 MiB package whose
/// payload does not compress.
async fn store_with_big_package() -> (String, store::Package, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = obup_package_store::Config::embedded(dir.path()).unwrap();
    let app = obup_package_store::startup::Application::build(config, "127.0.0.1:0")
        .await
        .unwrap();
    let url = format!("http://{}", app.local_addr());
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let observer: Vec<u8> = (0..12 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    let bytes = RpmSpec::oceanbase_ce("4.3.5.0", "100000202024123117.el7")
        .compression(Compression::Zstd)
        .without("/home/admin/oceanbase/bin/observer")
        .file("/home/admin/oceanbase/bin/observer", observer)
        .build();
    let mut c = store::package_store_client::PackageStoreClient::connect(url.clone())
        .await
        .unwrap();
    use store::upload_request::Kind;
    let mut messages = vec![store::UploadRequest {
        kind: Some(Kind::Start(store::UploadStart {
            file_name: "oceanbase-ce.rpm".into(),
            ..Default::default()
        })),
    }];
    let mut offset = 0;
    for chunk in bytes.chunks(1 << 20) {
        messages.push(store::UploadRequest {
            kind: Some(Kind::Data(store::UploadData {
                offset,
                data: Bytes::copy_from_slice(chunk),
            })),
        });
        offset += chunk.len() as u64;
    }
    let package = c
        .upload(futures::stream::iter(messages))
        .await
        .unwrap()
        .into_inner();
    (url, package, dir)
}

fn fetch(url: &str, p: &store::Package, dest: &str) -> Work {
    Work::FetchPackage(FetchPackage {
        store_url: url.into(),
        package_id: p.id,
        sha256: p.sha256.clone(),
        size: p.file_size,
        dest: HostPath::parse(dest).unwrap(),
    })
}

fn size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_killed_with_the_agent_resumes_only_when_continued() {
    let (url, package, _store) = store_with_big_package().await;
    let host = Host::new();
    // 2 MiB/s: the 12 MiB download takes about 6 s, time to kill it.
    let slow = [("OBUP_AGENT_FETCH_BYTES_PER_SEC", OsString::from("2097152"))];
    let agent = host.agent(&slow);
    let mut c = client(&agent).await;
    let (a, b) = (format!("{RPM_DIR}/a.rpm"), format!("{RPM_DIR}/b.rpm"));
    let mut streams = Vec::new();
    for (op, dest) in [("fetch-a", &a), ("fetch-b", &b)] {
        let mut events = c
            .run(&spec(op, fetch(&url, &package, dest), false))
            .await
            .unwrap();
        assert!(matches!(events.next().await, Some(Ok(Event::Accepted(_)))));
        streams.push(events);
    }
    let (partial_a, partial_b) = (
        host.real(&format!("{a}.partial")),
        host.real(&format!("{b}.partial")),
    );
    // Past the first saved SHA-256 state (every 4 MiB).
    wait_for("both downloads under way", || {
        size(&partial_a) > 5 << 20 && size(&partial_b) > 1 << 20
    })
    .await;
    agent.kill();
    drop(streams);
    let had = size(&partial_a);
    assert!(had < package.file_size, "killed mid-download");
    assert!(host.real(&format!("{a}.partial.sha256")).exists());

    let agent = host.agent(&[]);
    let mut c = client(&agent).await;
    let r = run_to_end(&mut c, &spec("fetch-a", fetch(&url, &package, &a), true)).await;
    let Some(OpOutput::FetchPackage(f)) = r.result.output() else {
        panic!("{:?}", r.result)
    };
    assert_eq!(f.resumed_from, had, "resumed from the partial file");
    let resumed = r
        .lines
        .iter()
        .find(|l| l.line.contains("resuming"))
        .expect("the resume is logged");
    let saved_at: u64 = resumed
        .line
        .split_once("state saved at byte ")
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or_else(|| panic!("the saved SHA-256 state was used: {}", resumed.line));
    assert!(
        (4 << 20..=had).contains(&saved_at) && saved_at.is_multiple_of(4 << 20),
        "state at {saved_at}, partial file {had}"
    );
    assert_eq!((r.accepted.attached, r.accepted.runs), (true, 2));
    let bytes = std::fs::read(host.real(&a)).unwrap();
    assert_eq!(hex::encode(Sha256::digest(&bytes)), package.sha256);
    assert!(!partial_a.exists());
    assert!(!host.real(&format!("{a}.partial.sha256")).exists());

    let r = run_to_end(&mut c, &spec("fetch-b", fetch(&url, &package, &b), false)).await;
    let failure = r.result.failure().expect("not continued: interrupted");
    assert!(failure.has_code(FailureCode::Interrupted), "{failure}");
    assert_eq!(
        failure.message,
        "task unexpectedly interrupted and cannot continue"
    );
    assert!(!host.real(&b).exists());
    agent.kill();
}

/// A Python 3 virtualenv with a stand-in `mysql.connector`; `None` without
/// python3.
fn venv_with_connector(dir: &Path) -> Option<PathBuf> {
    let ok = std::process::Command::new("python3")
        .args(["-m", "venv", "--without-pip"])
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("no python3 venv; skipped");
        return None;
    }
    let python = dir.join("bin/python3");
    let out = std::process::Command::new(&python)
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ])
        .output()
        .unwrap();
    let site = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
    stub_connector(&site);
    Some(python)
}

fn stub_connector(site: &Path) {
    std::fs::create_dir_all(site.join("mysql/connector")).unwrap();
    std::fs::write(site.join("mysql/__init__.py"), "").unwrap();
    std::fs::write(
        site.join("mysql/connector/__init__.py"),
        "# obup test stand-in\n",
    )
    .unwrap();
}

fn script_work(path: &str, can_continue: bool) -> Work {
    Work::RunUpgradeScript(RunUpgradeScript {
        script: HostPath::parse(path).unwrap(),
        work_dir: HostPath::parse(RPM_DIR).unwrap(),
        host: "127.0.0.1".into(),
        port: 2881,
        user: "root".into(),
        zone: None,
        timeout_secs: None,
        can_continue,
    })
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit_once(')')
            .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_left_running_by_a_killed_agent_is_stopped_before_the_op_fails() {
    let venv = tempfile::tempdir().unwrap();
    let Some(python) = venv_with_connector(venv.path()) else {
        return;
    };
    let host = Host::new();
    let script = format!("{RPM_DIR}/long.py");
    std::fs::create_dir_all(host.real(RPM_DIR)).unwrap();
    std::fs::write(
        host.real(&script),
        "import os, time\nopen('pid', 'w').write(str(os.getpid()))\nprint('up', flush=True)\ntime.sleep(600)\n",
    )
    .unwrap();
    let with_python = [("OBUP_AGENT_PYTHON", OsString::from(&python))];
    let agent = host.agent(&with_python);
    let mut c = client(&agent).await;
    let mut events = c
        .run(&spec("pre", script_work(&script, false), false))
        .await
        .unwrap();
    while let Some(e) = events.next().await {
        if matches!(e.unwrap(), Event::Log(l) if l.line == "up") {
            break;
        }
    }
    let pid: i32 = std::fs::read_to_string(host.real(RPM_DIR).join("pid"))
        .unwrap()
        .parse()
        .unwrap();
    agent.kill();
    drop(events);
    assert!(alive(pid), "a SIGKILLed agent leaves its script running");

    let agent = host.agent(&with_python);
    let mut c = client(&agent).await;
    let r = run_to_end(&mut c, &spec("pre", script_work(&script, false), true)).await;
    let failure = r.result.failure().expect("the pre script cannot continue");
    assert!(failure.has_code(FailureCode::Interrupted), "{failure}");
    wait_for("the orphaned script to be killed", || !alive(pid)).await;
    agent.kill();
}

/// An agent killed in the middle of an install (a 128 MiB library half
/// copied) leaves a half-installed home. The continue path installs again
/// over it, whole: the home ends as the source, and the op ran twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_install_killed_with_the_agent_is_done_again_whole_when_continued() {
    const BIG: u64 = 128 << 20;
    let host = Host::new();
    let source = format!("{RPM_DIR}/home/admin/oceanbase");
    for dir in ["bin", "lib", "etc"] {
        std::fs::create_dir_all(host.real(&format!("{source}/{dir}"))).unwrap();
    }
    std::fs::write(host.real(&format!("{source}/bin/observer")), b"new build").unwrap();
    std::fs::write(
        host.real(&format!("{source}/etc/dep.yml")),
        b"- version: 4.3.5.0\n",
    )
    .unwrap();
    std::fs::write(
        host.real(&format!("{source}/lib/big.so")),
        vec![7u8; BIG as usize],
    )
    .unwrap();
    let home_lib = host.real("/home/admin/oceanbase/lib/big.so");
    std::fs::create_dir_all(home_lib.parent().unwrap()).unwrap();
    std::fs::write(&home_lib, b"old build's library").unwrap();
    let work = || {
        Work::Install(Install {
            source: HostPath::parse(&source).unwrap(),
            scope: InstallScope::Observer,
        })
    };

    let agent = host.agent(&[]);
    let mut c = client(&agent).await;
    let mut events = c.run(&spec("install", work(), false)).await.unwrap();
    assert!(matches!(events.next().await, Some(Ok(Event::Accepted(_)))));
    // Installing removes the old file, then copies: caught mid-copy.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !(size(&home_lib) > 1 << 20 && size(&home_lib) < BIG) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never caught mid-copy"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    agent.kill();
    drop(events);
    let half = size(&home_lib);
    assert!(half < BIG, "killed mid-copy: {half} bytes");

    let agent = host.agent(&[]);
    let mut c = client(&agent).await;
    let r = run_to_end(&mut c, &spec("install", work(), true)).await;
    let Some(OpOutput::Install(out)) = r.result.output() else {
        panic!("{:?}", r.result)
    };
    assert_eq!(out.files, 3, "{out:?}");
    assert_eq!((r.accepted.attached, r.accepted.runs), (true, 2));
    assert_eq!(size(&home_lib), BIG, "the library whole");
    assert_eq!(
        std::fs::read(host.real("/home/admin/oceanbase/bin/observer")).unwrap(),
        b"new build"
    );
    agent.kill();
}

/// A Python 2.7 that runs: `python2` on PATH, or one of pyenv's.
fn find_python2() -> Option<PathBuf> {
    let runs = |p: &Path| {
        std::process::Command::new(p)
            .args(["-c", "import sys; assert sys.version_info[0] == 2"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if let Some(p) = obup_agent::host::python::find("python2").filter(|p| runs(p)) {
        return Some(p);
    }
    let home = std::env::var_os("HOME")?;
    let versions = Path::new(&home).join(".pyenv/versions");
    std::fs::read_dir(versions)
        .ok()?
        .flatten()
        .map(|e| e.path().join("bin/python2"))
        .find(|p| runs(p))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python2_only_script_runs_under_python2_and_a_modern_one_under_python3() {
    let venv = tempfile::tempdir().unwrap();
    let Some(python3) = venv_with_connector(venv.path()) else {
        return;
    };
    let Some(python2) = find_python2() else {
        eprintln!("no Python 2.7 on this machine; skipped");
        return;
    };
    let host = Host::new();
    // A PATH of the test's making: python3 and python2, each able to
    // import (a stand-in) mysql.connector.
    let bin = host.dir.path().join("bin");
    let py2_site = host.dir.path().join("py2-site");
    std::fs::create_dir_all(&bin).unwrap();
    stub_connector(&py2_site);
    let wrapper = |name: &str, text: String| {
        use std::os::unix::fs::PermissionsExt;
        let p = bin.join(name);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    wrapper(
        "python3",
        format!("#!/bin/sh\nexec {} \"$@\"\n", python3.display()),
    );
    wrapper(
        "python2",
        format!(
            "#!/bin/sh\nPYTHONPATH={} exec {} \"$@\"\n",
            py2_site.display(),
            python2.display()
        ),
    );
    let path = format!("{}:/usr/bin:/bin", bin.display());
    std::fs::create_dir_all(host.real(RPM_DIR)).unwrap();
    let old = format!("{RPM_DIR}/old.py");
    std::fs::write(
        host.real(&old),
        "import sys\ntry:\n    pass\nexcept Exception, e:\n    pass\nprint 'major=%d' % sys.version_info[0]\n",
    )
    .unwrap();
    let new = format!("{RPM_DIR}/new.py");
    std::fs::write(
        host.real(&new),
        "import sys\nprint('major=%d' % sys.version_info[0])\n",
    )
    .unwrap();
    let agent = host.agent(&[("PATH", OsString::from(path))]);
    let mut c = client(&agent).await;
    for (op, script, major) in [("old", &old, "2"), ("new", &new, "3")] {
        let r = run_to_end(&mut c, &spec(op, script_work(script, true), false)).await;
        assert!(r.result.is_success(), "{op}: {:?} {:?}", r.result, r.lines);
        assert!(
            r.lines.iter().any(|l| l.line == format!("major={major}")),
            "{op}: {:?}",
            r.lines
        );
        let Some(OpOutput::RunUpgradeScript(out)) = r.result.output() else {
            panic!()
        };
        assert!(
            out.python.version.starts_with(major),
            "{op}: {:?}",
            out.python
        );
    }
    let facts = c.facts().await.unwrap();
    let commands: Vec<&str> = facts.pythons.iter().map(|p| p.command.as_str()).collect();
    assert!(
        commands.contains(&"python3") && commands.contains(&"python2"),
        "{commands:?}"
    );
    agent.kill();
}
