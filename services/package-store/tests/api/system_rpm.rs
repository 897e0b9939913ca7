//! Cross-checks against the system's rpm tools: a package built by
//! `rpmbuild` is accepted, and our fixtures pass `rpm -K`.
//!
//! `scripts/test` installs Debian's `rpm`; set `OBUP_SKIP_SYSTEM_RPM=1` to
//! skip these on a machine without it.

use std::path::Path;
use std::process::Command;

use md5::{Digest, Md5};
use obup_test_support::RpmSpec;

use crate::helpers::TestApp;

fn have(tool: &str) -> bool {
    if Command::new(tool).arg("--version").output().is_ok() {
        return true;
    }
    assert!(
        std::env::var("OBUP_SKIP_SYSTEM_RPM").is_ok(),
        "`{tool}` is not installed: run scripts/test (it installs Debian's rpm), or set OBUP_SKIP_SYSTEM_RPM=1"
    );
    false
}

const SPEC: &str = r#"
Name: oceanbase-ce
Version: 4.3.5.0
Release: 100000202024123117.el7
Summary: obup rpmbuild cross-check
License: Apache-2.0
AutoReqProv: no

%description
A package with the layout of oceanbase-ce, built by the system rpmbuild.

%install
mkdir -p %{buildroot}/home/admin/oceanbase/bin %{buildroot}/home/admin/oceanbase/etc
printf '#!/bin/sh\necho observer\n' > %{buildroot}/home/admin/oceanbase/bin/observer
printf '#!/bin/sh\necho obshell\n' > %{buildroot}/home/admin/oceanbase/bin/obshell
chmod 755 %{buildroot}/home/admin/oceanbase/bin/*
printf -- '- version: 4.2.1.0\n  can_be_upgraded_to:\n    - 4.3.5.0\n' > %{buildroot}/home/admin/oceanbase/etc/oceanbase_upgrade_dep.yml
for s in upgrade_checker upgrade_pre upgrade_health_checker upgrade_post; do echo "print('$s')" > %{buildroot}/home/admin/oceanbase/etc/$s.py; done

%files
/home/admin/oceanbase
"#;

fn rpmbuild(dir: &Path, payload: &str) -> Vec<u8> {
    let spec = dir.join("ob.spec");
    std::fs::write(&spec, SPEC).unwrap();
    let out = Command::new("rpmbuild")
        .arg("-bb")
        .args(["--define", &format!("_topdir {}", dir.display())])
        .args(["--define", &format!("_binary_payload {payload}")])
        // No brp scripts (strip, build-id): they need tools we do not need.
        .args(["--define", "__os_install_post %{nil}"])
        .args(["--define", "_build_id_links none"])
        .arg("--nodeps")
        .arg(&spec)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "rpmbuild failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rpms = dir.join("RPMS");
    let file = std::fs::read_dir(&rpms)
        .unwrap()
        .flat_map(|arch| std::fs::read_dir(arch.unwrap().path()).unwrap())
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "rpm"))
        .expect("rpmbuild wrote a package");
    std::fs::read(file).unwrap()
}

#[tokio::test]
async fn accepts_packages_built_by_rpmbuild() {
    if !have("rpmbuild") {
        return;
    }
    let mut app = TestApp::spawn().await;
    for (payload, compressor) in [
        ("w2.xzdio", "xz"),
        ("w3.zstdio", "zstd"),
        ("w6.gzdio", "gzip"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let bytes = rpmbuild(dir.path(), payload);
        let p = app
            .upload(&bytes)
            .await
            .unwrap_or_else(|s| panic!("{payload}: {s:?}"));
        assert_eq!(p.name, "oceanbase-ce");
        assert_eq!(p.release, "100000202024123117");
        assert_eq!(p.payload_compressor, compressor);
        assert!(
            p.upgrade_dep_yaml.contains("can_be_upgraded_to"),
            "{payload}: {p:?}"
        );
        assert_eq!(
            p.upgrade_scripts.len(),
            4,
            "{payload}: {:?}",
            p.upgrade_scripts
        );
        // What `rpm` itself says about the package agrees with what we stored.
        std::fs::write(dir.path().join("pkg.rpm"), &bytes).unwrap();
        let out = Command::new("rpm")
            .args(["-qp", "--queryformat", "%{SIZE} %{SIGMD5}"])
            .arg(dir.path().join("pkg.rpm"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let (size, sigmd5) = text.split_once(' ').unwrap_or_default();
        assert_eq!(size, p.size.to_string(), "tag 1009");
        if !sigmd5.is_empty() && sigmd5 != "(none)" {
            assert_eq!(sigmd5, p.md5, "signature MD5");
        } else {
            // rpm 4.18 may omit the legacy MD5; we report the MD5 we computed.
            let header_start = bytes.len() - p.payload_size as usize;
            assert_eq!(p.md5, hex::encode(Md5::digest(&bytes[header_start..])));
        }
    }
}

#[test]
fn fixtures_pass_rpm_digest_checks() {
    if !have("rpm") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for c in obup_test_support::Compression::ALL {
        let path = dir.path().join("fixture.rpm");
        std::fs::write(
            &path,
            RpmSpec::oceanbase_ce("4.3.5.0", "1.el7")
                .compression(c)
                .build(),
        )
        .unwrap();
        let out = Command::new("rpm")
            .args(["-Kv", "--nosignature"])
            .arg(&path)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{c:?}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("MD5 digest: OK"), "{c:?}: {text}");
        assert!(!text.contains("BAD"), "{c:?}: {text}");
    }
}
