//! The request's trace id, carried to the gRPC services.
//!
//! The REST middleware runs each request inside [`scope`]; the gRPC clients
//! in `AppState` carry an interceptor ([`Interceptor`]) that copies the id into
//! the call's `x-obshell-trace-id` metadata, so the services log the same id
//! the REST caller sent (or was answered with). A task-local rather than an
//! argument to every call: no handler can forget it.

use std::future::Future;

use tonic::metadata::MetadataValue;

/// The metadata key, the same name as obshell's REST header.
pub const HEADER: &str = "x-obshell-trace-id";

tokio::task_local! {
    static TRACE_ID: String;
    /// Who the REST caller proved to be, once its request is authenticated
    /// (set once, by [`acting_for`]).
    static ON_BEHALF: std::sync::OnceLock<String>;
}

/// Runs `f` with `trace_id` as the current request's trace id.
pub async fn scope<F: Future>(trace_id: String, f: F) -> F::Output {
    TRACE_ID
        .scope(trace_id, ON_BEHALF.scope(std::sync::OnceLock::new(), f))
        .await
}

/// Records who the current REST request authenticated as (`root
/// password`, `agent password`, `token ci-bot`), so that the services'
/// audit trails name the person behind the gateway's own token. Sent as
/// [`obup_kit::audit::ON_BEHALF_HEADER`]; the services keep it as the
/// gateway's claim beside the gateway's identity. Never a secret.
pub fn acting_for(who: String) {
    let _ = ON_BEHALF.try_with(|cell| cell.set(who));
}

/// Adds the current trace id, unless the caller set one explicitly (calls
/// made from spawned tasks, outside the scope).
fn propagate(request: &mut tonic::Request<()>) {
    if !request.metadata().contains_key(HEADER) {
        let id = TRACE_ID
            .try_with(|id| MetadataValue::try_from(id.as_str()).ok())
            .ok()
            .flatten();
        if let Some(id) = id {
            request.metadata_mut().insert(HEADER, id);
        }
    }
    let who = ON_BEHALF
        .try_with(|cell| {
            cell.get()
                .and_then(|w| MetadataValue::try_from(w.as_str()).ok())
        })
        .ok()
        .flatten();
    if let Some(who) = who {
        request
            .metadata_mut()
            .insert(obup_kit::audit::ON_BEHALF_HEADER, who);
    }
}

/// The clients' interceptor: the trace id, and the gateway's own token
/// (the gateway authenticates REST callers itself, then calls the
/// services as itself).
#[derive(Debug, Clone)]
pub struct Interceptor {
    bearer: obup_kit::auth::BearerInterceptor,
}

impl Interceptor {
    pub fn new(token: Option<&obup_kit::auth::Token>) -> Self {
        Self {
            bearer: obup_kit::auth::BearerInterceptor::new(token),
        }
    }
}

impl tonic::service::Interceptor for Interceptor {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        propagate(&mut request);
        self.bearer.apply(request.metadata_mut());
        Ok(request)
    }
}
