//! The writes benchmarks share: pseudo-random leaf cells, spreads over
//! every fact, and leaf writes from 32 concurrent clients.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use duckgrid::proto::v1 as pb;
use tonic::codegen::http::uri::PathAndQuery;

use super::{Client, Server, edit, grid};

/// The demo's product sheet, whose leaves the writes go to.
pub const PRODUCT: &str = "sheets/sales_by_product_family";

/// The product sheet's leaf rows (families).
pub async fn leaves(client: &mut Client) -> Vec<Vec<String>> {
    grid(client, PRODUCT)
        .await
        .rows
        .into_iter()
        .filter(|r| r.leaf)
        .map(|r| r.path)
        .collect()
}

/// A pseudo-random leaf cell (family x month) from `x`'s next value.
pub fn leaf_edit(x: &mut u64, leaves: &[Vec<String>], value: String) -> pb::UpdateCellRequest {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    let path = &leaves[(*x % leaves.len() as u64) as usize];
    let month = format!("{}-{:02}", 2024 + (*x >> 20) % 2, 1 + (*x >> 24) % 12);
    edit(PRODUCT, path, &month, "net_amount", value)
}

/// A write to the grand total's `total`: every fact of the measure.
pub fn spread_edit(i: usize) -> pb::UpdateCellRequest {
    // Far apart, so that every fact changes after rounding.
    let value = if i.is_multiple_of(2) {
        90_000_000
    } else {
        60_000_000
    };
    edit(PRODUCT, &[], "total", "net_amount", format!("{value}.00"))
}

/// What the writing clients read of an `UpdateCellResponse`: its revision.
/// Prost steps over the other fields without parsing them. The clients
/// share the two cores with the server they measure, and decoding every
/// changed cell of a reply (154 of them for a leaf at 1,000,000 facts) took
/// them about a third of a core; real clients run elsewhere.
#[derive(Clone, PartialEq, prost::Message)]
struct Committed {
    #[prost(int64, tag = "1")]
    revision: i64,
}

/// `count` leaf writes from 32 clients at once; with a `target`, every
/// `every`-th of them (in the order they are taken) writes it a new value.
pub async fn write_revisions(
    server: &Server,
    leaves: &[Vec<String>],
    target: Option<(&pb::UpdateCellRequest, i64)>,
    count: i64,
) -> anyhow::Result<()> {
    let target = target.map(|(t, every)| (t.clone(), every));
    let next = Arc::new(AtomicI64::new(0));
    let mut tasks = Vec::new();
    for c in 0..32u64 {
        let mut client = tonic::client::Grpc::new(server.channel().await?);
        let (leaves, target, next) = (leaves.to_vec(), target.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut x = 0x2545_f491_4f6c_dd1d ^ (c + 1);
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    return anyhow::Ok(());
                }
                let request = match &target {
                    Some((t, every)) if n % every == 0 => {
                        let mut t = t.clone();
                        t.edit.as_mut().unwrap().value = (1 + n / every).to_string();
                        t
                    }
                    _ => leaf_edit(&mut x, &leaves, format!("{}.{:02}", n % 5_000, n % 100)),
                };
                client.ready().await?;
                let codec = tonic_prost::ProstCodec::<_, Committed>::default();
                let path = PathAndQuery::from_static("/duckgrid.v1.GridService/UpdateCell");
                let reply = client
                    .unary(tonic::Request::new(request), path, codec)
                    .await?;
                anyhow::ensure!(reply.get_ref().revision > 0, "a write without a revision");
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(())
}
