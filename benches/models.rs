//! Models from files: prints figures, asserts nothing.
//!
//! `cargo bench --profile dev --bench models`. With the demo's data written
//! out by the generator (`duckgrid demo`), it measures:
//!
//! - importing 1,000,000 facts from CSV and 10,000,000 from Parquet (the
//!   first start's import, in process; `DUCKGRID_BENCH_IMPORT_FACTS`
//!   overrides the Parquet size);
//! - a two-dimension sheet (province > family, 3,000+ rows, years) over
//!   1,000,000 facts, served by the real binary: full-grid GetSheet p50/p99,
//!   and a write to a year of its grand total (500,000+ facts);
//! - the server's resident memory at 1,000,000 facts (and at the Parquet
//!   size).
//!
//! `DUCKGRID_BENCH_QUICK=1` runs a small smoke version for CI.

use std::path::Path;
use std::time::{Duration, Instant};

use duckgrid::demo::{DemoSpec, Format, write_demo};
use duckgrid::model::file::ModelFile;
use duckgrid::proto::v1 as pb;
use duckgrid::store::{self, ModelSource};

mod common;
use common::{Server, ms, report};

/// The demo model with a sheet nesting product families under provinces.
fn two_dimension_model(dir: &Path) -> anyhow::Result<std::path::PathBuf> {
    let model = std::fs::read_to_string(dir.join("model.toml"))?;
    let extra = r#"
[[sheets]]
id = "families_by_province"
display_name = "Families by province"
rows = [{ dimension = "customer", to = "province" }, { dimension = "product", to = "family" }]
columns = { years = true }
"#;
    let path = dir.join("model2.toml");
    std::fs::write(&path, model + extra)?;
    Ok(path)
}

/// Imports a model into a new database file; returns the time it took.
fn import(model: &Path, db: &Path) -> anyhow::Result<Duration> {
    let file = ModelFile::read(model).map_err(anyhow::Error::new)?;
    let started = Instant::now();
    let db = store::open(
        db.to_str().unwrap(),
        &ModelSource::File(Box::new(file)),
        None,
    )?;
    let took = started.elapsed();
    drop(db);
    Ok(took)
}

/// A process's resident memory, from /proc (Linux; 0 elsewhere).
fn rss_mb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .unwrap_or(0)
        / 1024
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let quick = std::env::var("DUCKGRID_BENCH_QUICK").is_ok_and(|v| v == "1");
    let (csv_facts, big_facts, serve_facts) = if quick {
        (20_000, 50_000, 20_000)
    } else {
        let big = std::env::var("DUCKGRID_BENCH_IMPORT_FACTS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(10_000_000);
        (1_000_000, big, 1_000_000)
    };
    println!(
        "duckgrid models benchmark: {} cores",
        std::thread::available_parallelism()?
    );
    // The import's steps say what they took (DUCKGRID_BENCH_LOG=warn hides them).
    let log =
        std::env::var("DUCKGRID_BENCH_LOG").unwrap_or_else(|_| "duckgrid::import=info,warn".into());
    duckgrid::telemetry::init(duckgrid::config::LogFormat::Text, &log);
    let dir = tempfile::tempdir()?;

    // Import from CSV.
    let csv = dir.path().join("csv");
    let t = Instant::now();
    write_demo(&csv, &DemoSpec::new(42, csv_facts), Format::Csv)?;
    println!(
        "{:<52} {:>10}",
        format!("write {csv_facts} demo facts as CSV"),
        ms(t.elapsed())
    );
    let took = import(&csv.join("model.toml"), &dir.path().join("csv.duckdb"))?;
    println!(
        "{:<52} {:>10}   (target at 1,000,000: <= 10 s)",
        format!("import {csv_facts} facts from CSV"),
        ms(took)
    );

    // Import from Parquet.
    let parquet = dir.path().join("parquet");
    let t = Instant::now();
    write_demo(&parquet, &DemoSpec::new(42, big_facts), Format::Parquet)?;
    println!(
        "{:<52} {:>10}",
        format!("write {big_facts} demo facts as Parquet"),
        ms(t.elapsed())
    );
    let big_db = dir.path().join("parquet.duckdb");
    let took = import(&parquet.join("model.toml"), &big_db)?;
    println!(
        "{:<52} {:>10}   (target at 10,000,000: <= 30 s)",
        format!("import {big_facts} facts from Parquet"),
        ms(took)
    );
    {
        let server = Server::start(
            dir.path(),
            "big",
            &[
                "--db",
                big_db.to_str().unwrap(),
                "--model",
                parquet.join("model.toml").to_str().unwrap(),
            ],
        )
        .await?;
        println!(
            "{:<52} {:>7} MB",
            format!("server RSS at {big_facts} facts"),
            rss_mb(server.pid())
        );
        server.stop()?;
    }

    // A two-dimension sheet over the served demo.
    let served = dir.path().join("served");
    write_demo(&served, &DemoSpec::new(42, serve_facts), Format::Parquet)?;
    let model = two_dimension_model(&served)?;
    let db = dir.path().join("served.duckdb");
    let server = Server::start(
        dir.path(),
        "served",
        &[
            "--db",
            db.to_str().unwrap(),
            "--model",
            model.to_str().unwrap(),
        ],
    )
    .await?;
    let mut client = server.client().await?;
    let sheet = "sheets/families_by_province";
    let mut samples = Vec::new();
    let mut rows = 0;
    // The first reads also open HTTP/2's flow-control windows: not timed.
    for i in 0..if quick { 7 } else { 203 } {
        let t = Instant::now();
        let grid = client
            .get_sheet(pb::GetSheetRequest {
                name: sheet.into(),
                ..Default::default()
            })
            .await?
            .into_inner()
            .grid
            .unwrap();
        if i >= 3 {
            samples.push(t.elapsed());
        }
        rows = grid.rows.len();
    }
    report(
        &format!("GetSheet two-dimension sheet ({rows} rows)"),
        samples,
        Some("p99 <= 50 ms at 1,000,000 facts"),
    );
    println!(
        "{:<52} {:>7} MB   (target at 1,000,000: <= 512 MB)",
        format!("server RSS at {serve_facts} facts, loaded and read"),
        rss_mb(server.pid())
    );
    let mut samples = Vec::new();
    let mut facts = 0;
    for i in 0..if quick { 3 } else { 21 } {
        let t = Instant::now();
        let response = client
            .update_cell(pb::UpdateCellRequest {
                edit: Some(pb::CellEdit {
                    cell: Some(pb::CellRef {
                        sheet: sheet.into(),
                        row_path: Vec::new(),
                        column: "2024".into(),
                        measure: "net_amount".into(),
                    }),
                    // Alternating far apart, so that every write changes
                    // every fact of the year (a small step would leave most
                    // of them as they were, after rounding).
                    value: format!("{}.00", if i % 2 == 0 { 90_000_000 } else { 60_000_000 }),
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await?
            .into_inner();
        // The first write after a start also warms DuckDB's caches.
        if i == 0 {
            println!(
                "{:<52} {:>10}",
                "UpdateCell grand total, first write after start",
                ms(t.elapsed())
            );
        } else {
            samples.push(t.elapsed());
        }
        // The fewest any write changed.
        let changed = response.result.unwrap().facts_changed;
        facts = if i == 0 { changed } else { facts.min(changed) };
    }
    report(
        &format!("UpdateCell grand total, year 2024 ({facts} facts), later writes"),
        samples,
        Some("<= 500 ms at >= 500,000 facts"),
    );
    // DuckDB keeps the row versions of those writes, and caches what it
    // read, up to its memory limit (--duckdb-memory-limit-mib).
    println!(
        "{:<52} {:>7} MB",
        "server RSS after those writes",
        rss_mb(server.pid())
    );
    server.stop()?;
    Ok(())
}
