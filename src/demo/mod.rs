//! The built-in demo: a model file (`model.toml`, one model like any
//! user's) and the data it imports — products, customers and sales facts,
//! generated deterministically from a seed with the `fake` crate and
//! written as Parquet or CSV files ([`files`]). `duckgrid serve` with no
//! model generates them and imports them; `duckgrid demo` writes them out.
//!
//! The same `(seed, facts)` always yields the same data, so tests,
//! benchmarks and the three client suites see identical values. Dimension
//! rows come out in hierarchy order with dense ids, and facts in (product,
//! invoice date) order. The demo's names appear nowhere else in the code.

mod files;

pub use files::{Format, model, write_data, write_demo};

use chrono::{Datelike, Days, NaiveDate};
use fake::Fake;
use fake::faker::address::en::{CityName, StateName};
use fake::faker::company::en::CompanyName;
use fake::faker::name::en::LastName;
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use std::collections::HashSet;

use crate::decimal::{self, Units};

/// The generator's own last member of each dimension (never written out:
/// the import adds each dimension's placeholder itself).
const UNASSIGNED: &str = "(unassigned)";

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoSpec {
    pub seed: u64,
    pub facts: u64,
    pub first_month: NaiveDate,
    pub months: u16,
}

impl DemoSpec {
    /// `facts` facts over 24 months from January 2024.
    pub fn new(seed: u64, facts: u64) -> Self {
        Self {
            seed,
            facts,
            first_month: NaiveDate::from_ymd_opt(2024, 1, 1).expect("valid date"),
            months: 24,
        }
    }
}

/// A row of the `product` table.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductRow {
    pub product_id: u32,
    pub product: String,
    pub family_id: u32,
    pub family: String,
    pub brand_id: u32,
    pub brand: String,
    pub supplier_id: u32,
    pub supplier: String,
    /// List price in cents.
    pub unit_price: Units,
}

/// A row of the `customer` table.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerRow {
    pub customer_id: u32,
    pub customer: String,
    pub customer_type: &'static str,
    pub city_id: u32,
    pub city: String,
    pub province_id: u32,
    pub province: String,
}

/// A row of the `sales` table (ids are assigned in order by the store).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fact {
    pub invoice_date: NaiveDate,
    pub product_id: u32,
    pub customer_id: u32,
    pub quantity: i64,
    /// Cents.
    pub net_amount: i64,
}

const BRAND_STYLES: &[&str] = &[
    "Select",
    "Gold",
    "Organics",
    "Classic",
    "Naturals",
    "Kitchen",
    "Farms",
    "Premium",
    "Originals",
    "Essentials",
    "Artisan",
    "Harvest",
];

const FAMILIES: &[&str] = &[
    "Coffee beans",
    "Ground coffee",
    "Tea",
    "Herbal infusions",
    "Pasta",
    "Rice",
    "Olive oil",
    "Vinegar",
    "Tomato sauce",
    "Pesto",
    "Breakfast cereals",
    "Granola",
    "Biscuits",
    "Crackers",
    "Chocolate bars",
    "Pralines",
    "Jam",
    "Honey",
    "Peanut butter",
    "Canned tuna",
    "Canned beans",
    "Soups",
    "Spices",
    "Sea salt",
    "Mustard",
    "Mayonnaise",
    "Ketchup",
    "Crisps",
    "Nuts",
    "Dried fruit",
    "Fruit juice",
    "Sparkling water",
    "Soft drinks",
    "Energy drinks",
    "Beer",
    "Red wine",
    "White wine",
    "Cheese",
    "Yoghurt",
    "Butter",
    "Ice cream",
    "Frozen pizza",
    "Frozen vegetables",
    "Baby food",
    "Pet food",
    "Flour",
    "Sugar",
    "Baking mixes",
];

const VARIANTS: &[&str] = &[
    "250 g",
    "500 g",
    "1 kg",
    "Family pack",
    "Organic",
    "Light",
    "Classic",
    "Extra",
    "Mini",
    "Value pack",
    "Gluten free",
    "Limited edition",
    "Bio 400 g",
    "Twin pack",
    "Original",
];

const CUSTOMER_TYPES: &[&str] = &["Retail", "Wholesale", "Online", "Hospitality"];

/// The product dimension, in hierarchy order, ending with the unassigned
/// product that planning adjustments from other sheets land on.
pub fn products(spec: &DemoSpec) -> Vec<ProductRow> {
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let mut names = Unique::default();
    let (mut supplier_id, mut brand_id, mut family_id) = (0u32, 0u32, 0u32);
    let mut rows = Vec::new();
    let mut suppliers: Vec<String> = (0..rng.random_range(12..=16))
        .map(|_| names.make(&mut rng, |r| CompanyName().fake_with_rng(r)))
        .collect();
    suppliers.sort();
    for supplier in suppliers {
        let mut brands: Vec<String> = (0..rng.random_range(2..=5))
            .map(|_| {
                names.make(&mut rng, |r| {
                    let surname: String = LastName().fake_with_rng(r);
                    format!("{surname} {}", pick(r, BRAND_STYLES))
                })
            })
            .collect();
        brands.sort();
        for brand in brands {
            let n_families = rng.random_range(3..=7);
            let mut families = sample(&mut rng, FAMILIES, n_families);
            families.sort();
            for family in families {
                let base_price: Units = rng.random_range(90..=4_500);
                let n_variants = rng.random_range(3..=10);
                let mut variants = sample(&mut rng, VARIANTS, n_variants);
                variants.sort();
                for variant in variants {
                    rows.push(ProductRow {
                        product_id: rows.len() as u32,
                        product: format!("{brand} {family} {variant}"),
                        family_id,
                        family: family.to_owned(),
                        brand_id,
                        brand: brand.clone(),
                        supplier_id,
                        supplier: supplier.clone(),
                        unit_price: base_price * rng.random_range(70..=160) / 100,
                    });
                }
                family_id += 1;
            }
            brand_id += 1;
        }
        supplier_id += 1;
    }
    rows.push(ProductRow {
        product_id: rows.len() as u32,
        product: UNASSIGNED.to_owned(),
        family_id,
        family: UNASSIGNED.to_owned(),
        brand_id,
        brand: UNASSIGNED.to_owned(),
        supplier_id,
        supplier: UNASSIGNED.to_owned(),
        unit_price: 0,
    });
    rows
}

/// The customer dimension, in hierarchy order, ending with the unassigned
/// customer.
pub fn customers(spec: &DemoSpec) -> Vec<CustomerRow> {
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed ^ 0x5eed_c057);
    let mut names = Unique::default();
    let (mut province_id, mut city_id) = (0u32, 0u32);
    let mut rows = Vec::new();
    let mut provinces: Vec<String> = (0..rng.random_range(8..=12))
        .map(|_| names.make(&mut rng, |r| StateName().fake_with_rng(r)))
        .collect();
    provinces.sort();
    for province in provinces {
        let mut cities: Vec<String> = (0..rng.random_range(4..=12))
            .map(|_| names.make(&mut rng, |r| CityName().fake_with_rng(r)))
            .collect();
        cities.sort();
        for city in cities {
            let mut customers: Vec<String> = (0..rng.random_range(5..=30))
                .map(|_| names.make(&mut rng, |r| CompanyName().fake_with_rng(r)))
                .collect();
            customers.sort();
            for customer in customers {
                rows.push(CustomerRow {
                    customer_id: rows.len() as u32,
                    customer,
                    customer_type: pick(&mut rng, CUSTOMER_TYPES),
                    city_id,
                    city: city.clone(),
                    province_id,
                    province: province.clone(),
                });
            }
            city_id += 1;
        }
        province_id += 1;
    }
    rows.push(CustomerRow {
        customer_id: rows.len() as u32,
        customer: UNASSIGNED.to_owned(),
        customer_type: "Adjustment",
        city_id,
        city: UNASSIGNED.to_owned(),
        province_id,
        province: UNASSIGNED.to_owned(),
    });
    rows
}

/// The sales facts, in (product, invoice date) order, streamed so that ten
/// million of them never sit in memory at once.
///
/// Each product's share of the facts follows a long-tailed popularity;
/// customers are drawn by size, months with a mild seasonality, quantities
/// mostly small with occasional bulk orders, and the net amount is quantity
/// x list price less the customer's discount, rounded to the cent.
pub fn facts<'a>(
    spec: &DemoSpec,
    products: &'a [ProductRow],
    customers: &'a [CustomerRow],
) -> impl Iterator<Item = Fact> + 'a {
    let spec = *spec;
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed ^ 0xfac7_5a1e);
    // The unassigned members (last of each dimension) get no generated facts.
    let real_products = &products[..products.len() - 1];
    let real_customers = &customers[..customers.len() - 1];
    let popularity: Vec<Units> = real_products
        .iter()
        .map(|_| rng.random_range(1..=100) * rng.random_range(1..=100))
        .collect();
    let per_product = crate::spread::spread(
        Units::from(spec.facts),
        &popularity,
        crate::spread::Method::Proportional,
    );
    let customer_weights = cumulative(real_customers.iter().map(|_| rng.random_range(1..=50u64)));
    let discounts: Vec<i64> = real_customers
        .iter()
        .map(|_| rng.random_range(0..=20))
        .collect();
    let month_weights = cumulative((0..spec.months).map(|m| {
        let month = spec.first_month.month0() + u32::from(m);
        if month % 12 == 11 { 14 } else { 10 }
    }));

    real_products
        .iter()
        .zip(per_product)
        .flat_map(move |(product, count)| {
            let mut batch: Vec<Fact> = (0..count)
                .map(|_| {
                    let customer = draw(&mut rng, &customer_weights);
                    let month = draw(&mut rng, &month_weights) as u32;
                    let start = spec.first_month + chrono::Months::new(month);
                    let days = days_in_month(start);
                    let invoice_date = start + Days::new(rng.random_range(0..days));
                    let quantity: i64 = if rng.random_bool(0.08) {
                        rng.random_range(20..=250)
                    } else {
                        rng.random_range(1..=20)
                    };
                    let gross = Units::from(quantity) * product.unit_price;
                    let net =
                        decimal::div_round(gross * Units::from(100 - discounts[customer]), 100);
                    Fact {
                        invoice_date,
                        product_id: product.product_id,
                        customer_id: customer as u32,
                        quantity,
                        net_amount: net as i64,
                    }
                })
                .collect();
            batch.sort_by_key(|f| (f.invoice_date, f.customer_id));
            batch
        })
}

fn days_in_month(start: NaiveDate) -> u64 {
    let next = start + chrono::Months::new(1);
    (next - start).num_days() as u64
}

fn cumulative(weights: impl Iterator<Item = u64>) -> Vec<u64> {
    weights
        .scan(0, |acc, w| {
            *acc += w;
            Some(*acc)
        })
        .collect()
}

fn draw(rng: &mut ChaCha8Rng, cumulative: &[u64]) -> usize {
    let total = *cumulative.last().expect("non-empty weights");
    let x = rng.random_range(0..total);
    cumulative.partition_point(|c| *c <= x)
}

fn pick<T: Copy>(rng: &mut ChaCha8Rng, items: &[T]) -> T {
    items[rng.random_range(0..items.len())]
}

/// `n` distinct items, in random order.
fn sample<T: Copy>(rng: &mut ChaCha8Rng, items: &[T], n: usize) -> Vec<T> {
    let mut pool = items.to_vec();
    let n = n.min(pool.len());
    for i in 0..n {
        let j = rng.random_range(i..pool.len());
        pool.swap(i, j);
    }
    pool.truncate(n);
    pool
}

/// Hands out names never handed out before, retrying the generator and,
/// failing that, numbering the name.
#[derive(Default)]
struct Unique(HashSet<String>);

impl Unique {
    fn make(
        &mut self,
        rng: &mut ChaCha8Rng,
        mut generate: impl FnMut(&mut ChaCha8Rng) -> String,
    ) -> String {
        for _ in 0..20 {
            let name = generate(rng);
            if name != UNASSIGNED && self.0.insert(name.clone()) {
                return name;
            }
        }
        let base = generate(rng);
        let name = (2..)
            .map(|i| format!("{base} {i}"))
            .find(|n| !self.0.contains(n))
            .expect("an unused number");
        self.0.insert(name.clone());
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_data() {
        let spec = DemoSpec::new(7, 2_000);
        let (p, c) = (products(&spec), customers(&spec));
        assert_eq!(p, products(&spec));
        assert_eq!(c, customers(&spec));
        let a: Vec<_> = facts(&spec, &p, &c).collect();
        let b: Vec<_> = facts(&spec, &p, &c).collect();
        assert_eq!(a, b);
        assert_ne!(products(&DemoSpec::new(8, 2_000)), p);
    }

    #[test]
    fn facts_are_exactly_as_many_as_asked_sorted_and_in_range() {
        let spec = DemoSpec::new(3, 5_000);
        let (p, c) = (products(&spec), customers(&spec));
        let f: Vec<_> = facts(&spec, &p, &c).collect();
        assert_eq!(f.len(), 5_000);
        assert!(
            f.windows(2)
                .all(|w| (w[0].product_id, w[0].invoice_date)
                    <= (w[1].product_id, w[1].invoice_date))
        );
        let last = spec.first_month + chrono::Months::new(u32::from(spec.months));
        assert!(
            f.iter()
                .all(|x| x.invoice_date >= spec.first_month && x.invoice_date < last)
        );
        assert!(f.iter().all(|x| x.quantity > 0 && x.net_amount >= 0));
    }

    #[test]
    fn dimensions_are_in_hierarchy_order_with_dense_ids() {
        let spec = DemoSpec::new(11, 10);
        let p = products(&spec);
        assert!(p.len() > 100, "a realistic fan-out");
        for w in p.windows(2) {
            assert_eq!(w[1].product_id, w[0].product_id + 1);
            assert!(w[1].family_id - w[0].family_id <= 1);
            assert!(w[1].brand_id - w[0].brand_id <= 1);
            assert!(w[1].supplier_id - w[0].supplier_id <= 1);
        }
        assert_eq!(p.last().unwrap().supplier, UNASSIGNED);
        let c = customers(&spec);
        assert!(c.windows(2).all(|w| w[1].city_id - w[0].city_id <= 1));
        assert_eq!(c.last().unwrap().province, UNASSIGNED);
    }
}
