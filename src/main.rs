//! The `duckgrid` binary: parses the command line and calls the library.

use std::process::ExitCode;

use clap::Parser;
use duckgrid::config::{Cli, Command};
use duckgrid::{Server, telemetry};

/// mimalloc rather than the system allocator: see Cargo.toml.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(config) => serve(*config).await,
        Command::Check(args) => {
            duckgrid::telemetry::init(duckgrid::config::LogFormat::Text, "warn");
            duckgrid::check::run(&args).map(|report| println!("{report}"))
        }
        Command::Demo(args) => {
            let spec = duckgrid::demo::DemoSpec::new(args.seed, args.facts);
            duckgrid::demo::write_demo(&args.out, &spec, args.format).map(|()| {
                println!(
                    "wrote the demo model and its data to {}: run `duckgrid serve --model {}`",
                    args.out.display(),
                    args.out.join("model.toml").display()
                )
            })
        }
        Command::Keys(duckgrid::config::KeysCommand::New(args)) => {
            duckgrid::auth::issue::new_key_entry(&args).map(|text| print!("{text}"))
        }
        Command::Certs(duckgrid::config::CertsCommand::New(args)) => {
            duckgrid::tls::certs::write(&args).map(|text| print!("{text}"))
        }
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
            // A model's problems are shown whole (each with its place).
            match e.downcast_ref::<duckgrid::diagnostics::Problems>() {
                Some(problems) => eprintln!("{problems}"),
                None => eprintln!("duckgrid: {e:#}"),
            }
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: duckgrid::Config) -> anyhow::Result<()> {
    telemetry::init(config.log_format, &config.log);
    let addr_file = config.addr_file.clone();
    // Listen for signals before anyone can learn the address and send one.
    let shutdown = shutdown_signal()?;
    #[cfg(unix)]
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let server = Server::bind(config).await?;
    #[cfg(unix)]
    if let Some(auth) = server.auth() {
        // SIGHUP reloads the keys; a file with problems keeps the old ones.
        tokio::spawn(async move {
            while hangup.recv().await.is_some() {
                if let Err(e) = auth.reload() {
                    tracing::error!(error = %format!("{e:#}"), "keys not reloaded; the previous keys stay in force");
                }
            }
        });
    }
    if let Some(path) = addr_file {
        // Written whole, then renamed: a reader never sees half an address.
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, server.local_addr().to_string())?;
        std::fs::rename(&tmp, &path)?;
    }
    server.run(shutdown).await
}

/// A future completing on SIGINT (Ctrl-C) or SIGTERM; the handlers are
/// installed when this returns, not when the future is first polled.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let ctrl_c = tokio::signal::ctrl_c();
    Ok(async move {
        #[cfg(unix)]
        let term = term.recv();
        #[cfg(not(unix))]
        let term = std::future::pending::<Option<()>>();
        tokio::select! {
            _ = ctrl_c => tracing::info!("SIGINT received"),
            _ = term => tracing::info!("SIGTERM received"),
        }
    })
}
