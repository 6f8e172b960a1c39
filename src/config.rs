//! Configuration: command-line flags, each with a `DUCKGRID_*` environment
//! variable, and safe defaults (loopback only, a local database file).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::feed::redis::redact;
use crate::history::Retention;
use crate::writer::Faults;

/// duckgrid: a real-time, multi-user planning grid over gRPC.
#[derive(Debug, Parser)]
#[command(name = "duckgrid", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (creating the database from the model on first start).
    Serve(Box<Config>),
    /// Check a model file and its data without serving: every problem, with
    /// where it is in the file and sample rows; exits 0 when there is none.
    Check(CheckArgs),
    /// Write the built-in demo's model file and data into a directory (a
    /// starting point for a model of your own).
    Demo(DemoArgs),
    /// Check a running server through the gRPC health protocol; exits 0 when
    /// it is SERVING (for container health checks).
    Health(HealthArgs),
    /// Manage API keys: `duckgrid keys new --subject alice --role writer`
    /// prints a new token once and the lines to add to the keys file.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// TLS certificates: `duckgrid certs new --out certs --client alice`
    /// makes a private CA, a server certificate and client certificates.
    #[command(subcommand)]
    Certs(CertsCommand),
}

/// `duckgrid certs ...`
#[derive(Debug, Clone, Subcommand)]
pub enum CertsCommand {
    /// A new private CA (`ca.pem`, valid 10 years; its key is not kept: run
    /// again, into a new directory, for more certificates), a server
    /// certificate (`server.pem`, `server.key`) and a client certificate per
    /// `--client` (`client-NAME.pem`, `.key`), each valid one year. Existing
    /// files are never overwritten.
    New(NewCertsArgs),
}

/// Arguments of `duckgrid certs new`.
#[derive(Debug, Clone, Args)]
pub struct NewCertsArgs {
    /// The directory to write into (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// A name or address the server certificate is valid for (repeat it).
    #[arg(long, default_values = ["localhost", "127.0.0.1", "::1"])]
    pub host: Vec<String>,
    /// A client certificate with this Common Name (repeat it).
    #[arg(long)]
    pub client: Vec<String>,
    /// The CA's Common Name.
    #[arg(long, default_value = "duckgrid private CA")]
    pub ca_name: String,
}

/// `duckgrid keys ...`
#[derive(Debug, Clone, Subcommand)]
pub enum KeysCommand {
    /// A new key: its token (shown once, never stored) and its entry.
    New(NewKeyArgs),
}

/// Arguments of `duckgrid keys new`.
#[derive(Debug, Clone, Args)]
pub struct NewKeyArgs {
    /// The name recorded as the actor of this key's writes.
    #[arg(long)]
    pub subject: String,
    #[arg(long, value_enum)]
    pub role: crate::auth::Role,
    /// The key's id in logs and audit (default: the subject and a suffix).
    #[arg(long)]
    pub id: Option<String>,
    /// May write aggregate cells (spreading).
    #[arg(long)]
    pub spread: bool,
    /// When the key stops working (RFC 3339, e.g. 2027-06-30T00:00:00Z).
    #[arg(long)]
    pub expires: Option<String>,
    /// Identify the principal by the Common Name of its client certificate
    /// (mutual TLS) instead of a token: no token is made.
    #[arg(long)]
    pub certificate: Option<String>,
}

/// Arguments of `duckgrid check`.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// The model file.
    #[arg(long, env = "DUCKGRID_MODEL")]
    pub model: PathBuf,
}

/// Arguments of `duckgrid demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// The directory to write into (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Seed of the generated data.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Number of sales facts.
    #[arg(long, default_value_t = 100_000)]
    pub facts: u64,
    /// The data files' format.
    #[arg(long, value_enum, default_value_t = crate::demo::Format::Parquet)]
    pub format: crate::demo::Format,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// What a process does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Role {
    /// Owns the database: applies writes, serves reads and watches.
    #[default]
    Writer,
    /// No database: serves watches from the Redis stream and forwards
    /// everything else to the writer (needs --writer and --redis-url).
    Edge,
}

/// Server configuration.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// The process's role.
    #[arg(long, env = "DUCKGRID_ROLE", value_enum, default_value_t = Role::Writer)]
    pub role: Role,
    /// The writer's gRPC address (edges only), e.g. `http://127.0.0.1:50051`.
    #[arg(long, env = "DUCKGRID_WRITER")]
    pub writer: Option<String>,
    /// Redis URL, e.g. `redis://127.0.0.1:6379`: change events go through a
    /// Redis stream (any number of processes can watch). Without it the
    /// in-process feed is used.
    #[arg(long, env = "DUCKGRID_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// The key of the Redis stream of change events.
    #[arg(
        long,
        env = "DUCKGRID_REDIS_STREAM",
        default_value = "duckgrid:grid:changes"
    )]
    pub redis_stream: String,
    /// Approximate number of revisions the Redis stream retains (older ones
    /// are replayed from the changelog).
    #[arg(long, env = "DUCKGRID_REDIS_MAXLEN", default_value_t = 100_000)]
    pub redis_maxlen: u64,
    /// Revisions the changelog keeps (0: all). Older revisions can neither be
    /// replayed nor deduplicated by request id.
    #[arg(long, env = "DUCKGRID_CHANGELOG_RETENTION", default_value_t = 0)]
    pub changelog_retention: u64,
    /// What the fact history keeps (point-in-time reads, reverts, undo):
    /// `all`, `off`, a number of revisions (`100000`) or a duration (`90d`,
    /// `12h`). Older revisions can be neither read as they were nor
    /// reverted; who changed what stays in the changelog.
    #[arg(long, env = "DUCKGRID_HISTORY_RETENTION", default_value_t = Retention::All)]
    pub history_retention: Retention,
    /// How long the writer waits with nothing to do before it writes the
    /// committed revisions into the changelog, the fact history and the
    /// `facts` table, in milliseconds. A commit makes a revision durable
    /// in the journal; the tables catch up behind the writes (under load
    /// the changelog and fact history at least every second, the `facts`
    /// table every 10 seconds), at shutdown, or at the next start after a
    /// crash.
    #[arg(long, env = "DUCKGRID_FACTS_CATCH_UP_IDLE_MS", default_value_t = 50)]
    pub facts_catch_up_idle_ms: u64,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "DUCKGRID_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,
    /// DuckDB database file, created from the model if missing; `:memory:`
    /// for a throw-away database.
    #[arg(long, env = "DUCKGRID_DB", default_value = "duckgrid.duckdb")]
    pub db: String,
    /// Caps the memory DuckDB itself uses, in MiB (its cache of the
    /// database, the versions of rows a write changes until they are
    /// checkpointed). Unset: DuckDB's default, 80% of the machine's memory
    /// (or of the container's limit). Too low a cap makes large writes fail
    /// (UNAVAILABLE, nothing applied).
    #[arg(long, env = "DUCKGRID_DUCKDB_MEMORY_LIMIT_MIB")]
    pub duckdb_memory_limit_mib: Option<u64>,
    /// DuckDB's threads once the server is up (the import and the start
    /// use every core). With one, a commit that checkpoints does the work
    /// itself instead of spinning while a DuckDB worker does it, and the
    /// catch-up of the tables takes one core, not every core the writer
    /// and the gRPC edges need; more threads speed up large history reads.
    #[arg(long, env = "DUCKGRID_DUCKDB_THREADS", default_value_t = 1)]
    pub duckdb_threads: u32,
    /// The model file (TOML, see docs/MODEL.md). Without it: the built-in
    /// demo, with data generated from --seed and --facts.
    #[arg(long, env = "DUCKGRID_MODEL")]
    pub model: Option<PathBuf>,
    /// Seed of the generated demo data (new databases only).
    #[arg(long, env = "DUCKGRID_SEED", default_value_t = 42)]
    pub seed: u64,
    /// Number of sales facts to generate (new databases only).
    #[arg(long, env = "DUCKGRID_FACTS", default_value_t = 100_000)]
    pub facts: u64,
    /// The most facts one write request may change or create, over all its
    /// edits (also what one commit group touches before the next begins).
    #[arg(
        long,
        env = "DUCKGRID_MAX_FACTS_PER_WRITE",
        default_value_t = 2_000_000
    )]
    pub max_facts_per_write: u64,
    /// The most concurrent WatchUpdates streams.
    #[arg(long, env = "DUCKGRID_MAX_WATCHERS", default_value_t = 10_000)]
    pub max_watchers: usize,
    /// The most concurrent WatchUpdates streams from one client address.
    #[arg(long, env = "DUCKGRID_MAX_WATCHERS_PER_PEER", default_value_t = 2_000)]
    pub max_watchers_per_peer: usize,
    /// The most bytes of events one watch buffers for a client that reads
    /// slowly (beyond it the watch waits, up to the stall timeout).
    #[arg(long, env = "DUCKGRID_WATCH_BUFFER_BYTES", default_value_t = 8 * 1024 * 1024)]
    pub watch_buffer_bytes: usize,
    /// The largest request accepted, in bytes.
    #[arg(long, env = "DUCKGRID_MAX_REQUEST_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_request_bytes: usize,
    /// The most concurrent streams (calls) on one HTTP/2 connection.
    #[arg(
        long,
        env = "DUCKGRID_MAX_STREAMS_PER_CONNECTION",
        default_value_t = 1_024
    )]
    pub max_streams_per_connection: u32,
    /// The most calls one connection may have in flight before the next
    /// waits (a watch counts until its stream starts).
    #[arg(long, env = "DUCKGRID_MAX_CALLS_PER_CONNECTION", default_value_t = 256)]
    pub max_calls_per_connection: usize,
    /// Milliseconds a unary call may take (a client's shorter deadline
    /// wins); watch streams are not cut by it.
    #[arg(long, env = "DUCKGRID_REQUEST_TIMEOUT_MS", default_value_t = 60_000)]
    pub request_timeout_ms: u64,
    /// Milliseconds between progress messages on idle watch streams.
    #[arg(long, env = "DUCKGRID_PROGRESS_INTERVAL_MS", default_value_t = 10_000)]
    pub progress_interval_ms: u64,
    /// Milliseconds a watcher may leave its buffer unread before its stream
    /// ends (with RESOURCE_EXHAUSTED and the revision to resume from).
    #[arg(
        long,
        env = "DUCKGRID_WATCH_STALL_TIMEOUT_MS",
        default_value_t = 30_000
    )]
    pub watch_stall_timeout_ms: u64,
    /// Change events a live watcher may fall behind before it catches up
    /// from the changelog instead.
    #[arg(long, env = "DUCKGRID_FEED_BUFFER", default_value_t = 4096)]
    pub feed_buffer: usize,
    /// The most bytes of recent events kept for live watchers (one event
    /// can be megabytes; older ones are read from the changelog).
    #[arg(long, env = "DUCKGRID_FEED_BUFFER_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub feed_buffer_bytes: usize,
    /// Milliseconds a graceful shutdown waits for open calls.
    #[arg(long, env = "DUCKGRID_SHUTDOWN_TIMEOUT_MS", default_value_t = 10_000)]
    pub shutdown_timeout_ms: u64,
    /// Connections (and blocking threads) serving reads.
    #[arg(long, env = "DUCKGRID_READ_CONNECTIONS", default_value_t = 4)]
    pub read_connections: usize,
    /// Serve Prometheus metrics at http://ADDR/metrics (off by default;
    /// give a loopback address unless a scraper elsewhere needs it).
    #[arg(long, env = "DUCKGRID_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// The keys file (see docs/AUTH.md): every call then needs
    /// `authorization: Bearer <token>`. Reloaded on SIGHUP.
    #[arg(long, env = "DUCKGRID_AUTH_FILE")]
    pub auth_file: Option<PathBuf>,
    /// An edge's own key for its writer, a principal with role `edge`: what
    /// the edge asks itself (position, history, snapshots) goes with it,
    /// and so do callers' calls, naming the caller the edge authenticated
    /// (only an edge's key may; see docs/AUTH.md).
    #[arg(long, env = "DUCKGRID_WRITER_TOKEN", hide_env_values = true)]
    pub writer_token: Option<String>,
    #[command(flatten)]
    pub tls: crate::tls::TlsFlags,
    /// Serve without authentication on a non-loopback address (anyone who
    /// can reach the port may read and write everything).
    #[arg(long, env = "DUCKGRID_INSECURE_NO_AUTH")]
    pub insecure_no_auth: bool,
    /// With --auth-file, let reflection (grpcurl's `list`, `describe`)
    /// answer without a key.
    #[arg(long, env = "DUCKGRID_ANONYMOUS_REFLECTION")]
    pub anonymous_reflection: bool,
    /// Log format.
    #[arg(long, env = "DUCKGRID_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Log filter, e.g. `info` or `duckgrid=debug,info` (RUST_LOG syntax).
    #[arg(long, env = "DUCKGRID_LOG", default_value = "info")]
    pub log: String,
    /// Once serving, write the bound `host:port` to this file (for scripts
    /// and tests that listen on port 0).
    #[arg(long, env = "DUCKGRID_ADDR_FILE")]
    pub addr_file: Option<PathBuf>,
    /// Failure points for fault-injection tests (library API only).
    #[arg(skip)]
    pub faults: Faults,
}

impl Default for Config {
    fn default() -> Self {
        // Exactly what `duckgrid serve` with no flags would use (including
        // any DUCKGRID_* variables set in the environment).
        let cli = Cli::try_parse_from(["duckgrid", "serve"]).expect("defaults parse");
        match cli.command {
            Command::Serve(config) => *config,
            _ => unreachable!("parsed as serve"),
        }
    }
}

impl Config {
    /// Checks every setting, and fails with all the problems found, each
    /// naming its flag.
    pub fn validate(&self) -> anyhow::Result<()> {
        let mut problems = Vec::new();
        let mut at_least = |flag: &str, value: u128, min: u128| {
            if value < min {
                problems.push(format!("--{flag} must be at least {min} (it is {value})"));
            }
        };
        if let Some(mib) = self.duckdb_memory_limit_mib {
            at_least("duckdb-memory-limit-mib", mib.into(), 64);
        }
        at_least("duckdb-threads", self.duckdb_threads.into(), 1);
        at_least("progress-interval-ms", self.progress_interval_ms.into(), 1);
        at_least(
            "watch-stall-timeout-ms",
            self.watch_stall_timeout_ms.into(),
            1,
        );
        at_least("shutdown-timeout-ms", self.shutdown_timeout_ms.into(), 100);
        at_least("request-timeout-ms", self.request_timeout_ms.into(), 1);
        at_least("max-facts-per-write", self.max_facts_per_write.into(), 1);
        at_least("max-watchers", self.max_watchers as u128, 1);
        at_least(
            "max-watchers-per-peer",
            self.max_watchers_per_peer as u128,
            1,
        );
        at_least("watch-buffer-bytes", self.watch_buffer_bytes as u128, 1024);
        at_least("max-request-bytes", self.max_request_bytes as u128, 1024);
        at_least(
            "max-streams-per-connection",
            self.max_streams_per_connection.into(),
            1,
        );
        at_least(
            "max-calls-per-connection",
            self.max_calls_per_connection as u128,
            1,
        );
        at_least("feed-buffer", self.feed_buffer as u128, 1);
        at_least("feed-buffer-bytes", self.feed_buffer_bytes as u128, 1024);
        at_least("read-connections", self.read_connections as u128, 1);
        at_least("redis-maxlen", self.redis_maxlen.into(), 1);
        let mut at_most = |flag: &str, value: u128, max: u128| {
            if value > max {
                problems.push(format!("--{flag} must be at most {max} (it is {value})"));
            }
        };
        let i64_max = i64::MAX as u128;
        at_most(
            "max-facts-per-write",
            self.max_facts_per_write.into(),
            i64_max,
        );
        at_most("redis-maxlen", self.redis_maxlen.into(), i64_max);
        at_most(
            "changelog-retention",
            self.changelog_retention.into(),
            i64_max,
        );
        at_most(
            "max-watchers",
            self.max_watchers as u128,
            tokio::sync::Semaphore::MAX_PERMITS as u128,
        );
        at_most(
            "max-request-bytes",
            self.max_request_bytes as u128,
            u32::MAX as u128,
        );
        if self.auth_file.is_none()
            && !self.tls.mutual()
            && !self.listen.ip().is_loopback()
            && !self.insecure_no_auth
        {
            problems.push(format!(
                "--listen {} is not a loopback address and there is no --auth-file (nor \
                 --client-ca): anyone who can reach it could read and write everything; give \
                 --auth-file, or --insecure-no-auth to serve it open anyway",
                self.listen
            ));
        }
        if self.role == Role::Edge && (self.writer.is_none() || self.redis_url.is_none()) {
            problems.push("an edge (--role edge) needs --writer and --redis-url".to_owned());
        }
        if self.role == Role::Edge {
            // An edge names the callers it authenticated to its writer, who
            // must know them by the same keys file; and it needs a
            // credential of its own for that.
            let own = self.writer_token.is_some() || self.tls.writer_cert.is_some();
            if self.auth_file.is_some() && !own {
                problems.push(
                    "an edge with --auth-file needs its own credential for its writer: \
                     --writer-token (a key of role edge) or --writer-cert"
                        .to_owned(),
                );
            }
            if self.auth_file.is_none() && (own || self.tls.mutual()) {
                problems.push(
                    "an edge with --writer-token, --writer-cert or --client-ca needs --auth-file \
                     (the same keys as its writer's): it authenticates its callers and names them \
                     to the writer"
                        .to_owned(),
                );
            }
        }
        if let Some(url) = &self.redis_url
            && self.tls.redis_ca.is_some()
            && !url.starts_with("rediss://")
        {
            problems.push("--redis-ca is for a rediss:// --redis-url (TLS)".to_owned());
        }
        if let Some(url) = &self.redis_url
            && !(url.starts_with("redis://") || url.starts_with("rediss://"))
        {
            problems.push(format!(
                "--redis-url must start with redis:// or rediss:// (it is {})",
                redact(url)
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            bail!("invalid configuration:\n  {}", problems.join("\n  "))
        }
    }

    pub fn progress_interval(&self) -> Duration {
        Duration::from_millis(self.progress_interval_ms)
    }

    pub fn watch_stall_timeout(&self) -> Duration {
        Duration::from_millis(self.watch_stall_timeout_ms)
    }

    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_millis(self.shutdown_timeout_ms)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
}

/// Arguments of `duckgrid health`.
#[derive(Debug, Clone, Args)]
pub struct HealthArgs {
    /// The server's address.
    #[arg(long, env = "DUCKGRID_HEALTH_ADDR", default_value = "127.0.0.1:50051")]
    pub addr: String,
    /// The service to check; empty checks the server as a whole.
    #[arg(long, default_value = "")]
    pub service: String,
    /// Give up after this many milliseconds.
    #[arg(long, default_value_t = 3_000)]
    pub timeout_ms: u64,
    /// A server with TLS: the CA (PEM) that signed its certificate.
    #[arg(long, env = "DUCKGRID_HEALTH_CA")]
    pub ca: Option<PathBuf>,
    /// A server with mutual TLS: the client certificate (PEM) to present.
    #[arg(long, env = "DUCKGRID_HEALTH_CERT", requires = "key", requires = "ca")]
    pub cert: Option<PathBuf>,
    /// The private key of --cert (PEM).
    #[arg(long, env = "DUCKGRID_HEALTH_KEY", requires = "cert")]
    pub key: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_setting_is_named_at_once() {
        let config = Config {
            progress_interval_ms: 0,
            duckdb_threads: 0,
            max_facts_per_write: u64::MAX,
            role: Role::Edge,
            redis_url: Some("http://user:s3cret@host".into()),
            ..Config::default()
        };
        let message = config.validate().unwrap_err().to_string();
        for part in [
            "--progress-interval-ms must be at least 1",
            "--duckdb-threads must be at least 1",
            "--max-facts-per-write must be at most",
            "needs --writer and --redis-url",
            "--redis-url must start with",
        ] {
            assert!(message.contains(part), "{part:?} missing from {message}");
        }
        assert!(!message.contains("s3cret"));
        assert!(Config::default().validate().is_ok());
    }

    #[test]
    fn an_edge_has_keys_and_a_credential_of_its_own_or_neither() {
        let edge = |f: fn(&mut Config)| {
            let mut c = Config {
                role: Role::Edge,
                writer: Some("127.0.0.1:1".into()),
                redis_url: Some("redis://127.0.0.1:1".into()),
                ..Config::default()
            };
            f(&mut c);
            c.validate().map_err(|e| e.to_string())
        };
        assert!(edge(|_| {}).is_ok());
        assert!(
            edge(|c| c.auth_file = Some("keys.toml".into()))
                .unwrap_err()
                .contains("its own credential")
        );
        assert!(
            edge(|c| {
                c.auth_file = Some("keys.toml".into());
                c.writer_token = Some("dg_x".into());
            })
            .is_ok()
        );
        assert!(
            edge(|c| c.writer_token = Some("dg_x".into()))
                .unwrap_err()
                .contains("needs --auth-file")
        );
        assert!(
            edge(|c| c.tls.redis_ca = Some("ca.pem".into()))
                .unwrap_err()
                .contains("--redis-ca is for a rediss://")
        );
    }
}
