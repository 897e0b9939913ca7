//! Operation outputs, domain <-> proto: one typed message per operation.

use obup_proto::pb::agent::v1 as pb;
use pb::op_output::Output as O;

use super::event::{Malformed, missing};
use crate::domain::{
    BackupEntry, BackupManifest, FetchOutput, InstallOutput, ObserverBuild, OpOutput, Python,
    RestoreOutput, ScriptOutput, StartOutput, StopOutput, UnpackOutput, VerifyOutput,
};

pub fn build(b: ObserverBuild) -> pb::ObserverBuild {
    pb::ObserverBuild {
        version: b.version,
        build: b.build,
        revision: b.revision,
        build_time: b.build_time,
        product: b.product,
    }
}

pub fn python(p: Python) -> pb::Python {
    pb::Python {
        command: p.command,
        path: p.path,
        version: p.version,
        mysql_connector: p.mysql_connector,
    }
}

pub fn output(o: OpOutput) -> O {
    match o {
        OpOutput::PrepareDir { created } => O::PrepareDir(pb::PrepareDirOutput { created }),
        OpOutput::RemoveDir { existed } => O::RemoveDir(pb::RemoveDirOutput { existed }),
        OpOutput::FetchPackage(f) => O::FetchPackage(pb::FetchPackageOutput {
            bytes: f.bytes,
            sha256: f.sha256,
            resumed_from: f.resumed_from,
        }),
        OpOutput::VerifyPackage(v) => O::VerifyPackage(pb::VerifyPackageOutput {
            size: v.size,
            md5: v.md5,
            sha256: v.sha256,
        }),
        OpOutput::Unpack(u) => O::Unpack(pb::UnpackOutput {
            files: u.files,
            dirs: u.dirs,
            symlinks: u.symlinks,
            bytes: u.bytes,
        }),
        OpOutput::CheckBinary { build: b } => O::CheckBinary(pb::CheckBinaryOutput {
            build: Some(build(b)),
        }),
        OpOutput::Backup(m) => O::Backup(pb::BackupOutput {
            backup_dir: m.backup_dir,
            manifest: m.manifest,
            entries: m
                .entries
                .into_iter()
                .map(|e| pb::BackupEntry {
                    path: e.path,
                    sha256: e.sha256,
                    mode: e.mode,
                    size: e.size,
                    link_target: e.link_target.unwrap_or_default(),
                })
                .collect(),
            created: m.created,
        }),
        OpOutput::StopObserver(s) => O::StopObserver(pb::StopObserverOutput {
            killed_pid: s.killed_pid.unwrap_or(0),
            kill_time_ms: s.kill_time_ms,
        }),
        OpOutput::Install(i) => O::Install(pb::InstallOutput {
            files: i.files,
            dirs: i.dirs,
            symlinks: i.symlinks,
            skipped: i.skipped,
        }),
        OpOutput::StartObserver(s) => O::StartObserver(pb::StartObserverOutput {
            pid: s.pid,
            start_time_ms: s.start_time_ms,
            build: Some(build(s.build)),
            already_running: s.already_running,
        }),
        OpOutput::RunUpgradeScript(s) => O::RunUpgradeScript(pb::RunUpgradeScriptOutput {
            exit_code: s.exit_code,
            python: Some(python(s.python)),
        }),
        OpOutput::RestoreBackup(r) => O::RestoreBackup(pb::RestoreBackupOutput {
            restored: r.restored,
            removed: r.removed,
        }),
        OpOutput::CheckPython { python: p } => O::CheckPython(pb::CheckPythonOutput {
            python: Some(python(p)),
        }),
    }
}

pub fn build_from(b: Option<pb::ObserverBuild>) -> Result<ObserverBuild, Malformed> {
    let b = b.ok_or_else(|| missing("a build"))?;
    Ok(ObserverBuild {
        version: b.version,
        build: b.build,
        revision: b.revision,
        build_time: b.build_time,
        product: b.product,
    })
}

pub fn python_from(p: pb::Python) -> Python {
    Python {
        command: p.command,
        path: p.path,
        version: p.version,
        mysql_connector: p.mysql_connector,
    }
}

pub fn output_from(o: O) -> Result<OpOutput, Malformed> {
    Ok(match o {
        O::PrepareDir(p) => OpOutput::PrepareDir { created: p.created },
        O::RemoveDir(r) => OpOutput::RemoveDir { existed: r.existed },
        O::FetchPackage(f) => OpOutput::FetchPackage(FetchOutput {
            bytes: f.bytes,
            sha256: f.sha256,
            resumed_from: f.resumed_from,
        }),
        O::VerifyPackage(v) => OpOutput::VerifyPackage(VerifyOutput {
            size: v.size,
            md5: v.md5,
            sha256: v.sha256,
        }),
        O::Unpack(u) => OpOutput::Unpack(UnpackOutput {
            files: u.files,
            dirs: u.dirs,
            symlinks: u.symlinks,
            bytes: u.bytes,
        }),
        O::CheckBinary(c) => OpOutput::CheckBinary {
            build: build_from(c.build)?,
        },
        O::Backup(b) => OpOutput::Backup(BackupManifest {
            backup_dir: b.backup_dir,
            manifest: b.manifest,
            entries: b
                .entries
                .into_iter()
                .map(|e| BackupEntry {
                    path: e.path,
                    sha256: e.sha256,
                    mode: e.mode,
                    size: e.size,
                    link_target: (!e.link_target.is_empty()).then_some(e.link_target),
                })
                .collect(),
            created: b.created,
        }),
        O::StopObserver(s) => OpOutput::StopObserver(StopOutput {
            killed_pid: (s.killed_pid != 0).then_some(s.killed_pid),
            kill_time_ms: s.kill_time_ms,
        }),
        O::Install(i) => OpOutput::Install(InstallOutput {
            files: i.files,
            dirs: i.dirs,
            symlinks: i.symlinks,
            skipped: i.skipped,
        }),
        O::StartObserver(s) => OpOutput::StartObserver(StartOutput {
            pid: s.pid,
            start_time_ms: s.start_time_ms,
            build: build_from(s.build)?,
            already_running: s.already_running,
        }),
        O::RunUpgradeScript(s) => OpOutput::RunUpgradeScript(ScriptOutput {
            exit_code: s.exit_code,
            python: python_from(s.python.ok_or_else(|| missing("a python"))?),
        }),
        O::RestoreBackup(r) => OpOutput::RestoreBackup(RestoreOutput {
            restored: r.restored,
            removed: r.removed,
        }),
        O::CheckPython(c) => OpOutput::CheckPython {
            python: python_from(c.python.ok_or_else(|| missing("a python"))?),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{OpFailure, OpResult, Outcome};
    use crate::grpc::convert::event::{result, result_from};

    fn b() -> ObserverBuild {
        ObserverBuild {
            version: "4.3.5.0".into(),
            build: "1".into(),
            revision: "1-ab".into(),
            build_time: "Jan  1 2024 00:00:00".into(),
            product: "OceanBase_CE".into(),
        }
    }

    #[test]
    fn results_round_trip() {
        let py = Python {
            command: "python3".into(),
            path: "/usr/bin/python3".into(),
            version: "3.11.7".into(),
            mysql_connector: true,
        };
        let outputs = vec![
            OpOutput::PrepareDir { created: true },
            OpOutput::RemoveDir { existed: false },
            OpOutput::FetchPackage(FetchOutput {
                bytes: 3,
                sha256: "x".into(),
                resumed_from: 1,
            }),
            OpOutput::VerifyPackage(VerifyOutput {
                size: 3,
                md5: "m".into(),
                sha256: "s".into(),
            }),
            OpOutput::Unpack(UnpackOutput {
                files: 1,
                dirs: 2,
                symlinks: 3,
                bytes: 4,
            }),
            OpOutput::CheckBinary { build: b() },
            OpOutput::Backup(BackupManifest {
                backup_dir: "/u/bk".into(),
                manifest: "/u/bk/manifest.json".into(),
                entries: vec![
                    BackupEntry {
                        path: "bin/observer".into(),
                        sha256: "s".into(),
                        mode: 0o755,
                        size: 9,
                        link_target: None,
                    },
                    BackupEntry {
                        path: "lib/l.so".into(),
                        sha256: String::new(),
                        mode: 0o777,
                        size: 0,
                        link_target: Some("l.so.1".into()),
                    },
                ],
                created: vec!["lib/new.so".into()],
            }),
            OpOutput::StopObserver(StopOutput {
                killed_pid: Some(42),
                kill_time_ms: 5,
            }),
            OpOutput::StopObserver(StopOutput {
                killed_pid: None,
                kill_time_ms: 5,
            }),
            OpOutput::Install(InstallOutput {
                files: 1,
                dirs: 2,
                symlinks: 3,
                skipped: 4,
            }),
            OpOutput::StartObserver(StartOutput {
                pid: 7,
                start_time_ms: 8,
                build: b(),
                already_running: true,
            }),
            OpOutput::RunUpgradeScript(ScriptOutput {
                exit_code: 0,
                python: py.clone(),
            }),
            OpOutput::RestoreBackup(RestoreOutput {
                restored: 2,
                removed: 1,
            }),
            OpOutput::CheckPython { python: py },
        ];
        for output in outputs {
            let r = OpResult {
                finished_at_ms: 1,
                outcome: Outcome::Succeeded { output },
            };
            assert_eq!(result_from(result(r.clone())).unwrap(), r);
        }
        let failed = OpResult {
            finished_at_ms: 2,
            outcome: Outcome::Failed {
                failure: OpFailure::interrupted(),
            },
        };
        assert_eq!(result_from(result(failed.clone())).unwrap(), failed);
    }
}
