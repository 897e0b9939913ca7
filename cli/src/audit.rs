//! `obup audit`: the audit trails of the orchestrator and the package
//! store, merged by time.

use std::collections::HashSet;
use std::time::Duration;

use obup_proto::pb::audit::v1 as pb;

use crate::client::{self, describe};

/// The journals a server may keep (`obup dev` keeps both; a service on its
/// own, its own).
const JOURNALS: [&str; 2] = ["orchestrator", "package-store"];
/// How often `--follow` asks for new events.
const POLL: Duration = Duration::from_secs(1);
/// How far behind its cursor `--follow` reads again: on PostgreSQL an
/// event can commit after one with a higher id (see
/// `obup_kit::audit::AuditStore::list`); ids already printed are skipped.
const LOOKBACK: i64 = 50;
/// Events per request while following.
const PAGE: u32 = 1000;

#[derive(Debug, Clone, clap::Args)]
pub struct AuditArgs {
    /// Keep printing new events as they are recorded (the server is asked
    /// once a second).
    #[arg(long, short)]
    pub follow: bool,
    /// How many of the latest events to print first.
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// One JSON object per line (so that `--follow` can stream them).
    #[arg(long)]
    pub json: bool,
}

/// A journal this server keeps, and where its reader stands.
#[derive(Debug)]
struct Cursor {
    journal: &'static str,
    last: i64,
    seen: HashSet<i64>,
}

pub async fn run(server: &str, args: &AuditArgs) -> anyhow::Result<()> {
    let mut client = client::audit(server).await?;
    let mut cursors = Vec::new();
    let mut first = Vec::new();
    for journal in JOURNALS {
        let asked = client
            .list_audit_events(pb::ListAuditEventsRequest {
                journal: journal.to_owned(),
                limit: args.limit,
                tail: true,
                ..Default::default()
            })
            .await;
        let events = match asked {
            Ok(r) => r.into_inner().events,
            Err(s)
                if obup_kit::status::error_code(&s).as_deref()
                    == Some("Audit.Journal.NotFound") =>
            {
                continue;
            }
            Err(s) => return Err(describe(s)),
        };
        cursors.push(Cursor {
            journal,
            last: events.last().map_or(0, |e| e.id),
            seen: events.iter().map(|e| e.id).collect(),
        });
        first.extend(events);
    }
    anyhow::ensure!(!cursors.is_empty(), "{server} keeps no audit journal");
    sort(&mut first);
    let skip = first.len().saturating_sub(args.limit as usize);
    print(&first[skip..], args.json);
    if !args.follow {
        return Ok(());
    }
    // On stderr, so that `--json` output stays one object per line; a
    // script may wait for it before doing what it wants to see recorded.
    eprintln!("following new events from here (Ctrl-C stops)");
    // Until the user stops it (Ctrl-C) or the server fails a call.
    loop {
        tokio::time::sleep(POLL).await;
        let mut new = Vec::new();
        for c in &mut cursors {
            loop {
                let page = client
                    .list_audit_events(pb::ListAuditEventsRequest {
                        journal: c.journal.to_owned(),
                        after_id: (c.last - LOOKBACK).max(0),
                        limit: PAGE,
                        tail: false,
                    })
                    .await
                    .map_err(describe)?
                    .into_inner()
                    .events;
                let full = page.len() == PAGE as usize;
                let before = c.last;
                for e in page {
                    c.last = c.last.max(e.id);
                    if c.seen.insert(e.id) {
                        new.push(e);
                    }
                }
                if !full || c.last == before {
                    break;
                }
            }
        }
        sort(&mut new);
        print(&new, args.json);
    }
}

/// By time, then journal and id (events of one journal keep their order).
fn sort(events: &mut [pb::AuditEvent]) {
    events.sort_by(|a, b| (a.at_ms, &a.journal, a.id).cmp(&(b.at_ms, &b.journal, b.id)));
}

fn print(events: &[pb::AuditEvent], as_json: bool) {
    for e in events {
        if as_json {
            println!("{}", json(e));
        } else {
            println!("{}", line(e));
        }
    }
}

/// Time, actor (role, credential), method, target, result, source, trace id,
/// and whom the gateway acted for.
fn line(e: &pb::AuditEvent) -> String {
    let time = chrono::DateTime::from_timestamp_millis(e.at_ms).map_or_else(
        || e.at_ms.to_string(),
        |t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
    );
    let role = if e.role.is_empty() { "-" } else { &e.role };
    let dash = |s: &str| {
        if s.is_empty() {
            "-".to_owned()
        } else {
            s.to_owned()
        }
    };
    let mut out = format!(
        "{time}  {:<13} {} ({role}, {})  {}  {}  {}  from {}  trace {}",
        e.journal,
        e.actor,
        e.credential,
        e.method,
        dash(&e.target),
        e.result,
        dash(&e.source),
        dash(&e.trace_id),
    );
    if !e.on_behalf_of.is_empty() {
        out.push_str(&format!("  for {}", e.on_behalf_of));
    }
    out
}

fn json(e: &pb::AuditEvent) -> serde_json::Value {
    serde_json::json!({
        "journal": e.journal,
        "id": e.id,
        "at_ms": e.at_ms,
        "actor": e.actor,
        "credential": e.credential,
        "role": e.role,
        "method": e.method,
        "target": e.target,
        "result": e.result,
        "trace_id": e.trace_id,
        "source": e.source,
        "on_behalf_of": e.on_behalf_of,
    })
}
