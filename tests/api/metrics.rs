//! `/metrics` scraped from the real server: gRPC counters and histograms
//! move with unary and streaming calls as they succeed and fail, on a
//! writer and on an edge, and the domain metrics follow the writes and
//! watches.

use std::net::SocketAddr;
use std::time::Duration;

use duckgrid::config::Role;
use duckgrid::proto::v1 as pb;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Code;

use crate::helpers::*;
use crate::redis_feed::next_change_within;
use crate::redis_server::RedisServer;
use crate::watching::watch;

/// The server's metrics text, fetched over plain HTTP.
pub async fn scrape(addr: SocketAddr) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    body.to_owned()
}

/// The value of the sample `name` whose labels include `labels` (0 when
/// there is none: a counter never incremented is not shown).
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let mut found = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let (metric, rest) = series.split_once('{').unwrap_or((series, "}"));
        if metric != name {
            continue;
        }
        let rest = rest.trim_end_matches('}');
        let has = |(k, v): &(&str, &str)| {
            rest.split(',')
                .any(|pair| pair == format!("{k}=\"{v}\"").as_str())
        };
        if labels.iter().all(has) {
            found.push(value.parse::<f64>().unwrap());
        }
    }
    assert!(found.len() <= 1, "{name} {labels:?} matches {found:?}");
    found.first().copied().unwrap_or(0.0)
}

/// `grpc_server_handled_total` of a GridService method with a final code.
fn handled(text: &str, method: &str, code: &str) -> f64 {
    sample(
        text,
        "grpc_server_handled_total",
        &grid_call(method, Some(code)),
    )
}

fn grid_call<'a>(method: &'a str, code: Option<&'a str>) -> Vec<(&'a str, &'a str)> {
    let mut labels = vec![
        ("grpc_service", "duckgrid.v1.GridService"),
        ("grpc_method", method),
    ];
    if let Some(code) = code {
        labels.push(("grpc_code", code));
    }
    labels
}

/// Polls the metrics until `check` holds (a stream's end is counted when
/// the server notices it, a moment after the client's).
async fn eventually(addr: SocketAddr, what: &str, check: impl Fn(&str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = scrape(addr).await;
        if check(&text) {
            return text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} never held:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn with_metrics(c: &mut duckgrid::Config) {
    c.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_writer_counts_calls_by_code_streams_at_their_end_and_its_writes() {
    let app = spawn_with(test_config_with(with_metrics)).await;
    let addr = app.metrics.expect("metrics are served");
    let before = scrape(addr).await;
    assert_eq!(
        sample(
            &before,
            "grpc_server_started_total",
            &grid_call("UpdateCell", None)
        ),
        0.0
    );

    // A live watch, then one write that commits and one that is refused.
    let mut stream = watch(&app, pb::WatchUpdatesRequest::default()).await;
    let ok = app
        .update(set(cell(PRODUCT, &[], "total", "quantity"), "12345"))
        .await
        .unwrap();
    let status = app
        .update(set(cell("sheets/nope", &[], "total", "quantity"), "1"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(
        next_change_within(&mut stream, 5).await.revision,
        ok.revision
    );

    let text = scrape(addr).await;
    let update = grid_call("UpdateCell", None);
    assert_eq!(sample(&text, "grpc_server_started_total", &update), 2.0);
    assert_eq!(handled(&text, "UpdateCell", "OK"), 1.0);
    assert_eq!(handled(&text, "UpdateCell", "NotFound"), 1.0);
    assert_eq!(
        sample(&text, "grpc_server_handling_seconds_count", &update),
        2.0
    );
    assert_eq!(
        sample(
            &text,
            "grpc_server_handling_seconds_bucket",
            &[&update[..], &[("le", "+Inf")]].concat()
        ),
        2.0
    );
    // Only the answer that succeeded carried a message.
    assert_eq!(sample(&text, "grpc_server_msg_sent_total", &update), 1.0);
    assert_eq!(
        sample(
            &text,
            "duckgrid_writes_refused_total",
            &[("reason", "NOT_FOUND")]
        ),
        1.0
    );
    assert_eq!(
        sample(&text, "duckgrid_head_revision", &[]),
        ok.revision as f64
    );
    assert_eq!(
        sample(&text, "duckgrid_commit_group_requests_count", &[]),
        1.0
    );
    assert_eq!(sample(&text, "duckgrid_commit_seconds_count", &[]), 1.0);
    assert_eq!(
        sample(&text, "duckgrid_write_facts_changed_count", &[]),
        1.0
    );
    assert!(sample(&text, "duckgrid_write_facts_changed_sum", &[]) >= 1.0);
    assert_eq!(sample(&text, "duckgrid_watch_streams", &[]), 1.0);
    assert_eq!(sample(&text, "duckgrid_watch_events_sent_total", &[]), 1.0);
    // The open stream has started, and is not handled yet.
    let watching = grid_call("WatchUpdates", None);
    assert_eq!(
        sample(
            &text,
            "grpc_server_started_total",
            &[&watching[..], &[("grpc_type", "server_stream")]].concat()
        ),
        1.0
    );
    assert_eq!(
        sample(&text, "grpc_server_handling_seconds_count", &watching),
        0.0
    );
    assert!(sample(&text, "grpc_server_msg_sent_total", &watching) >= 1.0);

    // A watch refused before it starts is a trailers-only answer...
    let status = app
        .client
        .clone()
        .watch_updates(pb::WatchUpdatesRequest {
            start_revision: ok.revision + 1000,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::OutOfRange);
    // ...and a watch whose client goes away ends as Canceled. The gRPC
    // layer counts it when the response is dropped; the open-streams gauge
    // falls when the watch's own task notices, a moment later: wait for both.
    drop(stream);
    let text = eventually(addr, "the dropped watch is counted", |t| {
        handled(t, "WatchUpdates", "Canceled") == 1.0
            && sample(t, "duckgrid_watch_streams", &[]) == 0.0
    })
    .await;
    assert_eq!(handled(&text, "WatchUpdates", "OutOfRange"), 1.0);
    assert_eq!(
        sample(&text, "grpc_server_handling_seconds_count", &watching),
        2.0
    );
    // A path nobody serves is no new label value.
    assert!(!text.contains("sheets/nope"));
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_edge_counts_what_it_serves_and_forwards_and_its_writer_what_it_got() {
    let mut redis = RedisServer::start(false);
    let url = redis.url();
    let writer = spawn_with(test_config_with(|c| {
        with_metrics(c);
        c.redis_url = Some(url.clone());
    }))
    .await;
    let writer_url = format!("http://{}", writer.addr);
    let edge = spawn_with(test_config_with(|c| {
        with_metrics(c);
        c.role = Role::Edge;
        c.writer = Some(writer_url);
        c.redis_url = Some(url);
    }))
    .await;
    await_health(&edge, GRID, SERVING).await;
    let (edge_metrics, writer_metrics) = (edge.metrics.unwrap(), writer.metrics.unwrap());

    let mut stream = watch(&edge, pb::WatchUpdatesRequest::default()).await;
    let mut client = edge.client.clone();
    let ok = update(
        &mut client,
        set(cell(PRODUCT, &[], "total", "quantity"), "777"),
        "",
    )
    .await
    .unwrap();
    let refused = update(
        &mut client,
        set(cell(PRODUCT, &[], "nope", "quantity"), "1"),
        "",
    )
    .await
    .unwrap_err();
    assert_eq!(refused.code(), Code::NotFound);
    assert_eq!(
        next_change_within(&mut stream, 10).await.revision,
        ok.revision
    );

    let text = eventually(edge_metrics, "the edge sees the head", |t| {
        sample(t, "duckgrid_head_revision", &[]) == ok.revision as f64
    })
    .await;
    assert_eq!(handled(&text, "UpdateCell", "OK"), 1.0);
    assert_eq!(handled(&text, "UpdateCell", "NotFound"), 1.0);
    assert_eq!(
        sample(
            &text,
            "duckgrid_writes_refused_total",
            &[("reason", "NOT_FOUND")]
        ),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            "duckgrid_edge_forward_seconds_count",
            &[("grpc_method", "UpdateCell")]
        ),
        2.0
    );
    assert_eq!(sample(&text, "duckgrid_watch_streams", &[]), 1.0);
    assert!(sample(&text, "duckgrid_watch_events_sent_total", &[]) >= 1.0);
    // The edge's writer answered the forwarded calls and counted them too.
    let at_writer = scrape(writer_metrics).await;
    assert_eq!(handled(&at_writer, "UpdateCell", "OK"), 1.0);
    assert_eq!(
        sample(&at_writer, "duckgrid_redis_relay_lag_revisions", &[]),
        0.0
    );

    // Without its writer, a forwarded call fails on the way and says so.
    writer.shutdown().await;
    let mut request = tonic::Request::new(pb::GetSheetRequest {
        name: PRODUCT.into(),
        ..Default::default()
    });
    request.set_timeout(Duration::from_secs(1));
    let status = client.get_sheet(request).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    let text = scrape(edge_metrics).await;
    assert_eq!(
        sample(
            &text,
            "duckgrid_edge_forward_failures_total",
            &[("grpc_method", "GetSheet")]
        ),
        1.0
    );
    assert_eq!(handled(&text, "GetSheet", "Unavailable"), 1.0);
    // Redis lost and back: the edge's reader counts the errors and the
    // reconnection.
    redis.kill();
    eventually(edge_metrics, "the reader's Redis errors are counted", |t| {
        sample(t, "duckgrid_redis_errors_total", &[("part", "reader")]) >= 1.0
    })
    .await;
    redis.restart();
    eventually(edge_metrics, "the reader's reconnection is counted", |t| {
        sample(t, "duckgrid_redis_reader_reconnects_total", &[]) >= 1.0
    })
    .await;
    drop(stream);
    edge.shutdown().await;
}
