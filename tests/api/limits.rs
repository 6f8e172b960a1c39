//! The limits that keep one request (or one client) from knocking the
//! server over: the work a write may cause, the length of every list, the
//! size of messages and of error messages, watches per client and streams
//! per connection. Each is refused with its documented code and ErrorInfo,
//! and changes nothing.

use std::time::Duration;

use duckgrid::proto::v1 as pb;
use prost::Message;
use tonic::Code;

use crate::helpers::*;
use crate::watching::watch;

const GET_SHEET: &str = "/duckgrid.v1.GridService/GetSheet";
const UPDATE_CELL: &str = "/duckgrid.v1.GridService/UpdateCell";

#[tokio::test]
async fn the_fact_cap_bounds_a_whole_request_not_each_edit() {
    let app = spawn_with(test_config_with(|c| c.max_facts_per_write = 1_000)).await;
    let before = app.state().await;
    let months: Vec<String> = before.grids[0].columns[..24].to_vec();
    // Each month's grand total has ~125 of the 3,000 facts: every edit alone
    // is well under the cap, the batch together is not.
    let edits: Vec<pb::CellEdit> = months
        .iter()
        .map(|m| set(cell(PRODUCT, &[], m, "quantity"), "100000"))
        .collect();
    let one = app.update(edits[0].clone()).await;
    assert!(one.is_ok(), "one edit is within the cap: {one:?}");
    let before = app.state().await;
    let batch = app
        .client
        .clone()
        .batch_update_cells(pb::BatchUpdateCellsRequest {
            edits,
            request_id: String::new(),
        })
        .await;
    let status = app
        .assert_rejected(&before, batch, Code::ResourceExhausted)
        .await;
    assert_status(&status, Code::ResourceExhausted, "TOO_MANY_FACTS");
    assert!(
        status.message().contains("over all its edits"),
        "{status:?}"
    );
}

#[tokio::test]
async fn selection_lists_longer_than_the_model_are_invalid() {
    let app = spawn_app().await;
    let before = app.state().await;
    let many = |name: &str| vec![name.to_owned(); 100_000];
    let get = |columns: Vec<String>, measures: Vec<String>| {
        let mut client = app.client.clone();
        async move {
            client
                .get_sheet(pb::GetSheetRequest {
                    name: PRODUCT.into(),
                    row_path: Vec::new(),
                    columns,
                    measures,
                    ..Default::default()
                })
                .await
        }
    };
    for (columns, measures) in [
        (many("total"), Vec::new()),
        (Vec::new(), many("quantity")),
        // One more than there are distinct measures, even if all are real.
        (Vec::new(), strings(&["quantity", "net_amount", "quantity"])),
    ] {
        let status = app
            .assert_rejected(&before, get(columns, measures).await, Code::InvalidArgument)
            .await;
        assert_status(&status, Code::InvalidArgument, "INVALID_ARGUMENT");
    }
    // Repeated names within the bound are simply one selection.
    let grid = get(
        strings(&["total", "total"]),
        strings(&["quantity", "quantity"]),
    )
    .await
    .unwrap()
    .into_inner()
    .grid
    .unwrap();
    assert_eq!(grid.columns, ["total"]);
    assert_eq!(grid.rows[0].measures.len(), 1);

    let status = app
        .client
        .clone()
        .watch_updates(pb::WatchUpdatesRequest {
            measures: many("quantity"),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_status(&status, Code::InvalidArgument, "INVALID_ARGUMENT");
    // A watch repeating a measure within the bound gets each cell once.
    let mut stream = watch(
        &app,
        pb::WatchUpdatesRequest {
            sheet: PRODUCT.into(),
            measures: strings(&["quantity", "quantity"]),
            ..Default::default()
        },
    )
    .await;
    app.update(set(cell(PRODUCT, &[], "2024-01", "quantity"), "777"))
        .await
        .unwrap();
    let change = crate::watching::next_change(&mut stream).await;
    let cells = &change.changes[0].cells;
    let grand_total = cells
        .iter()
        .filter(|c| c.row_path.is_empty() && c.column == "2024-01")
        .count();
    assert_eq!(grand_total, 1);
}

#[tokio::test]
async fn long_input_is_cut_in_error_messages_and_keeps_its_code() {
    let app = spawn_app().await;
    let before = app.state().await;
    let long_name = format!("sheets/{}", "x".repeat(20_000));
    let status = app
        .client
        .clone()
        .get_sheet(pb::GetSheetRequest {
            name: long_name.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_status(&status, Code::NotFound, "NOT_FOUND");
    assert!(status.message().len() < 1_100, "{}", status.message().len());
    let digits = "9".repeat(10_000);
    let long_value = app
        .update(set(cell(PRODUCT, &[], "2024-01", "quantity"), &digits))
        .await;
    let status = app
        .assert_rejected(&before, long_value, Code::InvalidArgument)
        .await;
    assert!(status.message().len() < 1_100);
    let long_member = app
        .update(set(
            cell(PRODUCT, &["y".repeat(20_000)], "2024-01", "quantity"),
            "1",
        ))
        .await;
    app.assert_rejected(&before, long_member, Code::NotFound)
        .await;
    let long_id = app
        .client
        .clone()
        .update_cell(pb::UpdateCellRequest {
            edit: Some(set(cell(PRODUCT, &[], "2024-01", "quantity"), "1")),
            request_id: "z".repeat(20_000),
        })
        .await;
    app.assert_rejected(&before, long_id, Code::InvalidArgument)
        .await;
}

#[tokio::test]
async fn identifiers_are_limited_in_characters_as_documented() {
    let app = spawn_app().await;
    let edit = || set(cell(PRODUCT, &[], "2024-01", "quantity"), "1234");
    // 128 two-byte characters: 256 bytes, within the 128-character limit.
    let ok = app
        .client
        .clone()
        .update_cell(pb::UpdateCellRequest {
            edit: Some(edit()),
            request_id: "é".repeat(128),
        })
        .await;
    assert!(ok.is_ok(), "{ok:?}");
    let before = app.state().await;
    let too_long = app
        .client
        .clone()
        .update_cell(pb::UpdateCellRequest {
            edit: Some(edit()),
            request_id: "é".repeat(129),
        })
        .await;
    let status = app
        .assert_rejected(&before, too_long, Code::InvalidArgument)
        .await;
    assert!(
        status.message().contains("129 characters") && status.message().contains("128"),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn bytes_that_are_not_protobuf_are_invalid_and_oversize_requests_exhausted() {
    let app = spawn_with(test_config_with(|c| c.max_request_bytes = 64 * 1024)).await;
    let before = app.state().await;
    // A lone tag byte with no value; a string field holding invalid UTF-8.
    let invalid_utf8 = {
        let mut bytes = pb::GetSheetRequest {
            name: "sheets/xx".into(),
            ..Default::default()
        }
        .encode_to_vec();
        let at = bytes.len() - 2;
        bytes[at] = 0xff;
        bytes
    };
    for (path, body) in [
        (GET_SHEET, vec![0x0f]),
        (UPDATE_CELL, vec![0x0a, 0x05, 0x01]),
        (GET_SHEET, invalid_utf8),
    ] {
        let status = raw_call(app.addr, path, body).await;
        assert_status(&status, Code::InvalidArgument, "MALFORMED_MESSAGE");
    }
    let oversize = pb::GetSheetRequest {
        name: PRODUCT.into(),
        row_path: vec!["x".repeat(100 * 1024)],
        ..Default::default()
    }
    .encode_to_vec();
    let status = raw_call(app.addr, GET_SHEET, oversize).await;
    assert_status(&status, Code::ResourceExhausted, "MESSAGE_TOO_LARGE");
    assert_eq!(error_info(&status).metadata["max_bytes"], "65536");
    assert_eq!(app.state().await, before);
}

#[tokio::test]
async fn one_client_cannot_take_every_watch() {
    let app = spawn_with(test_config_with(|c| {
        c.max_watchers = 10;
        c.max_watchers_per_peer = 3;
    }))
    .await;
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(watch(&app, pb::WatchUpdatesRequest::default()).await);
    }
    let status = app
        .client
        .clone()
        .watch_updates(pb::WatchUpdatesRequest::default())
        .await
        .unwrap_err();
    assert_status(&status, Code::ResourceExhausted, "TOO_MANY_WATCHERS");
    assert!(
        status.message().contains("--max-watchers-per-peer"),
        "{status:?}"
    );
    // A watch that ends gives its place back.
    drop(open.pop());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match app
            .client
            .clone()
            .watch_updates(pb::WatchUpdatesRequest::default())
            .await
        {
            Ok(_) => break,
            Err(_) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Err(status) => panic!("the place was not given back: {status:?}"),
        }
    }
}

#[tokio::test]
async fn a_connection_has_a_bounded_number_of_streams() {
    let app = spawn_with(test_config_with(|c| c.max_streams_per_connection = 2)).await;
    let client = app.new_client().await;
    let mut open = Vec::new();
    for _ in 0..2 {
        open.push(
            client
                .clone()
                .watch_updates(pb::WatchUpdatesRequest::default())
                .await
                .unwrap()
                .into_inner(),
        );
    }
    // The third stream on the same connection waits for a free one.
    let mut third = Box::pin({
        let mut client = client.clone();
        async move {
            client
                .watch_updates(pb::WatchUpdatesRequest::default())
                .await
        }
    });
    assert!(
        tokio::time::timeout(Duration::from_millis(500), &mut third)
            .await
            .is_err(),
        "a third concurrent stream was opened on a connection that allows two"
    );
    drop(open.pop());
    tokio::time::timeout(Duration::from_secs(5), third)
        .await
        .expect("the third stream starts once one ends")
        .unwrap();
}
