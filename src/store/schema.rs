//! The database schema.

use duckdb::Connection;

/// Bumped whenever the schema changes incompatibly.
pub const VERSION: &str = "1";

/// The tables. Dimension tables have one row per leaf with the id and name of
/// every level above it (ids dense, in hierarchy order: see the model
/// invariant). Measures are exact: quantities whole units, amounts
/// `DECIMAL(18,2)`.
pub const DDL: &str = "
CREATE TABLE duckgrid_meta (
    key   VARCHAR PRIMARY KEY,
    value VARCHAR NOT NULL
);
CREATE TABLE product (
    product_id  INTEGER NOT NULL,
    product     VARCHAR NOT NULL,
    family_id   INTEGER NOT NULL,
    family      VARCHAR NOT NULL,
    brand_id    INTEGER NOT NULL,
    brand       VARCHAR NOT NULL,
    supplier_id INTEGER NOT NULL,
    supplier    VARCHAR NOT NULL,
    unit_price  DECIMAL(18,2) NOT NULL
);
CREATE TABLE customer (
    customer_id   INTEGER NOT NULL,
    customer      VARCHAR NOT NULL,
    customer_type VARCHAR NOT NULL,
    city_id       INTEGER NOT NULL,
    city          VARCHAR NOT NULL,
    province_id   INTEGER NOT NULL,
    province      VARCHAR NOT NULL
);
-- Facts. created_revision is 0 for seeded facts and the creating revision
-- for adjustment facts (written to cells that had no facts).
CREATE TABLE sales (
    sale_id          BIGINT NOT NULL,
    invoice_date     DATE NOT NULL,
    product_id       INTEGER NOT NULL,
    customer_id      INTEGER NOT NULL,
    quantity         BIGINT NOT NULL,
    net_amount       DECIMAL(18,2) NOT NULL,
    created_revision BIGINT NOT NULL
);
-- One row per revision, written in the same transaction as the facts: the
-- source of truth for change events. event is a duckgrid.v1.ChangeEvent.
CREATE TABLE changelog (
    revision     BIGINT PRIMARY KEY,
    committed_at TIMESTAMP NOT NULL,
    actor        VARCHAR NOT NULL,
    request_id   VARCHAR,
    event        BLOB NOT NULL
);
CREATE INDEX changelog_request_id ON changelog (request_id);
";

/// The schema version of an existing database, or `None` for a new one.
pub fn version(conn: &Connection) -> duckdb::Result<Option<String>> {
    let exists: i64 = conn.query_row(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'duckgrid_meta' AND NOT temporary",
        [],
        |r| r.get(0),
    )?;
    if exists == 0 {
        return Ok(None);
    }
    conn.query_row(
        "SELECT value FROM duckgrid_meta WHERE key = 'schema_version'",
        [],
        |r| r.get(0),
    )
    .map(Some)
}
