//! The system's `rpmbuild`, for packages that obup's own RPM writer did not
//! make: the same files, modes, name, version, release and architecture as
//! an [`RpmSpec`], packed by the real tool.
//!
//! `scripts/test` installs Debian's `rpm`; with `OBUP_SKIP_SYSTEM_RPM=1` a
//! machine without it skips the tests that need it.

use std::path::Path;
use std::process::Command;

use obup_rpm_build::RpmSpec;

/// Whether `tool` runs; without it, a test fails unless
/// `OBUP_SKIP_SYSTEM_RPM` is set, in which case the caller skips.
pub fn have(tool: &str) -> bool {
    if Command::new(tool).arg("--version").output().is_ok() {
        return true;
    }
    assert!(
        std::env::var("OBUP_SKIP_SYSTEM_RPM").is_ok(),
        "`{tool}` is not installed: run scripts/test (it installs Debian's rpm), or set OBUP_SKIP_SYSTEM_RPM=1"
    );
    false
}

/// Builds `spec` with `rpmbuild` in `dir`, its payload compressed as
/// `payload` says (rpm's `_binary_payload`, e.g. `w2.xzdio`, `w3.zstdio`,
/// `w6.gzdio`); returns the package's bytes.
pub fn rpmbuild(spec: &RpmSpec, dir: &Path, payload: &str) -> Vec<u8> {
    // The files, as they are to be installed, under a staging root that
    // %install copies from.
    let staged = dir.join("staged");
    for f in &spec.files {
        let path = staged.join(f.path.trim_start_matches('/'));
        if f.dir {
            std::fs::create_dir_all(&path).unwrap();
        } else {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &f.contents).unwrap();
        }
    }
    let files: String = spec
        .files
        .iter()
        .map(|f| {
            let kind = if f.dir { "%dir " } else { "" };
            format!("%attr({:o},-,-) {kind}{}\n", f.mode, f.path)
        })
        .collect();
    let text = format!(
        "Name: {name}\nVersion: {version}\nRelease: {release}\nSummary: obup rpmbuild fixture\n\
         License: Apache-2.0\nAutoReqProv: no\n\n%description\nBuilt by the system rpmbuild from an obup RpmSpec.\n\n\
         %install\nmkdir -p %{{buildroot}}\ncp -a {staged}/. %{{buildroot}}/\n\n%files\n{files}",
        name = spec.name,
        version = spec.version,
        release = spec.release,
        staged = staged.display(),
    );
    let spec_file = dir.join("package.spec");
    std::fs::write(&spec_file, text).unwrap();
    let out = Command::new("rpmbuild")
        .arg("-bb")
        .args(["--target", &spec.arch])
        .args(["--define", &format!("_topdir {}", dir.display())])
        .args(["--define", &format!("_binary_payload {payload}")])
        // No brp scripts (strip, build-id): they need tools we do not need.
        .args(["--define", "__os_install_post %{nil}"])
        .args(["--define", "_build_id_links none"])
        .arg("--nodeps")
        .arg(&spec_file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "rpmbuild failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = std::fs::read_dir(dir.join("RPMS"))
        .unwrap()
        .flat_map(|arch| std::fs::read_dir(arch.unwrap().path()).unwrap())
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "rpm"))
        .expect("rpmbuild wrote a package");
    std::fs::read(file).unwrap()
}
