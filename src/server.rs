//! Assembling and running the server: storage, writer, feed, watches, and
//! the gRPC stack (GridService, health, reflection) in one visible place.
//!
//! `Server::bind(config)` does everything that can fail at start-up and
//! binds the listener (port 0 allowed); `local_addr()` says where; and
//! `run(shutdown)` serves until the shutdown future completes, then drains:
//! health goes NOT_SERVING, watch streams end with UNAVAILABLE and the
//! revision to resume from, open calls get `shutdown_timeout` to finish, the
//! writer commits what is queued and checkpoints, and `run` returns.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;

use crate::config::Config;
use crate::demo::DemoSpec;
use crate::feed::{Feed, memory::MemoryFeed};
use crate::model::Model;
use crate::proto::{FILE_DESCRIPTOR_SET, v1::grid_service_server::GridServiceServer};
use crate::service::GridApi;
use crate::store::{self, ReadPool};
use crate::summary::{Published, Snapshot};
use crate::watch::{WatchConfig, Watches};
use crate::writer::{self, Mirror, WriterConfig, WriterHandle};

/// Largest request accepted.
const MAX_DECODING_MESSAGE_SIZE: usize = 16 * 1024 * 1024;
/// Largest response sent (a write to a grand total changes every cell).
const MAX_ENCODING_MESSAGE_SIZE: usize = 256 * 1024 * 1024;

/// A bound, ready-to-run server.
pub struct Server {
    config: Config,
    listener: TcpListener,
    model: Arc<Model>,
    pool: Arc<ReadPool>,
    published: Arc<Published>,
    writer: WriterHandle,
    writer_thread: JoinHandle<()>,
    watches: Arc<Watches>,
    stop_watches: watch::Sender<bool>,
}

impl Server {
    /// Opens (or creates and seeds) the database, starts the writer and
    /// binds the listener.
    pub async fn bind(config: Config) -> anyhow::Result<Self> {
        let spec = DemoSpec::new(config.seed, config.facts);
        let path = config.db.clone();
        let (db, mirror) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let db = store::open(&path, spec)?;
            let started = std::time::Instant::now();
            let mirror = Mirror::load(&db.conn, &db.model).context("loading the facts")?;
            tracing::info!(
                elapsed_ms = started.elapsed().as_millis() as u64,
                "loaded the facts"
            );
            Ok((db, mirror))
        })
        .await
        .context("opening the database")??;
        let pool = ReadPool::new(&db.conn, config.read_connections.max(1))?;
        let feed: Arc<dyn Feed> = Arc::new(MemoryFeed::new(
            Arc::clone(&pool),
            db.head,
            config.feed_buffer.max(1),
        ));
        let model = Arc::clone(&db.model);
        let published = Arc::new(Published::new(Snapshot {
            revision: db.head,
            summary: db.summary,
        }));
        let writer_config = WriterConfig {
            max_facts_per_write: config.max_facts_per_write,
        };
        let (writer, writer_thread) = writer::spawn(
            db.conn,
            mirror,
            Arc::clone(&model),
            Arc::clone(&published),
            writer_config,
            Arc::clone(&feed),
        )?;
        let (stop_watches, stopped) = watch::channel(false);
        let watch_config = WatchConfig {
            progress_interval: config.progress_interval(),
            stall_timeout: config.watch_stall_timeout(),
            max_watchers: config.max_watchers,
        };
        let watches = Watches::new(
            feed,
            Arc::clone(&published),
            Arc::clone(&model),
            watch_config,
            stopped,
        );
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        tracing::info!(
            addr = %listener.local_addr()?,
            db = %config.db,
            head_revision = db.head,
            "duckgrid ready"
        );
        Ok(Self {
            config,
            listener,
            model,
            pool,
            published,
            writer,
            writer_thread,
            watches,
            stop_watches,
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// A new connection to the server's database, for tests and tools that
    /// inspect it (read only: only the writer writes).
    pub fn database(&self) -> duckdb::Result<duckdb::Connection> {
        self.pool.connection()
    }

    /// The model the server serves.
    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// Serves until `shutdown` completes, then drains (see the module docs).
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let Server {
            config,
            listener,
            model,
            pool: _,
            published,
            writer,
            writer_thread,
            watches,
            stop_watches,
        } = self;
        let (health, health_service) = tonic_health::server::health_reporter();
        health.set_serving::<GridServiceServer<GridApi>>().await;
        // Both reflection versions (grpcurl uses either), each listing every
        // service this server has, the other reflection version included,
        // and google.rpc's error details so grpcurl can show ErrorInfo.
        let reflection = || {
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
        };
        let reflection_v1 = reflection()
            .register_encoded_file_descriptor_set(
                tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
            )
            .build_v1()?;
        let reflection_v1alpha = reflection()
            .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
            .build_v1alpha()?;
        let grid = GridServiceServer::new(GridApi {
            model,
            published,
            writer,
            watches,
        })
        .max_decoding_message_size(MAX_DECODING_MESSAGE_SIZE)
        .max_encoding_message_size(MAX_ENCODING_MESSAGE_SIZE);

        let (drain_tx, drain_rx) = tokio::sync::oneshot::channel::<()>();
        // The builder's tcp_nodelay only applies to listeners it binds itself:
        // without it on ours, small responses wait for delayed ACKs (~40 ms).
        let incoming = TcpIncoming::from(listener)
            .with_nodelay(Some(true))
            .with_keepalive(Some(Duration::from_secs(60)));
        // Boxed (not stack-pinned) so it can be dropped before the writer is
        // joined: the service inside owns the writer's handles.
        let mut serve = Box::pin(
            tonic::transport::Server::builder()
                .http2_keepalive_interval(Some(Duration::from_secs(30)))
                .trace_fn(|req| tracing::info_span!("grpc", method = %req.uri().path()))
                .add_service(health_service)
                .add_service(reflection_v1)
                .add_service(reflection_v1alpha)
                .add_service(grid)
                .serve_with_incoming_shutdown(incoming, async {
                    let _ = drain_rx.await;
                }),
        );

        tokio::select! {
            result = &mut serve => result.context("serving gRPC")?,
            () = shutdown => {
                tracing::info!("shutting down: health NOT_SERVING, ending watch streams");
                health.set_service_status("", ServingStatus::NotServing).await;
                health.set_not_serving::<GridServiceServer<GridApi>>().await;
                let _ = stop_watches.send(true);
                let _ = drain_tx.send(());
                match tokio::time::timeout(config.shutdown_timeout(), &mut serve).await {
                    Ok(result) => result.context("serving gRPC")?,
                    Err(_) => tracing::warn!(
                        timeout_ms = config.shutdown_timeout_ms,
                        "calls still open after the shutdown timeout were cut off"
                    ),
                }
            }
        }
        // Every WriterHandle lived in the service, now dropped: the writer
        // applies what is queued, checkpoints and stops.
        drop(serve);
        let joined = tokio::task::spawn_blocking(move || writer_thread.join());
        match tokio::time::timeout(config.shutdown_timeout(), joined).await {
            Ok(Ok(Ok(()))) => tracing::info!("shutdown complete"),
            Ok(Ok(Err(_))) => tracing::error!("the writer thread panicked"),
            Ok(Err(e)) => tracing::warn!(error = %e, "could not wait for the writer to stop"),
            Err(_) => tracing::warn!("the writer did not stop within the shutdown timeout"),
        }
        Ok(())
    }
}
