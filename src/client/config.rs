//! Where the client finds its server and token: `--url`/`CASEBOOK_URL` and
//! `--token`/`CASEBOOK_TOKEN` first, then the file `casebook login` wrote.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// What `casebook login` keeps: one server and a token for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedLogin {
    pub url: String,
    pub token: String,
}

/// A server to talk to and the token to send it.
#[derive(Debug, Clone)]
pub struct Server {
    pub url: String,
    pub token: String,
}

/// `$XDG_CONFIG_HOME/casebook/config.toml`, or `~/.config/casebook/config.toml`.
pub fn config_path() -> anyhow::Result<PathBuf> {
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => std::env::var_os("HOME")
            .filter(|v| !v.is_empty())
            .map(|home| PathBuf::from(home).join(".config"))
            .context("neither XDG_CONFIG_HOME nor HOME is set, so there is no config directory")?,
    };
    Ok(base.join("casebook").join("config.toml"))
}

/// A server URL without the trailing slash, so paths join cleanly.
pub fn normalize_url(url: &str) -> anyhow::Result<String> {
    let url = url.trim().trim_end_matches('/');
    anyhow::ensure!(
        url.starts_with("http://") || url.starts_with("https://"),
        "the server URL {url:?} must start with http:// or https://"
    );
    Ok(url.to_string())
}

pub fn load(path: &Path) -> anyhow::Result<Option<SavedLogin>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let saved = toml::from_str(&text)
        .with_context(|| format!("{} is not a valid config file", path.display()))?;
    Ok(Some(saved))
}

/// Writes the file readable by its owner only (0600, in a 0700 directory),
/// through a temporary file and a rename so a crash leaves the old one whole.
pub fn save(path: &Path, login: &SavedLogin) -> anyhow::Result<()> {
    let dir = path.parent().context("the config path has no directory")?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let text = toml::to_string(login).context("cannot write the config")?;
    let temporary = path.with_extension("toml.tmp");
    let _ = std::fs::remove_file(&temporary);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temporary)
        .with_context(|| format!("cannot create {}", temporary.display()))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", temporary.display()))?;
    std::fs::rename(&temporary, path).with_context(|| format!("cannot replace {}", path.display()))
}

/// The server and token to use. The saved token goes only to the server it
/// was saved for: a `CASEBOOK_URL` pointing elsewhere needs its own token.
pub fn resolve(url: Option<&str>, token: Option<&str>) -> anyhow::Result<Server> {
    let path = config_path()?;
    let saved = load(&path)?;
    let url = match (url.filter(|u| !u.trim().is_empty()), &saved) {
        (Some(url), _) => normalize_url(url)?,
        (None, Some(saved)) => saved.url.clone(),
        (None, None) => anyhow::bail!(
            "no server configured: run `casebook login --url <URL>`, or set CASEBOOK_URL and CASEBOOK_TOKEN"
        ),
    };
    let token = match (token.filter(|t| !t.trim().is_empty()), saved) {
        (Some(token), _) => token.trim().to_string(),
        (None, Some(saved)) if saved.url == url => saved.token,
        (None, _) => anyhow::bail!(
            "no token for {url}: run `casebook login --url {url}`, or set CASEBOOK_TOKEN"
        ),
    };
    Ok(Server { url, token })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_trailing_slash_and_need_a_scheme() {
        assert_eq!(
            normalize_url(" https://casebook.example.com/ ").unwrap(),
            "https://casebook.example.com"
        );
        assert!(normalize_url("casebook.example.com").is_err());
    }

    #[test]
    fn a_saved_login_round_trips_through_a_private_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("casebook/config.toml");
        let login = SavedLogin {
            url: "http://127.0.0.1:8080".into(),
            token: "cb_\"quoted\\".into(),
        };
        save(&path, &login).unwrap();
        assert_eq!(load(&path).unwrap(), Some(login));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(load(&dir.path().join("missing.toml")).unwrap(), None);
    }
}
