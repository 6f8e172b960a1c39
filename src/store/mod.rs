//! DuckDB storage: the schema, seeding, loading the sheet summary, reads of
//! the changelog, and the statements the writer runs.
//!
//! Architecture invariant: only the writer (see `crate::writer`) runs
//! statements that modify the database, on the one connection it owns; reads
//! (changelog history) run on cloned connections from [`ReadPool`] on the
//! blocking pool. No DuckDB call runs on an async worker thread.
//!
//! Tables (see `schema.rs`): `product` and `customer` (dimensions, one row
//! per leaf, ids dense and in hierarchy order), `sales` (facts),
//! `changelog` (one row per revision: the encoded `ChangeEvent`),
//! `duckgrid_meta` (how the database was seeded).

pub mod changelog;
pub mod facts;
mod pool;
pub mod read;
pub mod schema;
mod seed;
pub mod summary;

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use chrono::NaiveDate;
use duckdb::Connection;
use duckdb::types::Value;
use rust_decimal::Decimal;

pub use pool::ReadPool;

use crate::decimal::{self, Units};
use crate::demo::DemoSpec;
use crate::model::definition::{DIMENSIONS, UNASSIGNED};
use crate::model::{Dimension, MeasureDef, Model, Months};
use crate::summary::Summary;

/// An open database: the writer's connection, the model, and the summary
/// computed from the facts.
pub struct Database {
    /// The read-write connection; readers are cloned from it.
    pub conn: Connection,
    pub model: Arc<Model>,
    pub summary: Summary,
    /// The revision of the last committed write (0 after seeding).
    pub head: i64,
    /// The database's identity: random, made when it was created, recorded
    /// in every stream entry so another database's stream is recognised.
    pub database_id: String,
}

/// Opens (creating and seeding on first use) the database at `path`, or an
/// in-memory one for `:memory:`.
pub fn open(path: &str, spec: DemoSpec) -> anyhow::Result<Database> {
    let conn = if path == ":memory:" {
        Connection::open_in_memory()
    } else {
        if let Some(dir) = Path::new(path)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating the directory of {path}"))?;
        }
        Connection::open(path)
    }
    .with_context(|| format!("opening DuckDB database {path}"))?;

    match schema::version(&conn)? {
        None => {
            let started = std::time::Instant::now();
            seed::seed(&conn, &spec).context("seeding the demo model")?;
            tracing::info!(
                facts = spec.facts,
                seed = spec.seed,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "seeded a new database"
            );
        }
        Some(v) if v == schema::VERSION => {
            let (seed, facts) = (meta(&conn, "seed")?, meta(&conn, "facts")?);
            if seed != spec.seed.to_string() || facts != spec.facts.to_string() {
                tracing::warn!(
                    %seed, %facts,
                    "the database was seeded earlier; --seed and --facts only apply to a new database"
                );
            }
        }
        Some(v) => bail!(
            "{path} has schema version {v}, this duckgrid expects {}",
            schema::VERSION
        ),
    }
    let database_id = match meta(&conn, "database_id") {
        Ok(id) => id,
        // Databases created before they had one get one now.
        Err(_) => {
            let id = new_database_id();
            conn.execute("INSERT INTO duckgrid_meta VALUES ('database_id', ?)", [&id])?;
            id
        }
    };
    let model = Arc::new(load_model(&conn)?);
    let started = std::time::Instant::now();
    let summary = summary::load(&conn, &model).context("computing the sheet summary")?;
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "computed the sheet summary"
    );
    let head = read::head_revision(&conn)?;
    Ok(Database {
        conn,
        model,
        summary,
        head,
        database_id,
    })
}

/// A new database identity (128 random bits, hex).
pub fn new_database_id() -> String {
    use rand::RngExt;
    format!("{:032x}", rand::rng().random::<u128>())
}

fn meta(conn: &Connection, key: &str) -> anyhow::Result<String> {
    conn.query_row(
        "SELECT value FROM duckgrid_meta WHERE key = ?",
        [key],
        |r| r.get(0),
    )
    .with_context(|| format!("reading {key} from duckgrid_meta"))
}

/// Loads the dimensions and months into a [`Model`].
pub fn load_model(conn: &Connection) -> anyhow::Result<Model> {
    let first: NaiveDate = meta(conn, "first_month")?.parse().context("first_month")?;
    let count: u16 = meta(conn, "months")?.parse().context("months")?;
    let mut dimensions = Vec::new();
    for def in &DIMENSIONS {
        let cols: Vec<String> = def
            .levels
            .iter()
            .map(|l| format!("{}, {}", l.id_column, l.name_column))
            .collect();
        let sql = format!(
            "SELECT {} FROM {} ORDER BY {}",
            cols.join(", "),
            def.table,
            def.fact_key
        );
        let mut stmt = conn.prepare(&sql)?;
        let n = def.levels.len();
        let rows = stmt
            .query_map([], |r| {
                (0..n)
                    .map(|l| Ok((r.get::<_, u32>(2 * l)?, r.get::<_, String>(2 * l + 1)?)))
                    .collect::<duckdb::Result<Vec<_>>>()
            })?
            .collect::<duckdb::Result<Vec<_>>>()?;
        let dim = Dimension::from_leaves(def, &rows)?;
        let unassigned = dim.path(def.levels.len() as u8, dim.unassigned_leaf());
        if unassigned.iter().any(|name| name != UNASSIGNED) {
            bail!(
                "the last {} is {unassigned:?}, not the {UNASSIGNED} member",
                def.name
            );
        }
        dimensions.push(dim);
    }
    Ok(Model::new(dimensions, Months { first, count }))
}

/// A SQL expression for a measure's column of `sales` in measure units, as
/// an integer (exact: the column's scale is the measure's). Whole and
/// fractional parts are scaled apart: `column × 10^s` in one step overflows
/// DuckDB's DECIMAL(18) arithmetic beyond ~9.2 × 10^(18−2s), well inside
/// what a column holds, and widening to DECIMAL(38) first is ~10× slower
/// (every start reads every fact through this).
pub fn units_expr(m: &MeasureDef) -> String {
    if m.scale == 0 {
        m.column.to_owned()
    } else {
        let (c, step) = (m.column, decimal::pow10(m.scale));
        format!(
            "(CAST(trunc({c}) AS BIGINT) * {step} + CAST(({c} - trunc({c})) * {step} AS BIGINT))"
        )
    }
}

/// The inverse of [`units_expr`]: a SQL expression for `units` (an integer
/// expression in measure units) as the measure's column type, exactly:
/// BIGINT × DECIMAL(s+1, s) is an exact DECIMAL (no floating point).
pub fn value_expr(m: &MeasureDef, units: &str) -> String {
    if m.scale == 0 {
        units.to_owned()
    } else {
        let step = format!("0.{}1", "0".repeat(m.scale as usize - 1));
        format!("CAST({units} * {step} AS {})", m.sql_type)
    }
}

/// A value in measure units as a DuckDB value of the measure's column type.
pub fn units_to_value(m: &MeasureDef, units: Units) -> Value {
    if m.scale == 0 {
        Value::BigInt(units as i64)
    } else {
        Value::Decimal(Decimal::from_i128_with_scale(units, m.scale))
    }
}

/// A date as a DuckDB DATE value.
pub fn date_value(date: NaiveDate) -> Value {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
    Value::Date32((date - epoch).num_days() as i32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::definition::MEASURES;

    /// `value_expr` and `units_expr` are exact inverses at every measure's
    /// scale, up to the largest value a column holds.
    #[test]
    fn units_round_trip_exactly_through_sql() {
        let conn = Connection::open_in_memory().unwrap();
        for m in &MEASURES {
            for units in [0i64, 1, -1, 1050, -1050, 999_999_999_999_999_999] {
                // As in the fact updates: units arrive as a BIGINT column.
                let value = value_expr(m, &format!("CAST({units} AS BIGINT)"));
                let sql = format!(
                    "SELECT {back}, CAST({column} AS VARCHAR), typeof({column}) FROM (SELECT {value} AS {column})",
                    back = units_expr(m),
                    column = m.column,
                );
                let (back, text, ty): (i64, String, String) = conn
                    .query_row(&sql, [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .unwrap();
                assert_eq!(back, units, "{} {units}", m.name);
                assert_eq!(text, decimal::format(units.into(), m.scale), "{}", m.name);
                assert_eq!(ty, m.sql_type, "{}", m.name);
            }
        }
    }
}
