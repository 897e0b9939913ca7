//! How a client of obup's services dials a URL: `http://` in plaintext,
//! `https://` with TLS, trusting the configured CA (or the system's when
//! none is configured) and presenting a client certificate when one is
//! configured. One place, so that the CLI, the gateway, the orchestrator
//! and the package store all dial alike.

use std::path::Path;

use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

use super::{KeyPairPem, TlsError, certificates, private_key, read};

/// What a client trusts and presents over TLS.
#[derive(Clone, Default)]
pub struct ClientTls {
    /// PEM bundle of the CAs to trust; `None`: the system's roots.
    ca: Option<String>,
    identity: Option<KeyPairPem>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key stays out of logs.
        f.debug_struct("ClientTls")
            .field("ca", &self.ca.is_some())
            .field("identity", &self.identity.is_some())
            .finish()
    }
}

impl ClientTls {
    /// Trusts the CAs of `ca_pem` (or the system's) and presents
    /// `identity`; both checked now, so a bad file fails at start.
    pub fn new(ca_pem: Option<String>, identity: Option<KeyPairPem>) -> Result<Self, TlsError> {
        if let Some(ca) = &ca_pem {
            certificates(ca, "the CA bundle")?;
        }
        if let Some(id) = &identity {
            certificates(&id.cert, "the client certificate")?;
            private_key(&id.key, "the client key")?;
        }
        Ok(Self {
            ca: ca_pem,
            identity,
        })
    }

    /// From PEM files: a CA bundle, and a certificate with its key (both
    /// or neither).
    pub fn from_files(
        ca: Option<&Path>,
        cert: Option<&Path>,
        key: Option<&Path>,
    ) -> Result<Self, TlsError> {
        let ca = ca.map(read).transpose()?;
        let identity = match (cert, key) {
            (Some(cert), Some(key)) => Some(KeyPairPem::read(cert, key)?),
            (None, None) => None,
            _ => {
                return Err(TlsError::Settings(
                    "a client certificate needs its key, and a key its certificate".into(),
                ));
            }
        };
        Self::new(ca, identity)
    }

    /// `OBUP_TLS_CA`, `OBUP_TLS_CLIENT_CERT` and `OBUP_TLS_CLIENT_KEY`.
    pub fn from_env() -> Result<Self, TlsError> {
        let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        let (ca, cert, key) = (
            env("OBUP_TLS_CA"),
            env("OBUP_TLS_CLIENT_CERT"),
            env("OBUP_TLS_CLIENT_KEY"),
        );
        Self::from_files(
            ca.as_deref().map(Path::new),
            cert.as_deref().map(Path::new),
            key.as_deref().map(Path::new),
        )
    }

    /// Whether a CA bundle is configured (else the system's roots).
    pub fn has_ca(&self) -> bool {
        self.ca.is_some()
    }

    /// Whether a client certificate is presented.
    pub fn has_identity(&self) -> bool {
        self.identity.is_some()
    }

    /// The tonic config for `https://` URLs.
    pub fn tonic(&self) -> ClientTlsConfig {
        let mut config = ClientTlsConfig::new();
        config = match &self.ca {
            Some(ca) => config.ca_certificate(Certificate::from_pem(ca)),
            None => config.with_native_roots(),
        };
        if let Some(id) = &self.identity {
            config = config.identity(Identity::from_pem(&id.cert, &id.key));
        }
        config
    }

    /// An endpoint for `url`: TLS for `https://`, plaintext (h2c) for
    /// `http://`.
    pub fn endpoint(&self, url: &str) -> Result<Endpoint, TlsError> {
        let bad = |reason: String| TlsError::Url {
            url: url.to_owned(),
            reason,
        };
        let endpoint = Endpoint::from_shared(url.to_owned()).map_err(|e| bad(e.to_string()))?;
        if url.starts_with("https://") {
            endpoint
                .tls_config(self.tonic())
                .map_err(|e| bad(e.to_string()))
        } else {
            Ok(endpoint)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_without_its_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("c.pem");
        let e = ClientTls::from_files(None, Some(&cert), None).unwrap_err();
        assert!(e.to_string().contains("needs its key"), "{e}");
    }

    #[test]
    fn a_bad_ca_fails_at_configuration() {
        let e = ClientTls::new(Some("not PEM".into()), None).unwrap_err();
        assert!(e.to_string().contains("CA bundle"), "{e}");
    }

    #[test]
    fn http_stays_plaintext_and_a_bad_url_is_named() {
        let tls = ClientTls::default();
        tls.endpoint("http://127.0.0.1:1").unwrap();
        tls.endpoint("https://127.0.0.1:1").unwrap();
        let e = tls.endpoint("not a url\n").unwrap_err();
        assert!(e.to_string().contains("not a url"), "{e}");
    }
}
