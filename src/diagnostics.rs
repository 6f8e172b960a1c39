//! Problems found in a model and its data, collected (all of them, not the
//! first) and shown the way cargo shows errors: what is wrong, where in the
//! model file (file:line:column with the line and a caret), and for data
//! problems how many rows and a few of them.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Rows shown per data problem.
pub const SAMPLES: usize = 5;

/// One problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub message: String,
    /// Where in the model file (a byte range), when the problem is there.
    pub span: Option<Range<usize>>,
    /// For data problems: how many rows have it, and some of them.
    pub rows: Option<(u64, Vec<String>)>,
    /// Text to find in the model file when the problem has no span (the
    /// first place the file says it).
    pub near: Option<String>,
}

impl Problem {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            span: None,
            rows: None,
            near: None,
        }
    }

    pub fn at(message: impl Into<String>, span: Range<usize>) -> Self {
        Self {
            span: Some(span),
            ..Self::new(message)
        }
    }

    /// A data problem found in `count` rows, `samples` of them shown.
    pub fn rows(message: impl Into<String>, count: u64, samples: Vec<String>) -> Self {
        Self {
            rows: Some((count, samples)),
            ..Self::new(message)
        }
    }

    /// The same problem, shown where the model file first says `text`.
    pub fn near(mut self, text: String) -> Self {
        self.near = Some(text);
        self
    }
}

/// Every problem of one model file, renderable against its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problems {
    pub file: PathBuf,
    pub source: String,
    pub problems: Vec<Problem>,
}

impl Problems {
    pub fn new(file: &Path, source: &str) -> Self {
        Self {
            file: file.to_owned(),
            source: source.to_owned(),
            problems: Vec::new(),
        }
    }

    pub fn push(&mut self, problem: Problem) {
        self.problems.push(problem);
    }

    pub fn is_empty(&self) -> bool {
        self.problems.is_empty()
    }

    /// 1-based line and column of a byte offset.
    fn line_col(&self, offset: usize) -> (usize, usize) {
        let before = &self.source[..offset.min(self.source.len())];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, col)
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for problem in &self.problems {
            writeln!(f, "error: {}", problem.message)?;
            let span = problem.span.clone().or_else(|| {
                let near = problem.near.as_ref()?;
                let at = self.source.find(near.as_str())?;
                Some(at..at + near.len())
            });
            if let Some(span) = &span {
                let (line, col) = self.line_col(span.start);
                let text = self.source.lines().nth(line - 1).unwrap_or_default();
                let width = line.to_string().len();
                let pad = " ".repeat(width);
                writeln!(f, "{pad}--> {}:{line}:{col}", self.file.display())?;
                writeln!(f, "{pad} |")?;
                writeln!(f, "{line} | {text}")?;
                let len = self.source[span.clone()]
                    .lines()
                    .next()
                    .map_or(1, |l| l.chars().count().max(1));
                let len = len.min(text.chars().count().saturating_sub(col - 1).max(1));
                writeln!(f, "{pad} | {}{}", " ".repeat(col - 1), "^".repeat(len))?;
            }
            if let Some((count, samples)) = &problem.rows {
                let noun = if *count == 1 { "row" } else { "rows" };
                writeln!(f, "  = {count} {noun}; for example:")?;
                for sample in samples {
                    writeln!(f, "      {sample}")?;
                }
            }
            writeln!(f)?;
        }
        let n = self.problems.len();
        write!(
            f,
            "{}: {n} problem{}",
            self.file.display(),
            if n == 1 { "" } else { "s" }
        )
    }
}

impl std::error::Error for Problems {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_point_at_the_line_and_column_and_show_rows() {
        let source = "name = \"x\"\n[[measures]]\nscale = 9\n";
        let mut problems = Problems::new(Path::new("m.toml"), source);
        let at = source.find('9').unwrap();
        problems.push(Problem::at("scale 9 is out of range", at..at + 1));
        problems.push(Problem::rows(
            "keys without a member",
            12,
            vec!["product_id = 7".into()],
        ));
        let text = problems.to_string();
        assert!(text.contains("--> m.toml:3:9"), "{text}");
        assert!(text.contains("3 | scale = 9\n  |         ^"), "{text}");
        assert!(
            text.contains("= 12 rows; for example:\n      product_id = 7"),
            "{text}"
        );
        assert!(text.ends_with("m.toml: 2 problems"), "{text}");
    }
}
