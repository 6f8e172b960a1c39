//! A real `redis-server` for tests, on a free loopback port, that can be
//! killed (SIGKILL) and restarted on the same port with or without its data.
//!
//! Ports come from below the kernel's ephemeral range (32768+), which the
//! test servers (bound to port 0) and every outgoing connection draw from:
//! a port freed for Redis could otherwise be taken by someone else before
//! Redis binds it. Each start is also checked to be *our* redis-server (by
//! pid), so two tests can never share one by accident.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

/// The next port to try; distinct per test process, spread across runs.
static NEXT_PORT: AtomicU16 = AtomicU16::new(0);

fn candidate_port() -> u16 {
    let _ = NEXT_PORT.compare_exchange(
        0,
        20_000 + (std::process::id() % 4_000) as u16 * 3,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    let port = NEXT_PORT.fetch_add(1, Ordering::SeqCst);
    20_000 + (port - 20_000) % 12_000
}

pub struct RedisServer {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// Append-only file with fsync on every write: data survives SIGKILL.
    persistent: bool,
    /// Also serving TLS: its port, and the directory of `duckgrid certs new`.
    tls: Option<(u16, std::path::PathBuf)>,
}

impl RedisServer {
    pub fn start(persistent: bool) -> Self {
        Self::start_with(persistent, None)
    }

    /// Also serving TLS (`rediss://`) with the server certificate of
    /// `duckgrid certs new` in `certs`.
    #[allow(dead_code)]
    pub fn start_tls(certs: &std::path::Path) -> Self {
        Self::start_with(false, Some(certs))
    }

    fn start_with(persistent: bool, certs: Option<&std::path::Path>) -> Self {
        for _ in 0..50 {
            let port = candidate_port();
            let tls = certs.map(|c| (candidate_port(), c.to_owned()));
            let free = |p: u16| TcpListener::bind(("127.0.0.1", p)).is_ok();
            if !free(port) || tls.as_ref().is_some_and(|(p, _)| !free(*p)) {
                continue;
            }
            let mut server = RedisServer {
                port,
                dir: tempfile::tempdir().unwrap(),
                child: None,
                persistent,
                tls,
            };
            if server.launch() {
                return server;
            }
        }
        panic!("no free port for redis-server");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The TLS port's URL (with [`RedisServer::start_tls`]).
    #[allow(dead_code)]
    pub fn tls_url(&self) -> String {
        format!("rediss://127.0.0.1:{}", self.tls.as_ref().expect("TLS").0)
    }

    /// Starts redis-server on `self.port`; false if the port was taken.
    fn launch(&mut self) -> bool {
        let aof = if self.persistent { "yes" } else { "no" };
        let mut child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args([
                "--appendonly",
                aof,
                "--appendfsync",
                "always",
                "--protected-mode",
                "no",
            ])
            .args(self.tls.iter().flat_map(|(port, certs)| {
                let file = |name: &str| certs.join(name).display().to_string();
                [
                    "--tls-port".to_owned(),
                    port.to_string(),
                    "--tls-cert-file".to_owned(),
                    file("server.pem"),
                    "--tls-key-file".to_owned(),
                    file("server.key"),
                    "--tls-ca-cert-file".to_owned(),
                    file("ca.pem"),
                    "--tls-auth-clients".to_owned(),
                    "no".to_owned(),
                ]
            }))
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/setup.sh installs it)");
        let pid = format!("process_id:{}", child.id());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if self
                .cli(&["INFO", "server"])
                .lines()
                .any(|l| l.trim() == pid)
            {
                self.child = Some(child);
                return true;
            }
            if child.try_wait().unwrap().is_some() {
                return false; // It could not bind: the port is taken.
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server's process id (while it runs; the fan-out benchmark
    /// measures its CPU time).
    #[allow(dead_code)]
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL: no shutdown, no final save.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().ok();
            child.wait().ok();
        }
    }

    /// Starts again on the same port (with whatever data survived).
    pub fn restart(&mut self) {
        self.kill();
        assert!(
            self.launch(),
            "port {} was taken while redis was down",
            self.port
        );
    }

    /// Runs redis-cli against this server; returns its standard output.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli is installed");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
