//! Generates the gRPC code for `proto/duckgrid/v1` and the descriptor set that
//! server reflection serves (so grpcurl needs no proto files).
//!
//! `protoc` comes from the `protoc-bin-vendored` crate: nothing to install.

use std::{env, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);

    let wkt = protoc_bin_vendored::include_path()?;
    tonic_prost_build::configure()
        // Decoding errors are the client's: see src/wire.rs.
        .codec_path("crate::wire::GridCodec")
        .file_descriptor_set_path(out_dir.join("duckgrid_descriptor.bin"))
        .compile_with_config(
            config,
            &[PathBuf::from("proto/duckgrid/v1/grid.proto")],
            &[PathBuf::from("proto"), wkt],
        )?;
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}
