//! History under the conditions it must survive: a restart, reverts and
//! undo through an edge, and reverts racing concurrent writes.

use duckgrid::proto::v1 as pb;
use tonic::Code;

use crate::helpers::*;
use crate::history::{as_actor, grid_at, list, revert, undo, write_as};
use crate::redis_feed::{next_change_within, spawn_edge, spawn_writer};
use crate::redis_server::RedisServer;
use crate::watching::watch_from;

fn db_path(dir: &tempfile::TempDir) -> String {
    dir.path()
        .join("grid.duckdb")
        .to_string_lossy()
        .into_owned()
}

/// Every cell of both sheets at every revision up to the head.
async fn every_grid(app: &TestApp) -> Vec<[Cells; 2]> {
    let head = app.head().await;
    let mut out = Vec::new();
    for r in 0..=head {
        let [a, b] = SHEETS;
        out.push([
            Cells::of(&grid_at(app, a, r).await.unwrap()),
            Cells::of(&grid_at(app, b, r).await.unwrap()),
        ]);
    }
    out
}

#[tokio::test]
async fn the_history_survives_a_restart_and_reverts_go_on_from_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = test_config_with(|c| c.db = db_path(&dir));
    let app = spawn_with(config.clone()).await;
    let grid = app.grid(PRODUCT).await;
    let empty = first_empty_leaf(&grid, "2024-06").path.clone();
    let leaf = first_leaf_with_value(&grid, "2024-06", "quantity")
        .path
        .clone();
    let r1 = write_as(
        &app,
        set(cell(PRODUCT, &empty, "2024-06", "quantity"), "40"),
        "alice",
        Some("s"),
    )
    .await;
    let r2 = write_as(
        &app,
        set(cell(PRODUCT, &leaf, "2024-06", "quantity"), "9"),
        "alice",
        Some("s"),
    )
    .await;
    let r3 = revert(&app, r1, false).await.unwrap().revision;
    let grids = every_grid(&app).await;
    let listed = list(&app, pb::ListRevisionsRequest::default())
        .await
        .unwrap();
    app.shutdown().await;

    let app = spawn_with(config).await;
    assert_eq!(
        every_grid(&app).await,
        grids,
        "every revision reads the same"
    );
    assert_eq!(
        list(&app, pb::ListRevisionsRequest::default())
            .await
            .unwrap(),
        listed
    );
    // Reverting the revert brings the removed facts back, after the restart.
    revert(&app, r3, false).await.unwrap();
    assert_eq!(
        Cells::of(&app.grid(PRODUCT).await).get(&empty, "2024-06", "quantity"),
        "40"
    );
    // Undo still knows alice's session: r1 is back in effect, r2 is newer.
    assert_eq!(undo(&app, "alice", "s").await.unwrap().reverts_revision, r2);
    assert_eq!(undo(&app, "alice", "s").await.unwrap().reverts_revision, r1);
    crate::consistency::assert_sheets_match_facts(
        &app,
        &[app.grid(PRODUCT).await, app.grid(REGION).await],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reverts_undo_and_the_past_work_through_an_edge() {
    let redis = RedisServer::start(false);
    let writer = spawn_writer(&redis, |_| {}).await;
    let edge = spawn_edge(&writer, &redis).await;
    let grid = edge.grid(PRODUCT).await;
    let leaf = first_leaf_with_value(&grid, "2024-06", "net_amount")
        .path
        .clone();
    let target = cell(PRODUCT, &leaf, "2024-06", "net_amount");
    let original = Cells::of(&grid)
        .get(&leaf, "2024-06", "net_amount")
        .to_owned();
    let mut stream = watch_from(&edge, 1).await;

    // The session header travels with the forwarded write: undo finds it.
    let r1 = write_as(&edge, set(target.clone(), "77.00"), "carol", Some("tab-1")).await;
    let event = next_change_within(&mut stream, 10).await;
    assert_eq!((event.revision, event.session_id.as_str()), (r1, "tab-1"));
    let undone = undo(&edge, "carol", "tab-1").await.unwrap();
    assert_eq!(undone.reverts_revision, r1);
    let event = next_change_within(&mut stream, 10).await;
    assert_eq!(
        (event.revision, event.reverts_revision),
        (undone.revision, r1)
    );
    assert_eq!(
        Cells::of(&edge.grid(PRODUCT).await).get(&leaf, "2024-06", "net_amount"),
        original
    );

    // RevertRevision with a request id: a retry through the edge replays.
    let request = pb::RevertRevisionRequest {
        revision: undone.revision,
        request_id: "redo-1".into(),
        ..Default::default()
    };
    let mut client = edge.client.clone();
    let first = client
        .revert_revision(request.clone())
        .await
        .unwrap()
        .into_inner();
    let again = client.revert_revision(request).await.unwrap().into_inner();
    assert_eq!(first, again);
    assert_eq!(
        Cells::of(&edge.grid(PRODUCT).await).get(&leaf, "2024-06", "net_amount"),
        "77.00"
    );
    // The past and the history, through the edge.
    assert_eq!(
        Cells::of(&grid_at(&edge, PRODUCT, undone.revision).await.unwrap()).get(
            &leaf,
            "2024-06",
            "net_amount"
        ),
        original
    );
    let page = list(
        &edge,
        pb::ListRevisionsRequest {
            cell: Some(target),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(page.revisions.len(), 3);
    let got = client
        .get_revision(as_actor(
            pb::GetRevisionRequest { revision: r1 },
            "carol",
            None,
        ))
        .await
        .unwrap();
    assert_eq!(
        got.into_inner().revision.unwrap().reverted_by,
        0,
        "back in effect"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revert_racing_concurrent_writes_is_exact_or_a_reported_conflict() {
    let app = spawn_app().await;
    let grid = app.grid(PRODUCT).await;
    let leaves: Vec<Vec<String>> = rows_at(&grid, 3).iter().map(|r| r.path.clone()).collect();
    let value =
        |grid: &pb::Grid, col: &str| Cells::of(grid).get(&leaves[0], col, "quantity").to_owned();
    let (raced, quiet) = (
        cell(PRODUCT, &leaves[0], "2024-08", "quantity"),
        cell(PRODUCT, &leaves[0], "2024-09", "quantity"),
    );
    let (raced_before, quiet_before) = (value(&grid, "2024-08"), value(&grid, "2024-09"));
    let k = app
        .update(set(raced.clone(), "500"))
        .await
        .unwrap()
        .revision;
    let q = app
        .update(set(quiet.clone(), "300"))
        .await
        .unwrap()
        .revision;

    // Writers of other leaves, and one that also rewrites the raced cell.
    let mut tasks = Vec::new();
    for w in 0..4usize {
        let mut client = app.new_client().await;
        let (leaves, raced) = (leaves.clone(), raced.clone());
        tasks.push(tokio::spawn(async move {
            let mut raced_writes = Vec::new();
            for i in 0..15usize {
                let edit = if w == 0 && i % 5 == 2 {
                    set(raced.clone(), &(600 + i).to_string())
                } else {
                    let other = &leaves[1 + (w * 15 + i) % (leaves.len() - 1)];
                    set(cell(PRODUCT, other, "2024-08", "quantity"), &i.to_string())
                };
                let is_raced = edit.cell.as_ref() == Some(&raced);
                let r = update(&mut client, edit, "").await.unwrap().revision;
                if is_raced {
                    raced_writes.push(r);
                }
            }
            raced_writes
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let (quiet_revert, raced_revert) = (revert(&app, q, false).await, revert(&app, k, false).await);
    let mut raced_writes = Vec::new();
    for t in tasks {
        raced_writes.extend(t.await.unwrap());
    }

    // No one else touched the quiet cell's facts: its revert is exact.
    let at = quiet_revert.expect("no conflict").revision;
    assert_eq!(
        value(&grid_at(&app, PRODUCT, at).await.unwrap(), "2024-09"),
        quiet_before
    );
    match raced_revert {
        Ok(event) => {
            // Exact, and no rewrite of the cell had committed before it.
            let at = grid_at(&app, PRODUCT, event.revision).await.unwrap();
            assert_eq!(value(&at, "2024-08"), raced_before);
            assert!(
                raced_writes.iter().all(|r| *r > event.revision),
                "{raced_writes:?} vs {}",
                event.revision
            );
        }
        Err(status) => {
            // A conflict names the rewrites that committed after k.
            assert_status(&status, Code::Aborted, "REVISION_CONFLICT");
            let listed: Vec<i64> = error_info(&status).metadata["conflicting_revisions"]
                .split(',')
                .map(|r| r.parse().unwrap())
                .collect();
            assert!(
                !listed.is_empty() && listed.iter().all(|r| raced_writes.contains(r)),
                "{listed:?} vs {raced_writes:?}"
            );
        }
    }
    crate::consistency::assert_sheets_match_facts(
        &app,
        &[app.grid(PRODUCT).await, app.grid(REGION).await],
    );
}
