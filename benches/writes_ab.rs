//! Leaf writes from 32 clients, the variants side by side: prints figures,
//! asserts nothing.
//!
//! `DUCKGRID_BENCH_BASELINE=/path/to/duckgrid cargo bench --profile dev
//! --bench writes_ab`. Every variant (`common::variants`: this build, the
//! baseline, the metrics and auth variants when asked) serves a database
//! of its own, created from the same seed, all at once; then they take
//! turns, in rounds of `DUCKGRID_BENCH_ROUND_WRITES` (default 4,000) leaf
//! writes from 32 concurrent clients, the order reversed every round, for
//! `DUCKGRID_BENCH_ROUNDS` rounds (default 8), at `DUCKGRID_BENCH_FACTS`
//! facts (default 100,000).
//!
//! Why: on this shared 2-core machine one long run of each variant, one
//! after the other (the `grid` benchmark's row), differs by 20–30% between
//! runs of the same code, so an A/B of a write-path change needs the
//! variants measured in the same minutes. Rounds here still swing (4,400
//! to 7,800 revisions/s at 100,000 facts for one build), but every variant
//! sees the same swings. Before each turn every server is left to finish
//! catching up its tables: otherwise the variant measured second in a
//! round shared the machine with the first one's catch-up, and at
//! 1,000,000 facts whichever went first won every round by ~50%.

use std::time::Instant;

mod common;
use common::writes::{leaves, write_revisions};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let number = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let quick = std::env::var("DUCKGRID_BENCH_QUICK").is_ok_and(|v| v == "1");
    let facts = number("DUCKGRID_BENCH_FACTS", if quick { 20_000 } else { 100_000 });
    let rounds = number("DUCKGRID_BENCH_ROUNDS", if quick { 2 } else { 8 }) as usize;
    let writes = number(
        "DUCKGRID_BENCH_ROUND_WRITES",
        if quick { 500 } else { 4_000 },
    ) as i64;
    println!(
        "leaf writes from 32 clients, variants side by side: {facts} facts, {rounds} rounds of {writes} writes"
    );
    let dir = tempfile::tempdir()?;
    let mut runs = Vec::new();
    for (i, variant) in common::variants().into_iter().enumerate() {
        let path = dir.path().join(format!("{i}.duckdb"));
        let server = variant
            .start_demo(dir.path(), &format!("v{i}"), &path, facts)
            .await?;
        let leaves = leaves(&mut server.client().await?).await;
        // Warm up: the first writes of a fresh server are the fastest.
        write_revisions(&server, &leaves, None, writes / 2).await?;
        runs.push((variant, server, leaves, Vec::new()));
    }
    for round in 0..rounds {
        let mut order: Vec<usize> = (0..runs.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for i in order {
            let pids: Vec<u32> = runs.iter().map(|r| r.1.pid()).collect();
            common::settle(&pids).await;
            let (variant, server, leaves, rates) = &mut runs[i];
            let t = Instant::now();
            write_revisions(server, leaves, None, writes).await?;
            let rate = writes as f64 / t.elapsed().as_secs_f64();
            println!(
                "round {round}: {:<28} {rate:>6.0} revisions/s",
                variant.label
            );
            rates.push(rate);
        }
    }
    let mean = |rates: &[f64]| rates.iter().sum::<f64>() / rates.len() as f64;
    let first = mean(&runs[0].3);
    for (variant, server, _, rates) in runs {
        let mut sorted = rates.clone();
        sorted.sort_by(f64::total_cmp);
        println!(
            "{:<28} mean {:>6.0} revisions/s ({:.2}x the first), median {:.0}, min {:.0}, max {:.0}",
            variant.label,
            mean(&rates),
            mean(&rates) / first,
            sorted[sorted.len() / 2],
            sorted[0],
            sorted[sorted.len() - 1],
        );
        server.stop()?;
    }
    Ok(())
}
