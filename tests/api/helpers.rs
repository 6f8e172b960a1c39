//! Test harness: the real server on port 0 with a fresh database, and the
//! generated client talking to it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use std::sync::Arc;

use duckgrid::proto::v1::{self as pb, grid_service_client::GridServiceClient};
use duckgrid::watch::WatchStats;
use duckgrid::{Config, Server};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};
use tonic_types::StatusExt;

pub const PRODUCT: &str = "sheets/sales_by_product_family";
pub const REGION: &str = "sheets/sales_by_region";
pub const SHEETS: [&str; 2] = [PRODUCT, REGION];

/// A running server and a client connected to it.
pub struct TestApp {
    pub addr: SocketAddr,
    /// How clients reach it (plaintext, or TLS trusting the test CA).
    pub endpoint: Endpoint,
    pub client: GridServiceClient<Channel>,
    /// The writer's database and its writer (edges have none).
    db: Option<(duckdb::Connection, duckgrid::writer::WriterHandle)>,
    /// What the server's watches did.
    pub watch_stats: Arc<WatchStats>,
    /// Where `/metrics` is served (with `--metrics-listen`).
    pub metrics: Option<SocketAddr>,
    /// The keys in force (with `--auth-file`).
    pub auth: Option<Arc<duckgrid::auth::Auth>>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

/// A small, fast configuration: in-memory database, 3,000 facts.
pub fn test_config() -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        db: ":memory:".into(),
        seed: 7,
        facts: 3_000,
        progress_interval_ms: 200,
        // DUCKGRID_TEST_LOG=info,duckgrid=debug shows the servers' logs.
        log: std::env::var("DUCKGRID_TEST_LOG").unwrap_or_else(|_| "warn".into()),
        ..Config::default()
    }
}

pub fn test_config_with(f: impl FnOnce(&mut Config)) -> Config {
    let mut config = test_config();
    f(&mut config);
    config
}

pub async fn spawn_app() -> TestApp {
    spawn_with(test_config()).await
}

pub async fn spawn_with(config: Config) -> TestApp {
    spawn_reached_with(config, None).await
}

/// A server clients reach over TLS with `tls` (or plaintext without).
pub async fn spawn_reached_with(
    config: Config,
    tls: Option<tonic::transport::ClientTlsConfig>,
) -> TestApp {
    duckgrid::telemetry::init(config.log_format, &config.log);
    let server = Server::bind(config.clone()).await.expect("server binds");
    let addr = server.local_addr();
    let db = server.database().ok();
    let watch_stats = server.watch_stats();
    let metrics = server.metrics_addr();
    let auth = server.auth();
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    let endpoint = duckgrid::tls::endpoint(&addr.to_string(), tls).unwrap();
    TestApp {
        addr,
        client: connect_endpoint(endpoint.clone()).await,
        endpoint,
        db,
        watch_stats,
        metrics,
        auth,
        stop: Some(stop),
        server: Some(handle),
    }
}

pub async fn connect_endpoint(endpoint: Endpoint) -> GridServiceClient<Channel> {
    let channel = endpoint.connect().await.expect("client connects");
    GridServiceClient::new(channel).max_decoding_message_size(256 * 1024 * 1024)
}

impl TestApp {
    /// A fresh client (its own connection).
    pub async fn new_client(&self) -> GridServiceClient<Channel> {
        connect_endpoint(self.endpoint.clone()).await
    }

    /// Shuts the server down gracefully and waits for it.
    pub async fn shutdown(mut self) {
        self.stop.take().unwrap().send(()).ok();
        let result = tokio::time::timeout(Duration::from_secs(20), self.server.take().unwrap())
            .await
            .expect("server stops within the deadline")
            .expect("server task");
        result.expect("server ran cleanly");
    }

    /// Runs a query on the server's database (read only).
    pub fn query<T: duckdb::types::FromSql>(&self, sql: &str) -> Vec<Vec<T>> {
        let mut stmt = self.db().prepare(sql).unwrap();
        let mut rows = stmt.query([]).unwrap();
        let n = rows.as_ref().unwrap().column_count();
        let mut out = Vec::new();
        while let Some(r) = rows.next().unwrap() {
            out.push((0..n).map(|i| r.get(i).unwrap()).collect());
        }
        out
    }

    /// The writer's database, its `facts` caught up with every write
    /// acknowledged so far (they are written behind the commits).
    pub fn db(&self) -> &duckdb::Connection {
        let (conn, writer) = self.db.as_ref().expect("a writer's database");
        // The writer is a thread of its own: blocking this one (the test's
        // runtime) on its answer is safe.
        futures::executor::block_on(writer.catch_up(true)).expect("the tables catch up");
        conn
    }

    pub async fn grid(&self, sheet: &str) -> pb::Grid {
        get_grid(&mut self.client.clone(), sheet).await
    }

    /// The head revision (the revision a full read reflects), of any model.
    pub async fn head(&self) -> i64 {
        let sheets = self
            .client
            .clone()
            .list_sheets(pb::ListSheetsRequest::default())
            .await
            .expect("ListSheets")
            .into_inner()
            .sheets;
        self.grid(&sheets[0].name).await.revision
    }

    pub async fn update(&self, edit: pb::CellEdit) -> Result<pb::UpdateCellResponse, Status> {
        update(&mut self.client.clone(), edit, "").await
    }

    /// Both sheets and the head revision, to prove a rejected request
    /// changed nothing.
    pub async fn state(&self) -> State {
        let grids = [self.grid(PRODUCT).await, self.grid(REGION).await];
        let facts = self.query::<i64>("SELECT count(*) FROM facts")[0][0];
        let log = self.query::<i64>("SELECT count(*) FROM changelog")[0][0];
        State { grids, facts, log }
    }

    /// Asserts that a request was rejected with `code` and changed nothing.
    pub async fn assert_rejected<T: std::fmt::Debug>(
        &self,
        before: &State,
        result: Result<T, Status>,
        code: Code,
    ) -> Status {
        let status = result.expect_err("the request is rejected");
        assert_eq!(status.code(), code, "unexpected status: {status:?}");
        assert!(!status.message().is_empty(), "errors carry a message");
        assert_eq!(
            &self.state().await,
            before,
            "a rejected request changed something"
        );
        status
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

#[derive(Debug, PartialEq)]
pub struct State {
    pub grids: [pb::Grid; 2],
    pub facts: i64,
    pub log: i64,
}

pub async fn get_grid(client: &mut GridServiceClient<Channel>, sheet: &str) -> pb::Grid {
    client
        .get_sheet(pb::GetSheetRequest {
            name: sheet.into(),
            ..Default::default()
        })
        .await
        .expect("GetSheet")
        .into_inner()
        .grid
        .expect("a grid")
}

pub async fn update(
    client: &mut GridServiceClient<Channel>,
    edit: pb::CellEdit,
    request_id: &str,
) -> Result<pb::UpdateCellResponse, Status> {
    client
        .update_cell(pb::UpdateCellRequest {
            edit: Some(edit),
            request_id: request_id.into(),
        })
        .await
        .map(|r| r.into_inner())
}

pub fn cell(sheet: &str, path: &[String], column: &str, measure: &str) -> pb::CellRef {
    pb::CellRef {
        sheet: sheet.into(),
        row_path: path.to_vec(),
        column: column.into(),
        measure: measure.into(),
    }
}

/// A "set" edit with the default (proportional) spread.
pub fn set(cell: pb::CellRef, value: &str) -> pb::CellEdit {
    pb::CellEdit {
        cell: Some(cell),
        value: value.into(),
        ..Default::default()
    }
}

pub fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// A grid as a map: (row path, column, measure) -> value ("" when empty).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cells(pub BTreeMap<(Vec<String>, String, String), String>);

impl Cells {
    pub fn of(grid: &pb::Grid) -> Self {
        let mut map = BTreeMap::new();
        for row in &grid.rows {
            for m in &row.measures {
                for (col, v) in grid.columns.iter().zip(&m.values) {
                    map.insert(
                        (row.path.clone(), col.clone(), m.measure.clone()),
                        v.clone(),
                    );
                }
            }
        }
        Cells(map)
    }

    pub fn get(&self, path: &[String], col: &str, measure: &str) -> &str {
        self.0
            .get(&(path.to_vec(), col.to_owned(), measure.to_owned()))
            .unwrap_or_else(|| panic!("no cell {path:?} {col} {measure}"))
    }

    /// Applies the changes of one sheet from a change event.
    pub fn apply(&mut self, sheet: &str, event: &pb::ChangeEvent) {
        for s in event.changes.iter().filter(|s| s.sheet == sheet) {
            for c in &s.cells {
                self.0.insert(
                    (c.row_path.clone(), c.column.clone(), c.measure.clone()),
                    c.value.clone(),
                );
            }
        }
    }
}

/// Rows of a grid at a depth (number of path members).
pub fn rows_at(grid: &pb::Grid, depth: usize) -> Vec<&pb::Row> {
    grid.rows.iter().filter(|r| r.path.len() == depth).collect()
}

/// Parses a decimal string into units at `scale` (tests compare exactly).
pub fn units(value: &str, scale: u32) -> i128 {
    duckgrid::decimal::parse(value, scale).unwrap_or_else(|e| panic!("{value:?}: {e}"))
}

/// The error info of a status.
pub fn error_info(status: &Status) -> tonic_types::ErrorInfo {
    status
        .get_details_error_info()
        .expect("ErrorInfo in the status details")
}

/// The first leaf row with a non-empty value in `column` for `measure`.
pub fn first_leaf_with_value<'a>(grid: &'a pb::Grid, column: &str, measure: &str) -> &'a pb::Row {
    let c = grid.columns.iter().position(|k| k == column).unwrap();
    grid.rows
        .iter()
        .filter(|r| r.leaf)
        .find(|r| {
            let v = &r
                .measures
                .iter()
                .find(|m| m.measure == measure)
                .unwrap()
                .values[c];
            !v.is_empty() && !v.trim_start_matches(['0', '.']).is_empty()
        })
        .expect("a leaf with a value")
}

/// The first leaf row (of a real member, not `(unassigned)`) with no facts
/// in `column`.
pub fn first_empty_leaf<'a>(grid: &'a pb::Grid, column: &str) -> &'a pb::Row {
    let c = grid.columns.iter().position(|k| k == column).unwrap();
    grid.rows
        .iter()
        .filter(|r| r.leaf && r.path[0] != "(unassigned)")
        .find(|r| r.measures[0].values[c].is_empty())
        .expect("an empty leaf in the column")
}

/// Sends `body` as the raw message of the unary call `path` (e.g.
/// `/duckgrid.v1.GridService/GetSheet`) and returns the call's status:
/// for requests no generated client can make (invalid protobuf, oversize).
pub async fn raw_call(addr: SocketAddr, path: &str, body: Vec<u8>) -> Status {
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .expect("client connects");
    let mut grpc = tonic::client::Grpc::new(channel).max_encoding_message_size(usize::MAX);
    grpc.ready().await.expect("channel ready");
    let path = tonic::codegen::http::uri::PathAndQuery::try_from(path).unwrap();
    match grpc.unary(tonic::Request::new(body), path, RawCodec).await {
        Ok(_) => Status::ok(""),
        Err(status) => status,
    }
}

/// Bytes in, bytes out: no protobuf on the client side.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawCodec;

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl tonic::codec::Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(
        &mut self,
        item: Vec<u8>,
        buf: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), Status> {
        use prost::bytes::BufMut;
        buf.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn decode(&mut self, buf: &mut tonic::codec::DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        use prost::bytes::Buf;
        let mut out = vec![0; buf.remaining()];
        buf.copy_to_slice(&mut out);
        Ok(Some(out))
    }
}

/// Asserts that a status is `code` with a duckgrid `ErrorInfo` of `reason`.
pub fn assert_status(status: &Status, code: Code, reason: &str) {
    assert_eq!(status.code(), code, "{status:?}");
    let info = error_info(status);
    assert_eq!(info.domain, "duckgrid", "{status:?}");
    assert_eq!(info.reason, reason, "{status:?}");
}

/// The health a server reports for `service`.
pub async fn health(app: &TestApp, service: &str) -> i32 {
    let channel = app.endpoint.connect().await.unwrap();
    tonic_health::pb::health_client::HealthClient::new(channel)
        .check(tonic_health::pb::HealthCheckRequest {
            service: service.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .status
}

pub const SERVING: i32 = 1;
pub const NOT_SERVING: i32 = 2;
pub const GRID: &str = "duckgrid.v1.GridService";

/// Waits (up to 10 s) for `service` on `app` to report `status`.
pub async fn await_health(app: &TestApp, service: &str, status: i32) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while health(app, service).await != status {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{service:?} never reported {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
