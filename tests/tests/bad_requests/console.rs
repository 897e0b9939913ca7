//! The web console's sign-in and session cookie through `obup dev`'s real
//! gateway: the attack table of the session (forged, altered, signed-out
//! and revoked sessions; a change without the CSRF value; a viewer's
//! change; a cross-site form sign-in; password guessing), each with its
//! code and a check that nothing changed, and what a signed-in console
//! may do, recorded in the audit trail as the console's caller.

use obup_proto::pb::auth::v1 as apb;
use obup_test_support::RpmSpec;
use serde_json::Value;

use crate::audit::{STORE, events, last_id};
use crate::common::{App, start};

const PASSWORD: &str = "Sys@console-1";

/// One raw HTTP/1.0 exchange: status, head, JSON body (`Null` when the
/// body is not JSON).
async fn exchange(app: &App, request: String) -> (u16, String, Value) {
    let (status, head, body) = crate::common::exchange(&app.url, request.as_bytes()).await;
    (
        status,
        head,
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    )
}

/// A request with `cookie` and `csrf` (either may be empty), and a JSON
/// body when given.
fn request(method: &str, path: &str, cookie: &str, csrf: &str, json: Option<&str>) -> String {
    let mut r = format!("{method} {path} HTTP/1.0\r\nHost: console.test\r\n");
    if !cookie.is_empty() {
        r.push_str(&format!("Cookie: {cookie}\r\n"));
    }
    if !csrf.is_empty() {
        r.push_str(&format!("X-Obup-Csrf: {csrf}\r\n"));
    }
    match json {
        Some(body) => r.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )),
        None => r.push_str("\r\n"),
    }
    r
}

fn err_code(body: &Value) -> &str {
    body["error"]["errCode"].as_str().unwrap_or("")
}

/// `obup_session=...` from a response head's `Set-Cookie`, and the whole
/// header line.
fn set_cookie(head: &str) -> (String, String) {
    let line = head
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .unwrap_or_else(|| panic!("no Set-Cookie in {head}"))
        .to_owned();
    let pair = line["set-cookie:".len()..]
        .trim()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    (pair, line)
}

/// Signs in with `body`; the cookie pair and the session's CSRF value.
async fn sign_in(app: &App, body: &str) -> (String, String) {
    let (status, head, json) = exchange(
        app,
        request("POST", "/api/v1/console/session", "", "", Some(body)),
    )
    .await;
    assert_eq!(status, 200, "{json}");
    let (cookie, line) = set_cookie(&head);
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(line.contains(attribute), "{line}");
    }
    assert!(!line.contains("Secure"), "plain HTTP on loopback: {line}");
    (cookie, json["data"]["csrf"].as_str().unwrap().to_owned())
}

async fn package_count(app: &mut App) -> usize {
    app.packages().await.len()
}

#[tokio::test]
async fn the_console_is_served_with_a_strict_content_security_policy() {
    let app = start(|_| {}).await;
    let (status, head, _) = exchange(&app, request("GET", "/", "", "", None)).await;
    assert_eq!(status, 200);
    let head = head.to_ascii_lowercase();
    assert!(head.contains("content-type: text/html"), "{head}");
    assert!(
        head.contains("content-security-policy: default-src 'self'")
            && head.contains("frame-ancestors 'none'"),
        "{head}"
    );
    let (status, head, _) = exchange(&app, request("GET", "/console/app.js", "", "", None)).await;
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase().contains("text/javascript"),
        "{head}"
    );
    // Nothing from anywhere else: no absolute URL in the page.
    let (_, page) =
        crate::common::http(&app.url, request("GET", "/", "", "", None).as_bytes()).await;
    let page = String::from_utf8(page).unwrap();
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "{page}"
    );
}

#[tokio::test]
async fn a_session_is_refused_unless_it_is_whole_current_and_confirmed() {
    let mut app = start(|a| a.root_password = PASSWORD.into()).await;
    let package = app
        .upload(&RpmSpec::oceanbase_ce("4.3.5.0", "1.el7"))
        .await
        .id;
    let delete = format!("/api/v1/upgrade/package/{package}");

    // Not signed in.
    let (status, _, body) = exchange(
        &app,
        request("GET", "/api/v1/console/session", "", "", None),
    )
    .await;
    assert_eq!((status, err_code(&body)), (401, "Security.Session.None"));

    // Sign-in rows: a wrong token, a wrong password, both at once, a
    // cross-site form (not JSON).
    let rows = [
        (
            r#"{"token":"obup_notatokenatallnotatokenatallnotatokenatall00"}"#,
            401,
        ),
        (r#"{"password":"guess"}"#, 401),
        (r#"{"token":"x","password":"y"}"#, 400),
    ];
    for (body, want) in rows {
        let (status, head, json) = exchange(
            &app,
            request("POST", "/api/v1/console/session", "", "", Some(body)),
        )
        .await;
        assert_eq!(status, want, "{body}: {json}");
        assert!(!head.to_ascii_lowercase().contains("set-cookie"), "{head}");
    }
    let form = format!(
        "POST /api/v1/console/session HTTP/1.0\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\npassword={PASSWORD}",
        "password=".len() + PASSWORD.len()
    );
    let (status, _, json) = exchange(&app, form).await;
    assert_eq!((status, err_code(&json)), (415, "Common.IllegalArgument"));

    let (cookie, csrf) = sign_in(&app, &format!(r#"{{"password":"{PASSWORD}"}}"#)).await;
    let (status, _, who) = exchange(
        &app,
        request("GET", "/api/v1/console/session", &cookie, "", None),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(who["data"]["role"], "admin");
    assert_eq!(who["data"]["csrf"], csrf.as_str());

    // A change without the CSRF value, or with another: refused, kept.
    for wrong in ["", "not-the-csrf"] {
        let (status, _, json) =
            exchange(&app, request("DELETE", &delete, &cookie, wrong, None)).await;
        assert_eq!(
            (status, err_code(&json)),
            (403, "Security.Session.CsrfMismatch"),
            "{wrong:?}"
        );
    }
    assert_eq!(package_count(&mut app).await, 1);

    // Forged and altered cookies.
    let value = cookie.split_once('=').unwrap().1;
    let mut altered = value.as_bytes().to_vec();
    let i = altered.len() / 2;
    altered[i] = if altered[i] == b'A' { b'B' } else { b'A' };
    for forged in [
        "obup_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned(),
        format!("obup_session={}", String::from_utf8(altered).unwrap()),
    ] {
        let (status, _, json) =
            exchange(&app, request("DELETE", &delete, &forged, &csrf, None)).await;
        assert_eq!(
            (status, err_code(&json)),
            (401, "Security.Session.Invalid"),
            "{forged}"
        );
    }
    assert_eq!(package_count(&mut app).await, 1);

    // The real session deletes, and the trail names the console's caller.
    let before = last_id(&app, STORE).await;
    let (status, _, json) = exchange(&app, request("DELETE", &delete, &cookie, &csrf, None)).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(package_count(&mut app).await, 0);
    let recorded = events(&app, STORE, before).await;
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(recorded[0].method, "DeletePackage");
    assert_eq!(recorded[0].on_behalf_of, "console, root password");

    // Signed out: the cookie is cleared, and a copy of it is dead.
    let (status, head, _) = exchange(
        &app,
        request("DELETE", "/api/v1/console/session", &cookie, &csrf, None),
    )
    .await;
    assert_eq!(status, 200);
    let (cleared, _) = set_cookie(&head);
    assert_eq!(cleared, "obup_session=");
    let (status, _, json) = exchange(
        &app,
        request("GET", "/api/v1/console/session", &cookie, "", None),
    )
    .await;
    assert_eq!(
        (status, err_code(&json)),
        (401, "Security.Session.SignedOut")
    );
}

#[tokio::test]
async fn a_viewer_session_reads_and_plans_only_and_ends_with_its_token() {
    let mut app = start(|_| {}).await;
    let package = app
        .upload(&RpmSpec::oceanbase_ce("4.3.5.0", "1.el7"))
        .await
        .id;
    let viewer = app
        .tokens
        .create_token(apb::CreateTokenRequest {
            name: "console-viewer".into(),
            role: "viewer".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .secret;
    let (cookie, csrf) = sign_in(&app, &format!(r#"{{"token":"{viewer}"}}"#)).await;

    let (status, _, json) = exchange(
        &app,
        request("GET", "/api/v1/console/clusters", &cookie, "", None),
    )
    .await;
    assert_eq!(status, 200, "{json}");
    let zones = &json["data"]["contents"][0]["topology"]["zones"];
    assert_eq!(zones.as_array().map(Vec::len), Some(3), "{json}");
    let (status, _, json) = exchange(
        &app,
        request("GET", "/api/v1/console/dags", &cookie, "", None),
    )
    .await;
    assert_eq!(status, 200, "{json}");
    // Planning is a read: a viewer gets the plan's own answer (here: the
    // target's packages are missing), not a refusal.
    let (status, _, json) = exchange(
        &app,
        request(
            "POST",
            "/api/v1/console/plan",
            &cookie,
            &csrf,
            Some(r#"{"version":"4.3.5.0","release":"100000202024123117.el7","mode":"ROLLING"}"#),
        ),
    )
    .await;
    assert_ne!(status, 403, "{json}");
    assert_ne!(status, 401, "{json}");

    let delete = format!("/api/v1/upgrade/package/{package}");
    let (status, _, json) = exchange(&app, request("DELETE", &delete, &cookie, &csrf, None)).await;
    assert_eq!((status, err_code(&json)), (403, "Auth.Role.Insufficient"));
    let (status, _, json) = exchange(
        &app,
        request("GET", "/api/v1/console/audit?limit=10", &cookie, "", None),
    )
    .await;
    assert_eq!((status, err_code(&json)), (403, "Auth.Role.Insufficient"));
    assert_eq!(package_count(&mut app).await, 1);

    // Revoking the token ends the session at once (revoked here: the
    // verifier's cache is cleared).
    app.tokens
        .revoke_token(apb::RevokeTokenRequest {
            name: "console-viewer".into(),
        })
        .await
        .unwrap();
    let (status, _, json) = exchange(
        &app,
        request("GET", "/api/v1/console/dags", &cookie, "", None),
    )
    .await;
    assert_eq!((status, err_code(&json)), (401, "Auth.Token.Revoked"));
}

#[tokio::test]
async fn password_guessing_through_the_console_is_throttled() {
    let app = start(|a| a.root_password = PASSWORD.into()).await;
    let guess = request(
        "POST",
        "/api/v1/console/session",
        "",
        "",
        Some(r#"{"password":"guess"}"#),
    );
    let mut codes = Vec::new();
    for _ in 0..12 {
        let (status, _, _) = exchange(&app, guess.clone()).await;
        codes.push(status);
    }
    assert_eq!(&codes[..10], &[401; 10], "{codes:?}");
    assert_eq!(&codes[10..], &[429, 429], "{codes:?}");
    // Throttled means throttled: the right password waits too.
    let (status, _, json) = exchange(
        &app,
        request(
            "POST",
            "/api/v1/console/session",
            "",
            "",
            Some(&format!(r#"{{"password":"{PASSWORD}"}}"#)),
        ),
    )
    .await;
    assert_eq!(
        (status, err_code(&json)),
        (429, "Security.Authentication.TooManyAttempts")
    );
}
