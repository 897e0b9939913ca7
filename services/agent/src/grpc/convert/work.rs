//! Work items and run requests, proto <-> domain.

use obup_proto::pb::agent::v1 as pb;
use pb::run_request::Work as W;

use crate::domain::{
    Backup, CheckBinary, CheckPython, ExpectedBuild, FetchPackage, HostPath, Install, InstallScope,
    OpKey, PrepareDir, RemoveDir, RestoreBackup, RunSpec, RunUpgradeScript, Secret, StartObserver,
    Unpack, VerifyPackage, Work,
};
use crate::{Error, Result};

fn path(field: &'static str, value: &str) -> Result<HostPath> {
    HostPath::parse(value).map_err(|e| Error::InvalidPath {
        path: value.to_owned(),
        reason: format!("{field}: {e}"),
    })
}

fn invalid(field: &'static str, reason: impl Into<String>) -> Error {
    Error::InvalidArgument {
        field,
        reason: reason.into(),
    }
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

fn expected(e: Option<pb::ExpectedBuild>) -> ExpectedBuild {
    let e = e.unwrap_or_default();
    ExpectedBuild {
        version: non_empty(e.version),
        build: non_empty(e.build),
    }
}

fn expected_to_pb(e: &ExpectedBuild) -> Option<pb::ExpectedBuild> {
    Some(pb::ExpectedBuild {
        version: e.version.clone().unwrap_or_default(),
        build: e.build.clone().unwrap_or_default(),
    })
}

fn scope(value: i32) -> Result<InstallScope> {
    match pb::InstallScope::try_from(value) {
        Ok(pb::InstallScope::Observer) => Ok(InstallScope::Observer),
        Ok(pb::InstallScope::Agent) => Ok(InstallScope::Agent),
        Ok(pb::InstallScope::Unspecified) | Err(_) => {
            Err(invalid("scope", format!("{value} is not an install scope")))
        }
    }
}

fn scope_to_pb(s: InstallScope) -> i32 {
    match s {
        InstallScope::Observer => pb::InstallScope::Observer as i32,
        InstallScope::Agent => pb::InstallScope::Agent as i32,
    }
}

/// A `RunRequest` as the agent takes it.
pub fn run_spec(r: pb::RunRequest) -> Result<RunSpec> {
    let key = OpKey::new(&r.op_id, r.attempt).map_err(|e| invalid("op_id", e))?;
    let work = work(r.work.ok_or_else(|| invalid("work", "no work item"))?)?;
    if !r.password.is_empty() && !work.takes_password() {
        // A password only ever goes to a script: refuse to hold one for
        // anything else.
        return Err(invalid("password", "only run_upgrade_script takes one"));
    }
    Ok(RunSpec {
        key,
        continue_: r.r#continue,
        deadline_ms: (r.deadline_unix_ms != 0).then_some(r.deadline_unix_ms),
        after_log_seq: r.after_log_seq,
        work,
        password: Secret::new(r.password),
    })
}

pub fn work(w: W) -> Result<Work> {
    Ok(match w {
        W::PrepareDir(w) => Work::PrepareDir(PrepareDir {
            path: path("path", &w.path)?,
            require_empty: w.require_empty,
        }),
        W::RemoveDir(w) => Work::RemoveDir(RemoveDir {
            path: path("path", &w.path)?,
        }),
        W::FetchPackage(w) => Work::FetchPackage(FetchPackage {
            store_url: w.store_url,
            package_id: w.package_id,
            sha256: w.sha256,
            size: w.size,
            dest: path("dest", &w.dest)?,
        }),
        W::VerifyPackage(w) => Work::VerifyPackage(VerifyPackage {
            path: path("path", &w.path)?,
            sha256: w.sha256,
            md5: w.md5,
            size: w.size,
        }),
        W::Unpack(w) => Work::Unpack(Unpack {
            rpm: path("rpm", &w.rpm)?,
            dest: path("dest", &w.dest)?,
        }),
        W::CheckBinary(w) => Work::CheckBinary(CheckBinary {
            home: path("home", &w.home)?,
            expect: expected(w.expect),
        }),
        W::Backup(w) => Work::Backup(Backup {
            sources: w
                .sources
                .iter()
                .map(|s| path("sources", s))
                .collect::<Result<_>>()?,
            scope: scope(w.scope)?,
            backup_dir: path("backup_dir", &w.backup_dir)?,
        }),
        W::StopObserver(pb::StopObserver {}) => Work::StopObserver,
        W::Install(w) => Work::Install(Install {
            source: path("source", &w.source)?,
            scope: scope(w.scope)?,
        }),
        W::StartObserver(w) => Work::StartObserver(StartObserver {
            expect: expected(w.expect),
        }),
        W::RunUpgradeScript(w) => Work::RunUpgradeScript(RunUpgradeScript {
            script: path("script", &w.script)?,
            work_dir: path("work_dir", &w.work_dir)?,
            host: w.host,
            port: u16::try_from(w.port).map_err(|_| invalid("port", "must fit in 16 bits"))?,
            user: non_empty(w.user).unwrap_or_else(|| "root".into()),
            zone: non_empty(w.zone),
            timeout_secs: (w.timeout_secs != 0).then_some(w.timeout_secs),
            can_continue: w.can_continue,
        }),
        W::RestoreBackup(w) => Work::RestoreBackup(RestoreBackup {
            backup_dir: path("backup_dir", &w.backup_dir)?,
        }),
        W::CheckPython(w) => Work::CheckPython(CheckPython {
            script: non_empty(w.script)
                .map(|s| path("script", &s))
                .transpose()?,
        }),
    })
}

/// A `RunRequest` as the client sends it.
pub fn run_request(spec: &RunSpec) -> pb::RunRequest {
    pb::RunRequest {
        op_id: spec.key.op_id.clone(),
        attempt: spec.key.attempt,
        r#continue: spec.continue_,
        deadline_unix_ms: spec.deadline_ms.unwrap_or(0),
        after_log_seq: spec.after_log_seq,
        work: Some(work_to_pb(&spec.work)),
        password: spec.password.expose().to_owned(),
    }
}

pub fn work_to_pb(w: &Work) -> W {
    let s = |p: &HostPath| p.to_string();
    match w {
        Work::PrepareDir(w) => W::PrepareDir(pb::PrepareDir {
            path: s(&w.path),
            require_empty: w.require_empty,
        }),
        Work::RemoveDir(w) => W::RemoveDir(pb::RemoveDir { path: s(&w.path) }),
        Work::FetchPackage(w) => W::FetchPackage(pb::FetchPackage {
            store_url: w.store_url.clone(),
            package_id: w.package_id,
            sha256: w.sha256.clone(),
            size: w.size,
            dest: s(&w.dest),
        }),
        Work::VerifyPackage(w) => W::VerifyPackage(pb::VerifyPackage {
            path: s(&w.path),
            sha256: w.sha256.clone(),
            md5: w.md5.clone(),
            size: w.size,
        }),
        Work::Unpack(w) => W::Unpack(pb::Unpack {
            rpm: s(&w.rpm),
            dest: s(&w.dest),
        }),
        Work::CheckBinary(w) => W::CheckBinary(pb::CheckBinary {
            home: s(&w.home),
            expect: expected_to_pb(&w.expect),
        }),
        Work::Backup(w) => W::Backup(pb::Backup {
            sources: w.sources.iter().map(s).collect(),
            scope: scope_to_pb(w.scope),
            backup_dir: s(&w.backup_dir),
        }),
        Work::StopObserver => W::StopObserver(pb::StopObserver {}),
        Work::Install(w) => W::Install(pb::Install {
            source: s(&w.source),
            scope: scope_to_pb(w.scope),
        }),
        Work::StartObserver(w) => W::StartObserver(pb::StartObserver {
            expect: expected_to_pb(&w.expect),
        }),
        Work::RunUpgradeScript(w) => W::RunUpgradeScript(pb::RunUpgradeScript {
            script: s(&w.script),
            work_dir: s(&w.work_dir),
            host: w.host.clone(),
            port: w.port.into(),
            user: w.user.clone(),
            zone: w.zone.clone().unwrap_or_default(),
            timeout_secs: w.timeout_secs.unwrap_or(0),
            can_continue: w.can_continue,
        }),
        Work::RestoreBackup(w) => W::RestoreBackup(pb::RestoreBackup {
            backup_dir: s(&w.backup_dir),
        }),
        Work::CheckPython(w) => W::CheckPython(pb::CheckPython {
            script: w.script.as_ref().map(s).unwrap_or_default(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_work_item_round_trips() {
        let p = |s: &str| HostPath::parse(s).unwrap();
        let items = vec![
            Work::PrepareDir(PrepareDir {
                path: p("/u"),
                require_empty: true,
            }),
            Work::RemoveDir(RemoveDir { path: p("/u/x") }),
            Work::FetchPackage(FetchPackage {
                store_url: "http://s".into(),
                package_id: 7,
                sha256: "a".repeat(64),
                size: 9,
                dest: p("/u/x.rpm"),
            }),
            Work::VerifyPackage(VerifyPackage {
                path: p("/u/x.rpm"),
                sha256: "b".into(),
                md5: "c".into(),
                size: 1,
            }),
            Work::Unpack(Unpack {
                rpm: p("/u/x.rpm"),
                dest: p("/u/x"),
            }),
            Work::CheckBinary(CheckBinary {
                home: p("/u/x/home/admin/oceanbase"),
                expect: ExpectedBuild {
                    version: Some("4.3.5.0".into()),
                    build: None,
                },
            }),
            Work::Backup(Backup {
                sources: vec![p("/u/a"), p("/u/b")],
                scope: InstallScope::Observer,
                backup_dir: p("/u/bk"),
            }),
            Work::StopObserver,
            Work::Install(Install {
                source: p("/u/a"),
                scope: InstallScope::Agent,
            }),
            Work::StartObserver(StartObserver {
                expect: ExpectedBuild::default(),
            }),
            Work::RunUpgradeScript(RunUpgradeScript {
                script: p("/u/a/etc/upgrade_post.py"),
                work_dir: p("/u/a"),
                host: "127.0.0.1".into(),
                port: 2881,
                user: "root".into(),
                zone: Some("zone1".into()),
                timeout_secs: Some(60),
                can_continue: true,
            }),
            Work::RestoreBackup(RestoreBackup {
                backup_dir: p("/u/bk"),
            }),
            Work::CheckPython(CheckPython { script: None }),
        ];
        for w in items {
            assert_eq!(work(work_to_pb(&w)).unwrap(), w);
        }
    }

    #[test]
    fn a_password_goes_only_to_scripts() {
        let r = pb::RunRequest {
            op_id: "t-1".into(),
            attempt: 1,
            work: Some(W::StopObserver(pb::StopObserver {})),
            password: "secret".into(),
            ..Default::default()
        };
        assert!(run_spec(r).is_err());
    }
}
