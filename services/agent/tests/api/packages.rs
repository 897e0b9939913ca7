//! A real package from a real package store: fetch, verify, unpack, check
//! the binary, back up, install, restore, clean up.

use obup_agent::domain::{
    Backup, CheckBinary, ExpectedBuild, FailureCode, FetchPackage, Install, InstallScope, OpOutput,
    PrepareDir, RemoveDir, RestoreBackup, Unpack, VerifyPackage, Work,
};
use obup_rpm_build::RpmSpec;
use sha2::{Digest, Sha256};

use crate::helpers::*;

const TASK: &str = "/home/admin/oceanbase/upgrade/rpm-1-1";
const RPM_DIR: &str = "/home/admin/oceanbase/upgrade/rpm-1-1/x86_64/4.3.5.0";
const UNPACKED: &str = "/home/admin/oceanbase/upgrade/rpm-1-1/x86_64/4.3.5.0/home/admin/oceanbase";

fn sha(path: &std::path::Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

fn fetch(store: &TestStore, p: &obup_proto::pb::packagestore::v1::Package, dest: &str) -> Work {
    Work::FetchPackage(FetchPackage {
        store_url: store.url.clone(),
        package_id: p.id,
        sha256: p.sha256.clone(),
        size: p.file_size,
        dest: hp(dest),
    })
}

#[tokio::test]
async fn a_package_goes_from_the_store_into_the_home_and_back_out() {
    let store = TestStore::start().await;
    let bytes = RpmSpec::oceanbase_ce("4.3.5.0", "100000202024123117.el7").build();
    let package = store.upload("oceanbase-ce.rpm", &bytes).await;
    let libs = RpmSpec::oceanbase_ce_libs("4.3.5.0", "100000202024123117.el7").build();
    let libs = store.upload("oceanbase-ce-libs.rpm", &libs).await;
    let mut agent = TestAgent::start().await;
    // The installed observer: 4.2.1.0, with an obshell and a config file.
    let home = agent.home();
    install_standin(&home, "4.2.1.0", "100000102023092807");
    std::fs::write(home.join("bin/obshell"), "old obshell").unwrap();
    std::fs::write(home.join("etc/upgrade_pre.py"), "old pre").unwrap();
    let old_observer = sha(&home.join("bin/observer"));

    let r = agent
        .run(
            "prepare",
            1,
            Work::PrepareDir(PrepareDir {
                path: hp(TASK),
                require_empty: true,
            }),
        )
        .await;
    assert_eq!(
        r.result.output(),
        Some(&OpOutput::PrepareDir { created: true })
    );

    let rpm = format!("{RPM_DIR}/oceanbase-ce.rpm");
    let r = agent.run("fetch", 1, fetch(&store, &package, &rpm)).await;
    let Some(OpOutput::FetchPackage(f)) = r.result.output() else {
        panic!("{:?}", r.result)
    };
    assert_eq!((f.bytes, f.resumed_from), (bytes.len() as u64, 0));
    assert_eq!(f.sha256, package.sha256);
    assert_eq!(sha(&agent.real(&rpm)), package.sha256);
    assert!(!agent.real(&format!("{rpm}.partial")).exists());
    let libs_rpm = format!("{RPM_DIR}/oceanbase-ce-libs.rpm");
    assert!(
        agent
            .run("fetch-libs", 1, fetch(&store, &libs, &libs_rpm))
            .await
            .result
            .is_success()
    );

    let r = agent
        .run(
            "verify",
            1,
            Work::VerifyPackage(VerifyPackage {
                path: hp(&rpm),
                sha256: package.sha256.clone(),
                md5: package.md5.clone(),
                size: package.file_size,
            }),
        )
        .await;
    assert!(r.result.is_success(), "{:?}", r.result);

    for (op, path) in [("unpack", &rpm), ("unpack-libs", &libs_rpm)] {
        let r = agent
            .run(
                op,
                1,
                Work::Unpack(Unpack {
                    rpm: hp(path),
                    dest: hp(RPM_DIR),
                }),
            )
            .await;
        assert!(r.result.is_success(), "{:?}", r.result);
    }
    assert!(agent.real(&format!("{UNPACKED}/bin/observer")).is_file());
    assert!(agent.real(&format!("{UNPACKED}/lib/libaio.so.1")).is_file());

    let r = agent
        .run(
            "check",
            1,
            Work::CheckBinary(CheckBinary {
                home: hp(UNPACKED),
                expect: ExpectedBuild {
                    version: Some("4.3.5.0".into()),
                    build: Some("100000202024123117".into()),
                },
            }),
        )
        .await;
    let Some(OpOutput::CheckBinary { build }) = r.result.output() else {
        panic!("{:?}", r.result)
    };
    assert_eq!(build.product, "OceanBase_CE");
    assert!(build.revision.starts_with("100000202024123117-"));

    let backup_dir = format!("{TASK}/backup");
    let r = agent
        .run(
            "backup",
            1,
            Work::Backup(Backup {
                sources: vec![hp(UNPACKED)],
                scope: InstallScope::Observer,
                backup_dir: hp(&backup_dir),
            }),
        )
        .await;
    let Some(OpOutput::Backup(manifest)) = r.result.output() else {
        panic!("{:?}", r.result)
    };
    let saved: Vec<&str> = manifest.entries.iter().map(|e| e.path.as_str()).collect();
    assert!(
        saved.contains(&"bin/observer") && saved.contains(&"etc/upgrade_pre.py"),
        "{saved:?}"
    );
    assert!(
        !saved.contains(&"bin/obshell"),
        "the observer install leaves obshell alone"
    );
    assert!(
        manifest.created.contains(&"lib/libaio.so.1".to_owned()),
        "{:?}",
        manifest.created
    );
    let observer_entry = manifest
        .entries
        .iter()
        .find(|e| e.path == "bin/observer")
        .unwrap();
    assert_eq!(
        (observer_entry.sha256.as_str(), observer_entry.mode),
        (old_observer.as_str(), 0o755)
    );
    assert!(agent.real(&format!("{backup_dir}/manifest.json")).is_file());

    let r = agent
        .run(
            "install",
            1,
            Work::Install(Install {
                source: hp(UNPACKED),
                scope: InstallScope::Observer,
            }),
        )
        .await;
    let Some(OpOutput::Install(out)) = r.result.output() else {
        panic!("{:?}", r.result)
    };
    assert!(out.skipped >= 1, "obshell is left out");
    assert_eq!(
        sha(&home.join("bin/observer")),
        sha(&agent.real(&format!("{UNPACKED}/bin/observer")))
    );
    assert_eq!(
        std::fs::read_to_string(home.join("bin/obshell")).unwrap(),
        "old obshell"
    );
    assert!(home.join("lib/libaio.so.1").is_file());

    let r = agent
        .run(
            "install-agent",
            1,
            Work::Install(Install {
                source: hp(UNPACKED),
                scope: InstallScope::Agent,
            }),
        )
        .await;
    assert!(r.result.is_success(), "{:?}", r.result);
    assert_ne!(
        std::fs::read_to_string(home.join("bin/obshell")).unwrap(),
        "old obshell"
    );

    // A second backup into the same dir keeps the first: it must not
    // capture the new binaries.
    let r = agent
        .run(
            "backup-again",
            1,
            Work::Backup(Backup {
                sources: vec![hp(UNPACKED)],
                scope: InstallScope::Observer,
                backup_dir: hp(&backup_dir),
            }),
        )
        .await;
    assert_eq!(r.result.output(), Some(&OpOutput::Backup(manifest.clone())));

    let r = agent
        .run(
            "restore",
            1,
            Work::RestoreBackup(RestoreBackup {
                backup_dir: hp(&backup_dir),
            }),
        )
        .await;
    let Some(OpOutput::RestoreBackup(out)) = r.result.output() else {
        panic!("{:?}", r.result)
    };
    assert_eq!(out.restored as usize, manifest.entries.len());
    assert_eq!(sha(&home.join("bin/observer")), old_observer);
    assert_eq!(
        std::fs::read_to_string(home.join("etc/upgrade_pre.py")).unwrap(),
        "old pre"
    );
    assert!(
        !home.join("lib/libaio.so.1").exists(),
        "what the install added is removed"
    );

    let r = agent
        .run("remove", 1, Work::RemoveDir(RemoveDir { path: hp(TASK) }))
        .await;
    assert_eq!(
        r.result.output(),
        Some(&OpOutput::RemoveDir { existed: true })
    );
    assert!(!agent.real(TASK).exists());
    assert!(home.join("bin/observer").is_file());
}

#[tokio::test]
async fn wrong_digests_fail_with_their_codes_and_leave_no_package() {
    let store = TestStore::start().await;
    let bytes = RpmSpec::oceanbase_ce("4.3.5.0", "100000202024123117.el7").build();
    let package = store.upload("oceanbase-ce.rpm", &bytes).await;
    let mut agent = TestAgent::start().await;
    let rpm = format!("{RPM_DIR}/oceanbase-ce.rpm");

    let mut lying = package.clone();
    lying.sha256 = "0".repeat(64);
    let r = agent.run("fetch", 1, fetch(&store, &lying, &rpm)).await;
    let f = r.result.failure().expect("a mismatch fails");
    assert!(f.has_code(FailureCode::DownloadMismatch), "{f}");
    assert!(!agent.real(&rpm).exists() && !agent.real(&format!("{rpm}.partial")).exists());

    assert!(
        agent
            .run("fetch", 2, fetch(&store, &package, &rpm))
            .await
            .result
            .is_success()
    );
    let verify = |md5: &str, sha256: &str| {
        Work::VerifyPackage(VerifyPackage {
            path: hp(&rpm),
            sha256: sha256.into(),
            md5: md5.into(),
            size: package.file_size,
        })
    };
    let r = agent
        .run("verify-md5", 1, verify(&"f".repeat(32), &package.sha256))
        .await;
    assert!(
        r.result
            .failure()
            .unwrap()
            .has_code(FailureCode::Md5Mismatch),
        "{:?}",
        r.result
    );
    let r = agent
        .run("verify-sha", 1, verify(&package.md5, &"e".repeat(64)))
        .await;
    assert!(
        r.result
            .failure()
            .unwrap()
            .has_code(FailureCode::Sha256Mismatch),
        "{:?}",
        r.result
    );

    // A package whose bytes were damaged on disk.
    let mut damaged = std::fs::read(agent.real(&rpm)).unwrap();
    let last = damaged.len() - 10;
    damaged[last] ^= 0xff;
    std::fs::write(agent.real(&rpm), damaged).unwrap();
    let r = agent
        .run("verify-damaged", 1, verify(&package.md5, &package.sha256))
        .await;
    assert!(
        r.result
            .failure()
            .unwrap()
            .has_code(FailureCode::Md5Mismatch),
        "{:?}",
        r.result
    );

    // A store that does not have the package.
    let mut missing = package.clone();
    missing.id = 999;
    let r = agent
        .run(
            "fetch-missing",
            1,
            fetch(&store, &missing, &format!("{RPM_DIR}/x.rpm")),
        )
        .await;
    let f = r.result.failure().unwrap();
    assert!(
        f.has_code(FailureCode::DownloadFailed) && f.message.contains("Package.NotFound"),
        "{f}"
    );
}

#[tokio::test]
async fn a_cancelled_download_keeps_its_bytes_for_a_continued_retry() {
    let store = TestStore::start().await;
    // Stored uncompressed, so the package is as large as its content.
    let big: Vec<u8> = (0..4u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let bytes = RpmSpec::oceanbase_ce("4.3.5.0", "100000202024123117.el7")
        .compression(obup_rpm_build::Compression::None)
        .file("/home/admin/oceanbase/bin/big", big)
        .build();
    let package = store.upload("oceanbase-ce.rpm", &bytes).await;
    // 1 MiB/s: a few seconds, time to cancel.
    let mut agent = TestAgent::start_with(|c| c.fetch_bytes_per_sec = 1 << 20).await;
    let rpm = format!("{RPM_DIR}/oceanbase-ce.rpm");
    let partial = agent.real(&format!("{rpm}.partial"));
    let mut client = agent.client.clone();
    let first = spec("fetch", 1, fetch(&store, &package, &rpm));
    let run = tokio::spawn(async move { client.run_to_end(&first).await.unwrap() });
    eventually("some bytes", 20, || {
        std::fs::metadata(&partial).is_ok_and(|m| m.len() > 0)
    })
    .await;
    let key = obup_agent::domain::OpKey::new("fetch", 1).unwrap();
    agent.client.cancel(&key).await.unwrap();
    let r = run.await.unwrap();
    let f = r.result.failure().expect("cancelled");
    assert!(
        f.has_code(FailureCode::Cancelled) && f.message.contains("stopped at byte"),
        "{f}"
    );
    let kept = std::fs::metadata(&partial).unwrap().len();
    assert!(kept > 0 && kept < package.file_size);

    // The orchestrator retries with continue: the bytes are reused.
    let mut retry = spec("fetch", 2, fetch(&store, &package, &rpm));
    retry.continue_ = true;
    let r = agent.try_run(retry).await.unwrap();
    let Some(OpOutput::FetchPackage(out)) = r.result.output() else {
        panic!("{:?}", r.result)
    };
    assert_eq!(out.resumed_from, kept);
    assert_eq!(sha(&agent.real(&rpm)), package.sha256);
}
