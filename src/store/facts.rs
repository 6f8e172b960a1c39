//! The writer's statements on facts: find the facts beneath a cell, change
//! their values, add adjustment facts, and sum them for the post-check.

use chrono::NaiveDate;
use duckdb::types::Value;
use duckdb::{Connection, params_from_iter};

use super::{date_value, units_expr, units_to_value};
use crate::decimal::{self, Units};
use crate::model::{AtomFilter, MAX_DIMENSIONS, MAX_MEASURES, Model};

/// One fact beneath a cell, with the value of the measure being written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Atom {
    pub sale_id: i64,
    pub keys: [u32; MAX_DIMENSIONS],
    pub month: u16,
    pub value: Units,
}

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

/// The facts beneath a cell, in `sale_id` order, with measure `measure`.
/// (Months are computed here and the sort done here: as SQL they cost more
/// than the scan itself.)
pub fn fetch(
    conn: &Connection,
    model: &Model,
    filter: &AtomFilter,
    measure: usize,
) -> duckdb::Result<Vec<Atom>> {
    let (cond, args) = filter_sql(model, filter);
    let keys: Vec<&str> = model.dimensions.iter().map(|d| d.def.fact_key).collect();
    let n = keys.len();
    let sql = format!(
        "SELECT sale_id, invoice_date, {value}, {keys} FROM sales WHERE {cond}",
        value = units_expr(&model.measures[measure]),
        keys = keys.join(", "),
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(args), |r| {
        let date: NaiveDate = r.get(1)?;
        let mut atom = Atom {
            sale_id: r.get(0)?,
            // The filter only admits dates inside the model's months.
            month: model.months.index_of(date).unwrap_or_default(),
            value: r.get::<_, i64>(2)?.into(),
            keys: [0; MAX_DIMENSIONS],
        };
        for i in 0..n {
            atom.keys[i] = r.get::<_, i32>(3 + i)? as u32;
        }
        Ok(atom)
    })?;
    let mut atoms = rows.collect::<duckdb::Result<Vec<_>>>()?;
    atoms.sort_unstable_by_key(|a| a.sale_id);
    Ok(atoms)
}

/// Sets `measure` of the given facts (all beneath `filter`) to new values;
/// returns how many facts were changed.
///
/// One statement: the (id, value) pairs travel as one text parameter that
/// the statement splits, and it repeats the cell's filter and the range of
/// the changed ids so that zone maps skip every row group that holds none
/// of them. (DuckDB answers such a statement in about a millisecond; a
/// staging table plus a join over all facts takes several.)
pub fn update(
    conn: &Connection,
    model: &Model,
    filter: &AtomFilter,
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
    let pairs = values
        .iter()
        .map(|(id, v)| {
            format!(
                "{id}:{}",
                decimal::Display {
                    units: *v,
                    scale: m.scale
                }
            )
        })
        .collect::<Vec<_>>()
        .join(";");
    let (cond, filter_args) = filter_sql(model, filter);
    let mut args = vec![Value::Text(pairs)];
    args.extend(filter_args);
    args.extend([Value::BigInt(lo), Value::BigInt(hi)]);
    conn.prepare_cached(&format!(
        "UPDATE sales SET {col} = u.value
         FROM (SELECT CAST(split_part(pair, ':', 1) AS BIGINT) AS sale_id,
                      CAST(split_part(pair, ':', 2) AS {ty}) AS value
               FROM (SELECT unnest(string_split(?, ';')) AS pair)) u
         WHERE sales.sale_id = u.sale_id AND {cond} AND sales.sale_id BETWEEN ? AND ?",
        col = m.column,
        ty = m.sql_type,
    ))?
    .execute(params_from_iter(args))
}

/// Appends facts created by `revision`.
pub fn insert(
    conn: &Connection,
    model: &Model,
    revision: i64,
    facts: &[NewFact],
) -> duckdb::Result<()> {
    let mut cols = vec!["sale_id", "invoice_date"];
    cols.extend(model.dimensions.iter().map(|d| d.def.fact_key));
    cols.extend(model.measures.iter().map(|m| m.column));
    cols.push("created_revision");
    let mut app = conn.appender_with_columns("sales", &cols)?;
    for f in facts {
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
    Ok(())
}

/// The next free `sale_id`.
pub fn next_sale_id(conn: &Connection) -> duckdb::Result<i64> {
    conn.query_row(
        "SELECT coalesce(max(sale_id), -1) + 1 FROM sales",
        [],
        |r| r.get(0),
    )
}
