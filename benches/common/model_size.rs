//! Does a commit cost more on a bigger model? The demo, and the demo with
//! two more sheets that bring its rows to more than ten times the demo's
//! (province > family, 2,701 rows; province > city > customer, 1,357 at
//! 100,000 facts), each served by the real binary from the same files.
//!
//! Two writes are timed on both, one client each, sequential: a leaf write
//! that sets a cell to the value it has (a revision that changes nothing,
//! so both models do exactly the same work but for their size: the
//! summary, the commit, the journal row) and the usual leaf writes (which
//! change more cells on the bigger model: each of its sheets shows the
//! facts). Both servers run side by side and take turns, write by write,
//! so that what else the machine does weighs on both alike (timed one
//! after the other, the ratio moved from 1.01x to 1.27x between runs).

use std::path::Path;
use std::time::{Duration, Instant};

use duckgrid::demo::{DemoSpec, Format, write_demo};
use duckgrid::proto::v1::UpdateCellRequest;

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
    let mut servers = Vec::new();
    let mut models = Vec::new();
    for (name, model) in [("demo", &demo), ("more-rows", &bigger)] {
        let db = files.join(format!("{name}.duckdb"));
        let args = [
            "--model",
            model.to_str().unwrap(),
            "--db",
            db.to_str().unwrap(),
        ];
        let server = variant.start(&files, name, &args).await?;
        models.push(Model::new(&server).await?);
        servers.push(server);
    }
    // The same leaf cells (the two serve the same facts) and values on both.
    let leaves = leaves(&mut models[0].client).await;
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..writes {
        let request = leaf_edit(&mut x, &leaves, format!("{}.{:02}", 100 + i, i % 100));
        for model in &mut models {
            model.write(request.clone()).await?;
        }
    }
    for server in servers {
        server.stop()?;
    }
    let [(rows, unchanged, leaf), (big_rows, big_unchanged, big_leaf)] =
        [models[0].figures(), models[1].figures()];
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

/// One model's server, what the writes need, and their times.
struct Model {
    client: super::Client,
    rows: usize,
    /// A leaf write that sets a cell to the value it has.
    same: UpdateCellRequest,
    unchanged: Vec<Duration>,
    leaf: Vec<Duration>,
}

impl Model {
    async fn new(server: &Server) -> anyhow::Result<Self> {
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
        Ok(Self {
            client,
            rows,
            same: edit(PRODUCT, &row, "2024-03", "net_amount", value),
            unchanged: Vec::new(),
            leaf: Vec::new(),
        })
    }

    /// Times a write that changes nothing, then the leaf write `request`.
    async fn write(&mut self, request: UpdateCellRequest) -> anyhow::Result<()> {
        let t = Instant::now();
        self.client.update_cell(self.same.clone()).await?;
        self.unchanged.push(t.elapsed());
        let t = Instant::now();
        self.client.update_cell(request).await?;
        self.leaf.push(t.elapsed());
        Ok(())
    }

    /// Total sheet rows, and the p50 of a write that changes nothing and
    /// of leaf writes.
    fn figures(&mut self) -> (usize, Duration, Duration) {
        self.unchanged.sort();
        self.leaf.sort();
        (
            self.rows,
            percentile(&self.unchanged, 0.5),
            percentile(&self.leaf, 0.5),
        )
    }
}
