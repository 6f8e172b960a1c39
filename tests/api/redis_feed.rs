//! The Redis Streams feed: fan-out across a writer and edge processes,
//! through Redis outages (with and without its data), resume from the
//! stream, the changelog, or not at all.

use std::collections::HashMap;
use std::time::Duration;

use duckgrid::config::Role;
use duckgrid::proto::v1::{self as pb, watch_updates_response::Kind};
use fred::prelude::{ClientLike, StreamsInterface};
use tonic::{Code, Streaming};

use crate::helpers::*;
use crate::redis_server::RedisServer;
use crate::watching::{watch, watch_from};

pub async fn spawn_writer(
    redis: &RedisServer,
    tweak: impl FnOnce(&mut duckgrid::Config),
) -> TestApp {
    let url = redis.url();
    spawn_with(test_config_with(|c| {
        c.redis_url = Some(url);
        tweak(c);
    }))
    .await
}

/// An edge of `writer`, once it has reached the writer (its grid service
/// reports SERVING).
pub async fn spawn_edge(writer: &TestApp, redis: &RedisServer) -> TestApp {
    let (url, writer) = (redis.url(), format!("http://{}", writer.addr));
    let edge = spawn_with(test_config_with(|c| {
        c.role = Role::Edge;
        c.writer = Some(writer);
        c.redis_url = Some(url);
    }))
    .await;
    await_health(&edge, GRID, SERVING).await;
    edge
}

/// The next change event within `secs` seconds (progress skipped).
pub async fn next_change_within(
    stream: &mut Streaming<pb::WatchUpdatesResponse>,
    secs: u64,
) -> pb::ChangeEvent {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let message = tokio::time::timeout_at(deadline, stream.message())
            .await
            .unwrap_or_else(|_| panic!("no change within {secs} s"))
            .expect("a healthy stream")
            .expect("an open stream");
        match message.kind {
            Some(Kind::Change(c)) => return c,
            Some(Kind::Progress(_)) => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// Reads changes until revision `last`, asserting each arrives once, in order.
pub async fn expect_revisions(
    stream: &mut Streaming<pb::WatchUpdatesResponse>,
    first: i64,
    last: i64,
    secs: u64,
) {
    for expected in first..=last {
        assert_eq!(next_change_within(stream, secs).await.revision, expected);
    }
}

/// `n` writes to distinct leaves, through `client`.
pub async fn write_leaves(
    app: &TestApp,
    client: &mut duckgrid::proto::v1::grid_service_client::GridServiceClient<
        tonic::transport::Channel,
    >,
    n: usize,
    offset: usize,
) -> Vec<i64> {
    let grid = app.grid(PRODUCT).await;
    let leaves: Vec<Vec<String>> = rows_at(&grid, 3).iter().map(|r| r.path.clone()).collect();
    let mut revisions = Vec::new();
    for i in 0..n {
        let path = &leaves[(offset + i * 7) % leaves.len()];
        let edit = set(
            cell(PRODUCT, path, "2024-11", "quantity"),
            &(offset + i + 1).to_string(),
        );
        revisions.push(
            update(client, edit, "")
                .await
                .expect("the write commits")
                .revision,
        );
    }
    revisions
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn watchers_on_the_writer_and_two_edges_see_the_same_sequence() {
    let redis = RedisServer::start(false);
    let writer = spawn_writer(&redis, |_| {}).await;
    let edges = [
        spawn_edge(&writer, &redis).await,
        spawn_edge(&writer, &redis).await,
    ];

    // Snapshot-first watchers on every process: they keep local copies.
    let mut watchers = Vec::new();
    for app in [&writer, &edges[0], &edges[1]] {
        let mut stream = watch(
            app,
            pb::WatchUpdatesRequest {
                sheet: PRODUCT.into(),
                send_snapshot: true,
                ..Default::default()
            },
        )
        .await;
        let Some(Kind::Snapshot(grid)) = stream.message().await.unwrap().unwrap().kind else {
            panic!("a snapshot first")
        };
        assert_eq!(grid.revision, 0);
        watchers.push((stream, Cells::of(&grid)));
    }

    // Four clients write at once, through the writer and through the edges.
    let mut tasks = Vec::new();
    for (i, app) in [&writer, &edges[0], &edges[1], &writer]
        .into_iter()
        .enumerate()
    {
        let mut client = app.new_client().await;
        let grid = writer.grid(PRODUCT).await;
        let leaves: Vec<Vec<String>> = rows_at(&grid, 3).iter().map(|r| r.path.clone()).collect();
        tasks.push(tokio::spawn(async move {
            for k in 0..10 {
                let path = &leaves[(i * 13 + k * 5) % leaves.len()];
                let measure = if k % 2 == 0 { "quantity" } else { "net_amount" };
                let edit = set(
                    cell(PRODUCT, path, "2025-03", measure),
                    &(i * 100 + k + 1).to_string(),
                );
                update(&mut client, edit, "").await.expect("write");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(writer.head().await, 40);

    let expected = Cells::of(&writer.grid(PRODUCT).await);
    let mut sequences = Vec::new();
    for (stream, local) in &mut watchers {
        let mut seen = Vec::new();
        for r in 1..=40 {
            let change = next_change_within(stream, 20).await;
            assert_eq!(change.revision, r, "every revision once, in order");
            local.apply(PRODUCT, &change);
            seen.push(change);
        }
        assert_eq!(
            local, &expected,
            "the local copy equals GetSheet on the writer"
        );
        sequences.push(seen);
    }
    assert_eq!(
        sequences[0], sequences[1],
        "the writer and edge 1 saw identical events"
    );
    assert_eq!(
        sequences[0], sequences[2],
        "the writer and edge 2 saw identical events"
    );
    // Reads through an edge are the writer's, and so are its errors.
    assert_eq!(edges[0].grid(REGION).await, writer.grid(REGION).await);
    let status = edges[1]
        .update(set(cell("sheets/nope", &[], "total", "quantity"), "1"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert_eq!(writer.head().await, 40, "nothing applied");
}

async fn survive_a_redis_crash(persistent: bool) {
    let mut redis = RedisServer::start(persistent);
    let writer = spawn_writer(&redis, |_| {}).await;
    let edge = spawn_edge(&writer, &redis).await;
    let mut on_writer = watch(&writer, pb::WatchUpdatesRequest::default()).await;
    let mut on_edge = watch(&edge, pb::WatchUpdatesRequest::default()).await;
    let mut client = writer.new_client().await;

    assert_eq!(
        write_leaves(&writer, &mut client, 10, 0).await,
        (1..=10).collect::<Vec<_>>()
    );
    expect_revisions(&mut on_edge, 1, 10, 20).await;

    redis.kill();
    // Writes keep committing while Redis is down.
    assert_eq!(
        write_leaves(&writer, &mut client, 10, 10).await,
        (11..=20).collect::<Vec<_>>()
    );
    let mut health = tonic_health::pb::health_client::HealthClient::new(
        tonic::transport::Endpoint::from_shared(format!("http://{}", writer.addr))
            .unwrap()
            .connect()
            .await
            .unwrap(),
    );
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .status;
    assert_eq!(status, 1, "SERVING while writes work");

    redis.restart();
    assert_eq!(
        write_leaves(&writer, &mut client, 10, 20).await,
        (21..=30).collect::<Vec<_>>()
    );

    // Nothing lost, nothing twice, in order, on both processes.
    expect_revisions(&mut on_writer, 1, 30, 30).await;
    expect_revisions(&mut on_edge, 11, 30, 30).await;
    // The stream has every revision again, once (republished from the
    // changelog when the data was lost).
    assert_eq!(
        stream_ids_through(&redis, 30).await,
        (1..=30).map(|r| format!("{r}-0")).collect::<Vec<_>>()
    );
}

/// The stream's entry ids once its last one is `last` (watchers may get
/// revisions from the changelog before the relay has published them; ids
/// only grow, so nothing older can be added after `last`).
pub async fn stream_ids_through(redis: &RedisServer, last: i64) -> Vec<String> {
    const IDS: &str = "local ids = {} for _, e in ipairs(redis.call('XRANGE', KEYS[1], '-', '+')) do ids[#ids + 1] = e[1] end return ids";
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let ids: Vec<String> = redis
            .cli(&["EVAL", IDS, "1", "duckgrid:grid:changes"])
            .lines()
            .map(str::to_owned)
            .collect();
        if ids.last().is_some_and(|id| *id == format!("{last}-0")) {
            return ids;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the relay did not publish revision {last}: {ids:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redis_crash_with_its_data_kept_loses_nothing() {
    survive_a_redis_crash(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redis_crash_that_loses_its_data_loses_nothing() {
    survive_a_redis_crash(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn resumes_come_from_the_stream_then_the_changelog_then_out_of_range() {
    let redis = RedisServer::start(false);
    // A short stream and a changelog of 200 revisions (pruned every 64).
    let writer = spawn_writer(&redis, |c| {
        c.redis_maxlen = 5;
        c.changelog_retention = 200;
    })
    .await;
    let edge = spawn_edge(&writer, &redis).await;
    let mut client = writer.new_client().await;
    let n = 300;
    write_leaves(&writer, &mut client, n, 0).await;
    let head = n as i64;

    // Wait for the relay to publish everything, then look at the stream.
    let mut probe = watch_from(&edge, head).await;
    assert_eq!(next_change_within(&mut probe, 20).await.revision, head);
    let first_line = redis.cli(&["XRANGE", "duckgrid:grid:changes", "-", "+", "COUNT", "1"]);
    let first_in_stream: i64 = first_line
        .lines()
        .next()
        .unwrap()
        .trim_end_matches("-0")
        .parse()
        .unwrap();
    let oldest_in_changelog = writer.query::<i64>("SELECT min(revision) FROM changelog")[0][0];
    assert!(
        first_in_stream > oldest_in_changelog + 10,
        "stream from {first_in_stream}, changelog from {oldest_in_changelog}"
    );

    // Retained by the stream: exactly the missing revisions.
    let from = first_in_stream + 1;
    let mut resumed = watch_from(&edge, from).await;
    expect_revisions(&mut resumed, from, head, 20).await;
    // Older than the stream: served from the writer's changelog, seamlessly.
    let from = oldest_in_changelog + 5;
    let mut resumed = watch_from(&edge, from).await;
    expect_revisions(&mut resumed, from, head, 20).await;
    // Older than anything kept: OUT_OF_RANGE with the oldest and head.
    for app in [&writer, &edge] {
        let mut stream = watch_from(app, 2).await;
        let status = loop {
            match tokio::time::timeout(Duration::from_secs(20), stream.message())
                .await
                .unwrap()
            {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("ended without a status"),
                Err(status) => break status,
            }
        };
        assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
        let info = error_info(&status);
        assert_eq!(
            info.metadata["oldest_revision"],
            oldest_in_changelog.to_string()
        );
        assert_eq!(info.metadata["head_revision"], head.to_string());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stream_entries_are_readable_without_grpc() {
    let redis = RedisServer::start(false);
    let writer = spawn_writer(&redis, |_| {}).await;
    let mut request = tonic::Request::new(pb::UpdateCellRequest {
        edit: Some(set(
            cell(PRODUCT, &[], "2024-05", "net_amount"),
            "123456.78",
        )),
        request_id: "req-7".into(),
    });
    request
        .metadata_mut()
        .insert("x-duckgrid-actor", "bob".parse().unwrap());
    writer.client.clone().update_cell(request).await.unwrap();
    let mut client = writer.new_client().await;
    write_leaves(&writer, &mut client, 2, 0).await;

    // One entry per revision, id <revision>-0.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while redis.cli(&["XLEN", "duckgrid:grid:changes"]).trim() != "3" {
        assert!(std::time::Instant::now() < deadline, "the relay publishes");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ids = redis.cli(&["XRANGE", "duckgrid:grid:changes", "-", "+"]);
    for id in ["1-0", "2-0", "3-0"] {
        assert!(ids.lines().any(|l| l == id), "{id} in {ids}");
    }
    // The documented fields, read by a plain Redis client.
    let plain = fred::prelude::Client::new(
        fred::prelude::Config::from_url(&redis.url()).unwrap(),
        None,
        None,
        None,
    );
    plain.init().await.unwrap();
    let entries: Vec<(String, HashMap<String, fred::prelude::Value>)> = plain
        .xrange_values("duckgrid:grid:changes", "1-0", "1-0", None)
        .await
        .unwrap();
    let (id, fields) = &entries[0];
    assert_eq!(id, "1-0");
    let text = |k: &str| fields[k].as_str().unwrap().into_owned();
    assert_eq!(text("revision"), "1");
    assert_eq!(text("actor"), "bob");
    assert_eq!(text("request_id"), "req-7");
    assert!(chrono::DateTime::parse_from_rfc3339(&text("time")).is_ok());
    let json: serde_json::Value = serde_json::from_str(&text("json")).unwrap();
    assert_eq!(json["revision"], "1");
    assert_eq!(json["edits"][0]["value"], "123456.78");
    assert_eq!(json["changes"][0]["sheet"], PRODUCT);
    let event =
        <pb::ChangeEvent as prost::Message>::decode(fields["event"].as_bytes().unwrap()).unwrap();
    assert_eq!(event.revision, 1);
    assert_eq!(event.results[0].new_value, "123456.78");
    // The JSON carries what the event does (a write's values before).
    let first = &event.changes[0].cells[0];
    assert_eq!(json["changes"][0]["cells"][0]["value"], first.value);
    assert_eq!(
        json["changes"][0]["cells"][0]["previousValue"],
        first.previous_value
    );
    assert_eq!(json["revertsRevision"], "0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stalled_edge_subscriber_delays_nobody() {
    let redis = RedisServer::start(false);
    let writer = spawn_writer(&redis, |c| c.feed_buffer = 8).await;
    let edge = spawn_with(test_config_with(|c| {
        c.role = Role::Edge;
        c.writer = Some(format!("http://{}", writer.addr));
        c.redis_url = Some(redis.url());
        c.feed_buffer = 8;
        c.watch_stall_timeout_ms = 300;
    }))
    .await;
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{}", edge.addr))
        .unwrap()
        .initial_stream_window_size(Some(1024))
        .initial_connection_window_size(Some(1024));
    let mut stalled = connect_endpoint(endpoint)
        .await
        .watch_updates(pb::WatchUpdatesRequest {
            start_revision: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut fast = watch_from(&edge, 1).await;
    // Large events (grand-total writes) fill the stalled client's buffers.
    let n = 80;
    for i in 0..n {
        let month = format!("2025-{:02}", 1 + i % 12);
        writer
            .update(set(
                cell(PRODUCT, &[], &month, "net_amount"),
                &format!("{}.00", 200_000 + i),
            ))
            .await
            .unwrap();
    }
    expect_revisions(&mut fast, 1, n as i64, 20).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
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
            Ok(None) => panic!("ended without a status"),
            Err(status) => break status,
        }
    };
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert_eq!(
        error_info(&status).metadata["resume_revision"],
        (last + 1).to_string()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stream_of_another_database_is_refused() {
    let redis = RedisServer::start(false);
    let writer = spawn_writer(&redis, |_| {}).await;
    writer
        .update(set(cell(PRODUCT, &[], "2024-05", "quantity"), "90000"))
        .await
        .unwrap();
    stream_ids_through(&redis, 1).await;
    drop(writer);
    // A new in-memory database (head 0) with the old stream: its revision 1
    // would be mistaken for the one already there.
    let error = duckgrid::Server::bind(test_config_with(|c| c.redis_url = Some(redis.url())))
        .await
        .err()
        .expect("the writer refuses to start");
    assert!(
        format!("{error:#}").contains("belongs to another database"),
        "{error:#}"
    );
    // Another stream on the same Redis is fine.
    let other = spawn_writer(&redis, |c| c.redis_stream = "duckgrid:other:changes".into()).await;
    assert_eq!(other.head().await, 0);
}
