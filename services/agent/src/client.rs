//! The typed client an orchestrator uses: connect (optionally over mutual
//! TLS), `run` returning the operation's events as domain types, `cancel`,
//! `forget`, `facts`.

use std::pin::Pin;
use std::time::Duration;

use obup_proto::pb::agent::v1 as pb;
use pb::host_agent_client::HostAgentClient;
use tokio_stream::{Stream, StreamExt};
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

use crate::domain::{Accepted, CancelStatus, Event, HostFacts, LogLine, OpKey, OpResult, RunSpec};
use crate::grpc::convert;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to the agent at {url}: {reason}")]
    Connect { url: String, reason: String },
    /// The agent (or the transport) answered with an error status; its
    /// stable code is [`ClientError::error_code`].
    #[error("the agent refused: {0}")]
    Status(#[from] tonic::Status),
    /// The agent sent something this client cannot read.
    #[error("malformed answer from the agent: {0}")]
    Malformed(String),
    /// The stream ended before the operation's result.
    #[error("the event stream ended before the result; run again to re-attach")]
    Ended,
}

impl ClientError {
    /// The stable error code of a refusal (`Task.Attempt.Stale`...).
    pub fn error_code(&self) -> Option<String> {
        match self {
            Self::Status(s) => obup_kit::status::error_code(s),
            Self::Connect { .. } | Self::Malformed(_) | Self::Ended => None,
        }
    }
}

/// The events of one `Run`.
pub type Events = Pin<Box<dyn Stream<Item = Result<Event, ClientError>> + Send>>;

/// Everything a `Run` streamed, once it ended.
#[derive(Debug, Clone)]
pub struct Finished {
    pub accepted: Accepted,
    pub lines: Vec<LogLine>,
    pub result: OpResult,
}

/// A connection to one agent. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AgentClient {
    inner: HostAgentClient<Channel>,
}

impl AgentClient {
    /// Connects to `url` (`http://` or, with `tls`, `https://`).
    pub async fn connect(url: &str, tls: Option<ClientTlsConfig>) -> Result<Self, ClientError> {
        let failed = |reason: String| ClientError::Connect {
            url: url.to_owned(),
            reason,
        };
        let mut endpoint = Endpoint::from_shared(url.to_owned())
            .map_err(|e| failed(e.to_string()))?
            .connect_timeout(Duration::from_secs(10))
            // A host agent may sit idle between operations for long.
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_while_idle(true);
        if let Some(tls) = tls {
            endpoint = endpoint
                .tls_config(tls)
                .map_err(|e| failed(e.to_string()))?;
        }
        let channel = endpoint.connect().await.map_err(|e| failed(describe(&e)))?;
        Ok(Self {
            inner: HostAgentClient::new(channel),
        })
    }

    /// A client that connects on first use (and reconnects after a
    /// failure): for an agent that may not be up yet.
    pub fn connect_lazy(url: &str, tls: Option<ClientTlsConfig>) -> Result<Self, ClientError> {
        let failed = |reason: String| ClientError::Connect {
            url: url.to_owned(),
            reason,
        };
        let mut endpoint = Endpoint::from_shared(url.to_owned())
            .map_err(|e| failed(e.to_string()))?
            .connect_timeout(Duration::from_secs(10));
        if let Some(tls) = tls {
            endpoint = endpoint
                .tls_config(tls)
                .map_err(|e| failed(e.to_string()))?;
        }
        Ok(Self {
            inner: HostAgentClient::new(endpoint.connect_lazy()),
        })
    }

    pub async fn facts(&mut self) -> Result<HostFacts, ClientError> {
        let f = self.inner.facts(pb::FactsRequest {}).await?.into_inner();
        Ok(convert::facts::facts_from(f))
    }

    /// Starts (or re-attaches to) an operation; the first event is
    /// `Accepted`, the last `Result`.
    pub async fn run(&mut self, spec: &RunSpec) -> Result<Events, ClientError> {
        let stream = self
            .inner
            .run(convert::work::run_request(spec))
            .await?
            .into_inner();
        Ok(Box::pin(stream.map(|e| match e {
            Ok(e) => convert::event::event_from(e).map_err(ClientError::Malformed),
            Err(s) => Err(ClientError::Status(s)),
        })))
    }

    /// Runs `spec` and follows it to its result.
    pub async fn run_to_end(&mut self, spec: &RunSpec) -> Result<Finished, ClientError> {
        let mut events = self.run(spec).await?;
        let mut accepted = None;
        let mut lines = Vec::new();
        while let Some(event) = events.next().await {
            match event? {
                Event::Accepted(a) => accepted = Some(a),
                Event::Log(l) => lines.push(l),
                Event::Progress(_) => {}
                Event::Result(result) => {
                    let accepted = accepted.ok_or_else(|| {
                        ClientError::Malformed("a result before `accepted`".into())
                    })?;
                    return Ok(Finished {
                        accepted,
                        lines,
                        result,
                    });
                }
            }
        }
        Err(ClientError::Ended)
    }

    pub async fn cancel(&mut self, key: &OpKey) -> Result<CancelStatus, ClientError> {
        let reply = self
            .inner
            .cancel(pb::CancelRequest {
                op_id: key.op_id.clone(),
                attempt: key.attempt,
            })
            .await?
            .into_inner();
        match pb::cancel_reply::Status::try_from(reply.status) {
            Ok(pb::cancel_reply::Status::Unknown) => Ok(CancelStatus::Unknown),
            Ok(pb::cancel_reply::Status::Cancelling) => Ok(CancelStatus::Cancelling),
            Ok(pb::cancel_reply::Status::Finished) => Ok(CancelStatus::Finished),
            Ok(pb::cancel_reply::Status::Unspecified) | Err(_) => Err(ClientError::Malformed(
                format!("cancel status {}", reply.status),
            )),
        }
    }

    /// Drops a finished operation from the agent's journal.
    pub async fn forget(&mut self, key: &OpKey) -> Result<bool, ClientError> {
        let reply = self
            .inner
            .forget(pb::ForgetRequest {
                op_id: key.op_id.clone(),
                attempt: key.attempt,
            })
            .await?
            .into_inner();
        Ok(reply.forgotten)
    }
}

/// A transport error with its causes (tonic's own message is only "transport
/// error").
fn describe(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
