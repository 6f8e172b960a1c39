//! `duckgrid check`: reads a model file and imports its data into a
//! throw-away database, exactly as the first `serve` would, and reports
//! every problem or what the model holds.

use anyhow::Context;

use crate::config::CheckArgs;
use crate::model::file::ModelFile;
use crate::store::{self, ModelSource};

/// Checks the model; `Ok` with a description of it when there is nothing
/// wrong, the problems (all of them) otherwise.
pub fn run(args: &CheckArgs) -> anyhow::Result<String> {
    let file = ModelFile::read(&args.model).map_err(anyhow::Error::new)?;
    let db = store::open(":memory:", &ModelSource::File(Box::new(file)), None)?;
    let facts: i64 = db
        .conn
        .query_row("SELECT count(*) FROM facts", [], |r| r.get(0))
        .context("counting the facts")?;
    let model = &db.model;
    let mut out = vec![format!(
        "model {:?} ({}): {facts} facts over {} months from {}",
        model.def.name,
        model.def.display_name,
        model.def.months.count,
        model.def.months.first.format("%Y-%m"),
    )];
    for (d, dim) in model.def.dimensions.iter().zip(&model.dimensions) {
        let levels: Vec<String> = d
            .levels
            .iter()
            .enumerate()
            .map(|(i, l)| format!("{} {}", dim.level_count(i), l.name))
            .collect();
        out.push(format!(
            "  dimension {}: {} leaves ({})",
            d.name,
            dim.leaf_count(),
            levels.join(" > ")
        ));
    }
    for (i, s) in model.sheets.iter().enumerate() {
        out.push(format!(
            "  sheet {}: {} rows x {} columns",
            model.sheet_name(i),
            s.rows.len(),
            s.columns.len()
        ));
    }
    Ok(out.join("\n"))
}
