//! Where the gate sends the calls it refuses.

use std::sync::Arc;

use async_trait::async_trait;

use super::AuditEvent;

/// Takes the events of refused calls. The gate waits for it before it
/// answers, so that a caller who sees the refusal can also find it in the
/// trail.
#[async_trait]
pub trait AuditSink: Send + Sync + std::fmt::Debug {
    /// Records `event` of a call to the method at `path`
    /// (`/package.Service/Method`). Failures are logged, not returned: the
    /// refusal stands either way.
    async fn record(&self, path: &str, event: AuditEvent);
}

/// Routes each event to the journal of the service its method belongs to,
/// for a server that serves several services with their own databases
/// (`obup dev`). Paths no prefix matches go to the first journal.
#[derive(Debug)]
pub struct ByService(pub Vec<(&'static str, Arc<dyn AuditSink>)>);

#[async_trait]
impl AuditSink for ByService {
    async fn record(&self, path: &str, event: AuditEvent) {
        let sink = self
            .0
            .iter()
            .find(|(prefix, _)| path.starts_with(prefix))
            .or(self.0.first());
        if let Some((_, sink)) = sink {
            sink.record(path, event).await;
        }
    }
}
