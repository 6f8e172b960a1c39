//! The model file as serde reads it: every value kept with its place in
//! the file (`Spanned`), unknown keys refused.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawModel {
    pub(super) name: Spanned<String>,
    pub(super) display_name: Option<String>,
    pub(super) months: Spanned<RawMonths>,
    #[serde(default)]
    pub(super) sources: BTreeMap<String, Spanned<RawSource>>,
    pub(super) facts: Spanned<RawFacts>,
    #[serde(default)]
    pub(super) dimensions: Vec<Spanned<RawDimension>>,
    #[serde(default)]
    pub(super) measures: Vec<Spanned<RawMeasure>>,
    #[serde(default)]
    pub(super) sheets: Vec<Spanned<RawSheet>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMonths {
    pub(super) first: Spanned<String>,
    pub(super) last: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSource {
    pub(super) csv: Option<Spanned<String>>,
    pub(super) parquet: Option<Spanned<String>>,
    pub(super) duckdb: Option<Spanned<String>>,
    pub(super) table: Option<Spanned<String>>,
    pub(super) delimiter: Option<Spanned<String>>,
    pub(super) header: Option<bool>,
    #[serde(default)]
    pub(super) types: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFacts {
    pub(super) source: Spanned<String>,
    pub(super) date: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDimension {
    pub(super) name: Spanned<String>,
    pub(super) display_name: Option<String>,
    pub(super) source: Option<Spanned<String>>,
    pub(super) key: Spanned<String>,
    pub(super) fact_key: Option<Spanned<String>>,
    pub(super) placeholder: Option<Spanned<String>>,
    pub(super) levels: Spanned<Vec<Spanned<RawLevel>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLevel {
    pub(super) name: Spanned<String>,
    pub(super) display_name: Option<String>,
    pub(super) column: Spanned<String>,
    pub(super) key: Option<String>,
    pub(super) caption: Option<String>,
    pub(super) sort: Option<String>,
    pub(super) nulls: Option<Spanned<String>>,
    pub(super) null_member: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMeasure {
    pub(super) name: Spanned<String>,
    pub(super) display_name: Option<String>,
    pub(super) column: Option<Spanned<String>>,
    pub(super) scale: Spanned<i64>,
    pub(super) min: Option<Spanned<toml::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSheet {
    pub(super) id: Spanned<String>,
    pub(super) display_name: Option<String>,
    pub(super) rows: Spanned<Vec<Spanned<RawAxis>>>,
    #[serde(default)]
    pub(super) columns: RawColumns,
    pub(super) measures: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    pub(super) filters: Vec<Spanned<RawFilter>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawColumns {
    #[serde(default)]
    pub(super) quarters: bool,
    #[serde(default)]
    pub(super) years: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAxis {
    pub(super) dimension: Spanned<String>,
    pub(super) to: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFilter {
    pub(super) dimension: Spanned<String>,
    pub(super) member: Spanned<Vec<String>>,
}
