//! Generated protobuf types (`proto/genms/v1`), compiled by build.rs with protox + tonic-prost-build.
pub mod genms {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/genms.v1.rs"));
    }
}
