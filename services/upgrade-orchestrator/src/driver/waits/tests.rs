use super::*;
use obup_ob_sql::Row;

fn server(
    ip: &str,
    status: &str,
    start: Option<&str>,
    stop: Option<&str>,
    build: &str,
) -> ServerRow {
    let cols = [
        "SVR_IP",
        "SVR_PORT",
        "SQL_PORT",
        "ZONE",
        "ID",
        "STATUS",
        "WITH_ROOTSERVER",
        "START_SERVICE_TIME",
        "STOP_TIME",
        "BUILD_VERSION",
    ];
    let vals = [
        Some(ip),
        Some("2882"),
        Some("2881"),
        Some("zone1"),
        Some("1"),
        Some(status),
        Some("NO"),
        start,
        stop,
        Some(build),
    ];
    ServerRow::from_row(&Row::new(
        cols.iter().map(|c| c.to_string()).collect(),
        vals.iter().map(|v| v.map(str::to_owned)).collect(),
    ))
    .unwrap()
}

const OLD: &str =
    "4.2.1.0_100000102023092807-7b0f43693565654bb1d7343f728bba7a1e3c4b35(Sep 28 2023 07:09:06)";
const NEW: &str = "4.3.5.0_100000202024123117-aaaa(Dec 31 2024 17:00:00)";

fn before(at: &str) -> BeforeRestart {
    BeforeRestart {
        server: "127.0.1.1:2882".into(),
        start_service_time: Some(NaiveDateTime::parse_from_str(at, "%Y-%m-%d %H:%M:%S").unwrap()),
    }
}

/// The restart race of real-driver.md §1.4: right after the kill, the view
/// still shows the old process ACTIVE and serving. obshell's predicate
/// passes there; obup's waits for the new build and a later service start.
#[test]
fn the_restart_race_passes_obshells_check_but_not_obups() {
    let target = "4.3.5.0-100000202024123117";
    let stale = [server(
        "127.0.1.1",
        "ACTIVE",
        Some("2026-11-26 10:00:00"),
        None,
        OLD,
    )];
    assert!(
        servers_serving(&stale).is_ok(),
        "obshell's check passes too early"
    );
    let e = servers_back(&stale, &[before("2026-11-26 10:00:00")], target).unwrap_err();
    assert!(
        e.contains("still reports 4.2.1.0-100000102023092807"),
        "{e}"
    );

    let starting = [server("127.0.1.1", "ACTIVE", None, None, NEW)];
    assert!(servers_back(&starting, &[before("2026-11-26 10:00:00")], target).is_err());

    let same_start = [server(
        "127.0.1.1",
        "ACTIVE",
        Some("2026-11-26 10:00:00"),
        None,
        NEW,
    )];
    let e = servers_back(&same_start, &[before("2026-11-26 10:00:00")], target).unwrap_err();
    assert!(e.contains("before the restart"), "{e}");

    let back = [server(
        "127.0.1.1",
        "ACTIVE",
        Some("2026-11-26 10:05:00"),
        None,
        NEW,
    )];
    assert_eq!(
        servers_back(&back, &[before("2026-11-26 10:00:00")], target),
        Ok(())
    );
}

#[test]
fn every_server_must_serve() {
    let down = [
        server(
            "127.0.1.1",
            "ACTIVE",
            Some("2026-11-26 10:05:00"),
            None,
            NEW,
        ),
        server(
            "127.0.1.2",
            "INACTIVE",
            Some("2026-11-26 10:00:00"),
            None,
            OLD,
        ),
    ];
    assert!(servers_serving(&down).unwrap_err().contains("127.0.1.2"));
    let stopped = [server(
        "127.0.1.2",
        "ACTIVE",
        Some("2026-11-26 10:00:00"),
        Some("2026-11-26 10:01:00"),
        OLD,
    )];
    assert!(servers_serving(&stopped).is_err());
}

#[test]
fn zones_logs_and_freezes() {
    let zones = vec![ZoneRow {
        zone: "zone1".into(),
        status: ZoneStatus::Inactive,
        region: String::new(),
        idc: String::new(),
    }];
    assert!(zone_is(&zones, "zone1", &ZoneStatus::Inactive).is_ok());
    assert!(zone_is(&zones, "zone1", &ZoneStatus::Active).is_err());
    assert!(zone_is(&zones, "zone9", &ZoneStatus::Active).is_err());
    assert!(logs_in_sync(&0).is_ok() && logs_in_sync(&2).is_err());
    let base = HashMap::from([("a".to_owned(), 10u64), ("b".to_owned(), 0)]);
    assert!(freeze_done(&base, &HashMap::from([("a".to_owned(), 10)])).is_err());
    assert!(freeze_done(&base, &HashMap::from([("a".to_owned(), 11)])).is_ok());
}

/// Collects the lines a wait logs.
#[derive(Default)]
struct Lines(std::sync::Mutex<Vec<String>>);

#[async_trait::async_trait]
impl TaskIo for Lines {
    async fn line(&self, line: String) {
        self.0.lock().unwrap().push(line);
    }
    async fn checkpoint(&self, _: crate::domain::output::TaskOutput) -> Result<()> {
        Ok(())
    }
}

/// Frequent polls keep the log readable: a round is logged when it saw
/// something new, not every time it asked.
#[tokio::test]
async fn a_wait_logs_what_changed_not_every_round() {
    let log = Lines::default();
    let answers = [1, 1, 1, 1, 2, 2, 2, 3];
    let mut round = 0;
    let got = poll(
        "the zone",
        WaitPolicy::new(1, 20),
        false,
        &log,
        || {
            round += 1;
            let a = answers[round - 1];
            async move { Ok(a) }
        },
        |a: &i32| {
            if *a == 3 {
                Ok(())
            } else {
                Err(format!("saw {a}"))
            }
        },
    )
    .await
    .unwrap();
    assert_eq!(got, 3);
    let lines = log.0.into_inner().unwrap();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(
        lines[0].starts_with("waiting for the zone (1/20): saw 1"),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with("waiting for the zone (5/20): saw 2"),
        "{lines:?}"
    );
    assert!(
        lines[2].starts_with("the zone: done after 8 rounds"),
        "{lines:?}"
    );
}

/// The limit is the rounds: the error says what the last round saw.
#[tokio::test]
async fn a_wait_that_never_ends_times_out_with_the_last_answer() {
    let log = Lines::default();
    let e = poll(
        "the zone",
        WaitPolicy::new(1, 3),
        false,
        &log,
        || async { Ok(1) },
        |_: &i32| Err("still INACTIVE".to_owned()),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("still INACTIVE"), "{e}");
}

#[test]
fn a_policy_within_a_limit_asks_as_often_as_it_fits() {
    assert_eq!(WaitPolicy::within(200, 300).rounds, 1500);
    assert_eq!(WaitPolicy::within(0, 2).rounds, 2000);
}
