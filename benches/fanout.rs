//! Fan-out benchmark: prints figures, asserts nothing.
//!
//! `cargo bench --profile dev --bench fanout`. One writer and two edges (the
//! real `duckgrid` binary, three processes) share a real `redis-server`
//! started here on a loopback port. Subscribers (default 1,000) watch a sheet
//! each, spread evenly over the three processes, while the writer commits
//! leaf edits at a steady rate (default 500 revisions/s) for a fixed time.
//! Every subscriber checks that it receives every revision once, in order;
//! the figures are the commit-to-receive latency (from the event's
//! `commit_time`, taken just before the writer's COMMIT, to the subscriber
//! reading it) and delivered/expected counts. Subscribers read only each
//! change's revision and commit time (`common::light_watch`): they share
//! the machine with what they measure.
//!
//! The floor, first, in the same run: raw Redis, one producer XADDing
//! entries of the same size at the same rate while the same number of
//! readers each follow the stream with their own blocking XREAD.
//!
//! Settings (environment): `DUCKGRID_BENCH_SUBSCRIBERS` (1000),
//! `DUCKGRID_BENCH_RATE` (500 per second), `DUCKGRID_BENCH_SECONDS` (10),
//! `DUCKGRID_BENCH_FACTS` (20,000: the model's size hardly matters here).
//! `DUCKGRID_BENCH_QUICK=1` runs a brief smoke version for CI.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use duckgrid::proto::v1 as pb;
use fred::prelude::{ClientLike, Config, StreamsInterface, Value};
use fred::types::streams::XReadResponse;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

mod common;
use common::{CpuMeter, light_watch, ms, report};

#[path = "../tests/api/redis_server.rs"]
#[allow(dead_code)]
mod redis_server;

const PRODUCT: &str = "sheets/sales_by_product_family";
const REGION: &str = "sheets/sales_by_region";
/// Watch streams per HTTP/2 connection (servers allow 200 by default).
const STREAMS_PER_CONNECTION: usize = 50;
/// How long subscribers may take to drain after the last commit.
const DRAIN: Duration = Duration::from_secs(30);

struct Settings {
    subscribers: usize,
    rate: u64,
    seconds: u64,
    facts: u64,
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn settings() -> Settings {
    let quick = std::env::var("DUCKGRID_BENCH_QUICK").is_ok_and(|v| v == "1");
    let (subscribers, rate, seconds) = if quick { (60, 50, 3) } else { (1000, 500, 10) };
    Settings {
        subscribers: env_or("DUCKGRID_BENCH_SUBSCRIBERS", subscribers) as usize,
        rate: env_or("DUCKGRID_BENCH_RATE", rate).max(1),
        seconds: env_or("DUCKGRID_BENCH_SECONDS", seconds).max(1),
        facts: env_or("DUCKGRID_BENCH_FACTS", 20_000),
    }
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

fn since_micros(then: i64) -> Duration {
    Duration::from_micros((now_micros() - then).max(0) as u64)
}

/// What one subscriber saw.
#[derive(Default)]
struct Seen {
    latencies: Vec<Duration>,
    delivered: u64,
    /// Revisions out of order, repeated or missing.
    faults: u64,
}

impl Seen {
    /// Records revision `got` where `next` was expected.
    fn revision(&mut self, got: i64, next: &mut i64) {
        if got != *next {
            self.faults += 1;
        }
        *next = got + 1;
        self.delivered += 1;
    }
}

/// What a run's subscribers saw, over all of them.
struct Outcome {
    p99: Duration,
    /// Revisions per second the producer achieved.
    rate: f64,
    /// Every revision delivered to every subscriber once, in order.
    complete: bool,
    /// The CPU of the fan-out's source (Redis, for the floor) per delivery.
    cpu_per_delivery: Option<Duration>,
}

/// Totals over all subscribers, printed as one block.
fn summarise(
    name: &str,
    seen: Vec<Seen>,
    per_subscriber: u64,
    rate: f64,
    target: Option<&str>,
) -> Outcome {
    let subscribers = seen.len() as u64;
    let delivered: u64 = seen.iter().map(|s| s.delivered).sum();
    let faults: u64 = seen.iter().map(|s| s.faults).sum();
    let mut latencies: Vec<Duration> = seen.into_iter().flat_map(|s| s.latencies).collect();
    latencies.sort();
    let p99 = if latencies.is_empty() {
        Duration::MAX
    } else {
        common::percentile(&latencies, 0.99)
    };
    report(name, latencies, target);
    println!(
        "  delivered {delivered} of {} expected ({subscribers} subscribers x {per_subscriber}); out of order, repeated or missing: {faults}",
        subscribers * per_subscriber
    );
    Outcome {
        p99,
        rate,
        complete: faults == 0 && delivered == subscribers * per_subscriber,
        cpu_per_delivery: None,
    }
}

/// Calls `tick(i)` `rate` times a second for `seconds`, at most `in_flight`
/// at once (open loop: a slow call delays no later tick, up to the limit).
/// Returns how many ran and the achieved rate.
async fn paced<F, Fut>(rate: u64, seconds: u64, in_flight: usize, tick: F) -> (u64, f64)
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let total = rate * seconds;
    let permits = Arc::new(Semaphore::new(in_flight));
    let mut tasks = JoinSet::new();
    let mut interval = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    for i in 0..total {
        interval.tick().await;
        let permit = Arc::clone(&permits).acquire_owned().await.unwrap();
        let call = tick(i);
        tasks.spawn(async move {
            call.await;
            drop(permit);
        });
    }
    while tasks.join_next().await.is_some() {}
    (total, total as f64 / started.elapsed().as_secs_f64())
}

/// Raw Redis: XADD at `rate` to a stream that `readers` connections each
/// follow with a blocking XREAD.
async fn redis_floor(
    url: &str,
    redis_pid: u32,
    s: &Settings,
    payload: usize,
) -> anyhow::Result<Outcome> {
    const STREAM: &str = "bench:floor";
    let config = Config::from_url(url)?;
    let mut readers = JoinSet::new();
    let ready = Arc::new(Semaphore::new(0));
    let last = Arc::new(AtomicI64::new(i64::MAX));
    for _ in 0..s.subscribers {
        let client = fred::prelude::Client::new(config.clone(), None, None, None);
        client.init().await?;
        let (ready, last) = (Arc::clone(&ready), Arc::clone(&last));
        readers.spawn(async move {
            let mut seen = Seen::default();
            let mut next = 1;
            let mut after = "0-0".to_owned();
            ready.add_permits(1);
            while next <= last.load(Ordering::Acquire) {
                let reply: Value = match client
                    .xread(Some(512), Some(1_000), STREAM, after.clone())
                    .await
                {
                    Ok(reply) => reply,
                    Err(_) => break,
                };
                if reply.is_null() {
                    continue;
                }
                let response: XReadResponse<String, String, String, Value> =
                    reply.into_xread_response().unwrap();
                for (_, entries) in response {
                    for (id, fields) in entries {
                        let t: i64 = fields["t"].as_str().unwrap().parse().unwrap();
                        seen.latencies.push(since_micros(t));
                        let revision: i64 = id.split('-').next().unwrap().parse().unwrap();
                        seen.revision(revision, &mut next);
                        after = id;
                    }
                }
            }
            let _ = client.quit().await;
            seen
        });
    }
    // Every reader has issued (or is about to issue) its first XREAD.
    let _ = ready.acquire_many(s.subscribers as u32).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let producer = fred::prelude::Client::new(config, None, None, None);
    producer.init().await?;
    let cpu = CpuMeter::start(&[("redis", redis_pid), ("readers", std::process::id())]);
    let started = Instant::now();
    let body = vec![b'x'; payload];
    // One append at a time, as duckgrid's relay does (ids must grow).
    let (total, achieved) = paced(s.rate, s.seconds, 1, |i| {
        let (producer, body) = (producer.clone(), body.clone());
        async move {
            let fields: Vec<(&str, Value)> = vec![
                ("t", now_micros().to_string().into()),
                ("event", Value::Bytes(body.into())),
            ];
            let _: String = producer
                .xadd(STREAM, false, None, format!("{}-0", i + 1), fields)
                .await
                .unwrap();
        }
    })
    .await;
    last.store(total as i64, Ordering::Release);
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + DRAIN;
    while let Ok(Some(reader)) = tokio::time::timeout_at(deadline, readers.join_next()).await {
        seen.push(reader?);
    }
    readers.abort_all();
    println!(
        "raw redis: {total} entries of {payload} bytes at {achieved:.0}/s, {} readers",
        s.subscribers
    );
    let delivered: u64 = seen.iter().map(|s| s.delivered).sum();
    let mut outcome = summarise("floor: XADD -> XREAD latency", seen, total, achieved, None);
    println!("  {}", cpu.report(started.elapsed()));
    outcome.cpu_per_delivery = Some(cpu.used("redis") / delivered.max(1) as u32);
    producer.quit().await?;
    Ok(outcome)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let s = settings();
    println!(
        "duckgrid fan-out benchmark: {} subscribers over a writer and 2 edges, {} revisions/s for {} s, {} facts, {} cores",
        s.subscribers,
        s.rate,
        s.seconds,
        s.facts,
        std::thread::available_parallelism()?
    );
    let redis = redis_server::RedisServer::start(false);
    for (i, variant) in common::variants().iter().enumerate() {
        println!("-- {}: {}", variant.label, variant.bin.display());
        // Each binary gets an empty Redis.
        redis.cli(&["FLUSHALL"]);
        let (payload, outcome, edge_cpu) = run(&s, variant, &redis).await?;
        if i == 0 {
            let redis_pid = redis.pid().expect("redis runs");
            let floor = redis_floor(&redis.url(), redis_pid, &s, payload).await?;
            // What h2 does once per delivered event (see socket_floor).
            let write = common::socket_floor::cpu_per_write(payload, 16, 200_000)?;
            println!(
                "floor: one write of {payload} bytes to a loopback TCP connection: {:.1} us of the writer's CPU",
                write.as_secs_f64() * 1e6
            );
            targets(&s, &outcome, &floor, edge_cpu, write);
        }
    }
    Ok(())
}

/// Issue 14's fan-out rows of the targets table (`benches/targets.sh`).
fn targets(s: &Settings, duckgrid: &Outcome, floor: &Outcome, edge_cpu: Duration, write: Duration) {
    let (n, rate) = (s.subscribers, s.rate);
    let lost = |o: &Outcome| if o.complete { "" } else { ", some lost" };
    common::target_row(
        &format!("fan-out p99, {n} subscribers x {rate} revisions/s asked, writer + 2 edges"),
        &format!(
            "raw Redis p99 {} at {:.0}/s{}",
            ms(floor.p99),
            floor.rate,
            lost(floor)
        ),
        &format!(
            "{} at {:.0}/s{}",
            ms(duckgrid.p99),
            duckgrid.rate,
            lost(duckgrid)
        ),
        "<= 25 ms, nothing lost",
        duckgrid.complete && duckgrid.p99 <= Duration::from_millis(25),
    );
    let per_entry = floor.cpu_per_delivery.map_or(String::new(), |d| {
        format!("; raw Redis {:.1} us per entry", d.as_secs_f64() * 1e6)
    });
    common::target_row(
        &format!("edge CPU per delivered event, {n} subscribers"),
        &format!(
            "one loopback write of the event {:.1} us{per_entry}",
            write.as_secs_f64() * 1e6
        ),
        &format!("{:.1} us", edge_cpu.as_secs_f64() * 1e6),
        "<= 3 us",
        edge_cpu <= Duration::from_micros(3),
    );
}

/// The fan-out measurement against one binary; returns the typical event
/// size (for the Redis floor), what the subscribers saw, and the edges'
/// CPU per event they delivered.
async fn run(
    s: &Settings,
    variant: &common::Variant,
    redis: &redis_server::RedisServer,
) -> anyhow::Result<(usize, Outcome, Duration)> {
    let dir = tempfile::tempdir()?;
    let url = redis.url();

    let writer = variant
        .start(
            dir.path(),
            "writer",
            &[
                "--db",
                ":memory:",
                "--facts",
                &s.facts.to_string(),
                "--redis-url",
                &url,
            ],
        )
        .await?;
    let writer_url = format!("http://{}", writer.addr);
    let edge_args = [
        "--role",
        "edge",
        "--writer",
        &writer_url,
        "--redis-url",
        &url,
    ];
    let edges = [
        variant.start(dir.path(), "edge1", &edge_args).await?,
        variant.start(dir.path(), "edge2", &edge_args).await?,
    ];
    // The edits: leaf cells (family x month) in turn, and a warm-up that
    // also tells the size of a typical event.
    let mut client = writer.client().await?;
    let product = client
        .get_sheet(pb::GetSheetRequest {
            name: PRODUCT.into(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .grid
        .unwrap();
    let leaves: Arc<Vec<Vec<String>>> = Arc::new(
        product
            .rows
            .iter()
            .filter(|r| r.leaf)
            .map(|r| r.path.clone())
            .collect(),
    );
    let edit = {
        let leaves = Arc::clone(&leaves);
        move |i: u64| pb::UpdateCellRequest {
            edit: Some(pb::CellEdit {
                cell: Some(pb::CellRef {
                    sheet: PRODUCT.into(),
                    row_path: leaves[(i as usize * 7) % leaves.len()].clone(),
                    column: format!("{}-{:02}", 2024 + i % 2, 1 + (i / 2) % 12),
                    measure: "quantity".into(),
                }),
                value: (100 + i % 900).to_string(),
                ..Default::default()
            }),
            request_id: String::new(),
        }
    };
    let mut sizes = Vec::new();
    for i in 0..20 {
        let response = client.update_cell(edit(i)).await?.into_inner();
        sizes.push(prost::Message::encoded_len(&response));
    }
    sizes.sort();
    let payload = sizes[sizes.len() / 2];

    let redis_pid = redis.pid().expect("redis runs");

    // Subscribers, spread over the three processes, half on each sheet,
    // from the revision after the warm-up.
    let head = client
        .get_sheet(pb::GetSheetRequest {
            name: PRODUCT.into(),
            columns: vec!["total".into()],
            ..Default::default()
        })
        .await?
        .into_inner()
        .grid
        .unwrap()
        .revision;
    let servers = [&writer, &edges[0], &edges[1]];
    let last = Arc::new(AtomicI64::new(i64::MAX));
    let mut subscribers = JoinSet::new();
    let mut connections: Vec<Vec<_>> = Vec::new();
    for server in servers {
        let mut of_server = Vec::new();
        for _ in 0..s
            .subscribers
            .div_ceil(servers.len() * STREAMS_PER_CONNECTION)
        {
            of_server.push(tonic::client::Grpc::new(server.channel().await?));
        }
        connections.push(of_server);
    }
    for i in 0..s.subscribers {
        let (server, k) = (i % servers.len(), i / servers.len());
        let mut watcher = connections[server][k / STREAMS_PER_CONNECTION].clone();
        let sheet = if i % 2 == 0 { PRODUCT } else { REGION };
        watcher.ready().await?;
        let mut stream = watcher
            .server_streaming(
                tonic::Request::new(pb::WatchUpdatesRequest {
                    sheet: sheet.into(),
                    start_revision: head + 1,
                    ..Default::default()
                }),
                light_watch::PATH.parse()?,
                light_watch::LightCodec,
            )
            .await?
            .into_inner();
        let last = Arc::clone(&last);
        subscribers.spawn(async move {
            let mut seen = Seen::default();
            let mut next = head + 1;
            while next <= last.load(Ordering::Acquire) {
                let message =
                    match tokio::time::timeout(Duration::from_secs(1), stream.message()).await {
                        Ok(Ok(Some(message))) => message,
                        Ok(_) => break,
                        Err(_) => continue, // Check `last` again.
                    };
                if let Some(change) = message {
                    seen.latencies.push(since_micros(change.commit_micros));
                    seen.revision(change.revision, &mut next);
                }
            }
            seen
        });
    }
    println!(
        "duckgrid: {} subscribers watching from revision {} ({} on the writer, {} on each edge)",
        s.subscribers,
        head + 1,
        s.subscribers.div_ceil(3),
        s.subscribers / 3
    );

    let writes = {
        let client = client.clone();
        move |i: u64| {
            let mut client = client.clone();
            let request = edit(20 + i);
            async move {
                client
                    .update_cell(request)
                    .await
                    .expect("the write commits");
            }
        }
    };
    let cpu = CpuMeter::start(&[
        ("writer", writer.pid()),
        ("edge1", edges[0].pid()),
        ("edge2", edges[1].pid()),
        ("redis", redis_pid),
        ("subscribers", std::process::id()),
    ]);
    let started = Instant::now();
    let (total, achieved) = paced(s.rate, s.seconds, 64, writes).await;
    last.store(head + total as i64, Ordering::Release);
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + DRAIN;
    while let Ok(Some(subscriber)) =
        tokio::time::timeout_at(deadline, subscribers.join_next()).await
    {
        seen.push(subscriber?);
    }
    subscribers.abort_all();
    println!(
        "duckgrid: {total} revisions committed at {achieved:.0}/s (events of ~{payload} bytes)"
    );
    let outcome = summarise(
        "duckgrid: commit -> WatchUpdates latency",
        seen,
        total,
        achieved,
        Some("p99 <= 25 ms"),
    );
    println!("  {}", cpu.report(started.elapsed()));
    // The edges' subscribers: all but the writer's third.
    let edge_deliveries = (s.subscribers - s.subscribers.div_ceil(3)) as u64 * total;
    let edge_cpu = Duration::from_secs_f64(
        (cpu.used("edge1") + cpu.used("edge2")).as_secs_f64() / edge_deliveries.max(1) as f64,
    );

    for edge in edges {
        edge.stop()?;
    }
    writer.stop()?;
    Ok((payload, outcome, edge_cpu))
}
