//! Integration tests: the real server on port 0, a real DuckDB, the
//! generated Rust client. One test binary (one link), modules by topic.

mod auth;
mod auth_edges;
mod concurrency;
mod consistency;
mod durability;
mod edges;
mod edits;
mod fuzz;
mod helpers;
mod history;
mod history_auth;
mod history_faults;
mod history_props;
mod history_retention;
mod history_reverts;
mod lifecycle;
mod limits;
mod metrics;
mod models;
mod platform;
mod reads;
mod redis_feed;
mod redis_recovery;
mod redis_server;
mod spreading;
mod tls;
mod upgrade;
mod watching;
mod writes;
