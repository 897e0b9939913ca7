//! `POST /api/v1/upgrade/package`: the whole multipart body is encrypted.
//! It is decrypted as it streams (base64 -> AES-CBC -> multipart -> gRPC
//! client stream), so a package never sits in the gateway's memory.

use std::sync::Arc;

use axum::Extension;
use axum::body::Body;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use bytes::BytesMut;
use obup_proto::pb::packagestore::v1 as pb;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::{authenticate, reply};
use crate::envelope::{ApiError, RequestMeta};
use crate::{AppState, Error, dto};

/// Bytes per gRPC message to the package store.
const CHUNK: usize = 1 << 20;

pub async fn upload_encrypted(
    State(s): State<Arc<AppState>>,
    Extension(meta): Extension<RequestMeta>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        let auth = authenticate(&s, &headers, &uri, &meta)?;
        let boundary = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|ct| multer::parse_boundary(ct).ok())
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "Request.File.Missing",
                    "the request is not multipart/form-data",
                )
            })?;
        let plain = crate::security::decrypt_stream(body.into_data_stream(), &auth.keys)?;
        let package = upload_multipart(&s, multer::Multipart::new(plain, boundary), &meta).await?;
        Ok(Some(dto::upload_pkg_info(&package)))
    }
    .await;
    reply(&meta, result)
}

/// Streams the `file` field of a multipart body to the package store.
async fn upload_multipart(
    s: &AppState,
    mut form: multer::Multipart<'static>,
    meta: &RequestMeta,
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
                ..Default::default()
            })),
        };
        tx.send(start)
            .await
            .expect("the receiver lives until the call ends");
        let mut client = s.packages.clone();
        let mut request = tonic::Request::new(ReceiverStream::new(rx));
        if let Ok(v) = meta.trace_id.parse() {
            request.metadata_mut().insert("x-obshell-trace-id", v);
        }
        let call = tokio::spawn(async move { client.upload(request).await });
        let mut offset = 0u64;
        let mut buf = BytesMut::with_capacity(CHUNK);
        let sent: Result<(), Error> = async {
            while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                buf.extend_from_slice(&chunk);
                if buf.len() >= CHUNK && !send(&tx, &mut buf, &mut offset).await {
                    return Ok(());
                }
            }
            if !buf.is_empty() {
                send(&tx, &mut buf, &mut offset).await;
            }
            Ok(())
        }
        .await;
        drop(tx);
        let response = call
            .await
            .map_err(|e| Error::Config(format!("the upload task failed: {e}")))?;
        // The store's verdict wins over a read error it caused (it stopped
        // reading because it refused the package).
        return match (response, sent) {
            (Ok(p), Ok(())) => Ok(p.into_inner()),
            (Err(status), _) => Err(status.into()),
            (Ok(_), Err(e)) => Err(e),
        };
    }
    Err(ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Request.File.Missing",
        "File 'file' in the request is missing",
    )
    .into())
}

/// Sends the buffer as one data message; false if the store stopped
/// listening (it answered early).
async fn send(tx: &mpsc::Sender<pb::UploadRequest>, buf: &mut BytesMut, offset: &mut u64) -> bool {
    let data = buf.split().freeze();
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
