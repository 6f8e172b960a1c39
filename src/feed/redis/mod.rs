//! The Redis Streams feed: loss-free, resumable fan-out across processes.
//!
//! - [`relay`] (the writer's process only) appends each committed event to
//!   the stream as entry `<revision>-0`, republishing whatever the stream
//!   lacks after an outage or data loss.
//! - [`reader`] (edges) follows the stream with one blocking XREAD and
//!   feeds the process's live buffer. The writer's own watchers are fed
//!   from memory as it commits: they never wait for Redis, and a stream of
//!   another database can never reach them.
//! - [`entry`] is the entry format, documented for consumers without gRPC.
//!
//! The stream is a bounded copy of the changelog, never the source of
//! truth: its entries carry the database's identity, so a stream of
//! another database is refused rather than mixed in.

pub mod entry;
mod reader;
mod relay;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use fred::prelude::{
    Builder, Client, ClientLike, Config, ReconnectPolicy, StreamsInterface, Value,
};
use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::{EventCache, EventRef, Feed, History, Live};
use crate::error::{Error, Result};
use crate::metrics::RedisMetrics;
use entry::{decode_entry, entry_db, entry_id, is_foreign, revision_of};
use reader::{BLOCK_MS, Reader};
use relay::{FLUSH_DEADLINE, RELAY_BUFFER, Relay};

/// Where the stream lives and how much of it Redis keeps.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisSettings {
    /// `redis://[user:password@]host:port[/db]` (never logged whole: see
    /// [`redact`]).
    pub url: String,
    /// The stream's key.
    pub stream: String,
    /// Retention: `XADD ... MAXLEN ~ maxlen` (approximate trimming).
    pub maxlen: u64,
    /// The CA of a `rediss://` server with a private certificate
    /// (`--redis-ca`; default: the system's roots).
    pub ca: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSettings")
            .field("url", &redact(&self.url))
            .field("stream", &self.stream)
            .field("maxlen", &self.maxlen)
            .field("ca", &self.ca)
            .finish()
    }
}

/// Entries per XREAD / XRANGE call.
pub const READ_COUNT: u64 = 512;

/// A URL with its credentials (user and password) replaced by `***`, for
/// logs and messages.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// A Redis client that reconnects forever with backoff and never makes its
/// caller wait long for a command.
pub fn client(settings: &RedisSettings) -> Result<Client> {
    let url = &settings.url;
    let mut config = Config::from_url(url)
        .map_err(|e| Error::invalid(format!("redis url {}: {}", redact(url), e.details())))?;
    config.fail_fast = false;
    if let (Some(tls), Some(ca)) = (&mut config.tls, &settings.ca) {
        tls.connector = private_ca(ca)?.into();
    }
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

/// TLS that trusts only the CA (PEM) at `path`.
fn private_ca(path: &std::path::Path) -> Result<rustls::ClientConfig> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let problem =
        |e: &dyn std::fmt::Display| Error::invalid(format!("--redis-ca {}: {e}", path.display()));
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| problem(&e))? {
        roots
            .add(cert.map_err(|e| problem(&e))?)
            .map_err(|e| problem(&e))?;
    }
    if roots.is_empty() {
        return Err(problem(&"no certificate in the file"));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| problem(&e))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Completes when the shutdown flag is set (or its sender is gone).
async fn stopped(flag: &mut watch::Receiver<bool>) {
    let _ = flag.wait_for(|s| *s).await;
}

fn redis_error(e: fred::error::Error) -> Error {
    Error::Unavailable {
        reason: "REDIS_UNAVAILABLE",
        message: format!("redis: {e}"),
        resume_revision: None,
    }
}

/// The stream's last entry: its revision (0 when empty or missing) and the
/// database it names.
async fn stream_last(
    client: &Client,
    stream: &str,
) -> Result<(i64, Option<String>), fred::error::Error> {
    let last: Vec<(String, HashMap<String, Value>)> =
        client.xrevrange_values(stream, "+", "-", Some(1)).await?;
    Ok(last.first().map_or((0, None), |(id, fields)| {
        (revision_of(id).unwrap_or(0), entry_db(fields))
    }))
}

/// The revision of the stream's last entry (0 when empty or missing).
pub async fn stream_top(client: &Client, stream: &str) -> Result<i64, fred::error::Error> {
    Ok(stream_last(client, stream).await?.0)
}

fn ahead_message(stream: &str, top: i64, head: i64) -> String {
    format!(
        "the Redis stream {stream} holds revision {top} but this database's head is {head}: \
         the stream belongs to another database (delete it with `redis-cli DEL {stream}` \
         or choose another --redis-stream)"
    )
}

/// Checks, if Redis answers within a moment, that the stream is not
/// another database's (its last entry names another database, or holds a
/// revision this one never committed). When Redis answers later, the relay
/// makes the same check before every append.
pub async fn check_stream_matches(
    settings: &RedisSettings,
    head: i64,
    database_id: &str,
) -> Result<()> {
    let client = client(settings)?;
    let connection = client.connect();
    let last = tokio::time::timeout(Duration::from_secs(2), async {
        client.wait_for_connect().await?;
        stream_last(&client, &settings.stream).await
    })
    .await;
    let _ = client.quit().await;
    connection.abort();
    let stream = &settings.stream;
    match last {
        Ok(Ok((top, Some(db)))) if db != database_id => Err(Error::invalid(format!(
            "the Redis stream {stream} belongs to another database (its revision {top} was \
             committed by database {db}; this one is {database_id}): delete it with \
             `redis-cli DEL {stream}` or choose another --redis-stream"
        ))),
        Ok(Ok((top, _))) if top > head => Err(Error::invalid(ahead_message(stream, top, head))),
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

/// Up to `limit` entries from revision `from` on of the database `ours`
/// (another database's are left out), decoded, sharing the events others
/// already hold through `cache`.
pub async fn stream_range(
    client: &Client,
    stream: &str,
    from: i64,
    limit: usize,
    ours: Option<&String>,
    cache: &EventCache,
) -> Result<Vec<EventRef>> {
    let entries: Vec<(String, HashMap<String, Value>)> = client
        .xrange_values(stream, entry_id(from), "+", Some(limit as u64))
        .await
        .map_err(redis_error)?;
    entries
        .iter()
        .filter(|(_, fields)| !is_foreign(fields, ours))
        .map(|(id, fields)| decode_entry(id, fields, cache))
        .collect()
}

/// How an edge learns the writer's head when its own may be stale.
pub type RemoteHead = Box<dyn Fn() -> BoxFuture<'static, Result<i64>> + Send + Sync>;

/// What an edge's feed knows of its writer.
pub struct WriterView {
    /// The writer's database (learnt from its first answer).
    pub database_id: Arc<OnceLock<String>>,
    /// The newest head the writer has reported.
    pub head: Arc<AtomicI64>,
    /// Asks the writer for its head now.
    pub ask_head: RemoteHead,
}

/// The Redis-backed feed of one process.
pub struct RedisFeed {
    live: Arc<Live>,
    /// The writer's committed head (the writer's process only): raised by
    /// the writer alone, never by what the stream holds.
    committed: Option<Arc<AtomicI64>>,
    /// The newest revision the reader has seen (edges).
    seen: Arc<AtomicI64>,
    /// The stream, for an edge's own questions (its reader has its own
    /// connection).
    redis: Option<(Client, String)>,
    /// The database whose revisions these are (learnt by an edge).
    database_id: Arc<OnceLock<String>>,
    /// The newest head the writer has reported (edges).
    writer_head: Arc<AtomicI64>,
    /// The relay's inbox (the writer's process only).
    relay: Option<mpsc::Sender<EventRef>>,
    history: Arc<dyn History>,
    remote_head: Option<RemoteHead>,
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
    /// The writer's feed: committed events go to the local watchers at once
    /// and to a relay publishing them to the stream (history from
    /// `history`, the changelog).
    pub fn writer(
        settings: &RedisSettings,
        history: Arc<dyn History>,
        head: i64,
        database_id: &str,
        live: Arc<Live>,
        metrics: RedisMetrics,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Self> {
        let (relay_tx, relay_rx) = mpsc::channel(RELAY_BUFFER);
        let committed = Arc::new(AtomicI64::new(head));
        let relay = Relay {
            client: client(settings)?,
            settings: settings.clone(),
            inbox: relay_rx,
            history: Arc::clone(&history),
            committed: Arc::clone(&committed),
            database_id: database_id.to_owned(),
            metrics,
        };
        Ok(Self {
            live,
            committed: Some(committed),
            seen: Arc::new(AtomicI64::new(head)),
            redis: None,
            database_id: Arc::new(OnceLock::from(database_id.to_owned())),
            writer_head: Arc::default(),
            relay: Some(relay_tx),
            history,
            remote_head: None,
            relay_task: std::sync::Mutex::new(Some(tokio::spawn(relay.run(shutdown)))),
            tasks: Vec::new(),
        })
    }

    /// An edge's feed: a reader of the stream and what it knows of its
    /// writer. The reader decodes through `cache`, shared with the edge's
    /// history.
    pub fn edge(
        settings: &RedisSettings,
        history: Arc<dyn History>,
        live: Arc<Live>,
        writer: WriterView,
        cache: Arc<EventCache>,
        metrics: RedisMetrics,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Self> {
        let WriterView {
            database_id,
            head: writer_head,
            ask_head: remote_head,
        } = writer;
        let seen = Arc::new(AtomicI64::new(0));
        let reader = Reader {
            client: client(settings)?,
            stream: settings.stream.clone(),
            live: Arc::clone(&live),
            seen: Arc::clone(&seen),
            database_id: Arc::clone(&database_id),
            cache,
            metrics,
        };
        let questions = client(settings)?;
        drop(questions.connect());
        Ok(Self {
            live,
            committed: None,
            seen,
            redis: Some((questions, settings.stream.clone())),
            database_id,
            writer_head,
            relay: None,
            history,
            remote_head: Some(remote_head),
            relay_task: std::sync::Mutex::new(None),
            tasks: vec![tokio::spawn(reader.run(shutdown))],
        })
    }
}

impl Feed for RedisFeed {
    fn publish(&self, event: EventRef) {
        if let Some(committed) = &self.committed {
            committed.fetch_max(event.revision, Ordering::AcqRel);
        }
        self.live.push(Arc::clone(&event));
        if let Some(relay) = &self.relay {
            // A full inbox only means the relay is behind (Redis is down or
            // slow); it reads what it missed from the changelog.
            let _ = relay.try_send(event);
        }
    }

    fn live(&self) -> &Live {
        &self.live
    }

    fn history(&self, from: i64, limit: usize) -> BoxFuture<'_, Result<Vec<EventRef>>> {
        self.history.events(from, limit)
    }

    fn oldest(&self) -> BoxFuture<'_, Result<i64>> {
        self.history.oldest()
    }

    fn head(&self) -> i64 {
        match &self.committed {
            Some(committed) => committed.load(Ordering::Acquire),
            // What the stream has shown, or the writer has said it has.
            None => self
                .seen
                .load(Ordering::Acquire)
                .max(self.writer_head.load(Ordering::Acquire)),
        }
    }

    fn current_head(&self) -> BoxFuture<'_, Result<i64>> {
        async move {
            let Some(ask) = &self.remote_head else {
                return Ok(self.head());
            };
            match ask().await {
                Ok(head) => Ok(head),
                // The writer is away, so nothing new commits: the stream's
                // tail is the head (if Redis answers).
                Err(e @ (Error::WriterUnavailable { .. } | Error::Unavailable { .. })) => {
                    match &self.redis {
                        Some((client, stream)) => match stream_top(client, stream).await {
                            Ok(top) => Ok(top.max(self.seen.load(Ordering::Acquire))),
                            Err(_) => Err(e),
                        },
                        None => Err(e),
                    }
                }
                Err(e) => Err(e),
            }
        }
        .boxed()
    }

    fn database_id(&self) -> Option<&str> {
        self.database_id.get().map(String::as_str)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_show() {
        assert_eq!(
            redact("redis://user:s3cret@127.0.0.1:6379/0"),
            "redis://***@127.0.0.1:6379/0"
        );
        assert_eq!(redact("rediss://:s3cret@host"), "rediss://***@host");
        assert_eq!(redact("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
        assert_eq!(redact("redis://h/0?x=a@b"), "redis://h/0?x=a@b");
        let settings = |url: &str, ca: Option<&str>| RedisSettings {
            url: url.into(),
            stream: "s".into(),
            maxlen: 1,
            ca: ca.map(Into::into),
        };
        let e = client(&settings("redis://user:s3cret@[bad", None)).unwrap_err();
        assert!(!e.to_string().contains("s3cret"), "{e}");
        // A rediss:// URL with a CA file that is not one: said, and no secret.
        let e = client(&settings(
            "rediss://user:s3cret@127.0.0.1:1",
            Some("/nonexistent.pem"),
        ))
        .unwrap_err();
        assert!(e.to_string().contains("--redis-ca"), "{e}");
        assert!(!e.to_string().contains("s3cret"), "{e}");
        assert!(client(&settings("rediss://user:s3cret@127.0.0.1:1", None)).is_ok());
    }
}
