//! `duckgrid health`: a gRPC health check client, so container health checks
//! need nothing but the duckgrid binary.

use std::time::Duration;

use anyhow::{Context, bail};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::config::HealthArgs;

/// Asks the server at `args.addr` for the health of `args.service`; succeeds
/// only when it is SERVING.
pub async fn check(args: &HealthArgs) -> anyhow::Result<()> {
    let uri = if args.addr.contains("://") {
        args.addr.clone()
    } else {
        format!("http://{}", args.addr)
    };
    let timeout = Duration::from_millis(args.timeout_ms);
    let channel = tonic::transport::Endpoint::from_shared(uri.clone())?
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
