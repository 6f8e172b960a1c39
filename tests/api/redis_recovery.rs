//! The Redis feed when the stream is not what the writer left: a changelog
//! pruned past what a flushed Redis lacks, and a stream that belongs to
//! another database.

use duckgrid::proto::v1 as pb;

use crate::helpers::*;
use crate::redis_feed::{
    next_change_within, spawn_edge, spawn_writer, stream_ids_through, write_leaves,
};
use crate::redis_server::RedisServer;
use crate::watching::{watch, watch_from};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flushed_redis_is_refilled_from_what_the_changelog_still_has() {
    let redis = RedisServer::start(false);
    let writer = spawn_writer(&redis, |c| c.changelog_retention = 10).await;
    let mut client = writer.new_client().await;
    write_leaves(&writer, &mut client, 130, 0).await;
    let oldest = writer.query::<i64>("SELECT min(revision) FROM changelog")[0][0];
    assert!(oldest > 100, "the changelog was pruned to {oldest}");
    redis.cli(&["FLUSHALL"]);
    let edge = spawn_edge(&writer, &redis).await;
    let mut stream = watch(&edge, pb::WatchUpdatesRequest::default()).await;
    let next = write_leaves(&writer, &mut client, 2, 130).await;
    assert_eq!(next, [131, 132]);
    // The relay starts from what the changelog has, not from revision 1.
    let ids = stream_ids_through(&redis, 132).await;
    assert_eq!(ids.first(), Some(&format!("{oldest}-0")), "{ids:?}");
    assert_eq!(next_change_within(&mut stream, 20).await.revision, 131);
    assert_eq!(next_change_within(&mut stream, 20).await.revision, 132);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stream_of_another_database_is_never_mixed_in_even_when_found_late() {
    let mut redis = RedisServer::start(true);
    // Database A writes 30 revisions into the stream.
    let a = spawn_writer(&redis, |_| {}).await;
    let mut client = a.new_client().await;
    write_leaves(&a, &mut client, 30, 0).await;
    stream_ids_through(&redis, 30).await;
    a.shutdown().await;
    // Database B starts while Redis is down, so its start-up check cannot
    // see the stream; Redis comes back with A's entries.
    redis.kill();
    let b = spawn_writer(&redis, |c| c.seed = 11).await;
    let mut on_b = watch_from(&b, 1).await;
    redis.restart();
    let mut client = b.new_client().await;
    let mut metadata_client = client.clone();
    let mut request = tonic::Request::new(pb::UpdateCellRequest {
        edit: Some(set(cell(PRODUCT, &[], "2024-01", "quantity"), "5555")),
        request_id: String::new(),
    });
    request
        .metadata_mut()
        .insert("x-duckgrid-actor", "bob".parse().unwrap());
    let first = metadata_client
        .update_cell(request)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.revision, 1);
    write_leaves(&b, &mut client, 4, 0).await;
    // B's watchers get B's revisions, not A's.
    let change = next_change_within(&mut on_b, 20).await;
    assert_eq!(change.revision, 1);
    assert_eq!(change.actor, "bob", "B's own revision 1");
    for r in 2..=5 {
        assert_eq!(next_change_within(&mut on_b, 20).await.revision, r);
    }
    assert_eq!(b.head().await, 5);
    // An edge of B skips A's entries too, and serves B's revisions (from
    // B itself: the stream has none of them).
    let edge = spawn_edge(&b, &redis).await;
    let mut on_edge = watch_from(&edge, 1).await;
    let change = next_change_within(&mut on_edge, 20).await;
    assert_eq!((change.revision, change.actor.as_str()), (1, "bob"));
    for r in 2..=5 {
        assert_eq!(next_change_within(&mut on_edge, 20).await.revision, r);
    }
    // And B appended nothing to A's stream.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let ids = stream_ids_through(&redis, 30).await;
    assert_eq!(ids.len(), 30, "{ids:?}");
}
