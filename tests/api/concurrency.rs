//! Many clients writing at once are serialised: every revision exactly
//! once, and the final state equals a replay of the changelog.

use duckgrid::proto::v1 as pb;

use crate::helpers::*;
use crate::watching::{next_change, watch_from};

const CLIENTS: usize = 8;
const WRITES_EACH: usize = 12;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_are_serialised_and_replayable() {
    let app = spawn_app().await;
    let grid = app.grid(PRODUCT).await;
    let region = app.grid(REGION).await;
    let families: Vec<Vec<String>> = rows_at(&grid, 3).iter().map(|r| r.path.clone()).collect();
    let brands: Vec<Vec<String>> = rows_at(&grid, 2).iter().map(|r| r.path.clone()).collect();
    let cities: Vec<Vec<String>> = rows_at(&region, 2).iter().map(|r| r.path.clone()).collect();
    let mut watcher = watch_from(&app, 1).await;

    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let mut client = app.new_client().await;
        let (families, brands, cities) = (families.clone(), brands.clone(), cities.clone());
        tasks.push(tokio::spawn(async move {
            let mut revisions = Vec::new();
            for i in 0..WRITES_EACH {
                let k = c * 31 + i * 7;
                // Overlapping cells on purpose: families, their brands, and
                // cities of the other sheet, both measures, several modes.
                let edit = match i % 4 {
                    0 => set(
                        cell(
                            PRODUCT,
                            &families[k % families.len()],
                            "2024-10",
                            "quantity",
                        ),
                        &(k % 50).to_string(),
                    ),
                    1 => set(
                        cell(PRODUCT, &brands[k % brands.len()], "2024-10", "net_amount"),
                        &format!("{}.{:02}", 1000 + k, k % 100),
                    ),
                    2 => pb::CellEdit {
                        mode: pb::UpdateMode::Add as i32,
                        ..set(
                            cell(REGION, &cities[k % cities.len()], "2024-10", "quantity"),
                            "3",
                        )
                    },
                    _ => pb::CellEdit {
                        mode: pb::UpdateMode::Percent as i32,
                        ..set(
                            cell(
                                REGION,
                                &cities[k % cities.len()][..1],
                                "total",
                                "net_amount",
                            ),
                            "-2.5",
                        )
                    },
                };
                let r = update(&mut client, edit, "")
                    .await
                    .expect("every write succeeds");
                revisions.push(r.revision);
            }
            revisions
        }));
    }
    let mut all: Vec<i64> = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_unstable();
    let n = (CLIENTS * WRITES_EACH) as i64;
    assert_eq!(
        all,
        (1..=n).collect::<Vec<_>>(),
        "every revision exactly once"
    );

    // The watcher saw them all, in order, each once.
    let mut events = Vec::new();
    for expected in 1..=n {
        let e = next_change(&mut watcher).await;
        assert_eq!(e.revision, expected);
        events.push(e);
    }

    // Replaying the changelog's edits, in revision order, on a fresh copy of
    // the same model reproduces the final state exactly.
    let replica = spawn_app().await;
    let mut client = replica.client.clone();
    for e in &events {
        let r = client
            .batch_update_cells(pb::BatchUpdateCellsRequest {
                edits: e.edits.clone(),
                request_id: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.revision, e.revision);
        assert_eq!(
            r.changes, e.changes,
            "the replay changes the same cells to the same values"
        );
    }
    for sheet in SHEETS {
        assert_eq!(replica.grid(sheet).await, app.grid(sheet).await);
    }
}
