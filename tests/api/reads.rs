//! ListSheets and GetSheet.

use duckgrid::proto::v1 as pb;
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn list_sheets_describes_levels_columns_and_measures() {
    let app = spawn_app().await;
    let sheets = app
        .client
        .clone()
        .list_sheets(pb::ListSheetsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let names: Vec<_> = sheets.sheets.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, SHEETS);
    let product = &sheets.sheets[0];
    let levels: Vec<_> = product.row_levels.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(levels, ["supplier", "brand", "family"]);
    let region = &sheets.sheets[1];
    let levels: Vec<_> = region.row_levels.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(levels, ["province", "city"]);
    assert_eq!(product.columns.len(), 25);
    assert_eq!(product.columns[0].key, "2024-01");
    assert_eq!(product.columns[0].period_start, "2024-01-01");
    assert_eq!(product.columns[0].period_end, "2024-02-01");
    let total = product.columns.last().unwrap();
    assert!(total.total && total.key == "total" && total.period_end == "2026-01-01");
    let measures: Vec<_> = product
        .measures
        .iter()
        .map(|m| (m.name.as_str(), m.scale, m.min_value.as_str()))
        .collect();
    assert_eq!(measures, [("quantity", 0, "0"), ("net_amount", 2, "")]);
    assert!(sheets.next_page_token.is_empty());

    // Paging.
    let mut client = app.client.clone();
    let first = client
        .list_sheets(pb::ListSheetsRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.sheets.len(), 1);
    let second = client
        .list_sheets(pb::ListSheetsRequest {
            page_size: 1,
            page_token: first.next_page_token,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.sheets[0].name, REGION);
    assert!(second.next_page_token.is_empty());
    let bad = client
        .list_sheets(pb::ListSheetsRequest {
            page_size: 1,
            page_token: "zzz".into(),
        })
        .await;
    assert_eq!(bad.unwrap_err().code(), Code::InvalidArgument);
}

#[tokio::test]
async fn get_sheet_returns_every_row_with_subtotals_that_add_up() {
    let app = spawn_app().await;
    for sheet in SHEETS {
        let grid = app.grid(sheet).await;
        assert_eq!(grid.revision, 0, "a fresh model is revision 0");
        assert_eq!(grid.columns.len(), 25);
        assert!(grid.rows[0].path.is_empty(), "the grand total comes first");
        let depth = if sheet == PRODUCT { 3 } else { 2 };
        assert!(grid.rows.iter().all(|r| r.leaf == (r.path.len() == depth)));
        let cells = Cells::of(&grid);
        // Every parent equals the sum of its children, for every column and
        // measure (exact decimal arithmetic).
        for parent in grid.rows.iter().filter(|r| !r.leaf) {
            let children: Vec<_> = grid
                .rows
                .iter()
                .filter(|r| {
                    r.path.len() == parent.path.len() + 1 && r.path.starts_with(&parent.path)
                })
                .collect();
            assert!(!children.is_empty());
            for (measure, scale) in [("quantity", 0), ("net_amount", 2)] {
                for col in &grid.columns {
                    let sum: i128 = children
                        .iter()
                        .map(|c| cells.get(&c.path, col, measure))
                        .filter(|v| !v.is_empty())
                        .map(|v| units(v, scale))
                        .sum();
                    let own = cells.get(&parent.path, col, measure);
                    let own = if own.is_empty() { 0 } else { units(own, scale) };
                    assert_eq!(own, sum, "{sheet} {:?} {col} {measure}", parent.path);
                }
            }
        }
        // The total column is the sum of the months.
        for row in &grid.rows {
            for m in &row.measures {
                let scale = if m.measure == "quantity" { 0 } else { 2 };
                let months: i128 = m.values[..24]
                    .iter()
                    .filter(|v| !v.is_empty())
                    .map(|v| units(v, scale))
                    .sum();
                let total = &m.values[24];
                assert_eq!(
                    if total.is_empty() {
                        0
                    } else {
                        units(total, scale)
                    },
                    months
                );
            }
        }
    }
    // The grand total of both sheets is the same (same facts).
    let a = Cells::of(&app.grid(PRODUCT).await);
    let b = Cells::of(&app.grid(REGION).await);
    assert_eq!(
        a.get(&[], "total", "net_amount"),
        b.get(&[], "total", "net_amount")
    );
    let total: String =
        app.query::<String>("SELECT CAST(sum(net_amount) AS VARCHAR) FROM cube")[0][0].clone();
    assert_eq!(a.get(&[], "total", "net_amount"), total);
}

#[tokio::test]
async fn get_sheet_narrows_to_a_subtree_columns_and_measures() {
    let app = spawn_app().await;
    let full = app.grid(PRODUCT).await;
    let brand = rows_at(&full, 2)[0].path.clone();
    let narrowed = app
        .client
        .clone()
        .get_sheet(pb::GetSheetRequest {
            name: PRODUCT.into(),
            row_path: brand.clone(),
            columns: strings(&["2024-03", "total"]),
            measures: strings(&["net_amount"]),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .grid
        .unwrap();
    assert_eq!(narrowed.columns, ["2024-03", "total"]);
    assert_eq!(narrowed.rows[0].path, brand);
    assert!(narrowed.rows.iter().all(|r| r.path.starts_with(&brand)));
    assert!(narrowed.rows.len() > 1, "the brand and its families");
    let expected: Vec<_> = full
        .rows
        .iter()
        .filter(|r| r.path.starts_with(&brand))
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(
        narrowed
            .rows
            .iter()
            .map(|r| r.path.clone())
            .collect::<Vec<_>>(),
        expected
    );
    let full_cells = Cells::of(&full);
    for row in &narrowed.rows {
        assert_eq!(row.measures.len(), 1);
        assert_eq!(
            row.measures[0].values[0],
            full_cells.get(&row.path, "2024-03", "net_amount")
        );
        assert_eq!(
            row.measures[0].values[1],
            full_cells.get(&row.path, "total", "net_amount")
        );
    }
}

#[tokio::test]
async fn unknown_names_are_not_found_and_malformed_ones_invalid() {
    let app = spawn_app().await;
    let mut client = app.client.clone();
    let get = |name: &str, path: &[&str], cols: &[&str], measures: &[&str]| pb::GetSheetRequest {
        name: name.into(),
        row_path: strings(path),
        columns: strings(cols),
        measures: strings(measures),
        ..Default::default()
    };
    let cases = [
        (get("sheets/nope", &[], &[], &[]), Code::NotFound),
        (get("nope", &[], &[], &[]), Code::InvalidArgument),
        (get("", &[], &[], &[]), Code::InvalidArgument),
        (
            get(PRODUCT, &["No such supplier"], &[], &[]),
            Code::NotFound,
        ),
        (
            get(PRODUCT, &["a", "b", "c", "d"], &[], &[]),
            Code::InvalidArgument,
        ),
        (get(PRODUCT, &[], &["2023-12"], &[]), Code::NotFound),
        (get(PRODUCT, &[], &["2024-1"], &[]), Code::NotFound),
        (get(PRODUCT, &[], &[], &["price"]), Code::NotFound),
    ];
    for (request, code) in cases {
        let status = client.get_sheet(request.clone()).await.unwrap_err();
        assert_eq!(status.code(), code, "{request:?}: {status:?}");
        assert_eq!(error_info(&status).domain, "duckgrid");
    }
}
