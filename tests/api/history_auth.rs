//! Who may see and take back what: reverts and Undo are authorized like
//! the edits they take back (sheet grants, the right to spread), for every
//! key of a subject separately; ListRevisions shows a key only what it may
//! read, reverts included.

use duckgrid::auth::issue::new_token;
use duckgrid::proto::v1 as pb;
use tonic::Code;

use crate::auth::keyed;
use crate::helpers::*;
use crate::models::example;

/// Keys, by name, for the principals in `entries` (`id`, `subject`, `role`,
/// extra TOML); the server's keys file is in `dir`.
fn keys(dir: &std::path::Path, entries: &[(&str, &str, &str, &str)]) -> Vec<String> {
    let mut file = String::new();
    let mut tokens = Vec::new();
    for (id, subject, role, extra) in entries {
        let (token, digest) = new_token();
        file += &format!(
            "[[principal]]\nid = \"{id}\"\nsubject = \"{subject}\"\nrole = \"{role}\"\nkey_sha256 = \"{digest}\"\n{extra}\n"
        );
        tokens.push(token);
    }
    std::fs::write(dir.join("keys.toml"), file).unwrap();
    tokens
}

async fn grid(app: &TestApp, token: &str, sheet: &str) -> pb::Grid {
    let request = pb::GetSheetRequest {
        name: sheet.into(),
        ..Default::default()
    };
    app.client
        .clone()
        .get_sheet(keyed(request, Some(token)))
        .await
        .unwrap()
        .into_inner()
        .grid
        .unwrap()
}

async fn write(app: &TestApp, token: &str, edit: pb::CellEdit) -> i64 {
    let request = pb::UpdateCellRequest {
        edit: Some(edit),
        request_id: String::new(),
    };
    app.client
        .clone()
        .update_cell(keyed(request, Some(token)))
        .await
        .unwrap()
        .into_inner()
        .revision
}

async fn undo(app: &TestApp, token: &str) -> Result<i64, tonic::Status> {
    app.client
        .clone()
        .undo(keyed(pb::UndoRequest::default(), Some(token)))
        .await
        .map(|r| r.into_inner().revision.unwrap().change.unwrap().revision)
}

async fn revert(app: &TestApp, token: &str, revision: i64) -> Result<i64, tonic::Status> {
    let request = pb::RevertRevisionRequest {
        revision,
        ..Default::default()
    };
    app.client
        .clone()
        .revert_revision(keyed(request, Some(token)))
        .await
        .map(|r| r.into_inner().revision.unwrap().change.unwrap().revision)
}

#[tokio::test]
async fn undo_and_revert_need_the_grants_the_edits_needed_for_each_key_of_a_subject() {
    let dir = tempfile::tempdir().unwrap();
    let product_only = format!("sheets = [{{ name = \"{PRODUCT}\", access = \"write\" }}]");
    let tokens = keys(
        dir.path(),
        &[
            ("alice-laptop", "alice", "writer", ""),
            ("alice-script", "alice", "writer", &product_only),
            ("carol", "carol", "reader", ""),
        ],
    );
    let [laptop, script, reader] = [&tokens[0], &tokens[1], &tokens[2]];
    let app = spawn_with(test_config_with(|c| {
        c.auth_file = Some(dir.path().join("keys.toml"))
    }))
    .await;
    let region = grid(&app, laptop, REGION).await;
    let leaf = first_leaf_with_value(&region, "2024-03", "quantity")
        .path
        .clone();
    // alice writes on the region sheet from her laptop.
    let written = write(
        &app,
        laptop,
        set(cell(REGION, &leaf, "2024-03", "quantity"), "77"),
    )
    .await;

    // Her script's key may write only the product sheet: the region edit is
    // not its to take back, by Undo or by revision.
    let status = undo(&app, script).await.unwrap_err();
    assert_status(&status, Code::PermissionDenied, "SHEET_NOT_ALLOWED");
    let status = revert(&app, script, written).await.unwrap_err();
    assert_status(&status, Code::PermissionDenied, "SHEET_NOT_ALLOWED");
    // A reader may take nothing back, and has nothing to undo.
    let status = revert(&app, reader, written).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let status = undo(&app, reader).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert_eq!(
        grid(&app, laptop, REGION).await.revision,
        written,
        "refusals change nothing"
    );

    // The laptop's key may.
    assert_eq!(undo(&app, laptop).await.unwrap(), written + 1);
}

#[tokio::test]
async fn a_key_limited_to_one_sheet_lists_only_revisions_that_changed_it_reverts_included() {
    let dir = tempfile::tempdir().unwrap();
    // The departments sheet shows only the amount: a headcount write and
    // its revert change nothing there.
    let departments = "sheets/departments_by_account_group";
    let limited = format!("sheets = [{{ name = \"{departments}\", access = \"read\" }}]");
    let tokens = keys(
        dir.path(),
        &[
            ("alice", "alice", "writer", "spread = true"),
            ("dora", "dora", "reader", &limited),
        ],
    );
    let app = spawn_with(test_config_with(|c| {
        c.auth_file = Some(dir.path().join("keys.toml"));
        c.model = Some(example("budget"));
    }))
    .await;
    let sheet = "sheets/budget_by_account";
    let accounts = grid(&app, &tokens[0], sheet).await;
    let leaf = first_leaf_with_value(&accounts, "2025-03", "amount")
        .path
        .clone();
    let headcount = write(
        &app,
        &tokens[0],
        set(cell(sheet, &leaf, "2025-03", "headcount"), "4.0"),
    )
    .await;
    let reverted = revert(&app, &tokens[0], headcount).await.unwrap();
    let amount = write(
        &app,
        &tokens[0],
        set(cell(sheet, &leaf, "2025-03", "amount"), "1000.00"),
    )
    .await;
    assert_eq!((headcount, reverted, amount), (1, 2, 3));

    let listed = |token: String| {
        let app = &app;
        async move {
            app.client
                .clone()
                .list_revisions(keyed(pb::ListRevisionsRequest::default(), Some(&token)))
                .await
                .unwrap()
                .into_inner()
                .revisions
                .iter()
                .map(|r| r.change.as_ref().unwrap().revision)
                .collect::<Vec<_>>()
        }
    };
    // A sheet of amounts lists no headcount cells.
    let event = app
        .client
        .clone()
        .get_revision(keyed(
            pb::GetRevisionRequest { revision: 1 },
            Some(&tokens[0]),
        ))
        .await
        .unwrap()
        .into_inner()
        .revision
        .unwrap()
        .change
        .unwrap();
    assert!(
        event.changes.iter().all(|s| s.sheet != departments),
        "{event:?}"
    );
    assert_eq!(listed(tokens[0].clone()).await, [3, 2, 1]);
    assert_eq!(
        listed(tokens[1].clone()).await,
        [3],
        "only what changed the departments sheet"
    );
}
