//! What a client certificate names. A caller may authenticate with mutual
//! TLS instead of a token: the listener's client CA vouches for the
//! certificate (rustls checked the chain in the handshake), and its subject
//! says who the caller is and what it may do:
//!
//! - the common name (CN) is the caller's name (as a token's name);
//! - the organization (O) is its role: `viewer`, `operator` or `admin`,
//!   exactly one of them;
//! - an organizational unit (OU) `cluster:<name>` limits it to one cluster.
//!
//! The same convention as Kubernetes' (CN the user, O the group): what the
//! certificate may do is decided by whoever the CA signed it for, and needs
//! no table on the server.

use x509_parser::prelude::{FromDer, X509Certificate};

/// The prefix of the organizational unit that limits a certificate to one
/// cluster.
pub const CLUSTER_UNIT_PREFIX: &str = "cluster:";

/// The subject of a client certificate that passed the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    /// The whole subject in RFC 4514 form, e.g. `CN=alice, O=operator`:
    /// what the audit trail records.
    pub subject: String,
    pub common_name: Option<String>,
    pub organizations: Vec<String>,
    pub units: Vec<String>,
}

impl ClientCertificate {
    /// The subject of a DER certificate; `None` if it does not parse (the
    /// handshake verified it, so that would be a certificate rustls reads
    /// and this parser does not).
    pub fn parse(der: &[u8]) -> Option<Self> {
        let (_, cert) = X509Certificate::from_der(der).ok()?;
        let name = cert.subject();
        let texts =
            |it: &mut dyn Iterator<Item = &x509_parser::x509::AttributeTypeAndValue<'_>>| {
                it.filter_map(|a| a.as_str().ok().map(str::to_owned))
                    .collect::<Vec<_>>()
            };
        Some(Self {
            subject: name.to_string(),
            common_name: texts(&mut name.iter_common_name()).into_iter().next(),
            organizations: texts(&mut name.iter_organization()),
            units: texts(&mut name.iter_organizational_unit()),
        })
    }

    /// The caller's name: the common name, else the whole subject.
    pub fn name(&self) -> &str {
        self.common_name.as_deref().unwrap_or(&self.subject)
    }

    /// The cluster the certificate is limited to (its first
    /// `cluster:<name>` unit).
    pub fn cluster(&self) -> Option<&str> {
        self.units
            .iter()
            .find_map(|u| u.strip_prefix(CLUSTER_UNIT_PREFIX))
            .filter(|c| !c.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_rustls::rustls::pki_types::CertificateDer;
    use tokio_rustls::rustls::pki_types::pem::PemObject;

    fn der(pem: &str) -> Vec<u8> {
        CertificateDer::from_pem_slice(pem.as_bytes())
            .unwrap()
            .to_vec()
    }

    #[test]
    fn the_subject_names_the_caller_its_role_and_its_cluster() {
        let ca = super::super::DevCa::generate("test CA").unwrap();
        let alice = ca.user("alice", "operator", Some("prod")).unwrap();
        let c = ClientCertificate::parse(&der(&alice.cert)).unwrap();
        assert_eq!(c.name(), "alice");
        assert_eq!(c.organizations, ["operator"]);
        assert_eq!(c.cluster(), Some("prod"));
        assert!(c.subject.contains("CN=alice"), "{}", c.subject);
        assert!(c.subject.contains("O=operator"), "{}", c.subject);

        let plain = ca.client("obup-orchestrator").unwrap();
        let c = ClientCertificate::parse(&der(&plain.cert)).unwrap();
        assert!(c.organizations.is_empty());
        assert_eq!(c.cluster(), None);
    }

    #[test]
    fn garbage_is_no_certificate() {
        assert_eq!(ClientCertificate::parse(b"not DER"), None);
    }
}
