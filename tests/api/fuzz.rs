//! Hostile input, fuzzed: thousands of malformed requests (raw bytes that
//! are not protobuf, fields far too long, names that almost exist, enums
//! out of range, huge batches and hold lists) against one server. Whatever
//! arrives: no panic, only documented codes (each with a duckgrid
//! ErrorInfo), and a refused request changes nothing — the revision stays
//! where it was, and at the end every sheet still equals a fresh
//! recomputation from the facts and the server still serves.

use std::cell::RefCell;
use std::time::Duration;

use duckgrid::proto::v1 as pb;
use proptest::prelude::*;
use proptest::test_runner::{Config as RunConfig, TestCaseError, TestRunner};
use tonic::Code;

use crate::consistency::assert_sheets_match_facts;
use crate::helpers::*;

/// The codes the contract documents for a refused request.
const DOCUMENTED: [Code; 6] = [
    Code::InvalidArgument,
    Code::NotFound,
    Code::Aborted,
    Code::FailedPrecondition,
    Code::OutOfRange,
    Code::ResourceExhausted,
];

const METHODS: [&str; 4] = ["ListSheets", "GetSheet", "UpdateCell", "BatchUpdateCells"];

/// Cases per strategy (`FUZZ_CASES` overrides).
fn cases() -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_500)
}

/// Names that exist, names that almost do, and garbage.
struct Vocabulary {
    sheets: Vec<String>,
    members: Vec<String>,
    columns: Vec<String>,
    measures: Vec<String>,
}

fn pick(real: &[String]) -> impl Strategy<Value = String> + use<> {
    let real = real.to_vec();
    prop_oneof![
        4 => proptest::sample::select(real.clone()),
        1 => proptest::sample::select(real).prop_map(|s| format!("{s} ")),
        1 => ".{0,12}",
        1 => "\\PC{0,3}".prop_map(|s| s.repeat(3_000)),
        1 => Just(String::new()),
    ]
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "-?[0-9]{1,6}(\\.[0-9]{0,3})?",
        1 => "[0-9]{19,40}",
        1 => Just("9".repeat(10_000)),
        1 => prop_oneof![Just("NaN"), Just("inf"), Just("1e3"), Just("-"), Just("1,5"), Just("0x10")]
            .prop_map(str::to_owned),
        1 => ".{0,8}",
    ]
}

fn cell_ref(v: &Vocabulary) -> impl Strategy<Value = pb::CellRef> + use<> {
    (
        pick(&v.sheets),
        prop::collection::vec(pick(&v.members), 0..6),
        pick(&v.columns),
        pick(&v.measures),
    )
        .prop_map(|(sheet, row_path, column, measure)| pb::CellRef {
            sheet,
            row_path,
            column,
            measure,
        })
}

fn edit(v: &Vocabulary) -> impl Strategy<Value = pb::CellEdit> + use<> {
    (
        prop::option::weighted(0.95, cell_ref(v)),
        value(),
        prop_oneof![0..4i32, any::<i32>()],
        prop_oneof![0..3i32, any::<i32>()],
        prop_oneof![
            8 => prop::collection::vec(cell_ref(v), 0..3),
            1 => prop::collection::vec(cell_ref(v), 101..103),
        ],
        prop::option::of(value()),
    )
        .prop_map(
            |(cell, value, mode, spread, holds, expected_value)| pb::CellEdit {
                cell,
                value,
                mode,
                spread,
                holds,
                expected_value,
            },
        )
}

/// One hostile request.
#[derive(Debug, Clone)]
enum Hostile {
    Raw(&'static str, Vec<u8>),
    List(pb::ListSheetsRequest),
    Get(pb::GetSheetRequest),
    Update(pb::UpdateCellRequest),
    Batch(pb::BatchUpdateCellsRequest),
    Watch(pb::WatchUpdatesRequest),
}

fn request_id() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), ".{1,8}", ".{129,140}"]
}

fn hostile(v: &Vocabulary) -> impl Strategy<Value = Hostile> + use<> {
    let names = |real: &[String], n| prop::collection::vec(pick(real), 0..n);
    prop_oneof![
        3 => (proptest::sample::select(METHODS.to_vec()), prop::collection::vec(any::<u8>(), 0..64))
            .prop_map(|(m, bytes)| Hostile::Raw(m, bytes)),
        1 => (any::<i32>(), ".{0,6}").prop_map(|(page_size, page_token)| Hostile::List(
            pb::ListSheetsRequest { page_size, page_token })),
        2 => (pick(&v.sheets), names(&v.members, 6), prop_oneof![names(&v.columns, 4), names(&v.columns, 40)],
              prop_oneof![names(&v.measures, 3), names(&v.measures, 9)],
              prop::option::weighted(0.3, prop_oneof![2 => -2..12i64, 1 => Just(i64::MAX), 1 => Just(i64::MIN)]))
            .prop_map(|(name, row_path, columns, measures, revision)| Hostile::Get(
                pb::GetSheetRequest { name, row_path, columns, measures, revision })),
        4 => (prop::option::weighted(0.95, edit(v)), request_id())
            .prop_map(|(edit, request_id)| Hostile::Update(pb::UpdateCellRequest { edit, request_id })),
        2 => (prop_oneof![
                 8 => prop::collection::vec(edit(v), 0..5),
                 1 => prop::collection::vec(edit(v), 1001..1002),
             ], request_id())
            .prop_map(|(edits, request_id)| Hostile::Batch(pb::BatchUpdateCellsRequest { edits, request_id })),
        2 => (pick(&v.sheets), names(&v.members, 6), names(&v.measures, 9),
              prop_oneof![Just(0i64), any::<i64>(), 1_000..2_000i64], any::<bool>())
            .prop_map(|(sheet, row_path, measures, start_revision, send_snapshot)| Hostile::Watch(
                pb::WatchUpdatesRequest { sheet, row_path, measures, start_revision, send_snapshot })),
    ]
}

/// The outcome of one request: `Ok(true)` for a committed write.
async fn send(app: &TestApp, request: Hostile) -> Result<bool, tonic::Status> {
    let mut client = app.client.clone();
    fn timeout<T>(mut r: tonic::Request<T>) -> tonic::Request<T> {
        r.set_timeout(Duration::from_secs(30));
        r
    }
    match request {
        Hostile::Raw(method, bytes) => {
            let status = raw_call(
                app.addr,
                &format!("/duckgrid.v1.GridService/{method}"),
                bytes,
            )
            .await;
            match status.code() {
                // Bytes that happen to decode may even be a valid write.
                Code::Ok => Ok(method.contains("Update")),
                _ => Err(status),
            }
        }
        Hostile::List(r) => client
            .list_sheets(timeout(tonic::Request::new(r)))
            .await
            .map(|_| false),
        Hostile::Get(r) => client
            .get_sheet(timeout(tonic::Request::new(r)))
            .await
            .map(|_| false),
        Hostile::Update(r) => client
            .update_cell(timeout(tonic::Request::new(r)))
            .await
            .map(|_| true),
        Hostile::Batch(r) => client
            .batch_update_cells(timeout(tonic::Request::new(r)))
            .await
            .map(|_| true),
        Hostile::Watch(r) => client
            .watch_updates(timeout(tonic::Request::new(r)))
            .await
            .map(|_| false),
    }
}

#[test]
fn hostile_requests_get_documented_codes_and_change_nothing() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let app = rt.block_on(spawn_app());
    let (product, region) =
        rt.block_on(async { (app.grid(PRODUCT).await, app.grid(REGION).await) });
    let mut members: Vec<String> = product
        .rows
        .iter()
        .chain(&region.rows)
        .flat_map(|r| r.path.clone())
        .collect();
    members.sort();
    members.dedup();
    let vocabulary = Vocabulary {
        sheets: strings(&[PRODUCT, REGION, "sheets/nope", "sheet/x"]),
        members,
        columns: product.columns.clone(),
        measures: strings(&["quantity", "net_amount", "margin"]),
    };
    let head = RefCell::new(rt.block_on(app.head()));
    let mut runner = TestRunner::new(RunConfig {
        cases: cases(),
        failure_persistence: None,
        max_shrink_iters: 100,
        ..RunConfig::default()
    });
    runner
        .run(&hostile(&vocabulary), |request| {
            rt.block_on(async {
                let before = *head.borrow();
                let shown = format!("{request:.200?}");
                match send(&app, request).await {
                    Ok(true) => *head.borrow_mut() = app.head().await,
                    Ok(false) => {}
                    Err(status) => {
                        if !DOCUMENTED.contains(&status.code()) {
                            return Err(TestCaseError::fail(format!(
                                "undocumented {status:?} for {shown}"
                            )));
                        }
                        let info = error_info(&status);
                        prop_assert_eq!(info.domain, "duckgrid");
                        prop_assert!(status.message().len() <= 1024);
                        prop_assert_eq!(
                            app.head().await,
                            before,
                            "a refused request moved the head"
                        );
                    }
                }
                Ok(())
            })
        })
        .unwrap();
    rt.block_on(async {
        let grids = [app.grid(PRODUCT).await, app.grid(REGION).await];
        assert_eq!(grids[0].revision, *head.borrow());
        assert_sheets_match_facts(&app, &grids);
        app.update(set(cell(PRODUCT, &[], "2024-01", "quantity"), "4321"))
            .await
            .expect("the server still serves");
    });
}
