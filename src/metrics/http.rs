//! `/metrics` over plain HTTP on `--metrics-listen`, apart from the gRPC
//! port (a scraper needs no gRPC, and the port can be firewalled apart).

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::Metrics;
use crate::feed::Feed;

/// Binds `addr` for `/metrics`; the returned address is the one bound
/// (port 0 picks one).
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding --metrics-listen {addr}"))
}

/// Serves `/metrics` until `stop` flips.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    feed: Arc<dyn Feed>,
    mut stop: watch::Receiver<bool>,
) {
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let text = metrics.render(feed.head());
            async move { ([(CONTENT_TYPE, prometheus::TEXT_FORMAT)], text) }
        }),
    );
    let shutdown = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::error!(error = %e, "the metrics endpoint stopped");
    }
}
