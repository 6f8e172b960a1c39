//! The one table of the RPCs this server answers: what kind of call each
//! is (for the gRPC metrics' `grpc_type`) and what it needs of its caller
//! (for the auth layer). A path not in the table is the client's to
//! choose, so it never becomes a label value and needs a valid key.

/// What an RPC needs of its caller when auth is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Nothing: health checks (probes carry no keys).
    Anonymous,
    /// Any valid key, or nothing with `--anonymous-reflection`.
    Reflection,
    /// Any valid key (a path that is none of ours: then UNIMPLEMENTED).
    Authenticated,
    /// A role that reads.
    Read,
    /// A role that writes (the handler checks the sheets).
    Write,
}

/// One RPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rpc {
    pub service: &'static str,
    pub method: &'static str,
    /// `unary`, `server_stream` or `bidi_stream`, as go-grpc-prometheus says.
    pub kind: &'static str,
    pub need: Need,
}

const fn rpc(service: &'static str, method: &'static str, kind: &'static str, need: Need) -> Rpc {
    Rpc {
        service,
        method,
        kind,
        need,
    }
}

const GRID: &str = "duckgrid.v1.GridService";
const HEALTH: &str = "grpc.health.v1.Health";

const RPCS: &[Rpc] = &[
    rpc(GRID, "ListSheets", "unary", Need::Read),
    rpc(GRID, "GetSheet", "unary", Need::Read),
    rpc(GRID, "UpdateCell", "unary", Need::Write),
    rpc(GRID, "BatchUpdateCells", "unary", Need::Write),
    rpc(GRID, "WatchUpdates", "server_stream", Need::Read),
    rpc(GRID, "ListRevisions", "unary", Need::Read),
    rpc(GRID, "GetRevision", "unary", Need::Read),
    rpc(GRID, "RevertRevision", "unary", Need::Write),
    rpc(GRID, "Undo", "unary", Need::Write),
    rpc(HEALTH, "Check", "unary", Need::Anonymous),
    rpc(HEALTH, "Watch", "server_stream", Need::Anonymous),
    rpc(
        "grpc.reflection.v1.ServerReflection",
        "ServerReflectionInfo",
        "bidi_stream",
        Need::Reflection,
    ),
    rpc(
        "grpc.reflection.v1alpha.ServerReflection",
        "ServerReflectionInfo",
        "bidi_stream",
        Need::Reflection,
    ),
];

/// The RPC of a request path (`/package.Service/Method`), if it is one of
/// ours.
pub fn of(path: &str) -> Option<&'static Rpc> {
    let (service, method) = path.strip_prefix('/')?.split_once('/')?;
    RPCS.iter()
        .find(|r| r.service == service && r.method == method)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_rpcs_and_nothing_else() {
        let watch = of("/duckgrid.v1.GridService/WatchUpdates").unwrap();
        assert_eq!((watch.kind, watch.need), ("server_stream", Need::Read));
        assert_eq!(
            of("/grpc.health.v1.Health/Check").unwrap().need,
            Need::Anonymous
        );
        assert!(of("/duckgrid.v1.GridService/Nope").is_none());
        assert!(of("garbage").is_none());
    }
}
