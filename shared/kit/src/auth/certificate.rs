//! A client certificate as a caller's identity: mutual TLS instead of a
//! token (see `crate::tls::peer` for what the subject says).

use super::{AuthError, Credential, Principal, Role};
use crate::tls::ClientCertificate;

/// The caller a verified client certificate names. Its organization must
/// name exactly one role: a certificate the CA signed for some other use
/// (a service's, say) grants nothing.
pub fn principal(certificate: &ClientCertificate) -> Result<Principal, AuthError> {
    let roles: Vec<Role> = certificate
        .organizations
        .iter()
        .filter_map(|o| Role::parse(o))
        .collect();
    match roles.as_slice() {
        [role] => Ok(Principal {
            name: certificate.name().to_owned(),
            role: *role,
            cluster: certificate.cluster().map(str::to_owned),
            credential: Credential::Certificate {
                subject: certificate.subject.clone(),
            },
        }),
        _ => Err(AuthError::CertificateRole {
            subject: certificate.subject.clone(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(orgs: &[&str], units: &[&str]) -> ClientCertificate {
        ClientCertificate {
            subject: "CN=alice".into(),
            common_name: Some("alice".into()),
            organizations: orgs.iter().map(|s| s.to_string()).collect(),
            units: units.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn one_role_and_an_optional_cluster() {
        let p = principal(&cert(&["operator"], &["cluster:prod"])).unwrap();
        assert_eq!(p.name, "alice");
        assert_eq!(p.role, Role::Operator);
        assert_eq!(p.cluster.as_deref(), Some("prod"));
        assert_eq!(p.credential_kind(), "certificate");
    }

    #[test]
    fn no_role_or_two_roles_grant_nothing() {
        for orgs in [&[][..], &["obup"][..], &["viewer", "admin"][..]] {
            let e = principal(&cert(orgs, &[])).unwrap_err();
            assert_eq!(e.code(), "Auth.Certificate.NoRole");
        }
    }
}
