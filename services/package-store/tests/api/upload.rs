//! What an upload records, for every compressor and every backend.

use md5::{Digest, Md5};
use obup_package_store::domain::CHUNK_SIZE;
use obup_test_support::{Compression, RpmSpec};

use crate::helpers::{Db, Objects, TestApp, sha256_hex, start};

/// Offset of the main header: lead + signature + padding.
fn header_offset(bytes: &[u8]) -> usize {
    let be = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap()) as usize;
    let sig = 16 + be(96 + 8) * 16 + be(96 + 12);
    96 + sig + (8 - sig % 8) % 8
}

async fn records_facts(db: Db, objects: Objects) {
    let mut app = TestApp::spawn_with(db, objects, |_| {}).await;
    for c in Compression::ALL {
        let spec = RpmSpec::oceanbase_ce("4.3.5.0", "100000202024123117.el7").compression(c);
        let bytes = spec.build();
        let p = app
            .upload(&bytes)
            .await
            .unwrap_or_else(|s| panic!("{c:?}: {s:?}"));
        assert_eq!(
            (p.name.as_str(), p.version.as_str()),
            ("oceanbase-ce", "4.3.5.0")
        );
        assert_eq!(p.release, "100000202024123117");
        assert_eq!(p.distribution, "el7");
        assert_eq!(p.release_distribution, "100000202024123117.el7");
        assert_eq!(p.architecture, "x86_64");
        let installed: u64 = spec.files.iter().map(|f| f.contents.len() as u64).sum();
        assert_eq!(p.size, installed);
        let h = header_offset(&bytes);
        assert_eq!(p.payload_size, (bytes.len() - h) as u64);
        assert_eq!(p.md5, hex::encode(Md5::digest(&bytes[h..])));
        assert_eq!(p.sha256, sha256_hex(&bytes));
        assert_eq!(p.file_size, bytes.len() as u64);
        assert_eq!(p.chunk_count, (bytes.len() as u64).div_ceil(CHUNK_SIZE));
        assert!(
            p.upgrade_dep_yaml.contains("version: 4.3.5.0"),
            "{}",
            p.upgrade_dep_yaml
        );
        assert_eq!(
            p.upgrade_scripts,
            [
                "upgrade_checker.py",
                "upgrade_health_checker.py",
                "upgrade_post.py",
                "upgrade_pre.py"
            ]
        );
        let format = match c {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Xz => "xz",
            Compression::Bzip2 => "bzip2",
        };
        assert_eq!(p.payload_compressor, format);
        assert_eq!(
            app.download(p.id, 0).await.unwrap(),
            bytes,
            "{c:?}: bytes round-trip"
        );
        assert_eq!(app.download(p.id, 1000).await.unwrap(), &bytes[1000..]);
    }
    // Only the committed packages remain: no staged parts.
    let objects = app.objects().await;
    assert_eq!(objects.len(), 4, "{objects:?}");
    assert!(
        objects.iter().all(|k| k.starts_with("packages/sha256/")),
        "{objects:?}"
    );
}

#[tokio::test]
async fn records_facts_on_sqlite_and_local_files() {
    records_facts(Db::Sqlite, Objects::Local).await;
}

#[tokio::test]
async fn records_facts_on_postgres_and_s3() {
    records_facts(Db::Postgres, Objects::S3).await;
}

#[tokio::test]
async fn same_bytes_are_stored_once() {
    let mut app = TestApp::spawn().await;
    let bytes = RpmSpec::oceanbase_ce("4.3.5.0", "1.el7").build();
    let first = app.upload(&bytes).await.unwrap();
    let second = app.upload(&bytes).await.unwrap();
    assert_eq!(first.id, second.id);
    assert_eq!(app.objects().await.len(), 1);

    // Declaring the SHA-256 up front skips the bytes entirely.
    let mut s = start("again.rpm");
    s.sha256 = sha256_hex(&bytes);
    let third = app.upload_with(s, &[], 0).await.unwrap();
    assert_eq!(third.id, first.id);

    // A different build is a different package.
    let other = RpmSpec::oceanbase_ce("4.3.5.0", "2.el7").build();
    assert_ne!(app.upload(&other).await.unwrap().id, first.id);
    assert_eq!(app.objects().await.len(), 2);
}

#[tokio::test]
async fn concurrent_uploads_of_the_same_bytes_agree() {
    let app = TestApp::spawn().await;
    let bytes = RpmSpec::oceanbase_ce("4.3.5.0", "1.el7")
        .compression(Compression::Zstd)
        .build();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let mut client = app.client.clone();
        let bytes = bytes.clone();
        tasks.push(tokio::spawn(async move {
            let mut messages = vec![crate::helpers::start_message(start("c.rpm"))];
            messages.extend(crate::helpers::data_messages(&bytes, 0));
            client
                .upload(futures::stream::iter(messages))
                .await
                .unwrap()
                .into_inner()
                .id
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(app.objects().await.len(), 1);
}

#[tokio::test]
async fn every_known_package_kind_is_accepted() {
    let mut app = TestApp::spawn().await;
    let home = obup_test_support::OB_HOME;
    let kinds = [
        RpmSpec::oceanbase_ce_libs("4.3.5.0", "1.el7"),
        RpmSpec::new("obshell", "4.3.5.0", "1.el7")
            .file(&format!("{home}/bin/obshell"), b"x".to_vec()),
        RpmSpec::new("oceanbase", "4.3.5.0", "1.el7")
            .file(&format!("{home}/bin/observer"), b"x".to_vec()),
        RpmSpec::new("oceanbase-standalone", "4.3.5.0", "1.el7")
            .file(&format!("{home}/bin/observer"), b"x".to_vec())
            .file(&format!("{home}/bin/obshell"), b"x".to_vec()),
        RpmSpec::new("oceanbase-diagnostic-tool", "3.0.0", "1.el7"),
        RpmSpec::oceanbase_ce("4.3.5.0", "1.el7").arch("aarch64"),
    ];
    for spec in kinds {
        let p = app
            .upload(&spec.build())
            .await
            .unwrap_or_else(|s| panic!("{}: {s:?}", spec.name));
        assert_eq!(p.name, spec.name);
        assert_eq!(p.architecture, spec.arch);
        // Only server packages carry a dep YAML.
        assert_eq!(
            !p.upgrade_dep_yaml.is_empty(),
            spec.name == "oceanbase-ce",
            "{}",
            spec.name
        );
    }
}
