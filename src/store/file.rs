//! Opening a database file, and DuckDB's row groups in it.
//!
//! DuckDB stores a table in row groups of up to 122,880 rows by default,
//! and a checkpoint rewrites every column of a row group that gained rows
//! since the last one (`ColumnDataCheckpointer`: "something has undergone
//! changes, we rewrote everything"), re-reading the large strings already
//! on disk. The changelog gains a 10 KB event a revision at 1,000,000
//! facts, so each checkpoint rewrote its newest row group whole, up to
//! 1.2 GB: under 32 writing clients the checkpoints grew from ~200 ms to
//! 1.5-4 s and took a third to a half of the time (debug log). Databases
//! duckgrid creates use row groups of [`ROW_GROUP_SIZE`] rows, which bounds
//! that rewrite to ~80 MB.
//!
//! The size is an option of `ATTACH`, not a setting, and DuckDB keeps it
//! nowhere in the file. A file is always opened with the size it was
//! created with: DuckDB's append code assumes no row group holds more rows
//! than the size it was given (`RowGroupCollection::Append` subtracts the
//! rows from the size, unsigned; DuckDB 1.5 starts a new row group for
//! appends after a reload, so we could not provoke it). So the size is
//! kept in `duckgrid_meta.row_group_size`, read before the database is
//! attached for writing; databases made before it have none and keep
//! DuckDB's default. The database is attached as catalog `duckgrid`, and
//! every connection to it uses that catalog ([`clone`]).

use std::path::Path;

use anyhow::Context;
use duckdb::Connection;

use crate::import::sql::literal;

/// Rows per row group in the databases duckgrid creates.
///
/// `benches/row_groups.rs` (DuckDB alone storing what 32 clients' writes
/// at 1,000,000 facts store, 20 s a size) on this machine: 5,593
/// revisions/s with DuckDB's 122,880 rows, 7,090 with 2,048, 9,320 with
/// 8,192, 7,275 with 16,384 (earlier 30 s runs of the same loop:
/// 5,700-5,900 with 122,880, 10,400-10,600 with 8,192). Smaller groups
/// spend more on each group's metadata, larger ones on the rewrite.
pub const ROW_GROUP_SIZE: u64 = 8192;

/// The catalog the database file is attached as.
const CATALOG: &str = "duckgrid";

/// A connection to the database at `path` (`:memory:`: a new in-memory
/// one), and the row-group size it was attached with if it is duckgrid's.
pub fn connect(path: &str) -> anyhow::Result<(Connection, Option<u64>)> {
    if path == ":memory:" {
        return Ok((Connection::open_in_memory()?, None));
    }
    if let Some(dir) = Path::new(path)
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the directory of {path}"))?;
    }
    let conn = Connection::open_in_memory()?;
    let size = if Path::new(path).exists() {
        kept_size(&conn, path).with_context(|| format!("opening DuckDB database {path}"))?
    } else {
        Some(ROW_GROUP_SIZE)
    };
    let option = size.map_or(String::new(), |n| format!(" (ROW_GROUP_SIZE {n})"));
    // DuckDB spills to `<main database>.tmp`, which for an in-memory main
    // database is `.tmp` in the working directory: keep it beside the file.
    conn.execute_batch(&format!(
        "ATTACH {} AS {CATALOG}{option}; USE {CATALOG}; SET temp_directory = {};",
        literal(path),
        literal(&format!("{path}.tmp"))
    ))
    .with_context(|| format!("opening DuckDB database {path}"))?;
    Ok((conn, size))
}

/// Another connection to `conn`'s database, using the same catalog (a
/// clone starts in DuckDB's own in-memory one).
pub fn clone(conn: &Connection) -> duckdb::Result<Connection> {
    let catalog: String = conn.query_row("SELECT current_database()", [], |r| r.get(0))?;
    let clone = conn.try_clone()?;
    clone.execute_batch(&format!("USE \"{}\"", catalog.replace('"', "\"\"")))?;
    Ok(clone)
}

/// The row-group size the existing file at `path` must be opened with:
/// what it was created with, [`ROW_GROUP_SIZE`] if it holds no table yet
/// (a creation that stopped early), DuckDB's default (`None`) otherwise.
/// Read on a read-only attachment, detached again before the file is
/// attached for writing.
fn kept_size(conn: &Connection, path: &str) -> anyhow::Result<Option<u64>> {
    const PEEK: &str = "duckgrid_peek";
    conn.execute_batch(&format!("ATTACH {} AS {PEEK} (READ_ONLY)", literal(path)))?;
    let read = || -> duckdb::Result<Option<String>> {
        let (tables, meta): (i64, i64) = conn.query_row(
            &format!(
                "SELECT count(*), count(*) FILTER (table_name = 'duckgrid_meta') \
                 FROM duckdb_tables() WHERE database_name = '{PEEK}'"
            ),
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        if tables == 0 {
            return Ok(Some(ROW_GROUP_SIZE.to_string()));
        }
        if meta == 0 {
            return Ok(None);
        }
        let kept: Option<String> = conn
            .query_row(
                &format!("SELECT value FROM {PEEK}.duckgrid_meta WHERE key = 'row_group_size'"),
                [],
                |r| r.get(0),
            )
            .map(Some)
            .or_else(|e| match e {
                duckdb::Error::QueryReturnedNoRows => Ok(None),
                e => Err(e),
            })?;
        Ok(kept)
    };
    let kept = read();
    conn.execute_batch(&format!("DETACH {PEEK}"))?;
    // Rather than guess a size: a value that is not a number stops the
    // open.
    kept?
        .map(|v| {
            v.parse::<u64>()
                .with_context(|| format!("duckgrid_meta.row_group_size is {v:?}, not a number"))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::DemoSpec;
    use crate::store::{self, ModelSource};

    /// The rows of each of `table`'s row groups on disk, in order.
    fn row_groups(conn: &Connection, table: &str) -> Vec<i64> {
        conn.execute_batch("CHECKPOINT").unwrap();
        let sql = format!(
            "SELECT sum(count)::BIGINT FROM pragma_storage_info('{table}') \
             WHERE column_id = 0 AND segment_type <> 'VALIDITY' \
             GROUP BY row_group_id ORDER BY row_group_id"
        );
        let mut stmt = conn.prepare(&sql).unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<duckdb::Result<_>>()
            .unwrap()
    }

    fn demo(path: &str) -> store::Database {
        store::open(path, &ModelSource::Demo(DemoSpec::new(7, 20_000)), None).unwrap()
    }

    /// A demo database file in a new directory, then changed by `sql` on a
    /// plain DuckDB connection (as another program would).
    fn demo_file(sql: &str) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("grid.duckdb");
        let path = path.to_str().unwrap().to_owned();
        drop(demo(&path));
        Connection::open(&path).unwrap().execute_batch(sql).unwrap();
        (dir, path)
    }

    #[test]
    fn a_new_database_keeps_small_row_groups_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("grid.duckdb");
        let path = path.to_str().unwrap();
        let db = demo(path);
        let facts = row_groups(&db.conn, "facts");
        assert!(facts.len() >= 2, "{facts:?}");
        assert!(
            facts.iter().all(|&n| n <= ROW_GROUP_SIZE as i64),
            "{facts:?}"
        );
        let kept: String = db
            .conn
            .query_row(
                "SELECT value FROM duckgrid_meta WHERE key = 'row_group_size'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(kept, ROW_GROUP_SIZE.to_string());
        let spills: String = db
            .conn
            .query_row("SELECT current_setting('temp_directory')", [], |r| r.get(0))
            .unwrap();
        assert_eq!(spills, format!("{path}.tmp"));
        drop(db);

        // Reopened, appends still go into row groups of that size, on
        // every connection to it.
        let db = demo(path);
        let other = clone(&db.conn).unwrap();
        other
            .execute_batch("CREATE TABLE t AS SELECT range AS i FROM range(20000)")
            .unwrap();
        let t = row_groups(&db.conn, "t");
        assert_eq!(t.iter().sum::<i64>(), 20_000);
        assert!(t.iter().all(|&n| n <= ROW_GROUP_SIZE as i64), "{t:?}");
    }

    #[test]
    fn a_database_made_before_keeps_duckdbs_row_groups() {
        // As a database from before the size was kept: no meta row, and a
        // table whose last row group is larger than ROW_GROUP_SIZE.
        let (_dir, path) = demo_file(
            "DELETE FROM duckgrid_meta WHERE key = 'row_group_size';
             CREATE TABLE t AS SELECT range AS i FROM range(140000);",
        );
        let db = demo(&path);
        let mut insert = db.conn.prepare("INSERT INTO t VALUES (?)").unwrap();
        for i in 140_000..140_100_i64 {
            insert.execute([i]).unwrap();
        }
        let (n, sum): (i64, i64) = db
            .conn
            .query_row("SELECT count(*), sum(i)::BIGINT FROM t", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((n, sum), (140_100, 140_099 * 140_100 / 2));
        // New row groups get DuckDB's default size.
        db.conn
            .execute_batch("CREATE TABLE u AS SELECT range AS i FROM range(20000)")
            .unwrap();
        assert_eq!(row_groups(&db.conn, "u"), vec![20_000]);
    }

    #[test]
    fn a_kept_size_that_is_not_a_number_stops_the_open() {
        let (_dir, path) =
            demo_file("UPDATE duckgrid_meta SET value = 'x' WHERE key = 'row_group_size'");
        let err = connect(&path).unwrap_err();
        assert!(format!("{err:#}").contains("row_group_size"), "{err:#}");
    }
}
