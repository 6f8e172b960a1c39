//! DuckDB storage: the schema, creating a database from a model (the
//! import, `crate::import`), reopening it, reads of the changelog, and the
//! statements the writer runs.
//!
//! Architecture invariant: only the writer (see `crate::writer`) runs
//! statements that modify the database, on the one connection it owns; reads
//! (changelog history) run on cloned connections from [`ReadPool`] on the
//! blocking pool. No DuckDB call runs on an async worker thread.
//!
//! A database belongs to the model it was created from: its dimensions,
//! measures and months (the storage signature) are kept in `duckgrid_meta`,
//! and a model that disagrees is refused; sheets and titles may change.

pub mod catch_up;
pub mod changelog;
pub mod facts;
pub mod file;
pub mod history;
pub mod journal;
pub mod journal_file;
mod pool;
pub mod read;
pub mod schema;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use duckdb::{Connection, params};

pub use pool::{ReadPool, Writer as PoolWriter};

use crate::demo::DemoSpec;
use crate::diagnostics::Problems;
use crate::import::{self, ImportError};
use crate::model::def::ModelDef;
use crate::model::file::ModelFile;
use crate::model::{Dimension, Model};
use journal_file::JournalFile;

/// Where a database's model comes from.
pub enum ModelSource {
    /// The built-in demo: its model file, with data generated from a seed.
    Demo(DemoSpec),
    /// A model file; its sources are imported when the database is new.
    File(Box<ModelFile>),
}

impl ModelSource {
    /// The model's definition (with the demo's sources under `dir`).
    fn def(&self, dir: &Path) -> anyhow::Result<ModelDef> {
        match self {
            ModelSource::Demo(_) => crate::demo::model(dir),
            ModelSource::File(file) => Ok(file.def.clone()),
        }
    }
}

/// An open database: the writer's connection and the model.
pub struct Database {
    /// The read-write connection; readers are cloned from it.
    pub conn: Connection,
    pub model: Arc<Model>,
    /// The revision of the last committed write (0 after the import).
    pub head: i64,
    /// The database's identity: random, made when it was created, recorded
    /// in every stream entry so another database's stream is recognised.
    pub database_id: String,
    /// Where the writer's commits append their records (none for an
    /// in-memory database: its commits write a `journal` row).
    pub journal: Option<JournalFile>,
}

/// Opens the database at `path` (or an in-memory one for `:memory:`),
/// creating it from `source` when it is new. `memory_limit_mib` caps
/// DuckDB's own memory (its default is 80% of the machine's).
pub fn open(
    path: &str,
    source: &ModelSource,
    memory_limit_mib: Option<u64>,
) -> anyhow::Result<Database> {
    let existed = path != ":memory:" && Path::new(path).exists();
    if !existed && path != ":memory:" {
        // Left by a database that was moved away: not this one's.
        let stale = journal_file::remove(Path::new(path))
            .with_context(|| format!("removing the journal segments of a former {path}"))?;
        if stale > 0 {
            tracing::warn!(
                segments = stale,
                "removed the journal segments of a former {path}"
            );
        }
    }
    let (conn, row_group_size) = file::connect(path)?;
    if let Some(mib) = memory_limit_mib {
        // A number, never text from outside: nothing to quote.
        conn.execute_batch(&format!("SET memory_limit = '{mib}MiB'"))
            .context("setting DuckDB's memory limit")?;
    }
    let def = match schema::version(&conn)? {
        None => match create(&conn, source, row_group_size) {
            Ok(def) => def,
            Err(e) => {
                drop(conn);
                if !existed && path != ":memory:" {
                    // Nothing half-made is left behind.
                    let _ = std::fs::remove_file(path);
                    let _ = std::fs::remove_file(format!("{path}.wal"));
                }
                return Err(e);
            }
        },
        Some(v) if v == schema::VERSION => {
            let def = reopen(&conn, source)?;
            // Made again if an upgrade stopped between its transactions.
            conn.execute_batch(schema::REQUEST_ID_INDEX)?;
            def
        }
        Some(v) if v == "2" || v == "3" || v == "4" => {
            let def = reopen(&conn, source)?;
            if v == "2" {
                migrate_2_to_3(&conn, &def)
                    .context("upgrading the database to schema version 3")?;
                conn.execute_batch(schema::REQUEST_ID_INDEX)?;
            }
            if v != "4" {
                migrate_3_to_4(&conn).context("upgrading the database to schema version 4")?;
            }
            migrate_4_to_5(&conn).context("upgrading the database to schema version 5")?;
            def
        }
        Some(v) => bail!(
            "{path} was made by an earlier duckgrid (schema version {v}; this one writes {}): \
             move it away and start again to create the database from the model",
            schema::VERSION
        ),
    };
    let model = Arc::new(load_model(&conn, def)?);
    // What the last run left in the journal (it stopped before writing it
    // into the tables, or crashed) is written before anything reads them.
    let started = std::time::Instant::now();
    let database_id = meta(&conn, "database_id")?;
    let file = (path != ":memory:").then(|| Path::new(path));
    let from_file = match file {
        Some(file) => journal_file::read(file, &database_id)?,
        None => Vec::new(),
    };
    let caught_up = catch_up::replay(&conn, model.def.measures.len(), from_file)
        .context("writing the revisions committed before the last stop into the tables")?;
    if let Some(file) = file {
        journal_file::remove(file).context("removing the replayed journal segments")?;
    }
    let head = caught_up.logged;
    if caught_up.values > 0 {
        tracing::info!(
            values = caught_up.values,
            head,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "wrote the revisions committed before the last stop into the tables"
        );
    }
    Ok(Database {
        head,
        journal: file.map(|file| JournalFile::new(file, &database_id)),
        database_id,
        conn,
        model,
    })
}

/// Creates a new database's tables and imports the model's data, in one
/// transaction: a failed import leaves nothing behind.
fn create(
    conn: &Connection,
    source: &ModelSource,
    row_group_size: Option<u64>,
) -> anyhow::Result<ModelDef> {
    let started = std::time::Instant::now();
    // The demo's data is generated into a directory of its own first.
    let scratch = tempfile::tempdir().context("a scratch directory")?;
    if let ModelSource::Demo(spec) = source {
        let what = format!("generating {} demo facts", spec.facts);
        import::step(&what, || {
            crate::demo::write_data(scratch.path(), spec, crate::demo::Format::Parquet)
        })
        .context("generating the demo data")?;
    }
    let def = source.def(scratch.path())?;
    // Dropped after the transaction (declared before it): the user's DuckDB
    // files attached as sources are detached once it has ended.
    struct Detach<'a>(&'a Connection, &'a ModelDef);
    impl Drop for Detach<'_> {
        fn drop(&mut self) {
            import::detach_sources(self.0, self.1);
        }
    }
    let detach = Detach(conn, &def);
    let tx = conn.unchecked_transaction()?;
    conn.execute_batch(&schema::ddl(&def))?;
    let imported = match import::import(conn, &def) {
        Ok(imported) => imported,
        Err(ImportError::Storage(e)) => return Err(e).context("importing the model's data"),
        Err(ImportError::Data(problems)) => {
            return Err(match source {
                ModelSource::File(file) => {
                    let mut all = Problems::new(&file.path, &file.text);
                    all.problems = problems;
                    anyhow::Error::new(all)
                }
                ModelSource::Demo(_) => {
                    anyhow::anyhow!("the demo data does not fit its model: {problems:?}")
                }
            });
        }
    };
    conn.execute_batch(&schema::cube_view(&def))?;
    let mut meta = vec![
        ("schema_version", schema::VERSION.to_owned()),
        ("database_id", new_database_id()),
        ("model_name", def.name.clone()),
        ("model_signature", def.storage_signature()),
        ("model", serde_json::to_string(&def)?),
        ("history_from", "0".to_owned()),
        ("facts_at", "0".to_owned()),
    ];
    if let Some(rows) = row_group_size {
        meta.push(("row_group_size", rows.to_string()));
    }
    if let ModelSource::Demo(spec) = source {
        meta.push(("seed", spec.seed.to_string()));
        meta.push(("facts", spec.facts.to_string()));
    }
    for (k, v) in meta {
        conn.execute("INSERT INTO duckgrid_meta VALUES (?, ?)", params![k, v])?;
    }
    tx.commit()?;
    drop(detach);
    tracing::info!(
        model = %def.name,
        facts = imported.facts,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "created a new database from the model"
    );
    Ok(def)
}

/// Adds the fact history to a version 2 database, in one transaction. Its
/// history starts at its head: earlier revisions recorded no deltas.
fn migrate_2_to_3(conn: &Connection, def: &ModelDef) -> anyhow::Result<()> {
    let tx = conn.unchecked_transaction()?;
    conn.execute_batch(schema::MIGRATE_2_TO_3)?;
    conn.execute_batch(schema::history_ddl())?;
    conn.execute_batch(&schema::cube_view(def))?;
    let head = read::head_revision(conn)?;
    conn.execute(
        "INSERT INTO duckgrid_meta VALUES ('history_from', ?)",
        [head.to_string()],
    )?;
    tx.commit()?;
    tracing::info!(
        head,
        "upgraded the database to schema version 3 (fact history from here on)"
    );
    Ok(())
}

/// Lets a version 3 database's facts be written behind its writes: it
/// wrote them with every revision, so they are those of its head.
fn migrate_3_to_4(conn: &Connection) -> anyhow::Result<()> {
    let tx = conn.unchecked_transaction()?;
    let head = read::head_revision(conn)?;
    conn.execute(
        "INSERT INTO duckgrid_meta VALUES ('facts_at', ?)",
        [head.to_string()],
    )?;
    conn.execute_batch("UPDATE duckgrid_meta SET value = '4' WHERE key = 'schema_version'")?;
    tx.commit()?;
    Ok(())
}

/// Adds the journal to a version 4 database: it wrote its changelog and
/// fact history with every revision (its facts may lag them: the next
/// catch-up writes them).
fn migrate_4_to_5(conn: &Connection) -> anyhow::Result<()> {
    let tx = conn.unchecked_transaction()?;
    conn.execute_batch(schema::JOURNAL_DDL)?;
    conn.execute_batch("UPDATE duckgrid_meta SET value = '5' WHERE key = 'schema_version'")?;
    tx.commit()?;
    Ok(())
}

/// Checks that `source`'s model fits a database made earlier.
fn reopen(conn: &Connection, source: &ModelSource) -> anyhow::Result<ModelDef> {
    let def = source.def(&PathBuf::from("."))?;
    let stored: ModelDef = serde_json::from_str(&meta(conn, "model")?)
        .context("reading the model the database was created from")?;
    if meta(conn, "model_signature")? != def.storage_signature() {
        bail!(
            "the database was created from model {:?}, whose dimensions, measures or months \
             differ from those of model {:?} ({}): use another --db for it, or move the \
             database away to create it again",
            stored.name,
            def.name,
            differences(&stored, &def).join("; ")
        );
    }
    if let ModelSource::Demo(spec) = source {
        let (seed, facts) = (
            meta(conn, "seed").unwrap_or_default(),
            meta(conn, "facts").unwrap_or_default(),
        );
        if seed != spec.seed.to_string() || facts != spec.facts.to_string() {
            tracing::warn!(
                %seed, %facts,
                "the database was seeded earlier; --seed and --facts only apply to a new database"
            );
        }
    }
    Ok(def)
}

/// What differs between the storage of two models, in words.
fn differences(a: &ModelDef, b: &ModelDef) -> Vec<String> {
    let mut out = Vec::new();
    if a.months != b.months {
        out.push("the months differ".to_owned());
    }
    let dims = |d: &ModelDef| -> Vec<String> {
        d.dimensions
            .iter()
            .map(|x| {
                let levels: Vec<&str> = x.levels.iter().map(|l| l.name.as_str()).collect();
                format!("{} ({})", x.name, levels.join(" > "))
            })
            .collect()
    };
    if dims(a) != dims(b) {
        out.push(format!(
            "dimensions {} vs {}",
            dims(a).join(", "),
            dims(b).join(", ")
        ));
    }
    let measures = |d: &ModelDef| -> Vec<String> {
        d.measures
            .iter()
            .map(|m| format!("{} (scale {})", m.name, m.scale))
            .collect()
    };
    if measures(a) != measures(b) {
        out.push(format!(
            "measures {} vs {}",
            measures(a).join(", "),
            measures(b).join(", ")
        ));
    }
    if out.is_empty() {
        out.push("placeholders or minimums differ".to_owned());
    }
    out
}

fn meta(conn: &Connection, key: &str) -> anyhow::Result<String> {
    conn.query_row(
        "SELECT value FROM duckgrid_meta WHERE key = ?",
        [key],
        |r| r.get(0),
    )
    .with_context(|| format!("reading {key} from duckgrid_meta"))
}

/// Loads the dimensions' members into the model.
fn load_model(conn: &Connection, def: ModelDef) -> anyhow::Result<Model> {
    let mut dimensions = Vec::new();
    for (i, d) in def.dimensions.iter().enumerate() {
        let leaves = import::load_dimension(conn, i, d.levels.len())?;
        dimensions.push(Dimension::from_leaves(&d.name, d.levels.len(), &leaves)?);
    }
    Model::new(def, dimensions).map_err(anyhow::Error::msg)
}

/// A new database identity (128 random bits, hex).
pub fn new_database_id() -> String {
    use rand::RngExt;
    format!("{:032x}", rand::rng().random::<u128>())
}
