//! Retention: `--history-retention` bounds the fact history (point-in-time
//! reads and reverts) but not who changed what; `--changelog-retention`
//! bounds both, since the history never reaches back further than the
//! changelog.

use duckgrid::history::Retention;
use duckgrid::proto::v1 as pb;
use tonic::Code;

use crate::helpers::*;
use crate::history::{grid_at, list, revert, revisions};
use crate::watching::{next_change, watch_from};

/// 70 leaf writes (pruning runs after revision 64).
async fn write_70(app: &TestApp) {
    let grid = app.grid(PRODUCT).await;
    let leaves: Vec<Vec<String>> = rows_at(&grid, 3).iter().map(|r| r.path.clone()).collect();
    for i in 0..70 {
        app.update(set(
            cell(PRODUCT, &leaves[i % leaves.len()], "2024-02", "quantity"),
            &i.to_string(),
        ))
        .await
        .unwrap();
    }
}

#[tokio::test]
async fn retention_bounds_the_fact_history_but_not_who_changed_what() {
    let app = spawn_with(test_config_with(|c| {
        c.history_retention = Retention::Revisions(10)
    }))
    .await;
    write_70(&app).await;
    // Pruned after revision 64 to the last 10: 54 is the oldest readable.
    assert_eq!(grid_at(&app, PRODUCT, 54).await.unwrap().revision, 54);
    let status = grid_at(&app, PRODUCT, 53).await.unwrap_err();
    assert_status(&status, Code::OutOfRange, "REVISION_OUT_OF_RANGE");
    let info = error_info(&status);
    assert_eq!(
        (
            info.metadata["oldest_revision"].as_str(),
            info.metadata["head_revision"].as_str()
        ),
        ("54", "70")
    );
    let status = revert(&app, 54, false).await.unwrap_err();
    assert_status(&status, Code::OutOfRange, "REVISION_OUT_OF_RANGE");
    assert!(revert(&app, 55, true).await.is_ok());
    assert_eq!(
        app.query::<i64>("SELECT min(revision) FROM fact_history")[0][0],
        55
    );
    // Who changed what is still there, and watches replay from 1.
    let page = list(
        &app,
        pb::ListRevisionsRequest {
            oldest_first: true,
            page_size: 1,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(revisions(&page), [1]);
    let mut stream = watch_from(&app, 1).await;
    assert_eq!(next_change(&mut stream).await.revision, 1);

    // Off: nothing is kept once the facts have it (the query has them
    // catch up first), nothing before the head can be read.
    let app = spawn_with(test_config_with(|c| c.history_retention = Retention::Off)).await;
    let leaf = rows_at(&app.grid(PRODUCT).await, 3)[0].path.clone();
    let r = app
        .update(set(cell(PRODUCT, &leaf, "2024-02", "quantity"), "3"))
        .await
        .unwrap()
        .revision;
    assert_eq!(
        app.query::<i64>("SELECT count(*) FROM fact_history")[0][0],
        0
    );
    assert_status(
        &grid_at(&app, PRODUCT, r - 1).await.unwrap_err(),
        Code::OutOfRange,
        "REVISION_OUT_OF_RANGE",
    );
    assert_status(
        &revert(&app, r, false).await.unwrap_err(),
        Code::OutOfRange,
        "REVISION_OUT_OF_RANGE",
    );
    assert_eq!(grid_at(&app, PRODUCT, r).await.unwrap().revision, r);
}

#[tokio::test]
async fn the_changelog_retention_bounds_the_fact_history_too() {
    let app = spawn_with(test_config_with(|c| c.changelog_retention = 10)).await;
    write_70(&app).await;
    // Pruned after revision 64: the changelog keeps 55 to 64 and on, the
    // history can rebuild 54 and later (it reaches back as far, no further).
    assert_eq!(grid_at(&app, PRODUCT, 54).await.unwrap().revision, 54);
    let status = grid_at(&app, PRODUCT, 53).await.unwrap_err();
    assert_status(&status, Code::OutOfRange, "REVISION_OUT_OF_RANGE");
    assert_eq!(error_info(&status).metadata["oldest_revision"], "54");
    assert_eq!(
        app.query::<i64>("SELECT min(revision) FROM fact_history")[0][0],
        55
    );
    assert!(revert(&app, 55, true).await.is_ok());
}
