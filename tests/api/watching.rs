//! WatchUpdates: ordering, resume, snapshot-then-changes, progress, filters,
//! slow subscribers, shutdown.

use std::sync::atomic::Ordering;
use std::time::Duration;

use duckgrid::proto::v1::{self as pb, watch_updates_response::Kind};
use tonic::transport::Endpoint;
use tonic::{Code, Streaming};

use crate::helpers::*;

/// The next message of a stream (fails after 10 s).
pub async fn next_message(stream: &mut Streaming<pb::WatchUpdatesResponse>) -> Kind {
    tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("a message within 10 s")
        .expect("the stream is healthy")
        .expect("the stream is open")
        .kind
        .expect("a message kind")
}

/// The next change event, skipping progress messages.
pub async fn next_change(stream: &mut Streaming<pb::WatchUpdatesResponse>) -> pb::ChangeEvent {
    loop {
        match next_message(stream).await {
            Kind::Change(c) => return c,
            Kind::Progress(_) => continue,
            Kind::Snapshot(_) => panic!("unexpected snapshot"),
        }
    }
}

pub async fn watch(
    app: &TestApp,
    request: pb::WatchUpdatesRequest,
) -> Streaming<pb::WatchUpdatesResponse> {
    app.client
        .clone()
        .watch_updates(request)
        .await
        .expect("WatchUpdates")
        .into_inner()
}

/// A watch of everything from `start_revision`.
pub async fn watch_from(app: &TestApp, start_revision: i64) -> Streaming<pb::WatchUpdatesResponse> {
    watch(
        app,
        pb::WatchUpdatesRequest {
            start_revision,
            ..Default::default()
        },
    )
    .await
}

/// Writes `n` different leaf edits (each one revision).
async fn write_n(app: &TestApp, n: usize) -> Vec<i64> {
    let grid = app.grid(PRODUCT).await;
    let leaves: Vec<Vec<String>> = rows_at(&grid, 3).iter().map(|r| r.path.clone()).collect();
    let mut revisions = Vec::new();
    for i in 0..n {
        let path = &leaves[i % leaves.len()];
        let r = app
            .update(set(
                cell(PRODUCT, path, "2024-07", "quantity"),
                &(i + 1).to_string(),
            ))
            .await
            .unwrap();
        revisions.push(r.revision);
    }
    revisions
}

/// Writes `n` grand-total edits: each changes hundreds of cells, so the
/// events are large (tens of KB) and fill transport buffers quickly.
async fn write_big(app: &TestApp, n: usize) {
    for i in 0..n {
        let month = format!("2024-{:02}", 1 + i % 12);
        app.update(set(
            cell(PRODUCT, &[], &month, "net_amount"),
            &format!("{}.00", 100_000 + i),
        ))
        .await
        .unwrap();
    }
}

#[tokio::test]
async fn a_watch_resumes_from_any_revision_with_exactly_the_missing_ones() {
    let app = spawn_app().await;
    assert_eq!(write_n(&app, 6).await, (1..=6).collect::<Vec<_>>());
    for start in [1, 4, 6] {
        let head = app.head().await;
        let mut stream = watch_from(&app, start).await;
        for expected in start..=head {
            assert_eq!(next_change(&mut stream).await.revision, expected);
        }
        // Then live events continue without a gap.
        let r = write_n(&app, 1).await[0];
        assert_eq!(next_change(&mut stream).await.revision, r);
    }
    // head + 1 is "the next one"; beyond is out of range.
    let head = app.head().await;
    watch_from(&app, head + 1).await;
    let status = app
        .client
        .clone()
        .watch_updates(pb::WatchUpdatesRequest {
            start_revision: head + 2,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::OutOfRange);
    let info = error_info(&status);
    assert_eq!(info.metadata["head_revision"], head.to_string());
    assert_eq!(info.metadata["oldest_revision"], "1");
    let status = app
        .client
        .clone()
        .watch_updates(pb::WatchUpdatesRequest {
            start_revision: -1,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn a_client_that_drops_the_stream_resumes_without_loss_or_duplicates() {
    let app = spawn_app().await;
    let mut stream = watch(&app, pb::WatchUpdatesRequest::default()).await;
    write_n(&app, 3).await;
    let mut last = 0;
    for _ in 0..2 {
        last = next_change(&mut stream).await.revision;
    }
    assert_eq!(last, 2);
    drop(stream);
    write_n(&app, 3).await; // revisions 4..=6 while disconnected
    let mut stream = watch_from(&app, last + 1).await;
    let got: Vec<i64> = futures_collect(&mut stream, 4).await;
    assert_eq!(got, vec![3, 4, 5, 6]);
}

async fn futures_collect(stream: &mut Streaming<pb::WatchUpdatesResponse>, n: usize) -> Vec<i64> {
    let mut out = Vec::new();
    while out.len() < n {
        out.push(next_change(stream).await.revision);
    }
    out
}

#[tokio::test]
async fn snapshot_then_changes_has_no_gap_while_writes_continue() {
    let app = spawn_app().await;
    let writer = {
        let app_client = app.client.clone();
        let grid = app.grid(PRODUCT).await;
        let leaves: Vec<Vec<String>> = rows_at(&grid, 3).iter().map(|r| r.path.clone()).collect();
        tokio::spawn(async move {
            let mut client = app_client;
            for i in 0..40 {
                let path = &leaves[(i * 7) % leaves.len()];
                let measure = if i % 2 == 0 { "quantity" } else { "net_amount" };
                update(
                    &mut client,
                    set(
                        cell(PRODUCT, path, "2024-08", measure),
                        &(i + 1).to_string(),
                    ),
                    "",
                )
                .await
                .unwrap();
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(30)).await;
    let mut stream = watch(
        &app,
        pb::WatchUpdatesRequest {
            sheet: PRODUCT.into(),
            send_snapshot: true,
            ..Default::default()
        },
    )
    .await;
    let Kind::Snapshot(snapshot) = next_message(&mut stream).await else {
        panic!("the snapshot comes first")
    };
    let mut local = Cells::of(&snapshot);
    writer.await.unwrap();
    let mut expected = snapshot.revision + 1;
    while expected <= 40 {
        let change = next_change(&mut stream).await;
        assert_eq!(
            change.revision, expected,
            "no gap after the snapshot's revision"
        );
        assert!(
            change.changes.iter().all(|s| s.sheet == PRODUCT),
            "only the watched sheet"
        );
        local.apply(PRODUCT, &change);
        expected += 1;
    }
    assert_eq!(
        local,
        Cells::of(&app.grid(PRODUCT).await),
        "snapshot + changes = the sheet now"
    );
}

#[tokio::test]
async fn idle_streams_get_progress_with_the_head_revision() {
    let app = spawn_app().await;
    write_n(&app, 2).await;
    let mut stream = watch_from(&app, 1).await;
    next_change(&mut stream).await;
    next_change(&mut stream).await;
    match next_message(&mut stream).await {
        Kind::Progress(p) => assert_eq!(p.head_revision, 2),
        other => panic!("expected progress, got {other:?}"),
    }
}

#[tokio::test]
async fn a_watch_narrowed_to_a_subtree_and_measure_gets_only_those_cells() {
    let app = spawn_app().await;
    let grid = app.grid(REGION).await;
    let province = rows_at(&grid, 1)[0].path.clone();
    let mut stream = watch(
        &app,
        pb::WatchUpdatesRequest {
            sheet: REGION.into(),
            row_path: province.clone(),
            measures: strings(&["net_amount"]),
            ..Default::default()
        },
    )
    .await;
    // A grand-total write touches every province.
    app.update(set(
        cell(PRODUCT, &[], "2024-02", "net_amount"),
        "123456.78",
    ))
    .await
    .unwrap();
    // A quantity write is delivered (every revision is) but selects no cell.
    app.update(set(cell(PRODUCT, &[], "2024-02", "quantity"), "5000"))
        .await
        .unwrap();
    let first = next_change(&mut stream).await;
    assert_eq!(first.changes.len(), 1);
    let cells = &first.changes[0].cells;
    assert!(!cells.is_empty());
    assert!(
        cells
            .iter()
            .all(|c| c.row_path.starts_with(&province) && c.measure == "net_amount")
    );
    let second = next_change(&mut stream).await;
    assert_eq!(second.revision, 2);
    assert!(second.changes.is_empty());
}

#[tokio::test]
async fn a_stalled_watcher_delays_nobody_and_is_ended_resumably() {
    let stall = Duration::from_secs(3);
    let app = spawn_with(test_config_with(|c| {
        c.feed_buffer = 8;
        c.watch_stall_timeout_ms = stall.as_millis() as u64;
        c.watch_buffer_bytes = 64 * 1024;
    }))
    .await;
    // A client with tiny flow-control windows that never reads.
    let endpoint = Endpoint::from_shared(format!("http://{}", app.addr))
        .unwrap()
        .initial_stream_window_size(Some(1024))
        .initial_connection_window_size(Some(1024));
    let mut stalled_client = connect_endpoint(endpoint).await;
    let mut stalled = stalled_client
        .watch_updates(pb::WatchUpdatesRequest {
            start_revision: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut fast = watch_from(&app, 1).await;

    let n = 100;
    let started = std::time::Instant::now();
    write_big(&app, n).await;
    for expected in 1..=n as i64 {
        assert_eq!(next_change(&mut fast).await.revision, expected);
    }
    // Every write committed and the fast watcher has them all while the
    // stalled watcher is still open: nothing waited for it (had anything,
    // nothing could have finished before its stall timeout cut it off).
    let stats = &app.watch_stats;
    assert_eq!(
        stats.open.get(),
        2,
        "both watches still open after {:?}",
        started.elapsed()
    );
    assert_eq!(stats.too_slow.get(), 0);
    // What the stalled watcher pins is bounded in bytes.
    assert!(stats.max_buffered_bytes.load(Ordering::Relaxed) <= 64 * 1024);
    // Well past the stall timeout the stalled watch has been ended. Reading
    // now yields what was buffered, in order, then a resumable status.
    tokio::time::sleep(stall + Duration::from_millis(800)).await;
    assert_eq!(stats.too_slow.get(), 1);
    let mut last = 0;
    let status = loop {
        match stalled.message().await {
            Ok(Some(pb::WatchUpdatesResponse {
                kind: Some(Kind::Change(c)),
            })) => {
                assert_eq!(c.revision, last + 1);
                last = c.revision;
            }
            Ok(Some(_)) => {}
            Ok(None) => panic!("the stream ended without a status"),
            Err(status) => break status,
        }
    };
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let info = error_info(&status);
    assert_eq!(info.reason, "WATCHER_TOO_SLOW");
    let resume: i64 = info.metadata["resume_revision"].parse().unwrap();
    assert_eq!(
        resume,
        last + 1,
        "resume exactly after the last delivered revision"
    );
    assert!(
        last < n as i64,
        "the stalled watcher was cut off before the end"
    );
    // Resuming gets exactly the rest.
    let mut resumed = watch_from(&app, resume).await;
    for expected in resume..=n as i64 {
        assert_eq!(next_change(&mut resumed).await.revision, expected);
    }
}

#[tokio::test]
async fn a_watcher_behind_the_live_buffer_catches_up_from_the_changelog() {
    // The live buffer holds many events by count but few by bytes, and so
    // does the watch's own buffer: large events push a slow watcher out.
    let app = spawn_with(test_config_with(|c| {
        c.feed_buffer = 4096;
        c.feed_buffer_bytes = 64 * 1024;
        c.watch_buffer_bytes = 64 * 1024;
    }))
    .await;
    // A client with small flow-control windows, so the transport holds
    // little either.
    let endpoint = Endpoint::from_shared(format!("http://{}", app.addr))
        .unwrap()
        .initial_stream_window_size(Some(64 * 1024))
        .initial_connection_window_size(Some(64 * 1024));
    let mut stream = connect_endpoint(endpoint)
        .await
        .watch_updates(pb::WatchUpdatesRequest::default())
        .await
        .unwrap()
        .into_inner();
    // Large events, far more than the live buffer holds, before the client
    // reads: its task blocks on the transport and falls out of the buffer.
    write_big(&app, 60).await;
    for expected in 1..=60 {
        assert_eq!(next_change(&mut stream).await.revision, expected);
    }
    assert!(
        app.watch_stats.catch_ups.get() > 0,
        "the watcher never fell behind the live buffer: the test proves nothing"
    );
}

#[tokio::test]
async fn a_start_past_the_head_names_the_oldest_revision_still_kept() {
    let app = spawn_with(test_config_with(|c| c.changelog_retention = 10)).await;
    write_n(&app, 130).await;
    let oldest = app.query::<i64>("SELECT min(revision) FROM changelog")[0][0];
    assert!(oldest > 1, "the changelog was pruned");
    let status = app
        .client
        .clone()
        .watch_updates(pb::WatchUpdatesRequest {
            start_revision: 200,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_status(&status, Code::OutOfRange, "REVISION_OUT_OF_RANGE");
    let info = error_info(&status);
    assert_eq!(info.metadata["oldest_revision"], oldest.to_string());
    assert_eq!(info.metadata["head_revision"], "130");
}

#[tokio::test]
async fn shutdown_ends_watches_with_a_resumable_unavailable() {
    let app = spawn_app().await;
    write_n(&app, 2).await;
    let mut stream = watch_from(&app, 1).await;
    next_change(&mut stream).await;
    next_change(&mut stream).await;
    let shutdown = tokio::spawn(app.shutdown());
    let status = loop {
        match tokio::time::timeout(Duration::from_secs(10), stream.message())
            .await
            .unwrap()
        {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("ended without a status"),
            Err(status) => break status,
        }
    };
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(error_info(&status).metadata["resume_revision"], "3");
    shutdown.await.unwrap();
}
