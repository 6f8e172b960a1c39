//! The floor under the 32-client write rate: DuckDB alone, on the same
//! disk, storing what duckgrid's tables must end up holding for each
//! revision — its changelog row (with an encoded event of the size the
//! run's writes produce) and its fact history rows (as many as they
//! change) — straight into those tables, by duckgrid's own catch-up (Arrow
//! batches), a group of revisions per commit, durable at each commit.
//!
//! No journal rows (the catch-up's delete of the journal finds none), no
//! writer, no spreading, no gRPC, nothing else on the cores: the plain way
//! to keep these revisions in DuckDB, set against
//! duckgrid, which also spreads, rolls up, encodes and serves 32 clients
//! on the same two cores. Not a proof that no design could store less: it
//! is what storing them costs here. DuckDB runs one thread and checkpoints
//! at 128 MiB of log, with row groups of 8,192 rows, as duckgrid sets it.

use std::time::{Duration, Instant};

use duckdb::Connection;
use duckgrid::store::journal::Revision;
use duckgrid::store::{catch_up, schema};
use prost::bytes::Bytes;

/// What each revision stores, and how many a commit.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub group: usize,
    pub event_bytes: usize,
    pub deltas: usize,
}

/// One measurement.
pub struct Floor {
    pub load: Load,
    pub revisions_per_second: f64,
    pub commit_p50_ms: f64,
    pub commit_max_ms: f64,
    /// CPU (this process, user and system) a revision, in microseconds.
    pub cpu_us: f64,
    /// Cores busy on average.
    pub cores: f64,
    pub seconds: f64,
}

impl std::fmt::Display for Floor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Load {
            group,
            event_bytes,
            deltas,
        } = self.load;
        write!(
            f,
            "storage floor, {group:>2} revisions a commit ({event_bytes}-byte events, {deltas} \
             fact deltas each): {:.0} revisions/s, commit p50 {:.2} ms, max {:.0} ms, {:.0} µs \
             CPU a revision ({:.2} cores, {:.0} s)",
            self.revisions_per_second,
            self.commit_p50_ms,
            self.commit_max_ms,
            self.cpu_us,
            self.cores,
            self.seconds
        )
    }
}

/// Stores `load` for `run` on a new database in `dir`.
pub fn measure(dir: &std::path::Path, load: Load, run: Duration) -> anyhow::Result<Floor> {
    let Load {
        group,
        event_bytes,
        deltas,
    } = load;
    let path = dir.join(format!("store-floor-{group}.duckdb"));
    let conn = Connection::open_in_memory()?;
    conn.execute_batch(&format!(
        "ATTACH '{}' AS g (ROW_GROUP_SIZE 8192); USE g;
         SET threads = 1; SET checkpoint_threshold = '128MiB';",
        path.display()
    ))?;
    // duckgrid's own tables (the demo model's), written by its own
    // catch-up: the changelog rows and fact history of each group's
    // revisions, one transaction a group.
    let def = duckgrid::demo::model(dir)?;
    conn.execute_batch(&schema::ddl(&def))?;
    // Text-like bytes (an event is protobuf of names and decimals); DuckDB
    // stores large blobs uncompressed either way.
    let mut seed = 1u64;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        seed >> 33
    };
    let event: Bytes = (0..event_bytes)
        .map(|_| b'a' + (next() % 26) as u8)
        .collect::<Vec<u8>>()
        .into();

    let cpu = super::stat_cpu_time("/proc/self/stat");
    let started = Instant::now();
    let mut revision = 0i64;
    let mut commits = Vec::new();
    while started.elapsed() < run {
        let t = Instant::now();
        let records: Vec<Revision> = (revision + 1..=revision + group as i64)
            .map(|r| Revision {
                revision: r,
                committed_at_micros: 1_700_000_000_000_000 + r,
                actor: "bench".into(),
                event: event.clone(),
                fact_ids: (0..deltas).map(|_| (next() % 1_000_000) as i64).collect(),
                measures: vec![0; deltas],
                before: (0..deltas).map(|_| (next() % 100_000_000) as i64).collect(),
                after: (0..deltas).map(|_| (next() % 100_000_000) as i64).collect(),
                ..Revision::default()
            })
            .collect();
        catch_up::catch_up(&conn, def.measures.len(), revision, &records, false)?;
        revision += group as i64;
        commits.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu = (super::stat_cpu_time("/proc/self/stat") - cpu).as_secs_f64();
    drop(conn);
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(format!("{}.wal", path.display()));
    commits.sort_by(f64::total_cmp);
    Ok(Floor {
        load,
        revisions_per_second: revision as f64 / seconds,
        commit_p50_ms: commits[commits.len() / 2],
        commit_max_ms: commits[commits.len() - 1],
        cpu_us: cpu / revision as f64 * 1e6,
        cores: cpu / seconds,
        seconds,
    })
}
