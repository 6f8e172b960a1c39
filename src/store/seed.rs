//! Creating and filling a new database with the demo model, in one
//! transaction: a crash while seeding leaves no half-seeded database.

use duckdb::{Connection, params};
use rust_decimal::Decimal;

use super::{date_value, schema};
use crate::demo::{self, DemoSpec};

pub fn seed(conn: &Connection, spec: &DemoSpec) -> anyhow::Result<()> {
    let tx = conn.unchecked_transaction()?;
    conn.execute_batch(schema::DDL)?;

    let products = demo::products(spec);
    let customers = demo::customers(spec);
    {
        let mut app = conn.appender("product")?;
        for p in &products {
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
        for c in &customers {
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
        for (id, f) in demo::facts(spec, &products, &customers).enumerate() {
            app.append_row(params![
                id as i64,
                date_value(f.invoice_date),
                f.product_id,
                f.customer_id,
                f.quantity,
                Decimal::new(f.net_amount, 2),
                0i64,
            ])?;
        }
    }
    let meta = [
        ("schema_version", schema::VERSION.to_owned()),
        ("seed", spec.seed.to_string()),
        ("facts", spec.facts.to_string()),
        ("first_month", spec.first_month.to_string()),
        ("months", spec.months.to_string()),
        ("database_id", super::new_database_id()),
    ];
    for (k, v) in meta {
        conn.execute("INSERT INTO duckgrid_meta VALUES (?, ?)", params![k, v])?;
    }
    tx.commit()?;
    Ok(())
}
