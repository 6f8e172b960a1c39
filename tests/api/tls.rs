//! TLS end to end, with certificates made by `duckgrid certs new` in the
//! test: a TLS server refuses plaintext and strangers' CAs; mutual TLS
//! names the caller by its certificate (with a keys file, and without
//! one); an edge reaches its writer over mutual TLS with its own key and
//! names the caller it authenticated, which only an edge's key may; the
//! feed runs over `rediss://`.

use std::path::Path;
use std::time::Duration;

use duckgrid::auth::issue::new_token;
use duckgrid::config::{HealthArgs, NewCertsArgs, Role};
use duckgrid::proto::v1::{self as pb, watch_updates_response::Kind};
use tonic::transport::ClientTlsConfig;
use tonic::{Code, Status};

use crate::auth::{actor_of, entry, keyed};
use crate::helpers::*;

/// A CA, a server certificate for loopback, and client certificates.
fn certs(clients: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    duckgrid::tls::certs::write(&NewCertsArgs {
        out: dir.path().to_owned(),
        host: vec!["localhost".into(), "127.0.0.1".into()],
        client: clients.iter().map(|c| c.to_string()).collect(),
        ca_name: "test CA".into(),
    })
    .unwrap();
    dir
}

/// A client's TLS: trusting `dir`'s CA, presenting `client`'s certificate.
fn trusting(dir: &Path, client: Option<&str>) -> ClientTlsConfig {
    let file = |name: String| dir.join(name);
    let identity = client.map(|n| {
        (
            file(format!("client-{n}.pem")),
            file(format!("client-{n}.key")),
        )
    });
    duckgrid::tls::client(
        &dir.join("ca.pem"),
        identity.as_ref().map(|(c, k)| (c.as_path(), k.as_path())),
    )
    .unwrap()
}

/// A server configuration with `dir`'s certificate (and mutual TLS).
fn serving_tls(c: &mut duckgrid::Config, dir: &Path, mutual: bool) {
    c.tls.tls_cert = Some(dir.join("server.pem"));
    c.tls.tls_key = Some(dir.join("server.key"));
    if mutual {
        c.tls.client_ca = Some(dir.join("ca.pem"));
    }
}

/// Whether a call over a fresh connection with `tls` gets through (any
/// answer from the service, even a refusal, means the handshake passed).
async fn handshake(app: &TestApp, tls: Option<ClientTlsConfig>) -> Result<(), String> {
    let endpoint = duckgrid::tls::endpoint(&app.addr.to_string(), tls).unwrap();
    let channel = endpoint
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .map_err(|e| format!("{e:?}"))?;
    let mut client = pb::grid_service_client::GridServiceClient::new(channel);
    match client.list_sheets(pb::ListSheetsRequest::default()).await {
        // The service's own refusals carry its ErrorInfo; the rest is the way there.
        Err(s)
            if tonic_types::StatusExt::get_details_error_info(&s)
                .is_none_or(|i| i.domain != "duckgrid") =>
        {
            Err(format!("{s:?}"))
        }
        _ => Ok(()),
    }
}

/// The path of the product sheet's first leaf row, read as `token`.
async fn first_leaf(app: &TestApp, token: Option<&str>) -> Result<Vec<String>, Status> {
    let grid = app
        .client
        .clone()
        .get_sheet(keyed(
            pb::GetSheetRequest {
                name: PRODUCT.into(),
                ..Default::default()
            },
            token,
        ))
        .await?
        .into_inner()
        .grid
        .unwrap();
    Ok(grid.rows.iter().find(|r| r.leaf).unwrap().path.clone())
}

async fn write_leaf(app: &TestApp, token: Option<&str>, value: &str) -> Result<i64, Status> {
    let mut client = app.new_client().await;
    let leaf = first_leaf(app, token).await?;
    let edit = set(cell(PRODUCT, &leaf, "2024-03", "quantity"), value);
    let response = client
        .update_cell(keyed(
            pb::UpdateCellRequest {
                edit: Some(edit),
                request_id: String::new(),
            },
            token,
        ))
        .await?;
    Ok(response.into_inner().revision)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tls_server_refuses_plaintext_and_strangers_and_a_token_names_the_caller() {
    let dir = certs(&[]);
    let other = certs(&[]);
    let (token, digest) = new_token();
    let keys = dir.path().join("keys.toml");
    std::fs::write(&keys, entry("alice", "writer", &digest, "")).unwrap();
    let config = test_config_with(|c| {
        serving_tls(c, dir.path(), false);
        c.auth_file = Some(keys);
    });
    let app = spawn_reached_with(config, Some(trusting(dir.path(), None))).await;

    let revision = write_leaf(&app, Some(&token), "31").await.unwrap();
    assert_eq!(actor_of(&app, revision), "alice-subject");
    let status = write_leaf(&app, None, "32").await.unwrap_err();
    assert_status(&status, Code::Unauthenticated, "MISSING_CREDENTIALS");

    // Plaintext, and a client trusting another CA, get nowhere.
    assert!(handshake(&app, None).await.is_err());
    assert!(
        handshake(&app, Some(trusting(other.path(), None)))
            .await
            .is_err()
    );
    assert!(
        handshake(&app, Some(trusting(dir.path(), None)))
            .await
            .is_ok()
    );

    // A connection that never finishes its handshake is closed.
    let mut silent = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let closed = tokio::time::timeout(
        duckgrid::tls::HANDSHAKE_TIMEOUT + Duration::from_secs(5),
        tokio::io::AsyncReadExt::read(&mut silent, &mut [0u8; 64]),
    )
    .await
    .expect("the server closes a silent connection");
    assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");

    // The container health check speaks TLS when given the CA.
    let health = |ca: Option<std::path::PathBuf>| HealthArgs {
        addr: app.addr.to_string(),
        service: String::new(),
        timeout_ms: 3_000,
        ca,
        cert: None,
        key: None,
    };
    duckgrid::health::check(&health(Some(dir.path().join("ca.pem"))))
        .await
        .unwrap();
    assert!(duckgrid::health::check(&health(None)).await.is_err());
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mutual_tls_names_the_caller_by_its_certificate_and_a_token_wins() {
    let dir = certs(&["carol", "mallory"]);
    let stranger = certs(&["carol"]);
    let (token, digest) = new_token();
    let keys = dir.path().join("keys.toml");
    std::fs::write(
        &keys,
        [
            "[[principal]]\nid = \"carol-cert\"\nsubject = \"carol\"\nrole = \"writer\"\ncertificate = \"carol\"\n".to_owned(),
            entry("tok", "writer", &digest, ""),
        ]
        .concat(),
    )
    .unwrap();
    let config = test_config_with(|c| {
        serving_tls(c, dir.path(), true);
        c.auth_file = Some(keys);
    });
    let app = spawn_reached_with(config, Some(trusting(dir.path(), Some("carol")))).await;

    let revision = write_leaf(&app, None, "41").await.unwrap();
    assert_eq!(actor_of(&app, revision), "carol");

    // A certificate the CA signed but no key names: known to TLS, not to us.
    let mallory = spawn_client(&app, trusting(dir.path(), Some("mallory"))).await;
    let status = mallory
        .clone()
        .list_sheets(pb::ListSheetsRequest::default())
        .await
        .unwrap_err();
    assert_status(&status, Code::Unauthenticated, "UNKNOWN_CERTIFICATE");
    // With a token as well, the token says who it is (even beside a
    // certificate that names someone else).
    let listed = mallory
        .clone()
        .list_sheets(keyed(pb::ListSheetsRequest::default(), Some(&token)))
        .await;
    assert!(listed.is_ok(), "{listed:?}");
    let revision = write_leaf(&app, Some(&token), "42").await.unwrap();
    assert_eq!(actor_of(&app, revision), "tok-subject");

    // No client certificate, or one from another CA: no connection.
    assert!(
        handshake(&app, Some(trusting(dir.path(), None)))
            .await
            .is_err()
    );
    let foreign = duckgrid::tls::client(
        &dir.path().join("ca.pem"),
        Some((
            &stranger.path().join("client-carol.pem"),
            &stranger.path().join("client-carol.key"),
        )),
    )
    .unwrap();
    assert!(handshake(&app, Some(foreign)).await.is_err());
    // The health probe presents a certificate too.
    let path = |name: &str| Some(dir.path().join(name));
    duckgrid::health::check(&HealthArgs {
        addr: app.addr.to_string(),
        service: String::new(),
        timeout_ms: 3_000,
        ca: path("ca.pem"),
        cert: path("client-mallory.pem"),
        key: path("client-mallory.key"),
    })
    .await
    .unwrap();
    app.shutdown().await;
}

async fn spawn_client(
    app: &TestApp,
    tls: ClientTlsConfig,
) -> pb::grid_service_client::GridServiceClient<tonic::transport::Channel> {
    connect_endpoint(duckgrid::tls::endpoint(&app.addr.to_string(), Some(tls)).unwrap()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mutual_tls_without_a_keys_file_makes_each_certificate_a_writer_of_its_own_name() {
    let dir = certs(&["dave"]);
    let config = test_config_with(|c| serving_tls(c, dir.path(), true));
    // Mutual TLS authenticates: a non-loopback address needs no more.
    let public = test_config_with(|c| {
        serving_tls(c, dir.path(), true);
        c.listen = "0.0.0.0:0".parse().unwrap();
    });
    assert!(public.validate().is_ok());
    let app = spawn_reached_with(config, Some(trusting(dir.path(), Some("dave")))).await;
    let revision = write_leaf(&app, None, "51").await.unwrap();
    assert_eq!(actor_of(&app, revision), "dave");
    // Its name is the certificate's: naming another actor is refused.
    let leaf = first_leaf(&app, None).await.unwrap();
    let mut update = tonic::Request::new(pb::UpdateCellRequest {
        edit: Some(set(cell(PRODUCT, &leaf, "2024-03", "quantity"), "52")),
        request_id: String::new(),
    });
    update
        .metadata_mut()
        .insert("x-duckgrid-actor", "eve".parse().unwrap());
    let status = app.client.clone().update_cell(update).await.unwrap_err();
    assert_status(&status, Code::PermissionDenied, "IMPERSONATION_NOT_ALLOWED");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_edge_reaches_its_writer_over_mutual_tls_and_only_an_edge_names_the_caller() {
    let dir = certs(&["edge"]);
    let redis = crate::redis_server::RedisServer::start_tls(dir.path());
    let (writer_token, writer_digest) = new_token();
    let (edge_token, edge_digest) = new_token();
    let keys = dir.path().join("keys.toml");
    std::fs::write(
        &keys,
        [
            entry("writer", "writer", &writer_digest, ""),
            entry("edge", "edge", &edge_digest, ""),
        ]
        .concat(),
    )
    .unwrap();
    let (redis_url, redis_ca) = (redis.tls_url(), dir.path().join("ca.pem"));
    let writer = spawn_reached_with(
        test_config_with(|c| {
            serving_tls(c, dir.path(), true);
            c.auth_file = Some(keys.clone());
            c.redis_url = Some(redis_url.clone());
            c.tls.redis_ca = Some(redis_ca.clone());
        }),
        Some(trusting(dir.path(), Some("edge"))),
    )
    .await;
    let edge = spawn_with(test_config_with(|c| {
        c.role = Role::Edge;
        c.auth_file = Some(keys.clone());
        c.writer = Some(writer.addr.to_string());
        c.writer_token = Some(edge_token.clone());
        c.tls.writer_ca = Some(dir.path().join("ca.pem"));
        c.tls.writer_cert = Some(dir.path().join("client-edge.pem"));
        c.tls.writer_key = Some(dir.path().join("client-edge.key"));
        c.redis_url = Some(redis_url.clone());
        c.tls.redis_ca = Some(redis_ca.clone());
    }))
    .await;
    await_health(&edge, GRID, SERVING).await;

    // A watch at the edge, fed through rediss://, sees a write made through
    // the edge; the writer records the caller the edge authenticated.
    let mut watch = edge
        .client
        .clone()
        .watch_updates(keyed(
            pb::WatchUpdatesRequest {
                sheet: PRODUCT.into(),
                ..Default::default()
            },
            Some(&writer_token),
        ))
        .await
        .unwrap()
        .into_inner();
    let revision = write_leaf(&edge, Some(&writer_token), "61").await.unwrap();
    assert_eq!(actor_of(&writer, revision), "writer-subject");
    let seen = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            if let Some(Kind::Change(c)) = watch.message().await.unwrap().unwrap().kind {
                return (c.revision, c.actor);
            }
        }
    })
    .await
    .expect("the change reached the edge's watch");
    assert_eq!(seen, (revision, "writer-subject".to_owned()));

    // The forwarded write's request id is the caller's own: the same id
    // sent straight to the writer with the caller's token replays it.
    let leaf = first_leaf(&writer, Some(&writer_token)).await.unwrap();
    let once = |app: &TestApp| {
        let mut client = app.client.clone();
        let edit = set(cell(PRODUCT, &leaf, "2024-04", "quantity"), "63");
        let token = writer_token.clone();
        async move {
            client
                .update_cell(keyed(
                    pb::UpdateCellRequest {
                        edit: Some(edit),
                        request_id: "same-id".into(),
                    },
                    Some(&token),
                ))
                .await
                .unwrap()
                .into_inner()
                .revision
        }
    };
    let via_edge = once(&edge).await;
    assert_eq!(
        once(&writer).await,
        via_edge,
        "a replay, not a second write"
    );

    // Naming the caller is an edge's key's privilege.
    let forwarded = |token: &str, id: &str| {
        let mut request = keyed(pb::ListSheetsRequest::default(), Some(token));
        request
            .metadata_mut()
            .insert("x-duckgrid-forwarded-for", id.parse().unwrap());
        request
    };
    let mut client = writer.client.clone();
    let status = client
        .list_sheets(forwarded(&writer_token, "edge"))
        .await
        .unwrap_err();
    assert_status(&status, Code::PermissionDenied, "FORWARDING_NOT_ALLOWED");
    let status = client
        .list_sheets(forwarded(&edge_token, "nobody"))
        .await
        .unwrap_err();
    assert_status(&status, Code::Unauthenticated, "UNKNOWN_PRINCIPAL");
    // An edge's key writes nothing on its own.
    let status = write_leaf(&writer, Some(&edge_token), "62")
        .await
        .unwrap_err();
    assert_status(&status, Code::PermissionDenied, "ROLE_NOT_ALLOWED");
    edge.shutdown().await;
    writer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rediss_verifies_the_certificate_of_redis_against_the_ca_it_is_given() {
    let dir = certs(&[]);
    let redis = crate::redis_server::RedisServer::start_tls(dir.path());
    let writer = |ca: Option<std::path::PathBuf>| {
        test_config_with(|c| {
            c.redis_url = Some(redis.tls_url());
            c.tls.redis_ca = ca;
            crate::metrics::with_metrics(c);
        })
    };
    let stream_length = || {
        redis
            .cli(&["XLEN", "duckgrid:grid:changes"])
            .trim()
            .to_owned()
    };
    // Without --redis-ca the system's roots do not know this CA: the
    // relay's calls fail, and nothing reaches the stream.
    let unverified = spawn_with(writer(None)).await;
    write_leaf(&unverified, None, "71").await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let text = crate::metrics::scrape(unverified.metrics.unwrap()).await;
        let failed =
            crate::metrics::sample(&text, "duckgrid_redis_errors_total", &[("part", "relay")]);
        if failed >= 1.0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the relay never failed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(stream_length(), "0");
    unverified.shutdown().await;
    // With it, the same write is relayed.
    let verified = spawn_with(writer(Some(dir.path().join("ca.pem")))).await;
    write_leaf(&verified, None, "72").await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while stream_length() == "0" {
        assert!(tokio::time::Instant::now() < deadline, "nothing relayed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    verified.shutdown().await;
}
