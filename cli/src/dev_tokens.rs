//! The tokens `obup dev` makes for itself on first start and keeps under
//! its data dir (0600): an admin token for the user (also written where the
//! CLI finds it for a loopback address), one its in-process services call
//! each other with, and a viewer token the demo agents download with.

use std::path::{Path, PathBuf};

use anyhow::Context;
use obup_kit::auth::{Role, Token};
use obup_upgrade_orchestrator::tokens::Tokens;

#[derive(Debug, Clone)]
pub struct DevTokens {
    pub admin: Token,
    pub admin_file: PathBuf,
    /// The orchestrator and the gateway call the services with it.
    pub internal: Token,
    pub agents_file: PathBuf,
}

impl DevTokens {
    /// Keeps the tokens already made (if still live), else makes them.
    pub async fn ensure(tokens: &Tokens, data_dir: &Path) -> anyhow::Result<Self> {
        let dir = data_dir.join("tokens");
        let now = chrono::Utc::now().timestamp_millis();
        let mut made = Vec::new();
        for (name, role, file) in [
            ("dev-admin", Role::Admin, "admin.token"),
            ("dev-internal", Role::Admin, "internal.token"),
            ("dev-agents", Role::Viewer, "agents.token"),
        ] {
            let path = dir.join(file);
            let token = tokens
                .keep_in_file(name, role, &path, now)
                .await
                .with_context(|| format!("keeping the {name} token in {}", path.display()))?;
            made.push((token, path));
        }
        let mut made = made.into_iter();
        let (admin, admin_file) = made.next().expect("three tokens");
        let (internal, _) = made.next().expect("three tokens");
        let (_, agents_file) = made.next().expect("three tokens");
        Ok(Self {
            admin,
            admin_file,
            internal,
            agents_file,
        })
    }

    /// Writes the admin token where the same user's CLI looks for the
    /// server at `url` (only for a loopback address: elsewhere the CLI
    /// takes `--token` or `OBUP_TOKEN`).
    pub fn publish_for_cli(
        &self,
        dir: Option<PathBuf>,
        url: &str,
    ) -> anyhow::Result<Option<PathBuf>> {
        let Some(dir) = dir.or_else(crate::token_files::dir) else {
            return Ok(None);
        };
        let file = crate::token_files::file_for(&dir, url);
        obup_kit::auth::write_token_file(&file, &self.admin)
            .with_context(|| format!("writing {}", file.display()))?;
        Ok(Some(file))
    }
}
