//! `obup.packagestore.v1.PackageStore` handlers.

use std::pin::Pin;

use futures::{Stream, StreamExt};
use obup_kit::audit::AuditEvent;
use obup_proto::pb::packagestore::v1 as pb;
use pb::package_store_server::{PackageStore as PackageStoreApi, PackageStoreServer};
use pb::upload_request::Kind;
use tonic::{Code, Request, Response, Status, Streaming};

use super::convert;
use crate::upload::Chunk;
use crate::{Error, PackageStore};

/// Largest gRPC message accepted or sent. Clients should send 1 MiB chunks.
pub const MAX_MESSAGE_BYTES: usize = 4 << 20;
/// Largest data message a download sends.
const DOWNLOAD_CHUNK: usize = 1 << 20;

/// The tonic service for `store`, with message limits set.
pub fn server(store: PackageStore) -> PackageStoreServer<Handler> {
    PackageStoreServer::new(Handler { store })
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

/// Translates gRPC calls to [`PackageStore`] calls.
#[derive(Debug, Clone)]
pub struct Handler {
    store: PackageStore,
}

/// The client's error in a status from the message decoder: a message over
/// [`MAX_MESSAGE_BYTES`] (tonic answers `OutOfRange`, or `ResourceExhausted`
/// when it only shows once decompressed). Anything else ends the stream
/// like a broken connection.
fn too_large(status: &Status) -> Option<Error> {
    matches!(status.code(), Code::OutOfRange | Code::ResourceExhausted)
        .then(|| Error::MessageTooLarge(status.message().to_owned()))
}

type BoxedDownload = Pin<Box<dyn Stream<Item = Result<pb::DownloadResponse, Status>> + Send>>;

#[tonic::async_trait]
impl PackageStoreApi for Handler {
    async fn upload(
        &self,
        request: Request<Streaming<pb::UploadRequest>>,
    ) -> Result<Response<pb::Package>, Status> {
        // The file is named by the stream's first message; until then the
        // call has no target.
        let mut event = AuditEvent::of(&request, "Upload", "");
        let result = self.receive(request, &mut event).await;
        self.store.journal().settle(event, result).await
    }

    async fn get_upload_status(
        &self,
        request: Request<pb::GetUploadStatusRequest>,
    ) -> Result<Response<pb::UploadStatus>, Status> {
        let id = convert::upload_id(&request.into_inner().upload_id)?;
        let session = self.store.upload_status(&id).await?;
        Ok(Response::new(convert::upload_status(session)))
    }

    async fn get_package(
        &self,
        request: Request<pb::GetPackageRequest>,
    ) -> Result<Response<pb::Package>, Status> {
        let package = self.store.get(request.into_inner().id).await?;
        Ok(Response::new(convert::package(package)))
    }

    async fn list_packages(
        &self,
        request: Request<pb::ListPackagesRequest>,
    ) -> Result<Response<pb::ListPackagesResponse>, Status> {
        let packages = self
            .store
            .list(&convert::filter(request.into_inner())?)
            .await?;
        Ok(Response::new(pb::ListPackagesResponse {
            packages: packages.into_iter().map(convert::package).collect(),
        }))
    }

    async fn find_package(
        &self,
        request: Request<pb::FindPackageRequest>,
    ) -> Result<Response<pb::Package>, Status> {
        let query = convert::query(request.into_inner())?;
        let package = self.store.find(&query).await?;
        Ok(Response::new(convert::package(package)))
    }

    async fn delete_package(
        &self,
        request: Request<pb::DeletePackageRequest>,
    ) -> Result<Response<pb::DeletePackageResponse>, Status> {
        let event = AuditEvent::of(
            &request,
            "DeletePackage",
            format!("package {}", request.get_ref().id),
        );
        let result = async {
            let deleted = self
                .store
                .delete(request.into_inner().id, Some(&event))
                .await?;
            Ok(Response::new(pb::DeletePackageResponse { deleted }))
        }
        .await;
        self.store.journal().settle(event, result).await
    }

    type DownloadStream = BoxedDownload;

    async fn download(
        &self,
        request: Request<pb::DownloadRequest>,
    ) -> Result<Response<Self::DownloadStream>, Status> {
        let req = request.into_inner();
        let (_, bytes) = self.store.download(req.id, req.offset).await?;
        // Storage hands out chunks of any size; messages stay under the limit.
        let mut offset = req.offset;
        let messages = bytes.flat_map(move |item| {
            let out: Vec<Result<pb::DownloadResponse, Status>> = match item {
                Ok(b) => (0..b.len())
                    .step_by(DOWNLOAD_CHUNK)
                    .map(|i| {
                        let data = b.slice(i..b.len().min(i + DOWNLOAD_CHUNK));
                        let message = pb::DownloadResponse { offset, data };
                        offset += message.data.len() as u64;
                        Ok(message)
                    })
                    .collect(),
                Err(e) => vec![Err(Status::from(e))],
            };
            futures::stream::iter(out)
        });
        Ok(Response::new(Box::pin(messages)))
    }
}

impl Handler {
    /// An upload's stream, from its first message to the stored package;
    /// `event` gets the file's name as its target once it is known.
    async fn receive(
        &self,
        request: Request<Streaming<pb::UploadRequest>>,
        event: &mut AuditEvent,
    ) -> Result<Response<pb::Package>, Status> {
        let mut stream = request.into_inner();
        let first = stream
            .message()
            .await
            .map_err(|status| too_large(&status).map_or(status, Status::from))?;
        let start = match first {
            None => return Err(Error::EmptyStream.into()),
            Some(pb::UploadRequest {
                kind: Some(Kind::Start(s)),
            }) => convert::upload_start(s)?,
            Some(_) => return Err(Error::MisplacedStart.into()),
        };
        event.target = format!("file {}", start.file_name);
        let chunks = stream.map(|m| match m {
            Ok(pb::UploadRequest {
                kind: Some(Kind::Data(d)),
            }) => Chunk::Data {
                offset: d.offset,
                bytes: d.data,
            },
            Ok(pb::UploadRequest {
                kind: Some(Kind::Finish(f)),
            }) => match convert::sha256("sha256", &f.sha256) {
                Ok(sha256) => Chunk::Finish { sha256 },
                Err(e) => Chunk::Invalid(e),
            },
            Ok(_) => Chunk::Invalid(Error::MisplacedStart),
            Err(status) => match too_large(&status) {
                Some(e) => Chunk::Invalid(e),
                None => Chunk::Broken(status.message().to_owned()),
            },
        });
        // The upload runs in its own task: if the client goes away, hyper
        // drops this handler, but the task still sees the broken stream and
        // keeps the bytes that arrived, so the upload can be resumed.
        let store = self.store.clone();
        let audit = event.clone();
        let task = tokio::spawn(async move { store.upload_audited(start, chunks, &audit).await });
        let package = task
            .await
            .map_err(|e| Status::from(Error::Internal(format!("upload task failed: {e}"))))??;
        Ok(Response::new(convert::package(package)))
    }
}
