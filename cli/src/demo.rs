//! `obup dev --demo`: packages for the simulated cluster, generated and
//! stored at start-up, so that a newcomer can run an upgrade at once.

use bytes::Bytes;
use obup_package_store::PackageStore;
use obup_package_store::domain::UploadStart;
use obup_package_store::upload::Chunk;
use obup_rpm_build::{OB_HOME, RpmSpec};
use obup_upgrade_orchestrator::domain::template::Edition;

/// Target of the demo upgrade.
pub const VERSION: &str = "4.3.5.0";
pub const RELEASE: &str = "100000202024123117.el7";

/// The packages an upgrade of a simulated cluster of `edition` on `arch`
/// to 4.3.5.0 needs, with a dep YAML that allows it from 4.2.x.
fn packages(edition: Edition, arch: &str) -> Vec<RpmSpec> {
    let dep = format!("{OB_HOME}/etc/oceanbase_upgrade_dep.yml");
    let yaml = "- version: 4.2.1.0\n  can_be_upgraded_to:\n    - 4.3.5.0\n\
                - version: 4.2.2.0\n  can_be_upgraded_to:\n    - 4.3.5.0\n\
                - version: 4.3.5.0\n  can_be_upgraded_to: []\n";
    let server = RpmSpec::oceanbase_server(edition, VERSION, RELEASE)
        .without(&dep)
        .file(&dep, yaml.as_bytes().to_vec())
        .arch(arch);
    match edition {
        Edition::Ce => vec![
            server,
            RpmSpec::oceanbase_ce_libs(VERSION, RELEASE).arch(arch),
        ],
        Edition::Business | Edition::Standalone => vec![server],
    }
}

/// The demo's packages for a CE cluster on this machine's architecture,
/// as files to upload (`--demo-no-packages` leaves them to the user: the
/// web console's browser test uploads them through the page).
pub fn ce_packages() -> Vec<RpmSpec> {
    packages(Edition::Ce, crate::dev::rpm_arch())
}

/// Stores the demo packages (identical bytes are stored once, so this is
/// harmless on every start).
pub async fn seed(
    store: &PackageStore,
    edition: Edition,
    arch: &str,
) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    for spec in packages(edition, arch) {
        let bytes = Bytes::from(spec.build());
        let start = UploadStart {
            file_name: spec.file_name(),
            total_size: Some(bytes.len() as u64),
            sha256: None,
            upload_id: None,
        };
        let chunks = futures::stream::iter([Chunk::Data { offset: 0, bytes }]);
        let p = store.upload(start, chunks).await?;
        names.push(format!("{} (package {})", spec.file_name(), p.id));
    }
    Ok(names)
}
