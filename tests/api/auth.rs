//! Who may do what: every RPC against every kind of caller, with the exact
//! code and reason, nothing changed by a refusal; the actor is the
//! authenticated subject; request ids are each principal's own; a reload
//! ends the watches of a revoked key.

use std::time::Duration;

use duckgrid::auth::issue::new_token;
use duckgrid::proto::v1::{self as pb, watch_updates_response::Kind};
use tonic::{Code, Request, Status};

use crate::helpers::*;

/// The principals of the matrix, and their tokens.
pub(crate) struct Keys {
    pub(crate) reader: String,
    pub(crate) product_writer: String,
    pub(crate) leaf_writer: String,
    pub(crate) writer: String,
    pub(crate) expired: String,
    pub(crate) admin: String,
    pub(crate) edge: String,
    pub(crate) dir: tempfile::TempDir,
}

pub(crate) fn entry(id: &str, role: &str, digest: &str, extra: &str) -> String {
    format!(
        "[[principal]]\nid = \"{id}\"\nsubject = \"{id}-subject\"\nrole = \"{role}\"\nkey_sha256 = \"{digest}\"\n{extra}\n"
    )
}

fn write_keys(dir: &std::path::Path, entries: &[String]) {
    std::fs::write(dir.join("keys.toml"), entries.concat()).unwrap();
}

impl Keys {
    pub(crate) fn new() -> (Self, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let mut entries = Vec::new();
        let mut token = |id: &str, role: &str, extra: &str| {
            let (token, digest) = new_token();
            entries.push(entry(id, role, &digest, extra));
            token
        };
        let keys = Keys {
            reader: token("reader", "reader", ""),
            product_writer: token(
                "product",
                "writer",
                &format!(
                    "spread = true\nsheets = [{{ name = \"{PRODUCT}\", access = \"write\" }}]"
                ),
            ),
            leaf_writer: token("leaves", "writer", ""),
            writer: token("writer", "writer", "spread = true"),
            expired: token("expired", "writer", "expires = 2001-01-01T00:00:00Z"),
            admin: token("admin", "admin", ""),
            edge: token("edge", "edge", ""),
            dir,
        };
        write_keys(keys.dir.path(), &entries);
        (keys, entries)
    }
}

async fn spawn_secured(keys: &Keys) -> TestApp {
    let path = keys.dir.path().join("keys.toml");
    spawn_with(test_config_with(|c| {
        c.auth_file = Some(path);
        crate::metrics::with_metrics(c);
    }))
    .await
}

pub(crate) fn keyed<T>(message: T, token: Option<&str>) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(t) = token {
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    request
}

/// What the database holds: facts and changelog, to prove a refusal
/// changed nothing.
fn fingerprint(app: &TestApp) -> String {
    app.query::<String>(
        "SELECT format('{} {} {}', (SELECT count(*) FROM facts), (SELECT sum(m0) FROM facts), (SELECT count(*) FROM changelog))",
    )[0][0]
        .clone()
}

/// A leaf cell and an aggregate (the sheet's grand total) of `sheet`.
pub(crate) async fn cells(app: &TestApp, token: &str, sheet: &str) -> (pb::CellRef, pb::CellRef) {
    let grid = app
        .client
        .clone()
        .get_sheet(keyed(
            pb::GetSheetRequest {
                name: sheet.into(),
                ..Default::default()
            },
            Some(token),
        ))
        .await
        .unwrap()
        .into_inner()
        .grid
        .unwrap();
    let leaf = grid.rows.iter().find(|r| r.leaf).unwrap().path.clone();
    (
        cell(sheet, &leaf, "2024-03", "quantity"),
        cell(sheet, &[], "total", "quantity"),
    )
}

/// Every RPC, as `token` calls it: the status of each (OK as `Code::Ok`).
pub(crate) async fn call_everything(
    app: &TestApp,
    token: Option<&str>,
    leaf: &pb::CellRef,
    total: &pb::CellRef,
) -> Vec<(&'static str, Status)> {
    let mut client = app.client.clone();
    let ok = |r: Result<(), Status>| r.err().unwrap_or_else(|| Status::ok(""));
    let sheet = leaf.sheet.clone();
    vec![
        (
            "ListSheets",
            ok(client
                .list_sheets(keyed(pb::ListSheetsRequest::default(), token))
                .await
                .map(drop)),
        ),
        (
            "GetSheet",
            ok(client
                .get_sheet(keyed(
                    pb::GetSheetRequest {
                        name: sheet.clone(),
                        ..Default::default()
                    },
                    token,
                ))
                .await
                .map(drop)),
        ),
        (
            "UpdateCell leaf",
            ok(client
                .update_cell(keyed(
                    pb::UpdateCellRequest {
                        edit: Some(set(leaf.clone(), "7")),
                        request_id: String::new(),
                    },
                    token,
                ))
                .await
                .map(drop)),
        ),
        (
            "BatchUpdateCells aggregate",
            ok(client
                .batch_update_cells(keyed(
                    pb::BatchUpdateCellsRequest {
                        edits: vec![set(total.clone(), "90000")],
                        request_id: String::new(),
                    },
                    token,
                ))
                .await
                .map(drop)),
        ),
        (
            "WatchUpdates",
            ok(client
                .watch_updates(keyed(
                    pb::WatchUpdatesRequest {
                        sheet: sheet.clone(),
                        ..Default::default()
                    },
                    token,
                ))
                .await
                .map(drop)),
        ),
    ]
}

pub(crate) fn expect(results: &[(&str, Status)], who: &str, want: &[(Code, &str)]) {
    for ((rpc, status), (code, reason)) in results.iter().zip(want) {
        assert_eq!(status.code(), *code, "{who} {rpc}: {status:?}");
        if *code != Code::Ok {
            assert_eq!(
                error_info(status).reason,
                *reason,
                "{who} {rpc}: {status:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_rpc_answers_each_kind_of_caller_as_its_key_allows_and_refusals_change_nothing() {
    let (keys, _) = Keys::new();
    let app = spawn_secured(&keys).await;
    let (leaf, total) = cells(&app, &keys.admin, REGION).await;
    let (product_leaf, product_total) = cells(&app, &keys.admin, PRODUCT).await;
    // Health needs no key.
    assert_eq!(health(&app, GRID).await, SERVING);

    let before = fingerprint(&app);
    let unauth = |reason| [(Code::Unauthenticated, reason); 5];
    expect(
        &call_everything(&app, None, &leaf, &total).await,
        "nobody",
        &unauth("MISSING_CREDENTIALS"),
    );
    expect(
        &call_everything(&app, Some("dg_0123"), &leaf, &total).await,
        "a bad token",
        &unauth("INVALID_TOKEN"),
    );
    expect(
        &call_everything(&app, Some(&keys.expired), &leaf, &total).await,
        "expired",
        &unauth("TOKEN_EXPIRED"),
    );
    let ok = (Code::Ok, "");
    let role = (Code::PermissionDenied, "ROLE_NOT_ALLOWED");
    expect(
        &call_everything(&app, Some(&keys.reader), &leaf, &total).await,
        "reader",
        &[ok, ok, role, role, ok],
    );
    // An edge's own key reads everything and writes nothing by itself.
    expect(
        &call_everything(&app, Some(&keys.edge), &leaf, &total).await,
        "edge",
        &[ok, ok, role, role, ok],
    );
    // A sheet outside the grants: refused, and told apart from nothing
    // that does not exist.
    let sheet = (Code::PermissionDenied, "SHEET_NOT_ALLOWED");
    expect(
        &call_everything(&app, Some(&keys.product_writer), &leaf, &total).await,
        "writer of another sheet",
        &[ok, sheet, sheet, sheet, sheet],
    );
    let nowhere = cell("sheets/does_not_exist", &[], "total", "quantity");
    expect(
        &call_everything(&app, Some(&keys.product_writer), &nowhere, &nowhere).await,
        "writer of another sheet, a sheet that does not exist",
        &[ok, sheet, sheet, sheet, sheet],
    );
    let spread = (Code::PermissionDenied, "SPREADING_NOT_ALLOWED");
    let after_refusals = fingerprint(&app);
    assert_eq!(before, after_refusals, "refusals changed nothing");
    // Each refusal is counted by its reason.
    let text = crate::metrics::scrape(app.metrics.unwrap()).await;
    let denials = |reason| {
        crate::metrics::sample(&text, "duckgrid_auth_denials_total", &[("reason", reason)])
    };
    assert_eq!(denials("MISSING_CREDENTIALS"), 5.0);
    assert_eq!(denials("TOKEN_EXPIRED"), 5.0);
    assert_eq!(denials("ROLE_NOT_ALLOWED"), 4.0);
    assert_eq!(denials("SHEET_NOT_ALLOWED"), 8.0);
    expect(
        &call_everything(&app, Some(&keys.leaf_writer), &leaf, &total).await,
        "writer without spreading",
        &[ok, ok, ok, spread, ok],
    );
    expect(
        &call_everything(&app, Some(&keys.writer), &leaf, &total).await,
        "writer",
        &[ok; 5],
    );
    expect(
        &call_everything(
            &app,
            Some(&keys.product_writer),
            &product_leaf,
            &product_total,
        )
        .await,
        "writer of its sheet",
        &[ok; 5],
    );
    expect(
        &call_everything(&app, Some(&keys.admin), &leaf, &total).await,
        "admin",
        &[ok; 5],
    );

    // The restricted writer lists only its sheet, and cannot watch them all.
    let sheets = app
        .client
        .clone()
        .list_sheets(keyed(
            pb::ListSheetsRequest::default(),
            Some(&keys.product_writer),
        ))
        .await
        .unwrap()
        .into_inner()
        .sheets;
    assert_eq!(
        sheets.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        [PRODUCT]
    );
    let status = app
        .client
        .clone()
        .watch_updates(keyed(
            pb::WatchUpdatesRequest::default(),
            Some(&keys.product_writer),
        ))
        .await
        .unwrap_err();
    assert_status(&status, Code::PermissionDenied, "SHEET_REQUIRED");
    app.shutdown().await;
}

pub(crate) async fn write(
    app: &TestApp,
    token: &str,
    actor: Option<&str>,
    value: &str,
    request_id: &str,
) -> Result<pb::UpdateCellResponse, Status> {
    let (leaf, _) = cells(app, token, PRODUCT).await;
    let mut request = keyed(
        pb::UpdateCellRequest {
            edit: Some(set(leaf, value)),
            request_id: request_id.into(),
        },
        Some(token),
    );
    if let Some(a) = actor {
        request
            .metadata_mut()
            .insert("x-duckgrid-actor", a.parse().unwrap());
    }
    app.client
        .clone()
        .update_cell(request)
        .await
        .map(|r| r.into_inner())
}

pub(crate) fn actor_of(app: &TestApp, revision: i64) -> String {
    app.query::<String>(&format!(
        "SELECT actor FROM changelog WHERE revision = {revision}"
    ))[0][0]
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_actor_is_the_subject_and_request_ids_are_each_principals_own() {
    let (keys, _) = Keys::new();
    let app = spawn_secured(&keys).await;
    let mine = write(&app, &keys.writer, None, "11", "shared-id")
        .await
        .unwrap();
    assert_eq!(actor_of(&app, mine.revision), "writer-subject");
    // Naming another actor is for admins, and recorded as such.
    let status = write(&app, &keys.writer, Some("mallory"), "12", "")
        .await
        .unwrap_err();
    assert_status(&status, Code::PermissionDenied, "IMPERSONATION_NOT_ALLOWED");
    let on_behalf = write(&app, &keys.admin, Some("bob"), "13", "")
        .await
        .unwrap();
    assert_eq!(actor_of(&app, on_behalf.revision), "bob (by admin-subject)");
    // Another principal's use of the same request id is its own write, not
    // a replay of (nor a conflict with) the first one's.
    let theirs = write(&app, &keys.leaf_writer, None, "14", "shared-id")
        .await
        .unwrap();
    assert!(theirs.revision > on_behalf.revision);
    let again = write(&app, &keys.writer, None, "11", "shared-id")
        .await
        .unwrap();
    assert_eq!(
        again.revision, mine.revision,
        "a retry replays its own principal's write"
    );
    app.shutdown().await;
}

/// A watch of the product sheet with `token`'s key.
async fn watch_product(app: &TestApp, token: &str) -> tonic::Streaming<pb::WatchUpdatesResponse> {
    app.client
        .clone()
        .watch_updates(keyed(
            pb::WatchUpdatesRequest {
                sheet: PRODUCT.into(),
                ..Default::default()
            },
            Some(token),
        ))
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reload_that_revokes_a_key_ends_its_watches_and_refuses_its_calls() {
    let (keys, entries) = Keys::new();
    let app = spawn_secured(&keys).await;
    let mut stream = watch_product(&app, &keys.product_writer).await;
    let mut other = watch_product(&app, &keys.reader).await;
    // Everyone but the product writer (the second entry) stays.
    let kept: Vec<String> = entries
        .iter()
        .filter(|e| !e.contains("id = \"product\""))
        .cloned()
        .collect();
    write_keys(keys.dir.path(), &kept);
    app.auth.as_ref().expect("auth is on").reload().unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match stream.message().await {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("the stream ended without a status"),
                Err(status) => return status,
            }
        }
    })
    .await
    .expect("the revoked key's watch ends");
    assert_status(&ended, Code::PermissionDenied, "KEY_REVOKED");
    let (leaf, _) = cells(&app, &keys.admin, PRODUCT).await;
    let status = app
        .client
        .clone()
        .update_cell(keyed(
            pb::UpdateCellRequest {
                edit: Some(set(leaf, "5")),
                request_id: String::new(),
            },
            Some(&keys.product_writer),
        ))
        .await
        .unwrap_err();
    assert_status(&status, Code::Unauthenticated, "INVALID_TOKEN");
    // The reader's watch goes on: it sees the next write.
    let written = write(&app, &keys.writer, None, "6", "").await.unwrap();
    let seen = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(Kind::Change(c)) = other.message().await.unwrap().unwrap().kind {
                return c.revision;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(seen, written.revision);
    // A keys file with problems leaves the keys as they were.
    std::fs::write(keys.dir.path().join("keys.toml"), "[[principal]]\nid = 1\n").unwrap();
    assert!(app.auth.as_ref().unwrap().reload().is_err());
    assert!(write(&app, &keys.writer, None, "8", "").await.is_ok());
    app.shutdown().await;
}

#[test]
fn without_keys_only_loopback_is_served_unless_asked_for() {
    let open = test_config_with(|c| c.listen = "0.0.0.0:0".parse().unwrap());
    let problems = open.validate().unwrap_err().to_string();
    assert!(problems.contains("--insecure-no-auth"), "{problems}");
    let insecure = test_config_with(|c| {
        c.listen = "0.0.0.0:0".parse().unwrap();
        c.insecure_no_auth = true;
    });
    assert!(insecure.validate().is_ok());
}
