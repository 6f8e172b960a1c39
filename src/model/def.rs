//! The model definition: which dimensions, levels, measures and sheets
//! exist, and where their data comes from. Owned and validated (see
//! `file.rs` for the model file it is read from); immutable while the
//! server runs. Every SQL identifier duckgrid uses comes from here or from
//! the store's fixed schema, quoted, never from a client.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::decimal::Units;

/// The most dimensions a model may have (fact keys are held in fixed arrays).
pub const MAX_DIMENSIONS: usize = 4;
/// The most measures a model may have.
pub const MAX_MEASURES: usize = 4;
/// The most decimal places a measure may have.
pub const MAX_SCALE: u32 = 6;

/// A validated model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelDef {
    pub name: String,
    pub display_name: String,
    /// The months every sheet's columns cover (facts outside are refused).
    pub months: MonthRange,
    pub sources: Vec<SourceDef>,
    pub facts: FactsDef,
    pub dimensions: Vec<DimensionDef>,
    pub measures: Vec<MeasureDef>,
    pub sheets: Vec<SheetDef>,
}

/// Consecutive calendar months.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthRange {
    /// The first day of the first month.
    pub first: NaiveDate,
    pub count: u16,
}

/// Where rows come from, read with DuckDB's own readers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceDef {
    pub name: String,
    pub kind: SourceKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SourceKind {
    /// `read_csv` over a path or glob, with column types that override the
    /// sniffer (codes like `00123` stay text).
    Csv {
        path: String,
        delimiter: Option<String>,
        header: bool,
        types: Vec<(String, String)>,
    },
    /// `read_parquet` over a path or glob.
    Parquet { path: String },
    /// A table of another DuckDB database, attached read-only.
    DuckDb { path: String, table: String },
}

/// The fact rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FactsDef {
    /// Index into [`ModelDef::sources`].
    pub source: usize,
    /// The date column (its month is the fact's column).
    pub date: String,
}

/// What a null in a level column means.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Nulls {
    /// A load error.
    Error,
    /// The level is skipped: the member below hangs from the one above.
    Skip,
    /// The member of this name.
    Placeholder(String),
}

/// One level of a hierarchy, outermost first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LevelDef {
    pub name: String,
    pub display_name: String,
    /// The column naming the member (its name in row paths).
    pub column: String,
    /// A column identifying the member across the whole level (an id):
    /// when given, one id under two parents, or two ids with one name
    /// under one parent, are load errors. Without it a member is its name
    /// under its parent (the same name under different parents is fine).
    pub key: Option<String>,
    /// A column with the member's caption (shown, not addressed).
    pub caption: Option<String>,
    /// A column members are ordered by (default: the level's key, else the
    /// members' names).
    pub sort: Option<String>,
    pub nulls: Nulls,
}

/// A dimension: leaves identified by a key, arranged in a hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DimensionDef {
    pub name: String,
    pub display_name: String,
    /// Index into [`ModelDef::sources`]: the dimension's own table, or the
    /// facts' source (a denormalised fact file).
    pub source: usize,
    /// The leaf key column of the source.
    pub key: String,
    /// The column of the facts referencing the key.
    pub fact_key: String,
    pub levels: Vec<LevelDef>,
    /// The member (at every level) that planning adjustments written
    /// through other dimensions' sheets use.
    pub placeholder: String,
}

/// A summed numeric fact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeasureDef {
    pub name: String,
    pub display_name: String,
    /// The column of the facts.
    pub column: String,
    /// Decimal places; values are exact at this scale.
    pub scale: u32,
    /// The smallest value a fact may hold, in units.
    pub min: Option<Units>,
}

/// The row hierarchy of a sheet, one or two dimensions deep.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowAxis {
    /// Index into [`ModelDef::dimensions`].
    pub dimension: usize,
    /// How many of its levels (from the top) are rows.
    pub depth: usize,
}

/// A sheet's fixed member of a dimension outside its rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilterDef {
    pub dimension: usize,
    /// The member's path of names from the top of the hierarchy.
    pub path: Vec<String>,
}

/// A pivot over the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SheetDef {
    pub id: String,
    pub display_name: String,
    /// One axis, or two (the second nested under the first's deepest rows).
    pub rows: Vec<RowAxis>,
    /// Quarter subtotal columns after each quarter's months.
    pub quarters: bool,
    /// Year subtotal columns after each year's months.
    pub years: bool,
    /// Indexes into [`ModelDef::measures`].
    pub measures: Vec<usize>,
    pub filters: Vec<FilterDef>,
}

impl ModelDef {
    /// What the stored data depends on: a database created from one model
    /// may be opened with another that agrees on this (sheets, titles and
    /// sources may change freely: the data was imported once).
    pub fn storage_signature(&self) -> String {
        #[derive(Serialize)]
        struct Storage<'a> {
            months: &'a MonthRange,
            dimensions: Vec<(&'a str, Vec<&'a str>, &'a str)>,
            measures: Vec<(&'a str, u32, Option<String>)>,
        }
        let storage = Storage {
            months: &self.months,
            dimensions: self
                .dimensions
                .iter()
                .map(|d| {
                    let levels = d.levels.iter().map(|l| l.name.as_str()).collect();
                    (d.name.as_str(), levels, d.placeholder.as_str())
                })
                .collect(),
            measures: self
                .measures
                .iter()
                .map(|m| (m.name.as_str(), m.scale, m.min.map(|v| v.to_string())))
                .collect(),
        };
        serde_json::to_string(&storage).expect("a model serialises")
    }

    pub fn dimension_index(&self, name: &str) -> Option<usize> {
        self.dimensions.iter().position(|d| d.name == name)
    }

    pub fn measure_index(&self, name: &str) -> Option<usize> {
        self.measures.iter().position(|m| m.name == name)
    }
}
