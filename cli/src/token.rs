//! `obup token`: make, list and revoke API tokens (admin).

use obup_proto::pb::auth::v1 as pb;

use crate::client::{self, describe};

#[derive(Debug, Clone, clap::Args)]
pub struct CreateArgs {
    /// Unique among live tokens: letters, digits, '.', '-', '_'.
    #[arg(long)]
    pub name: String,
    #[arg(long, value_parser = ["viewer", "operator", "admin"])]
    pub role: String,
    /// Limit the token to this registered cluster.
    #[arg(long)]
    pub cluster: Option<String>,
    /// When it stops working: a duration from now (`30d`, `12h`, `90m`)
    /// or an RFC 3339 time (`2027-01-01T00:00:00Z`). Default: never.
    #[arg(long, value_parser = parse_expiry)]
    pub expires: Option<i64>,
    #[arg(long)]
    pub json: bool,
}

/// Milliseconds since the epoch of `--expires`.
fn parse_expiry(s: &str) -> Result<i64, String> {
    let now = chrono::Utc::now().timestamp_millis();
    if let Some(unit) = s.chars().last().filter(|c| "dhm".contains(*c)) {
        let n: i64 = s[..s.len() - 1]
            .parse()
            .map_err(|_| format!("expected e.g. 30d, 12h or 90m, got {s:?}"))?;
        let ms = match unit {
            'd' => 86_400_000,
            'h' => 3_600_000,
            _ => 60_000,
        };
        if n <= 0 {
            return Err(format!("{s:?} is not in the future"));
        }
        return Ok(now + n * ms);
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp_millis())
        .map_err(|e| format!("expected a duration (30d) or an RFC 3339 time, got {s:?}: {e}"))
}

pub async fn create(server: &str, a: &CreateArgs) -> anyhow::Result<()> {
    let made = client::tokens(server)
        .await?
        .create_token(pb::CreateTokenRequest {
            name: a.name.clone(),
            role: a.role.clone(),
            cluster: a.cluster.clone().unwrap_or_default(),
            expires_at_ms: a.expires.unwrap_or(0),
        })
        .await
        .map_err(describe)?
        .into_inner();
    let token = made.token.unwrap_or_default();
    if a.json {
        println!(
            "{}",
            serde_json::json!({"token": json(&token), "secret": made.secret})
        );
    } else {
        // The secret alone on stdout, so that `> file` keeps just it.
        println!("{}", made.secret);
        eprintln!(
            "token {} ({}{}) made; its secret above is shown this once",
            token.name,
            token.role,
            if token.cluster.is_empty() {
                String::new()
            } else {
                format!(", cluster {}", token.cluster)
            }
        );
    }
    Ok(())
}

pub async fn list(server: &str, all: bool, as_json: bool) -> anyhow::Result<()> {
    let tokens = client::tokens(server)
        .await?
        .list_tokens(pb::ListTokensRequest {
            include_revoked: all,
        })
        .await
        .map_err(describe)?
        .into_inner()
        .tokens;
    if as_json {
        let rows: Vec<_> = tokens.iter().map(json).collect();
        println!("{}", serde_json::Value::Array(rows));
        return Ok(());
    }
    println!(
        "{:<24} {:<9} {:<12} {:<20} {:<20} {:<20}",
        "NAME", "ROLE", "CLUSTER", "CREATED", "EXPIRES", "LAST USED"
    );
    for t in &tokens {
        let name = if t.revoked_at_ms != 0 {
            format!("{} (revoked)", t.name)
        } else {
            t.name.clone()
        };
        println!(
            "{:<24} {:<9} {:<12} {:<20} {:<20} {:<20}",
            name,
            t.role,
            if t.cluster.is_empty() {
                "*"
            } else {
                &t.cluster
            },
            time(t.created_at_ms),
            time(t.expires_at_ms),
            time(t.last_used_at_ms)
        );
    }
    Ok(())
}

pub async fn revoke(server: &str, name: &str) -> anyhow::Result<()> {
    let t = client::tokens(server)
        .await?
        .revoke_token(pb::RevokeTokenRequest {
            name: name.to_owned(),
        })
        .await
        .map_err(describe)?
        .into_inner();
    println!("token {} revoked", t.name);
    Ok(())
}

fn time(ms: i64) -> String {
    if ms == 0 {
        return "-".into();
    }
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(
        || ms.to_string(),
        |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
    )
}

fn json(t: &pb::Token) -> serde_json::Value {
    serde_json::json!({
        "id": t.id,
        "name": t.name,
        "role": t.role,
        "cluster": t.cluster,
        "created_by": t.created_by,
        "created_at_ms": t.created_at_ms,
        "expires_at_ms": t.expires_at_ms,
        "revoked_at_ms": t.revoked_at_ms,
        "last_used_at_ms": t.last_used_at_ms,
    })
}
