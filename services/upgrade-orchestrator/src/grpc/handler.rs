//! `obup.orchestrator.v1.UpgradeOrchestrator` handlers.

use std::pin::Pin;

use futures::Stream;
use obup_proto::pb::orchestrator::v1 as pb;
use pb::upgrade_orchestrator_server::{UpgradeOrchestrator, UpgradeOrchestratorServer};
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use obup_kit::audit::AuditEvent;
use obup_kit::auth::Principal;

use super::{clusters, convert};
use crate::{Error, Orchestrator};

/// The tonic service for `orchestrator`.
pub fn server(orchestrator: Orchestrator) -> UpgradeOrchestratorServer<Handler> {
    UpgradeOrchestratorServer::new(Handler { orchestrator })
}

/// Translates gRPC calls to [`Orchestrator`] calls.
#[derive(Debug, Clone)]
pub struct Handler {
    orchestrator: Orchestrator,
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::DagEvent, Status>> + Send>>;

#[tonic::async_trait]
impl UpgradeOrchestrator for Handler {
    async fn plan_upgrade(
        &self,
        request: Request<pb::UpgradeRequest>,
    ) -> Result<Response<pb::Plan>, Status> {
        let plan = self.orchestrator.plan(&scoped_request(request)?).await?;
        Ok(Response::new(convert::plan(plan)))
    }

    async fn check_upgrade(
        &self,
        request: Request<pb::UpgradeRequest>,
    ) -> Result<Response<pb::Dag>, Status> {
        let event = AuditEvent::of(
            &request,
            "CheckUpgrade",
            cluster(&request.get_ref().cluster),
        );
        let result = async {
            let req = scoped_request(request)?;
            let dag = self.orchestrator.check(&req, Some(&event)).await?;
            Ok(Response::new(convert::dag(&dag, false)))
        }
        .await;
        self.orchestrator.audit().settle(event, result).await
    }

    async fn start_upgrade(
        &self,
        request: Request<pb::UpgradeRequest>,
    ) -> Result<Response<pb::Dag>, Status> {
        let event = AuditEvent::of(
            &request,
            "StartUpgrade",
            cluster(&request.get_ref().cluster),
        );
        let result = async {
            let req = scoped_request(request)?;
            let dag = self.orchestrator.start(&req, Some(&event)).await?;
            Ok(Response::new(convert::dag(&dag, false)))
        }
        .await;
        self.orchestrator.audit().settle(event, result).await
    }

    async fn get_dag(
        &self,
        request: Request<pb::GetDagRequest>,
    ) -> Result<Response<pb::Dag>, Status> {
        let caller = Principal::of(&request);
        let req = request.into_inner();
        let dag = self.orchestrator.get(req.id).await?;
        caller.cluster_for(&dag.cluster_id)?;
        Ok(Response::new(convert::dag(&dag, req.details)))
    }

    async fn list_dags(
        &self,
        request: Request<pb::ListDagsRequest>,
    ) -> Result<Response<pb::ListDagsResponse>, Status> {
        let caller = Principal::of(&request);
        let req = request.into_inner();
        let cluster = caller.cluster_for(&req.cluster)?;
        let dags = self
            .orchestrator
            .list(convert::filter(req.filter)?, &cluster)
            .await?;
        Ok(Response::new(pb::ListDagsResponse {
            dags: dags.iter().map(|d| convert::dag(d, false)).collect(),
        }))
    }

    async fn operate_dag(
        &self,
        request: Request<pb::OperateDagRequest>,
    ) -> Result<Response<pb::Dag>, Status> {
        let m = request.get_ref();
        let event = AuditEvent::of(
            &request,
            "OperateDag",
            format!("dag {} ({})", m.id, m.operator),
        );
        let result = async {
            let caller = Principal::of(&request);
            let req = request.into_inner();
            if caller.cluster.is_some() {
                let of = self.orchestrator.get(req.id).await?;
                caller.cluster_for(&of.cluster_id)?;
            }
            let dag = self
                .orchestrator
                .operate(req.id, &req.operator, Some(&event))
                .await?;
            Ok(Response::new(convert::dag(&dag, false)))
        }
        .await;
        self.orchestrator.audit().settle(event, result).await
    }

    async fn pass_node(
        &self,
        request: Request<pb::PassNodeRequest>,
    ) -> Result<Response<pb::Dag>, Status> {
        let node_id = request.get_ref().node_id;
        let event = AuditEvent::of(&request, "PassNode", format!("node {node_id}"));
        let result = async {
            let caller = Principal::of(&request);
            if caller.cluster.is_some() {
                let (of, _) = self.orchestrator.node(node_id).await?;
                caller.cluster_for(&of.cluster_id)?;
            }
            let dag = self.orchestrator.pass_node(node_id, Some(&event)).await?;
            Ok(Response::new(convert::dag(&dag, false)))
        }
        .await;
        self.orchestrator.audit().settle(event, result).await
    }

    async fn get_node(
        &self,
        request: Request<pb::GetNodeRequest>,
    ) -> Result<Response<pb::NodeInDag>, Status> {
        let caller = Principal::of(&request);
        let (dag, index) = self.orchestrator.node(request.into_inner().id).await?;
        caller.cluster_for(&dag.cluster_id)?;
        Ok(Response::new(pb::NodeInDag {
            dag_id: dag.id,
            node: Some(convert::node(&dag.nodes[index])),
        }))
    }

    async fn get_sub_task(
        &self,
        request: Request<pb::GetSubTaskRequest>,
    ) -> Result<Response<pb::SubTask>, Status> {
        let caller = Principal::of(&request);
        let (dag, task) = self.orchestrator.task(request.into_inner().id).await?;
        caller.cluster_for(&dag.cluster_id)?;
        Ok(Response::new(convert::sub_task(&task, dag.id)))
    }

    async fn get_sub_task_logs(
        &self,
        request: Request<pb::GetSubTaskRequest>,
    ) -> Result<Response<pb::SubTaskLogs>, Status> {
        let caller = Principal::of(&request);
        let id = request.into_inner().id;
        if caller.cluster.is_some() {
            let (dag, _) = self.orchestrator.task(id).await?;
            caller.cluster_for(&dag.cluster_id)?;
        }
        let logs = self.orchestrator.logs(id).await?;
        Ok(Response::new(convert::logs(logs)))
    }

    type WatchDagStream = EventStream;

    async fn watch_dag(
        &self,
        request: Request<pb::WatchDagRequest>,
    ) -> Result<Response<Self::WatchDagStream>, Status> {
        let caller = Principal::of(&request);
        let req = request.into_inner();
        if caller.cluster.is_some() {
            let dag = self.orchestrator.get(req.dag_id).await?;
            caller.cluster_for(&dag.cluster_id)?;
        }
        let mut items = self
            .orchestrator
            .watch(req.dag_id, req.after_seq, req.follow)
            .await?;
        // The watch runs in its own task; this one converts and notices a
        // client that went away (the send fails and both end).
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            while let Some(item) = items.recv().await {
                let message = item.map(|i| convert::watch_item(&i)).map_err(Status::from);
                if tx.send(message).await.is_err() {
                    break;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    type WatchDagsStream = EventStream;

    async fn watch_dags(
        &self,
        request: Request<pb::WatchDagsRequest>,
    ) -> Result<Response<Self::WatchDagsStream>, Status> {
        Principal::of(&request).require_all_clusters("watching every DAG")?;
        let mut live = self.orchestrator.watch_all();
        let (tx, rx) = mpsc::channel(256);
        tokio::spawn(async move {
            loop {
                let message = match live.recv().await {
                    Ok(e) => Ok(convert::event(&e)),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        Err(Status::from(Error::Internal(format!(
                            "this watcher fell {n} events behind; watch single DAGs with after_seq to resume without gaps"
                        ))))
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                };
                let stop = message.is_err();
                if tx.send(message).await.is_err() || stop {
                    break;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn register_cluster(
        &self,
        request: Request<pb::RegisterClusterRequest>,
    ) -> Result<Response<pb::Cluster>, Status> {
        // Never the password: the target is the name alone.
        let event = AuditEvent::of(
            &request,
            "RegisterCluster",
            cluster(&request.get_ref().name),
        );
        let result = async {
            let caller = Principal::of(&request);
            let (registration, replace) = clusters::registration(request.into_inner())?;
            caller.cluster_for(&registration.name)?;
            let (record, view) = self
                .orchestrator
                .clusters()
                .register(registration, replace, now_ms(), Some(&event))
                .await?;
            Ok(Response::new(clusters::cluster(&record, Some(Ok(view)))))
        }
        .await;
        self.orchestrator.audit().settle(event, result).await
    }

    async fn list_clusters(
        &self,
        request: Request<pb::ListClustersRequest>,
    ) -> Result<Response<pb::ListClustersResponse>, Status> {
        let caller = Principal::of(&request);
        let all = self.orchestrator.clusters().list().await?;
        Ok(Response::new(pb::ListClustersResponse {
            clusters: all
                .iter()
                .filter(|r| caller.cluster.as_ref().is_none_or(|own| *own == r.name))
                .map(|r| clusters::cluster(r, None))
                .collect(),
        }))
    }

    async fn get_cluster(
        &self,
        request: Request<pb::GetClusterRequest>,
    ) -> Result<Response<pb::Cluster>, Status> {
        let caller = Principal::of(&request);
        let name = caller.cluster_for(&request.into_inner().name)?;
        let cluster = self.orchestrator.clusters().get(&name).await?;
        // An unreachable cluster is still shown, with why it is unreachable.
        let view = cluster.driver.view().await;
        Ok(Response::new(clusters::cluster(
            &cluster.record,
            Some(view),
        )))
    }

    async fn remove_cluster(
        &self,
        request: Request<pb::RemoveClusterRequest>,
    ) -> Result<Response<pb::RemoveClusterResponse>, Status> {
        let event = AuditEvent::of(&request, "RemoveCluster", cluster(&request.get_ref().name));
        let result = async {
            let caller = Principal::of(&request);
            let name = request.into_inner().name;
            caller.cluster_for(&name)?;
            self.orchestrator
                .clusters()
                .remove(&name, now_ms(), Some(&event))
                .await?;
            Ok(Response::new(pb::RemoveClusterResponse {}))
        }
        .await;
        self.orchestrator.audit().settle(event, result).await
    }
}

/// The request, its cluster filled in (or refused) for a caller limited
/// to one cluster.
fn scoped_request(
    request: Request<pb::UpgradeRequest>,
) -> Result<crate::plan::UpgradeRequest, Status> {
    let caller = Principal::of(&request);
    let mut req = convert::request(request.into_inner())?;
    req.cluster = caller.cluster_for(&req.cluster)?;
    Ok(req)
}

/// An audit target naming a cluster (a request may name none: the only
/// one registered is meant).
fn cluster(name: &str) -> String {
    if name.is_empty() {
        "cluster (the only one)".to_owned()
    } else {
        format!("cluster {name}")
    }
}

pub(super) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
