//! `obup.audit.v1.Audit`: reading a service's journal.

use obup_proto::pb::audit::v1 as pb;
use pb::audit_server::{Audit, AuditServer};
use tonic::{Code, Request, Response, Status};

use super::{AuditEvent, AuditStore};
use crate::status::with_code;

/// Events per call when the caller asks for none in particular.
const DEFAULT_LIMIT: u32 = 100;
/// At most this many per call: a journal grows without bound.
const MAX_LIMIT: u32 = 1000;

/// A service's journal, by the name callers ask for.
#[derive(Debug, Clone)]
pub struct Journal {
    /// `orchestrator` or `package-store`.
    pub name: &'static str,
    pub store: AuditStore,
}

/// The tonic service reading `journals` (one per service this server
/// serves with its own database).
pub fn server(journals: Vec<Journal>) -> AuditServer<Handler> {
    AuditServer::new(Handler { journals })
}

#[derive(Debug, Clone)]
pub struct Handler {
    journals: Vec<Journal>,
}

/// Why a listing was refused.
#[derive(Debug, thiserror::Error)]
enum Error {
    #[error("this server keeps no audit journal named {0:?} (it keeps: {1})")]
    NoSuchJournal(String, String),
    #[error("this server keeps several audit journals ({0}): name one")]
    Unspecified(String),
    #[error("cannot read the audit journal: {0}")]
    Db(#[from] sqlx::Error),
}

impl From<Error> for Status {
    fn from(e: Error) -> Self {
        let (code, error_code) = match &e {
            Error::NoSuchJournal(..) => (Code::NotFound, "Audit.Journal.NotFound"),
            Error::Unspecified(_) => (Code::InvalidArgument, "Common.IllegalArgument"),
            Error::Db(_) => (Code::Internal, "Common.Unexpected"),
        };
        if let Error::Db(db) = &e {
            tracing::error!(error = %db, "reading the audit journal failed");
            return with_code(code, error_code, "cannot read the audit journal");
        }
        with_code(code, error_code, e.to_string())
    }
}

impl Handler {
    fn journal(&self, name: &str) -> Result<&Journal, Error> {
        let names = || {
            self.journals
                .iter()
                .map(|j| j.name)
                .collect::<Vec<_>>()
                .join(", ")
        };
        match (name, self.journals.as_slice()) {
            ("", [only]) => Ok(only),
            ("", _) => Err(Error::Unspecified(names())),
            (name, all) => all
                .iter()
                .find(|j| j.name == name)
                .ok_or_else(|| Error::NoSuchJournal(name.to_owned(), names())),
        }
    }
}

#[tonic::async_trait]
impl Audit for Handler {
    async fn list_audit_events(
        &self,
        request: Request<pb::ListAuditEventsRequest>,
    ) -> Result<Response<pb::ListAuditEventsResponse>, Status> {
        let req = request.into_inner();
        let journal = self.journal(&req.journal)?;
        let limit = match req.limit {
            0 => DEFAULT_LIMIT,
            n => n.min(MAX_LIMIT),
        };
        let events = if req.tail {
            journal.store.tail(i64::from(limit)).await
        } else {
            journal
                .store
                .list(req.after_id.max(0), i64::from(limit))
                .await
        }
        .map_err(Error::from)?;
        Ok(Response::new(pb::ListAuditEventsResponse {
            events: events.into_iter().map(|e| event(e, journal.name)).collect(),
            journal: journal.name.to_owned(),
        }))
    }
}

fn event(e: AuditEvent, journal: &str) -> pb::AuditEvent {
    pb::AuditEvent {
        id: e.id,
        at_ms: e.at_ms,
        actor: e.actor,
        credential: e.credential,
        role: e.role.map(|r| r.as_str().to_owned()).unwrap_or_default(),
        method: e.method,
        target: e.target,
        result: e.result.as_str().to_owned(),
        trace_id: e.trace_id,
        source: e.source,
        on_behalf_of: e.on_behalf_of.unwrap_or_default(),
        journal: journal.to_owned(),
    }
}
