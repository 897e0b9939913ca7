//! A development PKI for `obup dev` and tests: a CA that issues server and
//! client certificates (rcgen), written once under a directory and kept.

use std::path::{Path, PathBuf};

use super::{KeyPairPem, TlsError};

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
        self.issue(names, rcgen::ExtendedKeyUsagePurpose::ServerAuth, &[])
    }

    /// A client certificate whose common name is `name`.
    pub fn client(&self, name: &str) -> Result<KeyPairPem, TlsError> {
        self.issue(
            &[name.to_owned()],
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
            &[],
        )
    }

    /// A client certificate for a person or a program calling obup's API:
    /// common name `name`, organization `role` and, when limited to one
    /// cluster, organizational unit `cluster:<name>` (see
    /// [`super::peer::ClientCertificate`]).
    pub fn user(
        &self,
        name: &str,
        role: &str,
        cluster: Option<&str>,
    ) -> Result<KeyPairPem, TlsError> {
        let mut dn = vec![(rcgen::DnType::OrganizationName, role.to_owned())];
        if let Some(c) = cluster {
            dn.push((
                rcgen::DnType::OrganizationalUnitName,
                format!("{}{c}", super::peer::CLUSTER_UNIT_PREFIX),
            ));
        }
        self.issue(
            &[name.to_owned()],
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
            &dn,
        )
    }

    fn issue(
        &self,
        names: &[String],
        usage: rcgen::ExtendedKeyUsagePurpose,
        dn: &[(rcgen::DnType, String)],
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
        for (kind, value) in dn {
            params.distinguished_name.push(kind.clone(), value.as_str());
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
