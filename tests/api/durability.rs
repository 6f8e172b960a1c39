//! Restart durability: revisions, data and the changelog survive a restart
//! of the server on the same database file.

use crate::helpers::*;
use crate::watching::{next_change, watch_from};

/// A database file in `dir`, for a server to start on twice.
fn db_path(dir: &tempfile::TempDir) -> String {
    dir.path()
        .join("grid.duckdb")
        .to_string_lossy()
        .into_owned()
}

#[tokio::test]
async fn revisions_and_data_continue_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let config = test_config_with(|c| c.db = path.clone());

    let app = spawn_with(config.clone()).await;
    let grid = app.grid(PRODUCT).await;
    let family = first_leaf_with_value(&grid, "2024-03", "net_amount")
        .path
        .clone();
    for (i, v) in ["10.00", "20.00", "30.00"].iter().enumerate() {
        let r = app
            .update(set(cell(PRODUCT, &family, "2024-03", "net_amount"), v))
            .await
            .unwrap();
        assert_eq!(r.revision, i as i64 + 1);
    }
    let before = [app.grid(PRODUCT).await, app.grid(REGION).await];
    app.shutdown().await;

    // A different seed is ignored: the database exists.
    let app = spawn_with(test_config_with(|c| {
        c.db = path.clone();
        c.seed = 99;
    }))
    .await;
    assert_eq!(
        [app.grid(PRODUCT).await, app.grid(REGION).await],
        before,
        "same data, same revision"
    );
    let r = app
        .update(set(
            cell(PRODUCT, &family, "2024-03", "net_amount"),
            "40.00",
        ))
        .await
        .unwrap();
    assert_eq!(r.revision, 4, "revisions continue");
    // The history survived too.
    let mut stream = watch_from(&app, 1).await;
    let mut seen = Vec::new();
    for expected in 1..=4 {
        let e = next_change(&mut stream).await;
        assert_eq!(e.revision, expected);
        seen.push(e.results[0].new_value.clone());
    }
    assert_eq!(seen, ["10.00", "20.00", "30.00", "40.00"]);
    app.shutdown().await;
}

/// The largest amounts a fact can hold load again at the next start (the
/// summary and the writer's copy read every fact back in units).
#[tokio::test]
async fn the_largest_amounts_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let config = test_config_with(|c| c.db = path.clone());
    let app = spawn_with(config.clone()).await;
    // An empty family-month: the value becomes one adjustment fact per
    // product (a handful), each over 10^15.
    let family = first_empty_leaf(&app.grid(PRODUCT).await, "2025-02")
        .path
        .clone();
    let huge = "-9999999999999999.99";
    let r = app
        .update(set(cell(PRODUCT, &family, "2025-02", "net_amount"), huge))
        .await
        .unwrap();
    assert_eq!(r.result.unwrap().new_value, huge);
    let largest = app.query::<String>(
        "SELECT CAST(max(abs(net_amount)) AS VARCHAR) FROM cube WHERE created_revision = 1",
    )[0][0]
        .clone();
    assert!(largest.len() >= "1000000000000000.00".len(), "{largest}");
    let before = [app.grid(PRODUCT).await, app.grid(REGION).await];
    app.shutdown().await;

    let app = spawn_with(config).await;
    assert_eq!([app.grid(PRODUCT).await, app.grid(REGION).await], before);
    app.shutdown().await;
}
