//! `obup upload`: client-streamed, resumable uploads.

use std::path::Path;

use anyhow::{Context, bail};
use bytes::Bytes;
use obup_proto::pb::packagestore::v1 as pb;
use pb::package_store_client::PackageStoreClient;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tonic::Code;
use tonic::transport::Channel;

/// Bytes per data message (the server accepts up to 4 MiB).
const CHUNK: usize = 1 << 20;

pub async fn run(server: &str, files: &[impl AsRef<Path>], json: bool) -> anyhow::Result<()> {
    let channel = Channel::from_shared(server.to_owned())
        .with_context(|| format!("invalid server URL {server:?}"))?
        .connect()
        .await
        .with_context(|| format!("cannot connect to {server}"))?;
    let mut client = PackageStoreClient::new(channel)
        .max_decoding_message_size(16 << 20)
        .max_encoding_message_size(16 << 20);
    let mut stored = Vec::new();
    let mut failed = 0;
    for file in files {
        let file = file.as_ref();
        match upload_one(&mut client, file).await {
            Ok(p) => {
                if !json {
                    println!(
                        "{}: stored as package {} ({}-{}-{}.{}, {} bytes, sha256 {})",
                        file.display(),
                        p.id,
                        p.name,
                        p.version,
                        p.release_distribution,
                        p.architecture,
                        p.file_size,
                        p.sha256
                    );
                }
                stored.push(p);
            }
            Err(e) => {
                failed += 1;
                eprintln!("{}: {e:#}", file.display());
            }
        }
    }
    if json {
        let records: Vec<_> = stored.iter().map(package_json).collect();
        println!("{}", serde_json::to_string_pretty(&records)?);
    }
    if failed > 0 {
        bail!("{failed} of {} uploads failed", files.len());
    }
    Ok(())
}

async fn upload_one(
    client: &mut PackageStoreClient<Channel>,
    path: &Path,
) -> anyhow::Result<pb::Package> {
    let (sha256, size) = hash_file(path).await?;
    // The id is derived from the content, so running the same command again
    // finds the interrupted session.
    let upload_id = format!("cli-{}", &sha256[..32]);
    let offset = match client
        .get_upload_status(pb::GetUploadStatusRequest {
            upload_id: upload_id.clone(),
        })
        .await
    {
        Ok(status) => status.into_inner().received,
        Err(s) if s.code() == Code::NotFound => 0,
        Err(s) => return Err(describe(s)),
    };
    if offset > 0 {
        eprintln!("{}: resuming at byte {offset} of {size}", path.display());
    }
    let start = pb::UploadRequest {
        kind: Some(pb::upload_request::Kind::Start(pb::UploadStart {
            file_name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            total_size: Some(size),
            sha256,
            upload_id,
        })),
    };
    let mut file = tokio::fs::File::open(path).await?;
    file.seek(std::io::SeekFrom::Start(offset)).await?;
    let data = futures::stream::unfold((file, offset), |(mut file, offset)| async move {
        let mut buf = vec![0u8; CHUNK];
        match file.read(&mut buf).await {
            Ok(0) | Err(_) => None,
            Ok(n) => {
                buf.truncate(n);
                let message = pb::UploadRequest {
                    kind: Some(pb::upload_request::Kind::Data(pb::UploadData {
                        offset,
                        data: Bytes::from(buf),
                    })),
                };
                Some((message, (file, offset + n as u64)))
            }
        }
    });
    let requests = futures::StreamExt::chain(futures::stream::iter([start]), data);
    let response = client.upload(requests).await.map_err(describe)?;
    Ok(response.into_inner())
}

async fn hash_file(path: &Path) -> anyhow::Result<(String, u64)> {
    let mut file = tokio::fs::File::open(path)
        .await
        .with_context(|| format!("cannot open {}", path.display()))?;
    let mut sha = Sha256::new();
    let mut size = 0u64;
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        sha.update(&buf[..n]);
        size += n as u64;
    }
    Ok((hex::encode(sha.finalize()), size))
}

/// An error with the server's stable code, e.g.
/// `OB.Package.Name.NotSupport: Unsupported name ...`.
fn describe(s: tonic::Status) -> anyhow::Error {
    match obup_kit::status::error_code(&s) {
        Some(code) => anyhow::anyhow!("{code}: {}", s.message()),
        None => anyhow::anyhow!("{}: {}", s.code(), s.message()),
    }
}

fn package_json(p: &pb::Package) -> serde_json::Value {
    serde_json::json!({
        "pkg_id": p.id,
        "name": p.name,
        "version": p.version,
        "release_distribution": p.release_distribution,
        "distribution": p.distribution,
        "release": p.release,
        "architecture": p.architecture,
        "size": p.size,
        "payload_size": p.payload_size,
        "chunk_count": p.chunk_count,
        "md5": p.md5,
        "sha256": p.sha256,
        "file_size": p.file_size,
        "payload_compressor": p.payload_compressor,
        "upgrade_scripts": p.upgrade_scripts,
        "has_upgrade_dep_yaml": !p.upgrade_dep_yaml.is_empty(),
    })
}
