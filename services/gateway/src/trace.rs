//! The request's trace id, carried to the gRPC services.
//!
//! The REST middleware runs each request inside [`scope`]; the gRPC clients
//! in `AppState` carry an interceptor ([`propagate`]) that copies the id into
//! the call's `x-obshell-trace-id` metadata, so the services log the same id
//! the REST caller sent (or was answered with). A task-local rather than an
//! argument to every call: no handler can forget it.

use std::future::Future;

use tonic::metadata::MetadataValue;

/// The metadata key, the same name as obshell's REST header.
pub const HEADER: &str = "x-obshell-trace-id";

tokio::task_local! {
    static TRACE_ID: String;
}

/// Runs `f` with `trace_id` as the current request's trace id.
pub async fn scope<F: Future>(trace_id: String, f: F) -> F::Output {
    TRACE_ID.scope(trace_id, f).await
}

/// A tonic interceptor: adds the current trace id, unless the caller set
/// one explicitly (calls made from spawned tasks, outside the scope).
#[allow(clippy::result_large_err)] // tonic's interceptor signature
pub fn propagate(mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
    if !request.metadata().contains_key(HEADER) {
        let id = TRACE_ID
            .try_with(|id| MetadataValue::try_from(id.as_str()).ok())
            .ok()
            .flatten();
        if let Some(id) = id {
            request.metadata_mut().insert(HEADER, id);
        }
    }
    Ok(request)
}

/// What the clients' interceptor is, named for `AppState`'s field types.
pub type Interceptor = fn(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status>;
