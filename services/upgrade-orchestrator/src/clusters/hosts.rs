//! The agents of one cluster, as the orchestrator drives them: a client per
//! agent, what each host is (`Facts`), and one operation run to its result.
//!
//! An operation is keyed by `(op_id, attempt)`; the agent runs it once per
//! key. So `run` simply calls `Run` again whenever it loses the agent (a
//! network blip, the agent restarting, this orchestrator taking the
//! sub-task over from another): it re-attaches, replays the log lines it
//! has not seen, and gets the one result. It gives up only at the
//! sub-task's deadline.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use obup_agent::AgentClient;
use obup_agent::client::ClientError;
use obup_agent::domain::{Event, HostFacts, OpKey, OpOutput, Outcome, RunSpec, Secret, Work};
use tokio_stream::StreamExt;
use tonic::transport::ClientTlsConfig;

use crate::tasks::TaskIo;
use crate::{Error, Result};

/// Longest pause between attempts to reach a lost agent.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// How long a host's facts are reused. Gathering them runs `observer -V`
/// and every Python on the host; sub-tasks ask for them constantly (a
/// host's directories, which agent runs which server) and they change
/// rarely. Request-time checks ask for fresh ones.
const FACTS_TTL: Duration = Duration::from_secs(30);

/// The oldest report [`FACTS_TTL`] still accepts.
fn ttl_start() -> std::time::Instant {
    let now = std::time::Instant::now();
    now.checked_sub(FACTS_TTL).unwrap_or(now)
}

/// The agents of one cluster.
#[derive(Debug)]
pub struct Hosts {
    agents: Vec<String>,
    tls: Option<ClientTlsConfig>,
    clients: Mutex<HashMap<String, AgentClient>>,
    facts: Mutex<HashMap<String, (std::time::Instant, HostFacts)>>,
}

/// One operation to run on one agent.
#[derive(Debug)]
pub struct Op<'a> {
    pub agent: &'a str,
    pub key: OpKey,
    pub work: Work,
    pub password: Secret,
    /// Unix ms at which the agent stops the work (the sub-task's deadline).
    pub deadline_ms: i64,
}

impl Hosts {
    pub fn new(agents: Vec<String>, tls: Option<ClientTlsConfig>) -> Self {
        Self {
            agents,
            tls,
            clients: Mutex::default(),
            facts: Mutex::default(),
        }
    }

    pub fn agents(&self) -> &[String] {
        &self.agents
    }

    fn url(&self, agent: &str) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{agent}")
    }

    async fn client(&self, agent: &str) -> std::result::Result<AgentClient, ClientError> {
        if let Some(c) = self.clients.lock().expect("never poisoned").get(agent) {
            return Ok(c.clone());
        }
        let client = AgentClient::connect(&self.url(agent), self.tls.clone()).await?;
        self.clients
            .lock()
            .expect("never poisoned")
            .insert(agent.to_owned(), client.clone());
        Ok(client)
    }

    /// Drops a connection that failed, so the next call dials again.
    fn drop_client(&self, agent: &str) {
        self.clients.lock().expect("never poisoned").remove(agent);
    }

    /// What the host of `agent` is, as reported at most [`FACTS_TTL`] ago.
    pub async fn facts(&self, agent: &str) -> Result<HostFacts> {
        self.facts_since(agent, ttl_start()).await
    }

    /// What the host of `agent` is, as reported at or after `since`.
    pub async fn facts_since(&self, agent: &str, since: std::time::Instant) -> Result<HostFacts> {
        match self.recorded_since(agent, since) {
            Some(f) => Ok(f),
            None => self.fresh_facts(agent).await,
        }
    }

    /// The last report of `agent`'s host, if it came at or after `since`.
    fn recorded_since(&self, agent: &str, since: std::time::Instant) -> Option<HostFacts> {
        self.facts
            .lock()
            .expect("never poisoned")
            .get(agent)
            .filter(|(at, _)| *at >= since)
            .map(|(_, f)| f.clone())
    }

    /// What the host of `agent` is, asked now.
    pub async fn fresh_facts(&self, agent: &str) -> Result<HostFacts> {
        self.ask_facts(agent)
            .await
            .map_err(|e| unavailable(agent, &e))
    }

    /// What the host of `agent` is, for a sub-task: like [`Self::facts`],
    /// but an agent that cannot be reached (restarting with `obup dev`, a
    /// network blip) is waited for until the sub-task's deadline, as
    /// [`Self::run`] waits for it.
    pub async fn facts_until(
        &self,
        agent: &str,
        deadline_ms: i64,
        log: &dyn TaskIo,
    ) -> Result<HostFacts> {
        if let Some(f) = self.recorded_since(agent, ttl_start()) {
            return Ok(f);
        }
        let mut pause = Duration::from_millis(100);
        let mut logged = false;
        loop {
            match self.ask_facts(agent).await {
                Ok(f) => return Ok(f),
                Err(e) if transient(&e) && now_ms() < deadline_ms => {
                    if !logged {
                        log.line(format!(
                            "agent {agent} cannot be reached ({e}); waiting for it"
                        ))
                        .await;
                        logged = true;
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(MAX_BACKOFF);
                }
                Err(e) => return Err(unavailable(agent, &e)),
            }
        }
    }

    /// Asks the agent for its host's facts and caches them.
    async fn ask_facts(&self, agent: &str) -> std::result::Result<HostFacts, ClientError> {
        let mut client = self.client(agent).await?;
        let facts = client
            .facts()
            .await
            .inspect_err(|_| self.drop_client(agent))?;
        self.facts
            .lock()
            .expect("never poisoned")
            .insert(agent.to_owned(), (std::time::Instant::now(), facts.clone()));
        Ok(facts)
    }

    /// Runs `op` to its result, streaming its log lines to `log` (prefixed
    /// with the agent), re-attaching until the deadline whenever the agent
    /// cannot be reached. A failure of the operation is an
    /// [`Error::HostOp`] with the agent's stable code.
    /// `resumed`: this execution carries on one that was interrupted (the
    /// operation may have run on the agent before).
    pub async fn run(&self, op: Op<'_>, resumed: bool, log: &dyn TaskIo) -> Result<OpOutput> {
        let mut after = 0;
        // The agent takes `continue` on an operation it does not hold as
        // "it ran here before and its record is gone": work that cannot
        // continue (the pre script) then fails instead of running twice. So
        // it is set only when the operation may have run: a resumed
        // execution, or a re-attach after losing the agent.
        let mut continue_ = resumed;
        let mut pause = Duration::from_millis(100);
        let mut lost_since: Option<String> = None;
        loop {
            let spec = RunSpec {
                key: op.key.clone(),
                continue_,
                deadline_ms: Some(op.deadline_ms),
                after_log_seq: after,
                work: op.work.clone(),
                password: op.password.clone(),
            };
            match self.follow(op.agent, &spec, &mut after, log).await {
                Ok(Outcome::Succeeded { output }) => return Ok(output),
                Ok(Outcome::Failed { failure }) => {
                    return Err(Error::HostOp {
                        agent: op.agent.to_owned(),
                        code: failure.code.as_str().to_owned(),
                        message: failure.message,
                    });
                }
                Err(e) if transient(&e) => {
                    self.drop_client(op.agent);
                    continue_ = true;
                    if lost_since.is_none() {
                        log.line(format!(
                            "lost agent {} ({e}); re-attaching to {}",
                            op.agent, op.key
                        ))
                        .await;
                    }
                    lost_since = Some(e.to_string());
                    if now_ms() >= op.deadline_ms {
                        return Err(unavailable(op.agent, &e));
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(MAX_BACKOFF);
                }
                Err(e) => return Err(refused(op.agent, &e)),
            }
        }
    }

    /// One `Run` call: its events until the result.
    async fn follow(
        &self,
        agent: &str,
        spec: &RunSpec,
        after: &mut u64,
        log: &dyn TaskIo,
    ) -> std::result::Result<Outcome, ClientError> {
        let mut client = self.client(agent).await?;
        let mut events = client.run(spec).await?;
        while let Some(event) = events.next().await {
            match event? {
                Event::Accepted(a) => {
                    if a.attached {
                        log.line(format!(
                            "[{agent}] attached to {} (started {} time(s))",
                            a.key, a.runs
                        ))
                        .await;
                    }
                }
                Event::Log(l) => {
                    *after = l.seq;
                    log.line(format!("[{agent}] {}", l.line)).await;
                }
                Event::Progress(_) => {}
                Event::Result(r) => return Ok(r.outcome),
            }
        }
        Err(ClientError::Ended)
    }

    /// Asks the agent to stop an operation (a CANCEL of its sub-task).
    pub async fn cancel(&self, agent: &str, key: &OpKey) {
        match self.client(agent).await {
            Ok(mut c) => {
                if let Err(e) = c.cancel(key).await {
                    tracing::warn!(%agent, op = %key, error = %e, "cancelling an agent operation failed");
                }
            }
            Err(e) => {
                tracing::warn!(%agent, op = %key, error = %e, "cannot reach the agent to cancel")
            }
        }
    }

    /// Tells the agent the result is recorded: it may drop the operation.
    pub async fn forget(&self, agent: &str, key: &OpKey) {
        if let Ok(mut c) = self.client(agent).await
            && let Err(e) = c.forget(key).await
        {
            tracing::debug!(%agent, op = %key, error = %e, "forgetting an agent operation failed");
        }
    }
}

/// Whether calling again may help: the agent is unreachable or restarting,
/// or the stream broke. A refusal with a stable code (stale attempt,
/// invalid path) is final.
fn transient(e: &ClientError) -> bool {
    match e {
        ClientError::Connect { .. } | ClientError::Ended => true,
        ClientError::Status(s) => matches!(
            s.code(),
            tonic::Code::Unavailable
                | tonic::Code::Unknown
                | tonic::Code::Cancelled
                | tonic::Code::DeadlineExceeded
                | tonic::Code::Aborted
        ),
        ClientError::Malformed(_) => false,
    }
}

fn unavailable(agent: &str, e: &ClientError) -> Error {
    Error::Precheck {
        code: "Agent.Unavailable",
        message: format!("Agent {agent} is not available: {e}"),
    }
}

fn refused(agent: &str, e: &ClientError) -> Error {
    Error::HostOp {
        agent: agent.to_owned(),
        code: e.error_code().unwrap_or_else(|| "Common.Unexpected".into()),
        message: e.to_string(),
    }
}

fn now_ms() -> i64 {
    obup_agent::domain::now_ms()
}
