//! What the benchmarks share: percentiles, the report line, and the real
//! `duckgrid` binary started as a separate process (as in production).

#![allow(dead_code)] // Each benchmark uses its own part.

pub mod light_watch;
pub mod model_size;
pub mod socket_floor;
pub mod store_floor;
pub mod writes;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use duckgrid::proto::v1 as pb;
use duckgrid::proto::v1::grid_service_client::GridServiceClient;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// A benchmark's client: the same with auth on or off (a key, or none).
pub type Client = GridServiceClient<InterceptedService<Channel, Bearer>>;

/// Puts a key on every call, when there is one.
#[derive(Clone)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

impl Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(key) = &self.0 {
            request.metadata_mut().insert("authorization", key.clone());
        }
        Ok(request)
    }
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// One row of the targets table (issue 14's, printed by
/// `benches/targets.sh`): what, the floor measured in the same run, the
/// figure, the target, and whether the figure meets it. A line of its own,
/// starting `TARGET |`, so the script can collect them from every bench.
pub fn target_row(what: &str, floor: &str, figure: &str, target: &str, met: bool) {
    let verdict = if met { "met" } else { "missed" };
    println!("TARGET | {what} | {floor} | {figure} | {target} | {verdict} |");
}

/// One line: count, p50, p99, max, and the target if there is one.
pub fn report(name: &str, mut samples: Vec<Duration>, target: Option<&str>) {
    samples.sort();
    let target = target
        .map(|t| format!("   (target: {t})"))
        .unwrap_or_default();
    if samples.is_empty() {
        println!("{name:<44} n=0{target}");
        return;
    }
    println!(
        "{name:<44} n={:<7} p50 {:>10}  p99 {:>10}  max {:>10}{target}",
        samples.len(),
        ms(percentile(&samples, 0.5)),
        ms(percentile(&samples, 0.99)),
        ms(*samples.last().unwrap()),
    );
}

/// One way of running duckgrid that a benchmark measures.
pub struct Variant {
    pub label: String,
    pub bin: PathBuf,
    /// Flags given to every process of this variant.
    pub args: Vec<String>,
    /// The key its clients call with.
    pub token: Option<String>,
    /// The CA its clients trust (a TLS variant's).
    pub ca: Option<PathBuf>,
    /// Holds the keys file (and certificates) of an auth-on variant.
    _keys: Option<std::sync::Arc<tempfile::TempDir>>,
}

impl Variant {
    /// Starts a process of this variant with `args` besides its own.
    pub async fn start(&self, dir: &Path, name: &str, args: &[&str]) -> anyhow::Result<Server> {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(self.args.iter().map(String::as_str));
        let mut server = Server::start_bin(&self.bin, dir, name, &all).await?;
        server.token = self.token.clone();
        server.ca = self.ca.clone();
        Ok(server)
    }

    /// Starts the demo server `name` on the database at `path` (created
    /// from `facts` demo facts on its first start).
    pub async fn start_demo(
        &self,
        dir: &Path,
        name: &str,
        path: &Path,
        facts: u64,
    ) -> anyhow::Result<Server> {
        let facts = facts.to_string();
        let db = path.to_str().expect("a UTF-8 path");
        self.start(dir, name, &["--db", db, "--facts", &facts])
            .await
    }
}

/// What a benchmark measures, side by side in one run: this build; with
/// `DUCKGRID_BENCH_METRICS=1` also this build serving metrics (every
/// process with `--metrics-listen`); and the binary
/// `DUCKGRID_BENCH_BASELINE` names (e.g. a build of `main`), so that a
/// change is judged against a baseline measured on the same machine at the
/// same time.
pub fn variants() -> Vec<Variant> {
    let this = PathBuf::from(env!("CARGO_BIN_EXE_duckgrid"));
    let plain = |label: &str, bin: &Path, args: &[&str]| Variant {
        label: label.to_owned(),
        bin: bin.to_owned(),
        args: args.iter().map(|a| a.to_string()).collect(),
        token: None,
        ca: None,
        _keys: None,
    };
    let on = |name: &str| std::env::var(name).is_ok_and(|v| v == "1");
    let mut out = vec![plain("this build", &this, &[])];
    if on("DUCKGRID_BENCH_METRICS") {
        out.push(plain(
            "this build, metrics on",
            &this,
            &["--metrics-listen", "127.0.0.1:0"],
        ));
    }
    if on("DUCKGRID_BENCH_AUTH") {
        // An admin key (it may spread) for the clients, an edge's key for
        // the edges.
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (token, digest) = duckgrid::auth::issue::new_token();
        let (edge_token, edge_digest) = duckgrid::auth::issue::new_token();
        let path = dir.path().join("keys.toml");
        std::fs::write(
            &path,
            format!(
                "[[principal]]\nid = \"bench\"\nsubject = \"bench\"\nrole = \"admin\"\nkey_sha256 = \"{digest}\"\n\
                 [[principal]]\nid = \"edge\"\nsubject = \"edge\"\nrole = \"edge\"\nkey_sha256 = \"{edge_digest}\"\n"
            ),
        )
        .expect("the keys file");
        let path = path.to_str().expect("a UTF-8 path").to_owned();
        let mut variant = plain(
            "this build, auth on",
            &this,
            &["--auth-file", &path, "--writer-token", &edge_token],
        );
        variant.token = Some(token.clone());
        if on("DUCKGRID_BENCH_TLS") {
            // The same keys, and every connection over TLS (edges to their
            // writer too).
            duckgrid::tls::certs::write(&duckgrid::config::NewCertsArgs {
                out: dir.path().to_owned(),
                host: vec!["127.0.0.1".into()],
                client: Vec::new(),
                ca_name: "bench CA".into(),
            })
            .expect("certificates");
            let file = |name: &str| dir.path().join(name).display().to_string();
            let mut tls = plain(
                "this build, auth + TLS",
                &this,
                &[
                    "--auth-file",
                    &path,
                    "--writer-token",
                    &edge_token,
                    "--tls-cert",
                    &file("server.pem"),
                    "--tls-key",
                    &file("server.key"),
                    "--writer-ca",
                    &file("ca.pem"),
                ],
            );
            tls.token = Some(token);
            tls.ca = Some(dir.path().join("ca.pem"));
            let dir = std::sync::Arc::new(dir);
            tls._keys = Some(std::sync::Arc::clone(&dir));
            variant._keys = Some(dir);
            out.extend([variant, tls]);
        } else {
            variant._keys = Some(std::sync::Arc::new(dir));
            out.push(variant);
        }
    }
    if let Some(baseline) = std::env::var_os("DUCKGRID_BENCH_BASELINE") {
        out.push(plain("baseline", Path::new(&baseline), &[]));
    }
    // The order can favour a variant (a warmer machine, a fuller disk):
    // DUCKGRID_BENCH_REVERSE=1 runs them the other way round.
    if on("DUCKGRID_BENCH_REVERSE") {
        out.reverse();
    }
    out
}

/// A running `duckgrid serve`; killed if dropped without [`Server::stop`].
pub struct Server {
    pub addr: String,
    child: Child,
    /// The key its clients call with (an auth-on variant's).
    token: Option<String>,
    /// The CA its clients trust (a TLS variant's).
    ca: Option<PathBuf>,
}

impl Server {
    /// Starts `duckgrid serve` on a free loopback port with `args`, and
    /// waits until it listens. `name` names its address file in `dir`.
    pub async fn start(dir: &Path, name: &str, args: &[&str]) -> anyhow::Result<Self> {
        Self::start_bin(Path::new(env!("CARGO_BIN_EXE_duckgrid")), dir, name, args).await
    }

    /// [`Server::start`] with another `duckgrid` binary.
    pub async fn start_bin(
        bin: &Path,
        dir: &Path,
        name: &str,
        args: &[&str],
    ) -> anyhow::Result<Self> {
        let addr_file = dir.join(format!("{name}.addr"));
        // A file left by an earlier server of the same name is not this one's.
        let _ = std::fs::remove_file(&addr_file);
        let log = std::env::var("DUCKGRID_BENCH_LOG").unwrap_or_else(|_| "warn".into());
        let mut child = Command::new(bin)
            .arg("serve")
            .args(["--listen", "127.0.0.1:0", "--log", &log])
            .arg("--addr-file")
            .arg(&addr_file)
            .args(args)
            .spawn()?;
        let addr = loop {
            if let Ok(addr) = std::fs::read_to_string(&addr_file) {
                break addr;
            }
            if let Some(status) = child.try_wait()? {
                anyhow::bail!("duckgrid ({name}) exited early: {status}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        Ok(Self {
            addr,
            child,
            token: None,
            ca: None,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub async fn client(&self) -> anyhow::Result<Client> {
        Ok(GridServiceClient::new(self.channel().await?)
            .max_decoding_message_size(256 * 1024 * 1024))
    }

    /// A new connection carrying this variant's key (and TLS), for calls
    /// made without the generated client (with a codec of one's own).
    pub async fn channel(&self) -> anyhow::Result<InterceptedService<Channel, Bearer>> {
        let tls = match &self.ca {
            Some(ca) => Some(duckgrid::tls::client(ca, None)?),
            None => None,
        };
        let channel = duckgrid::tls::endpoint(&self.addr, tls)?
            .tcp_nodelay(true)
            .connect()
            .await?;
        let key = self
            .token
            .as_ref()
            .map(|t| MetadataValue::try_from(format!("Bearer {t}")))
            .transpose()?;
        Ok(InterceptedService::new(channel, Bearer(key)))
    }

    /// Graceful shutdown, as SIGTERM does it; fails if the exit is not clean.
    pub fn stop(mut self) -> anyhow::Result<()> {
        Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()?;
        let status = self.child.wait()?;
        anyhow::ensure!(status.success(), "duckgrid exited with {status}");
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// CPU time (user + system) a process has used so far, from /proc (Linux;
/// zero elsewhere). Where the CPU goes tells what a run on a small machine
/// measured.
pub fn cpu_time(pid: u32) -> Duration {
    stat_cpu_time(&format!("/proc/{pid}/stat"))
}

/// The CPU time a `/proc` stat file (`/proc/<pid>/stat`,
/// `/proc/thread-self/stat`) reports.
pub fn stat_cpu_time(path: &str) -> Duration {
    let Ok(stat) = std::fs::read_to_string(path) else {
        return Duration::ZERO;
    };
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields of the line, in clock ticks (100 per second).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields
        .get(11..13)
        .map(|f| f.iter().filter_map(|v| v.parse::<u64>().ok()).sum())
        .unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

/// Waits (at most 30 s, then says so) until the processes are idle: under
/// 20 ms of CPU over a quarter second. A server catches up its tables in
/// the background for a second or two after a burst of writes; the next
/// measurement should not share the machine with it.
pub async fn settle(pids: &[u32]) {
    let total = || pids.iter().map(|&p| cpu_time(p)).sum::<Duration>();
    for _ in 0..120 {
        let before = total();
        tokio::time::sleep(Duration::from_millis(250)).await;
        if total() - before < Duration::from_millis(20) {
            return;
        }
    }
    println!("(the servers were still busy after 30 s; measuring anyway)");
}

/// CPU time of named processes between two points.
pub struct CpuMeter(Vec<(String, u32, Duration)>);

impl CpuMeter {
    pub fn start(processes: &[(&str, u32)]) -> Self {
        Self(
            processes
                .iter()
                .map(|(name, pid)| (name.to_string(), *pid, cpu_time(*pid)))
                .collect(),
        )
    }

    /// CPU the process named `name` has used since `start`.
    pub fn used(&self, name: &str) -> Duration {
        self.0
            .iter()
            .find(|(n, _, _)| n == name)
            .map_or(Duration::ZERO, |(_, pid, before)| {
                cpu_time(*pid).saturating_sub(*before)
            })
    }

    /// "name 1.23 s, ..." of CPU used since `start`, over `wall`.
    pub fn report(&self, wall: Duration) -> String {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(name, pid, before)| {
                let used = cpu_time(*pid).saturating_sub(*before);
                format!("{name} {:.1}", used.as_secs_f64())
            })
            .collect();
        format!(
            "CPU seconds over {:.1} s wall: {}",
            wall.as_secs_f64(),
            parts.join(", ")
        )
    }
}

/// A whole sheet, every measure and column.
pub async fn grid(client: &mut Client, sheet: &str) -> pb::Grid {
    client
        .get_sheet(pb::GetSheetRequest {
            name: sheet.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .grid
        .unwrap()
}

/// An UpdateCell of one cell (set, proportional, no holds).
pub fn edit(
    sheet: &str,
    path: &[String],
    column: &str,
    measure: &str,
    value: String,
) -> pb::UpdateCellRequest {
    pb::UpdateCellRequest {
        edit: Some(pb::CellEdit {
            cell: Some(pb::CellRef {
                sheet: sheet.into(),
                row_path: path.to_vec(),
                column: column.into(),
                measure: measure.into(),
            }),
            value,
            ..Default::default()
        }),
        request_id: String::new(),
    }
}
