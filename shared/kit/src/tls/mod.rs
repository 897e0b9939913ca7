//! TLS for obup's listeners and clients (rustls with the ring provider).
//!
//! - this file: PEM parsing, and the mutual TLS between orchestrators and
//!   host agents (a server config that refuses clients without a
//!   certificate of the configured CA; a tonic client config presenting
//!   one);
//! - `listener`: TLS on the listeners clients call (gRPC and REST on one
//!   port), its certificate reloaded when the files change, client
//!   certificates optional and then an identity beside tokens;
//! - `peer`: what a client certificate names (who, which role, which
//!   cluster);
//! - `dial`: how a client dials an `https://` URL (trusted CAs, its own
//!   certificate);
//! - `dev`: a development PKI (a CA, server and client certificates, made
//!   with rcgen) for `obup dev` and tests.
//!
//! The server side is rustls directly because gRPC is served through axum
//! ([`crate::grpc::serve_tls`]), not tonic's own server. Both sides use the
//! ring provider explicitly: another crate of the workspace enables rustls's
//! aws-lc-rs too, and with two providers rustls has no process default.

mod dev;
mod dial;
mod listener;
pub mod peer;

pub use dev::{DevCa, DevPkiFiles, dev_server_names, write_dev_pki};
pub use dial::ClientTls;
pub use listener::ListenerTls;
pub use peer::ClientCertificate;
/// What [`crate::grpc::serve_tls`] serves with.
pub use tokio_rustls::rustls::ServerConfig;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tonic::transport::ClientTlsConfig;

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what} holds no PEM certificate")]
    NoCertificate { what: String },
    #[error("{what} is not a PEM private key: {reason}")]
    BadKey { what: String, reason: String },
    #[error("invalid TLS configuration: {0}")]
    Config(#[from] rustls::Error),
    #[error("cannot build the client certificate verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    #[error("cannot generate a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("{0}")]
    Settings(String),
    #[error("invalid URL {url:?}: {reason}")]
    Url { url: String, reason: String },
}

/// A certificate chain and its private key, PEM-encoded.
#[derive(Clone)]
pub struct KeyPairPem {
    pub cert: String,
    pub key: String,
}

impl std::fmt::Debug for KeyPairPem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key stays out of logs.
        f.debug_struct("KeyPairPem").finish_non_exhaustive()
    }
}

impl KeyPairPem {
    /// Reads `cert` and `key` from PEM files.
    pub fn read(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        Ok(Self {
            cert: read(cert)?,
            key: read(key)?,
        })
    }
}

fn read(path: &Path) -> Result<String, TlsError> {
    std::fs::read_to_string(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Reads a PEM file (a CA bundle, say).
pub fn read_pem(path: &Path) -> Result<String, TlsError> {
    read(path)
}

pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

pub(crate) fn certificates(
    pem: &str,
    what: &str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem.as_bytes())
        .filter_map(Result::ok)
        .collect();
    if certs.is_empty() {
        return Err(TlsError::NoCertificate { what: what.into() });
    }
    Ok(certs)
}

pub(crate) fn private_key(pem: &str, what: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| TlsError::BadKey {
        what: what.into(),
        reason: e.to_string(),
    })
}

/// The trust anchors client certificates are checked against: the CAs of a
/// PEM bundle.
pub(crate) fn client_roots(pem: &str) -> Result<Arc<rustls::RootCertStore>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for ca in certificates(pem, "the client CA")? {
        roots.add(ca)?;
    }
    Ok(Arc::new(roots))
}

/// A server config that presents `identity`, requires every client to
/// present a certificate signed by a CA of `client_ca` (PEM bundle), and
/// speaks HTTP/2 (ALPN `h2`, as gRPC clients ask for).
pub fn server_config(
    identity: &KeyPairPem,
    client_ca: &str,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let verifier =
        WebPkiClientVerifier::builder_with_provider(client_roots(client_ca)?, provider())
            .build()?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            certificates(&identity.cert, "the server certificate")?,
            private_key(&identity.key, "the server key")?,
        )?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// A tonic client config that trusts servers signed by `server_ca` and
/// presents `identity` (when given). The server's certificate must name
/// `domain` (a DNS name or an IP address), or, without one, the host of the
/// URL dialled.
pub fn client_config(
    server_ca: &str,
    identity: Option<&KeyPairPem>,
    domain: Option<&str>,
) -> Result<ClientTlsConfig, TlsError> {
    // `ClientTls` parses both now, so that a bad file fails at
    // configuration, not at the first connection.
    let config = ClientTls::new(Some(server_ca.to_owned()), identity.cloned())?.tonic();
    Ok(match domain {
        Some(domain) => config.domain_name(domain),
        None => config,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dev_ca_issues_certificates_both_configs_accept() {
        let ca = DevCa::generate("test CA").unwrap();
        let server = ca.server(&dev_server_names("127.0.0.2")).unwrap();
        let client = ca.client("orchestrator").unwrap();
        server_config(&server, &ca.cert_pem).unwrap();
        client_config(&ca.cert_pem, Some(&client), Some("127.0.0.2")).unwrap();
    }

    #[test]
    fn garbage_is_refused_with_the_file_named() {
        let ca = DevCa::generate("test CA").unwrap();
        let server = ca.server(&["localhost".into()]).unwrap();
        let e = server_config(&server, "not a certificate").unwrap_err();
        assert!(e.to_string().contains("client CA"), "{e}");
        let bad = KeyPairPem {
            cert: server.cert.clone(),
            key: "nope".into(),
        };
        let e = server_config(&bad, &ca.cert_pem).unwrap_err();
        assert!(e.to_string().contains("server key"), "{e}");
    }
}
