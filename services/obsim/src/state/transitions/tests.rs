//! The transitions, driven by a hand-held clock.

use super::*;
use crate::state::Layout;

const T: Timing = Timing {
    lease_ms: 1000,
    start_service_ms: 200,
    catchup_ms: 300,
    zone_ms: 100,
    job_ms: 500,
    param_ms: 50,
    freeze_ms: 100,
};

fn build(v: &str) -> Build {
    Build {
        version: v.into(),
        build_version: format!("{v}_1-abc(Sep 28 2023 07:00:00)"),
    }
}

fn layout() -> Layout {
    Layout {
        name: "obcluster".into(),
        edition: obup_types::Edition::Ce,
        zones: 3,
        servers_per_zone: 1,
        ip_prefix: [127, 9, 9],
        sql_port: 2881,
        rpc_port: 2882,
        homes: Vec::new(),
        builds: vec![build("4.2.1.0"); 3],
        user_tenants: 1,
    }
}

fn alive(pid: i32) -> Seen {
    Seen::Alive {
        pid,
        build: Some(build("4.2.1.0")),
    }
}

/// A cluster whose three observers serve and are in sync at t=1000.
fn running() -> Cluster {
    let mut c = Cluster::new(&layout(), 0);
    for id in 1..=3 {
        c.apply(
            Op::Observe {
                server: id,
                seen: alive(100 + id as i32),
            },
            0,
            &T,
        )
        .unwrap();
    }
    c.apply(Op::Tick, 1000, &T).unwrap();
    assert!(c.bootstrapped);
    assert!(c.servers.iter().all(|s| s.log == LogSync::InSync));
    c
}

fn observe(c: &mut Cluster, id: i64, seen: Seen, now: Ms) {
    c.apply(Op::Observe { server: id, seen }, now, &T).unwrap();
}

#[test]
fn a_dead_server_stays_active_for_the_lease_then_turns_inactive() {
    let mut c = running();
    observe(&mut c, 2, Seen::Dead, 2000);
    let s = c.server(2).unwrap();
    assert_eq!(s.log, LogSync::Absent, "its log rows vanish at once");
    assert_eq!(s.status, ServerStatus::Active);
    assert!(s.start_service_us.is_some(), "the old row is unchanged");
    c.apply(Op::Tick, 2999, &T).unwrap();
    assert_eq!(c.server(2).unwrap().status, ServerStatus::Active);
    c.apply(Op::Tick, 3000, &T).unwrap();
    let s = c.server(2).unwrap();
    assert_eq!(s.status, ServerStatus::Inactive);
    assert_eq!(s.last_offline_us, Some(3_000_000));
}

#[test]
fn a_new_process_serves_after_start_service_and_syncs_after_catchup() {
    let mut c = running();
    observe(&mut c, 2, Seen::Dead, 2000);
    let seen = Seen::Alive {
        pid: 500,
        build: Some(build("4.3.5.0")),
    };
    observe(&mut c, 2, seen, 2500);
    let s = c.server(2).unwrap();
    assert_eq!(
        (s.status, s.start_service_us, s.build.version.as_str()),
        (ServerStatus::Active, None, "4.3.5.0")
    );
    c.apply(Op::Tick, 2700, &T).unwrap();
    let s = c.server(2).unwrap();
    assert_eq!(s.start_service_us, Some(2_700_000));
    assert_eq!(s.log, LogSync::CatchingUp);
    c.apply(Op::Tick, 3000, &T).unwrap();
    assert_eq!(c.server(2).unwrap().log, LogSync::InSync);
    // The lease timer of the old process no longer applies.
    c.apply(Op::Tick, 5000, &T).unwrap();
    assert_eq!(c.server(2).unwrap().status, ServerStatus::Active);
}

#[test]
fn stop_zone_is_refused_while_another_zone_is_down() {
    let mut c = running();
    c.apply(Op::StopZone("zone1".into()), 2000, &T).unwrap();
    assert_eq!(c.zones[0].status, ZoneStatus::Active, "after zone_ms only");
    c.apply(Op::Tick, 2100, &T).unwrap();
    assert_eq!(c.zones[0].status, ZoneStatus::Inactive);
    let refused = c.apply(Op::StopZone("zone2".into()), 2200, &T);
    assert!(matches!(refused, Err(Refusal::StopZone(_))), "{refused:?}");
    c.apply(Op::StartZone("zone1".into()), 2300, &T).unwrap();
    c.apply(Op::Tick, 2400, &T).unwrap();
    assert_eq!(c.zones[0].status, ZoneStatus::Active);
    // A dead server in another zone also refuses.
    observe(&mut c, 3, Seen::Dead, 2500);
    let refused = c.apply(Op::StopZone("zone2".into()), 2600, &T);
    assert!(matches!(refused, Err(Refusal::StopZone(_))), "{refused:?}");
    assert!(matches!(
        c.apply(Op::StopZone("zone9".into()), 2600, &T),
        Err(Refusal::UnknownZone(_))
    ));
    assert!(c.invariant.violations.is_empty());
}

#[test]
fn two_zones_down_at_once_is_recorded_once() {
    let mut c = running();
    c.apply(Op::StopZone("zone1".into()), 2000, &T).unwrap();
    observe(&mut c, 2, Seen::Dead, 2050);
    observe(&mut c, 3, Seen::Dead, 2060);
    assert_eq!(c.invariant.violations.len(), 1);
    assert_eq!(c.invariant.violations[0].zones, ["zone1", "zone2"]);
    assert_eq!(c.invariant.max_unavailable, 3);
}

#[test]
fn end_rolling_upgrade_needs_one_build_on_every_server() {
    let mut c = running();
    c.apply(Op::BeginUpgrade, 2000, &T).unwrap();
    c.apply(Op::BeginRollingUpgrade, 2000, &T).unwrap();
    c.apply(Op::Tick, 2050, &T).unwrap();
    assert_eq!(c.cluster_param("enable_upgrade_mode"), Some("True"));
    assert_eq!(c.cluster_param("_upgrade_stage"), Some("DBUPGRADE"));
    observe(&mut c, 1, Seen::Dead, 2100);
    let new = || Seen::Alive {
        pid: 900,
        build: Some(build("4.3.5.0")),
    };
    observe(&mut c, 1, new(), 2200);
    assert!(matches!(
        c.apply(Op::EndRollingUpgrade, 2300, &T),
        Err(Refusal::EndRollingUpgrade(_))
    ));
    for id in [2, 3] {
        observe(&mut c, id, Seen::Dead, 2400);
        observe(&mut c, id, new(), 2500);
    }
    c.apply(Op::EndRollingUpgrade, 2600, &T).unwrap();
    c.apply(Op::Tick, 2650, &T).unwrap();
    assert_eq!(c.cluster_param("min_observer_version"), Some("4.3.5.0"));
    assert_eq!(c.cluster_param("_upgrade_stage"), Some("POSTUPGRADE"));

    c.apply(Op::RunUpgradeJob("UPGRADE_ALL".into()), 3000, &T)
        .unwrap();
    assert_eq!(c.jobs[0].status, JobStatus::InProgress);
    c.apply(Op::Tick, 3500, &T).unwrap();
    assert_eq!(c.jobs[0].status, JobStatus::Success);
    for tn in &c.tenants {
        assert_eq!(tn.params["compatible"], "4.3.5.0");
        assert_eq!(tn.current_data_version, version_int("4.3.5.0"));
    }
    c.apply(Op::EndUpgrade, 4000, &T).unwrap();
    c.apply(Op::Tick, 4050, &T).unwrap();
    assert_eq!(c.cluster_param("enable_upgrade_mode"), Some("False"));
    assert_eq!(c.cluster_param("_upgrade_stage"), Some("NONE"));
}

#[test]
fn frozen_transitions_hold_until_thawed() {
    let mut c = running();
    c.apply(Op::Freeze(Transition::JobInProgress), 2000, &T)
        .unwrap();
    c.apply(Op::RunUpgradeJob("UPGRADE_ALL".into()), 2000, &T)
        .unwrap();
    c.apply(Op::Tick, 60_000, &T).unwrap();
    assert_eq!(c.jobs[0].status, JobStatus::InProgress);
    assert_eq!(c.next_due(), None, "a held timer is not due");
    c.apply(Op::Thaw(Transition::JobInProgress), 60_000, &T)
        .unwrap();
    assert_eq!(c.jobs[0].status, JobStatus::Success);

    c.apply(Op::Freeze(Transition::JobFailed), 61_000, &T)
        .unwrap();
    c.apply(Op::RunUpgradeJob("UPGRADE_ALL".into()), 61_000, &T)
        .unwrap();
    c.apply(Op::Tick, 61_500, &T).unwrap();
    assert_eq!(c.jobs[1].status, JobStatus::Failed);

    c.apply(Op::Freeze(Transition::LogSync), 62_000, &T)
        .unwrap();
    observe(&mut c, 2, Seen::Dead, 62_000);
    observe(&mut c, 2, alive(777), 62_100);
    c.apply(Op::Tick, 99_000, &T).unwrap();
    assert_eq!(c.server(2).unwrap().log, LogSync::CatchingUp);
}

#[test]
fn parameters_reach_their_targets_after_param_ms() {
    let mut c = running();
    let set = |name: &str, value: &str, scope| Op::SetParam {
        name: name.into(),
        value: value.into(),
        scope,
    };
    c.apply(
        set(
            "server_permanent_offline_time",
            "72h",
            SetScope::Server("127.9.9.2:2882".into()),
        ),
        2000,
        &T,
    )
    .unwrap();
    assert_eq!(
        c.server(2).unwrap().params["server_permanent_offline_time"],
        "3600s"
    );
    c.apply(Op::Tick, 2050, &T).unwrap();
    assert_eq!(
        c.server(2).unwrap().params["server_permanent_offline_time"],
        "72h"
    );
    assert_eq!(
        c.server(1).unwrap().params["server_permanent_offline_time"],
        "3600s"
    );
    c.apply(
        set(
            "enable_rebalance",
            "False",
            SetScope::Tenant("all_user".into()),
        ),
        3000,
        &T,
    )
    .unwrap();
    c.apply(Op::Tick, 3050, &T).unwrap();
    let values: Vec<&str> = c
        .tenants
        .iter()
        .map(|t| t.params["enable_rebalance"].as_str())
        .collect();
    assert_eq!(values, ["True", "True", "False"]);
    assert!(matches!(
        c.apply(set("no_such", "1", SetScope::Default), 3100, &T),
        Err(Refusal::UnknownParameter(_))
    ));
    assert!(matches!(
        c.apply(
            set("syslog_level", "INFO", SetScope::Server("1.2.3.4:1".into())),
            3100,
            &T
        ),
        Err(Refusal::UnknownServer(_))
    ));
}

#[test]
fn a_tick_with_nothing_due_changes_nothing() {
    let mut c = running();
    assert!(!c.apply(Op::Tick, 5000, &T).unwrap());
    let checks = c.invariant.checks;
    assert!(!c.apply(Op::Tick, 6000, &T).unwrap());
    assert_eq!(c.invariant.checks, checks);
}

#[test]
fn minor_freeze_raises_the_checkpoint_after_freeze_ms() {
    let mut c = running();
    let before = c.server(1).unwrap().checkpoint_scn;
    c.apply(
        Op::MinorFreezeServers(vec!["127.9.9.1:2882".into()]),
        2000,
        &T,
    )
    .unwrap();
    assert_eq!(c.server(1).unwrap().checkpoint_scn, before);
    c.apply(Op::Tick, 2100, &T).unwrap();
    assert!(c.server(1).unwrap().checkpoint_scn > before);
    assert_eq!(c.server(2).unwrap().checkpoint_scn, before);
}
