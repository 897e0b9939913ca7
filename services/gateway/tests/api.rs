//! The gateway's envelope and every authentication failure, through the
//! router itself (`Router::oneshot`, no socket). Backends are unreachable:
//! every case here is decided before a backend is asked.

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine;
use obup_gateway::security::{Keys, Passwords, Security, encrypt};
use obup_gateway::{AppState, Identity, routes};
use serde_json::{Value, json};
use tower::ServiceExt;

const PASSWORD: &str = "Sys@1";
const AES: [u8; 32] = *b"0123456789abcdefFEDCBA9876543210";

fn key() -> Keys {
    static KEY: OnceLock<Keys> = OnceLock::new();
    KEY.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        Keys::load_or_create(&dir.path().join("k.der"), 1024).unwrap()
    })
    .clone()
}

fn app(agent_password: Option<&str>) -> Router {
    app_on(agent_password, "http://127.0.0.1:9")
}

/// The gateway in front of the services at `backend`.
fn app_on(agent_password: Option<&str>, backend: &str) -> Router {
    let security = Security::new(
        key(),
        Passwords {
            root: PASSWORD.into(),
            agent: agent_password.map(str::to_owned),
        },
    );
    let identity = Identity {
        ip: "127.0.0.1".into(),
        port: 2886,
        version: obup_gateway::AGENT_VERSION.into(),
    };
    let tls = obup_kit::tls::ClientTls::default();
    let backends = obup_gateway::Backends {
        packages: backend,
        orchestrator: backend,
        token: None,
        tls: &tls,
    };
    let state = Arc::new(AppState::new(security, &backends, identity).unwrap());
    routes::router(state).fallback(routes::fallback)
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// An X-OCS-Header as the SDK makes it.
fn header(auth: &str, ts: i64, uri: &str) -> String {
    let json = json!({"auth": auth, "ts": ts.to_string(), "uri": uri,
        "keys": base64::engine::general_purpose::STANDARD.encode(AES)});
    base64::engine::general_purpose::STANDARD
        .encode(key().encrypt_like_sdk(json.to_string().as_bytes()))
}

async fn call(app: &Router, req: Request<Body>) -> (StatusCode, Value) {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let body = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    let json: Value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&body)));
    assert_eq!(
        json["status"],
        status.as_u16(),
        "HTTP status equals the envelope's"
    );
    assert_eq!(json["successful"], status.is_success());
    assert!(
        json["timestamp"].is_string() && json["duration"].is_u64() && json["traceId"].is_string()
    );
    (status, json)
}

fn post(uri: &str, header_name: &str, header_value: &str, body: String) -> Request<Body> {
    Request::post(uri)
        .header(header_name, header_value)
        .body(Body::from(body))
        .unwrap()
}

fn upgrade_body() -> String {
    encrypt(
        br#"{"version":"4.3.5.0","release":"1.el7","mode":"ROLLING","upgradeDir":null}"#,
        &AES,
    )
}

#[tokio::test]
async fn bootstrap_endpoints_answer_without_auth() {
    let app = app(None);
    let (s, info) = call(
        &app,
        Request::get("/api/v1/info").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(info["data"]["identity"], "CLUSTER AGENT");
    assert_eq!(info["data"]["supportedAuth"], json!(["v2"]));
    assert_eq!(info["data"]["security"], false);
    let (_, secret) = call(
        &app,
        Request::get("/api/v1/secret").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(secret["data"]["public_key"], key().public_b64());
    let (_, status) = call(
        &app,
        Request::get("/api/v1/status").body(Body::empty()).unwrap(),
    )
    .await;
    assert!(status["data"]["agent"].is_object());
    let traced = Request::get("/api/v1/info")
        .header("X-OBSHELL-Trace-ID", "abc123")
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(&app, traced).await.1["traceId"], "abc123");
}

#[tokio::test]
async fn every_authentication_failure_has_its_code() {
    let app = app(None);
    let uri = "/api/v1/ob/upgrade";
    let other = Keys::from_private(rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 1024).unwrap());
    let foreign = base64::engine::general_purpose::STANDARD.encode(
        other.encrypt_like_sdk(
            json!({"auth": PASSWORD, "ts": (now() + 60).to_string(), "uri": uri, "keys": ""})
                .to_string()
                .as_bytes(),
        ),
    );
    let not_json = base64::engine::general_purpose::STANDARD
        .encode(key().encrypt_like_sdk(b"not json at all"));
    let cases: Vec<(&str, String, StatusCode, i64, &str)> = vec![
        (
            "bad base64",
            "%%%".into(),
            StatusCode::UNAUTHORIZED,
            1,
            "Security.Authentication.Header.DecryptFailed",
        ),
        (
            "wrong key",
            foreign,
            StatusCode::UNAUTHORIZED,
            1,
            "Security.Authentication.Header.DecryptFailed",
        ),
        (
            "not JSON",
            not_json,
            StatusCode::UNAUTHORIZED,
            1,
            "Security.Authentication.Header.DecryptFailed",
        ),
        (
            "URI mismatch",
            header(PASSWORD, now() + 60, "/api/v1/ob/upgrade/check"),
            StatusCode::UNAUTHORIZED,
            10008,
            "Security.Authentication.Header.UriMismatch",
        ),
        (
            "expired",
            header(PASSWORD, now() - 1, uri),
            StatusCode::UNAUTHORIZED,
            10008,
            "Security.Authentication.Expired",
        ),
        (
            "wrong password",
            header("guess", now() + 60, uri),
            StatusCode::UNAUTHORIZED,
            10008,
            "Security.Authentication.IncorrectOceanbasePassword",
        ),
    ];
    for (case, value, status, code, err_code) in cases {
        let (s, body) = call(&app, post(uri, "X-OCS-Header", &value, upgrade_body())).await;
        assert_eq!(s, status, "{case}: {body}");
        assert_eq!(body["error"]["code"].as_i64().unwrap_or(0), code, "{case}");
        assert_eq!(body["error"]["errCode"], err_code, "{case}");
    }
    let (s, body) = call(
        &app,
        Request::post(uri).body(Body::from(upgrade_body())).unwrap(),
    )
    .await;
    assert_eq!(
        (s, body["error"]["errCode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("Request.Header.NotFound"))
    );

    // The agent header needs the agent password, which is not set.
    let agent = header(PASSWORD, now() + 60, uri);
    let (_, body) = call(
        &app,
        post(uri, "X-OCS-Agent-Header", &agent, upgrade_body()),
    )
    .await;
    assert_eq!(
        body["error"]["errCode"],
        "Security.Authentication.IncorrectAgentPassword"
    );
}

/// The header JSON exactly as obshell's Go SDK marshals its `HttpHeader`
/// (`obshell-sdk-go` `sdk/auth/passwod_v2.go`: `Auth`, `Ts` as a string,
/// `Uri`, `Keys []byte`): field names as keys, no spaces, `null` for the nil
/// `Keys` of a request without a body, and `&`, `<`, `>` escaped as Go's
/// `json.Marshal` escapes them.
fn go_header_json(auth: &str, ts: i64, uri: &str, keys: Option<&[u8]>) -> String {
    let go_string = |s: &str| {
        serde_json::to_string(s)
            .unwrap()
            .replace('&', "\\u0026")
            .replace('<', "\\u003c")
            .replace('>', "\\u003e")
    };
    let keys = keys.map_or("null".into(), |k| {
        format!(
            "\"{}\"",
            base64::engine::general_purpose::STANDARD.encode(k)
        )
    });
    format!(
        r#"{{"Auth":{},"Ts":"{ts}","Uri":{},"Keys":{keys}}}"#,
        go_string(auth),
        go_string(uri)
    )
}

/// Sealed as both SDKs seal it: RSA PKCS#1 v1.5 over 53-byte pieces, base64.
fn seal(json: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(key().encrypt_like_sdk(json.as_bytes()))
}

/// The shapes of the same header that obshell's SDKs send.
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// Python: lower-case keys, `keys` always a string.
    Python,
    /// Go: `"Keys": null` without a body.
    Go,
    /// Go's shape with `Keys` left out altogether.
    GoWithoutKeys,
}

fn shaped(shape: Shape, auth: &str, ts: i64, uri: &str, has_body: bool) -> String {
    let body_keys = has_body.then_some(&AES[..]);
    seal(&match shape {
        Shape::Python => json!({"auth": auth, "ts": ts.to_string(), "uri": uri,
            "keys": base64::engine::general_purpose::STANDARD.encode(AES)})
        .to_string(),
        Shape::Go => go_header_json(auth, ts, uri, body_keys),
        Shape::GoWithoutKeys if has_body => go_header_json(auth, ts, uri, body_keys),
        Shape::GoWithoutKeys => format!(r#"{{"Auth":"{auth}","Ts":"{ts}","Uri":"{uri}"}}"#),
    })
}

/// Every GET route without a body and a POST with one, in the Python and
/// the Go SDK's header shapes: each is authenticated (the unreachable
/// backend's 503 is the proof), and a wrong password or an expired header
/// gets obshell's 10008 in either shape, never a decoding error.
#[tokio::test]
async fn go_and_python_shaped_headers_authenticate_on_every_route() {
    let app = app(None);
    let gets = [
        "/api/v1/task/dag/11?show_details=true",
        // `&` is escaped as \u0026 in the Go SDK's JSON.
        "/api/v1/task/sub_task/11/logs?a=1&b=2",
        "/api/v1/task/dag/unfinish",
        "/api/v1/task/dag/ob/unfinish",
        "/api/v1/task/dag/maintain/ob",
        "/api/v1/upgrade/package/info",
        "/api/v1/task/sub_task/11",
    ];
    let post_uri = "/api/v1/ob/upgrade";
    let request = |shape: Shape, auth: &str, ts: i64, uri: &str| {
        if uri == post_uri {
            post(
                uri,
                "X-OCS-Header",
                &shaped(shape, auth, ts, uri, true),
                upgrade_body(),
            )
        } else {
            Request::get(uri)
                .header("X-OCS-Header", shaped(shape, auth, ts, uri, false))
                .body(Body::empty())
                .unwrap()
        }
    };
    for uri in gets.iter().copied().chain([post_uri]) {
        for shape in [Shape::Python, Shape::Go, Shape::GoWithoutKeys] {
            let case = format!("{shape:?} {uri}");
            let (s, body) = call(&app, request(shape, PASSWORD, now() + 60, uri)).await;
            assert_eq!(
                (s, body["error"]["errCode"].as_str()),
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Some("Common.BackendUnavailable")
                ),
                "{case}: authenticated, then the backend is asked: {body}"
            );
            let failures = [
                (
                    "guess",
                    now() + 60,
                    "Security.Authentication.IncorrectOceanbasePassword",
                ),
                (PASSWORD, now() - 1, "Security.Authentication.Expired"),
            ];
            for (auth, ts, err_code) in failures {
                let (s, body) = call(&app, request(shape, auth, ts, uri)).await;
                assert_eq!(s, StatusCode::UNAUTHORIZED, "{case}: {body}");
                assert_eq!(body["error"]["code"], 10008, "{case}: {body}");
                assert_eq!(body["error"]["errCode"], err_code, "{case}");
            }
        }
    }

    // What obshell's decoder refuses, obup refuses: a number `Ts`, a `Keys`
    // that is not base64 (code 1, like obshell's decrypt failure).
    let uri = "/api/v1/task/dag/unfinish";
    for json in [
        format!(
            r#"{{"Auth":"{PASSWORD}","Ts":{},"Uri":"{uri}","Keys":null}}"#,
            now() + 60
        ),
        format!(
            r#"{{"auth":"{PASSWORD}","ts":{},"uri":"{uri}"}}"#,
            now() + 60
        ),
        format!(
            r#"{{"Auth":"{PASSWORD}","Ts":"{}","Uri":"{uri}","Keys":"%%"}}"#,
            now() + 60
        ),
    ] {
        let req = Request::get(uri)
            .header("X-OCS-Header", seal(&json))
            .body(Body::empty())
            .unwrap();
        let (s, body) = call(&app, req).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{json}");
        assert_eq!(body["error"]["code"], 1, "{json}");
        assert_eq!(
            body["error"]["errCode"], "Security.Authentication.Header.DecryptFailed",
            "{json}"
        );
    }
}

#[tokio::test]
async fn a_replayed_header_is_refused() {
    let app = app(None);
    let uri = "/api/v1/ob/upgrade";
    let value = header(PASSWORD, now() + 60, uri);
    let (first, body) = call(&app, post(uri, "X-OCS-Header", &value, upgrade_body())).await;
    // Authenticated; the (absent) backend answers.
    assert_ne!(body["error"]["errCode"], "Security.Authentication.Replayed");
    assert_ne!(first, StatusCode::UNAUTHORIZED, "{body}");
    let (second, body) = call(&app, post(uri, "X-OCS-Header", &value, upgrade_body())).await;
    assert_eq!(second, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["errCode"], "Security.Authentication.Replayed");
}

#[tokio::test]
async fn bad_bodies_and_parameters_are_specific() {
    let app = app(None);
    let uri = "/api/v1/ob/upgrade";
    let send = |body: String| {
        post(
            uri,
            "X-OCS-Header",
            &header(PASSWORD, now() + 60, uri),
            body,
        )
    };
    let cases = [
        (
            "!!not base64!!".to_owned(),
            "Request.Body.Decrypt.Base64.Invalid",
        ),
        (
            base64::engine::general_purpose::STANDARD.encode([7u8; 20]),
            "Request.Body.Decrypt.AES.ContentLength.Invalid",
        ),
        (encrypt(b"not json", &AES), "Common.BindJsonFailed"),
        (
            encrypt(br#"{"release":"1.el7","mode":"ROLLING"}"#, &AES),
            "Common.BindJsonFailed",
        ),
        (
            encrypt(
                br#"{"version":"4.3.5.0","release":"1.el7","mode":"upside-down"}"#,
                &AES,
            ),
            "OB.Upgrade.Mode.NotSupported",
        ),
        (
            encrypt(br#"{"version":4,"release":"1.el7","mode":"ROLLING"}"#, &AES),
            "Common.BindJsonFailed",
        ),
    ];
    for (body, err_code) in cases {
        let (s, json) = call(&app, send(body)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{err_code}: {json}");
        assert_eq!(json["error"]["errCode"], err_code, "{json}");
    }
    let missing_version = call(
        &app,
        send(encrypt(br#"{"release":"1.el7","mode":"ROLLING"}"#, &AES)),
    )
    .await
    .1;
    assert!(
        missing_version["error"]["message"]
            .as_str()
            .unwrap()
            .contains("'Version'")
    );

    // Generic ids and show_details are checked too.
    let dag_uri = "/api/v1/task/dag/9x?show_details=True";
    let req = Request::get(dag_uri)
        .header("X-OCS-Header", header(PASSWORD, now() + 60, dag_uri))
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        call(&app, req).await.1["error"]["errCode"],
        "Task.GenericID.Invalid"
    );
}

#[tokio::test]
async fn framework_errors_are_envelopes_too() {
    let app = app(None);
    let (s, body) = call(
        &app,
        Request::get("/api/v1/nothing").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(
        (s, body["error"]["errCode"].as_str()),
        (StatusCode::NOT_FOUND, Some("Common.NotFound"))
    );
    let (s, body) = call(
        &app,
        Request::delete("/api/v1/info").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(
        (s, body["error"]["errCode"].as_str()),
        (
            StatusCode::METHOD_NOT_ALLOWED,
            Some("Common.MethodNotAllowed")
        )
    );
    let uri = "/api/v1/ob/upgrade";
    let huge = "A".repeat(2 << 20);
    let (s, body) = call(
        &app,
        post(
            uri,
            "X-OCS-Header",
            &header(PASSWORD, now() + 60, uri),
            huge,
        ),
    )
    .await;
    assert_eq!(
        (s, body["error"]["errCode"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("Request.Body.TooLarge"))
    );
}

/// Log lines of this test binary, for the trace-id test.
#[derive(Clone, Default)]
struct Logs(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_trace_id_reaches_the_service_and_its_logs() {
    let logs = Logs::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .init();
    // A real package store behind the gateway, as in production.
    let dir = tempfile::tempdir().unwrap();
    let config = obup_package_store::Config::embedded(dir.path()).unwrap();
    let store = obup_package_store::startup::Application::build(config, "127.0.0.1:0")
        .await
        .unwrap();
    let backend = format!("http://{}", store.local_addr());
    let server = tokio::spawn(store.run_until_stopped(std::future::pending()));
    let app = app_on(None, &backend);

    let uri = "/api/v1/upgrade/package/info";
    let sent = Request::get(uri)
        .header("X-OCS-Header", header(PASSWORD, now(), uri))
        .header("X-OBSHELL-Trace-ID", "trace-7f3a")
        .body(Body::empty())
        .unwrap();
    let (s, json) = call(&app, sent).await;
    assert_eq!(
        (s, &json["traceId"]),
        (StatusCode::OK, &json!("trace-7f3a"))
    );
    // Without the header the gateway makes one up, and that one travels.
    let unsent = Request::get(uri)
        .header("X-OCS-Header", header(PASSWORD, now(), uri))
        .body(Body::empty())
        .unwrap();
    let (_, json) = call(&app, unsent).await;
    let generated = json["traceId"].as_str().unwrap().to_owned();
    server.abort();

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    for id in ["trace-7f3a", generated.as_str()] {
        let line = text
            .lines()
            .find(|l| {
                l.contains(&format!("trace_id={id}"))
                    && l.contains("ListPackages")
                    && l.contains("handled")
            })
            .unwrap_or_else(|| panic!("no package-store log line with trace id {id} in:\n{text}"));
        assert!(line.contains("grpc_status=0"), "{line}");
    }
}

/// `obup-gcm1`: RSA-OAEP header, AES-256-GCM body bound to the request.
#[tokio::test]
async fn the_gcm_scheme_authenticates_and_detects_tampering() {
    use obup_gateway::security::{gcm_encrypt, gcm_header};
    let app = app(None);
    let (_, info) = call(
        &app,
        Request::get("/api/v1/info").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(info["data"]["obupSupportedAuth"], json!(["obup-gcm1"]));
    // SDK 0.0.9 maps every supportedAuth entry to its AuthVersion enum and
    // raises on one it does not know: the extra scheme must stay out of it.
    assert_eq!(info["data"]["supportedAuth"], json!(["v2"]));

    let public = key().public_b64().to_owned();
    let uri = "/api/v1/ob/upgrade";
    let aes = [9u8; 32];
    let body = br#"{"version":"4.3.5.0","release":"1.el7","mode":"ROLLING"}"#;
    let send = |header: String, body: String| post(uri, "X-OBUP-Auth", &header, body);
    let fresh = || gcm_header(&public, PASSWORD, uri, &aes).unwrap();

    // Authenticated and decrypted: the request gets as far as the backend,
    // which is unreachable here.
    let (s, ok) = call(&app, send(fresh(), gcm_encrypt(body, &aes, uri).unwrap())).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{ok}");
    assert_eq!(ok["error"]["errCode"], "Common.BackendUnavailable", "{ok}");

    // One flipped ciphertext bit: refused, not decrypted into garbage.
    let sealed = gcm_encrypt(body, &aes, uri).unwrap();
    let mut raw = base64::engine::general_purpose::STANDARD
        .decode(&sealed)
        .unwrap();
    raw[20] ^= 1;
    let flipped = base64::engine::general_purpose::STANDARD.encode(raw);
    let (s, e) = call(&app, send(fresh(), flipped)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"]["errCode"], "Request.Body.Decrypt.Failed");

    // A body sealed for another request does not open on this one.
    let moved = gcm_encrypt(body, &aes, "/api/v1/ob/upgrade/check").unwrap();
    let (_, e) = call(&app, send(fresh(), moved)).await;
    assert_eq!(e["error"]["errCode"], "Request.Body.Decrypt.Failed");

    // A v2 (PKCS#1 v1.5) header under the obup name does not decrypt.
    let (s, e) = call(&app, send(header(PASSWORD, now() + 60, uri), String::new())).await;
    assert_eq!(
        (s, &e["error"]["code"]),
        (StatusCode::UNAUTHORIZED, &json!(1))
    );

    // The v2 checks still apply: password, then replay.
    let wrong = gcm_header(&public, "nope", uri, &aes).unwrap();
    let (_, e) = call(&app, send(wrong, String::new())).await;
    assert_eq!(e["error"]["code"], 10008);
    let once = fresh();
    call(
        &app,
        send(once.clone(), gcm_encrypt(body, &aes, uri).unwrap()),
    )
    .await;
    let (s, e) = call(&app, send(once, gcm_encrypt(body, &aes, uri).unwrap())).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{e}");

    // Uploads are not GCM-encrypted: a clear pointer to the plain route.
    let upload = "/api/v1/upgrade/package";
    let req = Request::post(upload)
        .header(
            "X-OBUP-Auth",
            gcm_header(&public, PASSWORD, upload, &aes).unwrap(),
        )
        .header("Content-Type", "multipart/form-data; boundary=x")
        .body(Body::from("x"))
        .unwrap();
    let (s, e) = call(&app, req).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"]["errCode"], "Request.Body.Decrypt.Unsupported");
}
