//! `obup dag show|watch|ls|retry|rollback|cancel|pass`.

use obup_proto::pb::orchestrator::v1 as pb;

use crate::client::{self, describe};

pub async fn show(server: &str, id: i64, json: bool) -> anyhow::Result<()> {
    let dag = client::orchestrator(server)
        .await?
        .get_dag(pb::GetDagRequest { id, details: true })
        .await
        .map_err(describe)?
        .into_inner();
    if json {
        println!("{}", serde_json::to_string_pretty(&dag_json(&dag))?);
        return Ok(());
    }
    println!("DAG {}: {}", dag.id, dag.name);
    println!(
        "  {} ({}), stage {}/{}, finished: {}",
        dag.state, dag.operator, dag.stage, dag.max_stage, dag.finished
    );
    for n in &dag.nodes {
        println!(
            "  {:>2}. {:<46} {:<8} {}",
            n.stage, n.name, n.state, n.operator
        );
        for t in &n.sub_tasks {
            let on = if t.agent.is_empty() {
                "coordinator"
            } else {
                t.agent.as_str()
            };
            println!(
                "        sub-task {:<6} {:<20} {:<8} runs {}",
                t.id, on, t.state, t.execute_times
            );
        }
    }
    Ok(())
}

pub async fn list(
    server: &str,
    filter: pb::DagFilter,
    cluster: &str,
    json: bool,
) -> anyhow::Result<()> {
    let dags = client::orchestrator(server)
        .await?
        .list_dags(pb::ListDagsRequest {
            filter: filter as i32,
            cluster: cluster.to_owned(),
        })
        .await
        .map_err(describe)?
        .into_inner()
        .dags;
    if json {
        let out: Vec<_> = dags.iter().map(dag_json).collect();
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    if dags.is_empty() {
        println!("no DAGs");
    }
    for d in dags {
        println!(
            "{:>4}  {:<8} {:<9} {:>2}/{:<2}  {}",
            d.id, d.state, d.operator, d.stage, d.max_stage, d.name
        );
    }
    Ok(())
}

/// RETRY, ROLLBACK, CANCEL or PASS.
pub async fn operate(server: &str, id: i64, operator: &str) -> anyhow::Result<()> {
    let dag = client::orchestrator(server)
        .await?
        .operate_dag(pb::OperateDagRequest {
            id,
            operator: operator.into(),
        })
        .await
        .map_err(describe)?
        .into_inner();
    println!(
        "DAG {}: {} ({}), stage {}/{}",
        dag.id, dag.state, dag.operator, dag.stage, dag.max_stage
    );
    Ok(())
}

fn dag_json(d: &pb::Dag) -> serde_json::Value {
    serde_json::json!({
        "id": d.id,
        "name": d.name,
        "state": d.state,
        "operator": d.operator,
        "stage": d.stage,
        "max_stage": d.max_stage,
        "finished": d.finished,
        "maintenance": d.maintenance,
        "nodes": d.nodes.iter().map(|n| serde_json::json!({
            "id": n.id,
            "name": n.name,
            "state": n.state,
            "operator": n.operator,
            "sub_tasks": n.sub_tasks.iter().map(|t| serde_json::json!({
                "id": t.id, "agent": t.agent, "state": t.state, "execute_times": t.execute_times,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}
