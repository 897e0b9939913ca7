//! Cross-checks against the system's rpm tools: a package built by
//! `rpmbuild` is accepted, and our fixtures pass `rpm -K`.

use std::process::Command;

use md5::{Digest, Md5};
use obup_test_support::RpmSpec;
use obup_test_support::rpmbuild::{have, rpmbuild};

use crate::helpers::TestApp;

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
        let spec = RpmSpec::oceanbase_ce("4.3.5.0", "100000202024123117.el7");
        let bytes = rpmbuild(&spec, dir.path(), payload);
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
