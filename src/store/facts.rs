//! The writer's statements on facts: change their values and add
//! adjustment facts.

use chrono::NaiveDate;
use duckdb::types::Value;
use duckdb::{Connection, params, params_from_iter};

use super::{date_value, units_to_value, value_expr};
use crate::decimal::Units;
use crate::model::{AtomFilter, MAX_DIMENSIONS, MAX_MEASURES, Model};

/// A fact to insert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewFact {
    pub sale_id: i64,
    pub invoice_date: NaiveDate,
    pub keys: [u32; MAX_DIMENSIONS],
    pub values: [Units; MAX_MEASURES],
}

fn filter_sql(model: &Model, filter: &AtomFilter) -> (String, [Value; 4]) {
    let key = model.dimensions[filter.dimension].def.fact_key;
    let from = model.months.start(filter.months.start);
    let to = model.months.start(filter.months.end);
    (
        format!("{key} BETWEEN ? AND ? AND invoice_date >= ? AND invoice_date < ?"),
        [
            Value::Int(*filter.keys.start() as i32),
            Value::Int(*filter.keys.end() as i32),
            date_value(from),
            date_value(to),
        ],
    )
}

/// Up to this many changed facts travel inline in the statement; more go
/// through a staging table (appending is cheaper than parsing at that size).
const INLINE_UPDATE: usize = 2_000;

/// The temporary table that stages large fact updates. Values travel as
/// integer units, inline or staged (appending a DECIMAL goes through a
/// generic value and a cast per row, several times slower), and the
/// statement scales them back, exactly, in SQL.
const STAGE: &str = "fact_update";

/// Creates the staging table of large fact updates.
pub fn create_stage(conn: &Connection) -> duckdb::Result<()> {
    conn.execute_batch(&format!(
        "CREATE TEMP TABLE {STAGE} (sale_id BIGINT, units BIGINT)"
    ))
}

/// Sets `measure` of the given facts (all beneath `filter`, when given) to
/// new values; returns how many facts were changed.
///
/// The statement repeats the cell's filter and the range of the changed ids
/// so that zone maps skip every row group that holds none of them (a join
/// against every fact costs several milliseconds). Without a filter (several
/// cells at once) only the id range narrows the scan. Values travel as
/// (id, units) pairs: a few as one text parameter that the statement
/// splits, many appended to a staging table first.
pub fn update(
    conn: &Connection,
    model: &Model,
    filter: Option<&AtomFilter>,
    measure: usize,
    values: &[(i64, Units)],
) -> duckdb::Result<usize> {
    let (Some(lo), Some(hi)) = (
        values.iter().map(|v| v.0).min(),
        values.iter().map(|v| v.0).max(),
    ) else {
        return Ok(0);
    };
    let m = &model.measures[measure];
    let mut args = Vec::with_capacity(8);
    // Either way the values travel as integer units (sale_id, units).
    let units = if values.len() <= INLINE_UPDATE {
        let pairs = values
            .iter()
            .map(|(id, v)| format!("{id}:{v}"))
            .collect::<Vec<_>>()
            .join(";");
        args.push(Value::Text(pairs));
        "(SELECT CAST(split_part(pair, ':', 1) AS BIGINT) AS sale_id,
                 CAST(split_part(pair, ':', 2) AS BIGINT) AS units
          FROM (SELECT unnest(string_split(?, ';')) AS pair))"
            .to_owned()
    } else {
        conn.execute(&format!("DELETE FROM {STAGE}"), [])?;
        let mut app = conn.appender_to_catalog_and_db(STAGE, "temp", "main")?;
        for &(id, v) in values {
            app.append_row(params![id, v as i64])?;
        }
        app.flush()?;
        STAGE.to_owned()
    };
    let source = format!(
        "(SELECT sale_id, {value} AS value FROM {units})",
        value = value_expr(m, "units")
    );
    let mut cond = String::new();
    if let Some(filter) = filter {
        let (sql, filter_args) = filter_sql(model, filter);
        cond = format!("{sql} AND ");
        args.extend(filter_args);
    }
    args.extend([Value::BigInt(lo), Value::BigInt(hi)]);
    conn.prepare_cached(&format!(
        "UPDATE sales SET {col} = u.value FROM {source} u
         WHERE sales.sale_id = u.sale_id AND {cond}sales.sale_id BETWEEN ? AND ?",
        col = m.column,
    ))?
    .execute(params_from_iter(args))
}

/// Appends new facts, each with the revision that created it, and flushes
/// them (an error appending any of them is this call's error, not one
/// dropped on the floor when the appender goes).
pub fn insert(
    conn: &Connection,
    model: &Model,
    facts: impl Iterator<Item = (i64, NewFact)>,
) -> duckdb::Result<()> {
    let mut cols = vec!["sale_id", "invoice_date"];
    cols.extend(model.dimensions.iter().map(|d| d.def.fact_key));
    cols.extend(model.measures.iter().map(|m| m.column));
    cols.push("created_revision");
    let mut app = conn.appender_with_columns("sales", &cols)?;
    for (revision, f) in facts {
        let mut row = vec![Value::BigInt(f.sale_id), date_value(f.invoice_date)];
        row.extend((0..model.dimensions.len()).map(|i| Value::Int(f.keys[i] as i32)));
        row.extend(
            model
                .measures
                .iter()
                .enumerate()
                .map(|(i, m)| units_to_value(m, f.values[i])),
        );
        row.push(Value::BigInt(revision));
        app.append_row(duckdb::appender_params_from_iter(row))?;
    }
    app.flush()
}

/// How many facts have ids from `lo` to `hi`.
pub fn count_ids(conn: &Connection, lo: i64, hi: i64) -> duckdb::Result<usize> {
    conn.prepare_cached("SELECT count(*) FROM sales WHERE sale_id BETWEEN ? AND ?")?
        .query_row(params![lo, hi], |r| r.get::<_, i64>(0))
        .map(|n| n as usize)
}
