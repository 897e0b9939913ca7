//! Mutual TLS between obup's services (orchestrators and host agents): PEM
//! files in, a rustls server config that refuses clients without a
//! certificate from the configured CA, a tonic client config that presents
//! one, and a development PKI (a CA plus server and client certificates,
//! made with rcgen) for `obup dev` and tests.
//!
//! The server side is rustls directly because gRPC is served through axum
//! ([`crate::grpc::serve_tls`]), not tonic's own server. Both sides use the
//! ring provider explicitly: another crate of the workspace enables rustls's
//! aws-lc-rs too, and with two providers rustls has no process default.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tonic::transport::{Certificate, ClientTlsConfig, Identity};

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

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certificates(pem: &str, what: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem.as_bytes())
        .filter_map(Result::ok)
        .collect();
    if certs.is_empty() {
        return Err(TlsError::NoCertificate { what: what.into() });
    }
    Ok(certs)
}

fn private_key(pem: &str, what: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| TlsError::BadKey {
        what: what.into(),
        reason: e.to_string(),
    })
}

/// A server config that presents `identity`, requires every client to
/// present a certificate signed by a CA of `client_ca` (PEM bundle), and
/// speaks HTTP/2 (ALPN `h2`, as gRPC clients ask for).
pub fn server_config(
    identity: &KeyPairPem,
    client_ca: &str,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for ca in certificates(client_ca, "the client CA")? {
        roots.add(ca)?;
    }
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider()).build()?;
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
    // Parsed here so that a bad file fails at configuration, not at the
    // first connection.
    certificates(server_ca, "the server CA")?;
    let mut config = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(server_ca));
    if let Some(domain) = domain {
        config = config.domain_name(domain);
    }
    if let Some(id) = identity {
        certificates(&id.cert, "the client certificate")?;
        private_key(&id.key, "the client key")?;
        config = config.identity(Identity::from_pem(&id.cert, &id.key));
    }
    Ok(config)
}

/// A certificate authority for development and tests, able to issue server
/// and client certificates.
pub struct DevCa {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    /// The CA's certificate (the trust anchor both sides are configured with).
    pub cert_pem: String,
}

impl std::fmt::Debug for DevCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevCa").finish_non_exhaustive()
    }
}

impl DevCa {
    /// A new self-signed CA named `name`.
    pub fn generate(name: &str) -> Result<Self, TlsError> {
        let key = rcgen::KeyPair::generate()?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key)?;
        Ok(Self {
            issuer: rcgen::Issuer::new(params, key),
            cert_pem: cert.pem(),
        })
    }

    /// A server certificate for `names` (DNS names or IP addresses).
    pub fn server(&self, names: &[String]) -> Result<KeyPairPem, TlsError> {
        self.issue(names, rcgen::ExtendedKeyUsagePurpose::ServerAuth)
    }

    /// A client certificate whose common name is `name`.
    pub fn client(&self, name: &str) -> Result<KeyPairPem, TlsError> {
        self.issue(
            &[name.to_owned()],
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        )
    }

    fn issue(
        &self,
        names: &[String],
        usage: rcgen::ExtendedKeyUsagePurpose,
    ) -> Result<KeyPairPem, TlsError> {
        let key = rcgen::KeyPair::generate()?;
        // IP addresses go in as IP SANs (rcgen parses them), so that a
        // client dialling `https://127.0.0.1:port` can verify the server.
        let mut params = rcgen::CertificateParams::new(names.to_vec())?;
        if let Some(first) = names.first() {
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, first.as_str());
        }
        params.extended_key_usages = vec![usage];
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::DigitalSignature,
            rcgen::KeyUsagePurpose::KeyEncipherment,
        ];
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(KeyPairPem {
            cert: cert.pem(),
            key: key.serialize_pem(),
        })
    }
}

/// Where [`write_dev_pki`] put its files.
#[derive(Debug, Clone)]
pub struct DevPkiFiles {
    pub ca_cert: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

/// Makes a CA, a server certificate for `server_names` and a client
/// certificate, and writes them under `dir` (`ca.pem`, `server.pem`,
/// `server-key.pem`, `client.pem`, `client-key.pem`; keys readable by the
/// owner only). Files already there are kept, so `obup dev` keeps its PKI
/// across restarts.
pub fn write_dev_pki(dir: &Path, server_names: &[String]) -> Result<DevPkiFiles, TlsError> {
    let files = DevPkiFiles {
        ca_cert: dir.join("ca.pem"),
        server_cert: dir.join("server.pem"),
        server_key: dir.join("server-key.pem"),
        client_cert: dir.join("client.pem"),
        client_key: dir.join("client-key.pem"),
    };
    let all = [
        &files.ca_cert,
        &files.server_cert,
        &files.server_key,
        &files.client_cert,
        &files.client_key,
    ];
    if all.iter().all(|p| p.exists()) {
        return Ok(files);
    }
    let ca = DevCa::generate("obup dev CA")?;
    let server = ca.server(server_names)?;
    let client = ca.client("obup-orchestrator")?;
    let write = |path: &Path, text: &str, private: bool| -> Result<(), TlsError> {
        let failed = |source| TlsError::Write {
            path: path.to_owned(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(failed)?;
        std::fs::write(path, text).map_err(failed)?;
        #[cfg(unix)]
        if private {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .map_err(failed)?;
        }
        #[cfg(not(unix))]
        let _ = private;
        Ok(())
    };
    write(&files.ca_cert, &ca.cert_pem, false)?;
    write(&files.server_cert, &server.cert, false)?;
    write(&files.server_key, &server.key, true)?;
    write(&files.client_cert, &client.cert, false)?;
    write(&files.client_key, &client.key, true)?;
    Ok(files)
}

/// The names a dev server certificate should carry for `addr`'s host:
/// `localhost` and the loopback addresses, plus the host itself.
pub fn dev_server_names(host: &str) -> Vec<String> {
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    if !host.is_empty() && !names.iter().any(|n| n == host) {
        names.push(host.to_owned());
    }
    names
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

    #[test]
    fn dev_pki_is_written_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let files = write_dev_pki(dir.path(), &dev_server_names("localhost")).unwrap();
        let ca = std::fs::read_to_string(&files.ca_cert).unwrap();
        let again = write_dev_pki(dir.path(), &dev_server_names("localhost")).unwrap();
        assert_eq!(std::fs::read_to_string(&again.ca_cert).unwrap(), ca);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&files.server_key)
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
