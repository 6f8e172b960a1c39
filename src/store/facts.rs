//! The writer's statements on facts: change their values and add
//! adjustment facts. Values are integer units (the schema stores them so),
//! every identifier is a generated column name (`d<i>`, `m<i>`).

use std::sync::Arc;

use duckdb::arrow::array::Int64Array;
use duckdb::arrow::datatypes::{DataType, Field, Schema};
use duckdb::arrow::record_batch::RecordBatch;
use duckdb::types::Value;
use duckdb::{Connection, params, params_from_iter};

use crate::decimal::Units;
use crate::model::{AtomFilter, MAX_DIMENSIONS, MAX_MEASURES};

/// A fact to insert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewFact {
    pub fact_id: i64,
    pub month: u16,
    pub keys: [u32; MAX_DIMENSIONS],
    pub values: [Units; MAX_MEASURES],
}

/// The SQL condition of a cell's facts, and its parameters.
fn filter_sql(filter: &AtomFilter) -> (String, Vec<Value>) {
    let mut sql = vec!["month >= ? AND month < ?".to_owned()];
    let mut args = vec![
        Value::Int(i32::from(filter.months.start)),
        Value::Int(i32::from(filter.months.end)),
    ];
    for (d, keys) in &filter.keys {
        sql.push(format!("d{d} BETWEEN ? AND ?"));
        args.push(Value::Int(*keys.start() as i32));
        args.push(Value::Int(*keys.end() as i32));
    }
    (sql.join(" AND "), args)
}

/// Up to this many changed facts travel inline in the statement; more go
/// through a staging table (appending is cheaper than parsing at that size).
const INLINE_UPDATE: usize = 2_000;

/// The temporary table that stages large fact updates.
const STAGE: &str = "fact_update";

/// Creates the staging table of large fact updates.
pub fn create_stage(conn: &Connection) -> duckdb::Result<()> {
    conn.execute_batch(&format!(
        "CREATE TEMP TABLE {STAGE} (fact_id BIGINT, units BIGINT)"
    ))
}

/// Sets `column` (a measure's `m<i>`, or `removed_revision`) of the given
/// facts (all beneath `filter`, when given) to new values; returns how many
/// facts were changed.
///
/// The statement repeats the cell's filter and the range of the changed ids
/// so that zone maps skip every row group that holds none of them (a join
/// against every fact costs several milliseconds). Without a filter (several
/// cells at once) only the id range narrows the scan. Values travel as
/// (id, units) pairs: a few as one text parameter that the statement
/// splits, many appended to a staging table first.
pub fn update(
    conn: &Connection,
    filter: Option<&AtomFilter>,
    column: &str,
    values: &[(i64, Units)],
) -> duckdb::Result<usize> {
    let (Some(lo), Some(hi)) = (
        values.iter().map(|v| v.0).min(),
        values.iter().map(|v| v.0).max(),
    ) else {
        return Ok(0);
    };
    let mut args = Vec::with_capacity(8);
    let units = if values.len() <= INLINE_UPDATE {
        let pairs = values
            .iter()
            .map(|(id, v)| format!("{id}:{v}"))
            .collect::<Vec<_>>()
            .join(";");
        args.push(Value::Text(pairs));
        "(SELECT CAST(split_part(pair, ':', 1) AS BIGINT) AS fact_id,
                 CAST(split_part(pair, ':', 2) AS BIGINT) AS units
          FROM (SELECT unnest(string_split(?, ';')) AS pair))"
            .to_owned()
    } else {
        conn.execute(&format!("DELETE FROM {STAGE}"), [])?;
        // One batch of two columns: appending row by row costs a generic
        // value and a cast per field, several times the UPDATE itself.
        let ids = Int64Array::from_iter_values(values.iter().map(|v| v.0));
        let units = Int64Array::from_iter_values(values.iter().map(|v| v.1 as i64));
        let schema = Schema::new(vec![
            Field::new("fact_id", DataType::Int64, false),
            Field::new("units", DataType::Int64, false),
        ]);
        let batch = RecordBatch::try_new(Arc::new(schema), vec![Arc::new(ids), Arc::new(units)])
            .map_err(|e| duckdb::Error::ToSqlConversionFailure(Box::new(e)))?;
        let mut app = conn.appender_to_catalog_and_db(STAGE, "temp", "main")?;
        app.append_record_batch(batch)?;
        app.flush()?;
        STAGE.to_owned()
    };
    let mut cond = String::new();
    if let Some(filter) = filter {
        let (sql, filter_args) = filter_sql(filter);
        cond = format!("{sql} AND ");
        args.extend(filter_args);
    }
    args.extend([Value::BigInt(lo), Value::BigInt(hi)]);
    conn.prepare_cached(&format!(
        "UPDATE facts SET {column} = u.units FROM {units} u
         WHERE facts.fact_id = u.fact_id AND {cond}facts.fact_id BETWEEN ? AND ?"
    ))?
    .execute(params_from_iter(args))
}

/// Appends new facts, each with the revision that created it, and flushes
/// them (an error appending any of them is this call's error, not one
/// dropped on the floor when the appender goes).
pub fn insert(
    conn: &Connection,
    dimensions: usize,
    measures: usize,
    facts: impl Iterator<Item = (i64, NewFact)>,
) -> duckdb::Result<()> {
    let mut app = conn.appender("facts")?;
    for (revision, f) in facts {
        let mut row = vec![Value::BigInt(f.fact_id), Value::SmallInt(f.month as i16)];
        row.extend((0..dimensions).map(|i| Value::Int(f.keys[i] as i32)));
        row.extend((0..measures).map(|i| Value::BigInt(f.values[i] as i64)));
        row.push(Value::BigInt(revision));
        row.push(Value::BigInt(0)); // live
        app.append_row(duckdb::appender_params_from_iter(row))?;
    }
    app.flush()
}

/// How many facts have ids from `lo` to `hi`.
pub fn count_ids(conn: &Connection, lo: i64, hi: i64) -> duckdb::Result<usize> {
    conn.prepare_cached("SELECT count(*) FROM facts WHERE fact_id BETWEEN ? AND ?")?
        .query_row(params![lo, hi], |r| r.get::<_, i64>(0))
        .map(|n| n as usize)
}
