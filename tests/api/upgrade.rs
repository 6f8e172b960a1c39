//! A database made by the duckgrid before the fact history (schema version
//! 2) is upgraded in place: its revisions, values and changelog are kept,
//! its history starts at its head, and its facts are those of its head
//! (version 4 writes them behind the commits, version 5 the changelog and
//! the history too, from the journal). So are versions 3 and 4.
//!
//! The fixture `tests/fixtures/schema-v2` is such a database, exported by
//! DuckDB (`EXPORT DATABASE`: its schema and one CSV per table). It was made
//! by the binary of commit 0483e60 (`duckgrid serve --seed 7 --facts 600`,
//! three writes by alice and bob, one of them a spread, one creating
//! adjustment facts); `IMPORT DATABASE` turns it back into a database file.

use std::path::Path;

use duckgrid::proto::v1 as pb;
use tonic::Code;

use crate::helpers::*;
use crate::history::{grid_at, list, revert};

/// A fresh file holding the fixture; returns its head revision and the sum
/// of each measure over the facts, read before any duckgrid opens it.
fn version_2_database(path: &Path) -> (i64, [i64; 2]) {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema-v2");
    let conn = duckdb::Connection::open(path).unwrap();
    conn.execute_batch(&format!("IMPORT DATABASE '{}'", fixture.display()))
        .unwrap();
    let version: String = conn
        .query_row(
            "SELECT value FROM duckgrid_meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(version, "2");
    conn.query_row(
        "SELECT (SELECT max(revision) FROM changelog), sum(m0)::BIGINT, sum(m1)::BIGINT FROM facts",
        [],
        |r| Ok((r.get(0)?, [r.get(1)?, r.get(2)?])),
    )
    .unwrap()
}

#[tokio::test]
async fn a_version_2_database_keeps_its_revisions_and_values_and_its_history_starts_at_its_head() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v2.duckdb");
    let (head, sums) = version_2_database(&path);
    assert_eq!(head, 3, "the fixture's three writes");
    let config = test_config_with(|c| {
        c.db = path.to_str().unwrap().into();
        c.facts = 600;
    });
    let app = spawn_with(config.clone()).await;
    assert_eq!(
        app.query::<String>(
            "SELECT value FROM duckgrid_meta WHERE key IN ('schema_version', 'facts_at') ORDER BY key"
        ),
        [[head.to_string()], [duckgrid::store::schema::VERSION.to_owned()]],
        "facts at the head (version 2 wrote them with every revision), the schema upgraded"
    );
    assert_eq!(app.head().await, head);

    // The values: the grand total is the sum of the facts as version 2
    // left them.
    let grid = app.grid(PRODUCT).await;
    let cells = Cells::of(&grid);
    assert_eq!(
        units(cells.get(&[], "total", "quantity"), 0),
        sums[0] as i128
    );
    assert_eq!(
        units(cells.get(&[], "total", "net_amount"), 2),
        sums[1] as i128
    );

    // Who changed what is all there, with version 2's events.
    let page = list(
        &app,
        pb::ListRevisionsRequest {
            oldest_first: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let listed: Vec<(i64, String)> = page
        .revisions
        .iter()
        .map(|r| {
            let c = r.change.as_ref().unwrap();
            assert_eq!(c.edits.len(), 1, "revision {} keeps its edit", c.revision);
            (c.revision, c.actor.clone())
        })
        .collect();
    assert_eq!(
        listed,
        [(1, "alice".into()), (2, "bob".into()), (3, "alice".into())]
    );

    // The history starts at the head: the grid at the head reads, earlier
    // ones are out of range, and a version 2 revision cannot be reverted.
    assert_eq!(grid_at(&app, PRODUCT, head).await.unwrap().rows, grid.rows);
    let status = grid_at(&app, PRODUCT, head - 1).await.unwrap_err();
    assert_status(&status, Code::OutOfRange, "REVISION_OUT_OF_RANGE");
    assert_eq!(
        error_info(&status).metadata["oldest_revision"],
        head.to_string()
    );
    let status = revert(&app, head, false).await.unwrap_err();
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");

    // From here on it is recorded: a write and its revert, across a restart.
    let leaf = first_leaf_with_value(&grid, "2024-03", "net_amount")
        .path
        .clone();
    let written = app
        .update(set(cell(PRODUCT, &leaf, "2024-03", "net_amount"), "12.34"))
        .await
        .unwrap()
        .revision;
    app.shutdown().await;
    let app = spawn_with(config).await;
    revert(&app, written, false).await.unwrap();
    assert_eq!(app.grid(PRODUCT).await.rows, grid.rows);
    assert_eq!(
        grid_at(&app, PRODUCT, written).await.unwrap().revision,
        written
    );
    assert_eq!(
        app.query::<i64>("SELECT count(*) FROM facts WHERE removed_revision IS DISTINCT FROM 0"),
        [[0]]
    );
}

/// A database of the current version after two writes and a shutdown,
/// turned back into an earlier version by `downgrade` (SQL taking away
/// what later versions added); returns its path, its config and the grid.
async fn downgraded(dir: &Path, downgrade: &str) -> (duckgrid::Config, pb::Grid) {
    let path = dir.join("old.duckdb");
    let config = test_config_with(|c| c.db = path.to_str().unwrap().into());
    let app = spawn_with(config.clone()).await;
    let leaf = first_leaf_with_value(&app.grid(PRODUCT).await, "2024-03", "net_amount")
        .path
        .clone();
    for v in ["1.00", "2.00"] {
        app.update(set(cell(PRODUCT, &leaf, "2024-03", "net_amount"), v))
            .await
            .unwrap();
    }
    let before = app.grid(PRODUCT).await;
    app.shutdown().await;
    duckdb::Connection::open(&path)
        .unwrap()
        .execute_batch(downgrade)
        .unwrap();
    (config, before)
}

/// A version 3 database wrote its facts with every revision: upgraded, its
/// facts are those of its head.
#[tokio::test]
async fn a_version_3_database_has_its_facts_at_its_head() {
    let dir = tempfile::tempdir().unwrap();
    let (config, before) = downgraded(
        dir.path(),
        "DROP TABLE journal;
         DELETE FROM duckgrid_meta WHERE key = 'facts_at';
         UPDATE duckgrid_meta SET value = '3' WHERE key = 'schema_version';",
    )
    .await;
    let app = spawn_with(config).await;
    assert_eq!(
        app.query::<String>(
            "SELECT value FROM duckgrid_meta WHERE key IN ('schema_version', 'facts_at') ORDER BY key"
        ),
        [["2".to_owned()], [duckgrid::store::schema::VERSION.to_owned()]]
    );
    assert_eq!(app.grid(PRODUCT).await, before);
    app.shutdown().await;
}

/// A version 4 database that stopped before its facts caught up (they are
/// at revision 0, its changelog and fact history at 2) has them written at
/// the next start, and then writes through the journal.
#[tokio::test]
async fn a_version_4_database_behind_its_history_has_its_facts_written() {
    let dir = tempfile::tempdir().unwrap();
    // The facts as before revision 1: each changed one's first `before`.
    let (config, before) = downgraded(
        dir.path(),
        "DROP TABLE journal;
         UPDATE facts SET m1 = h.before
           FROM (SELECT fact_id, arg_min(before, revision) AS before
                 FROM fact_history WHERE measure = 1 GROUP BY fact_id) h
           WHERE facts.fact_id = h.fact_id;
         UPDATE duckgrid_meta SET value = '0' WHERE key = 'facts_at';
         UPDATE duckgrid_meta SET value = '4' WHERE key = 'schema_version';",
    )
    .await;
    let app = spawn_with(config).await;
    assert_eq!(app.grid(PRODUCT).await, before);
    assert_eq!(
        app.query::<String>("SELECT value FROM duckgrid_meta WHERE key = 'facts_at'"),
        [["2"]]
    );
    let total = app.query::<String>("SELECT CAST(sum(net_amount) AS VARCHAR) FROM cube");
    assert_eq!(
        units(&total[0][0], 2),
        units(Cells::of(&before).get(&[], "total", "net_amount"), 2),
        "the facts hold both writes"
    );
    let written = app
        .update(set(cell(PRODUCT, &[], "2024-05", "net_amount"), "777.00"))
        .await
        .unwrap();
    assert_eq!(written.revision, 3);
    assert_eq!(
        app.query::<i64>("SELECT max(revision) FROM changelog"),
        [[3]]
    );
    app.shutdown().await;
}
