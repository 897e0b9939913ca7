//! The live view of a DAG, fed by WatchDag.
//!
//! On a terminal the stages, their sub-tasks (for the running stage), states,
//! elapsed times and the latest log line are redrawn in place; otherwise
//! every change is printed as a plain line. A dropped connection is resumed
//! with the last sequence number seen, so nothing is missed or repeated.
//! The result is an error unless the DAG succeeded.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use obup_proto::pb::orchestrator::v1 as pb;
use pb::dag_event::Kind;

use crate::client;

/// Reconnection attempts before giving up on a server that went away.
const RECONNECTS: u32 = 30;
const RECONNECT_DELAY: Duration = Duration::from_millis(500);
/// Most redraws per second on a terminal.
const REDRAW_EVERY: Duration = Duration::from_millis(50);

pub async fn watch(server: &str, dag_id: i64) -> anyhow::Result<()> {
    let tty = std::io::stdout().is_terminal();
    let mut view = View::default();
    let mut after = 0;
    let mut failures = 0;
    let mut screen = Screen::default();
    loop {
        let attempt = async {
            let mut c = client::orchestrator(server).await?;
            let stream = c
                .watch_dag(pb::WatchDagRequest {
                    dag_id,
                    after_seq: after,
                    follow: false,
                })
                .await
                .map_err(client::describe)?;
            anyhow::Ok(stream.into_inner())
        };
        let mut stream = match attempt.await {
            Ok(s) => s,
            Err(e) if failures < RECONNECTS && view.started() => {
                failures += 1;
                eprintln!("connection lost ({e:#}); reconnecting");
                tokio::time::sleep(RECONNECT_DELAY).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        loop {
            match stream.message().await {
                Ok(Some(event)) => {
                    failures = 0;
                    after = event.seq;
                    let line = view.apply(&event);
                    if tty {
                        screen.draw(&view, false);
                    } else if let Some(line) = line {
                        println!("{line}");
                    }
                }
                Ok(None) => break,
                Err(status) => {
                    eprintln!("stream interrupted: {}", status.message());
                    break;
                }
            }
        }
        if view.is_over() {
            if tty {
                screen.draw(&view, true);
            }
            return match view.state.as_str() {
                "SUCCEED" => {
                    println!("DAG {dag_id} {} ({})", view.state, view.operator);
                    Ok(())
                }
                state => anyhow::bail!(
                    "DAG {dag_id} ended {state} at stage {} ({})",
                    view.stage,
                    view.failed_stage_name()
                ),
            };
        }
        failures += 1;
        if failures > RECONNECTS {
            anyhow::bail!("lost the connection to {server}");
        }
        tokio::time::sleep(RECONNECT_DELAY).await;
    }
}

#[derive(Debug, Default)]
struct View {
    name: String,
    state: String,
    operator: String,
    stage: i32,
    max_stage: i32,
    nodes: Vec<NodeView>,
    started_at: Option<Instant>,
}

#[derive(Debug, Clone)]
struct NodeView {
    id: i64,
    name: String,
    state: String,
    since: Option<Instant>,
    took: Option<Duration>,
    tasks: Vec<TaskView>,
    last_log: String,
}

#[derive(Debug, Clone)]
struct TaskView {
    id: i64,
    agent: String,
    state: String,
    executions: i32,
}

impl View {
    fn started(&self) -> bool {
        !self.name.is_empty()
    }

    fn is_over(&self) -> bool {
        matches!(self.state.as_str(), "SUCCEED" | "FAILED")
    }

    fn failed_stage_name(&self) -> &str {
        self.nodes
            .get((self.stage - 1).max(0) as usize)
            .map_or("", |n| n.name.as_str())
    }

    /// Applies an event; returns its plain-text line.
    fn apply(&mut self, e: &pb::DagEvent) -> Option<String> {
        let now = Instant::now();
        match e.kind.as_ref()? {
            Kind::Snapshot(d) => {
                self.name = d.name.clone();
                self.state = d.state.clone();
                self.operator = d.operator.clone();
                self.stage = d.stage;
                self.max_stage = d.max_stage;
                self.started_at = Some(now);
                self.nodes = d
                    .nodes
                    .iter()
                    .map(|n| NodeView {
                        id: n.id,
                        name: n.name.clone(),
                        state: n.state.clone(),
                        since: (n.state == "RUNNING").then_some(now),
                        took: (n.end_time_ms > 0 && n.start_time_ms > 0).then(|| {
                            Duration::from_millis((n.end_time_ms - n.start_time_ms).max(0) as u64)
                        }),
                        tasks: n
                            .sub_tasks
                            .iter()
                            .map(|t| TaskView {
                                id: t.id,
                                agent: t.agent.clone(),
                                state: t.state.clone(),
                                executions: t.execute_times,
                            })
                            .collect(),
                        last_log: String::new(),
                    })
                    .collect();
                Some(format!(
                    "[{}] {} {} stage {}/{}",
                    e.seq, d.name, d.state, d.stage, d.max_stage
                ))
            }
            Kind::Dag(d) => {
                self.state = d.state.clone();
                self.operator = d.operator.clone();
                self.stage = d.stage;
                Some(format!(
                    "[{}] DAG {} ({}) stage {}/{}",
                    e.seq, d.state, d.operator, d.stage, self.max_stage
                ))
            }
            Kind::Node(n) => {
                if let Some(node) = self.nodes.iter_mut().find(|x| x.id == n.node_id) {
                    if n.state == "RUNNING" {
                        node.since = Some(now);
                        node.took = None;
                    } else if matches!(n.state.as_str(), "SUCCEED" | "FAILED") {
                        node.took = node.since.map(|s| now - s);
                    }
                    node.state = n.state.clone();
                }
                Some(format!(
                    "[{}] {} {} ({})",
                    e.seq, n.name, n.state, n.operator
                ))
            }
            Kind::SubTask(t) => {
                if let Some(task) = self
                    .nodes
                    .iter_mut()
                    .flat_map(|n| n.tasks.iter_mut())
                    .find(|x| x.id == t.sub_task_id)
                {
                    task.state = t.state.clone();
                    task.executions = t.execute_times;
                }
                let on = if t.agent.is_empty() {
                    String::new()
                } else {
                    format!(" on {}", t.agent)
                };
                Some(format!(
                    "[{}]   {}{on}: {} ({})",
                    e.seq, t.name, t.state, t.operator
                ))
            }
            Kind::Log(l) => {
                if let Some(node) = self
                    .nodes
                    .iter_mut()
                    .find(|n| n.tasks.iter().any(|t| t.id == l.sub_task_id))
                {
                    node.last_log = l.content.clone();
                }
                Some(format!("[{}]     {}", e.seq, l.content))
            }
        }
    }
}

/// What was drawn last, to redraw over it.
#[derive(Debug, Default)]
struct Screen {
    lines: usize,
    last: Option<Instant>,
}

impl Screen {
    fn draw(&mut self, view: &View, force: bool) {
        if !force && self.last.is_some_and(|t| t.elapsed() < REDRAW_EVERY) {
            return;
        }
        self.last = Some(Instant::now());
        let mut out = String::new();
        if self.lines > 0 {
            // Back to the top of the previous frame, and clear it.
            out.push_str(&format!("\x1b[{}A\x1b[J", self.lines));
        }
        let elapsed = view.started_at.map_or(0.0, |s| s.elapsed().as_secs_f64());
        let mut lines = vec![format!(
            "{}  {} ({})  stage {}/{}  {elapsed:.1}s",
            view.name, view.state, view.operator, view.stage, view.max_stage
        )];
        for (i, n) in view.nodes.iter().enumerate() {
            let mark = match n.state.as_str() {
                "SUCCEED" => "ok",
                "FAILED" => "!!",
                "RUNNING" => "..",
                _ => "  ",
            };
            let time = match (n.took, n.since) {
                (Some(t), _) => format!("{:.1}s", t.as_secs_f64()),
                (None, Some(s)) if n.state == "RUNNING" => {
                    format!("{:.1}s", s.elapsed().as_secs_f64())
                }
                _ => String::new(),
            };
            let mut line = format!("[{mark}] {:>2} {:<46} {:>7}", i + 1, n.name, time);
            if matches!(n.state.as_str(), "RUNNING" | "FAILED") && !n.last_log.is_empty() {
                line.push_str(&format!("  {}", truncate(&n.last_log, 60)));
            }
            lines.push(line);
            if n.state == "RUNNING" && n.tasks.len() > 1 {
                for t in &n.tasks {
                    lines.push(format!(
                        "           {:<20} {} (run {})",
                        t.agent, t.state, t.executions
                    ));
                }
            }
        }
        for l in &lines {
            out.push_str(l);
            out.push('\n');
        }
        self.lines = lines.len();
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(out.as_bytes());
        let _ = stdout.flush();
    }
}

fn truncate(s: &str, n: usize) -> String {
    let line = s.lines().next().unwrap_or_default();
    if line.chars().count() <= n {
        line.to_owned()
    } else {
        format!("{}...", line.chars().take(n).collect::<String>())
    }
}
