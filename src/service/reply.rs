//! Where UpdateCell and BatchUpdateCells calls are answered: beside the
//! generated service ([`crate::route::Beside`]), their replies encoded
//! from the committed event.
//!
//! The generated server wants an owned response, whose `changes` would be
//! a copy of the event's (every changed cell's path and strings: ~150
//! cells for a leaf at 1,000,000 facts), encoded and freed again: a fifth
//! of the gRPC threads' work under 32 writing clients (perf), the copy
//! alone. The event itself is shared (the live buffer, the relay), so
//! [`WriteRoute`] answers both paths with [`ReplyCodec`], which writes
//! each field of the reply from the event by reference: the bytes prost
//! writes for the copy, without the copy.

use std::marker::PhantomData;
use std::sync::Arc;

use futures::future::BoxFuture;
use prost::Message;
use prost::bytes::BufMut;
use prost::encoding::{WireType, decode_key, decode_varint, encode_key, encode_varint};
use tonic::Status;
use tonic::body::Body as TonicBody;
use tonic::codec::{EncodeBuf, Encoder};
use tonic::codegen::{Body, StdError, http};
use tonic::server::{Grpc, UnaryService};

use super::GridApi;
use crate::error::{Error, Result};
use crate::feed::EventRef;
use crate::proto::v1 as pb;
use crate::route::{Limits, Route};
use crate::wire::ServiceCodec;

const UPDATE: &str = "/duckgrid.v1.GridService/UpdateCell";
const BATCH: &str = "/duckgrid.v1.GridService/BatchUpdateCells";

/// A committed write's reply: `UpdateCellResponse` (the edit's result) or
/// `BatchUpdateCellsResponse` (every result), from the revision's event.
#[derive(Debug)]
pub enum Reply {
    Update(EventRef),
    Batch(EventRef),
}

impl Reply {
    /// Writes the reply as prost writes the response message: revision
    /// (1), result or results (2), changes (3), each field skipped when
    /// empty. They are the event's fields 1, 6 and 7, in that order in
    /// its encoding: copied from it, nothing decoded.
    pub fn encode(&self, buf: &mut impl BufMut) {
        let (Self::Update(event) | Self::Batch(event)) = self;
        let mut results = match self {
            Self::Update(_) => 1,
            Self::Batch(_) => usize::MAX,
        };
        let mut rest = &event.bytes()[..];
        while !rest.is_empty() {
            let (field, wire_type) = decode_key(&mut rest).expect("an encoded event");
            match wire_type {
                WireType::Varint => {
                    let value = decode_varint(&mut rest).expect("an encoded event");
                    if field == 1 {
                        encode_key(1, WireType::Varint, buf);
                        encode_varint(value, buf);
                    }
                }
                WireType::LengthDelimited => {
                    let len = decode_varint(&mut rest).expect("an encoded event") as usize;
                    let (payload, after) = rest.split_at(len);
                    rest = after;
                    let to = match field {
                        6 if results > 0 => {
                            results -= 1;
                            2
                        }
                        7 => 3,
                        _ => continue,
                    };
                    encode_key(to, WireType::LengthDelimited, buf);
                    encode_varint(len as u64, buf);
                    buf.put_slice(payload);
                }
                other => unreachable!("a ChangeEvent has no {other:?} field"),
            }
        }
    }
}

/// Encodes [`Reply`] (see [`Reply::encode`]).
#[derive(Debug, Default)]
pub struct ReplyEncoder;

impl Encoder for ReplyEncoder {
    type Item = Reply;
    type Error = Status;

    fn encode(&mut self, item: Reply, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(dst);
        Ok(())
    }
}

/// The writer's UpdateCell and BatchUpdateCells paths, answered by
/// [`GridApi`] with [`Reply`].
#[derive(Clone)]
pub struct WriteRoute(pub Arc<GridApi>);

impl Route for WriteRoute {
    fn answers(&self, path: &str) -> bool {
        path == UPDATE || path == BATCH
    }

    fn answer<B>(
        &self,
        request: http::Request<B>,
        limits: Limits,
    ) -> BoxFuture<'static, http::Response<TonicBody>>
    where
        B: Body + Send + 'static,
        B::Error: Into<StdError> + Send + 'static,
    {
        let api = Arc::clone(&self.0);
        if request.uri().path() == UPDATE {
            serve::<pb::UpdateCellRequest, B>(api, request, limits)
        } else {
            serve::<pb::BatchUpdateCellsRequest, B>(api, request, limits)
        }
    }
}

/// One write call of request type `T`, as tonic's unary machinery runs it.
fn serve<T: WriteRpc, B>(
    api: Arc<GridApi>,
    request: http::Request<B>,
    limits: Limits,
) -> BoxFuture<'static, http::Response<TonicBody>>
where
    B: Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    Box::pin(async move {
        let mut grpc = Grpc::new(ServiceCodec::<ReplyEncoder, T>::default())
            .apply_max_message_size_config(Some(limits.max_decoding), Some(limits.max_encoding));
        grpc.unary(WriteCall::<T>(api, PhantomData), request).await
    })
}

/// A write call's request: the edits it asks for, and its reply.
trait WriteRpc: Message + Default + Send + 'static {
    /// The RPC's name, for the audit log and the errors.
    const RPC: &'static str;
    fn edits(self) -> Result<(Vec<pb::CellEdit>, String)>;
    fn reply(event: EventRef) -> Reply;
}

impl WriteRpc for pb::UpdateCellRequest {
    const RPC: &'static str = "UpdateCell";

    fn edits(self) -> Result<(Vec<pb::CellEdit>, String)> {
        let edit = self
            .edit
            .ok_or_else(|| Error::invalid("edit is required"))?;
        Ok((vec![edit], self.request_id))
    }

    fn reply(event: EventRef) -> Reply {
        Reply::Update(event)
    }
}

impl WriteRpc for pb::BatchUpdateCellsRequest {
    const RPC: &'static str = "BatchUpdateCells";

    fn edits(self) -> Result<(Vec<pb::CellEdit>, String)> {
        Ok((self.edits, self.request_id))
    }

    fn reply(event: EventRef) -> Reply {
        Reply::Batch(event)
    }
}

struct WriteCall<T>(Arc<GridApi>, PhantomData<fn() -> T>);

impl<T: WriteRpc> UnaryService<T> for WriteCall<T> {
    type Response = Reply;
    type Future = BoxFuture<'static, std::result::Result<tonic::Response<Reply>, Status>>;

    fn call(&mut self, request: tonic::Request<T>) -> Self::Future {
        let api = Arc::clone(&self.0);
        Box::pin(async move {
            let outcome = api.write_edits(T::RPC, request, T::edits).await?;
            Ok(tonic::Response::new(T::reply(outcome.event)))
        })
    }
}

/// What the generated trait's write methods answer, should a writer's
/// server ever be built without [`WriteRoute`].
pub fn unrouted() -> Status {
    Error::Internal(
        "UpdateCell and BatchUpdateCells are answered by service::WriteRoute, \
         beside this server"
            .into(),
    )
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::Event;

    fn cell(path: &[&str], value: &str) -> pb::CellChange {
        pb::CellChange {
            row_path: path.iter().map(|p| p.to_string()).collect(),
            column: "2024-03".into(),
            measure: "net_amount".into(),
            value: value.into(),
            previous_value: "1.00".into(),
        }
    }

    fn event(results: usize) -> EventRef {
        let result = |i: usize| pb::EditResult {
            new_value: format!("{i}.00"),
            facts_changed: i as i64,
            ..Default::default()
        };
        Event::new(
            7,
            pb::ChangeEvent {
                revision: 7,
                actor: "ada".into(),
                results: (1..=results).map(result).collect(),
                changes: vec![
                    pb::SheetChanges {
                        sheet: "sheets/a".into(),
                        cells: vec![cell(&[], "3.00"), cell(&["x", "y"], "2.00")],
                    },
                    pb::SheetChanges {
                        sheet: "sheets/b".into(),
                        cells: vec![cell(&["z"], "1.00")],
                    },
                ],
                ..Default::default()
            },
        )
    }

    fn encoded(reply: Reply) -> Vec<u8> {
        let mut buf = Vec::new();
        reply.encode(&mut buf);
        buf
    }

    /// The replies are byte for byte what prost writes for the copies.
    #[test]
    fn replies_are_the_bytes_of_the_responses_they_stand_for() {
        for results in [0, 1, 3] {
            let e = event(results);
            let change = e.change();
            let update = pb::UpdateCellResponse {
                revision: change.revision,
                result: change.results.first().cloned(),
                changes: change.changes.clone(),
            };
            assert_eq!(encoded(Reply::Update(e.clone())), update.encode_to_vec());
            let batch = pb::BatchUpdateCellsResponse {
                revision: change.revision,
                results: change.results.clone(),
                changes: change.changes.clone(),
            };
            assert_eq!(encoded(Reply::Batch(e.clone())), batch.encode_to_vec());
        }
    }
}
