//! Where the CLI finds its token when none is given: a file per server
//! address under the user's config directory, which `obup dev` writes for
//! its loopback address (0600), so that the quickstart stays two commands.

use std::path::PathBuf;

use obup_kit::auth::Token;

/// `$OBUP_TOKEN_DIR`, else `$XDG_CONFIG_HOME/obup/tokens`, else
/// `~/.config/obup/tokens`.
pub fn dir() -> Option<PathBuf> {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if let Some(d) = env("OBUP_TOKEN_DIR") {
        return Some(d.into());
    }
    if let Some(d) = env("XDG_CONFIG_HOME") {
        return Some(PathBuf::from(d).join("obup/tokens"));
    }
    env("HOME").map(|h| PathBuf::from(h).join(".config/obup/tokens"))
}

/// The file of the server at `url` (`http://127.0.0.1:2886` ->
/// `127.0.0.1_2886`).
pub fn file_for(dir: &std::path::Path, url: &str) -> PathBuf {
    let authority = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
        .trim_end_matches('/');
    let name: String = authority
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    dir.join(name)
}

/// The token kept for the server at `url`, if any.
pub fn find(url: &str) -> anyhow::Result<Option<Token>> {
    let Some(dir) = dir() else { return Ok(None) };
    let file = file_for(&dir, url);
    obup_kit::auth::read_token_file(&file)
        .map_err(|e| anyhow::anyhow!("cannot read the token file {}: {e}", file.display()))
}

/// The file of the CA `obup dev --tls` serves the address of `url` with
/// (beside its token file).
pub fn ca_file_for(dir: &std::path::Path, url: &str) -> PathBuf {
    let mut file = file_for(dir, url).into_os_string();
    file.push(".ca.pem");
    file.into()
}

/// The CA kept for the server at `url`, if any (PEM).
pub fn find_ca(url: &str) -> anyhow::Result<Option<String>> {
    let Some(dir) = dir() else { return Ok(None) };
    let file = ca_file_for(&dir, url);
    match std::fs::read_to_string(&file) {
        Ok(pem) => Ok(Some(pem)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(anyhow::anyhow!("cannot read {}: {e}", file.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_url_names_one_file() {
        let d = std::path::Path::new("/t");
        assert_eq!(
            file_for(d, "http://127.0.0.1:2886"),
            d.join("127.0.0.1_2886")
        );
        assert_eq!(
            file_for(d, "http://127.0.0.1:2886/"),
            d.join("127.0.0.1_2886")
        );
        assert_eq!(file_for(d, "https://[::1]:9/"), d.join("___1__9"));
    }
}
