//! Edges and their writer: forwarding that keeps the contract when the
//! writer is away, "from now on" meaning the writer's now, watches that do
//! not lean on the writer, and health that says whether writes can succeed.

use std::time::Duration;

use duckgrid::config::Role;
use duckgrid::proto::v1::{self as pb, watch_updates_response::Kind};
use tonic::Code;

use crate::helpers::*;
use crate::redis_feed::{next_change_within, spawn_edge, spawn_writer, write_leaves};
use crate::redis_server::RedisServer;
use crate::watching::watch;

/// An edge whose writer is at `writer` (which may not be listening).
async fn spawn_edge_to(writer: &str, redis: &RedisServer) -> TestApp {
    let (url, writer) = (redis.url(), writer.to_owned());
    spawn_with(test_config_with(|c| {
        c.role = Role::Edge;
        c.writer = Some(writer);
        c.redis_url = Some(url);
    }))
    .await
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn with_timeout<T>(message: T, timeout: Duration) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(timeout);
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_forwarded_call_without_its_writer_is_writer_unavailable_with_a_safe_retry_id() {
    let redis = RedisServer::start(false);
    let edge = spawn_edge_to(&format!("http://127.0.0.1:{}", closed_port()), &redis).await;
    let mut client = edge.client.clone();
    let status = client
        .get_sheet(with_timeout(
            pb::GetSheetRequest {
                name: PRODUCT.into(),
                ..Default::default()
            },
            Duration::from_secs(2),
        ))
        .await
        .unwrap_err();
    assert_status(&status, Code::Unavailable, "WRITER_UNAVAILABLE");
    let status = client
        .update_cell(with_timeout(
            pb::UpdateCellRequest {
                edit: Some(set(cell(PRODUCT, &[], "total", "quantity"), "1")),
                request_id: String::new(),
            },
            Duration::from_secs(2),
        ))
        .await
        .unwrap_err();
    assert_status(&status, Code::Unavailable, "WRITER_UNAVAILABLE");
    let id = &error_info(&status).metadata["request_id"];
    assert!(id.starts_with("edge-"), "{id}");
    // A client's own request id is the one to retry with.
    let status = client
        .update_cell(with_timeout(
            pb::UpdateCellRequest {
                edit: Some(set(cell(PRODUCT, &[], "total", "quantity"), "1")),
                request_id: "mine".into(),
            },
            Duration::from_secs(2),
        ))
        .await
        .unwrap_err();
    assert_eq!(error_info(&status).metadata["request_id"], "mine");
    await_health(&edge, GRID, NOT_SERVING).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_write_through_an_edge_survives_a_writer_restart_and_applies_once() {
    let redis = RedisServer::start(false);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("grid.duckdb").display().to_string();
    let writer_config = |port: u16| {
        let (url, db) = (redis.url(), db.clone());
        test_config_with(move |c| {
            c.redis_url = Some(url);
            c.db = db;
            c.listen = format!("127.0.0.1:{port}").parse().unwrap();
        })
    };
    let writer = spawn_with(writer_config(0)).await;
    let port = writer.addr.port();
    let edge = spawn_edge(&writer, &redis).await;
    await_health(&edge, GRID, SERVING).await;
    let grid = writer.grid(PRODUCT).await;
    let family = first_leaf_with_value(&grid, "2024-03", "quantity")
        .path
        .clone();
    writer.shutdown().await;
    // The call starts while the writer is down and ends once it is back.
    let mut client = edge.client.clone();
    let call = tokio::spawn(async move {
        client
            .update_cell(with_timeout(
                pb::UpdateCellRequest {
                    edit: Some(set(cell(PRODUCT, &family, "2024-03", "quantity"), "4242")),
                    request_id: String::new(),
                },
                Duration::from_secs(20),
            ))
            .await
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    let writer = spawn_with(writer_config(port)).await;
    let response = call.await.unwrap().expect("the write commits").into_inner();
    assert_eq!(response.revision, 1);
    assert_eq!(writer.head().await, 1, "applied once");
    let ids = writer.query::<String>("SELECT request_id FROM changelog");
    assert!(ids[0][0].starts_with("edge-"), "{ids:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn from_now_on_on_a_new_edge_is_the_writers_head() {
    let redis = RedisServer::start(false);
    let writer = spawn_writer(&redis, |_| {}).await;
    let mut client = writer.new_client().await;
    write_leaves(&writer, &mut client, 20, 0).await;
    // A fresh edge, asked at once, before its reader has read anything.
    let edge = spawn_edge(&writer, &redis).await;
    let mut stream = watch(&edge, pb::WatchUpdatesRequest::default()).await;
    let next = write_leaves(&writer, &mut client, 1, 20).await[0];
    assert_eq!(next, 21);
    assert_eq!(
        next_change_within(&mut stream, 20).await.revision,
        21,
        "nothing committed before the call"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_edge_serves_known_watches_while_its_writer_is_away() {
    let redis = RedisServer::start(false);
    let writer = spawn_writer(&redis, |_| {}).await;
    let edge = spawn_edge(&writer, &redis).await;
    let mut client = writer.new_client().await;
    write_leaves(&writer, &mut client, 5, 0).await;
    let selection = pb::WatchUpdatesRequest {
        sheet: PRODUCT.into(),
        measures: strings(&["quantity"]),
        start_revision: 1,
        ..Default::default()
    };
    // The edge has seen the sheets and this selection once...
    let mut first = watch(&edge, selection.clone()).await;
    for r in 1..=5 {
        assert_eq!(next_change_within(&mut first, 20).await.revision, r);
    }
    writer.shutdown().await;
    // ...so with the writer gone it still starts the same watch, a watch of
    // everything, and keeps caught-up watchers alive with progress.
    for request in [
        pb::WatchUpdatesRequest {
            start_revision: 6,
            ..selection
        },
        pb::WatchUpdatesRequest {
            start_revision: 6,
            ..Default::default()
        },
    ] {
        let mut stream = watch(&edge, request).await;
        for _ in 0..3 {
            let message = tokio::time::timeout(Duration::from_secs(5), stream.message())
                .await
                .expect("a message")
                .expect("the watch goes on without the writer")
                .expect("open");
            assert!(matches!(message.kind, Some(Kind::Progress(_))));
        }
    }
    let message = tokio::time::timeout(Duration::from_secs(5), first.message())
        .await
        .unwrap();
    assert!(message.is_ok(), "the caught-up watch goes on: {message:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_edges_grid_health_follows_its_writer() {
    let redis = RedisServer::start(false);
    let writer = spawn_writer(&redis, |_| {}).await;
    let edge = spawn_edge(&writer, &redis).await;
    await_health(&edge, GRID, SERVING).await;
    writer.shutdown().await;
    await_health(&edge, GRID, NOT_SERVING).await;
    // Watches can still be served: the process as a whole is up.
    assert_eq!(health(&edge, "").await, SERVING);
}
