//! An edge checks keys itself, with the same keys file as its writer, and
//! forwards naming the caller: the writer records the caller's subject.

use tonic::Code;

use crate::auth::{Keys, actor_of, call_everything, cells, expect, write};
use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_edge_checks_keys_itself_and_its_writer_records_the_callers_subject() {
    let (keys, _) = Keys::new();
    let redis = crate::redis_server::RedisServer::start(false);
    let (path, url) = (keys.dir.path().join("keys.toml"), redis.url());
    let writer = spawn_with(test_config_with(|c| {
        c.auth_file = Some(path.clone());
        c.redis_url = Some(url.clone());
    }))
    .await;
    let writer_url = format!("http://{}", writer.addr);
    let edge = spawn_with(test_config_with(|c| {
        c.auth_file = Some(path.clone());
        c.role = duckgrid::config::Role::Edge;
        c.writer = Some(writer_url);
        // The edge's own key goes with every call to its writer.
        c.writer_token = Some(keys.edge.clone());
        c.redis_url = Some(url);
    }))
    .await;
    await_health(&edge, GRID, SERVING).await;
    // Forwarded naming the caller: the writer records its subject.
    let written = write(&edge, &keys.writer, None, "21", "").await.unwrap();
    assert_eq!(actor_of(&writer, written.revision), "writer-subject");
    // The edge refuses by itself what the key does not allow.
    let status = write(&edge, &keys.reader, None, "22", "")
        .await
        .unwrap_err();
    assert_status(&status, Code::PermissionDenied, "ROLE_NOT_ALLOWED");
    let (leaf, total) = cells(&edge, &keys.admin, REGION).await;
    expect(
        &call_everything(&edge, None, &leaf, &total).await,
        "nobody, at the edge",
        &[(Code::Unauthenticated, "MISSING_CREDENTIALS"); 5],
    );
    let sheet = (Code::PermissionDenied, "SHEET_NOT_ALLOWED");
    expect(
        &call_everything(&edge, Some(&keys.product_writer), &leaf, &total).await,
        "writer of another sheet, at the edge",
        &[(Code::Ok, ""), sheet, sheet, sheet, sheet],
    );
    edge.shutdown().await;
    writer.shutdown().await;
}
