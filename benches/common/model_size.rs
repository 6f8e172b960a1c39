//! Does a commit cost more on a bigger model? The demo, and the demo with
//! two more sheets that bring its rows to more than ten times the demo's
//! (province > family, 2,701 rows; province > city > customer, 1,357 at
//! 100,000 facts), each served by the real binary from the same files.
//!
//! Two writes are timed on both, one client, sequential: a leaf write that
//! sets a cell to the value it has (a revision that changes nothing, so
//! both models do exactly the same work but for their size: the summary,
//! the commit, the journal row) and the usual leaf writes (which change
//! more cells on the bigger model: each of its sheets shows the facts).

use std::path::Path;
use std::time::{Duration, Instant};

use duckgrid::demo::{DemoSpec, Format, write_demo};

use super::writes::{PRODUCT, leaf_edit, leaves};
use super::{Server, Variant, edit, grid, ms, percentile, target_row};

/// The demo's model plus the two sheets.
const MORE_SHEETS: &str = r#"
[[sheets]]
id = "families_by_province"
rows = [{ dimension = "customer", to = "province" }, { dimension = "product", to = "family" }]

[[sheets]]
id = "customers"
rows = [{ dimension = "customer", to = "customer" }]
"#;

/// Runs the comparison; prints figures and a row of the targets table.
pub async fn compare(
    variant: &Variant,
    dir: &Path,
    facts: u64,
    writes: usize,
) -> anyhow::Result<()> {
    let files = dir.join("model-size");
    write_demo(&files, &DemoSpec::new(42, facts), Format::Parquet)?;
    let demo = files.join("model.toml");
    let bigger = files.join("model-more-rows.toml");
    std::fs::write(&bigger, std::fs::read_to_string(&demo)? + MORE_SHEETS)?;
    let mut figures = Vec::new();
    for (name, model) in [("demo", &demo), ("more-rows", &bigger)] {
        let db = files.join(format!("{name}.duckdb"));
        let args = [
            "--model",
            model.to_str().unwrap(),
            "--db",
            db.to_str().unwrap(),
        ];
        let server = variant.start(&files, name, &args).await?;
        figures.push(measure(&server, writes).await?);
        server.stop()?;
    }
    let [(rows, unchanged, leaf), (big_rows, big_unchanged, big_leaf)] = figures[..] else {
        unreachable!("two models");
    };
    let ratio = |a: Duration, b: Duration| b.as_secs_f64() / a.as_secs_f64();
    println!(
        "commit cost by model size: demo {rows} rows, bigger model {big_rows} rows ({:.1}x)",
        big_rows as f64 / rows as f64
    );
    println!(
        "  a write that changes nothing p50: {} vs {} ({:.2}x); leaf writes p50: {} vs {} ({:.2}x)",
        ms(unchanged),
        ms(big_unchanged),
        ratio(unchanged, big_unchanged),
        ms(leaf),
        ms(big_leaf),
        ratio(leaf, big_leaf)
    );
    target_row(
        &format!(
            "a commit that changes nothing, {big_rows} sheet rows ({:.0}x the demo's), p50",
            big_rows as f64 / rows as f64
        ),
        &format!("demo ({rows} rows) {}", ms(unchanged)),
        &format!(
            "{} ({:.2}x)",
            ms(big_unchanged),
            ratio(unchanged, big_unchanged)
        ),
        "no cost for the model's size",
        ratio(unchanged, big_unchanged) <= 1.2,
    );
    Ok(())
}

/// Total sheet rows, and the p50 of a write that changes nothing and of
/// leaf writes.
async fn measure(server: &Server, writes: usize) -> anyhow::Result<(usize, Duration, Duration)> {
    let mut client = server.client().await?;
    let mut rows = 0;
    let sheets = client
        .list_sheets(duckgrid::proto::v1::ListSheetsRequest::default())
        .await?
        .into_inner()
        .sheets;
    for sheet in &sheets {
        rows += grid(&mut client, &sheet.name).await.rows.len();
    }
    let leaves = leaves(&mut client).await;
    let product = grid(&mut client, PRODUCT).await;
    let (row, value) = product
        .rows
        .iter()
        .find_map(|r| {
            let col = product.columns.iter().position(|c| c == "2024-03")?;
            let values = r.measures.iter().find(|m| m.measure == "net_amount")?;
            let v = values.values.get(col)?;
            (r.leaf && !v.is_empty()).then(|| (r.path.clone(), v.clone()))
        })
        .expect("a leaf with a value");
    let same = edit(PRODUCT, &row, "2024-03", "net_amount", value);
    let mut unchanged = Vec::with_capacity(writes);
    let mut leaf = Vec::with_capacity(writes);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..writes {
        let t = Instant::now();
        client.update_cell(same.clone()).await?;
        unchanged.push(t.elapsed());
        let request = leaf_edit(&mut x, &leaves, format!("{}.{:02}", 100 + i, i % 100));
        let t = Instant::now();
        client.update_cell(request).await?;
        leaf.push(t.elapsed());
    }
    unchanged.sort();
    leaf.sort();
    Ok((rows, percentile(&unchanged, 0.5), percentile(&leaf, 0.5)))
}
