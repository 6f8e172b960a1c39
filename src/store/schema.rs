//! The database schema: the same tables for every model, with columns
//! numbered after the model's dimensions and measures (the model itself is
//! kept in `duckgrid_meta`, so the numbers always have their names).
//!
//! - `duckgrid_meta (key, value)`: schema version, database id, the model,
//!   the row-group size the file is opened with (`super::file`).
//! - `dim_<d> (leaf, key, l0, c0, l1, c1, …)`: dimension `d`, one row per
//!   leaf, leaves numbered in hierarchy order (see the model invariant), a
//!   member's name `l<i>` (null where a ragged level is skipped) and caption
//!   `c<i>` per level; the last leaf is the placeholder.
//! - `facts (fact_id, month, d0…, m0…, created_revision, removed_revision)`:
//!   dense ids, the month's index, each dimension's leaf, each measure in
//!   exact integer units of its scale; `created_revision` is 0 for imported
//!   facts and the creating revision for adjustment facts;
//!   `removed_revision` is 0 for a live fact and the revision that removed
//!   it (a revert of its creation) otherwise. A removed fact keeps its id
//!   (ids stay dense) and holds zeros.
//! - `journal (revision, record)`: one row per commit group — its newest
//!   revision and everything its revisions did (`super::journal`) — the
//!   table a commit writes (with any new facts), and the durable record of
//!   the revisions the two tables below do not hold yet: they are written
//!   from it behind the commits, which then loses those rows
//!   (`super::catch_up`, also run at start). `facts` holds the values of
//!   revision `duckgrid_meta.facts_at`; the fact history has every later
//!   change.
//! - `changelog`: one row per revision — the source of truth for change
//!   events — with the client session, the revision a revert took back and
//!   the revert in effect that took this one back (what Undo looks for).
//! - `fact_history (revision, fact_id, measure, before, after)`: every
//!   fact value a revision changed; `measure` 255 ([`EXISTENCE`]) records a
//!   fact's creation (0 → 1) or removal (1 → 0). `duckgrid_meta.history_from`
//!   is the oldest revision whose state the rows can rebuild (see
//!   `crate::history`).
//! - the view `cube`: every fact with the model's names — its month (the
//!   first day), its key and members in every dimension (`<dimension>` and
//!   `<dimension>_<level>`), its measures as exact decimals — for anyone
//!   who queries the database with SQL (current once duckgrid has stopped:
//!   see `facts_at`).

use duckdb::Connection;

use crate::import::{ident, literal};
use crate::model::def::ModelDef;

/// Bumped whenever the schema changes (1: the fixed demo schema of the
/// first phase; 2: models; 3: the fact history, migrated from 2 by
/// [`MIGRATE_2_TO_3`]; 4: facts written behind the writes, `facts_at`,
/// `store::migrate_3_to_4`; 5: the journal, the changelog and the fact
/// history written behind too, [`JOURNAL_DDL`]).
pub const VERSION: &str = "5";

/// The `fact_history.measure` of a fact's existence: `before`/`after` are
/// 0 (absent) or 1 (live).
pub const EXISTENCE: u8 = 255;

/// The changelog and history tables a version 3 database has beyond
/// version 2's.
const HISTORY_DDL: &str = "CREATE TABLE fact_history (
             revision BIGINT NOT NULL,
             fact_id  BIGINT NOT NULL,
             measure  UTINYINT NOT NULL,
             before   BIGINT NOT NULL,
             after    BIGINT NOT NULL
         );";

/// Brings a version 2 database to version 3 (the caller commits it with
/// the new `cube` view): facts gain `removed_revision`, the changelog its
/// session and revert columns, and the fact history starts at the head
/// (no earlier revision recorded its deltas).
///
/// The changelog's index must go for its columns to be added, and comes
/// back in a transaction of its own ([`REQUEST_ID_INDEX`], made at every
/// start): DuckDB 1.5 aborts the process when one transaction drops an
/// index, alters its table and creates the index again.
pub const MIGRATE_2_TO_3: &str = "DROP VIEW cube;
         ALTER TABLE facts ADD COLUMN removed_revision BIGINT DEFAULT 0;
         DROP INDEX changelog_request_id;
         ALTER TABLE changelog ADD COLUMN session VARCHAR;
         ALTER TABLE changelog ADD COLUMN reverts BIGINT;
         ALTER TABLE changelog ADD COLUMN reverted_by BIGINT;
         UPDATE duckgrid_meta SET value = '3' WHERE key = 'schema_version';";

/// The journal (what version 5 has beyond version 4).
pub const JOURNAL_DDL: &str = "CREATE TABLE journal (
             revision BIGINT NOT NULL,
             record   BLOB NOT NULL
         );";

/// The changelog's index of request ids (a retried write is found by it).
pub const REQUEST_ID_INDEX: &str =
    "CREATE INDEX IF NOT EXISTS changelog_request_id ON changelog (request_id);";

/// The tables of a model's database (the dimension tables are created by
/// the import).
pub fn ddl(def: &ModelDef) -> String {
    let mut facts = vec![
        "fact_id BIGINT NOT NULL".to_owned(),
        "month SMALLINT NOT NULL".to_owned(),
    ];
    facts.extend((0..def.dimensions.len()).map(|i| format!("d{i} INTEGER NOT NULL")));
    facts.extend((0..def.measures.len()).map(|i| format!("m{i} BIGINT NOT NULL")));
    facts.push("created_revision BIGINT NOT NULL".to_owned());
    facts.push("removed_revision BIGINT NOT NULL DEFAULT 0".to_owned());
    format!(
        "CREATE TABLE duckgrid_meta (
             key   VARCHAR PRIMARY KEY,
             value VARCHAR NOT NULL
         );
         CREATE TABLE facts ({});
         CREATE TABLE changelog (
             revision     BIGINT PRIMARY KEY,
             committed_at TIMESTAMP NOT NULL,
             actor        VARCHAR NOT NULL,
             -- None is '' or 0 (NULL in rows before schema version 4).
             -- The idempotency key: the request id, `<principal id>:<id>`
             -- with auth on (one principal never finds another's).
             request_id   VARCHAR,
             event        BLOB NOT NULL,
             -- The x-duckgrid-session of the write.
             session      VARCHAR,
             -- For a revert: the revision it took back.
             reverts      BIGINT,
             -- The revert in effect that took this revision back.
             reverted_by  BIGINT
         );
         {REQUEST_ID_INDEX}
         {HISTORY_DDL}
         {JOURNAL_DDL}",
        facts.join(", ")
    )
}

/// The fact history table, for a database migrated from version 2.
pub fn history_ddl() -> &'static str {
    HISTORY_DDL
}

/// The schema version of an existing database, or `None` for a new one.
pub fn version(conn: &Connection) -> duckdb::Result<Option<String>> {
    let exists: i64 = conn.query_row(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'duckgrid_meta' AND NOT temporary",
        [],
        |r| r.get(0),
    )?;
    if exists == 0 {
        return Ok(None);
    }
    conn.query_row(
        "SELECT value FROM duckgrid_meta WHERE key = 'schema_version'",
        [],
        |r| r.get(0),
    )
    .map(Some)
}

/// The `cube` view (see the module docs).
pub fn cube_view(def: &ModelDef) -> String {
    let mut cols = vec![
        "f.fact_id".to_owned(),
        format!(
            "CAST(DATE {} + to_months(f.month) AS DATE) AS month",
            literal(&def.months.first.to_string())
        ),
    ];
    let mut joins = Vec::new();
    for (i, d) in def.dimensions.iter().enumerate() {
        cols.push(format!("d{i}.key AS {}", ident(&d.name)));
        for (l, level) in d.levels.iter().enumerate() {
            cols.push(format!(
                "d{i}.l{l} AS {}",
                ident(&format!("{}_{}", d.name, level.name))
            ));
        }
        joins.push(format!("JOIN dim_{i} d{i} ON d{i}.leaf = f.d{i}"));
    }
    for (i, m) in def.measures.iter().enumerate() {
        let value = if m.scale == 0 {
            format!("CAST(f.m{i} AS DECIMAL(18, 0))")
        } else {
            let step = format!("0.{}1", "0".repeat(m.scale as usize - 1));
            format!("CAST(f.m{i} * {step} AS DECIMAL(18, {}))", m.scale)
        };
        cols.push(format!("{value} AS {}", ident(&m.name)));
    }
    cols.push("f.created_revision".to_owned());
    format!(
        "CREATE VIEW cube AS SELECT {} FROM facts f {} WHERE f.removed_revision = 0",
        cols.join(", "),
        joins.join(" ")
    )
}
