//! `obup dev --tls`: TLS on the all-in-one server with a development CA,
//! made under `<data dir>/tls` on first start and kept. The services inside
//! dial each other over TLS too (the same path as when they are apart), the
//! demo agents download over it, and the CA is published beside the CLI's
//! token file so that `obup --server https://...` needs no flag on this
//! machine.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use obup_kit::tls::{ClientTls, DevPkiFiles, ListenerTls, ServerConfig};

/// The development PKI of one `obup dev` and what it serves and dials with.
#[derive(Debug, Clone)]
pub struct DevTls {
    pub files: DevPkiFiles,
    /// The listener's config: the dev server certificate; client
    /// certificates the dev CA signed are accepted as an identity.
    pub server: Arc<ServerConfig>,
    /// How the services inside dial the listener (trusting the dev CA).
    pub client: ClientTls,
}

impl DevTls {
    /// Makes (or reuses) the PKI under `<data_dir>/tls` for `addr`; client
    /// certificates of `client_ca` (default: the dev CA) are an identity.
    pub fn ensure(
        data_dir: &Path,
        addr: SocketAddr,
        client_ca: Option<&Path>,
    ) -> anyhow::Result<Self> {
        let mut names = obup_kit::tls::dev_server_names(&addr.ip().to_string());
        if let Ok(host) = std::fs::read_to_string("/etc/hostname") {
            let host = host.trim();
            if !host.is_empty() && !names.iter().any(|n| n == host) {
                names.push(host.to_owned());
            }
        }
        let dir = data_dir.join("tls");
        let files = obup_kit::tls::write_dev_pki(&dir, &names)
            .with_context(|| format!("making the development CA under {}", dir.display()))?;
        let server = ListenerTls {
            cert: files.server_cert.clone(),
            key: files.server_key.clone(),
            client_ca: Some(client_ca.map_or_else(|| files.ca_cert.clone(), Path::to_owned)),
        }
        .server_config()?;
        let client = ClientTls::from_files(Some(&files.ca_cert), None, None)?;
        Ok(Self {
            files,
            server,
            client,
        })
    }

    /// Copies the CA where the same user's CLI looks for the server at
    /// `url` (beside its token file).
    pub fn publish_for_cli(
        &self,
        dir: Option<PathBuf>,
        url: &str,
    ) -> anyhow::Result<Option<PathBuf>> {
        let Some(dir) = dir.or_else(crate::token_files::dir) else {
            return Ok(None);
        };
        let file = crate::token_files::ca_file_for(&dir, url);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        std::fs::copy(&self.files.ca_cert, &file)
            .with_context(|| format!("writing {}", file.display()))?;
        Ok(Some(file))
    }
}
