//! Compiles `proto/` with the `protoc` that ships inside `protoc-bin-vendored`,
//! so that building obup needs no manual install.

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "obup/packagestore/v1/package_store.proto",
    "obup/orchestrator/v1/orchestrator.proto",
    "obup/agent/v1/agent.proto",
    "obup/auth/v1/tokens.proto",
    "obup/audit/v1/audit.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let protos: Vec<PathBuf> = PROTOS.iter().map(|p| root.join(p)).collect();
    let descriptor = PathBuf::from(std::env::var("OUT_DIR")?).join("obup_descriptor.bin");

    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    // Package bytes travel as `Bytes` so that a chunk is shared, not copied,
    // between the hashing, scanning and storage stages.
    config.bytes(["."]);
    tonic_prost_build::configure()
        .file_descriptor_set_path(&descriptor)
        .compile_with_config(config, &protos, std::slice::from_ref(&root))?;
    println!("cargo:rerun-if-changed={}", root.display());
    Ok(())
}
