//! The `duckgrid` binary: parses the command line and calls the library.

use std::process::ExitCode;

use clap::Parser;
use duckgrid::config::{Cli, Command};
use duckgrid::{Server, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(config) => serve(*config).await,
        Command::Health(args) => match duckgrid::health::check(&args).await {
            Ok(()) => {
                println!("SERVING");
                Ok(())
            }
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("duckgrid: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: duckgrid::Config) -> anyhow::Result<()> {
    telemetry::init(config.log_format, &config.log);
    let addr_file = config.addr_file.clone();
    let server = Server::bind(config).await?;
    if let Some(path) = addr_file {
        // Written whole, then renamed: a reader never sees half an address.
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, server.local_addr().to_string())?;
        std::fs::rename(&tmp, &path)?;
    }
    server.run(shutdown_signal()).await
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT received"),
        () = term => tracing::info!("SIGTERM received"),
    }
}
