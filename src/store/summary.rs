//! Computing the sheet summary from the facts: the GROUPING SETS query that
//! defines what every cell is. The server loads the in-memory summary
//! (`crate::summary`) with it at start-up, so the cache is rebuilt from the
//! facts on every start and can never be stale on disk.

use duckdb::Connection;

use super::units_expr;
use crate::model::{Model, RowRef};
use crate::summary::{CellValue, Summary};

/// A query computing every cell of `sheet` from the facts, with columns
/// (depth, member, col, facts, <measures...>) in measure units.
pub fn recompute_sql(model: &Model, sheet: usize) -> String {
    let s = &model.sheets[sheet];
    let dim = &model.dimensions[s.dimension].def;
    let levels: Vec<String> = (0..s.depth()).map(|l| format!("l{l}")).collect();
    let level_cols: Vec<String> = dim.levels[..s.depth()]
        .iter()
        .zip(&levels)
        .map(|(l, alias)| format!("d.{} AS {alias}", l.id_column))
        .collect();
    let measures: Vec<String> = model
        .measures
        .iter()
        .map(|m| format!("{} AS {}", units_expr(m), m.name))
        .collect();
    // Grouping sets: every prefix of the levels, by month and overall.
    let mut sets = Vec::new();
    for n in (0..=s.depth()).rev() {
        let keys = &levels[..n];
        let with_month: Vec<&str> = keys.iter().map(String::as_str).chain(["month"]).collect();
        sets.push(format!("({})", with_month.join(", ")));
        sets.push(format!("({})", keys.join(", ")));
    }
    let depth_expr: Vec<String> = levels
        .iter()
        .map(|l| format!("CAST({l} IS NOT NULL AS INTEGER)"))
        .collect();
    let member_expr: Vec<String> = levels.iter().rev().cloned().collect();
    let sums: Vec<String> = model
        .measures
        .iter()
        .map(|m| format!("CAST(sum({0}) AS HUGEINT) AS {0}", m.name))
        .collect();
    format!(
        "SELECT {depth} AS depth, coalesce({member}, 0) AS member,
                coalesce(month, {total}) AS col, count(*) AS facts, {sums}
         FROM (SELECT {level_cols}, {month} AS month, {measures}
               FROM sales s JOIN {table} d ON s.{key} = d.{key})
         GROUP BY GROUPING SETS ({sets})",
        depth = depth_expr.join(" + "),
        member = member_expr.join(", "),
        total = model.months.count,
        sums = sums.join(", "),
        level_cols = level_cols.join(", "),
        month = month_expr(model),
        measures = measures.join(", "),
        table = dim.table,
        key = dim.fact_key,
        sets = sets.join(", "),
    )
}

/// A SQL expression for the month index of `invoice_date`.
pub fn month_expr(model: &Model) -> String {
    use chrono::Datelike;
    let first = model.months.first;
    format!(
        "((year(invoice_date) - {}) * 12 + month(invoice_date) - {})",
        first.year(),
        first.month()
    )
}

/// Computes every cell of every sheet from the facts.
pub fn load(conn: &Connection, model: &Model) -> duckdb::Result<Summary> {
    let mut summary = Summary::empty(model);
    let n = model.measures.len();
    for sheet in 0..model.sheets.len() {
        let mut stmt = conn.prepare(&recompute_sql(model, sheet))?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let row = RowRef {
                depth: r.get::<_, i32>(0)? as u8,
                member: r.get::<_, i64>(1)? as u32,
            };
            let col = model.col_from_index(r.get::<_, i64>(2)? as u16);
            let mut value = CellValue {
                facts: r.get(3)?,
                ..Default::default()
            };
            for i in 0..n {
                value.values[i] = r.get(4 + i)?;
            }
            summary.set(model, sheet, row, col, value);
        }
    }
    Ok(summary)
}
