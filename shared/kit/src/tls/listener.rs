//! TLS on the listeners clients call: gRPC and REST share one port, so the
//! config offers HTTP/2 and HTTP/1.1. The server certificate is reloaded
//! when its files change (certificates are renewed while a service that
//! stops zones should keep running); client certificates of the configured
//! CA are accepted and name the caller (see [`super::peer`]), but not
//! required, since a token authenticates too.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio_rustls::rustls;
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use tokio_rustls::rustls::sign::CertifiedKey;

use super::{TlsError, certificates, client_roots, private_key, provider, read};

/// How often a handshake may look at the certificate files: a stat of two
/// files per second at most, however many clients connect.
const RELOAD_CHECK: Duration = Duration::from_secs(1);

/// The TLS settings of a listener: PEM files.
#[derive(Debug, Clone)]
pub struct ListenerTls {
    /// The server's certificate chain (leaf first) and its key.
    pub cert: PathBuf,
    pub key: PathBuf,
    /// CAs whose client certificates are accepted as an identity; `None`:
    /// the server asks for no client certificate.
    pub client_ca: Option<PathBuf>,
}

impl ListenerTls {
    /// `OBUP_TLS_CERT` and `OBUP_TLS_KEY` (both, or neither for
    /// plaintext), `OBUP_TLS_CLIENT_CA` (optional).
    pub fn from_env() -> Result<Option<Self>, TlsError> {
        let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        let client_ca = env("OBUP_TLS_CLIENT_CA").map(PathBuf::from);
        match (env("OBUP_TLS_CERT"), env("OBUP_TLS_KEY")) {
            (Some(cert), Some(key)) => Ok(Some(Self {
                cert: cert.into(),
                key: key.into(),
                client_ca,
            })),
            (None, None) if client_ca.is_none() => Ok(None),
            _ => Err(TlsError::Settings(
                "TLS needs both OBUP_TLS_CERT and OBUP_TLS_KEY (OBUP_TLS_CLIENT_CA only with them)"
                    .into(),
            )),
        }
    }

    /// The rustls config: fails now on a missing or bad file, so that a
    /// service does not start with a listener no client can talk to.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let resolver = Reloading::load(&self.cert, &self.key)?;
        let builder = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?;
        let builder = match &self.client_ca {
            None => builder.with_no_client_auth(),
            Some(path) => {
                // Optional: a client without a certificate goes on to the
                // token check; one with a certificate this CA did not sign
                // is refused in the handshake.
                let verifier = WebPkiClientVerifier::builder_with_provider(
                    client_roots(&read(path)?)?,
                    provider(),
                )
                .allow_unauthenticated()
                .build()?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder.with_cert_resolver(Arc::new(resolver));
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// What identifies a version of a file without reading it.
type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &Path) -> Stamp {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// Serves the certificate of two files, loading them again when either
/// changes. A change that does not load (the key written a moment after the
/// certificate, say) keeps the previous certificate until the next change.
#[derive(Debug)]
struct Reloading {
    cert: PathBuf,
    key: PathBuf,
    state: Mutex<Loaded>,
}

#[derive(Debug)]
struct Loaded {
    current: Arc<CertifiedKey>,
    stamps: (Stamp, Stamp),
    checked: Instant,
}

impl Reloading {
    fn load(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let stamps = (stamp(cert), stamp(key));
        Ok(Self {
            cert: cert.to_owned(),
            key: key.to_owned(),
            state: Mutex::new(Loaded {
                current: Arc::new(certified(cert, key)?),
                stamps,
                checked: Instant::now(),
            }),
        })
    }

    fn current(&self) -> Arc<CertifiedKey> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.checked.elapsed() >= RELOAD_CHECK {
            state.checked = Instant::now();
            let stamps = (stamp(&self.cert), stamp(&self.key));
            if stamps != state.stamps {
                state.stamps = stamps;
                match certified(&self.cert, &self.key) {
                    Ok(new) => {
                        state.current = Arc::new(new);
                        tracing::info!(cert = %self.cert.display(), "TLS certificate reloaded");
                    }
                    Err(e) => tracing::warn!(
                        cert = %self.cert.display(),
                        "TLS certificate files changed but do not load; serving the previous one: {e}"
                    ),
                }
            }
        }
        state.current.clone()
    }
}

impl ResolvesServerCert for Reloading {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

fn certified(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let chain = certificates(&read(cert)?, "the server certificate")?;
    let key = private_key(&read(key)?, "the server key")?;
    Ok(CertifiedKey::from_der(chain, key, &provider())?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::DevCa;

    fn write(dir: &Path, ca: &DevCa, name: &str) -> ListenerTls {
        let pair = ca.server(&[name.to_owned()]).unwrap();
        std::fs::write(dir.join("cert.pem"), &pair.cert).unwrap();
        std::fs::write(dir.join("key.pem"), &pair.key).unwrap();
        ListenerTls {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
            client_ca: None,
        }
    }

    #[test]
    fn a_changed_certificate_is_served_after_the_next_check() {
        let dir = tempfile::tempdir().unwrap();
        let ca = DevCa::generate("test CA").unwrap();
        let tls = write(dir.path(), &ca, "one.example");
        let resolver = Reloading::load(&tls.cert, &tls.key).unwrap();
        let first = resolver.current().cert[0].clone();
        write(dir.path(), &ca, "two.example");
        // Within the check interval the old one is served ...
        assert_eq!(resolver.current().cert[0], first);
        // ... after it, the new one.
        resolver.state.lock().unwrap().checked -= RELOAD_CHECK;
        assert_ne!(resolver.current().cert[0], first);
    }

    #[test]
    fn files_that_do_not_load_keep_the_previous_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let ca = DevCa::generate("test CA").unwrap();
        let tls = write(dir.path(), &ca, "one.example");
        let resolver = Reloading::load(&tls.cert, &tls.key).unwrap();
        let first = resolver.current().cert[0].clone();
        // A new certificate whose key is not written yet: a mismatch.
        let other = ca.server(&["two.example".to_owned()]).unwrap();
        std::fs::write(&tls.cert, format!("{}\n", other.cert)).unwrap();
        resolver.state.lock().unwrap().checked -= RELOAD_CHECK;
        assert_eq!(resolver.current().cert[0], first);
        // The key arrives: the new pair is served.
        std::fs::write(&tls.key, &other.key).unwrap();
        resolver.state.lock().unwrap().checked -= RELOAD_CHECK;
        assert_ne!(resolver.current().cert[0], first);
    }

    #[test]
    fn half_a_configuration_is_refused() {
        let tls = ListenerTls {
            cert: "/nonexistent/cert.pem".into(),
            key: "/nonexistent/key.pem".into(),
            client_ca: None,
        };
        let e = tls.server_config().unwrap_err();
        assert!(e.to_string().contains("/nonexistent/cert.pem"), "{e}");
    }
}
