//! Checking the parts of a model file: sources, dimensions and their
//! levels, measures, sheets.

use std::path::Path;

use toml::Spanned;

use super::raw::*;
use super::{Checker, title};
use crate::decimal;
use crate::model::def::*;

impl Checker {
    pub(super) fn source(
        &mut self,
        name: String,
        raw: Spanned<RawSource>,
        dir: &Path,
    ) -> SourceDef {
        let span = raw.span();
        let s = raw.into_inner();
        let path = |p: &Spanned<String>| -> String {
            let p = Path::new(p.get_ref());
            if p.is_absolute() {
                p.display().to_string()
            } else {
                dir.join(p).display().to_string()
            }
        };
        let kinds = [s.csv.is_some(), s.parquet.is_some(), s.duckdb.is_some()];
        if kinds.iter().filter(|k| **k).count() != 1 {
            self.problem(
                format!(
                    "source {name:?} needs exactly one of `csv`, `parquet` or `duckdb` (a path)"
                ),
                span.clone(),
            );
        }
        let csv_options = s.delimiter.is_some() || s.header.is_some() || !s.types.is_empty();
        let kind = if let Some(csv) = &s.csv {
            if let Some(d) = &s.delimiter
                && d.get_ref().chars().count() != 1
            {
                self.problem("`delimiter` is one character", d.span());
            }
            SourceKind::Csv {
                path: path(csv),
                delimiter: s.delimiter.map(Spanned::into_inner),
                header: s.header.unwrap_or(true),
                types: s.types.into_iter().collect(),
            }
        } else if let Some(parquet) = &s.parquet {
            if csv_options {
                self.problem(
                    "`delimiter`, `header` and `types` are for CSV sources",
                    span.clone(),
                );
            }
            SourceKind::Parquet {
                path: path(parquet),
            }
        } else if let Some(db) = &s.duckdb {
            let Some(table) = &s.table else {
                self.problem(
                    format!("source {name:?}: a DuckDB source names its `table`"),
                    span.clone(),
                );
                return SourceDef {
                    name,
                    kind: SourceKind::Parquet {
                        path: String::new(),
                    },
                };
            };
            SourceKind::DuckDb {
                path: path(db),
                table: table.get_ref().clone(),
            }
        } else {
            SourceKind::Parquet {
                path: String::new(),
            }
        };
        if s.table.is_some() && s.duckdb.is_none() {
            self.problem("`table` is for DuckDB sources", span);
        }
        SourceDef { name, kind }
    }

    pub(super) fn dimension(
        &mut self,
        d: &RawDimension,
        facts_source: usize,
        source_index: &dyn Fn(&mut Self, &Spanned<String>) -> usize,
    ) -> DimensionDef {
        let source = d
            .source
            .as_ref()
            .map_or(facts_source, |s| source_index(self, s));
        let levels = d.levels.get_ref();
        if levels.is_empty() {
            self.problem("a dimension has at least one level", d.levels.span());
        }
        self.unique("level", levels.iter().map(|l| &l.get_ref().name));
        let levels = levels.iter().map(|l| self.level(l.get_ref())).collect();
        let placeholder = d
            .placeholder
            .as_ref()
            .map_or_else(|| "(unassigned)".to_owned(), |p| p.get_ref().clone());
        if placeholder.is_empty() {
            self.problem(
                "`placeholder` cannot be empty",
                d.placeholder.as_ref().map(|p| p.span()).unwrap_or_default(),
            );
        }
        DimensionDef {
            name: d.name.get_ref().clone(),
            display_name: d
                .display_name
                .clone()
                .unwrap_or_else(|| title(d.name.get_ref())),
            source,
            key: d.key.get_ref().clone(),
            fact_key: d
                .fact_key
                .as_ref()
                .map_or_else(|| d.key.get_ref().clone(), |k| k.get_ref().clone()),
            levels,
            placeholder,
        }
    }

    fn level(&mut self, l: &RawLevel) -> LevelDef {
        let nulls = match (
            l.nulls.as_ref().map(|n| n.get_ref().as_str()),
            &l.null_member,
        ) {
            (None | Some("error"), None) => Nulls::Error,
            (Some("skip"), None) => Nulls::Skip,
            (None | Some("placeholder"), Some(member)) if !member.get_ref().is_empty() => {
                Nulls::Placeholder(member.get_ref().clone())
            }
            (_, Some(member)) => {
                self.problem(
                    "`null_member` names the member nulls become (with `nulls = \"placeholder\"` or no `nulls`)",
                    member.span(),
                );
                Nulls::Error
            }
            (Some(other), None) => {
                self.problem(
                    format!(
                        "nulls = {other:?}: expected \"error\", \"skip\" or \"placeholder\" (with `null_member`)"
                    ),
                    l.nulls.as_ref().expect("some").span(),
                );
                Nulls::Error
            }
        };
        LevelDef {
            name: l.name.get_ref().clone(),
            display_name: l
                .display_name
                .clone()
                .unwrap_or_else(|| title(l.name.get_ref())),
            column: l.column.get_ref().clone(),
            key: l.key.clone(),
            caption: l.caption.clone(),
            sort: l.sort.clone(),
            nulls,
        }
    }

    pub(super) fn measure(&mut self, m: &RawMeasure) -> MeasureDef {
        let scale = match u32::try_from(*m.scale.get_ref()) {
            Ok(s) if s <= MAX_SCALE => s,
            _ => {
                self.problem(
                    format!(
                        "scale {} is out of range: 0 to {MAX_SCALE} decimal places",
                        m.scale.get_ref()
                    ),
                    m.scale.span(),
                );
                0
            }
        };
        let min = m.min.as_ref().and_then(|v| {
            let text = match v.get_ref() {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                other => other.to_string(),
            };
            match decimal::parse(&text, scale) {
                Ok(units) => Some(units),
                Err(e) => {
                    self.problem(
                        format!("min {e} (at the measure's scale {scale})"),
                        v.span(),
                    );
                    None
                }
            }
        });
        MeasureDef {
            name: m.name.get_ref().clone(),
            display_name: m
                .display_name
                .clone()
                .unwrap_or_else(|| title(m.name.get_ref())),
            column: m
                .column
                .as_ref()
                .map_or_else(|| m.name.get_ref().clone(), |c| c.get_ref().clone()),
            scale,
            min,
        }
    }

    pub(super) fn sheet(
        &mut self,
        s: &RawSheet,
        dims: &[DimensionDef],
        measures: &[MeasureDef],
    ) -> SheetDef {
        let dimension = |c: &mut Self, name: &Spanned<String>| -> Option<usize> {
            let found = dims.iter().position(|d| d.name == *name.get_ref());
            if found.is_none() {
                let known: Vec<&str> = dims.iter().map(|d| d.name.as_str()).collect();
                c.problem(
                    format!(
                        "no dimension is named {:?} (dimensions: {})",
                        name.get_ref(),
                        known.join(", ")
                    ),
                    name.span(),
                );
            }
            found
        };
        let axes = s.rows.get_ref();
        if axes.is_empty() || axes.len() > 2 {
            self.problem(
                "a sheet's rows are the levels of one dimension, or of two",
                s.rows.span(),
            );
        }
        let mut rows = Vec::new();
        for axis in axes {
            let a = axis.get_ref();
            let Some(d) = dimension(self, &a.dimension) else {
                continue;
            };
            if rows.iter().any(|r: &RowAxis| r.dimension == d) {
                self.problem(
                    "a sheet's two row dimensions must differ",
                    a.dimension.span(),
                );
            }
            let levels = &dims[d].levels;
            let depth = match &a.to {
                None => levels.len(),
                Some(to) => match levels.iter().position(|l| l.name == *to.get_ref()) {
                    Some(i) => i + 1,
                    None => {
                        let known: Vec<&str> = levels.iter().map(|l| l.name.as_str()).collect();
                        self.problem(
                            format!(
                                "dimension {:?} has no level {:?} (levels: {})",
                                dims[d].name,
                                to.get_ref(),
                                known.join(", ")
                            ),
                            to.span(),
                        );
                        levels.len()
                    }
                },
            };
            rows.push(RowAxis {
                dimension: d,
                depth,
            });
        }
        let measure_indexes = match &s.measures {
            None => (0..measures.len()).collect(),
            Some(names) => {
                let mut out = Vec::new();
                for name in names {
                    match measures.iter().position(|m| m.name == *name.get_ref()) {
                        Some(i) if out.contains(&i) => {
                            self.problem("a measure listed twice", name.span())
                        }
                        Some(i) => out.push(i),
                        None => self.problem(
                            format!("no measure is named {:?}", name.get_ref()),
                            name.span(),
                        ),
                    }
                }
                out
            }
        };
        let mut filters: Vec<FilterDef> = Vec::new();
        for f in &s.filters {
            let f = f.get_ref();
            let Some(d) = dimension(self, &f.dimension) else {
                continue;
            };
            if rows.iter().any(|r| r.dimension == d) {
                self.problem(
                    "a filter fixes a dimension that is not one of the sheet's rows",
                    f.dimension.span(),
                );
            } else if filters.iter().any(|x| x.dimension == d) {
                self.problem("one filter per dimension", f.dimension.span());
            } else if f.member.get_ref().is_empty()
                || f.member.get_ref().len() > dims[d].levels.len()
            {
                self.problem(
                    format!(
                        "a filter's member is a path of 1 to {} names",
                        dims[d].levels.len()
                    ),
                    f.member.span(),
                );
            } else {
                filters.push(FilterDef {
                    dimension: d,
                    path: f.member.get_ref().clone(),
                });
            }
        }
        SheetDef {
            id: s.id.get_ref().clone(),
            display_name: s
                .display_name
                .clone()
                .unwrap_or_else(|| title(s.id.get_ref())),
            rows,
            quarters: s.columns.quarters,
            years: s.columns.years,
            measures: measure_indexes,
            filters,
        }
    }
}
