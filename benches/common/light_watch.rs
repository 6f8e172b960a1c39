//! A watch subscriber that reads only what the fan-out benchmark measures.
//!
//! The benchmark's subscribers share the machine with the servers they
//! measure: decoding every change into `pb::ChangeEvent` (every cell's
//! strings) cost them about 10 µs a message, a whole core at 1,000
//! subscribers x 100 revisions/s. So each message is parsed only as far as
//! the change's revision and commit time (the first two fields of a
//! `ChangeEvent`, as prost writes them); real clients, elsewhere, decode
//! everything.

use duckgrid::proto::v1 as pb;
use prost::Message;
use prost::bytes::Buf;
use prost::encoding::{WireType, decode_key, decode_varint};
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

/// A change's revision and commit time (microseconds since the epoch).
#[derive(Debug, Clone, Copy)]
pub struct Change {
    pub revision: i64,
    pub commit_micros: i64,
}

/// The path of the call.
pub const PATH: &str = "/duckgrid.v1.GridService/WatchUpdates";

pub struct LightCodec;

impl Codec for LightCodec {
    type Encode = pb::WatchUpdatesRequest;
    /// `None` for a message that is not a change (progress, snapshot).
    type Decode = Option<Change>;
    type Encoder = RequestEncoder;
    type Decoder = ChangeDecoder;

    fn encoder(&mut self) -> RequestEncoder {
        RequestEncoder
    }

    fn decoder(&mut self) -> ChangeDecoder {
        ChangeDecoder
    }
}

pub struct RequestEncoder;

impl Encoder for RequestEncoder {
    type Item = pb::WatchUpdatesRequest;
    type Error = Status;

    fn encode(&mut self, item: Self::Item, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(dst)
            .map_err(|e| Status::internal(e.to_string()))
    }
}

pub struct ChangeDecoder;

impl Decoder for ChangeDecoder {
    type Item = Option<Change>;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, Status> {
        let bytes = src.copy_to_bytes(src.remaining());
        parse(&bytes)
            .map(Some)
            .map_err(|e| Status::internal(format!("a watch message does not parse: {e}")))
    }
}

fn parse(mut buf: &[u8]) -> Result<Option<Change>, String> {
    // One field: the kind of message (1 snapshot, 2 change, 3 progress).
    if !buf.has_remaining() {
        return Ok(None);
    }
    let (field, wire) = decode_key(&mut buf).map_err(|e| e.to_string())?;
    if wire != WireType::LengthDelimited {
        return Err("unexpected field".into());
    }
    let len = decode_varint(&mut buf).map_err(|e| e.to_string())? as usize;
    if field != 2 {
        return Ok(None);
    }
    change(&buf[..len]).map(Some)
}

/// The revision (field 1) and commit time (field 2: seconds, nanos).
fn change(mut buf: &[u8]) -> Result<Change, String> {
    let mut out = Change {
        revision: 0,
        commit_micros: 0,
    };
    while buf.has_remaining() {
        let (field, wire) = decode_key(&mut buf).map_err(|e| e.to_string())?;
        match (field, wire) {
            (1, WireType::Varint) => {
                out.revision = decode_varint(&mut buf).map_err(|e| e.to_string())? as i64
            }
            (2, WireType::LengthDelimited) => {
                let len = decode_varint(&mut buf).map_err(|e| e.to_string())? as usize;
                let mut time = &buf[..len];
                buf.advance(len);
                let (mut seconds, mut nanos) = (0i64, 0i64);
                while time.has_remaining() {
                    match decode_key(&mut time).map_err(|e| e.to_string())? {
                        (1, WireType::Varint) => {
                            seconds = decode_varint(&mut time).map_err(|e| e.to_string())? as i64
                        }
                        (2, WireType::Varint) => {
                            nanos = decode_varint(&mut time).map_err(|e| e.to_string())? as i64
                        }
                        _ => return Err("unexpected timestamp field".into()),
                    }
                }
                out.commit_micros = seconds * 1_000_000 + nanos / 1_000;
                // The rest (actor, edits, cells) is not read.
                return Ok(out);
            }
            _ => return Err("unexpected change field".into()),
        }
    }
    Ok(out)
}
