//! A tiny model for unit tests, and the tests of sheets (rows, columns,
//! nesting, filters) and of the model file.

use std::path::Path;

use super::*;

/// The model file of the tiny model: products (supplier > brand > family)
/// and customers (province > city), months from November 2024 to March
/// 2025, and three sheets: by family; by city with families nested and
/// quarter and year columns; by family, for one province only.
pub const TINY: &str = r#"
name = "tiny"
[months]
first = "2024-11"
last = "2025-03"
[sources.facts]
csv = "facts.csv"
[facts]
source = "facts"
date = "day"
[[dimensions]]
name = "product"
key = "product_id"
levels = [{ name = "supplier", column = "supplier" }, { name = "brand", column = "brand" }, { name = "family", column = "family" }]
[[dimensions]]
name = "customer"
key = "customer_id"
levels = [{ name = "province", column = "province" }, { name = "city", column = "city" }]
[[measures]]
name = "quantity"
scale = 0
min = 0
[[measures]]
name = "amount"
scale = 2
[[sheets]]
id = "by_family"
rows = [{ dimension = "product" }]
[[sheets]]
id = "city_by_family"
rows = [{ dimension = "customer" }, { dimension = "product", to = "brand" }]
columns = { quarters = true, years = true }
[[sheets]]
id = "north_by_family"
rows = [{ dimension = "product" }]
measures = ["amount"]
filters = [{ dimension = "customer", member = ["North"] }]
"#;

fn leaves(rows: &[&[&str]]) -> Vec<LeafPath> {
    rows.iter()
        .map(|r| r.iter().map(|n| Some((n.to_string(), None))).collect())
        .collect()
}

/// Leaves: products P0 = S0 > B0 > F0, P1 = S0 > B0 > F1, P2 = S1 > B1 > F0,
/// then the placeholder; customers K0 = North > Alpha, K1 = South > Beta,
/// then the placeholder.
pub fn tiny_model() -> Model {
    let def = file::parse(TINY, Path::new(".")).expect("the tiny model parses");
    let products = leaves(&[
        &["S0", "B0", "F0"],
        &["S0", "B0", "F1"],
        &["S1", "B1", "F0"],
        &["(unassigned)", "(unassigned)", "(unassigned)"],
    ]);
    let customers = leaves(&[
        &["North", "Alpha"],
        &["South", "Beta"],
        &["(unassigned)", "(unassigned)"],
    ]);
    let dims = vec![
        Dimension::from_leaves("product", 3, &products).unwrap(),
        Dimension::from_leaves("customer", 2, &customers).unwrap(),
    ];
    Model::new(def, dims).unwrap()
}

fn paths(sheet: &Sheet) -> Vec<String> {
    (0..sheet.rows.len() as u32)
        .map(|r| sheet.path(r).join(">"))
        .collect()
}

#[test]
fn rows_are_in_pre_order_with_subtotals_first() {
    let m = tiny_model();
    let s = &m.sheets[0];
    assert_eq!(
        paths(s),
        [
            "",
            "S0",
            "S0>B0",
            "S0>B0>F0",
            "S0>B0>F1",
            "S1",
            "S1>B1",
            "S1>B1>F0",
            "(unassigned)",
            "(unassigned)>(unassigned)",
            "(unassigned)>(unassigned)>(unassigned)",
        ]
    );
    let b0 = s.find_row(&["S0".into(), "B0".into()]).unwrap();
    assert_eq!(s.rows[b0 as usize].end, b0 + 3);
    assert!(s.rows[b0 as usize + 1].leaf && !s.rows[b0 as usize].leaf);
    // A fact of P1 (leaf 1) lands on S0 > B0 > F1.
    assert_eq!(
        s.deepest_row(&[1, 0, 0, 0]),
        s.find_row(&["S0".into(), "B0".into(), "F1".into()])
    );
}

#[test]
fn a_second_row_dimension_nests_under_the_first_ones_deepest_rows() {
    let m = tiny_model();
    let s = &m.sheets[1];
    let alpha = s.find_row(&["North".into(), "Alpha".into()]).unwrap();
    let b0 = s
        .find_row(&["North".into(), "Alpha".into(), "S0".into(), "B0".into()])
        .unwrap();
    assert!(s.rows[alpha as usize].nests);
    assert_eq!(s.depth(b0), 4);
    // Facts of P0 for K0 land on North > Alpha > S0 > B0.
    assert_eq!(s.deepest_row(&[0, 0, 0, 0]), Some(b0));
    // Its constraint is both members.
    assert_eq!(s.rows[b0 as usize].constraint, vec![(1, 0..=0), (0, 0..=1)]);
    // Three cities (the placeholder's included), each with 3 suppliers and
    // 3 brands beneath, plus 3 provinces and the grand total.
    assert_eq!(s.rows.len(), 1 + 3 + 3 * (1 + 3 + 3));
}

#[test]
fn columns_have_quarter_and_year_subtotals_where_declared() {
    let m = tiny_model();
    let keys: Vec<&str> = m.sheets[1].columns.iter().map(|c| c.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "2024-11", "2024-12", "2024-Q4", "2024", "2025-01", "2025-02", "2025-03", "2025-Q1",
            "2025", "total"
        ]
    );
    let s = &m.sheets[1];
    let q4 = s.column("2024-Q4").unwrap();
    assert_eq!(s.columns[q4 as usize].months, 0..2);
    let q1 = s.column("2025-Q1").unwrap();
    assert_eq!(s.columns_of(3).len(), 4, "month, quarter, year, total");
    assert!(s.columns_of(3).contains(&q1));
    assert_eq!(m.sheets[0].columns.len(), 6, "months and the total only");
}

#[test]
fn a_filtered_sheet_holds_only_the_facts_of_its_member() {
    let m = tiny_model();
    let s = &m.sheets[2];
    assert_eq!(s.filters, vec![(1, 0..=0)]);
    assert!(s.deepest_row(&[0, 0, 0, 0]).is_some());
    assert_eq!(s.deepest_row(&[0, 1, 0, 0]), None);
    let cell = m
        .resolve_cell("sheets/north_by_family", &[], "total", "amount")
        .unwrap();
    assert_eq!(m.atoms(&cell).keys, vec![(1, 0..=0)]);
    assert!(
        m.resolve_cell("sheets/north_by_family", &[], "total", "quantity")
            .is_err()
    );
}

#[test]
fn a_model_file_reports_every_problem_where_it_is() {
    let bad = TINY
        .replace("scale = 2", "scale = 9")
        .replace("id = \"by_family\"", "id = \"By Family\"")
        .replace("to = \"brand\"", "to = \"nothing\"")
        .replace("member = [\"North\"]", "member = []");
    let problems = file::parse(&bad, Path::new(".")).unwrap_err();
    let messages: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
    for expected in [
        "scale 9 is out of range",
        "is not a valid name",
        "has no level \"nothing\"",
        "a filter's member",
    ] {
        assert!(
            messages.iter().any(|m| m.contains(expected)),
            "{expected:?} missing from {messages:?}"
        );
    }
    assert!(problems.iter().all(|p| p.span.is_some()), "{problems:?}");
    let unknown = TINY.replace("[months]", "colour = \"red\"\n[months]");
    let problems = file::parse(&unknown, Path::new(".")).unwrap_err();
    assert!(
        problems[0].message.contains("unknown field"),
        "{problems:?}"
    );
}

#[test]
fn the_demo_model_parses_and_its_storage_signature_is_stable() {
    let demo = crate::demo::model(Path::new("/data")).unwrap();
    assert_eq!(demo.sheets.len(), 2);
    assert_eq!(demo.dimensions[0].levels[2].display_name, "Product family");
    let again = crate::demo::model(Path::new("/elsewhere")).unwrap();
    assert_eq!(demo.storage_signature(), again.storage_signature());
    assert_ne!(demo.sources, again.sources);
}
