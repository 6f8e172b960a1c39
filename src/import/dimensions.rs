//! Importing a dimension: its members from its source (its own table, or
//! the facts for a denormalised file), checked, numbered in hierarchy
//! order, into `dim_<d>` (one row per leaf: `leaf`, `key`, and per level
//! the member's name `l<i>` and caption `c<i>`), ending with the
//! placeholder leaf adjustments use.
//!
//! Checks, each reported with a count and sample rows: keys missing; a key
//! under two parents; a level's id under two parents or two ids with one
//! name under one parent (for levels with a `key`); nulls where the level
//! does not allow them; a member named like the placeholder.

use duckdb::Connection;

use super::sources::Sources;
use super::sql::{ident, literal, rows_problem};
use crate::diagnostics::Problem;
use crate::model::def::{DimensionDef, Nulls};

/// The member name of level `i` (trimmed; empty is null; a null becomes
/// the level's placeholder when it declares one).
fn name_expr(column: &str, nulls: &Nulls) -> String {
    let name = format!("nullif(trim(CAST({} AS VARCHAR)), '')", ident(column));
    match nulls {
        Nulls::Placeholder(member) => format!("coalesce({name}, {})", literal(member)),
        _ => name,
    }
}

/// Checks the columns a dimension needs exist in its source.
pub fn check_columns(d: &DimensionDef, sources: &Sources) -> Vec<Problem> {
    let what = format!("dimension {:?}", d.name);
    let mut columns = vec![d.key.as_str()];
    for l in &d.levels {
        columns.push(&l.column);
        columns.extend(l.key.as_deref());
        columns.extend(l.caption.as_deref());
        columns.extend(l.sort.as_deref());
    }
    columns
        .into_iter()
        .filter_map(|c| sources.column(d.source, c, &what).err())
        .collect()
}

/// Builds `dim_<index>` from the dimension's source and reports every
/// problem of its members (the table is built even then, so that the facts
/// can still be checked against it and every problem is reported at once).
pub fn import(
    conn: &Connection,
    index: usize,
    d: &DimensionDef,
    sources: &Sources,
) -> duckdb::Result<(u64, Vec<Problem>)> {
    let source = &sources.relations[d.source];
    let stage = format!("dimsrc_{index}");
    let mut select = vec![format!("CAST({} AS VARCHAR) AS key", ident(&d.key))];
    for (i, l) in d.levels.iter().enumerate() {
        select.push(format!("{} AS l{i}", name_expr(&l.column, &l.nulls)));
        select.push(match &l.key {
            Some(k) => format!("CAST({} AS VARCHAR) AS k{i}", ident(k)),
            None => format!("NULL::VARCHAR AS k{i}"),
        });
        select.push(match &l.caption {
            Some(c) => format!("CAST({} AS VARCHAR) AS c{i}", ident(c)),
            None => format!("NULL::VARCHAR AS c{i}"),
        });
        // Order: the sort column, else the level's id, else the name.
        select.push(match (&l.sort, &l.key) {
            (Some(s), _) => format!("{} AS s{i}", ident(s)),
            (None, Some(k)) => format!("{} AS s{i}", ident(k)),
            (None, None) => format!("NULL::VARCHAR AS s{i}"),
        });
    }
    conn.execute_batch(&format!(
        "CREATE TEMP TABLE {stage} AS SELECT DISTINCT {} FROM {source}",
        select.join(", ")
    ))?;
    let problems = check(conn, d, source, &stage)?;
    let n = d.levels.len();
    // Each member's order is the least sort value of its leaves (a member
    // stays contiguous whatever its leaves say); ties by name, then key.
    let mut orders = Vec::new();
    let mut order_by = Vec::new();
    let mut prefix = Vec::new();
    for i in 0..n {
        prefix.push(format!("l{i}"));
        orders.push(format!(
            "min(s{i}) OVER (PARTITION BY {}) AS o{i}",
            prefix.join(", ")
        ));
        order_by.push(format!("o{i} NULLS LAST, l{i} NULLS LAST"));
    }
    let levels: Vec<String> = (0..n).map(|i| format!("l{i}, c{i}")).collect();
    let firsts: Vec<String> = (0..n)
        .map(|i| format!("any_value(l{i}) AS l{i}, any_value(c{i}) AS c{i}, min(s{i}) AS s{i}"))
        .collect();
    let table = format!("dim_{index}");
    conn.execute_batch(&format!(
        "CREATE TABLE {table} AS
         SELECT CAST(row_number() OVER (ORDER BY {order}, key) - 1 AS INTEGER) AS leaf, key, {levels}
         FROM (SELECT *, {orders} FROM (SELECT key, {firsts} FROM {stage} WHERE key IS NOT NULL GROUP BY key))
         ORDER BY leaf;
         INSERT INTO {table}
         SELECT CAST(count(*) AS INTEGER), NULL, {placeholders} FROM {table};
         DROP TABLE {stage};",
        order = order_by.join(", "),
        levels = levels.join(", "),
        orders = orders.join(", "),
        firsts = firsts.join(", "),
        placeholders = vec![format!("{}, NULL", literal(&d.placeholder)); n].join(", "),
    ))?;
    let leaves: i64 = conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?;
    Ok((leaves as u64, problems))
}

fn check(
    conn: &Connection,
    d: &DimensionDef,
    source: &str,
    stage: &str,
) -> duckdb::Result<Vec<Problem>> {
    let dim = &d.name;
    let n = d.levels.len();
    let path: Vec<String> = (0..n).map(|i| format!("coalesce(l{i}, '∅')")).collect();
    let path = format!("concat_ws(' > ', {})", path.join(", "));
    let mut problems = Vec::new();
    let mut source_columns = vec![(d.key.as_str(), ident(&d.key))];
    source_columns.extend(
        d.levels
            .iter()
            .map(|l| (l.column.as_str(), ident(&l.column))),
    );
    problems.extend(rows_problem(
        conn,
        &format!("dimension {dim:?}: rows without a key ({})", d.key),
        source,
        &format!("{} IS NULL", ident(&d.key)),
        &source_columns,
    )?);
    problems.extend(rows_problem(
        conn,
        &format!("dimension {dim:?}: a key under two parents (its rows disagree on its levels)"),
        &format!("(SELECT key, string_agg(DISTINCT {path}, ' | ') AS paths, count(DISTINCT {path}) AS n FROM {stage} WHERE key IS NOT NULL GROUP BY key)"),
        "n > 1",
        &[("key", "key".into()), ("paths", "paths".into())],
    )?);
    for (i, l) in d.levels.iter().enumerate() {
        if l.nulls == Nulls::Error {
            problems.extend(rows_problem(
                conn,
                &format!(
                    "dimension {dim:?}: level {:?} is empty for some members (declare nulls = \"skip\" or a null_member to allow it)",
                    l.name
                ),
                stage,
                &format!("l{i} IS NULL AND key IS NOT NULL"),
                &[("key", "key".into()), ("path", path.clone())],
            )?);
        }
        if l.key.is_some() {
            let parent: Vec<String> = (0..i).map(|j| format!("coalesce(l{j}, '∅')")).collect();
            let parent = if parent.is_empty() {
                "''".to_owned()
            } else {
                format!("concat_ws(' > ', {})", parent.join(", "))
            };
            problems.extend(rows_problem(
                conn,
                &format!("dimension {dim:?}: a {:?} id under two parents, or with two names", l.name),
                &format!("(SELECT k{i} AS id, string_agg(DISTINCT {parent} || ' > ' || l{i}, ' | ') AS members, count(DISTINCT {parent} || ' > ' || l{i}) AS n FROM {stage} WHERE k{i} IS NOT NULL GROUP BY k{i})"),
                "n > 1",
                &[("id", "id".into()), ("members", "members".into())],
            )?);
            problems.extend(rows_problem(
                conn,
                &format!("dimension {dim:?}: two {:?} ids with one name under one parent", l.name),
                &format!("(SELECT {parent} || ' > ' || l{i} AS member, string_agg(DISTINCT k{i}, ', ') AS ids, count(DISTINCT k{i}) AS n FROM {stage} WHERE l{i} IS NOT NULL GROUP BY ALL)"),
                "n > 1",
                &[("member", "member".into()), ("ids", "ids".into())],
            )?);
        }
    }
    problems.extend(rows_problem(
        conn,
        &format!(
            "dimension {dim:?}: a member is named {:?}, the placeholder adjustments use (choose another `placeholder`)",
            d.placeholder
        ),
        stage,
        &format!("l0 = {}", literal(&d.placeholder)),
        &[("key", "key".into()), ("path", path.clone())],
    )?);
    Ok(problems)
}

/// Every leaf's member names and captions, in leaf order (for the model).
pub fn load(
    conn: &Connection,
    index: usize,
    levels: usize,
) -> duckdb::Result<Vec<crate::model::LeafPath>> {
    let cols: Vec<String> = (0..levels).map(|i| format!("l{i}, c{i}")).collect();
    let mut stmt = conn.prepare(&format!(
        "SELECT {} FROM dim_{index} ORDER BY leaf",
        cols.join(", ")
    ))?;
    let rows = stmt.query_map([], |r| {
        (0..levels)
            .map(|i| {
                let name: Option<String> = r.get(2 * i)?;
                let caption: Option<String> = r.get(2 * i + 1)?;
                Ok(name.map(|n| (n, caption)))
            })
            .collect::<duckdb::Result<Vec<_>>>()
    })?;
    rows.collect()
}
