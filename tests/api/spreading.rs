//! Writing aggregate cells: proportional and equal spreads, exact totals,
//! holds.

use duckgrid::proto::v1 as pb;
use tonic::Code;

use crate::helpers::*;

fn q(s: &str) -> String {
    s.replace('\'', "''")
}

/// The values of the facts beneath a product-sheet cell (units), by SQL.
fn fact_values(app: &TestApp, path: &[String], month: &str, measure: &str) -> Vec<i128> {
    let levels = ["product_supplier", "product_brand", "product_family"];
    let mut conds: Vec<String> = path
        .iter()
        .zip(levels)
        .map(|(name, level)| format!("{level} = '{}'", q(name)))
        .collect();
    if month != "total" {
        conds.push(format!("strftime(month, '%Y-%m') = '{month}'"));
    }
    let expr = if measure == "quantity" {
        "quantity"
    } else {
        "net_amount * 100"
    };
    let sql = format!(
        "SELECT CAST({expr} AS BIGINT) FROM cube WHERE {} ORDER BY fact_id",
        if conds.is_empty() {
            "true".to_owned()
        } else {
            conds.join(" AND ")
        }
    );
    app.query::<i64>(&sql)
        .into_iter()
        .map(|r| i128::from(r[0]))
        .collect()
}

#[tokio::test]
async fn writing_a_parent_spreads_proportionally_and_children_sum_exactly() {
    let app = spawn_app().await;
    let grid = app.grid(PRODUCT).await;
    let cells = Cells::of(&grid);
    // A brand with several families holding values in the total column.
    let brand = rows_at(&grid, 2)
        .into_iter()
        .find(|b| {
            rows_at(&grid, 3)
                .iter()
                .filter(|f| f.path.starts_with(&b.path))
                .count()
                >= 3
        })
        .unwrap()
        .path
        .clone();
    let families: Vec<Vec<String>> = rows_at(&grid, 3)
        .iter()
        .filter(|f| f.path.starts_with(&brand))
        .map(|f| f.path.clone())
        .collect();
    let parent = units(cells.get(&brand, "total", "net_amount"), 2);
    let atoms_before = fact_values(&app, &brand, "total", "net_amount");
    let target: i128 = 1_234_567; // 12345.67: not a multiple of anything convenient

    let r = app
        .update(set(
            cell(PRODUCT, &brand, "total", "net_amount"),
            "12345.67",
        ))
        .await
        .unwrap();
    assert_eq!(r.result.unwrap().new_value, "12345.67");
    let after = Cells::of(&app.grid(PRODUCT).await);
    let children: Vec<i128> = families
        .iter()
        .map(|f| units(after.get(f, "total", "net_amount"), 2))
        .collect();
    assert_eq!(
        children.iter().sum::<i128>(),
        target,
        "children sum to exactly the target"
    );
    // Every fact was scaled by target/parent, within one cent.
    let atoms_after = fact_values(&app, &brand, "total", "net_amount");
    assert_eq!(atoms_before.len(), atoms_after.len());
    for (old, new) in atoms_before.iter().zip(&atoms_after) {
        assert!(
            (new * parent - target * old).abs() < parent,
            "fact {old} -> {new}"
        );
    }
    // Children keep their proportions (within their facts' rounding).
    for (f, new) in families.iter().zip(&children) {
        let old = units(cells.get(f, "total", "net_amount"), 2);
        let n = fact_values(&app, f, "total", "net_amount").len() as i128;
        assert!(
            (new * parent - target * old).abs() <= n * parent,
            "{f:?}: {old} -> {new}"
        );
    }
    // Months of the brand moved too, and still add up to the total column.
    let month_sum: i128 = grid.columns[..24]
        .iter()
        .map(|c| after.get(&brand, c, "net_amount"))
        .filter(|v| !v.is_empty())
        .map(|v| units(v, 2))
        .sum();
    assert_eq!(month_sum, target);
}

#[tokio::test]
async fn a_parent_over_all_zero_children_spreads_equally() {
    let app = spawn_app().await;
    let grid = app.grid(PRODUCT).await;
    let brand = first_leaf_with_value(&grid, "2024-06", "quantity").path[..2].to_vec();
    let c = cell(PRODUCT, &brand, "2024-06", "quantity");
    app.update(set(c.clone(), "0")).await.unwrap();
    let zeros = fact_values(&app, &brand, "2024-06", "quantity");
    assert!(zeros.iter().all(|v| *v == 0));
    let n = zeros.len() as i128;
    let target = 10 * n + 3; // not divisible: three facts get one more

    app.update(set(c, &target.to_string())).await.unwrap();
    let values = fact_values(&app, &brand, "2024-06", "quantity");
    assert_eq!(values.iter().sum::<i128>(), target);
    assert_eq!(values.iter().filter(|v| **v == 11).count(), 3);
    assert_eq!(values.iter().filter(|v| **v == 10).count() as i128, n - 3);
}

#[tokio::test]
async fn the_equal_method_splits_evenly_whatever_the_current_values() {
    let app = spawn_app().await;
    let grid = app.grid(PRODUCT).await;
    let family = first_leaf_with_value(&grid, "2024-09", "net_amount")
        .path
        .clone();
    let n = fact_values(&app, &family, "2024-09", "net_amount").len() as i128;
    let edit = pb::CellEdit {
        spread: pb::SpreadMethod::Equal as i32,
        ..set(cell(PRODUCT, &family, "2024-09", "net_amount"), "100.00")
    };
    app.update(edit).await.unwrap();
    let values = fact_values(&app, &family, "2024-09", "net_amount");
    assert_eq!(values.iter().sum::<i128>(), 10_000);
    let (lo, hi) = (10_000 / n, 10_000 / n + 1);
    assert!(values.iter().all(|v| *v == lo || *v == hi), "{values:?}");
}

#[tokio::test]
async fn held_cells_keep_their_value_and_the_rest_absorbs_the_change() {
    let app = spawn_app().await;
    let grid = app.grid(PRODUCT).await;
    let cells = Cells::of(&grid);
    let brand = rows_at(&grid, 2)
        .into_iter()
        .find(|b| {
            rows_at(&grid, 3)
                .iter()
                .filter(|f| f.path.starts_with(&b.path))
                .count()
                >= 3
        })
        .unwrap()
        .path
        .clone();
    let families: Vec<Vec<String>> = rows_at(&grid, 3)
        .iter()
        .filter(|f| f.path.starts_with(&brand))
        .map(|f| f.path.clone())
        .collect();
    let held = families[0].clone();
    let held_value = units(cells.get(&held, "total", "quantity"), 0);
    let target = held_value + 1_000;
    let edit = pb::CellEdit {
        holds: vec![cell(PRODUCT, &held, "total", "quantity")],
        ..set(
            cell(PRODUCT, &brand, "total", "quantity"),
            &target.to_string(),
        )
    };
    app.update(edit).await.unwrap();
    let after = Cells::of(&app.grid(PRODUCT).await);
    assert_eq!(
        units(after.get(&held, "total", "quantity"), 0),
        held_value,
        "the held family kept its value"
    );
    let others: i128 = families[1..]
        .iter()
        .map(|f| units(after.get(f, "total", "quantity"), 0))
        .sum();
    assert_eq!(others, 1_000, "the free families absorb the rest exactly");

    // An aggregate hold on another sheet: hold a whole city while writing a
    // family's month. The city's value for that month cannot move.
    let region = app.grid(REGION).await;
    let region_cells = Cells::of(&region);
    let family = first_leaf_with_value(&grid, "2024-04", "net_amount")
        .path
        .clone();
    let city = rows_at(&region, 2)
        .into_iter()
        .find(|c| {
            !region_cells
                .get(&c.path, "2024-04", "net_amount")
                .is_empty()
        })
        .unwrap()
        .path
        .clone();
    let city_before = region_cells.get(&city, "2024-04", "net_amount").to_owned();
    let edit = pb::CellEdit {
        holds: vec![cell(REGION, &city, "2024-04", "net_amount")],
        ..set(cell(PRODUCT, &family, "2024-04", "net_amount"), "0.00")
    };
    let r = app.update(edit).await;
    match r {
        Ok(_) => {
            let region_after = Cells::of(&app.grid(REGION).await);
            assert_eq!(
                region_after.get(&city, "2024-04", "net_amount"),
                city_before
            );
        }
        // Every fact of the family that month was in the held city.
        Err(status) => assert_eq!(status.code(), Code::FailedPrecondition),
    }
}

#[tokio::test]
async fn holding_everything_or_overshooting_with_holds_is_refused() {
    let app = spawn_app().await;
    let grid = app.grid(PRODUCT).await;
    let family = first_leaf_with_value(&grid, "2024-03", "quantity")
        .path
        .clone();
    let before = app.state().await;
    let all_held = pb::CellEdit {
        holds: vec![cell(PRODUCT, &family[..1], "total", "quantity")],
        ..set(cell(PRODUCT, &family, "2024-03", "quantity"), "100")
    };
    let status = app
        .assert_rejected(
            &before,
            app.update(all_held).await,
            Code::FailedPrecondition,
        )
        .await;
    assert_eq!(error_info(&status).reason, "EVERYTHING_HELD");

    // Holding a family worth more than the brand's new total would force the
    // other families negative (a brand with two families selling that month).
    let cells = Cells::of(&grid);
    let selling = |path: &Vec<String>| !cells.get(path, "2024-03", "quantity").is_empty();
    let leaves: Vec<Vec<String>> = rows_at(&grid, 3)
        .iter()
        .map(|r| r.path.clone())
        .filter(selling)
        .collect();
    let family = leaves
        .iter()
        .find(|f| leaves.iter().filter(|g| g[..2] == f[..2]).count() >= 2)
        .expect("a brand with two families selling in 2024-03")
        .clone();
    let brand = family[..2].to_vec();
    let held_value = units(cells.get(&family, "2024-03", "quantity"), 0);
    assert!(held_value > 0);
    let overshoot = pb::CellEdit {
        holds: vec![cell(PRODUCT, &family, "2024-03", "quantity")],
        ..set(
            cell(PRODUCT, &brand, "2024-03", "quantity"),
            &(held_value - 1).to_string(),
        )
    };
    let status = app
        .assert_rejected(
            &before,
            app.update(overshoot).await,
            Code::FailedPrecondition,
        )
        .await;
    assert_eq!(error_info(&status).reason, "BOUND_VIOLATED");
}
