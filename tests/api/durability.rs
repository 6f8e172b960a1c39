//! Restart durability: revisions, data and the changelog survive a restart
//! of the server on the same database file.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use duckgrid::proto::v1::grid_service_client::GridServiceClient;
use tonic::transport::Channel;

use crate::helpers::*;
use crate::watching::{next_change, watch_from};

/// A database file in `dir`, for a server to start on twice.
fn db_path(dir: &tempfile::TempDir) -> String {
    dir.path()
        .join("grid.duckdb")
        .to_string_lossy()
        .into_owned()
}

/// The journal file's segments beside `dir`'s database.
fn journal_segments(dir: &tempfile::TempDir) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("grid.duckdb.journal."))
        .collect();
    names.sort();
    names
}

/// A server in a process of its own (to be SIGKILLed) on `dir`'s
/// database, generated from seed 7, with the tables catching up idle only
/// after ten minutes; and a client of it.
async fn start_process(
    dir: &tempfile::TempDir,
    args: &[&str],
) -> (std::process::Child, GridServiceClient<Channel>) {
    let addr_file = dir.path().join("addr");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_duckgrid"))
        .args(["serve", "--db", &db_path(dir), "--seed", "7"])
        .args(args)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--facts-catch-up-idle-ms",
            "600000",
        ])
        .arg("--addr-file")
        .arg(&addr_file)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::fs::read_to_string(&addr_file).map_or(true, |a| a.trim().is_empty()) {
        assert!(
            std::time::Instant::now() < deadline,
            "the server did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let addr = std::fs::read_to_string(&addr_file).unwrap();
    let endpoint = duckgrid::tls::endpoint(addr.trim(), None).unwrap();
    (child, connect_endpoint(endpoint).await)
}

#[tokio::test]
async fn revisions_and_data_continue_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let config = test_config_with(|c| c.db = path.clone());

    let app = spawn_with(config.clone()).await;
    let grid = app.grid(PRODUCT).await;
    let family = first_leaf_with_value(&grid, "2024-03", "net_amount")
        .path
        .clone();
    for (i, v) in ["10.00", "20.00", "30.00"].iter().enumerate() {
        let r = app
            .update(set(cell(PRODUCT, &family, "2024-03", "net_amount"), v))
            .await
            .unwrap();
        assert_eq!(r.revision, i as i64 + 1);
    }
    let before = [app.grid(PRODUCT).await, app.grid(REGION).await];
    app.shutdown().await;

    // A different seed is ignored: the database exists.
    let app = spawn_with(test_config_with(|c| {
        c.db = path.clone();
        c.seed = 99;
    }))
    .await;
    assert_eq!(
        [app.grid(PRODUCT).await, app.grid(REGION).await],
        before,
        "same data, same revision"
    );
    let r = app
        .update(set(
            cell(PRODUCT, &family, "2024-03", "net_amount"),
            "40.00",
        ))
        .await
        .unwrap();
    assert_eq!(r.revision, 4, "revisions continue");
    // The history survived too.
    let mut stream = watch_from(&app, 1).await;
    let mut seen = Vec::new();
    for expected in 1..=4 {
        let e = next_change(&mut stream).await;
        assert_eq!(e.revision, expected);
        seen.push(e.results[0].new_value.clone());
    }
    assert_eq!(seen, ["10.00", "20.00", "30.00", "40.00"]);
    app.shutdown().await;
}

/// The largest amounts a fact can hold load again at the next start (the
/// summary and the writer's copy read every fact back in units).
#[tokio::test]
async fn the_largest_amounts_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let config = test_config_with(|c| c.db = path.clone());
    let app = spawn_with(config.clone()).await;
    // An empty family-month: the value becomes one adjustment fact per
    // product (a handful), each over 10^15.
    let family = first_empty_leaf(&app.grid(PRODUCT).await, "2025-02")
        .path
        .clone();
    let huge = "-9999999999999999.99";
    let r = app
        .update(set(cell(PRODUCT, &family, "2025-02", "net_amount"), huge))
        .await
        .unwrap();
    assert_eq!(r.result.unwrap().new_value, huge);
    let largest = app.query::<String>(
        "SELECT CAST(max(abs(net_amount)) AS VARCHAR) FROM cube WHERE created_revision = 1",
    )[0][0]
        .clone();
    assert!(largest.len() >= "1000000000000000.00".len(), "{largest}");
    let before = [app.grid(PRODUCT).await, app.grid(REGION).await];
    app.shutdown().await;

    let app = spawn_with(config).await;
    assert_eq!([app.grid(PRODUCT).await, app.grid(REGION).await], before);
    app.shutdown().await;
}

/// An acknowledged write survives SIGKILL before the tables have caught
/// up with it (the server here would wait ten minutes idle): the journal
/// holds it (the journal file, or the `journal` table for a write that
/// made new facts), and the next start writes it into the changelog, the
/// fact history and the facts before serving.
#[tokio::test]
async fn acknowledged_writes_survive_sigkill_before_the_facts_catch_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let (mut child, mut client) = start_process(&dir, &["--facts", "3000"]).await;
    let grid = get_grid(&mut client, PRODUCT).await;
    let april = Cells::of(&grid)
        .get(&[], "2024-04", "net_amount")
        .to_owned();
    let leaf = first_leaf_with_value(&grid, "2024-03", "net_amount")
        .path
        .clone();
    // Leaf writes, a spread over every fact of a month, and new facts.
    for (v, id) in [("10.00", "first"), ("20.00", ""), ("30.00", "")] {
        update(
            &mut client,
            set(cell(PRODUCT, &leaf, "2024-03", "net_amount"), v),
            id,
        )
        .await
        .unwrap();
    }
    update(
        &mut client,
        set(cell(PRODUCT, &[], "2024-04", "net_amount"), "123456.78"),
        "",
    )
    .await
    .unwrap();
    let empty = first_empty_leaf(&grid, "2025-02").path.clone();
    let last = update(
        &mut client,
        set(cell(PRODUCT, &empty, "2025-02", "quantity"), "7"),
        "",
    )
    .await
    .unwrap();
    assert_eq!(last.revision, 5);
    let before = get_grid(&mut client, PRODUCT).await;
    child.kill().unwrap();
    child.wait().unwrap();

    // What the killed server left: the four that wrote no new facts in
    // the journal's file, the one that did as a `journal` row, the tables
    // at none of them yet (so the next start has to write them).
    assert_eq!(
        journal_segments(&dir),
        ["grid.duckdb.journal.00000000000000000001"]
    );
    let (facts_at, journal_rows, journal, changelog): (String, i64, i64, i64) = {
        let conn = duckdb::Connection::open(&path).unwrap();
        conn.query_row(
            "SELECT (SELECT value FROM duckgrid_meta WHERE key = 'facts_at'),
                    (SELECT count(*) FROM journal),
                    (SELECT max(revision) FROM journal),
                    (SELECT count(*) FROM changelog)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap()
    };
    assert_eq!(
        (facts_at.as_str(), journal_rows, journal, changelog),
        ("0", 1, 5, 0)
    );

    let app = spawn_with(test_config_with(|c| c.db = path.clone())).await;
    assert_eq!(app.grid(PRODUCT).await, before, "every acknowledged write");
    let cells = Cells::of(&before);
    let total = |measure: &str, scale: u32| {
        let sum = app.query::<String>(&format!("SELECT CAST(sum({measure}) AS VARCHAR) FROM cube"))
            [0][0]
            .clone();
        (
            units(&sum, scale),
            units(cells.get(&[], "total", measure), scale),
        )
    };
    let (facts, grid) = total("net_amount", 2);
    assert_eq!(facts, grid, "the facts hold every acknowledged write");
    let (facts, grid) = total("quantity", 0);
    assert_eq!(facts, grid, "the new facts too");
    assert_eq!(
        app.query::<String>("SELECT value FROM duckgrid_meta WHERE key = 'facts_at'"),
        [["5"]]
    );
    // The changelog and the fact history have them too: who wrote what, a
    // retry of the first write is its answer again, and the spread reverts.
    assert_eq!(
        app.query::<i64>("SELECT count(*) FROM changelog UNION ALL SELECT count(*) FROM journal"),
        [[5], [0]]
    );
    assert!(journal_segments(&dir).is_empty(), "replayed and removed");
    let mut client = app.client.clone();
    let again = update(
        &mut client,
        set(cell(PRODUCT, &leaf, "2024-03", "net_amount"), "10.00"),
        "first",
    )
    .await
    .unwrap();
    assert_eq!(again.revision, 1, "the retried write is revision 1's");
    crate::history::revert(&app, 4, true).await.unwrap();
    let reverted = app.grid(PRODUCT).await;
    assert_eq!(
        Cells::of(&reverted).get(&[], "2024-04", "net_amount"),
        april,
        "the month is as it was before the spread"
    );
    app.shutdown().await;
}

/// Under a load with no pause, the tables catch up on the scribe thread
/// while the writer goes on committing (the idle catch-up is ten minutes
/// away): leaf writes from eight clients and a spread over every fact five
/// times a second, ~100,000 fact deltas a second, past 6,000 revisions:
/// batches the writer hands to the scribe. SIGKILL just after the last acknowledged write (a
/// batch may be in flight) loses none, and logs none twice: the next start
/// serves the same grid, and the fact history holds exactly the deltas
/// between the first grid and the last.
#[tokio::test]
async fn the_tables_catch_up_under_load_and_survive_sigkill_mid_batch() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let (mut child, mut client) = start_process(&dir, &["--facts", "20000"]).await;
    let grid = get_grid(&mut client, PRODUCT).await;
    let first_total = units(Cells::of(&grid).get(&[], "total", "net_amount"), 2);
    let leaves: Vec<Vec<String>> = grid
        .rows
        .iter()
        .filter(|r| r.leaf)
        .map(|r| r.path.clone())
        .collect();
    // Load until well past the 4,096 revisions that hand a batch to the
    // scribe (at least 2.5 s; on a machine busy enough to commit slower,
    // longer, up to a minute).
    let started = std::time::Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let head = Arc::new(AtomicI64::new(0));
    let mut tasks = Vec::new();
    for c in 0..8usize {
        let (mut client, leaves) = (client.clone(), leaves.clone());
        let (stop, head) = (stop.clone(), head.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = c;
            while !stop.load(Ordering::Relaxed) {
                let leaf = &leaves[i % leaves.len()];
                let month = format!("2024-{:02}", 1 + i % 12);
                let value = format!("{}.{:02}", 100 + i % 900, i % 100);
                let edit = set(cell(PRODUCT, leaf, &month, "net_amount"), &value);
                let reply = update(&mut client, edit, "").await.unwrap();
                head.fetch_max(reply.revision, Ordering::Relaxed);
                i += 8;
            }
        }));
    }
    let mut spreads = 0;
    while started.elapsed() < std::time::Duration::from_secs(60)
        && (started.elapsed() < std::time::Duration::from_millis(2_500)
            || head.load(Ordering::Relaxed) < 6_000)
    {
        let value = if spreads % 2 == 0 {
            "90000000.00"
        } else {
            "60000000.00"
        };
        update(
            &mut client,
            set(cell(PRODUCT, &[], "total", "net_amount"), value),
            "",
        )
        .await
        .unwrap();
        spreads += 1;
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap();
    }
    let before = get_grid(&mut client, PRODUCT).await;
    child.kill().unwrap();
    child.wait().unwrap();

    // Only a catch-up under load can have written the changelog: the idle
    // one was ten minutes away. What it had not reached is in the journal.
    let head = before.revision;
    let (logged, journal_from): (i64, Option<i64>) = {
        let conn = duckdb::Connection::open(&path).unwrap();
        conn.query_row(
            "SELECT (SELECT count(*) FROM changelog), (SELECT min(revision) FROM journal)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    };
    assert!(logged > 0, "no catch-up under load ({head} revisions)");
    assert!(
        journal_from.is_none_or(|from| from > logged),
        "the journal holds only what the changelog lacks"
    );

    let app = spawn_with(test_config_with(|c| c.db = path.clone())).await;
    assert_eq!(app.grid(PRODUCT).await, before, "every acknowledged write");
    assert_eq!(
        app.query::<i64>(
            "SELECT count(*) FROM changelog UNION ALL SELECT max(revision) FROM changelog"
        ),
        [[head], [head]],
        "every revision logged once"
    );
    assert!(journal_segments(&dir).is_empty(), "replayed and removed");
    let last_total = units(Cells::of(&before).get(&[], "total", "net_amount"), 2);
    // Measure 255 records facts the writes created, not a value.
    let logged_deltas = &app.query::<String>(
        "SELECT CAST(sum(after - before) AS VARCHAR) FROM fact_history WHERE measure <> 255",
    )[0][0];
    assert_eq!(
        logged_deltas.parse::<i128>().unwrap(),
        last_total - first_total,
        "the fact history holds each delta once"
    );
    let facts = &app.query::<String>("SELECT CAST(sum(net_amount) AS VARCHAR) FROM cube")[0][0];
    assert_eq!(units(facts, 2), last_total, "the facts hold every write");
    app.shutdown().await;
}

/// A commit whose record cannot be written to the journal file fails
/// whole: its caller is told (UNAVAILABLE, COMMIT_FAILED), nothing of it
/// is served or kept, and the next write takes its revision once the file
/// can be written again, which a restart then finds exactly once.
#[tokio::test]
async fn a_journal_file_that_cannot_be_written_fails_the_commit_and_keeps_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let app = spawn_with(test_config_with(|c| c.db = path.clone())).await;
    let grid = app.grid(PRODUCT).await;
    let leaf = first_leaf_with_value(&grid, "2024-03", "net_amount")
        .path
        .clone();
    let edit = |v: &str| set(cell(PRODUCT, &leaf, "2024-03", "net_amount"), v);
    assert_eq!(app.update(edit("10.00")).await.unwrap().revision, 1);
    assert_eq!(
        journal_segments(&dir),
        ["grid.duckdb.journal.00000000000000000001"]
    );
    // A read of the history has the tables catch up: the segment is sealed
    // and, once written, removed; the next write starts another.
    crate::history::list(&app, Default::default())
        .await
        .unwrap();
    assert!(journal_segments(&dir).is_empty());

    // The next segment's name is taken: making it fails.
    let blocked = dir.path().join("grid.duckdb.journal.00000000000000000002");
    std::fs::create_dir(&blocked).unwrap();
    let before = app.grid(PRODUCT).await;
    let status = app.update(edit("20.00")).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert_eq!(error_info(&status).reason, "COMMIT_FAILED");
    assert_eq!(app.grid(PRODUCT).await, before, "nothing was applied");

    std::fs::remove_dir(&blocked).unwrap();
    assert_eq!(app.update(edit("20.00")).await.unwrap().revision, 2);
    let after = app.grid(PRODUCT).await;
    assert_ne!(after, before);
    app.shutdown().await;

    let app = spawn_with(test_config_with(|c| c.db = path.clone())).await;
    assert_eq!(app.grid(PRODUCT).await, after);
    assert_eq!(
        app.query::<i64>("SELECT revision FROM changelog ORDER BY revision"),
        [[1], [2]]
    );
    app.shutdown().await;
}
