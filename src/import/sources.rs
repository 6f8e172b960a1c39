//! The model's sources, opened with DuckDB's own readers as temporary
//! relations `src_<i>`: CSV (`read_csv`, materialised once: parsing is the
//! costly part), Parquet (`read_parquet`, globs and several files by name)
//! and tables of other DuckDB databases (attached read-only). The user's
//! files are only ever read.

use duckdb::Connection;

use super::sql::{ident, literal};
use crate::diagnostics::Problem;
use crate::model::def::{ModelDef, SourceKind};

/// The opened sources: each one's relation and its columns (name, type).
pub struct Sources {
    pub relations: Vec<String>,
    pub columns: Vec<Vec<(String, String)>>,
    pub names: Vec<String>,
}

impl Sources {
    /// The type of a source's column, or a problem naming the columns it has.
    pub fn column(&self, source: usize, column: &str, what: &str) -> Result<&str, Problem> {
        self.columns[source]
            .iter()
            .find(|(name, _)| name == column)
            .map(|(_, ty)| ty.as_str())
            .ok_or_else(|| {
                let known: Vec<&str> = self.columns[source]
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect();
                Problem::new(format!(
                    "{what}: source {:?} has no column {column:?} (it has: {})",
                    self.names[source],
                    known.join(", ")
                ))
                .near(format!("{column:?}"))
            })
    }
}

/// Opens every source; a source that cannot be read is a problem.
pub fn open(conn: &Connection, def: &ModelDef) -> Result<Sources, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut sources = Sources {
        relations: Vec::new(),
        columns: Vec::new(),
        names: Vec::new(),
    };
    for (i, source) in def.sources.iter().enumerate() {
        let relation = format!("src_{i}");
        let opened = open_one(conn, &relation, &source.kind, attached_as(def, i))
            .and_then(|()| columns(conn, &relation));
        match opened {
            Ok(cols) => sources.columns.push(cols),
            Err(e) => {
                problems.push(Problem::new(format!(
                    "source {:?} cannot be read: {e}",
                    source.name
                )));
                sources.columns.push(Vec::new());
            }
        }
        sources.relations.push(relation);
        sources.names.push(source.name.clone());
    }
    if problems.is_empty() {
        Ok(sources)
    } else {
        Err(problems)
    }
}

/// The alias source `i`'s DuckDB file is attached as: that of the first
/// source with the same file (DuckDB attaches a file once), and whether it
/// is `i` itself (which attaches and detaches it).
fn attached_as(def: &ModelDef, i: usize) -> (String, bool) {
    let first = match &def.sources[i].kind {
        SourceKind::DuckDb { path, .. } => def
            .sources
            .iter()
            .position(|s| matches!(&s.kind, SourceKind::DuckDb { path: p, .. } if p == path))
            .unwrap_or(i),
        _ => i,
    };
    (format!("src_{first}_db"), first == i)
}

fn open_one(
    conn: &Connection,
    relation: &str,
    kind: &SourceKind,
    (db, owner): (String, bool),
) -> duckdb::Result<()> {
    let sql = match kind {
        SourceKind::Csv {
            path,
            delimiter,
            header,
            types,
        } => {
            let mut options = vec![format!("header = {header}")];
            if let Some(d) = delimiter {
                options.push(format!("delim = {}", literal(d)));
            }
            if !types.is_empty() {
                let types: Vec<String> = types
                    .iter()
                    .map(|(c, t)| format!("{}: {}", literal(c), literal(t)))
                    .collect();
                options.push(format!("types = {{{}}}", types.join(", ")));
            }
            format!(
                "CREATE TEMP TABLE {relation} AS SELECT * FROM read_csv({}, {})",
                literal(path),
                options.join(", ")
            )
        }
        SourceKind::Parquet { path } => format!(
            "CREATE TEMP VIEW {relation} AS SELECT * FROM read_parquet({}, union_by_name = true)",
            literal(path)
        ),
        SourceKind::DuckDb { path, table } => {
            if owner {
                conn.execute_batch(&format!("ATTACH {} AS {db} (READ_ONLY)", literal(path)))?;
            }
            let parts: Vec<String> = table.split('.').map(ident).collect();
            format!(
                "CREATE TEMP VIEW {relation} AS SELECT * FROM {db}.{}",
                parts.join(".")
            )
        }
    };
    conn.execute_batch(&sql)
}

fn columns(conn: &Connection, relation: &str) -> duckdb::Result<Vec<(String, String)>> {
    let mut stmt = conn.prepare(&format!("DESCRIBE {relation}"))?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

/// Drops what [`open`] made (the attached files stay until [`detach`]).
pub fn close(conn: &Connection, def: &ModelDef) {
    for i in 0..def.sources.len() {
        let relation = format!("src_{i}");
        // One of the two fails (it is a view or a table): separately.
        let _ = conn.execute_batch(&format!("DROP VIEW IF EXISTS {relation}"));
        let _ = conn.execute_batch(&format!("DROP TABLE IF EXISTS {relation}"));
    }
}

/// Detaches the DuckDB files [`open`] attached. Only outside a transaction:
/// DuckDB refuses a DETACH inside one, and the refusal aborts it.
pub fn detach(conn: &Connection, def: &ModelDef) {
    for (i, source) in def.sources.iter().enumerate() {
        let (db, owner) = attached_as(def, i);
        if owner && matches!(source.kind, SourceKind::DuckDb { .. }) {
            let _ = conn.execute_batch(&format!("DETACH DATABASE IF EXISTS {db}"));
        }
    }
}
