//! Repository conformance: the same checks against SQLite and PostgreSQL.

use std::sync::Arc;

use obup_package_store::domain::{
    BuildSelector, Package, PackageFilter, PackageQuery, Release, Sha256Hex, StagedPart, UploadId,
    UploadSession,
};
use obup_package_store::storage::{Repository, SqlRepository};
use obup_test_support::TestDb;

async fn sqlite() -> (Arc<dyn Repository>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    (Arc::new(SqlRepository::connect(&url).await.unwrap()), dir)
}

async fn postgres() -> (Arc<dyn Repository>, TestDb) {
    let db = TestDb::create()
        .await
        .expect("PostgreSQL must be running (see README)");
    (Arc::new(SqlRepository::connect(&db.url).await.unwrap()), db)
}

fn package(n: u8, name: &str, release: &str, arch: &str) -> Package {
    Package {
        id: 0,
        name: name.into(),
        version: "4.3.5.0".into(),
        release: Release::parse(release).unwrap(),
        architecture: arch.into(),
        size: 10,
        payload_size: 20,
        file_size: 30,
        chunk_count: 1,
        md5: "0".repeat(32),
        sha256: Sha256Hex::parse(&format!("{n:02x}").repeat(32)).unwrap(),
        payload_compressor: "xz".into(),
        upgrade_dep_yaml: format!("- version: {n}\n"),
        upgrade_scripts: vec!["upgrade_pre.py".into(), "upgrade_post.py".into()],
        file_name: format!("p{n}.rpm"),
        object_key: format!("packages/{n}"),
        created_at_ms: 1_700_000_000_000 + i64::from(n),
    }
}

async fn packages(repo: &dyn Repository) {
    let (a, inserted) = repo
        .insert_package(&package(1, "oceanbase-ce", "100.el7", "x86_64"), None)
        .await
        .unwrap();
    assert!(inserted);
    assert!(a.id > 0);
    let expected = Package {
        id: a.id,
        ..package(1, "oceanbase-ce", "100.el7", "x86_64")
    };
    assert_eq!(a, expected, "every field round-trips");
    let (again, inserted) = repo
        .insert_package(&package(1, "oceanbase-ce", "100.el7", "x86_64"), None)
        .await
        .unwrap();
    assert!(!inserted, "same SHA-256: no second row");
    assert_eq!(again.id, a.id);

    let (b, _) = repo
        .insert_package(&package(2, "oceanbase-ce", "200.el7", "x86_64"), None)
        .await
        .unwrap();
    let (c, _) = repo
        .insert_package(&package(3, "oceanbase-ce", "150.el7", "aarch64"), None)
        .await
        .unwrap();
    let (d, _) = repo
        .insert_package(&package(4, "oceanbase-ce-libs", "100.el7", "x86_64"), None)
        .await
        .unwrap();

    let all = repo.list_packages(&PackageFilter::default()).await.unwrap();
    assert_eq!(
        all.iter().map(|p| p.id).collect::<Vec<_>>(),
        [d.id, c.id, b.id, a.id]
    );
    let x86 = PackageFilter {
        name: Some("oceanbase-ce".into()),
        architecture: Some("x86_64".into()),
        ..Default::default()
    };
    assert_eq!(repo.list_packages(&x86).await.unwrap().len(), 2);
    let by_full_release = PackageFilter {
        release: Some("100.el7".into()),
        ..Default::default()
    };
    assert_eq!(repo.list_packages(&by_full_release).await.unwrap().len(), 2);

    let query = |build| PackageQuery {
        name: "oceanbase-ce".into(),
        version: "4.3.5.0".into(),
        architecture: "x86_64".into(),
        build,
    };
    let exact = repo
        .find_package(&query(BuildSelector::Exact {
            release: "100".into(),
            distribution: Some("el7".into()),
        }))
        .await
        .unwrap();
    assert_eq!(exact.map(|p| p.id), Some(a.id));
    let latest = repo
        .find_package(&query(BuildSelector::Latest {
            distribution: "el7".into(),
            excluded: vec![],
        }))
        .await
        .unwrap();
    assert_eq!(latest.map(|p| p.id), Some(b.id));
    let latest_allowed = repo
        .find_package(&query(BuildSelector::Latest {
            distribution: "el7".into(),
            excluded: vec!["200".into()],
        }))
        .await
        .unwrap();
    assert_eq!(latest_allowed.map(|p| p.id), Some(a.id));
    let wrong_dist = repo
        .find_package(&query(BuildSelector::Latest {
            distribution: "el8".into(),
            excluded: vec![],
        }))
        .await
        .unwrap();
    assert!(wrong_dist.is_none());

    assert_eq!(
        repo.delete_package(a.id, None).await.unwrap().map(|p| p.id),
        Some(a.id)
    );
    assert!(repo.delete_package(a.id, None).await.unwrap().is_none());
    assert!(repo.package(a.id).await.unwrap().is_none());
}

async fn sessions(repo: &dyn Repository) {
    let id = UploadId::parse("s-1").unwrap();
    let session = UploadSession {
        id: id.clone(),
        file_name: "x.rpm".into(),
        total_size: Some(100),
        sha256: None,
        received: 0,
        created_at_ms: 1000,
        expires_at_ms: 2000,
    };
    repo.create_session(&session).await.unwrap();
    assert!(
        repo.create_session(&session).await.is_err(),
        "ids are unique"
    );
    assert_eq!(repo.session(&id).await.unwrap(), Some(session.clone()));

    let part = |seq, start, len| StagedPart {
        seq,
        start,
        len,
        object_key: format!("staging/s-1/{seq}"),
        // Kept with the part, and given back as they were.
        digest_states: (seq == 1).then(|| obup_package_store::domain::DigestStates {
            at: start + len,
            file_sha256: "ab".repeat(40),
            signed: "cd".repeat(105),
        }),
    };
    repo.add_part(&id, &part(0, 0, 40), 3000).await.unwrap();
    assert!(
        repo.add_part(&id, &part(1, 30, 10), 3000).await.is_err(),
        "a part must continue the session exactly"
    );
    repo.add_part(&id, &part(1, 40, 25), 3000).await.unwrap();
    assert_eq!(
        repo.parts(&id).await.unwrap(),
        [part(0, 0, 40), part(1, 40, 25)]
    );
    let stored = repo.session(&id).await.unwrap().unwrap();
    assert_eq!((stored.received, stored.expires_at_ms), (65, 3000));

    assert!(repo.expired_sessions(2999).await.unwrap().is_empty());
    // Expired at its expiry instant: a TTL of zero means expired at once,
    // even within the same millisecond.
    assert_eq!(
        repo.expired_sessions(3000).await.unwrap(),
        std::slice::from_ref(&id)
    );
    repo.touch_session(&id, 5000).await.unwrap();
    assert!(repo.expired_sessions(3001).await.unwrap().is_empty());

    repo.delete_session(&id).await.unwrap();
    assert!(repo.session(&id).await.unwrap().is_none());
    assert!(repo.parts(&id).await.unwrap().is_empty());
}

#[tokio::test]
async fn sqlite_packages() {
    let (repo, _dir) = sqlite().await;
    packages(repo.as_ref()).await;
}

#[tokio::test]
async fn postgres_packages() {
    let (repo, _db) = postgres().await;
    packages(repo.as_ref()).await;
}

#[tokio::test]
async fn sqlite_sessions() {
    let (repo, _dir) = sqlite().await;
    sessions(repo.as_ref()).await;
}

#[tokio::test]
async fn postgres_sessions() {
    let (repo, _db) = postgres().await;
    sessions(repo.as_ref()).await;
}

#[tokio::test]
async fn migrations_are_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let first = SqlRepository::connect(&url).await.unwrap();
    first
        .insert_package(&package(9, "obshell", "1.el7", "x86_64"), None)
        .await
        .unwrap();
    drop(first);
    let second = SqlRepository::connect(&url).await.unwrap();
    assert_eq!(
        second
            .list_packages(&PackageFilter::default())
            .await
            .unwrap()
            .len(),
        1
    );
}

/// An upload's and a deletion's audit events are written with their rows,
/// naming the package; with the journal's table gone, neither row changes.
async fn audit(url: &str) {
    use obup_kit::audit::{AuditEvent, AuditResult};

    let repo = SqlRepository::connect(url).await.unwrap();
    let journal = repo.journal();
    let upload = AuditEvent {
        id: 0,
        at_ms: 1,
        actor: "ci-bot".into(),
        credential: "token".into(),
        role: Some(obup_kit::auth::Role::Operator),
        method: "Upload".into(),
        target: "file p5.rpm".into(),
        result: AuditResult::Ok,
        trace_id: String::new(),
        source: "10.0.0.9:40000".into(),
        on_behalf_of: None,
    };
    let new = package(5, "oceanbase-ce", "100.el7", "x86_64");
    let (stored, inserted) = repo.insert_package(&new, Some(&upload)).await.unwrap();
    assert!(inserted);
    let named = format!("package {} (oceanbase-ce 4.3.5.0)", stored.id);
    // The same bytes again: no new row, the same package named.
    let (again, inserted) = repo.insert_package(&new, Some(&upload)).await.unwrap();
    assert!(!inserted);
    assert_eq!(again.id, stored.id);
    let targets =
        |events: Vec<AuditEvent>| -> Vec<String> { events.into_iter().map(|e| e.target).collect() };
    assert_eq!(
        targets(journal.list(0, 10).await.unwrap()),
        [named.clone(), named.clone()]
    );

    sqlx::query("DROP TABLE audit_event")
        .execute(repo.pool())
        .await
        .unwrap();
    let delete = AuditEvent {
        method: "DeletePackage".into(),
        role: Some(obup_kit::auth::Role::Admin),
        ..upload.clone()
    };
    assert!(repo.delete_package(stored.id, Some(&delete)).await.is_err());
    let other = package(6, "oceanbase-ce", "200.el7", "x86_64");
    assert!(repo.insert_package(&other, Some(&upload)).await.is_err());
    let all = repo.list_packages(&PackageFilter::default()).await.unwrap();
    assert_eq!(
        all.iter().map(|p| p.id).collect::<Vec<_>>(),
        [stored.id],
        "a change whose event cannot be written is not made"
    );
}

#[tokio::test]
async fn sqlite_audit() {
    let dir = tempfile::tempdir().unwrap();
    audit(&format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("t.db").display()
    ))
    .await;
}

#[tokio::test]
async fn postgres_audit() {
    let db = TestDb::create()
        .await
        .expect("PostgreSQL must be running (see README)");
    audit(&db.url).await;
}
