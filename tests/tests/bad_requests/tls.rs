//! TLS on the client listener (`obup dev --tls`, the same `serve_tls` and
//! `ListenerTls` the standalone services use): the API answers over it,
//! plaintext gets nothing, client certificates are an identity with the
//! role their CA gave them, an untrusted one does not get in, and a renewed
//! certificate is served without a restart. Each refused row checks that
//! nothing changed.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use obup_kit::tls::{ClientTls, DevCa, KeyPairPem};
use obup_proto::pb::orchestrator::v1 as opb;
use obup_proto::pb::packagestore::v1 as ppb;
use obup_test_support::RpmSpec;
use ppb::package_store_client::PackageStoreClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tonic::Code;
use tonic::transport::Channel;

use crate::auth::snapshot;
use crate::common::{App, code, start};

/// A server with TLS whose client certificates come from `users` (a CA of
/// the test's own, as a company CA would be).
async fn start_tls(users: &DevCa, dir: &Path) -> App {
    let ca_file = dir.join("users-ca.pem");
    std::fs::write(&ca_file, &users.cert_pem).unwrap();
    start(|a| {
        a.tls = true;
        a.tls_client_ca = Some(ca_file);
    })
    .await
}

fn server_ca(app: &App) -> String {
    std::fs::read_to_string(app.tls_ca.as_ref().expect("--tls")).unwrap()
}

/// A channel to `app` presenting `identity`.
async fn with_certificate(app: &App, identity: &KeyPairPem) -> Result<Channel, String> {
    ClientTls::new(Some(server_ca(app)), Some(identity.clone()))
        .unwrap()
        .endpoint(&app.url)
        .unwrap()
        .connect()
        .await
        .map_err(|e| format!("{e:?}"))
}

async fn delete(channel: Channel, id: i64) -> Result<(), tonic::Status> {
    PackageStoreClient::new(channel)
        .delete_package(ppb::DeletePackageRequest { id })
        .await
        .map(drop)
}

/// One HTTP/1.0 exchange over TLS, trusting `ca` only: the status line, or
/// why there was none.
async fn https_get(addr: &str, ca: &str, path: &str) -> Result<String, String> {
    let request = format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n");
    let text = https_exchange(addr, ca, &request).await?;
    Ok(text.lines().next().unwrap_or("").to_owned())
}

/// The same for any request: the whole response, as text.
async fn https_exchange(addr: &str, ca: &str, request: &str) -> Result<String, String> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    tls.write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    let _ = tls.read_to_end(&mut raw).await;
    Ok(String::from_utf8_lossy(&raw).into_owned())
}

#[tokio::test]
async fn over_tls_the_console_cookie_is_secure() {
    let users = DevCa::generate("users").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let app = start_tls(&users, dir.path()).await;
    let addr = app.url.trim_start_matches("https://").to_owned();
    let body = format!(r#"{{"token":"{}"}}"#, app.admin_token.secret());
    let request = format!(
        "POST /api/v1/console/session HTTP/1.0\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let response = https_exchange(&addr, &server_ca(&app), &request)
        .await
        .unwrap();
    assert!(response.starts_with("HTTP/1.0 200"), "{response}");
    let cookie = response
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .unwrap_or_else(|| panic!("no cookie: {response}"));
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict")
            && cookie.contains("; Secure"),
        "{cookie}"
    );
}

#[tokio::test]
async fn over_tls_the_api_answers_and_plaintext_gets_nothing() {
    let users = DevCa::generate("users").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut app = start_tls(&users, dir.path()).await;
    assert!(app.url.starts_with("https://"), "{}", app.url);
    let addr = app.url.trim_start_matches("https://").to_owned();
    // gRPC with a token, over TLS (the app's own clients).
    let package = app
        .upload(&RpmSpec::oceanbase_ce("4.3.5.0", "100000202024123117.el7"))
        .await
        .id;
    // REST over TLS.
    let status = https_get(&addr, &server_ca(&app), "/api/v1/info")
        .await
        .unwrap();
    assert!(status.starts_with("HTTP/1.0 200"), "{status:?}");
    let before = snapshot(&mut app).await;

    // Plaintext gRPC (h2c) to the TLS port, with the admin token: no call
    // gets through.
    let plain = format!("http://{addr}");
    let outcome = match Channel::from_shared(plain).unwrap().connect().await {
        Err(e) => format!("connect: {e:?}"),
        Ok(ch) => {
            let mut client = PackageStoreClient::with_interceptor(
                ch,
                crate::common::bearer(Some(&app.admin_token)),
            );
            let e = client
                .delete_package(ppb::DeletePackageRequest { id: package })
                .await
                .unwrap_err();
            assert_ne!(e.code(), Code::Ok);
            format!("call: {e:?}")
        }
    };
    println!("plaintext gRPC to the TLS port: {outcome}");
    // Plaintext HTTP to the TLS port: no HTTP answer.
    let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    tcp.write_all(b"DELETE /api/v1/upgrade/package HTTP/1.0\r\n\r\n")
        .await
        .unwrap();
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(15), tcp.read_to_end(&mut raw)).await;
    assert!(
        !raw.starts_with(b"HTTP/"),
        "a plaintext request got an HTTP answer: {:?}",
        String::from_utf8_lossy(&raw)
    );
    // A client that does not trust the server's CA does not talk to it.
    let other = DevCa::generate("elsewhere").unwrap();
    let e = https_get(&addr, &other.cert_pem, "/api/v1/info")
        .await
        .unwrap_err();
    assert!(e.contains("certificate"), "{e}");
    assert_eq!(snapshot(&mut app).await, before);
}

#[tokio::test]
async fn a_client_certificate_is_an_identity_with_the_role_its_ca_gave() {
    let users = DevCa::generate("users").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut app = start_tls(&users, dir.path()).await;
    let package = app
        .upload(&RpmSpec::oceanbase_ce("4.3.5.0", "100000202024123117.el7"))
        .await
        .id;
    let before = snapshot(&mut app).await;

    // Refused rows: code, stable code, and nothing changed.
    let viewer = users.user("vera", "viewer", None).unwrap();
    let no_role = users.client("some-service").unwrap();
    let demo_admin = users.user("dora", "admin", Some("demo")).unwrap();
    for (what, identity, expected) in [
        (
            "a viewer certificate deletes",
            &viewer,
            "Auth.Role.Insufficient",
        ),
        (
            "a certificate with no role deletes",
            &no_role,
            "Auth.Certificate.NoRole",
        ),
    ] {
        let ch = with_certificate(&app, identity).await.unwrap();
        let e = delete(ch, package).await.unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied, "{what}: {e:?}");
        assert_eq!(code(&e), expected, "{what}: {e:?}");
    }
    let ch = with_certificate(&app, &demo_admin).await.unwrap();
    let e = opb::upgrade_orchestrator_client::UpgradeOrchestratorClient::new(ch)
        .start_upgrade(opb::UpgradeRequest {
            version: "4.3.5.0".into(),
            release: "100000202024123117.el7".into(),
            mode: opb::Mode::Rolling as i32,
            cluster: "prod".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    assert_eq!(code(&e), "Auth.Cluster.Forbidden", "{e:?}");
    // A certificate of a CA the server does not trust, naming itself admin:
    // the handshake refuses it (whether connect or the first call notices
    // depends on the TLS version's message order).
    let forger = DevCa::generate("forger").unwrap();
    let forged = forger.user("mallory", "admin", None).unwrap();
    let refusal = match with_certificate(&app, &forged).await {
        Err(e) => e,
        Ok(ch) => format!("{:?}", delete(ch, package).await.unwrap_err()),
    };
    assert!(refusal.contains("UnknownCA"), "{refusal}");
    assert_eq!(snapshot(&mut app).await, before);

    // Accepted: the viewer reads, an admin certificate deletes.
    let ch = with_certificate(&app, &viewer).await.unwrap();
    let listed = PackageStoreClient::new(ch)
        .list_packages(ppb::ListPackagesRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.packages.len(), 1);
    let admin = users.user("ada", "admin", None).unwrap();
    let ch = with_certificate(&app, &admin).await.unwrap();
    delete(ch, package).await.unwrap();
    assert!(snapshot(&mut app).await.0.is_empty());

    // The audit trail names certificate callers by their subject, refused
    // or not.
    let deletes: Vec<(String, String, String)> = crate::audit::events(&app, "package-store", 0)
        .await
        .into_iter()
        .filter(|e| e.method == "DeletePackage")
        .map(|e| (e.actor, e.credential, e.result))
        .collect();
    let by = |cn: &str, result: &str| {
        deletes
            .iter()
            .any(|(a, c, r)| a.contains(&format!("CN={cn}")) && c == "certificate" && r == result)
    };
    assert!(by("vera", "Auth.Role.Insufficient"), "{deletes:?}");
    assert!(by("some-service", "Auth.Certificate.NoRole"), "{deletes:?}");
    assert!(by("ada", "OK"), "{deletes:?}");
}

#[tokio::test]
async fn a_renewed_server_certificate_is_served_without_a_restart() {
    let users = DevCa::generate("users").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let app = start_tls(&users, dir.path()).await;
    let addr = app.url.trim_start_matches("https://").to_owned();
    let old_ca = server_ca(&app);
    assert!(https_get(&addr, &old_ca, "/api/v1/info").await.is_ok());
    // The operator renews the certificate from another CA: key first, then
    // the certificate (a moment where the pair does not match).
    let renewed_by = DevCa::generate("renewed").unwrap();
    let renewed = renewed_by
        .server(&obup_kit::tls::dev_server_names("127.0.0.1"))
        .unwrap();
    let tls_dir = app.tls_ca.as_ref().unwrap().parent().unwrap().to_owned();
    std::fs::write(tls_dir.join("server-key.pem"), &renewed.key).unwrap();
    std::fs::write(tls_dir.join("server.pem"), &renewed.cert).unwrap();
    // Reloaded within a second or two of the change, for new connections.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        if https_get(&addr, &renewed_by.cert_pem, "/api/v1/info")
            .await
            .is_ok()
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the renewed certificate is not served"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let e = https_get(&addr, &old_ca, "/api/v1/info").await.unwrap_err();
    assert!(e.contains("certificate"), "{e}");
}
