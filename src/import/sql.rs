//! SQL text for the import: quoting what comes from the model file (column
//! names, paths, types), and turning offending rows into readable samples.
//! Nothing here comes from a gRPC client: the model file is the operator's.

use duckdb::Connection;

use crate::diagnostics::{Problem, SAMPLES};

/// A quoted SQL identifier.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A quoted SQL string literal.
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Counts the rows of `from` matching `condition` and, if any, returns a
/// problem showing up to [`SAMPLES`] of them (the `columns`, as
/// `name = value`).
pub fn rows_problem(
    conn: &Connection,
    message: &str,
    from: &str,
    condition: &str,
    columns: &[(&str, String)],
) -> duckdb::Result<Option<Problem>> {
    let count: i64 = conn.query_row(
        &format!("SELECT count(*) FROM {from} WHERE {condition}"),
        [],
        |r| r.get(0),
    )?;
    if count == 0 {
        return Ok(None);
    }
    Ok(Some(Problem::rows(
        message,
        count as u64,
        samples(conn, from, condition, columns)?,
    )))
}

/// Up to [`SAMPLES`] rows of `from` matching `condition`, as text.
pub fn samples(
    conn: &Connection,
    from: &str,
    condition: &str,
    columns: &[(&str, String)],
) -> duckdb::Result<Vec<String>> {
    let select: Vec<String> = columns
        .iter()
        .map(|(_, expr)| format!("coalesce(CAST({expr} AS VARCHAR), 'null')"))
        .collect();
    let sql = format!(
        "SELECT {} FROM {from} WHERE {condition} LIMIT {SAMPLES}",
        select.join(", ")
    );
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let parts: Vec<String> = columns
            .iter()
            .enumerate()
            .map(|(i, (name, _))| {
                let v: String = r.get(i).unwrap_or_default();
                format!("{name} = {v}")
            })
            .collect();
        out.push(parts.join(", "));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_keeps_any_name_a_name() {
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(literal("it's"), "'it''s'");
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(&format!(
            "CREATE TABLE t ({} INTEGER); INSERT INTO t VALUES (1), (2), (NULL)",
            ident("odd \"name\"")
        ))
        .unwrap();
        let p = rows_problem(
            &conn,
            "nulls",
            "t",
            &format!("{} IS NULL OR {0} > 1", ident("odd \"name\"")),
            &[("odd", ident("odd \"name\""))],
        )
        .unwrap()
        .unwrap();
        assert_eq!(p.rows.as_ref().unwrap().0, 2);
        assert!(p.rows.unwrap().1.contains(&"odd = null".to_owned()));
    }
}
