//! Assembling and running the server: storage, writer, feed, watches, and
//! the gRPC stack (GridService, health, reflection) in one visible place.
//!
//! `Server::bind(config)` does everything that can fail at start-up and
//! binds the listener (port 0 allowed); `local_addr()` says where; and
//! `run(shutdown)` serves until the shutdown future completes, then drains,
//! all within one deadline (`--shutdown-timeout-ms`): health goes
//! NOT_SERVING, watch streams end with UNAVAILABLE and the revision to
//! resume from, open calls get most of the deadline to finish (then are no
//! longer waited for: they end with the process), the writer is told to
//! commit what is queued and checkpoint, the feed publishes what it still
//! can, and `run` returns.
//!
//! The limits that protect the server are set here, in one place: per
//! connection (streams, calls in flight, keepalive), per call (request
//! size, time to an answer: [`crate::wire`]), per watch and per client
//! address ([`crate::watch`]), per write request and commit group
//! ([`crate::writer`]).
//!
//! A writer owns the database; an edge (`--role edge`) has none and serves
//! watches from Redis, forwarding everything else to the writer.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::time::Instant;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;

use crate::auth::Auth;
use crate::auth::layer::AuthLayer;
use crate::config::{Config, Role};
use crate::demo::DemoSpec;
use crate::edge::{self, EdgeApi, EdgeHistory, RemoteSheets, WriterLink};
use crate::feed::redis::{self, RedisFeed, RedisSettings, WriterView, redact};
use crate::feed::{ChangelogHistory, EventCache, Feed, Live, memory::MemoryFeed};
use crate::metrics::{self, Metrics};
use crate::model::Model;
use crate::model::file::ModelFile;
use crate::proto::v1::grid_service_server::GridServiceServer;
use crate::route::{Beside, Limits};
use crate::service::{GridApi, WriteRoute};
use crate::store::{self, ModelSource, ReadPool};
use crate::summary::{Published, Snapshot, Summary};
use crate::telemetry;
use crate::watch::{LocalSheets, WatchConfig, WatchRoute, WatchStats, Watches};
use crate::wire::CallLimitsLayer;
use crate::writer::{self, Mirror, Running, WriterConfig};

/// Largest response sent (a write to a grand total changes every cell).
const MAX_ENCODING_MESSAGE_SIZE: usize = 256 * 1024 * 1024;
/// The health-checked name of the grid service.
pub const GRID_SERVICE: &str = "duckgrid.v1.GridService";

/// A bound, ready-to-run server.
pub struct Server {
    config: Config,
    listener: TcpListener,
    metrics: Arc<Metrics>,
    /// The keys in force (`--auth-file`; or client certificates only).
    auth: Option<Arc<Auth>>,
    /// `--tls-cert`, `--tls-key`, `--client-ca`.
    tls: Option<tonic::transport::ServerTlsConfig>,
    /// `/metrics`, when `--metrics-listen` asks for it.
    metrics_listener: Option<TcpListener>,
    role: RoleState,
    watches: Arc<Watches>,
    feed: Arc<dyn Feed>,
    stop_watches: watch::Sender<bool>,
    stop_feed: watch::Sender<bool>,
}

enum RoleState {
    Writer {
        model: Arc<Model>,
        pool: Arc<ReadPool>,
        published: Arc<Published>,
        writer: Running,
    },
    Edge {
        writer: Arc<WriterLink>,
    },
}

impl Server {
    /// Opens (or creates and seeds) the database and starts the writer (or,
    /// for an edge, connects to Redis and the writer), and binds the
    /// listener.
    pub async fn bind(config: Config) -> anyhow::Result<Self> {
        config.validate()?;
        let metrics = Metrics::new();
        let auth = match (&config.auth_file, config.tls.mutual()) {
            (Some(path), _) => Some(Auth::load(path.clone())?),
            (None, true) => Some(Auth::certificates_only()),
            (None, false) => None,
        };
        let tls = config.tls.server()?;
        if let Some(tls) = &tls {
            // The files are parsed here, so a bad one stops the start.
            tonic::transport::Server::builder()
                .tls_config(tls.clone())
                .context("--tls-cert / --tls-key / --client-ca")?;
        }
        if auth.is_none() && !config.listen.ip().is_loopback() {
            tracing::warn!(
                listen = %config.listen,
                "serving WITHOUT authentication on a non-loopback address (--insecure-no-auth)"
            );
        }
        let (stop_watches, watches_stopped) = watch::channel(false);
        let (stop_feed, feed_stopped) = watch::channel(false);
        let watch_config = WatchConfig {
            progress_interval: config.progress_interval(),
            stall_timeout: config.watch_stall_timeout(),
            max_watchers: config.max_watchers,
            max_watchers_per_peer: config.max_watchers_per_peer,
            buffer_bytes: config.watch_buffer_bytes,
        };
        let redis = config.redis_url.as_ref().map(|url| RedisSettings {
            url: url.clone(),
            stream: config.redis_stream.clone(),
            maxlen: config.redis_maxlen,
            ca: config.tls.redis_ca.clone(),
        });
        let live = Live::new(config.feed_buffer, config.feed_buffer_bytes);
        let (role, watches, feed) = match config.role {
            Role::Writer => {
                let source = match &config.model {
                    Some(path) => ModelSource::File(Box::new(
                        ModelFile::read(path).map_err(anyhow::Error::new)?,
                    )),
                    None => ModelSource::Demo(DemoSpec::new(config.seed, config.facts)),
                };
                let path = config.db.clone();
                let memory_limit = config.duckdb_memory_limit_mib;
                let (db, mirror, summary) =
                    tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
                        let db = store::open(&path, &source, memory_limit)?;
                        let started = std::time::Instant::now();
                        let mirror =
                            Mirror::load(&db.conn, &db.model).context("loading the facts")?;
                        let summary = Summary::compute(&db.model, &mirror);
                        tracing::info!(
                            elapsed_ms = started.elapsed().as_millis() as u64,
                            "loaded the facts and computed every sheet"
                        );
                        Ok((db, mirror, summary))
                    })
                    .await
                    .context("opening the database")??;
                let pool = ReadPool::new(&db.conn, config.read_connections, db.head)?;
                let history = ChangelogHistory::new(Arc::clone(&pool));
                let feed: Arc<dyn Feed> = match &redis {
                    None => Arc::new(MemoryFeed::new(history, db.head, &db.database_id, live)),
                    Some(settings) => {
                        redis::check_stream_matches(settings, db.head, &db.database_id).await?;
                        Arc::new(RedisFeed::writer(
                            settings,
                            Arc::new(history),
                            db.head,
                            &db.database_id,
                            live,
                            metrics.redis.clone(),
                            feed_stopped,
                        )?)
                    }
                };
                let model = Arc::clone(&db.model);
                let published = Arc::new(Published::new(Snapshot {
                    revision: db.head,
                    summary,
                }));
                let writer_config = WriterConfig {
                    max_facts_per_write: config.max_facts_per_write as i64,
                    changelog_retention: config.changelog_retention,
                    history_retention: config.history_retention,
                    catch_up_idle: std::time::Duration::from_millis(config.facts_catch_up_idle_ms),
                    duckdb_threads: config.duckdb_threads,
                    wal: (config.db != ":memory:")
                        .then(|| std::path::PathBuf::from(format!("{}.wal", config.db))),
                    faults: config.faults.clone(),
                    metrics: metrics.writer.clone(),
                };
                let writer = writer::spawn(
                    db.conn,
                    mirror,
                    Arc::clone(&model),
                    Arc::clone(&published),
                    writer_config,
                    Arc::clone(&feed),
                    db.journal,
                )?;
                let (handle, head) = (writer.handle.clone(), Arc::clone(&published));
                pool.follow_writer(store::PoolWriter {
                    catch_up: Box::new(move || {
                        let handle = handle.clone();
                        Box::pin(async move { handle.catch_up(false).await })
                    }),
                    head: Box::new(move || head.current().revision),
                });
                let sheets = Arc::new(LocalSheets {
                    model: Arc::clone(&model),
                    published: Arc::clone(&published),
                });
                let watches = Watches::new(
                    Arc::clone(&feed),
                    sheets,
                    watch_config,
                    Arc::clone(&metrics.watch),
                    auth.clone(),
                    watches_stopped,
                );
                let role = RoleState::Writer {
                    model,
                    pool,
                    published,
                    writer,
                };
                (role, watches, feed)
            }
            Role::Edge => {
                let (Some(url), Some(settings)) = (&config.writer, &redis) else {
                    unreachable!("validated: an edge has --writer and --redis-url");
                };
                let writer = Arc::new(WriterLink::connect_lazy(
                    url,
                    config.writer_token.as_deref(),
                    config.tls.writer()?,
                )?);
                let cache = Arc::new(EventCache::default());
                let history = EdgeHistory {
                    redis: redis::client(settings)?,
                    stream: settings.stream.clone(),
                    writer: Arc::clone(&writer),
                    cache: Arc::clone(&cache),
                };
                // The connection task runs on its own (and reconnects).
                drop(fred::prelude::ClientLike::connect(&history.redis));
                let probe = Arc::clone(&writer);
                let view = WriterView {
                    database_id: Arc::clone(&writer.database_id),
                    head: Arc::clone(&writer.known_head),
                    ask_head: Box::new(move || {
                        let probe = Arc::clone(&probe);
                        Box::pin(async move { Ok(probe.position().await?.head) })
                    }),
                };
                let feed: Arc<dyn Feed> = Arc::new(RedisFeed::edge(
                    settings,
                    Arc::new(history),
                    live,
                    view,
                    cache,
                    metrics.redis.clone(),
                    feed_stopped,
                )?);
                let sheets = Arc::new(RemoteSheets::new(Arc::clone(&writer)));
                let watches = Watches::new(
                    Arc::clone(&feed),
                    sheets,
                    watch_config,
                    Arc::clone(&metrics.watch),
                    auth.clone(),
                    watches_stopped,
                );
                (RoleState::Edge { writer }, watches, feed)
            }
        };
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        let metrics_listener = match config.metrics_listen {
            Some(addr) => Some(metrics::http::bind(addr).await?),
            None => None,
        };
        tracing::info!(
            addr = %listener.local_addr()?,
            role = ?config.role,
            db = %config.db,
            redis = config.redis_url.as_deref().map(redact).as_deref().unwrap_or("(none: in-process feed)"),
            tls = match (&tls, config.tls.mutual()) {
                (None, _) => "off",
                (Some(_), false) => "on",
                (Some(_), true) => "mutual",
            },
            metrics = %metrics_listener.as_ref().and_then(|l| l.local_addr().ok()).map_or("(off)".to_owned(), |a| format!("http://{a}/metrics")),
            "duckgrid ready"
        );
        Ok(Self {
            config,
            listener,
            metrics,
            auth,
            tls,
            metrics_listener,
            role,
            watches,
            feed,
            stop_watches,
            stop_feed,
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The keys in force, to reload (the binary does on SIGHUP).
    pub fn auth(&self) -> Option<Arc<Auth>> {
        self.auth.clone()
    }

    /// Where `/metrics` is served, if it is.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    /// A new connection to the server's database, for tests and tools that
    /// inspect it (read only: only the writer writes), and the writer's
    /// handle, to have `facts` catch up with the writes first
    /// ([`writer::WriterHandle::catch_up`]). Writers only.
    pub fn database(&self) -> anyhow::Result<(duckdb::Connection, writer::WriterHandle)> {
        match &self.role {
            RoleState::Writer { pool, writer, .. } => {
                Ok((pool.connection()?, writer.handle.clone()))
            }
            RoleState::Edge { .. } => anyhow::bail!("an edge has no database"),
        }
    }

    /// What the server's watches have done so far.
    pub fn watch_stats(&self) -> Arc<WatchStats> {
        Arc::clone(&self.watches.stats)
    }

    /// The model the server serves (writers only).
    pub fn model(&self) -> Option<&Arc<Model>> {
        match &self.role {
            RoleState::Writer { model, .. } => Some(model),
            RoleState::Edge { .. } => None,
        }
    }

    /// Serves until `shutdown` completes, then drains (see the module docs).
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let Server {
            config,
            listener,
            metrics,
            auth,
            tls,
            metrics_listener,
            role,
            watches,
            feed,
            stop_watches,
            stop_feed,
        } = self;
        let (health, health_service) = tonic_health::server::health_reporter();
        health
            .set_service_status(GRID_SERVICE, ServingStatus::Serving)
            .await;
        let (reflection_v1, reflection_v1alpha) = crate::proto::reflection()?;
        let mut builder = tonic::transport::Server::builder();
        if let Some(tls) = tls {
            builder = builder.tls_config(tls).context("--tls-cert / --tls-key")?;
        }
        let router = builder
            .max_concurrent_streams(config.max_streams_per_connection)
            .concurrency_limit_per_connection(config.max_calls_per_connection)
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            .http2_keepalive_timeout(Some(Duration::from_secs(20)))
            .trace_fn(telemetry::rpc_span)
            // Outermost: it sees every answer, the limits' own included.
            .layer(metrics.grpc.layer(config.metrics_listen.is_some()))
            .layer(AuthLayer {
                auth,
                anonymous_reflection: config.anonymous_reflection,
                denials: metrics.auth_denials.clone(),
            })
            .layer(CallLimitsLayer {
                max_request_bytes: config.max_request_bytes,
                request_timeout: config.request_timeout(),
            })
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha);
        let max_request = config.max_request_bytes;
        let limits = Limits {
            max_decoding: max_request,
            max_encoding: MAX_ENCODING_MESSAGE_SIZE,
        };
        let (router, writer) = match role {
            RoleState::Writer {
                model,
                pool,
                published,
                writer,
            } => {
                let api = Arc::new(GridApi {
                    model,
                    published,
                    writer: writer.handle.clone(),
                    pool,
                });
                let service = GridServiceServer::from_arc(Arc::clone(&api))
                    .max_decoding_message_size(max_request)
                    .max_encoding_message_size(MAX_ENCODING_MESSAGE_SIZE);
                let service = Beside::new(service, WriteRoute(api), limits);
                let service = Beside::new(service, WatchRoute(watches), limits);
                tokio::spawn(crate::health::follow_writer(
                    writer.alive.clone(),
                    health.clone(),
                    stop_watches.subscribe(),
                ));
                (router.add_service(service), Some(writer))
            }
            RoleState::Edge { writer } => {
                // Writes succeed only while the writer accepts them.
                health
                    .set_service_status(GRID_SERVICE, ServingStatus::NotServing)
                    .await;
                tokio::spawn(edge::report_writer_health(
                    Arc::clone(&writer),
                    health.clone(),
                    GRID_SERVICE,
                    stop_watches.subscribe(),
                ));
                let service = GridServiceServer::new(EdgeApi {
                    writer,
                    metrics: metrics.edge.clone(),
                })
                .max_decoding_message_size(max_request)
                .max_encoding_message_size(MAX_ENCODING_MESSAGE_SIZE);
                let service = Beside::new(service, WatchRoute(watches), limits);
                (router.add_service(service), None)
            }
        };

        if let Some(listener) = metrics_listener {
            // Up until the end of the shutdown: the drain is worth watching.
            tokio::spawn(metrics::http::serve(
                listener,
                Arc::clone(&metrics),
                Arc::clone(&feed),
                stop_feed.subscribe(),
            ));
        }
        let (drain_tx, drain_rx) = tokio::sync::oneshot::channel::<()>();
        // The builder's tcp_nodelay only applies to listeners it binds itself:
        // without it on ours, small responses wait for delayed ACKs (~40 ms).
        let incoming = TcpIncoming::from(listener)
            .with_nodelay(Some(true))
            .with_keepalive(Some(Duration::from_secs(60)));
        // Boxed (not stack-pinned) so it can be dropped before the writer is
        // stopped (connections still open then end with the process).
        let mut serve = Box::pin(router.serve_with_incoming_shutdown(incoming, async {
            let _ = drain_rx.await;
        }));

        // One deadline for the whole shutdown; a part of it is kept for the
        // writer to apply what is queued and checkpoint.
        let deadline = tokio::select! {
            result = &mut serve => {
                result.context("serving gRPC")?;
                Instant::now() + config.shutdown_timeout()
            }
            () = shutdown => {
                let deadline = Instant::now() + config.shutdown_timeout();
                let reserve = (config.shutdown_timeout() / 4).min(Duration::from_secs(2));
                tracing::info!("shutting down: health NOT_SERVING, ending watch streams");
                health.set_service_status("", ServingStatus::NotServing).await;
                health.set_service_status(GRID_SERVICE, ServingStatus::NotServing).await;
                let _ = stop_watches.send(true);
                let _ = drain_tx.send(());
                match tokio::time::timeout_at(deadline - reserve, &mut serve).await {
                    Ok(result) => result.context("serving gRPC")?,
                    Err(_) => tracing::warn!(
                        timeout_ms = config.shutdown_timeout_ms,
                        "calls still open are not waited for, to keep the shutdown deadline"
                    ),
                }
                deadline
            }
        };
        drop(serve);
        if let Some(writer) = writer {
            writer.stop_by(deadline).await;
        }
        // Last: the relay publishes what the writer committed while draining
        // (what it cannot, it republishes from the changelog at next start).
        let _ = stop_feed.send(true);
        if tokio::time::timeout_at(deadline, feed.close())
            .await
            .is_err()
        {
            tracing::warn!(
                "the feed did not publish everything before the deadline; the next start republishes"
            );
        }
        tracing::info!("shutdown complete");
        Ok(())
    }
}
