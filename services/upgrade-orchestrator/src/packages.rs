//! The orchestrator's view of the package store: it finds packages. Their
//! bytes never pass through the orchestrator: agents pull them from the
//! package store themselves.

use async_trait::async_trait;
use obup_kit::auth::{BearerInterceptor, Token};
use obup_proto::pb::packagestore::v1 as pb;
use pb::package_store_client::PackageStoreClient;
use serde::{Deserialize, Serialize};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::{Error, Result};

/// A package chosen for a hop, as recorded in the DAG.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageRef {
    pub id: i64,
    pub name: String,
    pub version: String,
    /// Build number.
    pub release: String,
    pub architecture: String,
    pub md5: String,
    pub sha256: String,
    pub file_size: u64,
    pub file_name: String,
}

/// A package as the store describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageInfo {
    pub package: PackageRef,
    pub distribution: String,
    pub upgrade_dep_yaml: String,
}

/// Which package to find.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    pub name: String,
    pub version: String,
    pub architecture: String,
    pub distribution: String,
    /// Exact build, or any build except `excluded`.
    pub build: Option<String>,
    pub excluded: Vec<String>,
}

impl Lookup {
    /// The file name obshell reports for a missing package.
    pub fn describe(&self) -> String {
        let build = self.build.clone().unwrap_or_else(|| "${release}".into());
        format!(
            "{}-{}-{build}.{}.{}.rpm",
            self.name, self.version, self.distribution, self.architecture
        )
    }
}

/// Where packages come from.
#[async_trait]
pub trait PackageSource: Send + Sync + std::fmt::Debug {
    async fn find(&self, lookup: &Lookup) -> Result<Option<PackageInfo>>;
    async fn get(&self, id: i64) -> Result<Option<PackageInfo>>;
}

/// The package store over gRPC.
#[derive(Debug, Clone)]
pub struct GrpcPackages {
    client: PackageStoreClient<InterceptedService<Channel, BearerInterceptor>>,
}

impl GrpcPackages {
    /// A client that connects on first use (in `obup dev` the store is the
    /// same process, which is still starting).
    /// Calls carry `token` when the store checks tokens; `https://` is
    /// dialled as `tls` says.
    pub fn lazy(url: &str, token: Option<&Token>, tls: &obup_kit::tls::ClientTls) -> Result<Self> {
        let channel = tls
            .endpoint(url)
            .map_err(|e| Error::InvalidArgument {
                field: "package_store_url",
                reason: e.to_string(),
            })?
            .connect_lazy();
        Ok(Self {
            client: PackageStoreClient::with_interceptor(channel, BearerInterceptor::new(token))
                .max_decoding_message_size(8 << 20)
                .max_encoding_message_size(8 << 20),
        })
    }
}

fn info(p: pb::Package) -> PackageInfo {
    PackageInfo {
        package: PackageRef {
            id: p.id,
            name: p.name,
            version: p.version,
            release: p.release,
            architecture: p.architecture,
            md5: p.md5,
            sha256: p.sha256,
            file_size: p.file_size,
            file_name: p.file_name,
        },
        distribution: p.distribution,
        upgrade_dep_yaml: p.upgrade_dep_yaml,
    }
}

#[async_trait]
impl PackageSource for GrpcPackages {
    async fn find(&self, l: &Lookup) -> Result<Option<PackageInfo>> {
        use pb::find_package_request::Build;
        let build = match &l.build {
            Some(b) => Build::Release(b.clone()),
            None => Build::AnyBuild(pb::AnyBuild {
                excluded_releases: l.excluded.clone(),
            }),
        };
        let request = pb::FindPackageRequest {
            name: l.name.clone(),
            version: l.version.clone(),
            architecture: l.architecture.clone(),
            distribution: l.distribution.clone(),
            build: Some(build),
        };
        match self.client.clone().find_package(request).await {
            Ok(r) => Ok(Some(info(r.into_inner()))),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
            Err(s) => Err(Error::PackageStore(s)),
        }
    }

    async fn get(&self, id: i64) -> Result<Option<PackageInfo>> {
        match self
            .client
            .clone()
            .get_package(pb::GetPackageRequest { id })
            .await
        {
            Ok(r) => Ok(Some(info(r.into_inner()))),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
            Err(s) => Err(Error::PackageStore(s)),
        }
    }
}
