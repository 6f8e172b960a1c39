//! The Redis Streams feed: loss-free, resumable fan-out across processes.
//!
//! - **Relay** (the writer's process only): after each commit the writer hands
//!   the event over; the relay appends it to the stream with the explicit id
//!   `<revision>-0`, so republishing is idempotent. When Redis is down the
//!   writer keeps committing and the relay keeps a cursor; when Redis is back
//!   (or after it lost data) it asks the stream for its last id and
//!   republishes everything the stream is missing, in order, from the
//!   changelog.
//! - **Reader** (every process): one blocking `XREAD` loop on its own
//!   connection feeds every local watcher through a broadcast channel. After
//!   an error it reconnects with backoff and resumes from the last id it
//!   saw, never from `$`.
//!
//! Entries have stable fields so that consumers that do not speak gRPC can
//! follow edits (see the README): `revision`, `time` (RFC 3339), `actor`,
//! `request_id`, `event` (the `duckgrid.v1.ChangeEvent` protobuf encoding)
//! and `json` (the same event as JSON, protobuf JSON field names).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use fred::prelude::{
    Builder, Client, ClientLike, Config, LuaInterface, ReconnectPolicy, StreamsInterface, Value,
};
use fred::types::streams::XReadResponse;
use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::json;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

use super::{Event, EventRef, Feed, History};
use crate::error::{Error, Result};
use crate::proto::v1 as pb;

/// Where the stream lives and how much of it Redis keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisSettings {
    /// `redis://host:port[/db]`.
    pub url: String,
    /// The stream's key.
    pub stream: String,
    /// Retention: `XADD ... MAXLEN ~ maxlen` (approximate trimming).
    pub maxlen: u64,
}

/// Events buffered between the writer and the relay; beyond this the relay
/// reads what it missed from the changelog.
const RELAY_BUFFER: usize = 8192;
/// Entries per XREAD / XRANGE call.
const READ_COUNT: u64 = 512;
/// How long one XREAD blocks.
const BLOCK_MS: u64 = 2_000;
/// How often an idle relay checks that Redis still has what it published.
const IDLE_CHECK: Duration = Duration::from_secs(5);
/// Revisions a connected relay may trail the writer by before it says so.
const LAG_WARN: i64 = 1_000;
/// How often a lagging relay says so.
const LAG_LOG: Duration = Duration::from_secs(5);
/// How long a stopping relay tries to publish what is pending.
const FLUSH_DEADLINE: Duration = Duration::from_secs(2);

/// A Redis client that reconnects forever with backoff and never makes its
/// caller wait long for a command.
pub fn client(url: &str) -> Result<Client> {
    let config =
        Config::from_url(url).map_err(|e| Error::invalid(format!("redis url {url:?}: {e}")))?;
    let mut config = config;
    config.fail_fast = false;
    Builder::from_config(config)
        .with_connection_config(|c| {
            c.connection_timeout = Duration::from_secs(2);
            c.internal_command_timeout = Duration::from_secs(2);
            c.max_command_attempts = 1;
        })
        .with_performance_config(|p| {
            p.default_command_timeout = Duration::from_millis(BLOCK_MS + 3_000);
        })
        .set_policy(ReconnectPolicy::new_exponential(0, 50, 2_000, 2))
        .build()
        .map_err(|e| Error::Internal(format!("redis client: {e}")))
}

/// Completes when the shutdown flag is set (or its sender is gone).
async fn stopped(flag: &mut watch::Receiver<bool>) {
    let _ = flag.wait_for(|s| *s).await;
}

/// The entry id of a revision.
pub fn entry_id(revision: i64) -> String {
    format!("{revision}-0")
}

fn revision_of(id: &str) -> Option<i64> {
    id.split_once('-').and_then(|(r, _)| r.parse().ok())
}

/// The fields of a revision's stream entry.
pub fn entry_fields(event: &Event) -> Vec<(&'static str, Value)> {
    let c = &event.change;
    let time = c
        .commit_time
        .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos as u32))
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
        .unwrap_or_default();
    vec![
        ("revision", event.revision.to_string().into()),
        ("time", time.clone().into()),
        ("actor", c.actor.clone().into()),
        ("request_id", c.request_id.clone().into()),
        (
            "event",
            Value::Bytes(prost::Message::encode_to_vec(c).into()),
        ),
        ("json", event_json(c, &time).to_string().into()),
    ]
}

/// A change event as JSON, with the protobuf JSON mapping's field names.
pub fn event_json(c: &pb::ChangeEvent, time: &str) -> serde_json::Value {
    let cell = |r: &pb::CellRef| json!({"sheet": r.sheet, "rowPath": r.row_path, "column": r.column, "measure": r.measure});
    json!({
        "revision": c.revision.to_string(),
        "commitTime": time,
        "actor": c.actor,
        "requestId": c.request_id,
        "edits": c.edits.iter().map(|e| json!({
            "cell": e.cell.as_ref().map(cell),
            "value": e.value,
            "mode": pb::UpdateMode::try_from(e.mode).map(|m| m.as_str_name()).unwrap_or("UPDATE_MODE_UNSPECIFIED"),
            "spread": pb::SpreadMethod::try_from(e.spread).map(|m| m.as_str_name()).unwrap_or("SPREAD_METHOD_UNSPECIFIED"),
            "holds": e.holds.iter().map(cell).collect::<Vec<_>>(),
            "expectedValue": e.expected_value,
        })).collect::<Vec<_>>(),
        "results": c.results.iter().map(|r| json!({
            "previousValue": r.previous_value,
            "newValue": r.new_value,
            "factsChanged": r.facts_changed.to_string(),
        })).collect::<Vec<_>>(),
        "changes": c.changes.iter().map(|s| json!({
            "sheet": s.sheet,
            "cells": s.cells.iter().map(|x| json!({
                "rowPath": x.row_path, "column": x.column, "measure": x.measure, "value": x.value,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

/// Decodes a stream entry back into its event.
pub fn decode_entry(id: &str, fields: &HashMap<String, Value>) -> Result<EventRef> {
    let revision = revision_of(id)
        .ok_or_else(|| Error::Internal(format!("stream entry {id} is not a duckgrid revision")))?;
    let bytes = fields
        .get("event")
        .and_then(|v| v.as_bytes())
        .ok_or_else(|| Error::Internal(format!("stream entry {id} has no event field")))?;
    Event::decode(revision, bytes)
}

fn redis_error(e: fred::error::Error) -> Error {
    Error::Unavailable {
        reason: "REDIS_UNAVAILABLE",
        message: format!("redis: {e}"),
        resume_revision: None,
    }
}

/// The revision of the stream's last entry (0 when empty or missing).
pub async fn stream_top(client: &Client, stream: &str) -> Result<i64, fred::error::Error> {
    let last: Vec<(String, HashMap<String, Value>)> =
        client.xrevrange_values(stream, "+", "-", Some(1)).await?;
    Ok(last
        .first()
        .and_then(|(id, _)| revision_of(id))
        .unwrap_or(0))
}

fn ahead_message(stream: &str, top: i64, head: i64) -> String {
    format!(
        "the Redis stream {stream} holds revision {top} but this database's head is {head}: \
         the stream belongs to another database (delete it with `redis-cli DEL {stream}` \
         or choose another --redis-stream)"
    )
}

/// Checks, if Redis answers within a moment, that the stream does not hold
/// revisions this database never committed (it would then be another
/// database's stream, and appends would be mistaken for duplicates).
pub async fn check_stream_matches(settings: &RedisSettings, head: i64) -> Result<()> {
    let client = client(&settings.url)?;
    let connection = client.connect();
    let top = tokio::time::timeout(Duration::from_secs(2), async {
        client.wait_for_connect().await?;
        stream_top(&client, &settings.stream).await
    })
    .await;
    let _ = client.quit().await;
    connection.abort();
    match top {
        Ok(Ok(top)) if top > head => {
            Err(Error::invalid(ahead_message(&settings.stream, top, head)))
        }
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "redis is not available yet; the relay publishes when it is");
            Ok(())
        }
        Err(_) => {
            tracing::warn!("redis did not answer; the relay publishes when it does");
            Ok(())
        }
    }
}

/// Up to `limit` entries from revision `from` on, decoded.
pub async fn stream_range(
    client: &Client,
    stream: &str,
    from: i64,
    limit: usize,
) -> Result<Vec<EventRef>> {
    let entries: Vec<(String, HashMap<String, Value>)> = client
        .xrange_values(stream, entry_id(from), "+", Some(limit as u64))
        .await
        .map_err(redis_error)?;
    entries.iter().map(|(id, f)| decode_entry(id, f)).collect()
}

/// The Redis-backed feed of one process.
pub struct RedisFeed {
    live: broadcast::Sender<EventRef>,
    /// The newest revision known: committed (writer) or read (everyone).
    head: Arc<AtomicI64>,
    /// The relay's inbox (the writer's process only).
    relay: Option<mpsc::Sender<EventRef>>,
    history: Arc<dyn History>,
    /// How an edge learns the writer's head when its own may be stale.
    remote_head: Option<Box<dyn Fn() -> BoxFuture<'static, Result<i64>> + Send + Sync>>,
    /// The relay's task, awaited by [`Feed::close`].
    relay_task: std::sync::Mutex<Option<JoinHandle<()>>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for RedisFeed {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        if let Some(t) = self.relay_task.lock().expect("relay lock").take() {
            t.abort();
        }
    }
}

impl RedisFeed {
    /// The writer's feed: a relay publishing committed events (history from
    /// `history`, the changelog) and a reader feeding local watchers.
    pub fn writer(
        settings: &RedisSettings,
        history: Arc<dyn History>,
        head: i64,
        capacity: usize,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Self> {
        let (relay_tx, relay_rx) = mpsc::channel(RELAY_BUFFER);
        // The reader starts at the boot head: the relay publishes everything
        // after it, so every later commit reaches the local watchers live.
        let mut feed =
            Self::reader_only(settings, history, Some(head), capacity, shutdown.clone())?;
        let relay = Relay {
            client: client(&settings.url)?,
            settings: settings.clone(),
            inbox: relay_rx,
            history: Arc::clone(&feed.history),
            committed: Arc::clone(&feed.head),
        };
        *feed.relay_task.lock().expect("relay lock") = Some(tokio::spawn(relay.run(shutdown)));
        feed.relay = Some(relay_tx);
        Ok(feed)
    }

    /// An edge's feed: a reader only; `remote_head` asks the writer.
    pub fn edge(
        settings: &RedisSettings,
        history: Arc<dyn History>,
        capacity: usize,
        remote_head: Box<dyn Fn() -> BoxFuture<'static, Result<i64>> + Send + Sync>,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Self> {
        let mut feed = Self::reader_only(settings, history, None, capacity, shutdown)?;
        feed.remote_head = Some(remote_head);
        Ok(feed)
    }

    /// A feed with only a reader, starting after revision `start` (`None`:
    /// after the stream's last entry when it first connects).
    fn reader_only(
        settings: &RedisSettings,
        history: Arc<dyn History>,
        start: Option<i64>,
        capacity: usize,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Self> {
        let live = broadcast::channel(capacity).0;
        let head = Arc::new(AtomicI64::new(start.unwrap_or(0)));
        let reader = Reader {
            client: client(&settings.url)?,
            stream: settings.stream.clone(),
            live: live.clone(),
            head: Arc::clone(&head),
            start,
        };
        Ok(Self {
            live,
            head,
            relay: None,
            history,
            remote_head: None,
            relay_task: std::sync::Mutex::new(None),
            tasks: vec![tokio::spawn(reader.run(shutdown))],
        })
    }
}

impl Feed for RedisFeed {
    fn publish(&self, event: EventRef) {
        self.head.fetch_max(event.revision, Ordering::AcqRel);
        if let Some(relay) = &self.relay {
            // A full inbox only means the relay is behind (Redis is down or
            // slow); it reads what it missed from the changelog.
            let _ = relay.try_send(event);
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<EventRef> {
        self.live.subscribe()
    }

    fn history(&self, from: i64, limit: usize) -> BoxFuture<'_, Result<Vec<EventRef>>> {
        self.history.events(from, limit)
    }

    fn head(&self) -> i64 {
        self.head.load(Ordering::Acquire)
    }

    fn current_head(&self) -> BoxFuture<'_, Result<i64>> {
        async move {
            if let Some(ask) = &self.remote_head {
                let head = ask().await?;
                self.head.fetch_max(head, Ordering::AcqRel);
            }
            Ok(self.head())
        }
        .boxed()
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        async move {
            let task = self.relay_task.lock().expect("relay lock").take();
            if let Some(task) = task {
                // The relay flushes on the shutdown signal; give it a moment.
                let _ =
                    tokio::time::timeout(FLUSH_DEADLINE + Duration::from_millis(500), task).await;
            }
        }
        .boxed()
    }
}

/// Publishes committed events to the stream, in order, exactly once each
/// (ids make republishing idempotent), catching up after any outage.
struct Relay {
    client: Client,
    settings: RedisSettings,
    inbox: mpsc::Receiver<EventRef>,
    history: Arc<dyn History>,
    /// The newest committed revision.
    committed: Arc<AtomicI64>,
}

impl Relay {
    async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let _connection = self.client.connect();
        // The next revision to publish; `None` until checked against the
        // stream (at start, and after every failure: Redis may have lost data).
        let mut next: Option<i64> = None;
        let mut pending: VecDeque<EventRef> = VecDeque::new();
        let mut backoff = Duration::from_millis(50);
        let mut down_since: Option<Instant> = None;
        let mut last_lag_log = Instant::now();
        // The newest revision known to be in the stream (for the lag logs).
        let mut published = 0;
        loop {
            while let Ok(event) = self.inbox.try_recv() {
                pending.push_back(event);
            }
            // Bounded through any outage: what is dropped here is read back
            // from the changelog when it is its turn.
            while pending.len() > RELAY_BUFFER {
                pending.pop_front();
            }
            let head = self.committed.load(Ordering::Acquire);
            match self.publish_up_to(head, &mut next, &mut pending).await {
                Ok(()) => {
                    published = head;
                    if let Some(since) = down_since.take() {
                        tracing::info!(
                            head,
                            outage_ms = since.elapsed().as_millis() as u64,
                            "redis feed reconnected and caught up"
                        );
                    }
                    backoff = Duration::from_millis(50);
                    // Connected but slower than the writer.
                    let lag = self.committed.load(Ordering::Acquire) - published;
                    if lag >= LAG_WARN && last_lag_log.elapsed() >= LAG_LOG {
                        last_lag_log = Instant::now();
                        tracing::warn!(lag, published, "redis feed behind the writer");
                    }
                    tokio::select! {
                        event = self.inbox.recv() => match event {
                            Some(event) => pending.push_back(event),
                            None => return,
                        },
                        _ = tokio::time::sleep(IDLE_CHECK) => next = None,
                        _ = stopped(&mut shutdown) => {
                            // Publish what the writer committed while draining.
                            while let Ok(event) = self.inbox.try_recv() {
                                pending.push_back(event);
                            }
                            let head = self.committed.load(Ordering::Acquire);
                            let flush = self.publish_up_to(head, &mut next, &mut pending);
                            if !matches!(tokio::time::timeout(FLUSH_DEADLINE, flush).await, Ok(Ok(()))) {
                                tracing::warn!(head, "the relay stopped before publishing everything; the next start republishes");
                            }
                            return;
                        }
                    }
                }
                Err(e) => {
                    if let Some(n) = next {
                        published = n - 1;
                    }
                    if down_since.is_none() {
                        down_since = Some(Instant::now());
                        tracing::warn!(
                            error = %e, head, published,
                            "redis feed disconnected; writes still commit and the relay will catch up"
                        );
                    } else if last_lag_log.elapsed() >= LAG_LOG {
                        last_lag_log = Instant::now();
                        tracing::warn!(
                            lag = head - published,
                            head,
                            published,
                            "redis feed behind"
                        );
                    }
                    next = None;
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = stopped(&mut shutdown) => return,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    /// Appends every revision up to `head` that the stream lacks, up to
    /// [`APPEND_BATCH`] consecutive revisions per script call (one round
    /// trip each would cap the relay at a few thousand revisions a second,
    /// and a busy writer's feed would trail it).
    async fn publish_up_to(
        &self,
        head: i64,
        next: &mut Option<i64>,
        pending: &mut VecDeque<EventRef>,
    ) -> Result<(), fred::error::Error> {
        let stream = &self.settings.stream;
        let first = match *next {
            Some(n) => n,
            None => {
                let top = stream_top(&self.client, stream).await?;
                if top > head {
                    return Err(fred::error::Error::new(
                        fred::error::ErrorKind::Unknown,
                        ahead_message(stream, top, head),
                    ));
                }
                // Nothing older than the retention is worth republishing.
                let oldest_kept = head - self.settings.maxlen as i64 + 1;
                let n = (top + 1).max(oldest_kept).max(1);
                if n <= head {
                    tracing::info!(
                        from = n,
                        to = head,
                        "republishing revisions the stream is missing"
                    );
                }
                n
            }
        };
        // The next append may follow an older entry right after a resync
        // (and after revisions the changelog no longer has); otherwise every
        // append must follow its predecessor exactly.
        let mut gap_allowed = next.is_none();
        *next = Some(first);
        let mut page: VecDeque<EventRef> = VecDeque::new();
        let mut batch: Vec<EventRef> = Vec::new();
        let mut batch_after_gap = false;
        let mut n = first;
        while n <= head {
            while pending.front().is_some_and(|e| e.revision < n) {
                pending.pop_front();
            }
            let event = match pending.front() {
                Some(e) if e.revision == n => pending.pop_front().expect("front exists"),
                _ => {
                    while page.front().is_some_and(|e| e.revision < n) {
                        page.pop_front();
                    }
                    if page.front().is_none_or(|e| e.revision != n) {
                        page = self
                            .history
                            .events(n, READ_COUNT as usize)
                            .await
                            .map_err(|e| {
                                fred::error::Error::new(
                                    fred::error::ErrorKind::Unknown,
                                    e.to_string(),
                                )
                            })?
                            .into();
                    }
                    match page.pop_front() {
                        Some(e) if e.revision == n => e,
                        // The changelog no longer has it (pruned): skip ahead.
                        Some(e) => {
                            n = e.revision;
                            gap_allowed = true;
                            page.push_front(e);
                            continue;
                        }
                        None => break,
                    }
                }
            };
            // A batch holds consecutive revisions only.
            if gap_allowed && !batch.is_empty() {
                self.append(&batch, batch_after_gap).await?;
                batch.clear();
                *next = Some(n);
            }
            if batch.is_empty() {
                batch_after_gap = gap_allowed;
            }
            gap_allowed = false;
            batch.push(event);
            n += 1;
            if batch.len() == APPEND_BATCH {
                self.append(&batch, batch_after_gap).await?;
                batch.clear();
                *next = Some(n);
            }
        }
        if !batch.is_empty() {
            self.append(&batch, batch_after_gap).await?;
            *next = Some(n);
        }
        // Said only after real catching up: a busy writer's feed always
        // has a few revisions to publish.
        if head - first >= APPEND_BATCH as i64 {
            tracing::info!(head, "redis feed caught up");
        }
        Ok(())
    }

    /// Appends consecutive revisions, atomically checked against the
    /// stream's last entry: the first must follow the previous revision (or,
    /// with `after_gap`, anything older). Revisions already there are
    /// skipped; a gap means Redis lost entries since we last looked, and the
    /// relay resyncs before appending anything newer (stream ids only grow,
    /// so a newer entry would make the lost ones impossible to restore).
    async fn append(&self, events: &[EventRef], after_gap: bool) -> Result<(), fred::error::Error> {
        let mut args: Vec<Value> = vec![
            (self.settings.maxlen as i64).into(),
            i64::from(after_gap).into(),
        ];
        for event in events {
            let fields = entry_fields(event);
            args.push(event.revision.into());
            args.push((fields.len() as i64 * 2).into());
            for (name, value) in fields {
                args.push(name.into());
                args.push(value);
            }
        }
        let appended: i64 = self
            .client
            .eval(APPEND_SCRIPT, &self.settings.stream, args)
            .await?;
        if appended < 0 {
            return Err(fred::error::Error::new(
                fred::error::ErrorKind::Unknown,
                format!("the stream lost entries before revision {}", -appended),
            ));
        }
        Ok(())
    }
}

/// Revisions appended per script call.
const APPEND_BATCH: usize = 64;

/// XADD each entry only if the stream's last entry is the previous revision
/// (ARGV[2] = 1 lets the first follow an older one). Entries already there
/// are skipped. Returns how many were appended, or -revision at a gap.
/// KEYS[1] stream; ARGV maxlen, allow, then per entry: revision, the number
/// of field arguments, the fields.
const APPEND_SCRIPT: &str = r#"
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local top = 0
if #last > 0 then top = tonumber(string.match(last[1][1], '^(%d+)')) end
local allow = ARGV[2] == '1'
local appended = 0
local i = 3
while i <= #ARGV do
  local rev = tonumber(ARGV[i])
  local n = tonumber(ARGV[i + 1])
  if rev > top then
    if top ~= rev - 1 and not allow then return -rev end
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], rev .. '-0', unpack(ARGV, i + 2, i + 1 + n))
    top = rev
    appended = appended + 1
  end
  allow = false
  i = i + 2 + n
end
return appended
"#;

/// Follows the stream with a blocking XREAD and feeds the local watchers.
struct Reader {
    client: Client,
    stream: String,
    live: broadcast::Sender<EventRef>,
    head: Arc<AtomicI64>,
    start: Option<i64>,
}

impl Reader {
    async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let _connection = self.client.connect();
        // Starts at the given revision or at the stream's end (watchers
        // catch up from history), then always resumes from the last id seen.
        let mut last: Option<String> = self.start.map(entry_id);
        let mut backoff = Duration::from_millis(50);
        let mut down_since: Option<Instant> = None;
        loop {
            let step = async {
                if last.is_none() {
                    let top = stream_top(&self.client, &self.stream).await?;
                    // Watchers still waiting for revisions up to `top` find
                    // them in history (see `Watches::pump`).
                    self.head.fetch_max(top, Ordering::AcqRel);
                    last = Some(entry_id(top));
                }
                let reply: Value = self
                    .client
                    .xread(
                        Some(READ_COUNT),
                        Some(BLOCK_MS),
                        &self.stream,
                        last.clone().unwrap_or_default(),
                    )
                    .await?;
                // A block that timed out answers nil.
                let response: XReadResponse<String, String, String, Value> = if reply.is_null() {
                    HashMap::new()
                } else {
                    reply.into_xread_response()?
                };
                for (_, entries) in response {
                    for (id, fields) in entries {
                        match decode_entry(&id, &fields) {
                            Ok(event) => {
                                self.head.fetch_max(event.revision, Ordering::AcqRel);
                                let _ = self.live.send(event);
                            }
                            Err(e) => {
                                tracing::error!(error = %e, %id, "skipping an undecodable stream entry")
                            }
                        }
                        last = Some(id);
                    }
                }
                Ok::<(), fred::error::Error>(())
            };
            let outcome = tokio::select! {
                outcome = step => outcome,
                _ = stopped(&mut shutdown) => return,
            };
            match outcome {
                Ok(()) => {
                    if let Some(since) = down_since.take() {
                        tracing::info!(
                            outage_ms = since.elapsed().as_millis() as u64,
                            resumed_after = last.as_deref().unwrap_or("0-0"),
                            "redis stream reader reconnected"
                        );
                    }
                    backoff = Duration::from_millis(50);
                }
                Err(e) => {
                    if down_since.is_none() {
                        down_since = Some(Instant::now());
                        tracing::warn!(error = %e, "redis stream reader disconnected; retrying");
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = stopped(&mut shutdown) => return,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_carry_the_documented_fields() {
        let change = pb::ChangeEvent {
            revision: 42,
            commit_time: Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 5_000,
            }),
            actor: "alice".into(),
            request_id: "r-1".into(),
            ..Default::default()
        };
        let event = Event {
            revision: 42,
            change,
        };
        let fields: HashMap<String, Value> = entry_fields(&event)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        let names: Vec<_> = entry_fields(&event).into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            names,
            ["revision", "time", "actor", "request_id", "event", "json"]
        );
        assert_eq!(
            fields["time"].as_str().unwrap(),
            "2023-11-14T22:13:20.000005Z"
        );
        let decoded = decode_entry(&entry_id(42), &fields).unwrap();
        assert_eq!(*decoded, event);
        let json: serde_json::Value =
            serde_json::from_str(&fields["json"].as_str().unwrap()).unwrap();
        assert_eq!(json["revision"], "42");
        assert_eq!(json["actor"], "alice");
        assert!(
            decode_entry("43-0", &fields).is_err(),
            "an entry holds the event of its own revision"
        );
    }
}
