//! The SQL side of a real upgrade: what obshell does on the sys tenant
//! (real-driver.md §1.2-§1.4, §5.1), done over sqlx MySQL with the text
//! protocol only.
//!
//! Every statement comes from `obup-ob-sql` (the only place SQL text is
//! built); rows are decoded there from text; waits are pure predicates in
//! `waits` plus one poll loop that logs each round to the sub-task.
//!
//! # Layout
//! - `conn`: pools per endpoint, bare connect options, endpoint rotation.
//! - `waits`: predicates and the poll loop.
//! - `precheck`: obshell's request-time checks with its error codes.

mod conn;
mod precheck;
pub mod waits;

use std::collections::HashMap;
use std::time::Duration;

use obup_ob_sql::statements::{self as st, SvrAddr};
use obup_ob_sql::{Ident, ParamRow, Row, ServerRow, ServerStatus, ZoneRow, ZoneStatus};
use obup_types::Edition;

pub use conn::{Endpoint, Login};
pub use waits::{BeforeRestart, WaitPolicy};

use crate::domain::output::{ParameterScope, SavedParameter};
use crate::domain::template::FreezeScope;
use crate::tasks::TaskIo;
use crate::{Error, Result};
use conn::Connections;

/// The parameters "Backup parameters" saves and "Restore parameters" puts
/// back (obshell's `upgrade_param_backup.go`).
pub const SAVED_PARAMETERS: [&str; 3] = [
    "server_permanent_offline_time",
    "enable_rebalance",
    "enable_rereplication",
];

/// Timing of a driver. Defaults follow obshell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriverConfig {
    /// `ob_query_timeout` of every connection (obshell: 60 s).
    pub query_timeout: Duration,
    /// How long to wait for a connection to an endpoint.
    pub connect_timeout: Duration,
    /// STOP/START ZONE until INACTIVE/ACTIVE (obshell: 5 s x 60).
    pub zone_wait: WaitPolicy,
    /// A restarted observer back in service (obshell: 5 s x 60).
    pub restart_wait: WaitPolicy,
    /// A minor freeze's checkpoints (obshell: 10 s x 120).
    pub freeze_wait: WaitPolicy,
}

/// How often a wait asks by default. obshell asks every 5 s (10 s for
/// freezes): a zone that turns ACTIVE just after a poll costs it up to
/// 5 s, three or four times per zone. One `count(*)` on a virtual table
/// every 200 ms from one orchestrator is nothing to a sys tenant, and the
/// upgrade then follows the cluster within 200 ms (scripts/bench's
/// reaction figure).
pub const POLL_MS: u64 = 200;

impl Default for DriverConfig {
    /// obshell's time limits (zones 300 s, restart 300 s, freeze 1200 s),
    /// asked every [`POLL_MS`].
    fn default() -> Self {
        Self {
            query_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(5),
            zone_wait: WaitPolicy::within(POLL_MS, 300),
            restart_wait: WaitPolicy::within(POLL_MS, 300),
            freeze_wait: WaitPolicy::within(POLL_MS, 1200),
        }
    }
}

impl DriverConfig {
    /// Waits that poll every `interval_ms` within obshell's time limits,
    /// for tests and demos against a simulator that answers in
    /// milliseconds.
    pub fn polling_every(interval_ms: u64) -> Self {
        Self {
            zone_wait: WaitPolicy::within(interval_ms, 300),
            restart_wait: WaitPolicy::within(interval_ms, 300),
            freeze_wait: WaitPolicy::within(interval_ms, 1200),
            ..Self::default()
        }
    }
}

/// What the sys tenant says the cluster looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterView {
    pub edition: Edition,
    /// In the order `DBA_OB_ZONES` lists them: obshell's DAG visits zones
    /// in that order.
    pub zones: Vec<ZoneRow>,
    pub servers: Vec<ServerRow>,
}

impl ClusterView {
    /// The build the cluster runs: its oldest server's (`<version>-<build>`).
    pub fn build_version(&self) -> Option<String> {
        self.servers
            .iter()
            .filter_map(ServerRow::version_build)
            .min_by(|a, b| obup_types::compare_versions(a, b))
    }
}

/// The driver of one cluster.
#[derive(Debug)]
pub struct Driver {
    conns: Connections,
    config: DriverConfig,
}

fn ident(what: &'static str, value: &str) -> Result<Ident> {
    Ident::parse(what, value).map_err(|e| Error::InvalidArgument {
        field: what,
        reason: e.to_string(),
    })
}

fn svr(ip: &str, port: u16) -> Result<SvrAddr> {
    let ip = obup_ob_sql::ident::ip(ip).map_err(|e| Error::Internal(e.to_string()))?;
    Ok(SvrAddr { ip, port })
}

impl Driver {
    /// A driver that connects on first use to `seeds` (`host:port`), then
    /// to every server the cluster reports.
    pub fn new(seeds: &[String], login: Login, config: DriverConfig) -> Self {
        let login = Login {
            query_timeout_us: config.query_timeout.as_micros() as u64,
            ..login
        };
        Self {
            conns: Connections::new(seeds, login, config.connect_timeout),
            config,
        }
    }

    pub fn config(&self) -> &DriverConfig {
        &self.config
    }

    /// One statement on the first endpoint that answers, through the
    /// driver's own path: its pools and connect options, text protocol,
    /// rows as text, and server errors as [`Error::Sql`]. Public so that
    /// the kernel test (`tests/kernel.rs`) can send the driver's statements
    /// to a real OceanBase that lacks the cluster views its operations read
    /// first; everything else goes through the operations below.
    pub async fn query(&self, sql: obup_ob_sql::Sql) -> Result<Vec<Row>> {
        self.rows(sql, &[]).await
    }

    async fn rows(&self, sql: obup_ob_sql::Sql, avoid: &[String]) -> Result<Vec<Row>> {
        self.conns.query(&sql, avoid).await
    }

    async fn exec(&self, sql: obup_ob_sql::Sql, avoid: &[String]) -> Result<()> {
        self.conns.query(&sql, avoid).await.map(drop)
    }

    async fn count(&self, sql: obup_ob_sql::Sql) -> Result<i64> {
        Ok(obup_ob_sql::scalar_int(&self.rows(sql, &[]).await?)?)
    }

    // ---- topology ----

    /// The edition, as obshell tells it (§1.2): CE by `version()`;
    /// otherwise Standalone when `DBA_OB_LICENSE` has rows, Business when
    /// it is empty or does not exist (1146).
    pub async fn edition(&self) -> Result<Edition> {
        let version = self.rows(st::version(), &[]).await?;
        let text = version.first().and_then(|r| r.at(0)).unwrap_or_default();
        if obup_ob_sql::decode::version_is_ce(text) {
            return Ok(Edition::Ce);
        }
        match self.count(st::license_count()).await {
            Ok(n) if n > 0 => Ok(Edition::Standalone),
            Ok(_) => Ok(Edition::Business),
            Err(Error::Sql { code: 1146, .. }) => Ok(Edition::Business),
            Err(e) => Err(e),
        }
    }

    pub async fn zones(&self) -> Result<Vec<ZoneRow>> {
        self.zones_avoiding(&[]).await
    }

    async fn zones_avoiding(&self, avoid: &[String]) -> Result<Vec<ZoneRow>> {
        let rows = self.rows(st::zones(), avoid).await?;
        Ok(rows
            .iter()
            .map(ZoneRow::from_row)
            .collect::<std::result::Result<_, _>>()?)
    }

    /// The servers; also teaches the driver every server's SQL endpoint.
    pub async fn servers(&self) -> Result<Vec<ServerRow>> {
        self.servers_avoiding(&[]).await
    }

    async fn servers_avoiding(&self, avoid: &[String]) -> Result<Vec<ServerRow>> {
        let rows = self.rows(st::servers(), avoid).await?;
        let servers: Vec<ServerRow> = rows
            .iter()
            .map(ServerRow::from_row)
            .collect::<std::result::Result<_, _>>()?;
        self.conns.learn(
            &servers
                .iter()
                .map(|s| (format!("{}:{}", s.svr_ip, s.sql_port), s.zone.clone()))
                .collect::<Vec<_>>(),
        );
        Ok(servers)
    }

    pub async fn view(&self) -> Result<ClusterView> {
        Ok(ClusterView {
            edition: self.edition().await?,
            zones: self.zones().await?,
            servers: self.servers().await?,
        })
    }

    // ---- parameters ----

    /// Every row of [`SAVED_PARAMETERS`], with scope and tenant.
    pub async fn backup_parameters(&self) -> Result<Vec<SavedParameter>> {
        let names = SAVED_PARAMETERS
            .iter()
            .map(|n| ident("parameter", n))
            .collect::<Result<Vec<_>>>()?;
        let rows = self.rows(st::parameters(&names), &[]).await?;
        rows.iter()
            .map(|r| {
                let p = ParamRow::from_row(r)?;
                Ok(SavedParameter {
                    svr_ip: p.svr_ip,
                    svr_port: p.svr_port,
                    zone: p.zone,
                    scope: match p.scope {
                        obup_ob_sql::Scope::Cluster => ParameterScope::Cluster,
                        obup_ob_sql::Scope::Tenant => ParameterScope::Tenant,
                    },
                    tenant_id: p.tenant_id,
                    name: p.name,
                    value: p.value,
                })
            })
            .collect()
    }

    /// Puts one saved value back as obshell does: a CLUSTER value on its
    /// server, a TENANT value for its tenant (by name).
    pub async fn restore_parameter(&self, row: &SavedParameter) -> Result<()> {
        let name = ident("parameter", &row.name)?;
        let sql = match row.scope {
            ParameterScope::Cluster => {
                st::set_parameter_on_server(&name, &row.value, svr(&row.svr_ip, row.svr_port)?)
            }
            ParameterScope::Tenant => {
                let id = row.tenant_id.ok_or_else(|| Error::Precheck {
                    code: "OB.Parameter.Scope.Invalid",
                    message: format!("TENANT-scope {} has no tenant", row.name),
                })?;
                let rows = self.rows(st::tenant_name(id), &[]).await?;
                let tenant = rows
                    .first()
                    .ok_or_else(|| Error::Cluster(format!("tenant {id} does not exist")))?
                    .text("TENANT_NAME")?
                    .to_owned();
                st::set_parameter_for_tenant(&name, &row.value, &ident("tenant", &tenant)?)
            }
        }
        .map_err(|e| Error::InvalidArgument {
            field: "parameter value",
            reason: e.to_string(),
        })?;
        self.exec(sql, &[]).await
    }

    // ---- zones ----

    /// `ALTER SYSTEM STOP ZONE`, then waits until it is INACTIVE. A zone
    /// already INACTIVE is not stopped again (a resumed sub-task).
    pub async fn stop_zone(&self, zone: &str, log: &dyn TaskIo) -> Result<()> {
        self.zone_to(zone, ZoneStatus::Inactive, log).await
    }

    /// `ALTER SYSTEM START ZONE`, then waits until it is ACTIVE.
    pub async fn start_zone(&self, zone: &str, log: &dyn TaskIo) -> Result<()> {
        self.zone_to(zone, ZoneStatus::Active, log).await
    }

    async fn zone_to(&self, zone: &str, status: ZoneStatus, log: &dyn TaskIo) -> Result<()> {
        let z = ident("zone", zone)?;
        let zones = self.zones().await?;
        if waits::zone_is(&zones, zone, &status).is_err() {
            let (sql, verb) = match status {
                ZoneStatus::Inactive => (st::stop_zone(&z), "stopping"),
                _ => (st::start_zone(&z), "starting"),
            };
            log.line(format!("{verb} {zone}: {sql}")).await;
            self.exec(sql, &[]).await?;
        }
        // obshell: a poll error fails the stop wait, the start wait ignores
        // errors (servers of the zone may be refusing connections).
        let errors_wait = status == ZoneStatus::Active;
        let what = format!("{zone} to be {status}");
        waits::poll(
            &what,
            self.config.zone_wait,
            errors_wait,
            log,
            || self.zones(),
            |zones| waits::zone_is(zones, zone, &status),
        )
        .await?;
        log.line(format!("{zone} is {status}")).await;
        Ok(())
    }

    // ---- servers ----

    /// Addresses (`svr_ip:svr_port`) and service start of the servers about
    /// to be restarted, read before they are stopped.
    pub async fn before_restart(&self, ips: &[String]) -> Result<Vec<BeforeRestart>> {
        let servers = self.servers().await?;
        ips.iter()
            .map(|ip| {
                let s = servers
                    .iter()
                    .find(|s| &s.svr_ip == ip)
                    .ok_or_else(|| Error::Cluster(format!("no server with SVR_IP {ip}")))?;
                Ok(BeforeRestart {
                    server: format!("{}:{}", s.svr_ip, s.svr_port),
                    start_service_time: s.start_service_time,
                })
            })
            .collect()
    }

    /// Waits until every server serves, each restarted one as the new
    /// process on `target` (closing the race of §1.4), and no log stream
    /// is out of sync. Asks servers outside `avoid_zones` first.
    pub async fn wait_restarted(
        &self,
        restarted: &[BeforeRestart],
        target: &str,
        avoid_zones: &[String],
        log: &dyn TaskIo,
    ) -> Result<()> {
        waits::poll(
            "the restarted observers to serve the new build",
            self.config.restart_wait,
            true,
            log,
            || self.servers_avoiding(avoid_zones),
            |servers| waits::servers_back(servers, restarted, target),
        )
        .await?;
        waits::poll(
            "every log stream to be in sync",
            self.config.restart_wait,
            true,
            log,
            || async {
                Ok(obup_ob_sql::scalar_int(
                    &self.rows(st::unsynced_logs(), avoid_zones).await?,
                )?)
            },
            waits::logs_in_sync,
        )
        .await?;
        Ok(())
    }

    // ---- minor freeze ----

    /// obshell's "Minor freeze before stop server": the servers of the
    /// scope that are not INACTIVE are frozen, then their smallest
    /// checkpoint must pass its value before the freeze.
    pub async fn minor_freeze(&self, scope: &FreezeScope, log: &dyn TaskIo) -> Result<()> {
        let servers: Vec<SvrAddr> = self
            .servers()
            .await?
            .into_iter()
            .filter(|s| match scope {
                FreezeScope::Global => true,
                FreezeScope::Zone(z) => &s.zone == z,
            })
            .filter(|s| s.status != ServerStatus::Inactive)
            .map(|s| svr(&s.svr_ip, s.svr_port))
            .collect::<Result<_>>()?;
        if servers.is_empty() {
            log.line("no server to freeze".into()).await;
            return Ok(());
        }
        let baseline = self.checkpoints(&servers).await?;
        let sql = st::minor_freeze(&servers);
        log.line(sql.text.clone()).await;
        self.exec(sql, &[]).await?;
        waits::poll(
            "the minor freeze's checkpoints",
            self.config.freeze_wait,
            false,
            log,
            || self.checkpoints(&servers),
            |now| waits::freeze_done(&baseline, now),
        )
        .await?;
        Ok(())
    }

    async fn checkpoints(&self, servers: &[SvrAddr]) -> Result<HashMap<String, u64>> {
        let mut out = HashMap::new();
        for s in servers {
            let rows = self.rows(st::min_checkpoint_scn(*s), &[]).await?;
            let scn = match rows.first() {
                Some(r) => r.uint("checkpoint_scn")?,
                None => 0,
            };
            out.insert(s.to_string(), scn);
        }
        Ok(out)
    }
}
