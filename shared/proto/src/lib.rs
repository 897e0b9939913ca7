//! Generated protobuf and gRPC code for obup.
//!
//! Generated code is quarantined here, behind [`pb`], so that it never leaks
//! into the services' own lints or formatting. Services convert to their domain
//! types at the edge (`grpc/convert.rs` in each service) and never pass `pb`
//! types inward.

#[allow(missing_docs, missing_debug_implementations, clippy::all, clippy::pedantic)]
#[rustfmt::skip]
mod generated {
    pub mod packagestore {
        pub mod v1 {
            tonic::include_proto!("obup.packagestore.v1");
        }
    }
    pub mod orchestrator {
        pub mod v1 {
            tonic::include_proto!("obup.orchestrator.v1");
        }
    }
    pub mod agent {
        pub mod v1 {
            tonic::include_proto!("obup.agent.v1");
        }
    }
    pub mod auth {
        pub mod v1 {
            tonic::include_proto!("obup.auth.v1");
        }
    }
    pub mod audit {
        pub mod v1 {
            tonic::include_proto!("obup.audit.v1");
        }
    }
}

/// The generated messages, clients and servers.
pub mod pb {
    pub use crate::generated::*;
}

/// Encoded `FileDescriptorSet` of every obup proto, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("obup_descriptor");
