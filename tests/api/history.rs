//! History and undo: who changed a cell (ListRevisions, GetRevision), the
//! grid as it was (GetSheet with a revision), reverts with conflicts,
//! removed facts and reverts of reverts, Undo per actor and session,
//! retention, and the fact history across a restart and an upgrade.

use duckgrid::history::Retention;
use duckgrid::proto::v1 as pb;
use tonic::{Code, Request};

use crate::helpers::*;
use crate::watching::{next_change, watch};

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

fn revisions(page: &pb::ListRevisionsResponse) -> Vec<i64> {
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
async fn a_revert_restores_the_facts_and_removes_the_created_ones_and_its_revert_restores_them() {
    let app = spawn_app().await;
    let grid = app.grid(PRODUCT).await;
    let empty = first_empty_leaf(&grid, "2024-03").path.clone();
    let target = cell(PRODUCT, &empty, "2024-03", "net_amount");
    let facts_before = app.query::<i64>("SELECT count(*) FROM cube")[0][0];
    let before = [app.grid(PRODUCT).await, app.grid(REGION).await];
    let mut stream = watch(
        &app,
        pb::WatchUpdatesRequest {
            start_revision: 1,
            ..Default::default()
        },
    )
    .await;

    let created = app
        .update(set(target.clone(), "90.00"))
        .await
        .unwrap()
        .revision;
    assert!(app.query::<i64>("SELECT count(*) FROM cube")[0][0] > facts_before);
    let reverted = revert(&app, created, false).await.unwrap();
    assert_eq!(reverted.reverts_revision, created);
    assert!(reverted.edits.is_empty());
    // The facts are gone: the cell is empty again, every sheet as before.
    assert_eq!(
        app.query::<i64>("SELECT count(*) FROM cube")[0][0],
        facts_before
    );
    let after = [app.grid(PRODUCT).await, app.grid(REGION).await];
    for (a, b) in after.iter().zip(&before) {
        assert_eq!(Cells::of(a), Cells::of(b));
    }
    crate::consistency::assert_sheets_match_facts(&app, &after);

    // Watchers got the revert as an ordinary event naming what it took back.
    assert_eq!(next_change(&mut stream).await.revision, created);
    let event = next_change(&mut stream).await;
    assert_eq!(
        (event.revision, event.reverts_revision),
        (reverted.revision, created)
    );
    let shown = &event.changes[0].cells;
    assert!(shown.iter().any(|c| c.row_path == empty
        && c.column == "2024-03"
        && c.value.is_empty()
        && c.previous_value == "90.00"));

    // The revision is marked reverted; reverting the revert restores it.
    let get = |revision| {
        let mut client = app.client.clone();
        async move {
            client
                .get_revision(pb::GetRevisionRequest { revision })
                .await
                .unwrap()
                .into_inner()
                .revision
                .unwrap()
        }
    };
    assert_eq!(get(created).await.reverted_by, reverted.revision);
    let again = revert(&app, reverted.revision, false).await.unwrap();
    assert_eq!(
        Cells::of(&app.grid(PRODUCT).await).get(&empty, "2024-03", "net_amount"),
        "90.00"
    );
    assert_eq!(get(created).await.reverted_by, 0, "back in effect");
    assert_eq!(get(reverted.revision).await.reverted_by, again.revision);
    crate::consistency::assert_sheets_match_facts(
        &app,
        &[app.grid(PRODUCT).await, app.grid(REGION).await],
    );
    // Every revision reads as it was.
    for (revision, value) in [
        (0, ""),
        (created, "90.00"),
        (reverted.revision, ""),
        (again.revision, "90.00"),
    ] {
        let grid = grid_at(&app, PRODUCT, revision).await.unwrap();
        assert_eq!(grid.revision, revision);
        assert_eq!(
            Cells::of(&grid).get(&empty, "2024-03", "net_amount"),
            value,
            "at {revision}"
        );
    }
    assert_eq!(
        Cells::of(&grid_at(&app, REGION, created - 1).await.unwrap()),
        Cells::of(&before[1])
    );
    assert_eq!(
        Cells::of(&grid_at(&app, PRODUCT, 0).await.unwrap()),
        Cells::of(&before[0])
    );
}

#[tokio::test]
async fn a_conflicting_revert_is_aborted_unless_it_overwrites_and_heads_and_ids_hold() {
    let app = spawn_app().await;
    let grid = app.grid(PRODUCT).await;
    let leaf = first_leaf_with_value(&grid, "2024-03", "net_amount")
        .path
        .clone();
    let target = cell(PRODUCT, &leaf, "2024-03", "net_amount");
    let original = Cells::of(&grid)
        .get(&leaf, "2024-03", "net_amount")
        .to_owned();
    let r1 = app
        .update(set(target.clone(), "10.00"))
        .await
        .unwrap()
        .revision;
    // The brand above it grows by half: its facts, the leaf's among them,
    // move.
    let brand = cell(PRODUCT, &leaf[..2], "2024-03", "net_amount");
    let r2 = app
        .update(pb::CellEdit {
            mode: pb::UpdateMode::Percent as i32,
            ..set(brand, "50")
        })
        .await
        .unwrap()
        .revision;

    let before = app.state().await;
    let status = app
        .assert_rejected(&before, revert(&app, r1, false).await, Code::Aborted)
        .await;
    let info = error_info(&status);
    assert_eq!(info.reason, "REVISION_CONFLICT");
    assert_eq!(info.metadata["conflicting_revisions"], r2.to_string());
    assert_eq!(info.metadata["revision"], r1.to_string());

    // The head must be the expected one.
    let mut client = app.client.clone();
    let moved = client
        .revert_revision(pb::RevertRevisionRequest {
            revision: r2,
            expected_head: Some(r1),
            ..Default::default()
        })
        .await;
    let status = app.assert_rejected(&before, moved, Code::Aborted).await;
    assert_eq!(
        error_info(&status).metadata["head_revision"],
        r2.to_string()
    );
    // Out of range and unknown revisions.
    let status = app
        .assert_rejected(&before, revert(&app, r2 + 5, false).await, Code::NotFound)
        .await;
    assert!(status.message().contains("does not exist"));
    let status = app
        .assert_rejected(&before, revert(&app, 0, false).await, Code::InvalidArgument)
        .await;
    assert!(status.message().contains("positive"));

    // Overwrite restores r1's before values; a retry with its id replays.
    let request = pb::RevertRevisionRequest {
        revision: r1,
        overwrite: true,
        expected_head: Some(r2),
        request_id: "take-back".into(),
    };
    let done = client
        .revert_revision(request.clone())
        .await
        .unwrap()
        .into_inner()
        .revision
        .unwrap()
        .change
        .unwrap();
    assert_eq!(
        Cells::of(&app.grid(PRODUCT).await).get(&leaf, "2024-03", "net_amount"),
        original
    );
    let replay = client
        .revert_revision(pb::RevertRevisionRequest {
            expected_head: None,
            ..request.clone()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        replay.revision.unwrap().change.unwrap().revision,
        done.revision
    );
    let reused = client
        .revert_revision(pb::RevertRevisionRequest {
            revision: r2,
            ..request
        })
        .await
        .unwrap_err();
    assert_eq!(reused.code(), Code::InvalidArgument);
    assert_eq!(app.head().await, done.revision);
    crate::consistency::assert_sheets_match_facts(
        &app,
        &[app.grid(PRODUCT).await, app.grid(REGION).await],
    );
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

#[tokio::test]
async fn retention_bounds_the_fact_history_but_not_who_changed_what() {
    let app = spawn_with(test_config_with(|c| {
        c.history_retention = Retention::Revisions(10)
    }))
    .await;
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
    let mut stream = watch(
        &app,
        pb::WatchUpdatesRequest {
            start_revision: 1,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(next_change(&mut stream).await.revision, 1);

    // Off: nothing is recorded, nothing before the head can be read.
    let app = spawn_with(test_config_with(|c| c.history_retention = Retention::Off)).await;
    let r = app
        .update(set(cell(PRODUCT, &leaves[0], "2024-02", "quantity"), "3"))
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
