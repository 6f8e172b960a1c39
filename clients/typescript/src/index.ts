// TypeScript client for duckgrid, the real-time multi-user planning grid.
//
// The generated messages and the GridService descriptor (protoc-gen-es v2)
// are re-exported from "./gen/duckgrid/v1/grid_pb.js"; the helpers cover the
// common cases: connecting (Connect-ES gRPC transport over HTTP/2), naming the
// actor and the client session, reading structured errors, a cell's history
// and undo, and keeping a local copy of a sheet current with SheetWatcher.
export * from "./client.js";
export * from "./history.js";
export * from "./localgrid.js";
export * from "./watcher.js";
export * from "./gen/duckgrid/v1/grid_pb.js";
export { type ErrorInfo, ErrorInfoSchema } from "./gen/google/rpc/error_details_pb.js";
