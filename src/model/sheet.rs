//! A sheet's rows and columns, built from its definition and the
//! dimensions.
//!
//! **Rows** are a tree in pre-order: the grand total, then the members of
//! the first row dimension down to the sheet's depth, each subtotal before
//! its children; with a second row dimension, each deepest row of the first
//! holds the second's members beneath it (e.g. region > city > product
//! family, with subtotals at every level of both). A row's facts are those
//! under its members (and the sheet's filters); a row's subtree is a
//! contiguous range of rows.
//!
//! **Columns** are the months, optionally with a quarter subtotal after
//! each quarter and a year subtotal after each year, then the total.

use std::collections::HashMap;
use std::ops::{Range, RangeInclusive};

use chrono::{Datelike, NaiveDate};

use super::def::{MonthRange, SheetDef};
use super::dimension::Dimension;
use super::months::month_start;

/// Not a row (a member deeper than the sheet shows).
const NONE: u32 = u32::MAX;

/// One row.
#[derive(Debug, Clone)]
pub struct Row {
    /// `NONE` for the grand total.
    pub parent: u32,
    pub name: String,
    pub caption: Option<String>,
    /// One past the last row of the subtree.
    pub end: u32,
    /// True when the row has no rows beneath it.
    pub leaf: bool,
    /// True for a deepest row of the first axis holding the second axis's
    /// rows beneath it.
    pub nests: bool,
    /// The members the row is under: (dimension, leaves), for the first
    /// axis and (when it is nested) the second.
    pub constraint: Vec<(usize, RangeInclusive<u32>)>,
}

/// What a column adds up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    Month,
    Quarter,
    Year,
    Total,
}

/// One column.
#[derive(Debug, Clone)]
pub struct Column {
    pub kind: ColumnKind,
    pub key: String,
    pub display_name: String,
    /// The months it covers (indexes into the model's months).
    pub months: Range<u16>,
}

/// A sheet, ready for addressing and rolling up.
#[derive(Debug)]
pub struct Sheet {
    pub def: SheetDef,
    /// Its resource name, `sheets/{id}`.
    pub name: String,
    pub rows: Vec<Row>,
    pub columns: Vec<Column>,
    /// The sheet's fixed members of other dimensions: (dimension, leaves).
    pub filters: Vec<(usize, RangeInclusive<u32>)>,
    by_name: HashMap<(u32, String), u32>,
    by_key: HashMap<String, u16>,
    /// Per axis: the row of each member (first axis), or its offset below
    /// the first axis's deepest row (second axis); `NONE` when not a row.
    /// Only while the rows are built: `leaf_rows` is what is kept.
    axis_rows: Vec<Vec<u32>>,
    /// Per axis: the same for each leaf key, for its deepest member shown
    /// (every fact of every write is looked up here, once per sheet).
    leaf_rows: Vec<Vec<u32>>,
    /// Per month: the columns that contain it.
    month_columns: Vec<Vec<u16>>,
}

impl Sheet {
    pub fn new(
        def: SheetDef,
        dims: &[Dimension],
        months: &MonthRange,
        filters: Vec<(usize, RangeInclusive<u32>)>,
    ) -> Self {
        let columns = columns(&def, months);
        let mut month_columns = vec![Vec::new(); months.count as usize];
        for (i, c) in columns.iter().enumerate() {
            for m in c.months.clone() {
                month_columns[m as usize].push(i as u16);
            }
        }
        let by_key = columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.key.clone(), i as u16))
            .collect();
        let mut sheet = Sheet {
            name: format!("sheets/{}", def.id),
            def,
            rows: Vec::new(),
            columns,
            filters,
            by_name: HashMap::new(),
            by_key,
            axis_rows: Vec::new(),
            leaf_rows: Vec::new(),
            month_columns,
        };
        sheet.build_rows(dims);
        sheet
    }

    fn build_rows(&mut self, dims: &[Dimension]) {
        let axes = self.def.rows.clone();
        let first = &dims[axes[0].dimension];
        self.axis_rows = axes
            .iter()
            .map(|a| vec![NONE; dims[a.dimension].members.len()])
            .collect();
        // The second axis's rows, in pre-order, as offsets below a deepest
        // row of the first.
        if let Some(second) = axes.get(1) {
            let d = &dims[second.dimension];
            let mut order = Vec::new();
            preorder(d, 0, second.depth, &mut order);
            for (offset, &m) in order.iter().enumerate().skip(1) {
                self.axis_rows[1][m as usize] = offset as u32 - 1;
            }
        }
        self.rows.push(Row {
            parent: NONE,
            name: String::new(),
            caption: None,
            end: 0,
            leaf: false,
            nests: false,
            constraint: Vec::new(),
        });
        self.axis_rows[0][0] = 0;
        self.add_first_axis(dims, first, 0, 0, axes[0].depth);
        let end = self.rows.len() as u32;
        self.rows[0].end = end;
        self.rows[0].leaf = end == 1;
        self.leaf_rows = axes
            .iter()
            .zip(std::mem::take(&mut self.axis_rows))
            .map(|(a, rows)| {
                let d = &dims[a.dimension];
                (0..d.leaf_count())
                    .map(|leaf| rows[d.deepest_above(leaf, a.depth) as usize])
                    .collect()
            })
            .collect();
    }

    /// Adds the rows beneath first-axis member `member` (at row `row`).
    fn add_first_axis(
        &mut self,
        dims: &[Dimension],
        d: &Dimension,
        member: u32,
        row: u32,
        depth: usize,
    ) {
        let dim = self.def.rows[0].dimension;
        let children: Vec<u32> = shown_children(d, member, depth);
        if children.is_empty()
            && member != 0
            && let Some(second) = self.def.rows.get(1).cloned()
        {
            self.rows[row as usize].nests = true;
            let b = &dims[second.dimension];
            let outer = d.members[member as usize].leaves.clone();
            self.add_second_axis(b, 0, row, second.depth, second.dimension, &outer);
        }
        for child in children {
            let m = &d.members[child as usize];
            let r = self.push_row(
                row,
                m.name.clone(),
                m.caption.clone(),
                vec![(dim, m.leaves.clone())],
            );
            self.axis_rows[0][child as usize] = r;
            self.add_first_axis(dims, d, child, r, depth);
            self.close(r);
        }
    }

    fn add_second_axis(
        &mut self,
        d: &Dimension,
        member: u32,
        row: u32,
        depth: usize,
        dim: usize,
        outer: &RangeInclusive<u32>,
    ) {
        let outer_dim = self.def.rows[0].dimension;
        for child in shown_children(d, member, depth) {
            let m = &d.members[child as usize];
            let constraint = vec![(outer_dim, outer.clone()), (dim, m.leaves.clone())];
            let r = self.push_row(row, m.name.clone(), m.caption.clone(), constraint);
            self.add_second_axis(d, child, r, depth, dim, outer);
            self.close(r);
        }
    }

    fn push_row(
        &mut self,
        parent: u32,
        name: String,
        caption: Option<String>,
        constraint: Vec<(usize, RangeInclusive<u32>)>,
    ) -> u32 {
        let r = self.rows.len() as u32;
        self.by_name.insert((parent, name.clone()), r);
        self.rows.push(Row {
            parent,
            name,
            caption,
            end: 0,
            leaf: false,
            nests: false,
            constraint,
        });
        r
    }

    fn close(&mut self, row: u32) {
        let end = self.rows.len() as u32;
        let r = &mut self.rows[row as usize];
        r.end = end;
        r.leaf = end == row + 1;
    }

    /// The row a path of names leads to.
    pub fn find_row(&self, path: &[String]) -> Option<u32> {
        path.iter().try_fold(0u32, |row, name| {
            self.by_name.get(&(row, name.clone())).copied()
        })
    }

    /// The row's path of names from the top.
    pub fn path(&self, row: u32) -> Vec<String> {
        let mut names = Vec::with_capacity(self.depth(row));
        self.path_names(row, &mut names);
        names.into_iter().map(str::to_owned).collect()
    }

    /// [`Sheet::path`], borrowed, into `out` (cleared first).
    pub fn path_names<'a>(&'a self, row: u32, out: &mut Vec<&'a str>) {
        out.clear();
        let mut r = row;
        while r != 0 {
            let row = &self.rows[r as usize];
            out.push(&row.name);
            r = row.parent;
        }
        out.reverse();
    }

    /// How deep a row is (0: the grand total).
    pub fn depth(&self, row: u32) -> usize {
        let mut depth = 0;
        let mut r = row;
        while r != 0 {
            r = self.rows[r as usize].parent;
            depth += 1;
        }
        depth
    }

    pub fn column(&self, key: &str) -> Option<u16> {
        self.by_key.get(key).copied()
    }

    /// The columns a month adds into.
    pub fn columns_of(&self, month: u16) -> &[u16] {
        &self.month_columns[month as usize]
    }

    /// Whether a fact with these dimension keys is in the sheet (its filters).
    pub fn includes(&self, keys: &[u32]) -> bool {
        self.filters
            .iter()
            .all(|(d, range)| range.contains(&keys[*d]))
    }

    /// The deepest row of a fact with these keys (`None` outside the
    /// filters); its ancestors are the other rows it adds into.
    pub fn deepest_row(&self, keys: &[u32]) -> Option<u32> {
        if !self.includes(keys) {
            return None;
        }
        let first = &self.def.rows[0];
        let row = self.leaf_rows[0][keys[first.dimension] as usize];
        let Some(second) = self.def.rows.get(1) else {
            return Some(row);
        };
        // A second-axis block hangs only from the first axis's deepest rows
        // (a ragged member with facts of its own keeps them to itself).
        let offset = self.leaf_rows[1][keys[second.dimension] as usize];
        if offset == NONE || !self.rows[row as usize].nests {
            return Some(row);
        }
        Some(row + 1 + offset)
    }
}

/// The children of `member` that are rows of a sheet `depth` levels deep.
fn shown_children(d: &Dimension, member: u32, depth: usize) -> Vec<u32> {
    d.members[member as usize]
        .children
        .iter()
        .copied()
        .filter(|&c| {
            d.members[c as usize]
                .level
                .is_some_and(|l| (l as usize) < depth)
        })
        .collect()
}

fn preorder(d: &Dimension, member: u32, depth: usize, out: &mut Vec<u32>) {
    out.push(member);
    for c in shown_children(d, member, depth) {
        preorder(d, c, depth, out);
    }
}

/// The columns of a sheet: months with quarter and year subtotals as
/// declared, then the total.
fn columns(def: &SheetDef, months: &MonthRange) -> Vec<Column> {
    let mut out = Vec::new();
    let n = months.count;
    let (mut quarter_start, mut year_start) = (0u16, 0u16);
    for m in 0..n {
        let date = month_start(months, m);
        out.push(Column {
            kind: ColumnKind::Month,
            key: date.format("%Y-%m").to_string(),
            display_name: date.format("%b %Y").to_string(),
            months: m..m + 1,
        });
        let next = (m + 1 < n).then(|| month_start(months, m + 1));
        let quarter_ends = next.is_none_or(|d| d.month0() % 3 == 0);
        let year_ends = next.is_none_or(|d| d.month0() == 0);
        if def.quarters && quarter_ends {
            let q = date.month0() / 3 + 1;
            out.push(Column {
                kind: ColumnKind::Quarter,
                key: format!("{}-Q{q}", date.year()),
                display_name: format!("Q{q} {}", date.year()),
                months: quarter_start..m + 1,
            });
            quarter_start = m + 1;
        }
        if def.years && year_ends {
            out.push(Column {
                kind: ColumnKind::Year,
                key: date.year().to_string(),
                display_name: date.year().to_string(),
                months: year_start..m + 1,
            });
            year_start = m + 1;
        }
        if quarter_ends {
            quarter_start = m + 1;
        }
        if year_ends {
            year_start = m + 1;
        }
    }
    out.push(Column {
        kind: ColumnKind::Total,
        key: super::TOTAL_COLUMN.to_owned(),
        display_name: "Total".to_owned(),
        months: 0..n,
    });
    out
}

/// The first day of the month after a column's last.
pub fn period_end(months: &MonthRange, col: &Column) -> NaiveDate {
    month_start(months, col.months.end)
}
