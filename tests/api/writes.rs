//! UpdateCell and BatchUpdateCells: what a write changes, and every way a
//! write is refused without changing anything.

use duckgrid::proto::v1 as pb;
use tonic::Code;

use crate::helpers::*;
use crate::watching::next_change;

#[tokio::test]
async fn a_leaf_update_shows_in_get_sheet_and_in_the_stream_with_every_ancestor() {
    let app = spawn_app().await;
    let before = Cells::of(&app.grid(PRODUCT).await);
    let grid = app.grid(PRODUCT).await;
    let leaf = first_leaf_with_value(&grid, "2024-03", "quantity")
        .path
        .clone();
    let old = units(before.get(&leaf, "2024-03", "quantity"), 0);

    let mut stream = app
        .client
        .clone()
        .watch_updates(pb::WatchUpdatesRequest::default())
        .await
        .unwrap()
        .into_inner();
    let response = app
        .update(set(
            cell(PRODUCT, &leaf, "2024-03", "quantity"),
            &(old + 7).to_string(),
        ))
        .await
        .unwrap();
    assert_eq!(response.revision, 1);
    let result = response.result.unwrap();
    assert_eq!(result.previous_value, old.to_string());
    assert_eq!(result.new_value, (old + 7).to_string());
    assert!(result.facts_changed > 0);

    let after = Cells::of(&app.grid(PRODUCT).await);
    let event = next_change(&mut stream).await;
    assert_eq!(event.revision, 1);
    assert_eq!(
        event.changes, response.changes,
        "the stream carries what the response did"
    );
    let product: Vec<_> = event
        .changes
        .iter()
        .find(|s| s.sheet == PRODUCT)
        .unwrap()
        .cells
        .iter()
        .collect();
    // The leaf, its family, brand, supplier and the grand total, in the month
    // and in the total column: 4 rows x 2 columns, quantity only.
    assert_eq!(product.len(), 8, "{product:#?}");
    for depth in 0..=3 {
        let path = &leaf[..depth];
        for col in ["2024-03", "total"] {
            let was = units(before.get(path, col, "quantity"), 0);
            let now = after.get(path, col, "quantity");
            assert_eq!(units(now, 0), was + 7, "{path:?} {col}");
            assert!(
                product
                    .iter()
                    .any(|c| c.row_path == path && c.column == col && c.value == now)
            );
        }
    }
    // The same facts roll up the region sheet too: its grand total moved by 7.
    let region = event
        .changes
        .iter()
        .find(|s| s.sheet == REGION)
        .expect("region changes");
    let total = region
        .cells
        .iter()
        .find(|c| c.row_path.is_empty() && c.column == "total")
        .unwrap();
    let region_after = Cells::of(&app.grid(REGION).await);
    assert_eq!(total.value, region_after.get(&[], "total", "quantity"));
    // Nothing else changed.
    let changed: usize = before.0.iter().filter(|(k, v)| after.0[*k] != **v).count();
    assert_eq!(changed, 8);
}

#[tokio::test]
async fn unknown_sheet_member_column_or_measure_is_not_found_and_changes_nothing() {
    let app = spawn_app().await;
    let before = app.state().await;
    let leaf = first_leaf_with_value(&before.grids[0], "2024-03", "quantity")
        .path
        .clone();
    let mut wrong_member = leaf.clone();
    wrong_member[2] = "No such family".into();
    let cases = [
        cell("sheets/no_such_sheet", &leaf, "2024-03", "quantity"),
        cell(PRODUCT, &wrong_member, "2024-03", "quantity"),
        cell(PRODUCT, &leaf, "1999-01", "quantity"),
        cell(PRODUCT, &leaf, "2024-03", "margin"),
    ];
    for c in cases {
        let status = app
            .assert_rejected(&before, app.update(set(c, "5")).await, Code::NotFound)
            .await;
        assert_eq!(error_info(&status).reason, "NOT_FOUND");
    }
}

#[tokio::test]
async fn malformed_values_are_invalid_and_change_nothing() {
    let app = spawn_app().await;
    let before = app.state().await;
    let family = first_leaf_with_value(&before.grids[0], "2024-03", "quantity")
        .path
        .clone();
    let q = cell(PRODUCT, &family, "2024-03", "quantity");
    let a = cell(PRODUCT, &family, "2024-03", "net_amount");
    for (c, value) in [
        (&q, "NaN"),
        (&q, "inf"),
        (&a, "-Infinity"),
        (&q, "1e3"),
        (&q, ""),
        (&q, "1.5"),
        (&a, "1.234"),
        (&a, "12,50"),
        (&a, "100000000000000000000"),
    ] {
        app.assert_rejected(
            &before,
            app.update(set(c.clone(), value)).await,
            Code::InvalidArgument,
        )
        .await;
    }
    let unknown_mode = pb::CellEdit {
        mode: 42,
        ..set(q.clone(), "1")
    };
    app.assert_rejected(
        &before,
        app.update(unknown_mode).await,
        Code::InvalidArgument,
    )
    .await;
    let no_cell = pb::CellEdit {
        cell: None,
        ..set(q.clone(), "1")
    };
    app.assert_rejected(&before, app.update(no_cell).await, Code::InvalidArgument)
        .await;
    let no_edit = app
        .client
        .clone()
        .update_cell(pb::UpdateCellRequest::default())
        .await;
    app.assert_rejected(&before, no_edit, Code::InvalidArgument)
        .await;
    let bad_hold = pb::CellEdit {
        holds: vec![a.clone()],
        ..set(q.clone(), "1")
    };
    app.assert_rejected(&before, app.update(bad_hold).await, Code::InvalidArgument)
        .await;
}

#[tokio::test]
async fn quantities_never_go_negative() {
    let app = spawn_app().await;
    let before = app.state().await;
    let family = first_leaf_with_value(&before.grids[0], "2024-03", "quantity")
        .path
        .clone();
    let q = cell(PRODUCT, &family, "2024-03", "quantity");
    let status = app
        .assert_rejected(
            &before,
            app.update(set(q.clone(), "-1")).await,
            Code::FailedPrecondition,
        )
        .await;
    assert_eq!(error_info(&status).reason, "BOUND_VIOLATED");
    let minus_a_lot = pb::CellEdit {
        mode: pb::UpdateMode::Add as i32,
        ..set(q.clone(), "-1000000")
    };
    app.assert_rejected(
        &before,
        app.update(minus_a_lot).await,
        Code::FailedPrecondition,
    )
    .await;
    let minus_150_percent = pb::CellEdit {
        mode: pb::UpdateMode::Percent as i32,
        ..set(q.clone(), "-150")
    };
    app.assert_rejected(
        &before,
        app.update(minus_150_percent).await,
        Code::FailedPrecondition,
    )
    .await;
    // Amounts may be negative (credit notes).
    let a = cell(PRODUCT, &family, "2024-03", "net_amount");
    let r = app.update(set(a, "-10.50")).await.unwrap();
    assert_eq!(r.result.unwrap().new_value, "-10.50");
}

#[tokio::test]
async fn a_spread_that_would_put_a_fact_out_of_range_is_refused() {
    let app = spawn_app().await;
    let grid = app.grid(PRODUCT).await;
    let family = first_leaf_with_value(&grid, "2024-03", "net_amount")
        .path
        .clone();
    let brand = &family[..2];
    // The largest amount a cell may hold, on one family...
    let huge = "9999999999999999.99";
    app.update(set(cell(PRODUCT, &family, "2024-03", "net_amount"), huge))
        .await
        .unwrap();
    // ...held, while its brand goes just as far the other way: the brand's other
    // families would need twice the range between them.
    let before = app.state().await;
    let overshoot = pb::CellEdit {
        holds: vec![cell(PRODUCT, &family, "2024-03", "net_amount")],
        ..set(
            cell(PRODUCT, brand, "2024-03", "net_amount"),
            &format!("-{huge}"),
        )
    };
    let status = app
        .assert_rejected(&before, app.update(overshoot).await, Code::InvalidArgument)
        .await;
    assert!(status.message().contains("out of range"), "{status:?}");
}

#[tokio::test]
async fn add_and_percent_modes_change_the_current_value() {
    let app = spawn_app().await;
    let grid = app.grid(PRODUCT).await;
    let family = first_leaf_with_value(&grid, "2024-05", "net_amount")
        .path
        .clone();
    let cells = Cells::of(&grid);
    let q = cell(PRODUCT, &family, "2024-05", "quantity");
    let old_q = units(cells.get(&family, "2024-05", "quantity"), 0);
    let add = pb::CellEdit {
        mode: pb::UpdateMode::Add as i32,
        ..set(q, "12")
    };
    assert_eq!(
        app.update(add).await.unwrap().result.unwrap().new_value,
        (old_q + 12).to_string()
    );

    let a = cell(PRODUCT, &family, "2024-05", "net_amount");
    let old_a = units(cells.get(&family, "2024-05", "net_amount"), 2);
    let pct = pb::CellEdit {
        mode: pb::UpdateMode::Percent as i32,
        ..set(a, "12.5")
    };
    let new_a = app.update(pct).await.unwrap().result.unwrap().new_value;
    // old * 1.125, rounded half away from zero to the cent.
    let expected = (old_a * 1125 + 500 * old_a.signum()) / 1000;
    assert_eq!(units(&new_a, 2), expected);
    assert_eq!(
        Cells::of(&app.grid(PRODUCT).await).get(&family, "2024-05", "net_amount"),
        new_a
    );
}

#[tokio::test]
async fn compare_and_set_conflicts_are_aborted_with_the_current_value() {
    let app = spawn_app().await;
    let grid = app.grid(PRODUCT).await;
    let family = first_leaf_with_value(&grid, "2024-03", "net_amount")
        .path
        .clone();
    let current = Cells::of(&grid)
        .get(&family, "2024-03", "net_amount")
        .to_owned();
    let a = cell(PRODUCT, &family, "2024-03", "net_amount");
    let before = app.state().await;
    let stale = pb::CellEdit {
        expected_value: Some("0.01".into()),
        ..set(a.clone(), "500")
    };
    let status = app
        .assert_rejected(&before, app.update(stale).await, Code::Aborted)
        .await;
    let info = error_info(&status);
    assert_eq!(info.reason, "EXPECTED_VALUE_MISMATCH");
    assert_eq!(info.metadata["current_value"], current);
    assert!(status.message().contains(&current), "{}", status.message());

    let fresh = pb::CellEdit {
        expected_value: Some(current.clone()),
        ..set(a.clone(), "500")
    };
    let r = app.update(fresh).await.unwrap();
    assert_eq!(r.result.unwrap().new_value, "500.00");
    // The same expected value is now stale.
    let again = pb::CellEdit {
        expected_value: Some(current),
        ..set(a, "600")
    };
    let status = app.update(again).await.unwrap_err();
    assert_eq!(error_info(&status).metadata["current_value"], "500.00");
}

#[tokio::test]
async fn a_retried_request_id_returns_the_original_result_and_applies_once() {
    let app = spawn_app().await;
    let grid = app.grid(PRODUCT).await;
    let family = first_leaf_with_value(&grid, "2024-03", "quantity")
        .path
        .clone();
    let old = units(Cells::of(&grid).get(&family, "2024-03", "quantity"), 0);
    let add = pb::CellEdit {
        mode: pb::UpdateMode::Add as i32,
        ..set(cell(PRODUCT, &family, "2024-03", "quantity"), "5")
    };
    let mut client = app.client.clone();
    let first = update(&mut client, add.clone(), "retry-1").await.unwrap();
    let second = update(&mut client, add.clone(), "retry-1").await.unwrap();
    assert_eq!(first, second, "the retry returns the original result");
    assert_eq!(app.head().await, 1);
    let now = units(
        Cells::of(&app.grid(PRODUCT).await).get(&family, "2024-03", "quantity"),
        0,
    );
    assert_eq!(now, old + 5, "applied once");
    assert_eq!(
        app.query::<i64>("SELECT count(*) FROM changelog WHERE request_id = 'retry-1'")[0][0],
        1
    );

    // The same id for a different request is refused.
    let before = app.state().await;
    let other = pb::CellEdit {
        value: "6".into(),
        ..add
    };
    let status = app
        .assert_rejected(
            &before,
            update(&mut client, other, "retry-1").await,
            Code::InvalidArgument,
        )
        .await;
    assert!(status.message().contains("retry-1"));
}

#[tokio::test]
async fn a_batch_is_one_revision_and_all_or_nothing() {
    let app = spawn_app().await;
    let grid = app.grid(PRODUCT).await;
    let families = rows_at(&grid, 3);
    let (f1, f2) = (families[0].path.clone(), families[1].path.clone());
    let mut client = app.client.clone();

    let ok = client
        .batch_update_cells(pb::BatchUpdateCellsRequest {
            edits: vec![
                set(cell(PRODUCT, &f1, "total", "net_amount"), "1000.00"),
                set(cell(PRODUCT, &f2, "total", "net_amount"), "2000.00"),
            ],
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ok.revision, 1);
    assert_eq!(ok.results.len(), 2);
    assert_eq!(app.head().await, 1);
    let cells = Cells::of(&app.grid(PRODUCT).await);
    assert_eq!(cells.get(&f1, "total", "net_amount"), "1000.00");
    assert_eq!(cells.get(&f2, "total", "net_amount"), "2000.00");

    // The second edit fails on the data (a stale compare-and-set) after the
    // first one already changed facts: nothing of the batch remains.
    let before = app.state().await;
    let batch = pb::BatchUpdateCellsRequest {
        edits: vec![
            set(cell(PRODUCT, &f1, "total", "net_amount"), "1500.00"),
            pb::CellEdit {
                expected_value: Some("1.00".into()),
                ..set(cell(PRODUCT, &f2, "total", "net_amount"), "1.00")
            },
        ],
        request_id: String::new(),
    };
    app.assert_rejected(
        &before,
        client.batch_update_cells(batch).await,
        Code::Aborted,
    )
    .await;
    // A bound violation in the second edit: the same.
    let batch = pb::BatchUpdateCellsRequest {
        edits: vec![
            set(cell(PRODUCT, &f1, "total", "quantity"), "10"),
            set(cell(PRODUCT, &f2, "total", "quantity"), "-10"),
        ],
        request_id: String::new(),
    };
    app.assert_rejected(
        &before,
        client.batch_update_cells(batch).await,
        Code::FailedPrecondition,
    )
    .await;
    // An unknown member in the second edit: refused before anything runs.
    let batch = pb::BatchUpdateCellsRequest {
        edits: vec![
            set(cell(PRODUCT, &f1, "total", "quantity"), "10"),
            set(
                cell(PRODUCT, &strings(&["nobody"]), "total", "quantity"),
                "10",
            ),
        ],
        request_id: String::new(),
    };
    let status = app
        .assert_rejected(
            &before,
            client.batch_update_cells(batch).await,
            Code::NotFound,
        )
        .await;
    assert!(
        status.message().starts_with("edit 1:"),
        "{}",
        status.message()
    );
    let empty = pb::BatchUpdateCellsRequest::default();
    app.assert_rejected(
        &before,
        client.batch_update_cells(empty).await,
        Code::InvalidArgument,
    )
    .await;
    // Revisions stay gap-free after the refusals.
    let r = app
        .update(set(cell(PRODUCT, &f1, "total", "quantity"), "10"))
        .await
        .unwrap();
    assert_eq!(r.revision, 2);
}

#[tokio::test]
async fn writing_an_empty_cell_creates_documented_adjustment_facts() {
    let app = spawn_app().await;
    let grid = app.grid(PRODUCT).await;
    let cells = Cells::of(&grid);
    let family = first_empty_leaf(&grid, "2025-02").path.clone();
    let products: i64 = app.query::<i64>(&format!(
        "SELECT count(*) FROM dim_0 WHERE l0 = '{}' AND l1 = '{}' AND l2 = '{}'",
        family[0].replace('\'', "''"),
        family[1].replace('\'', "''"),
        family[2].replace('\'', "''"),
    ))[0][0];
    let region_before = Cells::of(&app.grid(REGION).await);
    let unassigned = strings(&["(unassigned)", "(unassigned)"]);
    assert_eq!(region_before.get(&unassigned, "2025-02", "net_amount"), "");

    let r = app
        .update(set(
            cell(PRODUCT, &family, "2025-02", "net_amount"),
            "1000.00",
        ))
        .await
        .unwrap();
    let result = r.result.unwrap();
    assert_eq!(result.previous_value, "");
    assert_eq!(result.new_value, "1000.00");
    assert_eq!(
        result.facts_changed, products,
        "one adjustment fact per product of the family"
    );

    let after = Cells::of(&app.grid(PRODUCT).await);
    assert_eq!(after.get(&family, "2025-02", "net_amount"), "1000.00");
    assert_eq!(
        after.get(&family, "2025-02", "quantity"),
        "0",
        "the cell now has facts: 0, not empty"
    );
    let before_total = units(cells.get(&family, "total", "net_amount"), 2);
    assert_eq!(
        units(after.get(&family, "total", "net_amount"), 2),
        before_total + 100_000
    );
    // The facts: dated on the first of the month, for the unassigned customer,
    // recorded with the revision that created them.
    let rows = app.query::<String>(&format!(
        "SELECT CAST(month AS VARCHAR), customer_customer, CAST(count(*) AS VARCHAR), CAST(sum(net_amount) AS VARCHAR)
         FROM cube WHERE created_revision = {} GROUP BY ALL",
        r.revision
    ));
    assert_eq!(
        rows,
        vec![strings(&[
            "2025-02-01",
            "(unassigned)",
            &products.to_string(),
            "1000.00"
        ])]
    );
    // They show on the region sheet under (unassigned).
    let region = Cells::of(&app.grid(REGION).await);
    assert_eq!(region.get(&unassigned, "2025-02", "net_amount"), "1000.00");
    assert!(r.changes.iter().any(|s| {
        s.sheet == REGION
            && s.cells
                .iter()
                .any(|c| c.row_path == unassigned && c.measure == "quantity" && c.value == "0")
    }));

    // A later proportional write to the same cell spreads over those facts.
    let r = app
        .update(set(
            cell(PRODUCT, &family, "2025-02", "net_amount"),
            "500.00",
        ))
        .await
        .unwrap();
    assert_eq!(r.result.unwrap().previous_value, "1000.00");
}

#[tokio::test]
async fn a_write_touching_too_many_facts_is_refused() {
    let app = spawn_with(test_config_with(|c| c.max_facts_per_write = 50)).await;
    let before = app.state().await;
    let status = app
        .assert_rejected(
            &before,
            app.update(set(cell(PRODUCT, &[], "total", "quantity"), "1"))
                .await,
            Code::ResourceExhausted,
        )
        .await;
    assert_eq!(error_info(&status).reason, "TOO_MANY_FACTS");
}

#[tokio::test]
async fn the_actor_comes_from_request_metadata() {
    let app = spawn_app().await;
    let grid = app.grid(PRODUCT).await;
    let family = first_leaf_with_value(&grid, "2024-03", "quantity")
        .path
        .clone();
    let mut request = tonic::Request::new(pb::UpdateCellRequest {
        edit: Some(set(cell(PRODUCT, &family, "2024-03", "quantity"), "3")),
        request_id: "actor-test".into(),
    });
    request
        .metadata_mut()
        .insert("x-duckgrid-actor", "alice@example.com".parse().unwrap());
    app.client.clone().update_cell(request).await.unwrap();
    let rows = app.query::<String>("SELECT actor FROM changelog");
    assert_eq!(rows, vec![vec!["alice@example.com".to_string()]]);
    app.update(set(cell(PRODUCT, &family, "2024-03", "quantity"), "4"))
        .await
        .unwrap();
    assert_eq!(
        app.query::<String>("SELECT actor FROM changelog WHERE revision = 2")[0][0],
        "anonymous"
    );
}
