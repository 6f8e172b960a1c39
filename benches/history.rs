//! History benchmark: prints figures, asserts nothing.
//!
//! `cargo bench --profile dev --bench history`. Against the real binary:
//!
//! - what the fact history adds to a write: two servers on the same demo
//!   data (`DUCKGRID_BENCH_FACTS`, default 100,000 facts), one with the
//!   history on (the default) and one with `--history-retention off`,
//!   written in alternating rounds in the same run — leaf writes (family x
//!   month), and writes to the grand total's `total` that spread over
//!   every fact;
//! - what it stores: bytes per changed fact on disk (the table copied into
//!   a database of its own and checkpointed), for spreads and leaf writes;
//! - `GetSheet(revision = head − 1000)` over 1,000,000 facts
//!   (`DUCKGRID_BENCH_BIG_FACTS`), next to `GetSheet` at the head;
//! - `ListRevisions` for one cell over 100,000 revisions
//!   (`DUCKGRID_BENCH_REVISIONS`, on a server of `DUCKGRID_BENCH_FACTS`
//!   facts), the cell written every 1,000th: the whole listing page by
//!   page, and its first page.
//!
//! `DUCKGRID_BENCH_QUICK=1` runs a small smoke version.

use std::path::Path;
use std::time::{Duration, Instant};

use duckgrid::proto::v1 as pb;

mod common;
use common::writes::{PRODUCT, leaf_edit, leaves, spread_edit, write_revisions};
use common::{Server, edit, grid, ms, report};

struct Settings {
    facts: u64,
    big_facts: u64,
    rounds: usize,
    leaf_per_round: usize,
    spreads: usize,
    revisions: i64,
    reads: usize,
}

fn settings() -> Settings {
    let quick = std::env::var("DUCKGRID_BENCH_QUICK").is_ok_and(|v| v == "1");
    let var = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    if quick {
        Settings {
            facts: var("DUCKGRID_BENCH_FACTS", 20_000),
            big_facts: var("DUCKGRID_BENCH_BIG_FACTS", 20_000),
            rounds: 2,
            leaf_per_round: 20,
            spreads: 2,
            revisions: var("DUCKGRID_BENCH_REVISIONS", 2_000) as i64,
            reads: 5,
        }
    } else {
        Settings {
            facts: var("DUCKGRID_BENCH_FACTS", 100_000),
            big_facts: var("DUCKGRID_BENCH_BIG_FACTS", 1_000_000),
            rounds: 8,
            leaf_per_round: 50,
            spreads: 10,
            revisions: var("DUCKGRID_BENCH_REVISIONS", 100_000) as i64,
            reads: 21,
        }
    }
}

/// The fact history's rows and its bytes on disk: copied into a database
/// of its own, checkpointed, less the size of one holding the empty table.
fn history_bytes(db: &Path, scratch: &Path) -> anyhow::Result<(i64, u64)> {
    let conn = duckdb::Connection::open(db)?;
    let rows: i64 = conn.query_row("SELECT count(*) FROM fact_history", [], |r| r.get(0))?;
    let mut sizes = Vec::new();
    for (name, limit) in [("copy", ""), ("empty", " LIMIT 0")] {
        let path = scratch.join(format!("history-{name}.duckdb"));
        let _ = std::fs::remove_file(&path);
        conn.execute_batch(&format!(
            "ATTACH '{}' AS h; CREATE TABLE h.t AS SELECT * FROM fact_history{limit}; \
             CHECKPOINT h; DETACH h;",
            path.display()
        ))?;
        sizes.push(std::fs::metadata(&path)?.len());
    }
    Ok((rows, sizes[0].saturating_sub(sizes[1])))
}

fn print_bytes(what: &str, rows: i64, bytes: u64) {
    println!(
        "{:<52} {rows:>10} rows {:>8.1} KiB  {:>6.2} bytes per changed fact",
        format!("fact history, {what}"),
        bytes as f64 / 1024.0,
        bytes as f64 / rows.max(1) as f64
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let s = settings();
    println!(
        "duckgrid history benchmark: {} cores",
        std::thread::available_parallelism()?
    );
    let dir = tempfile::tempdir()?;
    write_cost(&s, dir.path()).await?;
    reads_over_history(&s, dir.path()).await?;
    cell_listing(&s, dir.path()).await?;
    Ok(())
}

/// The demo server on a database file `<name>.duckdb` of its own in `dir`
/// (created with `facts` facts), with `extra` flags.
async fn demo(
    dir: &Path,
    name: &str,
    facts: u64,
    extra: &[&str],
) -> anyhow::Result<(Server, std::path::PathBuf)> {
    let db = dir.join(format!("{name}.duckdb"));
    let facts = facts.to_string();
    let mut args = vec!["--db", db.to_str().unwrap(), "--facts", &facts];
    args.extend_from_slice(extra);
    Ok((Server::start(dir, name, &args).await?, db))
}

/// The delta log's cost on the write path: on and off, same data, same run.
async fn write_cost(s: &Settings, dir: &Path) -> anyhow::Result<()> {
    let mut servers = Vec::new();
    for (label, extra) in [
        ("history on", &[][..]),
        ("history off", &["--history-retention", "off"][..]),
    ] {
        let (server, db) = demo(dir, &label.replace(' ', "-"), s.facts, extra).await?;
        let client = server.client().await?;
        servers.push((label, server, client, db, Vec::new(), Vec::new()));
    }
    println!(
        "-- writes, {} facts: history on and off in alternating rounds",
        s.facts
    );
    let leaves = leaves(&mut servers[0].2).await;
    let mut changed = 0;
    for round in 0..s.rounds {
        // Alternating which goes first, so neither always has the warmer
        // machine.
        let order: Vec<usize> = if round.is_multiple_of(2) {
            vec![0, 1]
        } else {
            vec![1, 0]
        };
        for &v in &order {
            let (_, _, client, _, leaf, _) = &mut servers[v];
            let mut x = 0x9e37_79b9_7f4a_7c15 ^ round as u64;
            for i in 0..s.leaf_per_round {
                let request = leaf_edit(&mut x, &leaves, format!("{}.{:02}", 100 + i, i % 100));
                let t = Instant::now();
                client.update_cell(request).await?;
                leaf.push(t.elapsed());
            }
        }
    }
    for i in 0..=s.spreads {
        for v in [i % 2, 1 - i % 2] {
            let (_, _, client, _, _, spread) = &mut servers[v];
            let t = Instant::now();
            let response = client.update_cell(spread_edit(i)).await?.into_inner();
            // The first spread also warms DuckDB's caches: not counted.
            if i > 0 {
                spread.push(t.elapsed());
            }
            changed = response.result.unwrap().facts_changed;
        }
    }
    let p50 = |samples: &mut Vec<Duration>| {
        samples.sort();
        common::percentile(samples, 0.5)
    };
    let mut medians = Vec::new();
    for (label, _, _, _, leaf, spread) in &mut servers {
        report(&format!("UpdateCell leaf, {label}"), leaf.clone(), None);
        report(
            &format!("UpdateCell spread ({changed} facts), {label}"),
            spread.clone(),
            None,
        );
        medians.push((p50(leaf), p50(spread)));
    }
    let ratio = |on: Duration, off: Duration| on.as_secs_f64() / off.as_secs_f64();
    println!(
        "history on / off, p50: leaf {:.2}x, spread {:.2}x",
        ratio(medians[0].0, medians[1].0),
        ratio(medians[0].1, medians[1].1)
    );
    let mut dbs = Vec::new();
    for (_, server, _, db, _, _) in servers {
        server.stop()?;
        dbs.push(db);
    }
    let (rows, bytes) = history_bytes(&dbs[0], dir)?;
    print_bytes("spreads and leaf writes", rows, bytes);
    Ok(())
}

/// Point-in-time reads: the grid 1,000 revisions back, next to the head.
async fn reads_over_history(s: &Settings, dir: &Path) -> anyhow::Result<()> {
    let (server, db) = demo(dir, "big", s.big_facts, &[]).await?;
    let mut client = server.client().await?;
    let leaves = leaves(&mut client).await;
    println!("-- {} facts, 1001 revisions", s.big_facts);
    write_revisions(&server, &leaves, None, 1_001).await?;

    let head = grid(&mut client, PRODUCT).await.revision;
    for (label, revision) in [
        ("at the head", None),
        ("at head - 1000", Some(head - 1_000)),
    ] {
        let mut samples = Vec::new();
        for _ in 0..s.reads {
            let t = Instant::now();
            client
                .get_sheet(pb::GetSheetRequest {
                    name: PRODUCT.into(),
                    revision,
                    ..Default::default()
                })
                .await?;
            samples.push(t.elapsed());
        }
        report(&format!("GetSheet full grid, {label}"), samples, None);
    }

    server.stop()?;
    let (rows, bytes) = history_bytes(&db, dir)?;
    print_bytes("leaf writes", rows, bytes);
    Ok(())
}

/// A cell's listing over a long history (at `DUCKGRID_BENCH_FACTS`: the
/// number of facts does not change what a listing reads).
async fn cell_listing(s: &Settings, dir: &Path) -> anyhow::Result<()> {
    let (server, _) = demo(dir, "long", s.facts, &[]).await?;
    let mut client = server.client().await?;
    let leaves = leaves(&mut client).await;
    println!("-- {} facts, {} revisions", s.facts, s.revisions);
    // The cell whose history is listed, written every `every`-th revision.
    let every = (s.revisions / 100).max(1);
    let target = edit(PRODUCT, &leaves[0], "2024-01", "quantity", String::new());
    let written = Instant::now();
    write_revisions(&server, &leaves, Some((&target, every)), s.revisions).await?;
    println!(
        "{:<52} {:>10}",
        format!("writing {} revisions (32 clients)", s.revisions),
        ms(written.elapsed())
    );
    let cell = target.edit.unwrap().cell.unwrap();
    let (mut whole, mut first) = (Vec::new(), Vec::new());
    let (mut calls, mut entries) = (0, 0);
    for _ in 0..s.reads.min(5) {
        let t = Instant::now();
        let mut token = String::new();
        (calls, entries) = (0, 0);
        loop {
            let page = client
                .list_revisions(pb::ListRevisionsRequest {
                    cell: Some(cell.clone()),
                    page_token: token,
                    ..Default::default()
                })
                .await?
                .into_inner();
            calls += 1;
            entries += page.revisions.len();
            if calls == 1 {
                first.push(t.elapsed());
            }
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
        whole.push(t.elapsed());
    }
    report("ListRevisions one cell, first page", first, None);
    report(
        &format!("ListRevisions one cell, all {entries} entries ({calls} calls)"),
        whole,
        None,
    );
    server.stop()?;
    Ok(())
}
