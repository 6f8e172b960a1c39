//! The server's life: settings checked at start, a writer that survives
//! its own bugs without misreporting anyone, pruning that keeps up with
//! group commit, a shutdown that keeps its deadline, and secrets kept out
//! of the logs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use duckgrid::Server;
use duckgrid::proto::v1 as pb;
use duckgrid::writer::{FaultPoint, Faults};
use tonic::Code;
use tonic::transport::Endpoint;

use crate::helpers::*;
use crate::watching::watch;

/// Faults keyed by request id: `hold…` stalls while being applied (so the
/// requests behind it queue up into one group), `boom` panics while being
/// applied, `boom-flush` while its group's facts are written, `boom-after`
/// after its group committed.
fn faults() -> Faults {
    Faults(Some(Arc::new(|point, request| {
        match (point, request.request_id.as_deref()) {
            (FaultPoint::Apply, Some(id)) if id.starts_with("hold") => {
                std::thread::sleep(Duration::from_millis(300))
            }
            (FaultPoint::Apply, Some("boom"))
            | (FaultPoint::Flush, Some("boom-flush"))
            | (FaultPoint::Committed, Some("boom-after")) => panic!("injected fault"),
            _ => {}
        }
    })))
}

async fn write_with_id(
    app: &TestApp,
    path: Vec<String>,
    value: String,
    id: &str,
) -> Result<pb::UpdateCellResponse, tonic::Status> {
    update(
        &mut app.new_client().await,
        set(cell(PRODUCT, &path, "2024-06", "quantity"), &value),
        id,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_panicking_request_fails_alone_and_a_committed_one_is_never_misreported() {
    let app = spawn_with(test_config_with(|c| c.faults = faults())).await;
    let grid = app.grid(PRODUCT).await;
    let leaves: Vec<Vec<String>> = rows_at(&grid, 3).iter().map(|r| r.path.clone()).collect();
    for culprit in ["boom", "boom-flush"] {
        let head = app.head().await;
        // One request holds the writer while the others queue into a group
        // with the culprit.
        let hold_id = format!("hold-{culprit}");
        let hold = write_with_id(&app, leaves[0].clone(), "11".into(), &hold_id);
        let others = async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let mut calls = Vec::new();
            for (i, leaf) in leaves[1..5].iter().enumerate() {
                calls.push(write_with_id(&app, leaf.clone(), (20 + i).to_string(), ""));
            }
            calls.push(write_with_id(&app, leaves[6].clone(), "99".into(), culprit));
            futures::future::join_all(calls).await
        };
        let (held, mut results) = tokio::join!(hold, others);
        held.expect("the held write commits");
        let failed = results.pop().unwrap();
        let status = failed.expect_err("the culprit fails");
        assert_status(&status, Code::Internal, "INTERNAL");
        let mut revisions: Vec<i64> = results
            .into_iter()
            .map(|r| r.expect("the rest of its group commits").revision)
            .collect();
        revisions.sort_unstable();
        assert_eq!(revisions, (head + 2..=head + 5).collect::<Vec<_>>());
        assert_eq!(app.head().await, head + 5, "gap-free, the culprit absent");
        app.update(set(cell(PRODUCT, &leaves[7], "2024-06", "quantity"), "3"))
            .await
            .expect("the writer goes on");
    }
    // A fault after commit: the write stands and its caller is told so.
    let head = app.head().await;
    let response = write_with_id(&app, leaves[8].clone(), "77".into(), "boom-after")
        .await
        .expect("a committed write is reported committed");
    assert_eq!(response.revision, head + 1);
    let again = write_with_id(&app, leaves[8].clone(), "77".into(), "boom-after")
        .await
        .unwrap();
    assert_eq!(again.revision, head + 1, "a retry finds it applied once");
    assert_eq!(app.head().await, head + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_that_fail_late_do_not_make_the_rest_of_their_group_run_again_and_again() {
    use std::collections::HashMap;
    use std::sync::Mutex;
    let applied: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let counts = Arc::clone(&applied);
    let app = spawn_with(test_config_with(move |c| {
        c.faults = Faults(Some(Arc::new(move |point, request| {
            if point != FaultPoint::Apply {
                return;
            }
            let id = request.request_id.clone().unwrap_or_default();
            if id == "hold" {
                std::thread::sleep(Duration::from_millis(300));
            }
            *counts.lock().unwrap().entry(id).or_default() += 1;
        })));
    }))
    .await;
    let grid = app.grid(PRODUCT).await;
    let leaves: Vec<Vec<String>> = rows_at(&grid, 3).iter().map(|r| r.path.clone()).collect();
    let hold = write_with_id(&app, leaves[0].clone(), "1".into(), "hold");
    let queued = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let first = write_with_id(&app, leaves[1].clone(), "2".into(), "first");
        // Each of these changes a fact, then fails its compare-and-set.
        let late_failures = (0..4).map(|i| {
            let leaves = leaves.clone();
            let mut client = app.client.clone();
            async move {
                client
                    .batch_update_cells(pb::BatchUpdateCellsRequest {
                        edits: vec![
                            set(cell(PRODUCT, &leaves[2 + i], "2024-06", "quantity"), "5"),
                            pb::CellEdit {
                                expected_value: Some("123456789".into()),
                                ..set(cell(PRODUCT, &leaves[2 + i], "2024-07", "quantity"), "5")
                            },
                        ],
                        request_id: format!("late-{i}"),
                    })
                    .await
            }
        });
        let last = write_with_id(&app, leaves[9].clone(), "3".into(), "last");
        tokio::join!(first, futures::future::join_all(late_failures), last)
    };
    let (held, (first, failures, last)) = tokio::join!(hold, queued);
    held.unwrap();
    first.unwrap();
    last.unwrap();
    for failure in failures {
        assert_eq!(failure.unwrap_err().code(), Code::Aborted);
    }
    let first_applied = applied.lock().unwrap()["first"];
    assert!(
        first_applied <= 2,
        "a request ahead of 4 late failures was applied {first_applied} times"
    );
    assert_eq!(app.head().await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_changelog_is_pruned_even_when_groups_skip_the_pruning_revision() {
    let app = spawn_with(test_config_with(|c| {
        c.faults = faults();
        c.changelog_retention = 10;
    }))
    .await;
    let grid = app.grid(PRODUCT).await;
    let leaves: Vec<Vec<String>> = rows_at(&grid, 3).iter().map(|r| r.path.clone()).collect();
    let leaf = |i: usize| leaves[i % leaves.len()].clone();
    for i in 0..62 {
        write_with_id(&app, leaf(i), "1".into(), "").await.unwrap();
    }
    // Revision 63 holds the writer; 64..=68 commit as one group: the head
    // goes from 63 to 68 without ever being 64.
    let hold = write_with_id(&app, leaf(62), "2".into(), "hold");
    let group = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let calls: Vec<_> = (0..5)
            .map(|i| write_with_id(&app, leaf(63 + i), "3".into(), ""))
            .collect();
        futures::future::join_all(calls).await
    };
    let (held, rest) = tokio::join!(hold, group);
    assert_eq!(held.unwrap().revision, 63);
    assert!(rest.iter().all(|r| r.is_ok()));
    for i in 0..59 {
        write_with_id(&app, leaf(70 + i), "4".into(), "")
            .await
            .unwrap();
    }
    assert_eq!(app.head().await, 127);
    let kept = app.query::<i64>("SELECT count(*) FROM changelog")[0][0];
    assert!(
        kept <= 10 + 64,
        "{kept} revisions kept with a retention of 10"
    );
}

#[tokio::test]
async fn bad_settings_fail_at_start_with_every_problem_named() {
    let config = test_config_with(|c| {
        c.progress_interval_ms = 0;
        c.redis_maxlen = u64::MAX;
    });
    let message = match Server::bind(config).await {
        Ok(_) => panic!("a server with a zero progress interval started"),
        Err(e) => format!("{e:#}"),
    };
    assert!(message.contains("--progress-interval-ms"), "{message}");
    assert!(message.contains("--redis-maxlen"), "{message}");
}

/// DuckDB runs `--duckdb-threads` threads once the server is up (one by
/// default, so that the writer's commits never wait on a worker thread).
#[tokio::test]
async fn duckdb_runs_the_threads_it_is_given_once_serving() {
    for threads in [1, 2] {
        let app = spawn_with(test_config_with(|c| c.duckdb_threads = threads)).await;
        assert_eq!(
            app.query::<i64>("SELECT current_setting('threads')"),
            [[i64::from(threads)]]
        );
        app.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shutdown_keeps_its_deadline_with_a_client_that_stopped_reading_and_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("grid.duckdb");
    let path = db.display().to_string();
    let app = spawn_with(test_config_with(|c| {
        c.db = path;
        c.shutdown_timeout_ms = 2_000;
        c.watch_stall_timeout_ms = 60_000;
    }))
    .await;
    // A watcher whose client never reads, with its transport full.
    let endpoint = Endpoint::from_shared(format!("http://{}", app.addr))
        .unwrap()
        .initial_stream_window_size(Some(1024))
        .initial_connection_window_size(Some(1024));
    let mut stalled = connect_endpoint(endpoint).await;
    let _stream = stalled
        .watch_updates(pb::WatchUpdatesRequest::default())
        .await
        .unwrap()
        .into_inner();
    for i in 0..20 {
        app.update(set(
            cell(
                PRODUCT,
                &[],
                &format!("2024-{:02}", 1 + i % 12),
                "net_amount",
            ),
            &format!("{}.00", 100_000 + i),
        ))
        .await
        .unwrap();
    }
    let _live = watch(&app, pb::WatchUpdatesRequest::default()).await;
    let started = Instant::now();
    app.shutdown().await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(2_700),
        "a 2 s shutdown deadline took {took:?}"
    );
    // The writer checkpointed: everything is in the database file.
    let wal = dir.path().join("grid.duckdb.wal");
    assert!(
        !wal.exists() || std::fs::metadata(&wal).unwrap().len() == 0,
        "the WAL was not checkpointed"
    );
    let conn = duckdb::Connection::open(&db).unwrap();
    let head: i64 = conn
        .query_row("SELECT max(revision) FROM changelog", [], |r| r.get(0))
        .unwrap();
    assert_eq!(head, 20);
}

#[tokio::test]
async fn credentials_in_the_redis_url_never_reach_the_logs() {
    let dir = tempfile::tempdir().unwrap();
    let addr_file = dir.path().join("addr");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_duckgrid"))
        .args([
            "serve",
            "--db",
            ":memory:",
            "--facts",
            "200",
            "--listen",
            "127.0.0.1:0",
        ])
        .args(["--log", "debug"])
        .arg("--redis-url")
        .arg(format!("redis://duck:s3cret-pass@127.0.0.1:{port}/0"))
        .arg("--addr-file")
        .arg(&addr_file)
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !addr_file.exists() {
        assert!(Instant::now() < deadline, "the server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Long enough for the relay to fail to connect and say so.
    std::thread::sleep(Duration::from_secs(3));
    child.kill().unwrap();
    let output = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(log.contains("duckgrid ready"), "{log}");
    assert!(log.contains("redis://***@127.0.0.1"), "{log}");
    assert!(!log.contains("s3cret"), "the password was logged:\n{log}");
}
