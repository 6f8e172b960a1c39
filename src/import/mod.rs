//! Importing a model's data into the tables duckgrid owns (see
//! `store::schema`): the sources opened read-only, every dimension and the
//! facts checked and written, all in the caller's transaction. Problems
//! are collected across the whole model (every dimension and every fact
//! check runs) and reported together.
//!
//! Progress: each step is logged when it starts and ends, with counts and
//! times; a step that runs long says so every few seconds; on a terminal
//! DuckDB draws its own progress bar for long statements.

mod dimensions;
mod facts;
mod sources;
pub(crate) mod sql;

pub use dimensions::load as load_dimension;
pub use sources::detach as detach_sources;
pub use sql::{ident, literal};

use std::io::IsTerminal;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use duckdb::Connection;

use crate::diagnostics::Problem;
use crate::model::def::ModelDef;

/// What an import brought in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// Per dimension: its leaves (the placeholder included).
    pub leaves: Vec<u64>,
    pub facts: u64,
}

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The data does not fit the model (every problem found).
    #[error("the data does not fit the model ({} problems)", .0.len())]
    Data(Vec<Problem>),
    #[error(transparent)]
    Storage(#[from] duckdb::Error),
}

/// Imports the model's data on `conn` (inside the caller's transaction;
/// the tables of `store::schema::ddl` exist).
pub fn import(conn: &Connection, def: &ModelDef) -> Result<Imported, ImportError> {
    let started = Instant::now();
    if std::io::stderr().is_terminal() {
        conn.execute_batch("SET enable_progress_bar = true")?;
    }
    let sources = step("opening the sources", || {
        Ok::<_, duckdb::Error>(sources::open(conn, def))
    })?
    .map_err(ImportError::Data)?;
    let mut problems: Vec<Problem> = Vec::new();
    for d in &def.dimensions {
        problems.extend(dimensions::check_columns(d, &sources));
    }
    problems.extend(facts::check_columns(def, &sources));
    if !problems.is_empty() {
        sources::close(conn, def);
        return Err(ImportError::Data(problems));
    }
    let mut leaves = Vec::new();
    for (i, d) in def.dimensions.iter().enumerate() {
        let what = format!("importing dimension {:?}", d.name);
        let (n, found) = step(&what, || dimensions::import(conn, i, d, &sources))?;
        leaves.push(n);
        problems.extend(found);
    }
    // The facts are checked even when a dimension has problems: all of
    // them are reported at once.
    let staged = step("checking the facts", || facts::stage(conn, def, &sources))?;
    sources::close(conn, def);
    let facts = match staged {
        Ok(n) if problems.is_empty() => n,
        Ok(_) => return Err(ImportError::Data(problems)),
        Err(found) => {
            problems.extend(found);
            return Err(ImportError::Data(problems));
        }
    };
    step("writing the facts", || facts::insert(conn, def))?;
    tracing::info!(
        facts,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "imported the model's data"
    );
    Ok(Imported { leaves, facts })
}

/// Runs one step of the import (or anything long at start-up), logging its
/// start and end, and every five seconds while it runs.
pub fn step<T, E>(what: &str, f: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
    let started = Instant::now();
    tracing::info!("{what}…");
    let (done, ticks) = mpsc::channel::<()>();
    let name = what.to_owned();
    let ticker = std::thread::spawn(move || {
        while let Err(mpsc::RecvTimeoutError::Timeout) = ticks.recv_timeout(Duration::from_secs(5))
        {
            tracing::info!(elapsed_s = started.elapsed().as_secs(), "still {name}");
        }
    });
    let result = f();
    drop(done);
    let _ = ticker.join();
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "{what}: done"
    );
    result
}
