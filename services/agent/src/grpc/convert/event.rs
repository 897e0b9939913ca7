//! Events and results, domain <-> proto. The agent encodes; the
//! typed client decodes (an event it cannot read is a protocol error).

use obup_proto::pb::agent::v1 as pb;

use super::output::{output, output_from};
use crate::domain::{
    Accepted, Event, Level, LogLine, OpFailure, OpKey, OpResult, Outcome, Progress,
};

pub fn event(e: Event) -> pb::OpEvent {
    use pb::op_event::Kind;
    let kind = match e {
        Event::Accepted(a) => Kind::Accepted(pb::Accepted {
            op_id: a.key.op_id,
            attempt: a.key.attempt,
            attached: a.attached,
            runs: a.runs,
            accepted_at_ms: a.accepted_at_ms,
        }),
        Event::Log(l) => Kind::Log(pb::LogLine {
            seq: l.seq,
            ts_unix_ms: l.ts_ms,
            level: level(l.level) as i32,
            line: l.line,
        }),
        Event::Progress(p) => Kind::Progress(pb::Progress {
            phase: p.phase,
            done: p.done,
            total: p.total,
        }),
        Event::Result(r) => Kind::Result(result(r)),
    };
    pb::OpEvent { kind: Some(kind) }
}

fn level(l: Level) -> pb::LogLevel {
    match l {
        Level::Info => pb::LogLevel::Info,
        Level::Warn => pb::LogLevel::Warn,
        Level::Error => pb::LogLevel::Error,
    }
}

pub fn result(r: OpResult) -> pb::OpResult {
    use pb::op_result::Outcome as P;
    pb::OpResult {
        finished_at_ms: r.finished_at_ms,
        outcome: Some(match r.outcome {
            Outcome::Succeeded { output: o } => P::Output(pb::OpOutput {
                output: Some(output(o)),
            }),
            Outcome::Failed { failure } => P::Failure(pb::OpFailure {
                code: failure.code,
                message: failure.message,
            }),
        }),
    }
}

/// Why a proto event could not be read.
pub type Malformed = String;

pub(super) fn missing(what: &str) -> Malformed {
    format!("the agent sent an event without {what}")
}

pub fn event_from(e: pb::OpEvent) -> Result<Event, Malformed> {
    use pb::op_event::Kind;
    Ok(match e.kind.ok_or_else(|| missing("a kind"))? {
        Kind::Accepted(a) => Event::Accepted(Accepted {
            key: OpKey {
                op_id: a.op_id,
                attempt: a.attempt,
            },
            attached: a.attached,
            runs: a.runs,
            accepted_at_ms: a.accepted_at_ms,
        }),
        Kind::Log(l) => Event::Log(LogLine {
            seq: l.seq,
            ts_ms: l.ts_unix_ms,
            level: match pb::LogLevel::try_from(l.level) {
                Ok(pb::LogLevel::Warn) => Level::Warn,
                Ok(pb::LogLevel::Error) => Level::Error,
                Ok(pb::LogLevel::Info | pb::LogLevel::Unspecified) | Err(_) => Level::Info,
            },
            line: l.line,
        }),
        Kind::Progress(p) => Event::Progress(Progress {
            phase: p.phase,
            done: p.done,
            total: p.total,
        }),
        Kind::Result(r) => Event::Result(result_from(r)?),
    })
}

pub fn result_from(r: pb::OpResult) -> Result<OpResult, Malformed> {
    use pb::op_result::Outcome as P;
    let outcome = match r.outcome.ok_or_else(|| missing("an outcome"))? {
        P::Failure(f) => Outcome::Failed {
            failure: OpFailure {
                code: f.code,
                message: f.message,
            },
        },
        P::Output(o) => Outcome::Succeeded {
            output: output_from(o.output.ok_or_else(|| missing("an output"))?)?,
        },
    };
    Ok(OpResult {
        finished_at_ms: r.finished_at_ms,
        outcome,
    })
}
