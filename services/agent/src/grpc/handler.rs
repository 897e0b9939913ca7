//! `obup.agent.v1.HostAgent` handlers: decode, call [`Ops`], encode.

use std::pin::Pin;

use obup_proto::pb::agent::v1 as pb;
use pb::host_agent_server::{HostAgent, HostAgentServer};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use super::convert;
use crate::domain::{CancelStatus, OpKey};
use crate::ops::Ops;
use crate::{Error, facts};

/// Largest message either way; work items and events are small.
const MAX_MESSAGE_BYTES: usize = 4 << 20;

/// The tonic service for `ops`, with message limits set.
pub fn server(ops: Ops) -> HostAgentServer<Handler> {
    HostAgentServer::new(Handler { ops })
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

/// Translates gRPC calls to [`Ops`] calls.
#[derive(Debug, Clone)]
pub struct Handler {
    ops: Ops,
}

fn key(op_id: &str, attempt: u32) -> Result<OpKey, Status> {
    OpKey::new(op_id, attempt).map_err(|reason| {
        Status::from(Error::InvalidArgument {
            field: "op_id",
            reason,
        })
    })
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::OpEvent, Status>> + Send>>;

#[tonic::async_trait]
impl HostAgent for Handler {
    #[tracing::instrument(skip_all)]
    async fn facts(
        &self,
        _request: Request<pb::FactsRequest>,
    ) -> Result<Response<pb::HostFacts>, Status> {
        let f = facts::collect(self.ops.host(), self.ops.settings()).await;
        Ok(Response::new(convert::facts::facts(f)))
    }

    type RunStream = EventStream;

    #[tracing::instrument(skip_all, fields(op_id, attempt))]
    async fn run(
        &self,
        request: Request<pb::RunRequest>,
    ) -> Result<Response<Self::RunStream>, Status> {
        let request = request.into_inner();
        let span = tracing::Span::current();
        span.record("op_id", request.op_id.as_str());
        span.record("attempt", request.attempt);
        let spec = convert::work::run_spec(request)?;
        // `Ops` streams from its own task, so the operation goes on when
        // this client goes away.
        let events = self.ops.run(spec).await?;
        let stream =
            ReceiverStream::new(events).map(|e| e.map(convert::event::event).map_err(Status::from));
        Ok(Response::new(Box::pin(stream)))
    }

    #[tracing::instrument(skip_all, fields(op_id = %request.get_ref().op_id, attempt = request.get_ref().attempt))]
    async fn cancel(
        &self,
        request: Request<pb::CancelRequest>,
    ) -> Result<Response<pb::CancelReply>, Status> {
        let r = request.into_inner();
        let status = match self.ops.cancel(&key(&r.op_id, r.attempt)?).await? {
            CancelStatus::Unknown => pb::cancel_reply::Status::Unknown,
            CancelStatus::Cancelling => pb::cancel_reply::Status::Cancelling,
            CancelStatus::Finished => pb::cancel_reply::Status::Finished,
        };
        Ok(Response::new(pb::CancelReply {
            status: status as i32,
        }))
    }

    #[tracing::instrument(skip_all, fields(op_id = %request.get_ref().op_id, attempt = request.get_ref().attempt))]
    async fn forget(
        &self,
        request: Request<pb::ForgetRequest>,
    ) -> Result<Response<pb::ForgetReply>, Status> {
        let r = request.into_inner();
        let forgotten = self.ops.forget(&key(&r.op_id, r.attempt)?).await?;
        Ok(Response::new(pb::ForgetReply { forgotten }))
    }
}
