//! `POST /api/v1/upgrade/package`: the whole multipart body is encrypted.
//! It is decrypted as it streams (base64 -> AES-CBC -> multipart -> gRPC
//! client stream), so a package never sits in the gateway's memory.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use obup_proto::pb::packagestore::v1 as pb;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::{Authed, reply};
use crate::envelope::{ApiError, RequestMeta};
use crate::security::Scheme;
use crate::{AppState, Error, dto};

/// Bytes per gRPC message to the package store.
const CHUNK: usize = 1 << 20;

pub async fn upload_encrypted(
    State(s): State<Arc<AppState>>,
    Authed { meta, auth }: Authed,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        if matches!(auth.scheme, Scheme::Gcm | Scheme::Bearer | Scheme::Session) {
            // One GCM tag over a 1 GiB body could only be checked after all
            // of it had been passed on; the plain upload route is the one
            // for obup-gcm1 clients (its SHA-256 protects the bytes).
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "Request.Body.Decrypt.Unsupported",
                "obup-gcm1 and bearer callers do not encrypt uploads: send the package to POST /api/v1/package with X-OCS-File-SHA256",
            )
            .into());
        }
        let boundary = boundary(&headers)?;
        let plain = crate::security::decrypt_stream(body.into_data_stream(), &auth.keys)?;
        let package = upload_form(
            &s,
            multer::Multipart::new(plain, boundary),
            &meta,
            String::new(),
        )
        .await?;
        Ok(Some(dto::upload_pkg_info(&package)))
    }
    .await;
    reply(&meta, result)
}

/// The multipart boundary of a request. A request that is not multipart
/// has no file either: obshell's `FormFile` answers so, with a 500.
fn boundary(headers: &HeaderMap) -> Result<String, ApiError> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| multer::parse_boundary(ct).ok())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Request.File.Missing",
                "File 'file' in the request is missing: request Content-Type isn't multipart/form-data",
            )
        })
}

/// Streams the `file` field of a multipart body to the package store;
/// `sha256`, when known, is checked by the store.
async fn upload_form(
    s: &AppState,
    mut form: multer::Multipart<'static>,
    meta: &RequestMeta,
    sha256: String,
) -> Result<pb::Package, Error> {
    while let Some(mut field) = form.next_field().await.map_err(multipart_error)? {
        if field.name() != Some("file") {
            continue;
        }
        let file_name = field.file_name().unwrap_or("package.rpm").to_owned();
        let (tx, rx) = mpsc::channel(4);
        let start = pb::UploadRequest {
            kind: Some(pb::upload_request::Kind::Start(pb::UploadStart {
                file_name,
                sha256: sha256.clone(),
                ..Default::default()
            })),
        };
        tx.send(start)
            .await
            .expect("the receiver lives until the call ends");
        let mut client = s.packages.clone();
        let mut request = tonic::Request::new(ReceiverStream::new(rx));
        if let Ok(v) = meta.trace_id.parse() {
            request.metadata_mut().insert(crate::trace::HEADER, v);
        }
        let call = tokio::spawn(async move { client.upload(request).await });
        let mut offset = 0u64;
        let mut buf = BytesMut::with_capacity(CHUNK + 1);
        // At least one byte is held back until the field is known to have
        // ended: a body that breaks off (truncated multipart, a decryption
        // error at the end) must never reach the store whole, or the store
        // would commit it. Without its end the store refuses it and keeps
        // nothing.
        let sent: Result<(), Error> = async {
            while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                buf.extend_from_slice(&chunk);
                while buf.len() > CHUNK {
                    if !send(&tx, buf.split_to(CHUNK).freeze(), &mut offset).await {
                        // The store answered early: its verdict follows.
                        return Ok(());
                    }
                }
            }
            if !buf.is_empty() {
                send(&tx, buf.split().freeze(), &mut offset).await;
            }
            Ok(())
        }
        .await;
        drop(tx);
        // Awaited even after a read error, so that the store has refused
        // (and dropped) the partial file before the client hears of it.
        let response = call
            .await
            .map_err(|e| Error::Config(format!("the upload task failed: {e}")))?;
        // A read error is the request's fault, and the store's refusal of
        // the partial file only follows from it.
        return match (response, sent) {
            (_, Err(e)) => Err(e),
            (Ok(p), Ok(())) => Ok(p.into_inner()),
            (Err(status), Ok(())) => Err(status.into()),
        };
    }
    Err(ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Request.File.Missing",
        "File 'file' in the request is missing",
    )
    .into())
}

/// Sends `data` as one data message; false if the store stopped listening
/// (it answered early).
async fn send(tx: &mpsc::Sender<pb::UploadRequest>, data: Bytes, offset: &mut u64) -> bool {
    let len = data.len() as u64;
    let message = pb::UploadRequest {
        kind: Some(pb::upload_request::Kind::Data(pb::UploadData {
            offset: *offset,
            data,
        })),
    };
    *offset += len;
    tx.send(message).await.is_ok()
}

/// A multipart error, or the decryption error underneath it.
fn multipart_error(e: multer::Error) -> Error {
    if let multer::Error::StreamReadFailed(inner) = e {
        return match inner.downcast::<ApiError>() {
            Ok(api) => Error::Api(*api),
            Err(other) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "Request.Body.Read.Failed",
                other.to_string(),
            )
            .into(),
        };
    }
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "Request.Multipart.Invalid",
        format!("invalid multipart body: {e}"),
    )
    .into()
}

/// `POST /api/v1/package`: a plain multipart upload whose file SHA-256 comes
/// RSA-encrypted in `X-OCS-File-SHA256`. Unlike obshell, the caller must
/// also authenticate with the usual header.
pub async fn upload_plain(
    State(s): State<Arc<AppState>>,
    Authed { meta, auth }: Authed,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        let sha256 = file_sha256(&s, &headers, auth.scheme)?;
        let boundary = boundary(&headers)?;
        let form = multer::Multipart::new(body.into_data_stream(), boundary);
        let package = upload_form(&s, form, &meta, sha256)
            .await
            .map_err(|e| match e {
                Error::Backend(status)
                    if obup_kit::status::error_code(&status).as_deref()
                        == Some("Package.Sha256.Mismatch") =>
                {
                    ApiError::new(
                        StatusCode::UNAUTHORIZED,
                        "Security.Authentication.File.Sha256Mismatch",
                        format!("Unauthorized: {}", status.message()),
                    )
                    .with_code(10008)
                    .into()
                }
                other => other,
            })?;
        Ok(Some(dto::pkg_info(&package)))
    }
    .await;
    reply(&meta, result)
}

/// The file's SHA-256 from `X-OCS-File-SHA256` (hex, RSA-encrypted with
/// the padding of the request's scheme).
fn file_sha256(s: &AppState, headers: &HeaderMap, scheme: Scheme) -> Result<String, Error> {
    let missing = || {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "Request.Header.NotFound",
            "X-OCS-File-SHA256 not found in http request header",
        )
    };
    let value = headers
        .get("x-ocs-file-sha256")
        .and_then(|v| v.to_str().ok());
    // A browser cannot hash a 1 GiB file before sending it (WebCrypto
    // digests whole buffers only): the console may leave the digest out,
    // and the store's own digest is what is recorded. Empty: no check.
    let value = match (value, scheme) {
        (None, Scheme::Session) => return Ok(String::new()),
        (value, _) => value.ok_or_else(missing)?,
    };
    let bad = |why: String| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "Security.Authentication.Header.DecryptFailed",
            format!("Decrypt X-OCS-File-SHA256 failed: {why}"),
        )
        .with_code(1)
    };
    let plain = match scheme {
        // A bearer or console caller has no key: the digest comes as
        // plain hex.
        Scheme::Bearer | Scheme::Session => value.trim().as_bytes().to_vec(),
        Scheme::V2 | Scheme::Gcm => {
            use base64::Engine;
            let ciphertext = base64::engine::general_purpose::STANDARD
                .decode(value.trim())
                .map_err(|e| bad(e.to_string()))?;
            match scheme {
                Scheme::V2 => s.security.keys.decrypt_blocks(&ciphertext),
                _ => s.security.keys.decrypt_blocks_oaep(&ciphertext),
            }
            .map_err(bad)?
        }
    };
    let hex = String::from_utf8(plain)
        .map_err(|e| bad(e.to_string()))?
        .trim()
        .to_ascii_lowercase();
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad(format!("{hex:?} is not a SHA-256")).into());
    }
    Ok(hex)
}

/// `GET /api/v1/upgrade/package/info`: newest first, one per
/// name-version-release.arch, as obshell lists them.
pub async fn list(State(s): State<Arc<AppState>>, Authed { meta, .. }: Authed) -> Response {
    let result = async {
        let packages = s
            .packages
            .clone()
            .list_packages(pb::ListPackagesRequest::default())
            .await?
            .into_inner()
            .packages;
        let mut seen = std::collections::HashSet::new();
        let items = packages
            .iter()
            .filter(|p| {
                seen.insert(format!(
                    "{}-{}-{}.{}",
                    p.name, p.version, p.release_distribution, p.architecture
                ))
            })
            .map(dto::pkg_info)
            .collect();
        Ok(Some(crate::envelope::contents(items)))
    }
    .await;
    reply(&meta, result)
}

/// `DELETE /api/v1/upgrade/package/{id}`: no error when it does not exist.
pub async fn delete(
    State(s): State<Arc<AppState>>,
    axum::extract::Path(id): axum::extract::Path<String>,
    Authed { meta, .. }: Authed,
) -> Response {
    let result = async {
        let id: i64 = id.parse().map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "Request.Query.Param.Illegal",
                format!("pkg_id '{id}' is not an integer"),
            )
        })?;
        if id <= 0 {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "Request.Path.Param.Empty",
                "pkg_id is empty",
            )
            .into());
        }
        s.packages
            .clone()
            .delete_package(pb::DeletePackageRequest { id })
            .await?;
        Ok(None)
    }
    .await;
    reply(&meta, result)
}
