//! Mutual TLS: the agent serves only clients whose certificate its CA
//! signed.

use obup_agent::AgentClient;
use obup_kit::tls::{DevCa, client_config, dev_server_names, write_dev_pki};

use crate::helpers::*;

#[tokio::test]
async fn only_clients_with_a_certificate_from_the_agents_ca_get_in() {
    let pki_dir = tempfile::tempdir().unwrap();
    let pki = write_dev_pki(pki_dir.path(), &dev_server_names("127.0.0.1")).unwrap();
    let agent = TestAgent::start_with(|c| {
        c.plaintext = false;
        c.tls_cert = Some(pki.server_cert.clone());
        c.tls_key = Some(pki.server_key.clone());
        c.tls_client_ca = Some(pki.ca_cert.clone());
    })
    .await;
    let url = agent.url();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let ca = std::fs::read_to_string(&pki.ca_cert).unwrap();
    let identity = obup_kit::tls::KeyPairPem::read(&pki.client_cert, &pki.client_key).unwrap();

    // The orchestrator's certificate: served.
    let tls = client_config(&ca, Some(&identity), None).unwrap();
    let mut good = AgentClient::connect(&url, Some(tls)).await.unwrap();
    let facts = good.facts().await.unwrap();
    assert_eq!(facts.home.path, HOME);

    // No certificate: the handshake is refused.
    let anonymous = client_config(&ca, None, None).unwrap();
    let refused = match AgentClient::connect(&url, Some(anonymous)).await {
        Err(_) => true,
        Ok(mut c) => c.facts().await.is_err(),
    };
    assert!(refused, "a client without a certificate got in");

    // A certificate from another CA: refused.
    let other = DevCa::generate("someone else").unwrap();
    let stranger = other.client("orchestrator").unwrap();
    let tls = client_config(&ca, Some(&stranger), None).unwrap();
    let refused = match AgentClient::connect(&url, Some(tls)).await {
        Err(_) => true,
        Ok(mut c) => c.facts().await.is_err(),
    };
    assert!(refused, "a client of another CA got in");

    // Plaintext to a TLS agent: nothing.
    let plain = url.replace("https://", "http://");
    let refused = match AgentClient::connect(&plain, None).await {
        Err(_) => true,
        Ok(mut c) => c.facts().await.is_err(),
    };
    assert!(refused, "plaintext got in");
}
