//! duckgrid: a real-time, multi-user planning grid served over gRPC.
//!
//! Many people edit one shared pivot of analytical data at once. A single
//! DuckDB writer applies each edit, spreads it down to the facts and rolls it
//! up through every sheet, records it under a gap-free revision, and a change
//! feed broadcasts it to every watcher.
//!
//! A tour of the crate, from the wire inwards:
//!
//! - [`server`] assembles everything and runs the gRPC stack; [`service`] is
//!   the `GridService` edge, converting messages to domain types.
//! - [`edit`] validates write requests; [`grid`] reads sheets; [`watch`]
//!   serves `WatchUpdates` streams from the [`feed`] (in-process, or Redis
//!   Streams); [`edge`] is the watch-only role that forwards to a writer.
//! - [`writer`] is the one thread that writes: spreading ([`spread`]), rolling
//!   up ([`rollup`]) into the in-memory [`summary`] that reads are served
//!   from, and recording each revision in one transaction.
//! - [`model`] is the model: its definition read from a model file, the
//!   dimensions, sheets and addressing; [`import`] brings a model's data
//!   into the database and [`check`] reports on it ([`diagnostics`] shows
//!   problems); [`store`] is the rest of the SQL; [`demo`] is the built-in
//!   demo model and its generated data; [`decimal`] keeps values exact.
//! - [`config`] and [`telemetry`] are the flags and the logs; [`error`] is the
//!   one domain error and its mapping to gRPC status codes; [`wire`] is what
//!   happens to a request before a handler sees it (decoding, size limit).
//!
//! See `docs/ARCHITECTURE.md` for the invariants.
#![forbid(unsafe_code)]

pub mod auth;
pub mod check;
pub mod config;
pub mod decimal;
pub mod demo;
pub mod diagnostics;
pub mod edge;
pub mod edit;
pub mod error;
pub mod feed;
pub mod grid;
pub mod health;
pub mod history;
pub mod import;
pub mod metrics;
pub mod model;
pub mod proto;
pub mod rollup;
pub mod route;
pub mod rpc;
pub mod server;
pub mod service;
pub mod spread;
pub mod store;
pub mod summary;
pub mod telemetry;
pub mod tls;
pub mod watch;
pub mod wire;
pub mod writer;

pub use config::Config;
pub use error::{Error, Result};
pub use server::Server;
