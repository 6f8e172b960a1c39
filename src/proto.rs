//! The generated protobuf messages and gRPC stubs of `duckgrid.v1`
//! (`proto/duckgrid/v1/grid.proto`), and the descriptor set that server
//! reflection serves.

#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod v1 {
    tonic::include_proto!("duckgrid.v1");
}

/// The encoded `FileDescriptorSet` of the contract and its imports.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("duckgrid_descriptor");
