//! Every path must lie under the observer home or the upgrade dir, and
//! what an operation writes or removes strictly under the upgrade dir:
//! anything else is refused before it has any effect, symlinks included.

use obup_agent::domain::{
    Backup, FetchPackage, InstallScope, OpKey, PrepareDir, RemoveDir, Unpack, Work,
};
use obup_proto::pb::agent::v1 as pb;

use crate::helpers::*;

fn remove(path: &str) -> Work {
    Work::RemoveDir(RemoveDir { path: hp(path) })
}

#[tokio::test]
async fn paths_outside_the_home_and_upgrade_dir_are_refused_before_any_effect() {
    let mut agent = TestAgent::start().await;
    let outside = agent.outside();
    std::fs::write(outside.join("precious"), "keep me").unwrap();
    let home = agent.home();
    std::fs::create_dir_all(home.join("bin")).unwrap();
    std::fs::write(home.join("bin/observer"), "binary").unwrap();
    let upgrade = agent.real(UPGRADE);
    std::fs::create_dir_all(&upgrade).unwrap();
    // A symlink in the upgrade dir pointing out of the host root.
    std::os::unix::fs::symlink(&outside, upgrade.join("evil")).unwrap();

    let refused = [
        ("abs", remove("/etc")),
        ("home-bin", remove("/home/admin/oceanbase/bin")),
        ("upgrade-itself", remove(UPGRADE)),
        ("symlink-rm", remove("/home/admin/oceanbase/upgrade/evil")),
        (
            "symlink-fetch",
            Work::FetchPackage(FetchPackage {
                store_url: "http://127.0.0.1:1".into(),
                package_id: 1,
                sha256: "a".repeat(64),
                size: 1,
                dest: hp("/home/admin/oceanbase/upgrade/evil/x.rpm"),
            }),
        ),
        (
            "symlink-prepare",
            Work::PrepareDir(PrepareDir {
                path: hp("/home/admin/oceanbase/upgrade/evil/made"),
                require_empty: false,
            }),
        ),
        (
            "unpack-into-home",
            Work::Unpack(Unpack {
                rpm: hp("/home/admin/oceanbase/upgrade/x.rpm"),
                dest: hp(HOME),
            }),
        ),
        (
            "backup-of-elsewhere",
            Work::Backup(Backup {
                sources: vec![hp("/usr")],
                scope: InstallScope::Observer,
                backup_dir: hp("/home/admin/oceanbase/upgrade/bk"),
            }),
        ),
    ];
    for (op, work) in refused {
        let e = agent.try_run(spec(op, 1, work)).await.unwrap_err();
        assert_eq!(code(&e), "Common.InvalidPath", "{op}: {e}");
        assert!(e.to_string().contains("is not valid"), "{op}: {e}");
        // Nothing was journaled: the key is unknown to the agent.
        let status = agent
            .client
            .cancel(&OpKey::new(op, 1).unwrap())
            .await
            .unwrap();
        assert_eq!(status, obup_agent::domain::CancelStatus::Unknown, "{op}");
    }
    assert_eq!(
        std::fs::read_to_string(outside.join("precious")).unwrap(),
        "keep me"
    );
    assert!(!outside.join("made").exists() && !outside.join("x.rpm").exists());
    assert!(upgrade.join("evil").exists());
    assert!(home.join("bin/observer").exists());
}

#[tokio::test]
async fn dot_dot_and_relative_paths_do_not_even_parse() {
    let agent = TestAgent::start().await;
    let mut client =
        obup_proto::pb::agent::v1::host_agent_client::HostAgentClient::connect(agent.url())
            .await
            .unwrap();
    for path in [
        "/home/admin/oceanbase/upgrade/../../../etc",
        "home/admin/oceanbase/upgrade/x",
        "",
    ] {
        let request = pb::RunRequest {
            op_id: "raw".into(),
            attempt: 1,
            work: Some(pb::run_request::Work::RemoveDir(pb::RemoveDir {
                path: path.into(),
            })),
            ..Default::default()
        };
        let status = client.run(request).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{path}");
        assert_eq!(
            obup_kit::status::error_code(&status).as_deref(),
            Some("Common.InvalidPath"),
            "{path}"
        );
    }
    // A password is only for scripts.
    let request = pb::RunRequest {
        op_id: "raw".into(),
        attempt: 1,
        work: Some(pb::run_request::Work::StopObserver(pb::StopObserver {})),
        password: "x".into(),
        ..Default::default()
    };
    let status = client.run(request).await.unwrap_err();
    assert_eq!(
        obup_kit::status::error_code(&status).as_deref(),
        Some("Common.IllegalArgument")
    );
}
