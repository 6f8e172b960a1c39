//! The model file (TOML; every key is documented in `docs/MODEL.md`), read
//! with serde into raw structures that keep where each value was, then
//! checked into a [`ModelDef`]: every problem is collected and reported
//! with its place in the file, not just the first.

mod parts;
mod raw;

use std::collections::HashSet;
use std::ops::Range;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use toml::Spanned;

use super::def::*;
use crate::diagnostics::{Problem, Problems};
use raw::*;

/// A model file read and checked: the definition, or every problem.
pub struct ModelFile {
    pub path: PathBuf,
    pub text: String,
    pub def: ModelDef,
}

impl ModelFile {
    /// Reads and checks the model file at `path`.
    pub fn read(path: &Path) -> Result<Self, Problems> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            let mut problems = Problems::new(path, "");
            problems.push(Problem::new(format!("cannot read the model file: {e}")));
            problems
        })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let def = parse(&text, dir).map_err(|list| {
            let mut problems = Problems::new(path, &text);
            problems.problems = list;
            problems
        })?;
        Ok(Self {
            path: path.to_owned(),
            text,
            def,
        })
    }
}

/// Parses and checks a model from its text; relative source paths are
/// resolved against `dir`.
pub fn parse(text: &str, dir: &Path) -> Result<ModelDef, Vec<Problem>> {
    let raw: RawModel = toml::from_str(text).map_err(|e| {
        vec![match e.span() {
            Some(span) => Problem::at(e.message().to_owned(), span),
            None => Problem::new(e.message().to_owned()),
        }]
    })?;
    let mut c = Checker::default();
    let def = c.model(raw, dir);
    if c.problems.is_empty() {
        Ok(def)
    } else {
        Err(c.problems)
    }
}

/// Collects problems while building the definition.
#[derive(Default)]
struct Checker {
    problems: Vec<Problem>,
}

/// Whether a name may be a model name, dimension, level, measure or sheet
/// id: lowercase ASCII letters, digits and `_`, starting with a letter.
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && name.len() <= 63
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// "net_amount" -> "Net amount".
fn title(name: &str) -> String {
    let spaced = name.replace('_', " ");
    let mut chars = spaced.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => spaced,
    }
}

impl Checker {
    fn problem(&mut self, message: impl Into<String>, span: Range<usize>) {
        self.problems.push(Problem::at(message, span));
    }

    fn identifier(&mut self, what: &str, name: &Spanned<String>) {
        if !is_identifier(name.get_ref()) {
            self.problem(
                format!(
                    "{what} {:?} is not a valid name: use lowercase letters, digits and _, starting with a letter",
                    name.get_ref()
                ),
                name.span(),
            );
        }
    }

    /// Checks names are unique; returns them in order.
    fn unique<'a>(&mut self, what: &str, names: impl Iterator<Item = &'a Spanned<String>>) {
        let mut seen = HashSet::new();
        for name in names {
            self.identifier(what, name);
            if !seen.insert(name.get_ref().clone()) {
                self.problem(
                    format!("{what} {:?} is declared twice", name.get_ref()),
                    name.span(),
                );
            }
        }
    }

    fn month(&mut self, text: &Spanned<String>) -> Option<NaiveDate> {
        let parsed = NaiveDate::parse_from_str(&format!("{}-01", text.get_ref()), "%Y-%m-%d").ok();
        if parsed.is_none() {
            self.problem(
                format!("{:?} is not a month: expected YYYY-MM", text.get_ref()),
                text.span(),
            );
        }
        parsed
    }

    fn model(&mut self, raw: RawModel, dir: &Path) -> ModelDef {
        self.identifier("model", &raw.name);
        let months = self.months(&raw.months);
        let source_names: Vec<String> = raw.sources.keys().cloned().collect();
        let sources: Vec<SourceDef> = raw
            .sources
            .into_iter()
            .map(|(name, s)| self.source(name, s, dir))
            .collect();
        let source_index = |c: &mut Self, name: &Spanned<String>| -> usize {
            match source_names.iter().position(|n| n == name.get_ref()) {
                Some(i) => i,
                None => {
                    c.problem(
                        format!(
                            "no source is named {:?} (sources: {})",
                            name.get_ref(),
                            source_names.join(", ")
                        ),
                        name.span(),
                    );
                    0
                }
            }
        };
        let facts = FactsDef {
            source: source_index(self, &raw.facts.get_ref().source),
            date: raw.facts.get_ref().date.get_ref().clone(),
        };
        if raw.dimensions.is_empty() || raw.dimensions.len() > MAX_DIMENSIONS {
            self.problem(
                format!("a model has 1 to {MAX_DIMENSIONS} dimensions"),
                raw.facts.span(),
            );
        }
        self.unique(
            "dimension",
            raw.dimensions.iter().map(|d| &d.get_ref().name),
        );
        let dimensions: Vec<DimensionDef> = raw
            .dimensions
            .iter()
            .map(|d| self.dimension(d.get_ref(), facts.source, &source_index))
            .collect();
        if raw.measures.is_empty() || raw.measures.len() > MAX_MEASURES {
            self.problem(
                format!("a model has 1 to {MAX_MEASURES} measures"),
                raw.facts.span(),
            );
        }
        self.unique("measure", raw.measures.iter().map(|m| &m.get_ref().name));
        let measures: Vec<MeasureDef> = raw
            .measures
            .iter()
            .map(|m| self.measure(m.get_ref()))
            .collect();
        // The `cube` view names a column after every dimension, level and
        // measure: they must not clash.
        let mut view_columns: HashSet<String> = ["fact_id", "month", "created_revision"]
            .map(str::to_owned)
            .into();
        for d in &dimensions {
            view_columns.insert(d.name.clone());
            for l in &d.levels {
                view_columns.insert(format!("{}_{}", d.name, l.name));
            }
        }
        for m in &raw.measures {
            let name = &m.get_ref().name;
            if view_columns.contains(name.get_ref()) {
                self.problem(
                    format!(
                        "measure {:?} has the name of a dimension, of a `<dimension>_<level>`, or one of fact_id, month, created_revision",
                        name.get_ref()
                    ),
                    name.span(),
                );
            }
        }
        if raw.sheets.is_empty() {
            self.problem("a model has at least one sheet", raw.name.span());
        }
        self.unique("sheet", raw.sheets.iter().map(|s| &s.get_ref().id));
        let sheets = raw
            .sheets
            .iter()
            .map(|s| self.sheet(s.get_ref(), &dimensions, &measures))
            .collect();
        ModelDef {
            display_name: raw
                .display_name
                .unwrap_or_else(|| title(raw.name.get_ref())),
            name: raw.name.into_inner(),
            months,
            sources,
            facts,
            dimensions,
            measures,
            sheets,
        }
    }

    fn months(&mut self, raw: &Spanned<RawMonths>) -> MonthRange {
        let m = raw.get_ref();
        let (first, last) = (self.month(&m.first), self.month(&m.last));
        let fallback = MonthRange {
            first: NaiveDate::from_ymd_opt(2000, 1, 1).expect("a date"),
            count: 1,
        };
        let (Some(first), Some(last)) = (first, last) else {
            return fallback;
        };
        use chrono::Datelike;
        let count =
            (last.year() - first.year()) * 12 + last.month0() as i32 - first.month0() as i32 + 1;
        if !(1..=1200).contains(&count) {
            self.problem(
                "months: `last` must be from `first` to 100 years after it",
                raw.span(),
            );
            return fallback;
        }
        MonthRange {
            first,
            count: count as u16,
        }
    }
}
