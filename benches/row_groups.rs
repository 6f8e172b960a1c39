//! DuckDB alone, storing what 32 writing clients' revisions at 1,000,000
//! facts store, with each row-group size: the measurement behind
//! `store::file::ROW_GROUP_SIZE`.
//!
//! One connection commits a journal row of 14 events a commit (the groups
//! 32 clients form), as the writer does; a second one copies every 2,048
//! revisions into a changelog row each and deletes their journal rows, as
//! the scribe does. Events are 10 KB, as at 1,000,000 facts. DuckDB runs
//! one thread and checkpoints at 128 MiB of log, as duckgrid sets it.
//! Prints revisions/s and the time commits spent over 10 ms (checkpoints)
//! for each size, in one run.
//!
//!   cargo bench --profile dev --bench row_groups
//!   DUCKGRID_BENCH_SECONDS=30 (per size, default 15)
//!   DUCKGRID_BENCH_ROW_GROUPS="122880 8192" (default: 122880 2048 8192 16384)

use std::time::{Duration, Instant};

use duckdb::{Connection, params};

const GROUP: usize = 14;
const EVENT_BYTES: usize = 10_000;
const HAND_EVERY: i64 = 2048;

fn main() {
    let seconds: u64 = std::env::var("DUCKGRID_BENCH_SECONDS")
        .map_or(15, |v| v.parse().expect("DUCKGRID_BENCH_SECONDS: seconds"));
    let sizes: Vec<u64> = std::env::var("DUCKGRID_BENCH_ROW_GROUPS")
        .unwrap_or_else(|_| "122880 2048 8192 16384".into())
        .split_whitespace()
        .map(|v| v.parse().expect("DUCKGRID_BENCH_ROW_GROUPS: numbers"))
        .collect();
    println!(
        "DuckDB storing {GROUP} events of {EVENT_BYTES} bytes a commit, copied into a changelog \
         every {HAND_EVERY} revisions, {seconds} s a size"
    );
    for size in sizes {
        let dir = tempfile::tempdir().expect("a scratch directory");
        let r = run(&dir.path().join("bench.duckdb"), size, seconds);
        println!(
            "row groups of {size:>6} rows: {:>6.0} revisions/s, commit p50 {:.2} ms, max {:>5.0} ms, \
             commits over 10 ms {:.1} s of {:.1} s",
            r.revisions as f64 / r.elapsed,
            r.p50_ms,
            r.max_ms,
            r.stalled_ms / 1000.0,
            r.elapsed
        );
    }
}

struct Run {
    revisions: i64,
    elapsed: f64,
    p50_ms: f64,
    max_ms: f64,
    stalled_ms: f64,
}

fn run(path: &std::path::Path, size: u64, seconds: u64) -> Run {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(&format!(
        "ATTACH '{}' AS g (ROW_GROUP_SIZE {size}); USE g;
         SET threads = 1; SET checkpoint_threshold = '128MiB';
         CREATE TABLE journal (revision BIGINT NOT NULL, record BLOB NOT NULL);
         CREATE TABLE changelog (revision BIGINT PRIMARY KEY, event BLOB NOT NULL);",
        path.display()
    ))
    .unwrap();
    // Text-like bytes (events are protobuf of names and numbers): DuckDB
    // does not compress large blobs either way.
    let mut seed = 1u64;
    let mut bytes = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                b'a' + (seed >> 60) as u8
            })
            .collect()
    };
    let record = bytes(EVENT_BYTES * GROUP);
    let event = bytes(EVENT_BYTES);

    let (hand, batches) = std::sync::mpsc::channel::<i64>();
    let scribe = conn.try_clone().unwrap();
    scribe.execute_batch("USE g").unwrap();
    let copier = std::thread::spawn(move || {
        let mut logged = 0i64;
        while let Ok(mut upto) = batches.recv() {
            while let Ok(newer) = batches.try_recv() {
                upto = newer;
            }
            scribe.execute_batch("BEGIN").unwrap();
            let mut insert = scribe
                .prepare_cached("INSERT INTO changelog VALUES (?, ?)")
                .unwrap();
            for revision in logged + 1..=upto {
                insert.execute(params![revision, event]).unwrap();
            }
            scribe
                .execute("DELETE FROM journal WHERE revision <= ?", [upto])
                .unwrap();
            scribe.execute_batch("COMMIT").unwrap();
            logged = upto;
        }
    });

    let started = Instant::now();
    let (mut revision, mut handed) = (0i64, 0i64);
    let mut commits = Vec::new();
    while started.elapsed() < Duration::from_secs(seconds) {
        let t = Instant::now();
        revision += GROUP as i64;
        conn.execute_batch("BEGIN").unwrap();
        conn.prepare_cached("INSERT INTO journal VALUES (?, ?)")
            .unwrap()
            .execute(params![revision, record])
            .unwrap();
        conn.execute_batch("COMMIT").unwrap();
        commits.push(t.elapsed().as_secs_f64() * 1e3);
        if revision - handed >= HAND_EVERY {
            hand.send(revision).unwrap();
            handed = revision;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    drop(hand);
    copier.join().unwrap();
    commits.sort_by(f64::total_cmp);
    Run {
        revisions: revision,
        elapsed,
        p50_ms: commits[commits.len() / 2],
        max_ms: commits[commits.len() - 1],
        stalled_ms: commits.iter().filter(|&&ms| ms > 10.0).sum(),
    }
}
