//! Importing the facts: one pass over the fact source into a staging table
//! (month, each dimension's leaf, each measure in exact integer units, and
//! whether each value was acceptable), every problem counted with sample
//! rows, then the facts table in (first dimension, month) order.
//!
//! Values are exact or refused, never rounded: integers scale exactly;
//! decimals, floats and text go through `DECIMAL(38, 12)` and must be whole
//! in the measure's units (text is also checked digit by digit, so that no
//! more than 12 decimal places can hide).

use duckdb::Connection;

use super::sources::Sources;
use super::sql::{ident, rows_problem};
use crate::decimal;
use crate::diagnostics::Problem;
use crate::model::def::ModelDef;
use chrono::Datelike;

/// Units beyond this magnitude do not fit a fact (18 digits).
const MAX_UNITS: &str = "1000000000000000000";

/// Checks the columns the facts need exist in their source.
pub fn check_columns(def: &ModelDef, sources: &Sources) -> Vec<Problem> {
    let source = def.facts.source;
    let mut columns = vec![("the facts' date".to_owned(), def.facts.date.clone())];
    for d in &def.dimensions {
        columns.push((
            format!("dimension {:?}'s fact key", d.name),
            d.fact_key.clone(),
        ));
    }
    for m in &def.measures {
        columns.push((format!("measure {:?}", m.name), m.column.clone()));
    }
    columns
        .into_iter()
        .filter_map(|(what, c)| sources.column(source, &c, &what).err())
        .collect()
}

fn is_integer(ty: &str) -> bool {
    matches!(
        ty,
        "TINYINT"
            | "SMALLINT"
            | "INTEGER"
            | "BIGINT"
            | "HUGEINT"
            | "UTINYINT"
            | "USMALLINT"
            | "UINTEGER"
            | "UBIGINT"
            | "UHUGEINT"
    )
}

/// Builds `fact_stage` and reports every problem; `Ok(n)` is the number of
/// facts when there are none.
pub fn stage(
    conn: &Connection,
    def: &ModelDef,
    sources: &Sources,
) -> duckdb::Result<Result<u64, Vec<Problem>>> {
    let source = &sources.relations[def.facts.source];
    let months = &def.months;
    let mut select = vec![
        "f.source_row".to_owned(),
        format!("TRY_CAST({} AS DATE) AS day", ident(&def.facts.date)),
        format!("CAST({} AS VARCHAR) AS day_raw", ident(&def.facts.date)),
    ];
    let mut joins = Vec::new();
    for (i, d) in def.dimensions.iter().enumerate() {
        select.push(format!("k{i}.leaf AS d{i}"));
        select.push(format!(
            "CAST(f.{} AS VARCHAR) AS key{i}",
            ident(&d.fact_key)
        ));
        joins.push(format!(
            "LEFT JOIN dim_{i} k{i} ON CAST(f.{} AS VARCHAR) = k{i}.key",
            ident(&d.fact_key)
        ));
    }
    for (i, m) in def.measures.iter().enumerate() {
        let col = format!("f.{}", ident(&m.column));
        let step = decimal::pow10(m.scale);
        let ty = sources
            .column(def.facts.source, &m.column, "a measure")
            .unwrap_or("VARCHAR");
        select.push(format!("CAST({col} AS VARCHAR) AS raw{i}"));
        if is_integer(ty) {
            select.push(format!("CAST({col} AS HUGEINT) * {step} AS u{i}"));
            select.push(format!("{col} IS NOT NULL AS exact{i}"));
        } else {
            // The value in units, if it is a number small enough to be a
            // fact. A decimal converts exactly; anything else (floats, text)
            // goes through its shortest text, so 4418.64 is 4418.64 and not
            // the binary fraction next to it, and its decimal places are
            // counted digit by digit.
            let decimal = ty.starts_with("DECIMAL");
            let text = format!("trim(CAST({col} AS VARCHAR))");
            let x = if decimal {
                format!("TRY_CAST({col} AS DECIMAL(38, 12))")
            } else {
                format!("TRY_CAST({text} AS DECIMAL(38, 12))")
            };
            let scaled = format!("(CASE WHEN abs({x}) < {MAX_UNITS} THEN {x} * {step} END)");
            select.push(format!("CAST({scaled} AS HUGEINT) AS u{i}"));
            let mut exact = format!("{scaled} = trunc({scaled})");
            if !decimal {
                exact = format!(
                    "{exact} AND (regexp_matches({text}, '[eE]') OR length(rtrim(split_part({text}, '.', 2), '0')) <= {})",
                    m.scale
                );
            }
            select.push(format!("coalesce({exact}, false) AS exact{i}"));
        }
    }
    select.push(format!(
        "(year(TRY_CAST({date} AS DATE)) - {y}) * 12 + month(TRY_CAST({date} AS DATE)) - {mo} AS month",
        date = ident(&def.facts.date),
        y = months.first.year(),
        mo = months.first.month(),
    ));
    conn.execute_batch(&format!(
        "CREATE TEMP TABLE fact_stage AS SELECT {} FROM (SELECT row_number() OVER () AS source_row, * FROM {source}) f {}",
        select.join(", "),
        joins.join(" ")
    ))?;

    let mut problems = Vec::new();
    fn row<'a>(extra: &[(&'a str, String)]) -> Vec<(&'a str, String)> {
        let mut cols = vec![("row", "source_row".to_owned())];
        cols.extend(extra.iter().cloned());
        cols
    }
    let date = def.facts.date.as_str();
    problems.extend(rows_problem(
        conn,
        &format!("facts without a date in {date:?} (or one that is not a date)"),
        "fact_stage",
        "day IS NULL",
        &row(&[(date, "day_raw".into())]),
    )?);
    let last = crate::model::months::month_start(months, months.count - 1);
    problems.extend(rows_problem(
        conn,
        &format!(
            "facts dated outside the model's months ({} to {})",
            months.first.format("%Y-%m"),
            last.format("%Y-%m")
        ),
        "fact_stage",
        &format!(
            "day IS NOT NULL AND (month < 0 OR month >= {})",
            months.count
        ),
        &row(&[(date, "day_raw".into())]),
    )?);
    for (i, d) in def.dimensions.iter().enumerate() {
        let key = d.fact_key.as_str();
        problems.extend(rows_problem(
            conn,
            &format!("facts without a {key:?} (dimension {:?})", d.name),
            "fact_stage",
            &format!("key{i} IS NULL"),
            &row(&[]),
        )?);
        problems.extend(rows_problem(
            conn,
            &format!(
                "facts whose {key:?} no member of dimension {:?} has",
                d.name
            ),
            "fact_stage",
            &format!("key{i} IS NOT NULL AND d{i} IS NULL"),
            &row(&[(key, format!("key{i}"))]),
        )?);
    }
    for (i, m) in def.measures.iter().enumerate() {
        let name = m.name.as_str();
        let col = m.column.as_str();
        problems.extend(rows_problem(
            conn,
            &format!("facts without a value of measure {name:?}"),
            "fact_stage",
            &format!("raw{i} IS NULL"),
            &row(&[]),
        )?);
        problems.extend(rows_problem(
            conn,
            &format!(
                "values of measure {name:?} that are not numbers of at most 18 digits, or have more than {} decimal places (values are never rounded)",
                m.scale
            ),
            "fact_stage",
            &format!("raw{i} IS NOT NULL AND NOT exact{i}"),
            &row(&[(col, format!("raw{i}"))]),
        )?);
        if let Some(min) = m.min {
            problems.extend(rows_problem(
                conn,
                &format!(
                    "values of measure {name:?} below its minimum {}",
                    decimal::format(min, m.scale)
                ),
                "fact_stage",
                &format!("exact{i} AND u{i} < {min}"),
                &row(&[(col, format!("raw{i}"))]),
            )?);
        }
    }
    if !problems.is_empty() {
        return Ok(Err(problems));
    }
    let n: i64 = conn.query_row("SELECT count(*) FROM fact_stage", [], |r| r.get(0))?;
    Ok(Ok(n as u64))
}

/// Writes the staged facts to `facts`, in (first dimension, month) order:
/// zone maps then skip most of the table for a cell's UPDATE.
pub fn insert(conn: &Connection, def: &ModelDef) -> duckdb::Result<()> {
    let mut cols = vec!["CAST(month AS SMALLINT)".to_owned()];
    cols.extend((0..def.dimensions.len()).map(|i| format!("d{i}")));
    cols.extend((0..def.measures.len()).map(|i| format!("CAST(u{i} AS BIGINT)")));
    conn.execute_batch(&format!(
        "INSERT INTO facts
         SELECT row_number() OVER (ORDER BY d0, month, source_row) - 1, {}, 0, 0
         FROM fact_stage ORDER BY d0, month, source_row;
         DROP TABLE fact_stage;",
        cols.join(", ")
    ))
}
