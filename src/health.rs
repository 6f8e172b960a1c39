//! `duckgrid health`: a gRPC health check client, so container health checks
//! need nothing but the duckgrid binary; and the writer's health as the
//! server reports it.

use std::time::Duration;

use anyhow::{Context, bail};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::config::HealthArgs;

/// Asks the server at `args.addr` for the health of `args.service`; succeeds
/// only when it is SERVING.
pub async fn check(args: &HealthArgs) -> anyhow::Result<()> {
    let tls = match &args.ca {
        Some(ca) => Some(crate::tls::client(
            ca,
            args.cert.as_deref().zip(args.key.as_deref()),
        )?),
        None => None,
    };
    let endpoint = crate::tls::endpoint(&args.addr, tls)?;
    let uri = endpoint.uri().to_string();
    let timeout = Duration::from_millis(args.timeout_ms);
    let channel = endpoint
        .connect_timeout(timeout)
        .timeout(timeout)
        .connect()
        .await
        .with_context(|| format!("connecting to {uri}"))?;
    let response = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: args.service.clone(),
        })
        .await
        .context("health check")?;
    let status =
        ServingStatus::try_from(response.into_inner().status).unwrap_or(ServingStatus::Unknown);
    if status != ServingStatus::Serving {
        bail!("{uri} reports {}", status.as_str_name());
    }
    Ok(())
}

/// Health follows the writer: once its thread has stopped (for any reason
/// but a shutdown), nothing can be written and the server says so.
pub async fn follow_writer(
    mut alive: tokio::sync::watch::Receiver<bool>,
    health: tonic_health::server::HealthReporter,
    shutdown: tokio::sync::watch::Receiver<bool>,
) {
    if alive.wait_for(|alive| !*alive).await.is_ok() && !*shutdown.borrow() {
        tracing::error!("the writer has stopped; reporting NOT_SERVING");
        health
            .set_service_status("", tonic_health::ServingStatus::NotServing)
            .await;
        health
            .set_service_status(
                crate::server::GRID_SERVICE,
                tonic_health::ServingStatus::NotServing,
            )
            .await;
    }
}
