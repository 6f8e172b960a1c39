//! The storage floor under concurrent writes: DuckDB alone, on this disk,
//! committing what duckgrid's tables must end up holding for each
//! revision — its changelog row (with an encoded event of the given size)
//! and its fact history rows — straight into those tables, a group of
//! revisions per commit, durable at each commit. No journal, no catch-up,
//! no spreading, no gRPC, nothing else on the cores: the plain way to keep
//! these revisions in DuckDB, and the yardstick for duckgrid's figure with
//! 32 clients (which also spreads, rolls up, encodes and serves gRPC to
//! those clients on the same two cores). Not a proof that no design could
//! store less: it is what storing them costs here.
//!
//! Writes are appended as Arrow batches (DuckDB's cheapest insert); DuckDB
//! runs one thread and checkpoints at 128 MiB of log, as duckgrid sets it.
//!
//!   cargo bench --profile dev --bench store_floor
//!   DUCKGRID_BENCH_SECONDS (a run, default 20; 3 with
//!   DUCKGRID_BENCH_QUICK=1), DUCKGRID_BENCH_GROUPS
//!   (revisions a commit, a run each; default "16 32": the groups 32
//!   closed-loop clients form, two halves answered in turn, and every
//!   client in every commit),
//!   DUCKGRID_BENCH_EVENT_BYTES (default 10,000), DUCKGRID_BENCH_DELTAS
//!   (fact values a revision changes, default 230): the defaults are what
//!   a leaf write of `grid` at 1,000,000 facts stores (231 facts on
//!   average over 200,000 writes, its debug log; events of ~10 KB).

use std::sync::Arc;
use std::time::{Duration, Instant};

use duckdb::Connection;
use duckdb::arrow::array::{
    ArrayRef, BinaryArray, Int64Array, StringArray, TimestampMicrosecondArray, UInt8Array,
};
use duckdb::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use duckdb::arrow::record_batch::RecordBatch;

fn var(name: &str, default: u64) -> u64 {
    std::env::var(name).map_or(default, |v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name}: a whole number"))
    })
}

fn main() {
    let quick = std::env::var("DUCKGRID_BENCH_QUICK").is_ok_and(|v| v == "1");
    let seconds = var("DUCKGRID_BENCH_SECONDS", if quick { 3 } else { 20 });
    let event_bytes = var("DUCKGRID_BENCH_EVENT_BYTES", 10_000) as usize;
    let deltas = var("DUCKGRID_BENCH_DELTAS", 230) as usize;
    let groups = std::env::var("DUCKGRID_BENCH_GROUPS").unwrap_or_else(|_| "16 32".into());
    for group in groups.split_whitespace() {
        let group = group.parse().expect("DUCKGRID_BENCH_GROUPS: whole numbers");
        run(seconds, group, event_bytes, deltas);
    }
}

/// One run: `group` revisions a commit for `seconds`, on a new database.
fn run(seconds: u64, group: usize, event_bytes: usize, deltas: usize) {
    let dir = tempfile::tempdir().expect("a scratch directory");
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(&format!(
        "ATTACH '{}' AS g (ROW_GROUP_SIZE 8192); USE g;
         SET threads = 1; SET checkpoint_threshold = '128MiB';
         CREATE TABLE changelog (revision BIGINT PRIMARY KEY, committed_at TIMESTAMP NOT NULL,
             actor VARCHAR NOT NULL, request_id VARCHAR, event BLOB NOT NULL, session VARCHAR,
             reverts BIGINT, reverted_by BIGINT);
         CREATE TABLE fact_history (revision BIGINT NOT NULL, fact_id BIGINT NOT NULL,
             measure UTINYINT NOT NULL, before BIGINT NOT NULL, after BIGINT NOT NULL);",
        dir.path().join("floor.duckdb").display()
    ))
    .unwrap();
    // Text-like bytes (an event is protobuf of names and decimals); DuckDB
    // stores large blobs uncompressed either way.
    let mut seed = 1u64;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        seed >> 33
    };
    let event: Vec<u8> = (0..event_bytes)
        .map(|_| b'a' + (next() % 26) as u8)
        .collect();

    let cpu = cpu_seconds();
    let started = Instant::now();
    let mut revision = 0i64;
    let mut commits = Vec::new();
    while started.elapsed() < Duration::from_secs(seconds) {
        let t = Instant::now();
        let first = revision + 1;
        revision += group as i64;
        let revisions: Vec<i64> = (first..=revision).collect();
        conn.execute_batch("BEGIN").unwrap();
        append(
            &conn,
            "changelog",
            vec![
                Field::new("revision", DataType::Int64, false),
                Field::new(
                    "committed_at",
                    DataType::Timestamp(TimeUnit::Microsecond, None),
                    false,
                ),
                Field::new("actor", DataType::Utf8, false),
                Field::new("request_id", DataType::Utf8, false),
                Field::new("event", DataType::Binary, false),
                Field::new("session", DataType::Utf8, false),
                Field::new("reverts", DataType::Int64, false),
                Field::new("reverted_by", DataType::Int64, false),
            ],
            vec![
                Arc::new(Int64Array::from(revisions.clone())),
                Arc::new(TimestampMicrosecondArray::from_iter_values(
                    revisions.iter().map(|r| 1_700_000_000_000_000 + r),
                )),
                Arc::new(StringArray::from_iter_values(
                    revisions.iter().map(|_| "bench"),
                )),
                Arc::new(StringArray::from_iter_values(revisions.iter().map(|_| ""))),
                Arc::new(BinaryArray::from_iter_values(
                    revisions.iter().map(|_| &event[..]),
                )),
                Arc::new(StringArray::from_iter_values(revisions.iter().map(|_| ""))),
                Arc::new(Int64Array::from(vec![0; group])),
                Arc::new(Int64Array::from(vec![0; group])),
            ],
        );
        let rows = group * deltas;
        append(
            &conn,
            "fact_history",
            vec![
                Field::new("revision", DataType::Int64, false),
                Field::new("fact_id", DataType::Int64, false),
                Field::new("measure", DataType::UInt8, false),
                Field::new("before", DataType::Int64, false),
                Field::new("after", DataType::Int64, false),
            ],
            vec![
                Arc::new(Int64Array::from_iter_values(
                    revisions
                        .iter()
                        .flat_map(|&r| std::iter::repeat_n(r, deltas)),
                )),
                Arc::new(Int64Array::from_iter_values(
                    (0..rows).map(|_| (next() % 1_000_000) as i64),
                )),
                Arc::new(UInt8Array::from(vec![0u8; rows])),
                Arc::new(Int64Array::from_iter_values(
                    (0..rows).map(|_| (next() % 100_000_000) as i64),
                )),
                Arc::new(Int64Array::from_iter_values(
                    (0..rows).map(|_| (next() % 100_000_000) as i64),
                )),
            ],
        );
        conn.execute_batch("COMMIT").unwrap();
        commits.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu;
    commits.sort_by(f64::total_cmp);
    println!(
        "storage floor, {group:>2} revisions a commit ({event_bytes}-byte events, {deltas} fact deltas \
         each): {:.0} revisions/s, commit p50 {:.2} ms, max {:.0} ms, {:.0} µs CPU a revision \
         ({:.2} cores, {elapsed:.0} s)",
        revision as f64 / elapsed,
        commits[commits.len() / 2],
        commits[commits.len() - 1],
        cpu / revision as f64 * 1e6,
        cpu / elapsed
    );
}

/// Appends one columnar batch to `table`.
fn append(conn: &Connection, table: &str, fields: Vec<Field>, columns: Vec<ArrayRef>) {
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
    let mut app = conn.appender(table).unwrap();
    app.append_record_batch(batch).unwrap();
    app.flush().unwrap();
}

/// This process's CPU time so far (user and system), in seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // The fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..]
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}
