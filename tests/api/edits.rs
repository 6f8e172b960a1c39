//! Edit rules at their edges: holds over empty cells, batches that change
//! nothing, percent rounding, decimal input, and writes the database does
//! not confirm.

use duckgrid::proto::v1 as pb;
use tonic::Code;

use crate::helpers::*;
use crate::watching::{next_change, watch};

fn percent(c: pb::CellRef, value: &str) -> pb::CellEdit {
    pb::CellEdit {
        mode: pb::UpdateMode::Percent as i32,
        ..set(c, value)
    }
}

#[tokio::test]
async fn a_held_cell_never_changes_even_when_the_target_is_empty() {
    let app = spawn_app().await;
    let grid = app.grid(PRODUCT).await;
    let family = first_empty_leaf(&grid, "2025-02").path.clone();
    let target = cell(PRODUCT, &family, "2025-02", "quantity");
    let before = app.state().await;
    let region_total = Cells::of(&before.grids[1])
        .get(&[], "2025-02", "quantity")
        .to_owned();
    // Every adjustment fact would land under the held region total.
    for held in [
        cell(REGION, &[], "2025-02", "quantity"),
        cell(
            REGION,
            &strings(&["(unassigned)", "(unassigned)"]),
            "2025-02",
            "quantity",
        ),
    ] {
        let edit = pb::CellEdit {
            holds: vec![held],
            ..set(target.clone(), "28")
        };
        let status = app
            .assert_rejected(&before, app.update(edit).await, Code::FailedPrecondition)
            .await;
        assert_status(&status, Code::FailedPrecondition, "EVERYTHING_HELD");
    }
    assert_eq!(
        Cells::of(&app.grid(REGION).await).get(&[], "2025-02", "quantity"),
        region_total
    );
    // A hold elsewhere (another month) neither blocks the write nor moves.
    let other = cell(REGION, &[], "2025-03", "quantity");
    let other_value = Cells::of(&before.grids[1])
        .get(&[], "2025-03", "quantity")
        .to_owned();
    let edit = pb::CellEdit {
        holds: vec![other],
        ..set(target, "28")
    };
    let r = app.update(edit).await.unwrap();
    assert_eq!(r.result.unwrap().new_value, "28");
    let region = Cells::of(&app.grid(REGION).await);
    assert_eq!(region.get(&[], "2025-03", "quantity"), other_value);
    assert_eq!(
        units(region.get(&[], "2025-02", "quantity"), 0),
        units(&region_total, 0) + 28
    );
}

#[tokio::test]
async fn a_batch_lists_only_the_cells_whose_values_changed() {
    let app = spawn_app().await;
    let grid = app.grid(PRODUCT).await;
    let family = first_leaf_with_value(&grid, "2024-03", "quantity")
        .path
        .clone();
    let value = units(Cells::of(&grid).get(&family, "2024-03", "quantity"), 0);
    let mut stream = watch(&app, pb::WatchUpdatesRequest::default()).await;
    let c = cell(PRODUCT, &family, "2024-03", "quantity");
    let response = app
        .client
        .clone()
        .batch_update_cells(pb::BatchUpdateCellsRequest {
            edits: vec![
                set(c.clone(), &(value + 1).to_string()),
                set(c.clone(), &value.to_string()),
            ],
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.revision, 1);
    assert!(
        response.changes.is_empty(),
        "nothing changed, nothing listed: {:?}",
        response.changes
    );
    let event = next_change(&mut stream).await;
    assert_eq!(event.revision, 1);
    assert!(event.changes.is_empty());
    assert_eq!(Cells::of(&app.grid(PRODUCT).await), Cells::of(&grid));
    // A batch that ends elsewhere lists the cell once, with its final value.
    let response = app
        .client
        .clone()
        .batch_update_cells(pb::BatchUpdateCellsRequest {
            edits: vec![
                set(c.clone(), &(value + 1).to_string()),
                set(c.clone(), &(value + 2).to_string()),
            ],
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let family_cells: Vec<_> = response.changes[0]
        .cells
        .iter()
        .filter(|x| x.row_path == family && x.column == "2024-03")
        .collect();
    assert_eq!(family_cells.len(), 1);
    assert_eq!(family_cells[0].value, (value + 2).to_string());
}

#[tokio::test]
async fn percent_rounds_the_result_half_away_from_zero() {
    let app = spawn_app().await;
    let grid = app.grid(PRODUCT).await;
    let family = first_leaf_with_value(&grid, "2024-03", "quantity")
        .path
        .clone();
    let q = cell(PRODUCT, &family, "2024-03", "quantity");
    let a = cell(PRODUCT, &family, "2024-03", "net_amount");
    for (c, start, pct, expected) in [
        (&q, "1", "-50", "1"),                 // 0.5 -> 1
        (&q, "3", "50", "5"),                  // 4.5 -> 5
        (&q, "3", "-50", "2"),                 // 1.5 -> 2
        (&a, "0.01", "-50", "0.01"),           // 0.005 -> 0.01
        (&a, "-0.01", "-50", "-0.01"),         // -0.005 -> -0.01
        (&a, "-0.03", "50", "-0.05"),          // -0.045 -> -0.05
        (&a, "100.00", "-33.333333", "66.67"), // 66.666667 -> 66.67
    ] {
        app.update(set(c.clone(), start)).await.unwrap();
        let r = app.update(percent(c.clone(), pct)).await.unwrap();
        assert_eq!(r.result.unwrap().new_value, expected, "{start} at {pct}%");
    }
}

#[tokio::test]
async fn trailing_zeros_beyond_the_scale_are_exact_and_accepted() {
    let app = spawn_app().await;
    let grid = app.grid(PRODUCT).await;
    let family = first_leaf_with_value(&grid, "2024-03", "quantity")
        .path
        .clone();
    let q = cell(PRODUCT, &family, "2024-03", "quantity");
    let a = cell(PRODUCT, &family, "2024-03", "net_amount");
    let r = app.update(set(q.clone(), "5.0")).await.unwrap();
    assert_eq!(r.result.unwrap().new_value, "5");
    let r = app.update(set(a.clone(), "1.500")).await.unwrap();
    assert_eq!(r.result.unwrap().new_value, "1.50");
    let before = app.state().await;
    for (c, value) in [(&q, "5.01"), (&a, "1.505")] {
        let status = app
            .assert_rejected(
                &before,
                app.update(set(c.clone(), value)).await,
                Code::InvalidArgument,
            )
            .await;
        assert!(status.message().contains("decimal places"), "{status:?}");
    }
}

#[tokio::test]
async fn new_facts_the_database_refuses_fail_the_write_and_change_nothing() {
    let app = spawn_app().await;
    let grid = app.grid(PRODUCT).await;
    let family = first_empty_leaf(&grid, "2025-02").path.clone();
    let next_id = app.query::<i64>("SELECT max(fact_id) + 1 FROM facts")[0][0];
    // Another connection takes the id the writer's next new fact gets, under
    // a unique index: appending that fact fails inside the writer.
    app.db()
        .execute_batch(&format!(
            "CREATE UNIQUE INDEX facts_by_id ON facts (fact_id);
             INSERT INTO facts SELECT {next_id}, month, d0, d1, 0, 0, -1, 0 FROM facts LIMIT 1;"
        ))
        .unwrap();
    let before = app.state().await;
    let result = app
        .update(set(
            cell(PRODUCT, &family, "2025-02", "net_amount"),
            "1000.00",
        ))
        .await;
    let status = result.expect_err("a write whose facts were not stored is not acknowledged");
    assert!(
        matches!(status.code(), Code::Unavailable | Code::Internal),
        "{status:?}"
    );
    assert_eq!(app.state().await, before, "nothing was applied");
}
