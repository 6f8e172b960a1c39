//! Adding rows to a table in the group's transaction, the cheapest way for
//! their number.
//!
//! A DuckDB appender costs ~0.4 ms a flush whatever it holds, more than a
//! parameterised INSERT of a few rows; for thousands of rows it is many
//! times cheaper. So up to [`INSERT_ROWS`] rows go as INSERT statements of
//! 16, 8, 4, 2 and 1 rows (five cached statements a table), and more
//! through an appender (the caller's).

use duckdb::types::Value;
use duckdb::{Connection, params_from_iter};

/// The most rows inserted with statements rather than an appender.
pub const INSERT_ROWS: usize = 64;

/// Inserts rows of `width` values each (`values` is row after row).
pub fn insert(
    conn: &Connection,
    table: &str,
    width: usize,
    values: &[Value],
) -> duckdb::Result<()> {
    let rows = values.len() / width;
    let mut at = 0;
    for chunk in [16, 8, 4, 2, 1] {
        while rows - at >= chunk {
            let row = format!("({})", vec!["?"; width].join(", "));
            let sql = format!("INSERT INTO {table} VALUES {}", vec![row; chunk].join(", "));
            conn.prepare_cached(&sql)?
                .execute(params_from_iter(&values[at * width..(at + chunk) * width]))?;
            at += chunk;
        }
    }
    Ok(())
}
