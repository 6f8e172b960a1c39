//! The history, as a property: after a random sequence of edits on a
//! random model (the demo, the budget and the retail examples), GetSheet
//! at every revision R serves the grid the server served right after R
//! (for the demo also a fresh GROUPING SETS recomputation of the facts as
//! of R), and reverting a random revision k matches an oracle built from
//! the fact table itself: a snapshot of every fact after every revision.
//!
//! The oracle: k changed the (fact, column) pairs that differ between the
//! snapshots before and after it (a column is a fact's liveness or one of
//! its measures). Reverting k restores those to their values before k and
//! leaves every other pair as it is at the head; a removed fact holds
//! zeros. It is a conflict exactly when that would undo a later change:
//! some pair k changed no longer holds what k left in it, or a pair k did
//! not change would change (a later value in a fact k created). Reverting
//! the revert then gives the head back. Requests are single edits or
//! batches of overlapping ones (made against the same grid).

use std::collections::BTreeMap;

use duckgrid::proto::v1 as pb;
use proptest::prelude::*;
use tonic::Code;

use crate::consistency::assert_sheets_match_facts;
use crate::helpers::*;
use crate::history::{grid_at, revert};
use crate::models::{example, sheets, spawn_model};

/// Every fact: its id, then its liveness (1 or 0) and measures, in units.
type Snapshot = BTreeMap<i64, Vec<i64>>;

fn snapshot(app: &TestApp) -> Snapshot {
    app.query::<i64>(
        "SELECT fact_id, (removed_revision = 0)::BIGINT, COLUMNS('^m[0-9]+$') FROM facts",
    )
    .into_iter()
    .map(|mut row| {
        let id = row.remove(0);
        (id, row)
    })
    .collect()
}

/// A fact's column at a snapshot; a fact not made yet is absent: zeros.
fn at(snap: &Snapshot, fact: i64, column: usize) -> i64 {
    snap.get(&fact).map_or(0, |v| v[column])
}

/// The (fact, column) pairs that differ from `before` to `after`.
fn changed(before: &Snapshot, after: &Snapshot) -> Vec<(i64, usize)> {
    let mut out = Vec::new();
    for (&fact, values) in after {
        for (column, &v) in values.iter().enumerate() {
            if v != at(before, fact, column) {
                out.push((fact, column));
            }
        }
    }
    out
}

/// The facts after reverting the revision that went from `before` to
/// `after`, over `head`.
fn reverted(before: &Snapshot, after: &Snapshot, head: &Snapshot) -> Snapshot {
    let mut out = head.clone();
    for (fact, column) in changed(before, after) {
        out.get_mut(&fact).unwrap()[column] = at(before, fact, column);
    }
    for values in out.values_mut() {
        if values[0] == 0 {
            values.iter_mut().for_each(|v| *v = 0);
        }
    }
    out
}

/// An edit in abstract terms, made concrete against the current grid.
#[derive(Debug, Clone)]
struct AbstractEdit {
    sheet: usize,
    row: usize,
    col: usize,
    measure: usize,
    mode: i32,
    equal: bool,
    value: i32,
}

fn abstract_edit() -> impl Strategy<Value = AbstractEdit> {
    (
        any::<usize>(),
        any::<usize>(),
        any::<usize>(),
        any::<usize>(),
        1..4i32,
        any::<bool>(),
        -200..5_000i32,
    )
        .prop_map(
            |(sheet, row, col, measure, mode, equal, value)| AbstractEdit {
                sheet,
                row,
                col,
                measure,
                mode,
                equal,
                value,
            },
        )
}

fn concrete(e: &AbstractEdit, grid: &pb::Grid) -> pb::CellEdit {
    let row = &grid.rows[e.row % grid.rows.len()];
    let column = &grid.columns[e.col % grid.columns.len()];
    let measure = &row.measures[e.measure % row.measures.len()].measure;
    let value = match e.mode {
        3 => (e.value % 60 - 30).to_string(), // percent
        2 => (e.value % 400 - 100).to_string(),
        _ => e.value.abs().to_string(),
    };
    pb::CellEdit {
        cell: Some(cell(&grid.sheet, &row.path, column, measure)),
        value,
        mode: e.mode,
        spread: if e.equal {
            pb::SpreadMethod::Equal
        } else {
            pb::SpreadMethod::Proportional
        } as i32,
        holds: vec![],
        expected_value: None,
    }
}

async fn grids(app: &TestApp, names: &[String]) -> Vec<pb::Grid> {
    let mut out = Vec::new();
    for name in names {
        out.push(app.grid(name).await);
    }
    out
}

/// Reverts `target` and checks the outcome against the oracle; returns the
/// revert's revision, or `None` when it was (rightly) a conflict.
async fn check_revert(
    app: &TestApp,
    snaps: &[Snapshot],
    target: i64,
    overwrite: bool,
) -> Option<i64> {
    let head = snaps.len() - 1;
    let (before, after, now) = (
        &snaps[target as usize - 1],
        &snaps[target as usize],
        &snaps[head],
    );
    // A conflict: the revert would undo a later change — in a pair k
    // changed that no longer holds what k left, or anywhere else (the
    // measures of a fact k created, which go with it).
    let mine: std::collections::BTreeSet<(i64, usize)> =
        changed(before, after).into_iter().collect();
    let conflict = mine
        .iter()
        .any(|&(fact, column)| at(now, fact, column) != at(after, fact, column))
        || changed(now, &reverted(before, after, now))
            .into_iter()
            .any(|pair| !mine.contains(&pair));
    match revert(app, target, overwrite).await {
        Err(status) => {
            assert!(conflict && !overwrite, "revert of {target}: {status:?}");
            assert_status(&status, Code::Aborted, "REVISION_CONFLICT");
            assert_eq!(app.head().await, head as i64, "a conflict changes nothing");
            assert_eq!(&snapshot(app), now);
            None
        }
        Ok(event) => {
            assert!(!conflict || overwrite, "revert of {target} hid a conflict");
            assert_eq!(event.revision, head as i64 + 1);
            assert_eq!(event.reverts_revision, target);
            assert_eq!(
                snapshot(app),
                reverted(before, after, now),
                "revert of {target}"
            );
            Some(event.revision)
        }
    }
}

/// Cases: each starts a server (`PROPTEST_CASES` overrides).
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), max_shrink_iters: 30, ..ProptestConfig::default() })]

    #[test]
    fn every_revision_reads_back_and_a_revert_matches_the_fact_oracle(
        model in 0..3usize,
        requests in prop::collection::vec(prop::collection::vec(abstract_edit(), 1..4), 1..9),
        pick in any::<prop::sample::Index>(),
        overwrite in any::<bool>(),
    ) {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let app = match model {
                0 => spawn_app().await,
                1 => spawn_model(example("budget")).await,
                _ => spawn_model(example("retail")).await,
            };
            let names: Vec<String> = sheets(&app).await.into_iter().map(|s| s.name).collect();
            // What the server served and the facts held after each revision.
            let mut served = vec![grids(&app, &names).await];
            let mut snaps = vec![snapshot(&app)];
            for edits in &requests {
                let held = served.last().unwrap();
                let edits: Vec<pb::CellEdit> = edits
                    .iter()
                    .map(|e| concrete(e, &held[e.sheet % names.len()]))
                    .collect();
                let before = app.head().await;
                let outcome = app
                    .client
                    .clone()
                    .batch_update_cells(pb::BatchUpdateCellsRequest {
                        edits,
                        request_id: String::new(),
                    })
                    .await;
                match outcome {
                    Ok(r) => {
                        assert_eq!(r.into_inner().revision, before + 1);
                        served.push(grids(&app, &names).await);
                        snaps.push(snapshot(&app));
                        if model == 0 {
                            let demo = [app.grid(PRODUCT).await, app.grid(REGION).await];
                            assert_sheets_match_facts(&app, &demo);
                        }
                    }
                    Err(status) => assert_eq!(app.head().await, before, "{status:?}"),
                }
            }
            assert_point_in_time(&app, &names, &served).await;
            let head = snaps.len() as i64 - 1;
            if head == 0 {
                return;
            }
            let target = pick.index(head as usize) as i64 + 1;
            let Some(undone) = check_revert(&app, &snaps, target, overwrite).await else {
                // Refused: overwriting is then a revert like any other.
                check_revert(&app, &snaps, target, true).await.unwrap();
                return;
            };
            // Reverting the revert gives the head back (nothing came after).
            snaps.push(snapshot(&app));
            check_revert(&app, &snaps, undone, false).await.unwrap();
            assert_eq!(snapshot(&app), snaps[head as usize]);
            // Every earlier revision still reads as it was served.
            assert_point_in_time(&app, &names, &served).await;
        });
    }
}

/// GetSheet at every revision equals what was served right after it.
async fn assert_point_in_time(app: &TestApp, names: &[String], served: &[Vec<pb::Grid>]) {
    for (revision, grids) in served.iter().enumerate() {
        for (name, held) in names.iter().zip(grids) {
            let then = grid_at(app, name, revision as i64).await.unwrap();
            assert_eq!(then.revision, revision as i64);
            assert_eq!(then.rows, held.rows, "{name} at {revision}");
            assert_eq!(then.columns, held.columns);
        }
    }
}
