//! Bad REST requests against the whole system: each gets obshell's envelope
//! with its own status and `errCode`, and none of them stores anything.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use obup_gateway::security::{encrypt, gcm_encrypt, gcm_header, sdk_header};
use obup_test_support::RpmSpec;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::{Pkcs1v15Encrypt, RsaPrivateKey, RsaPublicKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::common::start;

const PASSWORD: &str = "Sys@obup-1";
/// AES-128 key, then IV, of the bodies the client encrypts.
const AES: [u8; 32] = *b"0123456789abcdefFEDCBA9876543210";
const BOUNDARY: &str = "obup-bad-requests-7d3f";

const UPGRADE: &str = "/api/v1/ob/upgrade";
const UPLOAD: &str = "/api/v1/upgrade/package";
const PLAIN_UPLOAD: &str = "/api/v1/package";
const PACKAGES: &str = "/api/v1/upgrade/package/info";

/// One request, written as raw HTTP/1.0.
#[derive(Debug, Clone)]
struct Req {
    method: &'static str,
    target: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl Req {
    fn new(method: &'static str, target: &str) -> Self {
        Self {
            method,
            target: target.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    fn multipart(self) -> Self {
        self.header(
            "Content-Type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
    }

    fn raw(&self) -> Vec<u8> {
        let mut head = format!("{} {} HTTP/1.0\r\n", self.method, self.target);
        for (k, v) in &self.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", self.body.len()));
        let mut raw = head.into_bytes();
        raw.extend_from_slice(&self.body);
        raw
    }
}

/// A request row: sent (twice when `replayed`, the first answer ignored),
/// then its status and `errCode` compared.
struct Case {
    name: &'static str,
    request: Req,
    replayed: bool,
    status: u16,
    err_code: &'static str,
}

fn case(name: &'static str, request: Req, status: u16, err_code: &'static str) -> Case {
    Case {
        name,
        request,
        replayed: false,
        status,
        err_code,
    }
}

/// What the client knows: the gateway's public key.
struct Client {
    public: RsaPublicKey,
    public_b64: String,
    /// Another key pair's public key, which the gateway cannot decrypt for.
    stranger: RsaPublicKey,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

impl Client {
    fn new(public_b64: String) -> Self {
        let der = B64.decode(&public_b64).unwrap();
        let stranger = RsaPrivateKey::new(&mut rand::rngs::OsRng, 1024).unwrap();
        Self {
            public: RsaPublicKey::from_pkcs1_der(&der).unwrap(),
            public_b64,
            stranger: RsaPublicKey::from(&stranger),
        }
    }

    /// `plain` sealed for `key` as the SDK seals headers: 53-byte pieces,
    /// each RSA PKCS#1 v1.5 encrypted, base64.
    fn seal_for(key: &RsaPublicKey, plain: &[u8]) -> String {
        let mut sealed = Vec::new();
        for piece in plain.chunks(53) {
            sealed.extend(
                key.encrypt(&mut rand::rngs::OsRng, Pkcs1v15Encrypt, piece)
                    .unwrap(),
            );
        }
        B64.encode(sealed)
    }

    fn seal(&self, plain: &[u8]) -> String {
        Self::seal_for(&self.public, plain)
    }

    /// A header with these fields, sealed for the gateway.
    fn header_json(&self, fields: Value) -> String {
        self.seal(fields.to_string().as_bytes())
    }

    /// A good header for `uri`, as the SDK makes it.
    fn header(&self, uri: &str) -> String {
        sdk_header(&self.public_b64, PASSWORD, uri, &AES).unwrap()
    }

    /// A header for `uri` carrying `keys` as the body's AES key and IV.
    fn header_keys(&self, uri: &str, keys: &[u8]) -> String {
        self.header_json(json!({"auth": PASSWORD, "ts": (now() + 60).to_string(),
            "uri": uri, "keys": B64.encode(keys)}))
    }

    /// `POST uri` with a good header and `json` encrypted as the SDK does.
    fn post_json(&self, uri: &str, json: &[u8]) -> Req {
        Req::new("POST", uri)
            .header("X-OCS-Header", self.header(uri))
            .body(encrypt(json, &AES))
    }

    fn get(&self, uri: &str) -> Req {
        Req::new("GET", uri).header("X-OCS-Header", self.header(uri))
    }

    /// An encrypted upload of `form` (a multipart body).
    fn upload(&self, form: &[u8]) -> Req {
        Req::new("POST", UPLOAD)
            .header("X-OCS-Header", self.header(UPLOAD))
            .multipart()
            .body(encrypt(form, &AES))
    }
}

/// A multipart body of `(field name, file name, data)` parts.
fn form(parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, file, data) in parts {
        out.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        let disposition = match file {
            Some(f) => format!("form-data; name=\"{name}\"; filename=\"{f}\""),
            None => format!("form-data; name=\"{name}\""),
        };
        out.extend_from_slice(format!("Content-Disposition: {disposition}\r\n").as_bytes());
        if file.is_some() {
            out.extend_from_slice(b"Content-Type: application/octet-stream\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    out
}

fn file_form(data: &[u8]) -> Vec<u8> {
    form(&[("file", Some("pkg.rpm"), data)])
}

/// A form without its closing boundary: the file's bytes are all there,
/// but nothing says that they ended.
fn without_closing(form: &[u8]) -> Vec<u8> {
    let closing = format!("\r\n--{BOUNDARY}--\r\n");
    form[..form.len() - closing.len()].to_vec()
}

const UPGRADE_JSON: &[u8] =
    br#"{"version":"4.3.5.0","release":"100000202024123117.el7","mode":"ROLLING"}"#;

fn cases(c: &Client) -> Vec<Case> {
    // A valid package: if any refused upload let it through, it would be
    // stored, and the checks after the table would see it.
    let rpm = RpmSpec::oceanbase_ce("4.3.5.0", "100000202024123117.el7").build();
    let mut wrong_key = AES;
    wrong_key[0] ^= 0x55;
    let mut wrong_iv = AES;
    wrong_iv[16] ^= 0x55;
    let encrypted_upload = encrypt(&file_form(&rpm), &AES);
    // A whole form minus its last base64 group: the ciphertext ends in a
    // partial AES block, which shows only once the whole file is through.
    let cut_short = encrypted_upload[..encrypted_upload.len() - 4].to_owned();
    let gcm = |body: Vec<u8>| {
        let key = [9u8; 32];
        let mut sealed = B64
            .decode(gcm_encrypt(&body, &key, UPGRADE).unwrap())
            .unwrap();
        sealed[20] ^= 1;
        Req::new("POST", UPGRADE)
            .header(
                "X-OBUP-Auth",
                gcm_header(&c.public_b64, PASSWORD, UPGRADE, &key).unwrap(),
            )
            .body(B64.encode(sealed))
    };
    let sha_header = |hex: &str| c.seal(hex.as_bytes());
    // Another file's SHA-256 (changing one digit of the package's with a
    // `replace` leaves a digest that lacks that digit unchanged).
    let other_sha = hex::encode(Sha256::digest(b"other bytes"));
    let plain_upload = || {
        Req::new("POST", PLAIN_UPLOAD)
            .header("X-OCS-Header", c.header(PLAIN_UPLOAD))
            .multipart()
            .body(file_form(&rpm))
    };
    let ts =
        |ts: Value| json!({"auth": PASSWORD, "ts": ts, "uri": UPGRADE, "keys": B64.encode(AES)});

    vec![
        // ---- JSON bodies ----
        case("body is not JSON", c.post_json(UPGRADE, b"version=4.3.5.0"), 400, "Common.BindJsonFailed"),
        case("version is a number", c.post_json(UPGRADE, br#"{"version":4,"release":"1.el7","mode":"ROLLING"}"#), 400, "Common.BindJsonFailed"),
        case("freeze_server is a string", c.post_json(UPGRADE, br#"{"version":"4.3.5.0","release":"1.el7","mode":"ROLLING","freeze_server":"yes"}"#), 400, "Common.BindJsonFailed"),
        case("body is a JSON array", c.post_json(UPGRADE, b"[1,2,3]"), 400, "Common.BindJsonFailed"),
        case("version missing", c.post_json(UPGRADE, br#"{"release":"1.el7","mode":"ROLLING"}"#), 400, "Common.BindJsonFailed"),
        case("unknown mode", c.post_json(UPGRADE, br#"{"version":"4.3.5.0","release":"1.el7","mode":"SIDEWAYS"}"#), 400, "OB.Upgrade.Mode.NotSupported"),
        case("upgrade dir escaping with ..", c.post_json(UPGRADE, br#"{"version":"4.3.5.0","release":"1.el7","mode":"ROLLING","upgradeDir":"/tmp/../etc"}"#), 400, "Common.InvalidPath"),
        case("target with no packages", c.post_json(UPGRADE, UPGRADE_JSON), 400, "OB.Package.NotExist"),
        case("body over 1 MiB", c.post_json(UPGRADE, &vec![b' '; 2 << 20]), 413, "Request.Body.TooLarge"),
        // ---- the authentication header ----
        case("no header", Req::new("POST", UPGRADE).body(encrypt(UPGRADE_JSON, &AES)), 400, "Request.Header.NotFound"),
        case("header not base64", Req::new("POST", UPGRADE).header("X-OCS-Header", "%%% not base64 %%%"), 401, "Security.Authentication.Header.DecryptFailed"),
        case("header sealed for another key", Req::new("POST", UPGRADE).header("X-OCS-Header", Client::seal_for(&c.stranger, ts(json!((now() + 60).to_string())).to_string().as_bytes())), 401, "Security.Authentication.Header.DecryptFailed"),
        case("header not JSON", Req::new("POST", UPGRADE).header("X-OCS-Header", c.seal(b"auth=Sys@obup-1")), 401, "Security.Authentication.Header.DecryptFailed"),
        case("header keys not base64", Req::new("POST", UPGRADE).header("X-OCS-Header", c.header_json(json!({"auth": PASSWORD, "ts": (now() + 60).to_string(), "uri": UPGRADE, "keys": "%%%"}))), 401, "Security.Authentication.Header.DecryptFailed"),
        case("header expired", Req::new("POST", UPGRADE).header("X-OCS-Header", c.header_json(ts(json!((now() - 1).to_string())))), 401, "Security.Authentication.Expired"),
        // obshell decodes `Ts` into a Go string: a JSON number is refused there.
        case("header ts a JSON number", Req::new("POST", UPGRADE).header("X-OCS-Header", c.header_json(ts(json!(now() + 60)))), 401, "Security.Authentication.Header.DecryptFailed"),
        case("header ts not a number", Req::new("POST", UPGRADE).header("X-OCS-Header", c.header_json(ts(json!("tomorrow")))), 401, "Security.Authentication.Timestamp.Invalid"),
        case("header for another URI", Req::new("POST", UPGRADE).header("X-OCS-Header", c.header("/api/v1/ob/upgrade/check")), 401, "Security.Authentication.Header.UriMismatch"),
        case("wrong password", Req::new("POST", UPGRADE).header("X-OCS-Header", sdk_header(&c.public_b64, "guess", UPGRADE, &AES).unwrap()), 401, "Security.Authentication.IncorrectOceanbasePassword"),
        case("agent header, no agent password set", Req::new("POST", UPGRADE).header("X-OCS-Agent-Header", c.header(UPGRADE)), 401, "Security.Authentication.IncorrectAgentPassword"),
        Case { replayed: true, ..case("replayed header", c.get(PACKAGES), 401, "Security.Authentication.Replayed") },
        // ---- the encrypted body ----
        case("body not base64", Req::new("POST", UPGRADE).header("X-OCS-Header", c.header(UPGRADE)).body("!!not base64!!"), 400, "Request.Body.Decrypt.Base64.Invalid"),
        case("body not whole AES blocks", Req::new("POST", UPGRADE).header("X-OCS-Header", c.header(UPGRADE)).body(B64.encode([7u8; 20])), 400, "Request.Body.Decrypt.AES.ContentLength.Invalid"),
        case("body encrypted with another key", Req::new("POST", UPGRADE).header("X-OCS-Header", c.header(UPGRADE)).body(encrypt(UPGRADE_JSON, &wrong_key)), 400, "Request.Body.Decrypt.AES.Padding.Invalid"),
        // CBC cannot tell a wrong IV: the first block decrypts to garbage.
        case("body encrypted with another IV", Req::new("POST", UPGRADE).header("X-OCS-Header", c.header(UPGRADE)).body(encrypt(UPGRADE_JSON, &wrong_iv)), 400, "Common.BindJsonFailed"),
        case("header AES key and IV too short", Req::new("POST", UPGRADE).header("X-OCS-Header", c.header_keys(UPGRADE, &AES[..8])).body(encrypt(UPGRADE_JSON, &AES)), 400, "Request.Body.Decrypt.AES.KeyAndIv.Invalid"),
        case("obup-gcm1 body tampered with", gcm(UPGRADE_JSON.to_vec()), 400, "Request.Body.Decrypt.Failed"),
        // ---- uploads ----
        case("upload not multipart", Req::new("POST", UPLOAD).header("X-OCS-Header", c.header(UPLOAD)).header("Content-Type", "application/json").body(encrypt(b"{}", &AES)), 500, "Request.File.Missing"),
        case("upload without a file part", c.upload(&form(&[("name", None, b"pkg.rpm")])), 500, "Request.File.Missing"),
        case("upload file under another field name", c.upload(&form(&[("pkg", Some("pkg.rpm"), &rpm)])), 500, "Request.File.Missing"),
        case("upload multipart cut after the file", c.upload(&without_closing(&file_form(&rpm))), 400, "Request.Multipart.Invalid"),
        case("upload of an empty file", c.upload(&file_form(b"")), 400, "Package.Upload.Empty"),
        case("upload of a shell script", c.upload(&file_form(&b"#!/bin/sh\necho not an rpm\n".repeat(40))), 400, "Package.NotRpm"),
        case("upload body not base64", Req::new("POST", UPLOAD).header("X-OCS-Header", c.header(UPLOAD)).multipart().body(format!("{}!!", &encrypted_upload[..4000])), 400, "Request.Body.Decrypt.Base64.Invalid"),
        case("upload ciphertext cut short", Req::new("POST", UPLOAD).header("X-OCS-Header", c.header(UPLOAD)).multipart().body(cut_short), 400, "Request.Body.Decrypt.AES.ContentLength.Invalid"),
        // Garbage before the first boundary is a multipart preamble: the
        // padding at the end is what gives the wrong key away.
        case("upload encrypted with another key", Req::new("POST", UPLOAD).header("X-OCS-Header", c.header(UPLOAD)).multipart().body(encrypt(&file_form(&rpm), &wrong_key)), 400, "Request.Body.Decrypt.AES.Padding.Invalid"),
        case("plain upload without its SHA-256", plain_upload(), 400, "Request.Header.NotFound"),
        case("plain upload, SHA-256 not decryptable", plain_upload().header("X-OCS-File-SHA256", B64.encode([1u8; 128])), 401, "Security.Authentication.Header.DecryptFailed"),
        case("plain upload, SHA-256 of other bytes", plain_upload().header("X-OCS-File-SHA256", sha_header(&other_sha)), 401, "Security.Authentication.File.Sha256Mismatch"),
        // ---- routes, methods, parameters ----
        case("unknown route", Req::new("GET", "/api/v1/nothing/here"), 404, "Common.NotFound"),
        case("wrong method", Req::new("DELETE", "/api/v1/info"), 405, "Common.MethodNotAllowed"),
        case("package id not an integer", Req::new("DELETE", "/api/v1/upgrade/package/abc").header("X-OCS-Header", c.header("/api/v1/upgrade/package/abc")), 400, "Request.Query.Param.Illegal"),
        case("DAG id not a generic id", c.get("/api/v1/task/dag/9x"), 400, "Task.GenericID.Invalid"),
        case("show_details not a boolean", c.get("/api/v1/task/dag/11?show_details=maybe"), 400, "Request.Query.Param.Illegal"),
        case("unknown DAG", c.get("/api/v1/task/dag/1424242"), 404, "Task.NotFound"),
        case("unknown DAG operator", c.post_json("/api/v1/task/dag/11", br#"{"operator":"EXPLODE"}"#), 400, "Task.Dag.Operator.NotSupport"),
        case("node operator other than PASS", c.post_json("/api/v1/task/node/11", br#"{"operator":"RETRY"}"#), 400, "Task.Node.Operator.NotSupport"),
    ]
}

#[tokio::test]
async fn each_bad_request_gets_its_envelope_and_nothing_is_stored() {
    let mut app = start(|a| a.root_password = PASSWORD.into()).await;
    let client = Client::new(app.public_key().await);
    let cases = cases(&client);
    assert!(cases.len() >= 15, "{} cases", cases.len());
    let mut failures = Vec::new();
    for c in cases {
        if c.replayed {
            app.http(&c.request.raw()).await;
        }
        let (status, body) = app.http(&c.request.raw()).await;
        let got = envelope(&body);
        let err_code = got["error"]["errCode"].as_str().unwrap_or("<none>");
        if (status, err_code) != (c.status, c.err_code) {
            failures.push(format!(
                "{}: expected {} {}, got {status} {got}",
                c.name, c.status, c.err_code
            ));
            continue;
        }
        assert_eq!(got["successful"], false, "{}", c.name);
        assert_eq!(got["status"], status, "{}: the envelope's status", c.name);
        assert!(
            got["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{}: {got}",
            c.name
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    assert_eq!(app.packages().await, [], "no package was stored");
    assert_eq!(app.objects(), Vec::<String>::new(), "no object was left");
    assert_eq!(app.dags().await, [], "no DAG was created");
}

/// The body as obshell's envelope; every answer must be one.
fn envelope(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| panic!("not an envelope: {}", String::from_utf8_lossy(body)))
}

/// obshell lets the root password be guessed at line rate; here an address
/// that fails `MAX_FAILURES` times is refused for a while, with obshell's
/// envelope, even with the right password, and nothing is stored.
#[tokio::test]
async fn password_guessing_is_throttled_per_address() {
    let app = start(|a| a.root_password = PASSWORD.into()).await;
    let c = Client::new(app.public_key().await);
    let guess = |password: &str| {
        Req::new("GET", PACKAGES)
            .header(
                "X-OCS-Header",
                sdk_header(&c.public_b64, password, PACKAGES, &AES).unwrap(),
            )
            .raw()
    };
    for i in 0..obup_gateway::security::MAX_FAILURES {
        let (status, body) = app.http(&guess(&format!("guess{i}"))).await;
        let got = envelope(&body);
        assert_eq!(
            (status, got["error"]["errCode"].as_str()),
            (
                401,
                Some("Security.Authentication.IncorrectOceanbasePassword")
            ),
            "attempt {i}: {got}"
        );
    }
    for password in ["one more guess", PASSWORD] {
        let (status, body) = app.http(&guess(password)).await;
        let got = envelope(&body);
        assert_eq!(
            (status, got["error"]["errCode"].as_str()),
            (429, Some("Security.Authentication.TooManyAttempts")),
            "{got}"
        );
        assert_eq!(got["successful"], false);
    }
}

/// obup's tokens on the REST routes (`Authorization: Bearer`), for clients
/// other than obshell's SDKs: the same roles as on gRPC (by method: GET
/// viewer, DELETE admin, others operator), plain bodies, uploads to the
/// plain route with the SHA-256 in plain hex; refusals in obshell's
/// envelope. An obshell header still takes precedence.
#[tokio::test]
async fn bearer_tokens_work_on_rest_with_their_roles() {
    use obup_proto::pb::auth::v1 as apb;
    let mut app = start(|a| a.root_password = PASSWORD.into()).await;
    let mut make = async |name: &str, role: &str| {
        app.tokens
            .create_token(apb::CreateTokenRequest {
                name: name.into(),
                role: role.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .secret
    };
    let viewer = make("rest-viewer", "viewer").await;
    let operator = make("rest-operator", "operator").await;
    let bearer = |t: &str| format!("Bearer {t}");
    let send = async |app: &crate::common::App, r: Req| {
        let (status, body) = app.http(&r.raw()).await;
        (status, envelope(&body))
    };

    let (status, got) = send(
        &app,
        Req::new("GET", PACKAGES).header("Authorization", bearer(&viewer)),
    )
    .await;
    assert_eq!(status, 200, "a viewer lists packages: {got}");

    let rpm = RpmSpec::oceanbase_ce("4.3.5.0", "100000202024123117.el7").build();
    let sha = hex::encode(Sha256::digest(&rpm));
    let upload = |token: &str, sha: &str| {
        Req::new("POST", PLAIN_UPLOAD)
            .header("Authorization", bearer(token))
            .header("X-OCS-File-SHA256", sha.to_owned())
            .multipart()
            .body(file_form(&rpm))
    };
    let (status, got) = send(&app, upload(&viewer, &sha)).await;
    assert_eq!(
        (status, got["error"]["errCode"].as_str()),
        (403, Some("Auth.Role.Insufficient")),
        "{got}"
    );
    assert_eq!(app.packages().await, [], "nothing stored for the viewer");
    let wrong_sha = "0".repeat(64);
    let (status, got) = send(&app, upload(&operator, &wrong_sha)).await;
    assert_eq!(
        (status, got["error"]["errCode"].as_str()),
        (401, Some("Security.Authentication.File.Sha256Mismatch")),
        "{got}"
    );
    let (status, got) = send(&app, upload(&operator, &sha)).await;
    assert_eq!(status, 200, "an operator uploads: {got}");
    assert_eq!(app.packages().await.len(), 1);

    // A plain JSON body for an operator's upgrade request is read as such
    // (it fails for want of a package for the libs, not for decryption).
    let (status, got) = send(
        &app,
        Req::new("POST", UPGRADE)
            .header("Authorization", bearer(&viewer))
            .body(UPGRADE_JSON.to_vec()),
    )
    .await;
    assert_eq!(
        (status, got["error"]["errCode"].as_str()),
        (403, Some("Auth.Role.Insufficient")),
        "{got}"
    );
    let (status, got) = send(
        &app,
        Req::new("POST", UPGRADE)
            .header("Authorization", bearer(&operator))
            .body(UPGRADE_JSON.to_vec()),
    )
    .await;
    assert_ne!(
        got["error"]["errCode"].as_str(),
        Some("Common.BindJsonFailed"),
        "{status} {got}"
    );
    assert!(
        !got["error"]["errCode"]
            .as_str()
            .unwrap_or("")
            .starts_with("Auth."),
        "{status} {got}"
    );

    for (case, value, status, err) in [
        (
            "wrong token",
            bearer(&format!("obup_{}", "A".repeat(43))),
            401,
            "Auth.Token.Invalid",
        ),
        (
            "malformed",
            "Bearer nope".to_owned(),
            401,
            "Auth.Token.Malformed",
        ),
    ] {
        let (s, got) = send(
            &app,
            Req::new("GET", PACKAGES).header("Authorization", value),
        )
        .await;
        assert_eq!(
            (s, got["error"]["errCode"].as_str()),
            (status, Some(err)),
            "{case}: {got}"
        );
        assert_eq!(got["error"]["code"], 10008, "{case}");
    }
    // With both, obshell's header decides (here: a wrong password).
    let (s, got) = send(
        &app,
        Req::new("GET", PACKAGES)
            .header("Authorization", bearer(&operator))
            .header(
                "X-OCS-Header",
                sdk_header(
                    &Client::new(app.public_key().await).public_b64,
                    "guess",
                    PACKAGES,
                    &AES,
                )
                .unwrap(),
            ),
    )
    .await;
    assert_eq!(
        (s, got["error"]["errCode"].as_str()),
        (
            401,
            Some("Security.Authentication.IncorrectOceanbasePassword")
        ),
        "{got}"
    );
}
