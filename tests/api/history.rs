//! History and undo: who changed a cell (ListRevisions, GetRevision), the
//! grid as it was (GetSheet with a revision) and Undo per actor and
//! session, with the helpers the other history tests share (reverts:
//! history_reverts.rs; retention: history_retention.rs; a restart and an
//! edge: history_faults.rs; an upgrade: upgrade.rs).

use duckgrid::proto::v1 as pb;
use tonic::{Code, Request};

use crate::helpers::*;

/// A request with an actor and, optionally, a session.
pub fn as_actor<T>(message: T, actor: &str, session: Option<&str>) -> Request<T> {
    let mut request = Request::new(message);
    let headers = request.metadata_mut();
    headers.insert("x-duckgrid-actor", actor.parse().unwrap());
    if let Some(s) = session {
        headers.insert("x-duckgrid-session", s.parse().unwrap());
    }
    request
}

pub async fn write_as(
    app: &TestApp,
    edit: pb::CellEdit,
    actor: &str,
    session: Option<&str>,
) -> i64 {
    let request = pb::UpdateCellRequest {
        edit: Some(edit),
        request_id: String::new(),
    };
    app.client
        .clone()
        .update_cell(as_actor(request, actor, session))
        .await
        .expect("UpdateCell")
        .into_inner()
        .revision
}

pub async fn revert(
    app: &TestApp,
    revision: i64,
    overwrite: bool,
) -> Result<pb::ChangeEvent, tonic::Status> {
    let request = pb::RevertRevisionRequest {
        revision,
        overwrite,
        ..Default::default()
    };
    app.client
        .clone()
        .revert_revision(request)
        .await
        .map(|r| r.into_inner().revision.unwrap().change.unwrap())
}

pub async fn undo(
    app: &TestApp,
    actor: &str,
    session: &str,
) -> Result<pb::ChangeEvent, tonic::Status> {
    let request = pb::UndoRequest {
        session_id: session.into(),
        ..Default::default()
    };
    app.client
        .clone()
        .undo(as_actor(request, actor, None))
        .await
        .map(|r| r.into_inner().revision.unwrap().change.unwrap())
}

pub async fn list(
    app: &TestApp,
    request: pb::ListRevisionsRequest,
) -> Result<pb::ListRevisionsResponse, tonic::Status> {
    app.client
        .clone()
        .list_revisions(request)
        .await
        .map(|r| r.into_inner())
}

/// A sheet's grid at `revision`.
pub async fn grid_at(app: &TestApp, sheet: &str, revision: i64) -> Result<pb::Grid, tonic::Status> {
    let request = pb::GetSheetRequest {
        name: sheet.into(),
        revision: Some(revision),
        ..Default::default()
    };
    app.client
        .clone()
        .get_sheet(request)
        .await
        .map(|r| r.into_inner().grid.unwrap())
}

/// The (before, after) of the one cell an entry of a cell filter lists.
fn before_after(r: &pb::Revision) -> (String, String) {
    let change = r.change.as_ref().unwrap();
    assert_eq!(change.changes.len(), 1, "one sheet: {change:?}");
    let cells = &change.changes[0].cells;
    assert_eq!(cells.len(), 1, "one cell: {cells:?}");
    (cells[0].previous_value.clone(), cells[0].value.clone())
}

pub fn revisions(page: &pb::ListRevisionsResponse) -> Vec<i64> {
    page.revisions
        .iter()
        .map(|r| r.change.as_ref().unwrap().revision)
        .collect()
}

#[tokio::test]
async fn who_changed_a_cell_is_listed_with_before_and_after_and_every_filter_narrows() {
    let app = spawn_app().await;
    let grid = app.grid(PRODUCT).await;
    let leaf = first_leaf_with_value(&grid, "2024-03", "net_amount")
        .path
        .clone();
    let original = Cells::of(&grid)
        .get(&leaf, "2024-03", "net_amount")
        .to_owned();
    let target = cell(PRODUCT, &leaf, "2024-03", "net_amount");
    let other = cell(PRODUCT, &leaf, "2024-04", "quantity");
    let started = prost_types::Timestamp::from(std::time::SystemTime::now());
    let r1 = write_as(&app, set(target.clone(), "100.00"), "alice", Some("s1")).await;
    let r2 = write_as(&app, set(other.clone(), "7"), "bob", None).await;
    let r3 = write_as(&app, set(target.clone(), "250.50"), "bob", None).await;
    assert_eq!((r1, r2, r3), (1, 2, 3));

    // The cell: newest first, each with the value before and after.
    let page = list(
        &app,
        pb::ListRevisionsRequest {
            cell: Some(target.clone()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(revisions(&page), [3, 1]);
    assert_eq!(
        before_after(&page.revisions[0]),
        ("100.00".into(), "250.50".into())
    );
    assert_eq!(
        before_after(&page.revisions[1]),
        (original.clone(), "100.00".into())
    );
    let first = page.revisions[1].change.as_ref().unwrap();
    assert_eq!(
        (first.actor.as_str(), first.session_id.as_str()),
        ("alice", "s1")
    );
    assert_eq!(first.edits[0].cell.as_ref(), Some(&target));
    assert!(page.next_page_token.is_empty());

    // Oldest first, one per page, with tokens.
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = list(
            &app,
            pb::ListRevisionsRequest {
                page_size: 1,
                page_token: token,
                oldest_first: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        seen.extend(revisions(&page));
        assert!(
            page.revisions
                .iter()
                .all(|r| r.change.as_ref().unwrap().changes.is_empty())
        );
        if page.next_page_token.is_empty() {
            break;
        }
        // A token continues its own listing only: not another order, not
        // other filters.
        for other in [
            pb::ListRevisionsRequest::default(),
            pb::ListRevisionsRequest {
                oldest_first: true,
                actor: "bob".into(),
                ..Default::default()
            },
        ] {
            let reused = pb::ListRevisionsRequest {
                page_token: page.next_page_token.clone(),
                ..other
            };
            let status = list(&app, reused).await.unwrap_err();
            assert_status(&status, Code::InvalidArgument, "INVALID_ARGUMENT");
        }
        token = page.next_page_token;
    }
    assert_eq!(seen, [1, 2, 3]);

    // By actor, by subtree and column, by measure, by time.
    let by = |request: pb::ListRevisionsRequest| {
        let app = &app;
        async move { revisions(&list(app, request).await.unwrap()) }
    };
    assert_eq!(
        by(pb::ListRevisionsRequest {
            actor: "bob".into(),
            ..Default::default()
        })
        .await,
        [3, 2]
    );
    let supplier = leaf[..1].to_vec();
    assert_eq!(
        by(pb::ListRevisionsRequest {
            sheet: PRODUCT.into(),
            row_path: supplier.clone(),
            column: "2024-04".into(),
            ..Default::default()
        })
        .await,
        [2]
    );
    assert_eq!(
        by(pb::ListRevisionsRequest {
            sheet: PRODUCT.into(),
            measure: "quantity".into(),
            ..Default::default()
        })
        .await,
        [2]
    );
    assert_eq!(
        by(pb::ListRevisionsRequest {
            sheet: REGION.into(),
            start_revision: 2,
            ..Default::default()
        })
        .await,
        [2, 1]
    );
    assert_eq!(
        by(pb::ListRevisionsRequest {
            start_time: Some(started),
            ..Default::default()
        })
        .await,
        [3, 2, 1]
    );
    assert_eq!(
        by(pb::ListRevisionsRequest {
            end_time: Some(started),
            ..Default::default()
        })
        .await,
        Vec::<i64>::new()
    );
    // A subtree entry lists the cells it selects, with before and after.
    let page = list(
        &app,
        pb::ListRevisionsRequest {
            sheet: PRODUCT.into(),
            row_path: supplier.clone(),
            column: "2024-03".into(),
            measure: "net_amount".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let cells = &page.revisions[0].change.as_ref().unwrap().changes[0].cells;
    let paths: Vec<&Vec<String>> = cells.iter().map(|c| &c.row_path).collect();
    assert!(
        paths.iter().all(|p| p.starts_with(&supplier)) && paths.contains(&&leaf),
        "{paths:?}"
    );

    // GetRevision: every changed cell of every sheet, before and after.
    let got = app
        .client
        .clone()
        .get_revision(pb::GetRevisionRequest { revision: 3 })
        .await
        .unwrap()
        .into_inner();
    let change = got.revision.unwrap().change.unwrap();
    let sheets: Vec<&str> = change.changes.iter().map(|s| s.sheet.as_str()).collect();
    assert_eq!(sheets, SHEETS);
    let grand_total = change.changes[0]
        .cells
        .iter()
        .find(|c| c.row_path.is_empty() && c.column == "total")
        .unwrap();
    let (before, after) = (
        units(&grand_total.previous_value, 2),
        units(&grand_total.value, 2),
    );
    assert_eq!(after - before, units("150.50", 2));

    // Bad requests.
    let bad = [
        pb::ListRevisionsRequest {
            cell: Some(target.clone()),
            sheet: PRODUCT.into(),
            ..Default::default()
        },
        pb::ListRevisionsRequest {
            column: "total".into(),
            ..Default::default()
        },
        pb::ListRevisionsRequest {
            page_token: "nope".into(),
            ..Default::default()
        },
        pb::ListRevisionsRequest {
            page_size: -1,
            ..Default::default()
        },
    ];
    for request in bad {
        assert_eq!(
            list(&app, request).await.unwrap_err().code(),
            Code::InvalidArgument
        );
    }
    let unknown = pb::ListRevisionsRequest {
        sheet: "sheets/nope".into(),
        ..Default::default()
    };
    assert_eq!(
        list(&app, unknown).await.unwrap_err().code(),
        Code::NotFound
    );
    let mut client = app.client.clone();
    let status = client
        .get_revision(pb::GetRevisionRequest { revision: 0 })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let status = client
        .get_revision(pb::GetRevisionRequest { revision: 4 })
        .await
        .unwrap_err();
    assert_status(&status, Code::NotFound, "NOT_FOUND");
}

#[tokio::test]
async fn undo_takes_back_the_callers_own_latest_revisions_in_its_session() {
    let app = spawn_app().await;
    let grid = app.grid(PRODUCT).await;
    let leaves: Vec<Vec<String>> = rows_at(&grid, 3)
        .iter()
        .map(|r| r.path.clone())
        .take(3)
        .collect();
    let at = |i: usize| cell(PRODUCT, &leaves[i], "2024-05", "quantity");
    let shown = |grid: &pb::Grid, i: usize| {
        Cells::of(grid)
            .get(&leaves[i], "2024-05", "quantity")
            .to_owned()
    };
    let start = app.grid(PRODUCT).await;

    let a1 = write_as(&app, set(at(0), "11"), "alice", Some("s1")).await;
    let a2 = write_as(&app, set(at(0), "12"), "alice", Some("s1")).await;
    let b3 = write_as(&app, set(at(1), "13"), "bob", Some("s1")).await;
    let a4 = write_as(&app, set(at(2), "14"), "alice", Some("s2")).await;

    let undone = undo(&app, "alice", "s1").await.unwrap();
    assert_eq!(
        (undone.reverts_revision, undone.actor.as_str()),
        (a2, "alice")
    );
    assert_eq!(shown(&app.grid(PRODUCT).await, 0), "11");
    assert_eq!(
        undo(&app, "alice", "s1").await.unwrap().reverts_revision,
        a1
    );
    assert_eq!(shown(&app.grid(PRODUCT).await, 0), shown(&start, 0));
    let before = app.state().await;
    let status = app
        .assert_rejected(
            &before,
            undo(&app, "alice", "s1").await,
            Code::FailedPrecondition,
        )
        .await;
    assert_eq!(error_info(&status).reason, "NOTHING_TO_UNDO");
    // Without a session: alice's latest anywhere; bob's stay bob's.
    assert_eq!(undo(&app, "alice", "").await.unwrap().reverts_revision, a4);
    assert_eq!(undo(&app, "bob", "").await.unwrap().reverts_revision, b3);
    let now = app.grid(PRODUCT).await;
    assert_eq!(Cells::of(&now), Cells::of(&start));
    let mine = list(
        &app,
        pb::ListRevisionsRequest {
            actor: "alice".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let reverted: Vec<(i64, i64)> = mine
        .revisions
        .iter()
        .map(|r| (r.change.as_ref().unwrap().revision, r.reverted_by))
        .collect();
    assert_eq!(&reverted[3..], [(a4, 7), (a2, 5), (a1, 6)]);
}
