//! Host operations are real: hostile packages are refused at unpack, and a
//! package damaged in the store is refused at download.

use std::path::Path;

use obup_test_support::{Compression, CpioSpec, RpmSpec, cpio_newc};
use obup_upgrade_orchestrator::cluster::{Host, LocalHost};

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[tokio::test]
async fn unpack_installs_real_files_and_refuses_hostile_payloads() {
    let dir = tempfile::tempdir().unwrap();
    let host = LocalHost::new(dir.path().join("host"), 1 << 20);
    std::fs::create_dir_all(dir.path().join("host/pkgs")).unwrap();
    let rpm = |name: &str, bytes: Vec<u8>| {
        write(&dir.path().join("host/pkgs"), name, &bytes);
        Path::new("/pkgs").join(name)
    };

    let good = rpm(
        "good.rpm",
        RpmSpec::oceanbase_ce("4.3.5.0", "1.el7")
            .compression(Compression::Zstd)
            .build(),
    );
    host.unpack(&good, Path::new("/out")).await.unwrap();
    let observer = dir
        .path()
        .join("host/out/home/admin/oceanbase/bin/observer");
    assert!(observer.exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&observer).unwrap().permissions().mode() & 0o777,
            0o755
        );
    }

    let spec = RpmSpec::new("obshell", "4.3.5.0", "1.el7");
    let hostile = [
        (
            "absolute.rpm",
            cpio_newc(&[CpioSpec::file("/tmp/evil", b"x")]),
            "unsafe path",
        ),
        (
            "dotdot.rpm",
            cpio_newc(&[CpioSpec::file("./../../evil", b"x")]),
            "unsafe path",
        ),
        (
            "device.rpm",
            cpio_newc(&[CpioSpec {
                name: "./dev/sda".into(),
                mode: 0o060600,
                data: vec![],
            }]),
            "special file",
        ),
    ];
    for (name, cpio, why) in hostile {
        let path = rpm(name, spec.build_with_cpio(&cpio));
        let e = host.unpack(&path, Path::new("/out2")).await.unwrap_err();
        assert!(e.to_string().contains(why), "{name}: {e}");
    }
    assert!(!dir.path().join("evil").exists() && !dir.path().join("tmp/evil").exists());

    // More than the configured 1 MiB of output is refused.
    let big = RpmSpec::new("obshell", "4.3.5.0", "1.el7")
        .compression(Compression::Zstd)
        .file("/home/admin/oceanbase/bin/obshell", vec![0; 4 << 20]);
    let path = rpm("big.rpm", big.build());
    let e = host.unpack(&path, Path::new("/out3")).await.unwrap_err();
    assert!(e.to_string().contains("more than 1048576 bytes"), "{e}");
}
