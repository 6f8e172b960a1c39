//! After any sequence of edits, every sheet equals a fresh GROUPING SETS
//! recomputation from the facts (property test over random edit sequences,
//! both measures, both sheets, every mode, spread and hold), whether the
//! edits arrive one by one or at once (then the writer commits them in
//! groups, and writes each group's facts together).

use std::collections::BTreeMap;

use duckgrid::proto::v1 as pb;
use proptest::prelude::*;
use tonic::Code;

use crate::helpers::*;

/// An edit in abstract terms, made concrete against the current grids.
#[derive(Debug, Clone)]
struct AbstractEdit {
    sheet: usize,
    row: usize,
    col: usize,
    measure: usize,
    mode: i32,
    equal: bool,
    value: u32,
    hold: Option<usize>,
}

fn abstract_edit() -> impl Strategy<Value = AbstractEdit> {
    (
        0..2usize,
        any::<usize>(),
        0..25usize,
        0..2usize,
        1..4i32,
        any::<bool>(),
        0..100_000u32,
        prop::option::weighted(0.3, any::<usize>()),
    )
        .prop_map(
            |(sheet, row, col, measure, mode, equal, value, hold)| AbstractEdit {
                sheet,
                row,
                col,
                measure,
                mode,
                equal,
                value,
                hold,
            },
        )
}

fn concrete(e: &AbstractEdit, grid: &pb::Grid) -> pb::CellEdit {
    let sheet = SHEETS[e.sheet];
    let measure = ["quantity", "net_amount"][e.measure];
    let row = &grid.rows[e.row % grid.rows.len()];
    let column = &grid.columns[e.col];
    let value = match (e.mode, e.measure) {
        (2, 0) => format!("{}", e.value as i64 % 40 - 10), // add, may go negative
        (2, _) => format!("{}.{:02}", e.value as i64 % 2000 - 500, e.value % 100),
        (3, _) => format!("{}.{}", e.value as i64 % 60 - 30, e.value % 10), // percent
        (_, 0) => format!("{}", e.value % 5000),
        (_, _) => format!("{}.{:02}", e.value / 10, e.value % 100),
    };
    let holds = e
        .hold
        .map(|h| {
            let held = &grid.rows[h % grid.rows.len()];
            vec![cell(
                sheet,
                &held.path,
                &grid.columns[h % grid.columns.len()],
                measure,
            )]
        })
        .unwrap_or_default();
    pb::CellEdit {
        cell: Some(cell(sheet, &row.path, column, measure)),
        value,
        mode: e.mode,
        spread: if e.equal {
            pb::SpreadMethod::Equal
        } else {
            pb::SpreadMethod::Proportional
        } as i32,
        holds,
        expected_value: None,
    }
}

/// Every cell of a sheet computed from scratch with GROUPING SETS, by name.
fn recompute(app: &TestApp, sheet: &str) -> BTreeMap<(Vec<String>, String, String), String> {
    let levels = if sheet == PRODUCT {
        vec!["product_supplier", "product_brand", "product_family"]
    } else {
        vec!["customer_province", "customer_city"]
    };
    let mut sets = Vec::new();
    for n in (0..=levels.len()).rev() {
        let keys = levels[..n].join(", ");
        sets.push(format!("({}{}month)", keys, if n > 0 { ", " } else { "" }));
        sets.push(format!("({keys})"));
    }
    let sql = format!(
        "SELECT {levels}, month, CAST(sum(quantity) AS VARCHAR), CAST(sum(net_amount) AS VARCHAR)
         FROM (SELECT * REPLACE (strftime(month, '%Y-%m') AS month) FROM cube)
         GROUP BY GROUPING SETS ({sets})",
        levels = levels.join(", "),
        sets = sets.join(", "),
    );
    let mut stmt = app.db().prepare(&sql).unwrap();
    let mut rows = stmt.query([]).unwrap();
    let mut out = BTreeMap::new();
    while let Some(r) = rows.next().unwrap() {
        let path: Vec<String> = (0..levels.len())
            .map_while(|i| r.get::<_, Option<String>>(i).unwrap())
            .collect();
        let month: Option<String> = r.get(levels.len()).unwrap();
        let col = month.unwrap_or_else(|| "total".into());
        for (i, m) in ["quantity", "net_amount"].iter().enumerate() {
            let v: String = r.get(levels.len() + 1 + i).unwrap();
            out.insert((path.clone(), col.clone(), m.to_string()), v);
        }
    }
    out
}

pub fn assert_sheets_match_facts(app: &TestApp, grids: &[pb::Grid; 2]) {
    for (sheet, grid) in SHEETS.iter().zip(grids) {
        let fresh = recompute(app, sheet);
        let served = Cells::of(grid);
        for (key, value) in &served.0 {
            let expected = fresh.get(key).map(String::as_str).unwrap_or("");
            assert_eq!(value, expected, "{sheet} {key:?}");
        }
        for key in fresh.keys() {
            assert!(served.0.contains_key(key), "{sheet} is missing {key:?}");
        }
    }
}

/// Cases per property: enough to matter, bounded for CI (each case starts
/// a server); `PROPTEST_CASES` overrides it for a longer run.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(48), max_shrink_iters: 50, ..ProptestConfig::default() })]

    #[test]
    fn every_sheet_equals_a_fresh_grouping_sets_recomputation(edits in prop::collection::vec(abstract_edit(), 1..14)) {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let app = spawn_app().await;
            let mut accepted = 0;
            for e in &edits {
                let grid = app.grid(SHEETS[e.sheet]).await;
                let before = app.head().await;
                match app.update(concrete(e, &grid)).await {
                    Ok(r) => {
                        accepted += 1;
                        assert_eq!(r.revision, before + 1);
                    }
                    // Refusals are part of the property: nothing may change.
                    Err(status) => assert_eq!(app.head().await, before, "{status:?}"),
                }
            }
            let grids = [app.grid(PRODUCT).await, app.grid(REGION).await];
            assert_eq!(grids[0].revision, accepted);
            assert_sheets_match_facts(&app, &grids);
        });
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(32), max_shrink_iters: 50, ..ProptestConfig::default() })]

    #[test]
    fn concurrent_edits_leave_every_sheet_equal_to_the_recomputation(
        rounds in prop::collection::vec(prop::collection::vec(abstract_edit(), 2..8), 1..4)
    ) {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let app = spawn_app().await;
            let mut revisions = Vec::new();
            for round in &rounds {
                // Every edit of a round is made concrete against the same
                // grids and sent at once, on its own connection.
                let grids = [app.grid(PRODUCT).await, app.grid(REGION).await];
                let mut calls = Vec::new();
                for e in round {
                    let edit = concrete(e, &grids[e.sheet]);
                    let mut client = app.new_client().await;
                    calls.push(async move { update(&mut client, edit, "").await });
                }
                for result in futures::future::join_all(calls).await {
                    match result {
                        Ok(r) => revisions.push(r.revision),
                        // A refusal is the request's own (bounds, holds),
                        // never its group's: the others still commit.
                        Err(status) => assert!(
                            !matches!(status.code(), Code::Internal | Code::Unavailable),
                            "{status:?}"
                        ),
                    }
                }
            }
            revisions.sort_unstable();
            let accepted = revisions.len() as i64;
            assert_eq!(revisions, (1..=accepted).collect::<Vec<_>>(), "each revision once");
            let grids = [app.grid(PRODUCT).await, app.grid(REGION).await];
            assert_eq!(grids[0].revision, accepted);
            assert_sheets_match_facts(&app, &grids);
        });
    }
}

#[tokio::test]
async fn a_fresh_model_equals_the_recomputation() {
    let app = spawn_app().await;
    let grids = [app.grid(PRODUCT).await, app.grid(REGION).await];
    assert_sheets_match_facts(&app, &grids);
}
