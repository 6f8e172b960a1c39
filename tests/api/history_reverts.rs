//! Reverts in detail: the facts restored and the created ones removed,
//! a revert of a revert, conflicts with and without overwrite, heads and
//! request ids; batches whose edits overlap, chains of reverts, and later
//! writes into facts a revision created.

use duckgrid::proto::v1 as pb;
use tonic::Code;

use crate::helpers::*;
use crate::history::{grid_at, revert, undo, write_as};
use crate::watching::{next_change, watch_from};

#[tokio::test]
async fn a_revert_restores_the_facts_and_removes_the_created_ones_and_its_revert_restores_them() {
    let app = spawn_app().await;
    let grid = app.grid(PRODUCT).await;
    let empty = first_empty_leaf(&grid, "2024-03").path.clone();
    let target = cell(PRODUCT, &empty, "2024-03", "net_amount");
    let facts_before = app.query::<i64>("SELECT count(*) FROM cube")[0][0];
    let before = [app.grid(PRODUCT).await, app.grid(REGION).await];
    let mut stream = watch_from(&app, 1).await;

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

/// The facts as (id, live, measures…), to compare whole states.
fn facts(app: &TestApp) -> Vec<Vec<i64>> {
    app.query::<i64>(
        "SELECT fact_id, (removed_revision = 0)::BIGINT, m0, m1 FROM facts ORDER BY fact_id",
    )
}

#[tokio::test]
async fn a_batch_whose_edits_overlap_is_recorded_once_per_fact_and_reverts_exactly() {
    let app = spawn_app().await;
    let grid = app.grid(PRODUCT).await;
    let leaf = first_leaf_with_value(&grid, "2024-03", "quantity")
        .path
        .clone();
    let brand = leaf[..2].to_vec();
    let before = facts(&app);
    // The leaf twice, then its brand (which rescales the leaf again).
    let edits = vec![
        set(cell(PRODUCT, &leaf, "2024-03", "quantity"), "500"),
        set(cell(PRODUCT, &leaf, "2024-03", "quantity"), "700"),
        set(cell(PRODUCT, &brand, "2024-03", "quantity"), "9000"),
    ];
    let batch = app
        .client
        .clone()
        .batch_update_cells(pb::BatchUpdateCellsRequest {
            edits,
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .revision;
    let repeated = app.query::<i64>(&format!(
        "SELECT count(*) FROM (SELECT fact_id, measure FROM fact_history WHERE revision = {batch}
         GROUP BY ALL HAVING count(*) > 1)"
    ));
    assert_eq!(repeated, [[0]], "one row per changed fact and measure");
    let changed = app.query::<i64>(&format!(
        "SELECT count(*) FROM fact_history WHERE revision = {batch}"
    ))[0][0];
    assert!(changed > 1, "the brand's facts changed");

    let event = revert(&app, batch, false).await.unwrap();
    assert_eq!(event.reverts_revision, batch);
    assert_eq!(facts(&app), before, "every fact as before the batch");
    assert_eq!(
        Cells::of(&app.grid(PRODUCT).await),
        Cells::of(&grid_at(&app, PRODUCT, 0).await.unwrap())
    );
}

#[tokio::test]
async fn a_chain_of_reverts_flips_what_is_in_effect_at_every_depth() {
    let app = spawn_app().await;
    let grid = app.grid(PRODUCT).await;
    let leaf = first_leaf_with_value(&grid, "2024-03", "quantity")
        .path
        .clone();
    let original = facts(&app);
    let written = write_as(
        &app,
        set(cell(PRODUCT, &leaf, "2024-03", "quantity"), "321"),
        "alice",
        None,
    )
    .await;
    let after_write = facts(&app);
    // 2 reverts 1, 3 reverts 2, 4 reverts 3, 5 reverts 4.
    let mut chain = vec![written];
    for _ in 0..4 {
        let last = *chain.last().unwrap();
        chain.push(revert(&app, last, false).await.unwrap().revision);
    }
    assert_eq!(chain, [1, 2, 3, 4, 5]);
    assert_eq!(
        facts(&app),
        after_write,
        "an even number of reverts: the write"
    );
    let reverted_by = |revision: i64| {
        let app = &app;
        async move {
            app.client
                .clone()
                .get_revision(pb::GetRevisionRequest { revision })
                .await
                .unwrap()
                .into_inner()
                .revision
                .unwrap()
                .reverted_by
        }
    };
    // In effect: 5, 3 and 1; reverted: 4 (by 5), 2 (by 3).
    let mut seen = Vec::new();
    for r in 1..=5 {
        seen.push(reverted_by(r).await);
    }
    assert_eq!(seen, [0, 3, 0, 5, 0]);

    // One more: the write is reverted again, by 2, which is in effect again.
    revert(&app, 5, false).await.unwrap();
    assert_eq!(facts(&app), original);
    let mut seen = Vec::new();
    for r in 1..=6 {
        seen.push(reverted_by(r).await);
    }
    assert_eq!(seen, [2, 0, 4, 0, 6, 0]);
    // A reverted revision is taken back by reverting its revert, not twice.
    let status = revert(&app, 1, true).await.unwrap_err();
    assert_status(&status, Code::FailedPrecondition, "ALREADY_REVERTED");
    // So alice has nothing left to undo (reverts are not hers to undo).
    let status = undo(&app, "alice", "").await.unwrap_err();
    assert_status(&status, Code::FailedPrecondition, "NOTHING_TO_UNDO");
}

#[tokio::test]
async fn a_later_write_into_facts_a_revision_created_is_a_conflict_for_its_revert() {
    let app = spawn_app().await;
    let grid = app.grid(PRODUCT).await;
    let empty = first_empty_leaf(&grid, "2024-03").path.clone();
    let quantity = cell(PRODUCT, &empty, "2024-03", "quantity");
    let amount = cell(PRODUCT, &empty, "2024-03", "net_amount");
    // alice's write creates the facts (quantity only); bob's writes the
    // other measure into them.
    let created = write_as(&app, set(quantity, "30"), "alice", None).await;
    let later = write_as(&app, set(amount, "75.00"), "bob", None).await;
    let held = facts(&app);

    let status = revert(&app, created, false).await.unwrap_err();
    assert_status(&status, Code::Aborted, "REVISION_CONFLICT");
    assert_eq!(
        error_info(&status).metadata["conflicting_revisions"],
        later.to_string()
    );
    let status = undo(&app, "alice", "").await.unwrap_err();
    assert_status(&status, Code::Aborted, "REVISION_CONFLICT");
    assert_eq!(facts(&app), held, "refusals change nothing");

    // Overwriting removes the facts, bob's amount with them.
    revert(&app, created, true).await.unwrap();
    let cells = Cells::of(&app.grid(PRODUCT).await);
    assert_eq!(cells.get(&empty, "2024-03", "quantity"), "");
    assert_eq!(cells.get(&empty, "2024-03", "net_amount"), "");
}
