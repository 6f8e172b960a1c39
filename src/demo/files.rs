//! Writing the demo out: its data as Parquet or CSV files, and its model
//! file beside them.

use std::path::Path;

use anyhow::Context;
use duckdb::{Connection, params};
use rust_decimal::Decimal;

use super::{DemoSpec, customers, facts, products};
use crate::model::def::ModelDef;

/// The demo's model file.
const MODEL: &str = include_str!("model.toml");

/// The file format of the demo's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Parquet,
    Csv,
}

/// The demo's model, reading its data from `dir`.
pub fn model(dir: &Path) -> anyhow::Result<ModelDef> {
    crate::model::file::parse(MODEL, dir)
        .map_err(|problems| anyhow::anyhow!("the demo model is invalid: {problems:?}"))
}

/// Writes the data and the model file (for `format`) into `dir`.
pub fn write_demo(dir: &Path, spec: &DemoSpec, format: Format) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    write_data(dir, spec, format)?;
    let text = match format {
        Format::Parquet => MODEL.to_owned(),
        Format::Csv => MODEL
            .replace("parquet = \"sales.parquet\"", "csv = \"sales.csv\"")
            .replace("parquet = \"product.parquet\"", "csv = \"product.csv\"")
            .replace("parquet = \"customer.parquet\"", "csv = \"customer.csv\""),
    };
    let path = dir.join("model.toml");
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
}

/// Writes the demo's three tables into `dir` as `product`, `customer` and
/// `sales` files.
pub fn write_data(dir: &Path, spec: &DemoSpec, format: Format) -> anyhow::Result<()> {
    let conn = Connection::open_in_memory()?;
    conn.execute_batch(
        "CREATE TABLE product (product_id INTEGER, product VARCHAR, family_id INTEGER,
             family VARCHAR, brand_id INTEGER, brand VARCHAR, supplier_id INTEGER,
             supplier VARCHAR, unit_price DECIMAL(18,2));
         CREATE TABLE customer (customer_id INTEGER, customer VARCHAR, customer_type VARCHAR,
             city_id INTEGER, city VARCHAR, province_id INTEGER, province VARCHAR);
         CREATE TABLE sales (invoice_date DATE, product_id INTEGER, customer_id INTEGER,
             quantity BIGINT, net_amount DECIMAL(18,2));",
    )?;
    let products = products(spec);
    let customers = customers(spec);
    {
        let mut app = conn.appender("product")?;
        // The generator's last member of each dimension is its own
        // placeholder: the import adds the model's.
        for p in &products[..products.len() - 1] {
            app.append_row(params![
                p.product_id,
                p.product,
                p.family_id,
                p.family,
                p.brand_id,
                p.brand,
                p.supplier_id,
                p.supplier,
                Decimal::from_i128_with_scale(p.unit_price, 2),
            ])?;
        }
    }
    {
        let mut app = conn.appender("customer")?;
        for c in &customers[..customers.len() - 1] {
            app.append_row(params![
                c.customer_id,
                c.customer,
                c.customer_type,
                c.city_id,
                c.city,
                c.province_id,
                c.province,
            ])?;
        }
    }
    {
        let mut app = conn.appender("sales")?;
        for f in facts(spec, &products, &customers) {
            app.append_row(params![
                f.invoice_date,
                f.product_id,
                f.customer_id,
                f.quantity,
                Decimal::new(f.net_amount, 2),
            ])?;
        }
    }
    for table in ["product", "customer", "sales"] {
        let (ext, options) = match format {
            Format::Parquet => ("parquet", "FORMAT PARQUET"),
            Format::Csv => ("csv", "FORMAT CSV, HEADER"),
        };
        let path = dir.join(format!("{table}.{ext}"));
        let path = path
            .to_str()
            .context("a path that is text")?
            .replace('\'', "''");
        conn.execute_batch(&format!("COPY {table} TO '{path}' ({options})"))?;
    }
    Ok(())
}
