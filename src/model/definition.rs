//! The demo model's schema: which dimensions, levels, measures and sheets
//! exist. Every SQL identifier duckgrid ever uses comes from here (or from
//! the store's fixed DDL), never from a client.

use crate::decimal::Units;

/// One level of a dimension's hierarchy, backed by an id and a name column of
/// the dimension table.
#[derive(Debug)]
pub struct LevelDef {
    pub name: &'static str,
    pub display_name: &'static str,
    pub id_column: &'static str,
    pub name_column: &'static str,
}

/// A dimension: a table whose rows are its leaves (`fact_key` is also the
/// column of `sales` that references it), with a hierarchy of levels,
/// outermost first; the last level is the leaf.
#[derive(Debug)]
pub struct DimensionDef {
    pub name: &'static str,
    pub table: &'static str,
    pub fact_key: &'static str,
    pub levels: &'static [LevelDef],
}

/// A measure: a numeric column of `sales`, summed through the hierarchy.
#[derive(Debug)]
pub struct MeasureDef {
    pub name: &'static str,
    pub display_name: &'static str,
    /// The column of `sales` (and of the summary table).
    pub column: &'static str,
    /// Decimal places; values are exact at this scale.
    pub scale: u32,
    /// The smallest value a fact may hold.
    pub min: Option<Units>,
    /// The column's DuckDB type in `sales`.
    pub sql_type: &'static str,
}

/// A sheet: a pivot whose rows are the top `depth` levels of a dimension and
/// whose columns are the months plus a total.
#[derive(Debug)]
pub struct SheetDef {
    pub id: &'static str,
    pub display_name: &'static str,
    pub dimension: &'static str,
    pub depth: usize,
}

/// The name of the member every level of a dimension has for planning
/// adjustments that belong to no real member of it (see `store::adjust`).
pub const UNASSIGNED: &str = "(unassigned)";

pub static DIMENSIONS: [DimensionDef; 2] = [
    DimensionDef {
        name: "product",
        table: "product",
        fact_key: "product_id",
        levels: &[
            LevelDef {
                name: "supplier",
                display_name: "Supplier",
                id_column: "supplier_id",
                name_column: "supplier",
            },
            LevelDef {
                name: "brand",
                display_name: "Brand",
                id_column: "brand_id",
                name_column: "brand",
            },
            LevelDef {
                name: "family",
                display_name: "Product family",
                id_column: "family_id",
                name_column: "family",
            },
            LevelDef {
                name: "product",
                display_name: "Product",
                id_column: "product_id",
                name_column: "product",
            },
        ],
    },
    DimensionDef {
        name: "customer",
        table: "customer",
        fact_key: "customer_id",
        levels: &[
            LevelDef {
                name: "province",
                display_name: "Province",
                id_column: "province_id",
                name_column: "province",
            },
            LevelDef {
                name: "city",
                display_name: "City",
                id_column: "city_id",
                name_column: "city",
            },
            LevelDef {
                name: "customer",
                display_name: "Customer",
                id_column: "customer_id",
                name_column: "customer",
            },
        ],
    },
];

pub static MEASURES: [MeasureDef; 2] = [
    MeasureDef {
        name: "quantity",
        display_name: "Quantity",
        column: "quantity",
        scale: 0,
        min: Some(0),
        sql_type: "BIGINT",
    },
    MeasureDef {
        name: "net_amount",
        display_name: "Net amount",
        column: "net_amount",
        scale: 2,
        min: None,
        sql_type: "DECIMAL(18,2)",
    },
];

pub static SHEETS: [SheetDef; 2] = [
    SheetDef {
        id: "sales_by_product_family",
        display_name: "Sales by product family",
        dimension: "product",
        depth: 3,
    },
    SheetDef {
        id: "sales_by_region",
        display_name: "Sales by region",
        dimension: "customer",
        depth: 2,
    },
];
