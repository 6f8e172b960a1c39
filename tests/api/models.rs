//! Models from the user's own data: the example models end to end (import,
//! ListSheets, reads against SQL, spreading on two-dimension rows, quarter
//! columns, ragged hierarchies, filtered sheets), and what a model that
//! does not fit its data, or its database, gets.

use std::path::{Path, PathBuf};

use duckgrid::proto::v1 as pb;
use tonic::Code;

use crate::helpers::*;

pub fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
        .join("model.toml")
}

pub async fn spawn_model(model: PathBuf) -> TestApp {
    spawn_with(test_config_with(|c| c.model = Some(model))).await
}

pub async fn sheets(app: &TestApp) -> Vec<pb::Sheet> {
    app.client
        .clone()
        .list_sheets(pb::ListSheetsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .sheets
}

/// A decimal SQL expression's value, as the server formats it.
fn sql_value(app: &TestApp, sql: &str) -> String {
    app.query::<Option<String>>(sql)[0][0]
        .clone()
        .unwrap_or_default()
}

#[tokio::test]
async fn the_budget_example_serves_its_hierarchies_quarters_and_negative_amounts() {
    let app = spawn_model(example("budget")).await;
    let all = sheets(&app).await;
    let names: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "sheets/budget_by_account",
            "sheets/budget_by_cost_centre",
            "sheets/departments_by_account_group"
        ]
    );
    let by_account = &all[0];
    let kinds: Vec<(String, i32)> = by_account
        .columns
        .iter()
        .map(|c| (c.key.clone(), c.kind))
        .collect();
    assert_eq!(kinds[3], ("2025-Q1".into(), pb::ColumnKind::Quarter as i32));
    assert!(kinds.contains(&("2025".into(), pb::ColumnKind::Year as i32)));
    assert_eq!(kinds.last().unwrap().0, "total");
    let q1 = by_account
        .columns
        .iter()
        .find(|c| c.key == "2025-Q1")
        .unwrap();
    assert_eq!(
        (q1.period_start.as_str(), q1.period_end.as_str()),
        ("2025-01-01", "2025-04-01")
    );
    let nested = &all[2];
    let levels: Vec<(&str, &str)> = nested
        .row_levels
        .iter()
        .map(|l| (l.dimension.as_str(), l.name.as_str()))
        .collect();
    assert_eq!(
        levels,
        [
            ("cost_centre", "division"),
            ("cost_centre", "department"),
            ("account", "group")
        ]
    );

    // Reads agree with SQL over the imported facts.
    let sheet = "sheets/budget_by_account";
    let cells = Cells::of(&app.grid(sheet).await);
    assert_eq!(
        cells.get(&[], "total", "amount"),
        sql_value(&app, "SELECT CAST(sum(amount) AS VARCHAR) FROM cube")
    );
    let personnel = strings(&["Personnel"]);
    assert_eq!(
        cells.get(&personnel, "2025-Q1", "headcount"),
        sql_value(
            &app,
            "SELECT CAST(sum(headcount) AS VARCHAR) FROM cube WHERE account_group = 'Personnel' AND month < DATE '2025-04-01'"
        )
    );
    // Captions come from the declared columns.
    let grid = app.grid(sheet).await;
    let salaries = grid
        .rows
        .iter()
        .find(|r| r.path == ["Personnel", "Salaries"])
        .unwrap();
    assert_eq!(
        salaries.caption.len(),
        5,
        "an account code: {:?}",
        salaries.caption
    );

    // A quarter of a group, set to a cost (negative): spread over its
    // accounts and months, exactly.
    let r = app
        .update(set(
            cell(sheet, &personnel, "2025-Q1", "amount"),
            "-123456.78",
        ))
        .await
        .unwrap();
    assert_eq!(r.result.unwrap().new_value, "-123456.78");
    let cells = Cells::of(&app.grid(sheet).await);
    let months: i128 = ["2025-01", "2025-02", "2025-03"]
        .iter()
        .map(|m| units(cells.get(&personnel, m, "amount"), 2))
        .sum();
    assert_eq!(months, -12_345_678);
    assert_eq!(
        sql_value(
            &app,
            "SELECT CAST(sum(amount) AS VARCHAR) FROM cube WHERE account_group = 'Personnel' AND month < DATE '2025-04-01'"
        ),
        "-123456.78"
    );
    // Headcount is never negative.
    let status = app
        .update(set(cell(sheet, &personnel, "2025-Q1", "headcount"), "-1"))
        .await
        .unwrap_err();
    assert_status(&status, Code::FailedPrecondition, "BOUND_VIOLATED");

    // A cell of the nested sheet spreads over the facts under both members.
    let nested_sheet = "sheets/departments_by_account_group";
    let path = strings(&["Operations", "Production", "Operating costs"]);
    let before_other = sql_value(
        &app,
        "SELECT CAST(sum(amount) AS VARCHAR) FROM cube WHERE account_group = 'Operating costs' AND cost_centre_department <> 'Production'",
    );
    app.update(set(
        cell(nested_sheet, &path, "2026", "amount"),
        "-50000.00",
    ))
    .await
    .unwrap();
    assert_eq!(
        sql_value(
            &app,
            "SELECT CAST(sum(amount) AS VARCHAR) FROM cube WHERE account_group = 'Operating costs' AND cost_centre_department = 'Production' AND year(month) = 2026"
        ),
        "-50000.00"
    );
    assert_eq!(
        sql_value(
            &app,
            "SELECT CAST(sum(amount) AS VARCHAR) FROM cube WHERE account_group = 'Operating costs' AND cost_centre_department <> 'Production'",
        ),
        before_other,
        "nothing outside the cell changed"
    );
    let nested_cells = Cells::of(&app.grid(nested_sheet).await);
    assert_eq!(nested_cells.get(&path, "2026", "amount"), "-50000.00");
}

/// The contract's write semantics on a model of the user's own, not only
/// the demo: compare-and-set, holds, request ids, all-or-nothing batches.
#[tokio::test]
async fn compare_and_set_holds_request_ids_and_batches_work_on_a_model_of_its_own() {
    let app = spawn_model(example("budget")).await;
    let sheet = "sheets/budget_by_account";
    let personnel = strings(&["Personnel"]);
    let salaries = strings(&["Personnel", "Salaries"]);
    let cells = Cells::of(&app.grid(sheet).await);
    let seen = cells.get(&personnel, "2025-Q1", "amount").to_owned();
    let held = cells.get(&salaries, "2025-Q1", "amount").to_owned();

    // Compare-and-set against a stale value: ABORTED, with the current one.
    let mut stale = set(cell(sheet, &personnel, "2025-Q1", "amount"), "-1000.00");
    stale.expected_value = Some("1.23".into());
    let status = app.update(stale).await.unwrap_err();
    assert_status(&status, Code::Aborted, "EXPECTED_VALUE_MISMATCH");
    assert_eq!(error_info(&status).metadata["current_value"], seen);

    // With the value seen, and Salaries held: the rest of Personnel absorbs it.
    let mut edit = set(cell(sheet, &personnel, "2025-Q1", "amount"), "-1000.00");
    edit.expected_value = Some(seen.clone());
    edit.holds = vec![cell(sheet, &salaries, "2025-Q1", "amount")];
    let mut client = app.client.clone();
    let first = update(&mut client, edit.clone(), "budget-1").await.unwrap();
    let cells = Cells::of(&app.grid(sheet).await);
    assert_eq!(cells.get(&personnel, "2025-Q1", "amount"), "-1000.00");
    assert_eq!(
        cells.get(&salaries, "2025-Q1", "amount"),
        held,
        "the held cell kept its value"
    );
    // A retry with the same request id replays the write.
    let again = update(&mut client, edit, "budget-1").await.unwrap();
    assert_eq!(again.revision, first.revision);

    // A batch with one edit out of bounds applies none of its edits.
    let log = || app.query::<i64>("SELECT count(*) FROM changelog")[0][0];
    let before = (log(), Cells::of(&app.grid(sheet).await));
    let status = client
        .batch_update_cells(pb::BatchUpdateCellsRequest {
            edits: vec![
                set(cell(sheet, &salaries, "2025-Q2", "amount"), "-5.00"),
                set(cell(sheet, &personnel, "2025-Q2", "headcount"), "-1"),
            ],
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_status(&status, Code::FailedPrecondition, "BOUND_VIOLATED");
    let after = Cells::of(&app.grid(sheet).await);
    assert_eq!(log(), before.0);
    assert_eq!(
        after.get(&salaries, "2025-Q2", "amount"),
        before.1.get(&salaries, "2025-Q2", "amount"),
        "the batch's valid edit was not applied either"
    );
}

/// A model whose sources are tables of another DuckDB database: attached
/// read only, imported, and the file left as it was.
#[tokio::test]
async fn tables_of_another_duckdb_file_are_a_source_and_the_file_is_never_written() {
    let dir = tempfile::tempdir().unwrap();
    let budget = example("budget");
    let examples = budget.parent().unwrap();
    let source = dir.path().join("ledger.duckdb");
    {
        let conn = duckdb::Connection::open(&source).unwrap();
        for table in ["budget", "accounts", "cost_centres"] {
            let parquet = examples.join(format!("{table}.parquet"));
            conn.execute_batch(&format!(
                "CREATE TABLE {table} AS SELECT * FROM read_parquet('{}')",
                parquet.display()
            ))
            .unwrap();
        }
    }
    let mut model = std::fs::read_to_string(&budget).unwrap();
    for table in ["budget", "accounts", "cost_centres"] {
        let from = format!("parquet = \"{table}.parquet\"");
        assert!(model.contains(&from), "{from}");
        model = model.replace(
            &from,
            &format!("duckdb = \"ledger.duckdb\"\ntable = \"{table}\""),
        );
    }
    let path = dir.path().join("model.toml");
    std::fs::write(&path, model).unwrap();
    let before = std::fs::read(&source).unwrap();
    let db = dir.path().join("served.duckdb");
    let app = spawn_with(test_config_with(|c| {
        c.model = Some(path);
        c.db = db.display().to_string();
    }))
    .await;
    let total = Cells::of(&app.grid("sheets/budget_by_account").await)
        .get(&[], "total", "amount")
        .to_owned();
    let conn = duckdb::Connection::open_in_memory().unwrap();
    let expected: String = conn
        .query_row(
            &format!(
                "SELECT CAST(sum(amount) AS VARCHAR) FROM read_parquet('{}')",
                examples.join("budget.parquet").display()
            ),
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(total, expected);
    app.shutdown().await;
    assert_eq!(
        std::fs::read(&source).unwrap(),
        before,
        "the source file is untouched"
    );
}

#[tokio::test]
async fn the_retail_example_keeps_codes_skips_empty_levels_and_filters_a_sheet() {
    let app = spawn_model(example("retail")).await;
    let stores = app.grid("sheets/revenue_by_store").await;
    // The web shop has no district: it hangs from its region.
    let web = stores
        .rows
        .iter()
        .find(|r| r.path == ["Online", "Web shop"])
        .expect("a store directly under its region");
    assert!(web.leaf);
    assert_eq!(web.caption, "00099", "the code keeps its leading zeros");
    assert!(
        stores
            .rows
            .iter()
            .any(|r| r.path == ["North", "Harbour", "Quay Side"])
    );

    // The filtered sheet holds the online channel only.
    let online = "sheets/online_by_product";
    let cells = Cells::of(&app.grid(online).await);
    assert_eq!(
        cells.get(&[], "total", "revenue"),
        sql_value(
            &app,
            "SELECT CAST(sum(revenue) AS VARCHAR) FROM cube WHERE channel = 'Online'"
        )
    );
    let stores_total = sql_value(
        &app,
        "SELECT CAST(sum(revenue) AS VARCHAR) FROM cube WHERE channel = 'Stores'",
    );
    let coffee = strings(&["Coffee"]);
    app.update(set(cell(online, &coffee, "2025-06", "revenue"), "999.99"))
        .await
        .unwrap();
    assert_eq!(
        sql_value(
            &app,
            "SELECT CAST(sum(revenue) AS VARCHAR) FROM cube WHERE channel = 'Online' AND product_category = 'Coffee' AND month = DATE '2025-06-01'"
        ),
        "999.99"
    );
    assert_eq!(
        sql_value(
            &app,
            "SELECT CAST(sum(revenue) AS VARCHAR) FROM cube WHERE channel = 'Stores'"
        ),
        stores_total,
        "a write through the filtered sheet changes only facts inside it"
    );

    // An empty cell of the filtered sheet gets adjustment facts inside the
    // filter; its other dimension is the placeholder.
    let grid = app.grid(online).await;
    let empty = first_empty_in(&grid, "2025-02");
    let r = app
        .update(set(cell(online, &empty, "2025-02", "units"), "4"))
        .await
        .unwrap();
    let rows = app.query::<String>(&format!(
        "SELECT channel, store_region, CAST(sum(units) AS VARCHAR) FROM cube WHERE created_revision = {} GROUP BY ALL",
        r.revision
    ));
    assert_eq!(rows, vec![strings(&["Online", "(unassigned)", "4"])]);

    // Categories nest under regions, with quarter columns.
    let nested = Cells::of(&app.grid("sheets/categories_by_region").await);
    assert_eq!(
        nested.get(&strings(&["North", "Tea"]), "2025-Q3", "units"),
        sql_value(
            &app,
            "SELECT CAST(sum(units) AS VARCHAR) FROM cube WHERE store_region = 'North' AND product_category = 'Tea' AND quarter(month) = 3"
        )
    );
}

/// The first leaf row with no facts in `column`.
fn first_empty_in(grid: &pb::Grid, column: &str) -> Vec<String> {
    let c = grid.columns.iter().position(|k| k == column).unwrap();
    grid.rows
        .iter()
        .filter(|r| r.leaf && r.path[0] != "(unassigned)")
        .find(|r| r.measures[0].values[c].is_empty())
        .expect("an empty leaf")
        .path
        .clone()
}

/// A copy of the retail example in a temporary directory, its model file
/// and data edited.
fn retail_copy(
    edit_model: impl Fn(String) -> String,
    edit_data: impl Fn(String) -> String,
) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let source = example("retail");
    let model = std::fs::read_to_string(&source).unwrap();
    std::fs::write(dir.path().join("model.toml"), edit_model(model)).unwrap();
    let data = std::fs::read_to_string(source.with_file_name("sales.csv")).unwrap();
    std::fs::write(dir.path().join("sales.csv"), edit_data(data)).unwrap();
    dir
}

#[test]
fn check_lists_every_problem_of_the_model_file_with_its_place() {
    let dir = retail_copy(
        |m| {
            m.replace("scale = 2", "scale = 7")
                .replace("to = \"category\"", "to = \"aisle\"")
                .replace("name = \"channel\"\nkey", "name = \"Channel\"\nkey")
        },
        |d| d,
    );
    let path = dir.path().join("model.toml");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_duckgrid"))
        .args(["check", "--model"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let text = String::from_utf8_lossy(&output.stderr);
    // Renaming the dimension also leaves the filter naming one that is gone.
    for expected in [
        "scale 7 is out of range",
        "no level \"aisle\"",
        "\"Channel\" is not a valid name",
        "no dimension is named \"channel\"",
        "4 problems",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }
    let at = format!("--> {}:", path.display());
    assert_eq!(
        text.matches(&at).count(),
        4,
        "each with file:line:column:\n{text}"
    );
}

#[test]
fn check_lists_every_problem_of_the_data_with_counts_and_samples() {
    let dir = retail_copy(
        |m| m,
        |d| {
            let mut lines: Vec<String> = d.lines().map(str::to_owned).collect();
            // A date outside the months, a value with too many decimals, a
            // negative quantity, an empty region, and a store code whose
            // lines disagree on its region.
            lines[1] = lines[1].replacen("2025-01-01", "2024-12-31", 1);
            lines[2] = format!("{}1", lines[2]);
            lines[3] = lines[3].replacen(",2,", ",-2,", 1);
            lines[4] = lines[4].replacen(",North,", ",,", 1);
            lines[5] = lines[5].replacen(",North,", ",South,", 1);
            lines.join("\n") + "\n"
        },
    );
    let args = duckgrid::config::CheckArgs {
        model: dir.path().join("model.toml"),
    };
    let error = duckgrid::check::run(&args).expect_err("the data does not fit");
    let problems = error
        .downcast_ref::<duckgrid::diagnostics::Problems>()
        .expect("the problems, all of them");
    let text = problems.to_string();
    for expected in [
        "level \"region\" is empty",
        "a key under two parents",
        "dated outside the model's months",
        "more than 2 decimal places",
        "below its minimum 0",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }
    assert!(
        text.contains("rows; for example") || text.contains("row; for example"),
        "{text}"
    );
    assert!(problems.problems.len() >= 5);
}

#[test]
fn check_describes_a_model_that_fits_its_data() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_duckgrid"))
        .args(["check", "--model"])
        .arg(example("budget"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(text.contains("model \"budget\""), "{text}");
    assert!(
        text.contains("sheets/departments_by_account_group"),
        "{text}"
    );
}

#[tokio::test]
async fn a_database_keeps_its_model_and_refuses_another() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("budget.duckdb").display().to_string();
    let config = |model: Option<PathBuf>| {
        let db = db.clone();
        test_config_with(move |c| {
            c.db = db;
            c.model = model;
        })
    };
    let app = spawn_with(config(Some(example("budget")))).await;
    let sheet = "sheets/budget_by_cost_centre";
    app.update(set(cell(sheet, &[], "2026-07", "amount"), "777.00"))
        .await
        .unwrap();
    app.shutdown().await;
    // The same model reopens it, edits and all.
    let app = spawn_with(config(Some(example("budget")))).await;
    assert_eq!(
        Cells::of(&app.grid(sheet).await).get(&[], "2026-07", "amount"),
        "777.00"
    );
    app.shutdown().await;
    // Another model (the demo here) is refused, and says why.
    for other in [None, Some(example("retail"))] {
        let error = match duckgrid::Server::bind(config(other)).await {
            Ok(_) => panic!("a database opened with a model it was not made from"),
            Err(e) => format!("{e:#}"),
        };
        assert!(error.contains("created from model \"budget\""), "{error}");
    }
}

#[tokio::test]
async fn a_model_whose_data_does_not_fit_does_not_start_and_leaves_no_database() {
    let dir = retail_copy(|m| m.replace("scale = 2", "scale = 1"), |d| d);
    let db = dir.path().join("retail.duckdb");
    let model = dir.path().join("model.toml");
    let config = test_config_with(|c| {
        c.db = db.display().to_string();
        c.model = Some(model.clone());
    });
    let error = match duckgrid::Server::bind(config).await {
        Ok(_) => panic!("a model with data it refuses started"),
        Err(e) => e,
    };
    assert!(
        error
            .downcast_ref::<duckgrid::diagnostics::Problems>()
            .is_some(),
        "{error:#}"
    );
    assert!(!db.exists(), "a half-made database was left behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_model_of_its_own_goes_through_redis_and_edges_like_the_demo() {
    use crate::redis_feed::{next_change_within, spawn_edge, spawn_writer};
    let redis = crate::redis_server::RedisServer::start(false);
    let writer = spawn_writer(&redis, |c| c.model = Some(example("budget"))).await;
    let edge = spawn_edge(&writer, &redis).await;
    let sheet = "sheets/budget_by_account";
    let mut on_edge = crate::watching::watch(
        &edge,
        pb::WatchUpdatesRequest {
            sheet: sheet.into(),
            send_snapshot: true,
            ..Default::default()
        },
    )
    .await;
    let Some(pb::watch_updates_response::Kind::Snapshot(snapshot)) =
        on_edge.message().await.unwrap().unwrap().kind
    else {
        panic!("a snapshot first")
    };
    let mut local = Cells::of(&snapshot);
    // A write through the edge, to a year subtotal: spread over its months.
    let revenue = strings(&["Revenue"]);
    let response = edge
        .update(set(cell(sheet, &revenue, "2026", "amount"), "2500000.00"))
        .await
        .unwrap();
    let change = next_change_within(&mut on_edge, 20).await;
    assert_eq!(change.revision, response.revision);
    local.apply(sheet, &change);
    assert_eq!(local, Cells::of(&writer.grid(sheet).await));
    assert_eq!(local.get(&revenue, "2026", "amount"), "2500000.00");
}
